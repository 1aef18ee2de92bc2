//! Tests of window parsing and slot search.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use cron::TimeUnitSpec;

use super::{Window, WindowError};
use crate::schedule::calendar::Calendar;
use crate::schedule::testing::{NY, date, local, window};
use crate::time::{naive_local, resolve_local};

const ALL_DAYS: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn every_day() -> Calendar {
    Calendar::new(&ALL_DAYS, []).unwrap()
}

// ---- parsing -------------------------------------------------------

#[test]
fn parse_keeps_source_text_for_display() {
    for text in ["0 * 9-16 * * Mon-Fri", "0 30 9 * * *", "0 0 9 * * Mon-Fri 2027", "0 0 9 * * mon,wed"] {
        let w = window(text);
        assert_eq!(w.to_string(), text);
        assert_eq!(w.to_string().parse::<Window>().unwrap(), w);
    }
    assert_eq!(window("  0 30 9 * * *  ").to_string(), "0 30 9 * * *");
}

#[test]
fn parse_rejects_wrong_field_counts() {
    for text in ["", "0 * * * *", "0 * * * * * * *"] {
        let err = text.parse::<Window>().unwrap_err();
        assert!(matches!(err, WindowError::Parse { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("6 or 7 fields"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}

#[test]
fn parse_names_a_number_out_of_its_fields_range() {
    let cases = [
        ("0 60 * * * *", "minute 60 is out of range 0-59 in field 2 (minute)"),
        ("0 * 9-25 * * Mon-Fri", "hour 25 is out of range 0-23 in field 3 (hour)"),
        ("0 * 25 * * *", "hour 25 is out of range 0-23 in field 3 (hour)"),
        ("0 0 9 0 * *", "day-of-month 0 is out of range 1-31 in field 4 (day-of-month)"),
        ("0 0 9 * 13 *", "month 13 is out of range 1-12 (or names: Jan-Dec) in field 5 (month)"),
        ("0 0 9 * * 0", "day-of-week 0 is out of range 1-7 (1 is Sunday; or names: Mon-Fri) in field 6"),
        ("0 0 9 * * * 2200", "year 2200 is out of range 1970-2100 in field 7 (year)"),
    ];
    for (text, want) in cases {
        let msg = text.parse::<Window>().unwrap_err().to_string();
        assert!(msg.contains(want), "{text}: {msg}");
        assert!(!msg.contains("expected 6 or 7"), "{text}: the field count is fine: {msg}");
    }
    // The ends of each range, and steps, are fine.
    for text in ["59 59 23 31 12 * 2100", "0 0 0 1 1 * 1970", "0 0 9 * * 1-7", "0 */15 0-23 * * Mon-Fri"] {
        assert!(text.parse::<Window>().is_ok(), "{text}: {:?}", text.parse::<Window>());
    }
}

#[test]
fn parse_wraps_cron_message_on_one_line() {
    let err = "0 5/0 * * * *".parse::<Window>().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("\"0 5/0 * * * *\""), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    let err = "x y z a b c".parse::<Window>().unwrap_err();
    assert!(matches!(err, WindowError::Parse { .. }), "{err:?}");
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn parse_rejects_expressions_that_never_match() {
    for text in ["0 0 0 30 2 *", "0 0 0 31 4 *", "0 0 0 31 2,4,6,9,11 *"] {
        assert_eq!(text.parse::<Window>(), Err(WindowError::NeverMatches { text: text.to_string() }),);
    }
    // February 29th does match, in leap years.
    assert!("0 0 9 29 2 *".parse::<Window>().is_ok());
}

// ---- DST ----------------------------------------------------------

#[test]
fn dst_gap_slot_moves_forward() {
    let w = window("0 30 2 * * *");
    // 2026-03-08 02:30 does not exist in New York; the slot fires at 03:00 EDT.
    let from = local(NY, 2026, 3, 7, 3, 0);
    assert_eq!(w.next_slot_any_day(from, NY), Some(utc(2026, 3, 8, 7, 0, 0)));
    assert_eq!(w.next_slot(from, NY, &every_day()), Some(utc(2026, 3, 8, 7, 0, 0)));
    // Asking at the transition instant itself gives it.
    assert_eq!(w.next_slot_any_day(utc(2026, 3, 8, 7, 0, 0), NY), Some(utc(2026, 3, 8, 7, 0, 0)));
    // One second later: the next day's 02:30 EDT.
    assert_eq!(w.next_slot_any_day(utc(2026, 3, 8, 7, 0, 1), NY), Some(utc(2026, 3, 9, 6, 30, 0)));
}

#[test]
fn dst_gap_slots_all_collapse_to_gap_end() {
    // Every minute of 02:xx plus 03:00 maps to 07:00Z on 2026-03-08.
    let w = window("0 * 2-3 * * *");
    let from = utc(2026, 3, 8, 6, 59, 30);
    assert_eq!(w.next_slot_any_day(from, NY), Some(utc(2026, 3, 8, 7, 0, 0)));
    assert_eq!(w.next_slot_any_day(utc(2026, 3, 8, 7, 0, 1), NY), Some(utc(2026, 3, 8, 7, 1, 0)));
}

#[test]
fn repeated_hour_slot_fires_once() {
    let w = window("0 30 1 * * *");
    let cal = every_day();
    // 2026-11-01 01:30 happens twice in New York; only the EDT one (05:30Z) is a slot.
    assert_eq!(w.next_slot(utc(2026, 11, 1, 0, 0, 0), NY, &cal), Some(utc(2026, 11, 1, 5, 30, 0)));
    // The next slot after it is 2026-11-02 01:30 EST.
    assert_eq!(w.next_slot(utc(2026, 11, 1, 5, 30, 1), NY, &cal), Some(utc(2026, 11, 2, 6, 30, 0)));
    // From 06:10Z (01:10 EST, the second pass) it is the next day too.
    assert_eq!(w.next_slot(utc(2026, 11, 1, 6, 10, 0), NY, &cal), Some(utc(2026, 11, 2, 6, 30, 0)));
    // And the second 01:30 (06:30Z) is not a slot.
    assert_eq!(w.next_slot(utc(2026, 11, 1, 6, 30, 0), NY, &cal), Some(utc(2026, 11, 2, 6, 30, 0)));
    assert!(w.contains(utc(2026, 11, 1, 5, 30, 0), NY));
    assert!(!w.contains(utc(2026, 11, 1, 6, 30, 0), NY));
}

#[test]
fn repeated_hour_minute_window_does_not_replay() {
    // Every minute of 01:xx: the first pass fires, the second pass does not.
    let w = window("0 * 1 * * *");
    assert_eq!(w.next_slot_any_day(utc(2026, 11, 1, 5, 59, 30), NY), Some(utc(2026, 11, 2, 6, 0, 0)));
    assert_eq!(w.next_slot_any_day(utc(2026, 11, 1, 5, 58, 30), NY), Some(utc(2026, 11, 1, 5, 59, 0)));
    assert_eq!(w.next_slot_any_day(utc(2026, 11, 1, 6, 0, 0), NY), Some(utc(2026, 11, 2, 6, 0, 0)));
}

#[test]
fn berlin_spring_forward_and_fall_back() {
    let berlin = chrono_tz::Europe::Berlin;
    let w = window("0 30 2 * * *");
    // 2026-03-29 02:30 does not exist: fires at 03:00 CEST = 01:00Z.
    assert_eq!(w.next_slot_any_day(utc(2026, 3, 28, 12, 0, 0), berlin), Some(utc(2026, 3, 29, 1, 0, 0)));
    assert_eq!(w.next_slot_any_day(utc(2026, 3, 29, 1, 0, 1), berlin), Some(utc(2026, 3, 30, 0, 30, 0)));
    // 2026-10-25 02:30 happens twice: once, at 02:30 CEST = 00:30Z.
    assert_eq!(w.next_slot_any_day(utc(2026, 10, 24, 12, 0, 0), berlin), Some(utc(2026, 10, 25, 0, 30, 0)));
    assert_eq!(w.next_slot_any_day(utc(2026, 10, 25, 0, 30, 1), berlin), Some(utc(2026, 10, 26, 1, 30, 0)));
}

#[test]
fn lord_howe_half_hour_dst() {
    let lh = chrono_tz::Australia::Lord_Howe;
    // 2026-10-04 02:00 +10:30 -> 02:30 +11 (15:30Z on the 3rd): 02:15 fires at 02:30.
    let w = window("0 15 2 * * *");
    assert_eq!(w.next_slot_any_day(utc(2026, 10, 3, 0, 0, 0), lh), Some(utc(2026, 10, 3, 15, 30, 0)));
    // The next day's 02:15 +11 is 15:15Z on the 4th.
    assert_eq!(w.next_slot_any_day(utc(2026, 10, 3, 15, 30, 1), lh), Some(utc(2026, 10, 4, 15, 15, 0)));
    // 2026-04-05 02:00 +11 -> 01:30 +10:30: 01:45 repeats and fires once (+11, 14:45Z).
    let w = window("0 45 1 * * *");
    assert_eq!(w.next_slot_any_day(utc(2026, 4, 4, 0, 0, 0), lh), Some(utc(2026, 4, 4, 14, 45, 0)));
    assert_eq!(w.next_slot_any_day(utc(2026, 4, 4, 14, 45, 1), lh), Some(utc(2026, 4, 5, 15, 15, 0)));
}

#[test]
fn santiago_missing_midnight_and_repeated_evening() {
    let scl = chrono_tz::America::Santiago;
    // 2026-09-06 00:00 -04 -> 01:00 -03 at 04:00Z: the midnight slot fires at 01:00.
    let w = window("0 0 0 * * *");
    assert_eq!(w.next_slot_any_day(utc(2026, 9, 5, 12, 0, 0), scl), Some(utc(2026, 9, 6, 4, 0, 0)));
    assert_eq!(w.next_slot_any_day(utc(2026, 9, 6, 4, 0, 1), scl), Some(utc(2026, 9, 7, 3, 0, 0)));
    // 2026-04-05 00:00 -03 -> 2026-04-04 23:00 -04: 23:30 on the 4th fires once (-03).
    let w = window("0 30 23 * * *");
    assert_eq!(w.next_slot_any_day(utc(2026, 4, 4, 12, 0, 0), scl), Some(utc(2026, 4, 5, 2, 30, 0)));
    assert_eq!(w.next_slot_any_day(utc(2026, 4, 5, 2, 30, 1), scl), Some(utc(2026, 4, 6, 3, 30, 0)));
    // The 5th's midnight exists once, after the repeated evening (-04).
    assert_eq!(window("0 0 0 * * *").next_slot_any_day(utc(2026, 4, 5, 2, 0, 0), scl), Some(utc(2026, 4, 5, 4, 0, 0)));
}

// ---- business hours -------------------------------------------------

#[test]
fn friday_evening_waits_for_monday_morning() {
    let w = window("0 * 9-16 * * Mon-Fri");
    let cal = Calendar::default();
    // Friday 2026-03-06 17:05 EST -> Monday 2026-03-09 09:00 EDT (after the DST change).
    let from = local(NY, 2026, 3, 6, 17, 5);
    assert_eq!(w.next_slot(from, NY, &cal), Some(local(NY, 2026, 3, 9, 9, 0)));
    assert_eq!(w.next_slot(from, NY, &cal), Some(utc(2026, 3, 9, 13, 0, 0)));
}

#[test]
fn inside_window_on_the_minute_is_unchanged() {
    let w = window("0 * 9-16 * * Mon-Fri");
    let cal = Calendar::default();
    let t = local(NY, 2026, 3, 10, 10, 15);
    assert_eq!(w.next_slot(t, NY, &cal), Some(t));
    assert!(w.contains(t, NY));
    let last = local(NY, 2026, 3, 10, 16, 59);
    assert_eq!(w.next_slot(last, NY, &cal), Some(last));
}

#[test]
fn inside_window_between_slots_moves_to_next_whole_minute() {
    let w = window("0 * 9-16 * * Mon-Fri");
    let cal = Calendar::default();
    let t = local(NY, 2026, 3, 10, 9, 0);
    let next = local(NY, 2026, 3, 10, 9, 1);
    assert_eq!(w.next_slot(t + Duration::seconds(30), NY, &cal), Some(next));
    assert_eq!(w.next_slot(t + Duration::milliseconds(500), NY, &cal), Some(next));
    assert_eq!(w.next_slot(t + Duration::nanoseconds(1), NY, &cal), Some(next));
    // contains truncates to the second.
    assert!(w.contains(t + Duration::milliseconds(500), NY));
    assert!(!w.contains(t + Duration::seconds(30), NY));
    // Past the last slot of the day -> the next morning.
    let late = local(NY, 2026, 3, 10, 16, 59) + Duration::seconds(1);
    assert_eq!(w.next_slot(late, NY, &cal), Some(local(NY, 2026, 3, 11, 9, 0)));
}

#[test]
fn before_window_opens_moves_to_opening() {
    let w = window("0 30 9 * * *");
    let cal = Calendar::default();
    assert_eq!(w.next_slot(local(NY, 2026, 3, 10, 7, 0), NY, &cal), Some(local(NY, 2026, 3, 10, 9, 30)));
    // Saturday -> Monday, with the every-day window but a Mon-Fri calendar.
    assert_eq!(w.next_slot(local(NY, 2026, 3, 14, 7, 0), NY, &cal), Some(local(NY, 2026, 3, 16, 9, 30)));
    assert_eq!(w.next_slot_any_day(local(NY, 2026, 3, 14, 7, 0), NY), Some(local(NY, 2026, 3, 14, 9, 30)));
}

#[test]
fn holidays_are_skipped() {
    let w = window("0 * 9-16 * * Mon-Fri");
    let cal = Calendar::new(
        &[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
        [date(2026, 3, 9), date(2026, 3, 10)],
    )
    .unwrap();
    let from = local(NY, 2026, 3, 6, 17, 5);
    assert_eq!(w.next_slot(from, NY, &cal), Some(local(NY, 2026, 3, 11, 9, 0)));
    // Inside the window on a holiday: next workday's opening.
    let during = local(NY, 2026, 3, 9, 11, 0);
    assert_eq!(w.next_slot(during, NY, &cal), Some(local(NY, 2026, 3, 11, 9, 0)));
    assert_eq!(w.next_slot_any_day(during, NY), Some(during));
}

#[test]
fn long_holiday_stretch_is_skipped_by_day() {
    let w = window("* * * * * *");
    let start = date(2026, 6, 1);
    let holidays: Vec<NaiveDate> = start.iter_days().take(400).collect();
    let cal = Calendar::new(&ALL_DAYS, holidays).unwrap();
    let from = local(NY, 2026, 6, 1, 0, 0);
    let want = resolve_local(date(2027, 7, 6).and_time(NaiveTime::MIN), NY);
    let begun = std::time::Instant::now();
    for _ in 0..100 {
        assert_eq!(w.next_slot(from, NY, &cal), Some(want));
    }
    // Generous even for an unoptimised build: ~400 cheap day steps per call.
    assert!(begun.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn window_on_non_workdays_only_has_no_slot() {
    let w = window("0 0 10 * * Sat,Sun");
    assert_eq!(w.next_slot(utc(2026, 3, 2, 0, 0, 0), NY, &Calendar::default()), None);
    assert!(w.next_slot_any_day(utc(2026, 3, 2, 0, 0, 0), NY).is_some());
}

#[test]
fn slot_beyond_five_years_is_none() {
    let w = window("0 0 9 1 1 * 2040");
    assert_eq!(w.next_slot_any_day(utc(2026, 3, 2, 0, 0, 0), NY), None);
    assert_eq!(w.next_slot_any_day(utc(2036, 3, 2, 0, 0, 0), NY), Some(local(NY, 2040, 1, 1, 9, 0)));
    // Past the cron crate's last year.
    assert_eq!(w.next_slot_any_day(utc(2041, 1, 1, 0, 0, 0), NY), None);
}

#[test]
fn contains_matches_slots_only() {
    let w = window("0 30 2 * * *");
    assert!(w.contains(utc(2026, 3, 8, 7, 0, 0), NY)); // the gap slot's instant
    assert!(w.contains(utc(2026, 3, 9, 6, 30, 0), NY));
    assert!(!w.contains(utc(2026, 3, 9, 6, 31, 0), NY));
    assert!(!w.contains(DateTime::<Utc>::MAX_UTC, NY));
}

// ---- brute-force cross-check -----------------------------------------

/// A reference for one zone over local `[from, to)`, built without any
/// chrono local->UTC conversion: UTC is scanned in 30-second steps, and a
/// wall time maps to "the first instant whose wall-clock reading reaches
/// it" (its only instant; the earlier of two; or the end of a gap).
struct Reference {
    /// (running maximum of the local readings so far, instant), by instant.
    scan: Vec<(NaiveDateTime, DateTime<Utc>)>,
    from: NaiveDateTime,
    to: NaiveDateTime,
}

impl Reference {
    const STEP: i64 = 30;

    fn new(tz: Tz, from: NaiveDateTime, to: NaiveDateTime) -> Self {
        let mut scan = Vec::new();
        let mut u = (from - Duration::hours(30)).and_utc();
        let end = (to + Duration::hours(30)).and_utc();
        let mut running = NaiveDateTime::MIN;
        while u <= end {
            running = running.max(naive_local(u, tz));
            scan.push((running, u));
            u += Duration::seconds(Self::STEP);
        }
        Reference { scan, from, to }
    }

    fn resolve(&self, n: NaiveDateTime) -> DateTime<Utc> {
        let i = self.scan.partition_point(|(reach, _)| *reach < n);
        self.scan[i].1
    }

    /// Every 30-second wall time the cron fields include, with its instant.
    /// (Hours and minutes the fields exclude are skipped whole, for speed.)
    fn naive_slots(&self, w: &Window) -> Vec<(NaiveDateTime, DateTime<Utc>)> {
        let mut out = Vec::new();
        let mut n = self.from;
        while n < self.to {
            if !w.schedule.hours().includes(n.hour()) {
                n += Duration::seconds(3600 - i64::from(n.minute() * 60 + n.second()));
                continue;
            }
            if !w.schedule.minutes().includes(n.minute()) {
                n += Duration::seconds(60 - i64::from(n.second()));
                continue;
            }
            if w.schedule.includes(n.and_utc()) {
                out.push((n, self.resolve(n)));
            }
            n += Duration::seconds(Self::STEP);
        }
        out
    }
}

#[test]
fn next_slot_matches_brute_force_around_dst_changes() {
    let zones: [(Tz, NaiveDate); 11] = [
        (chrono_tz::America::New_York, date(2026, 3, 8)),
        (chrono_tz::America::New_York, date(2026, 11, 1)),
        (chrono_tz::Europe::Berlin, date(2026, 3, 29)),
        (chrono_tz::Europe::Berlin, date(2026, 10, 25)),
        (chrono_tz::Australia::Lord_Howe, date(2026, 4, 5)),
        (chrono_tz::Australia::Lord_Howe, date(2026, 10, 4)),
        (chrono_tz::America::Santiago, date(2026, 4, 5)),
        (chrono_tz::America::Santiago, date(2026, 9, 6)),
        (chrono_tz::Pacific::Chatham, date(2026, 4, 5)),
        (chrono_tz::Pacific::Chatham, date(2026, 9, 27)),
        (chrono_tz::Asia::Kolkata, date(2026, 3, 8)),
    ];
    let windows = [
        "0 * 9-16 * * Mon-Fri",
        "0 30 2 * * *",
        "0 30 1 * * *",
        "0 0 0 * * *",
        "0 30 23 * * *",
        "30 */7 0-4 * * *",
        "0 15,45 1-3 * * Sun,Mon",
    ];
    let holiday_cal = Calendar::new(
        &[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Sun],
        zones.iter().map(|(_, d)| d.succ_opt().unwrap()),
    )
    .unwrap();
    let calendars = [None, Some(Calendar::default()), Some(holiday_cal)];
    let mut checked = 0usize;
    for (tz, day) in zones {
        // Queries over 10 local days around the change; reference slots
        // reach further so every query has its answer in the reference.
        let span_from = (day - Duration::days(5)).and_time(NaiveTime::MIN);
        let span_to = (day + Duration::days(5)).and_time(NaiveTime::MIN);
        let reference = Reference::new(tz, span_from - Duration::days(1), span_to + Duration::days(9));
        let q_from = reference.resolve(span_from);
        let q_to = reference.resolve(span_to);
        let change = reference.resolve(day.and_time(NaiveTime::MIN));
        let near = |t: DateTime<Utc>| (t - change).num_minutes().abs() < 4 * 60;
        for text in windows {
            let w = window(text);
            let naive_slots = reference.naive_slots(&w);
            for cal in &calendars {
                let slots: Vec<DateTime<Utc>> = naive_slots
                    .iter()
                    .filter(|(n, _)| cal.as_ref().is_none_or(|c| c.is_workday(n.date())))
                    .map(|(_, u)| *u)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                // Queries: every minute near the change (three phases),
                // every 23 minutes elsewhere (rotating phase), and around
                // reference slots (all near the change, every 25th elsewhere).
                let mut queries = Vec::new();
                let phases = [Duration::zero(), Duration::seconds(29), Duration::milliseconds(30_500)];
                let mut q = q_from;
                let mut k = 0usize;
                while q < q_to {
                    if near(q) {
                        queries.extend(phases.iter().map(|p| q + *p));
                        q += Duration::minutes(1);
                    } else {
                        queries.push(q + phases[k % 3]);
                        k += 1;
                        q += Duration::minutes(23);
                    }
                }
                for (i, s) in slots.iter().enumerate() {
                    if *s >= q_from && *s < q_to && (near(*s) || i % 25 == 0) {
                        queries.extend([*s - Duration::seconds(1), *s, *s + Duration::seconds(1)]);
                    }
                }
                for t in queries {
                    let i = slots.partition_point(|s| *s < t);
                    let want = slots.get(i).copied();
                    assert!(want.is_some(), "{tz} {text} {cal:?}: reference has no slot after {t}");
                    let got = match cal {
                        Some(c) => w.next_slot(t, tz, c),
                        None => w.next_slot_any_day(t, tz),
                    };
                    assert_eq!(got, want, "{tz} window {text:?} cal {cal:?} at {t}");
                    if cal.is_none() && near(t) {
                        let whole = DateTime::<Utc>::from_timestamp(t.timestamp(), 0).unwrap();
                        assert_eq!(w.contains(t, tz), slots.binary_search(&whole).is_ok(), "{tz} {text} contains {t}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100_000, "{checked}");
}
