//! Step waits (`90m`, `12h`, `2d`, `1w`, `2bd`): parsing, printing, and the
//! rule that turns "previous send + wait" into a planned instant.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Days, Duration, Utc};
use chrono_tz::Tz;

use super::calendar::Calendar;
use super::duration::{Accepted, DurationError, Unit, Units, parse_duration};
use crate::time::{naive_local, resolve_local};

/// The longest wait accepted when parsing: 10 years (3650 days) worth, in
/// every unit (business days are capped like calendar days).
const MAX_DAYS: u64 = 3650;

/// What a wait may be written in: `m`, `h`, `d`, `w`, `bd`; zero included.
const UNITS: Units<Wait> = Units {
    accepted: &[
        Accepted { unit: Unit::Minutes, max: MAX_DAYS * 24 * 60, make: |n| Wait::Minutes(count(n)) },
        Accepted { unit: Unit::Hours, max: MAX_DAYS * 24, make: |n| Wait::Hours(count(n)) },
        Accepted { unit: Unit::Days, max: MAX_DAYS, make: |n| Wait::Days(count(n)) },
        Accepted { unit: Unit::Weeks, max: MAX_DAYS / 7, make: |n| Wait::Weeks(count(n)) },
        Accepted { unit: Unit::BusinessDays, max: MAX_DAYS, make: |n| Wait::BusinessDays(count(n)) },
    ],
    zero: true,
    example: "2d",
};

/// Every maximum in [`UNITS`] fits a `u32`.
fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// How long a step waits after the previous step's actual send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wait {
    /// Elapsed minutes (`90m`).
    Minutes(u32),
    /// Elapsed hours (`12h`).
    Hours(u32),
    /// The same local clock time N days later (`2d`).
    Days(u32),
    /// The same local clock time 7N days later (`1w`).
    Weeks(u32),
    /// The same local clock time N business days later (`2bd`).
    BusinessDays(u32),
}

impl FromStr for Wait {
    type Err = DurationError;

    /// `0d` is a valid wait (the step follows at once); up to 10 years.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration(s, &UNITS)
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wait::Minutes(n) => write!(f, "{n}m"),
            Wait::Hours(n) => write!(f, "{n}h"),
            Wait::Days(n) => write!(f, "{n}d"),
            Wait::Weeks(n) => write!(f, "{n}w"),
            Wait::BusinessDays(n) => write!(f, "{n}bd"),
        }
    }
}

impl Wait {
    /// The planned instant: `from` plus this wait, for a lead in zone `tz`.
    ///
    /// * `m`, `h`: absolute elapsed time.
    /// * `d`, `w`: the same local clock time N (7N) local days later, mapped
    ///   with [`resolve_local`] (so it may be 23 or 25 hours per day across a
    ///   DST change, and a time that lands in a gap moves to the gap's end).
    /// * `bd`: from the local date of `from`, step forward day by day counting
    ///   only [`Calendar::is_workday`] days until N are counted; keep the local
    ///   clock time; [`resolve_local`].
    ///
    /// A zero wait of any unit returns `from` unchanged. The calendar is used
    /// only by `bd`. Results past chrono's range saturate to
    /// `DateTime::<Utc>::MAX_UTC`.
    pub fn after(&self, from: DateTime<Utc>, tz: Tz, cal: &Calendar) -> DateTime<Utc> {
        self.try_after(from, tz, cal).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn try_after(&self, from: DateTime<Utc>, tz: Tz, cal: &Calendar) -> Option<DateTime<Utc>> {
        let local_days = |days: u64| {
            if days == 0 {
                return Some(from);
            }
            let naive = naive_local(from, tz).checked_add_days(Days::new(days))?;
            Some(resolve_local(naive, tz))
        };
        match *self {
            Wait::Minutes(n) => from.checked_add_signed(Duration::try_minutes(i64::from(n))?),
            Wait::Hours(n) => from.checked_add_signed(Duration::try_hours(i64::from(n))?),
            Wait::Days(n) => local_days(u64::from(n)),
            Wait::Weeks(n) => local_days(u64::from(n) * 7),
            Wait::BusinessDays(0) => Some(from),
            Wait::BusinessDays(n) => {
                let local = naive_local(from, tz);
                let date = cal.add_workdays(local.date(), n)?;
                Some(resolve_local(date.and_time(local.time()), tz))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::schedule::testing::{NY, date, local, utc, wait};
    use chrono::Weekday;

    #[test]
    fn parse_accepts_every_unit() {
        let cases = [
            ("0d", Wait::Days(0)),
            ("90m", Wait::Minutes(90)),
            ("12h", Wait::Hours(12)),
            ("2d", Wait::Days(2)),
            ("1w", Wait::Weeks(1)),
            ("2bd", Wait::BusinessDays(2)),
            ("  3d\t", Wait::Days(3)),
            ("007h", Wait::Hours(7)),
            ("0bd", Wait::BusinessDays(0)),
            ("5256000m", Wait::Minutes(5_256_000)),
            ("3650d", Wait::Days(3650)),
            ("521w", Wait::Weeks(521)),
            ("3650bd", Wait::BusinessDays(3650)),
            ("87600h", Wait::Hours(87_600)),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Wait>(), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["0d", "90m", "12h", "2d", "1w", "2bd", "0m", "3650bd"] {
            let w = wait(text);
            assert_eq!(w.to_string(), text);
            assert_eq!(w.to_string().parse::<Wait>(), Ok(w));
        }
    }

    #[test]
    fn parse_rejects_bad_text_with_clear_errors() {
        let units = "units: m, h, d, w or bd";
        let cases = [
            ("", format!("empty duration: expected a number and a unit, e.g. 2d ({units})")),
            ("   ", format!("empty duration: expected a number and a unit, e.g. 2d ({units})")),
            ("2", "invalid duration \"2\": missing unit after the number: unit must be m, h, d, w or bd".into()),
            ("2x", "invalid duration \"2x\": unit must be m, h, d, w or bd, not \"x\"".into()),
            ("2s", "invalid duration \"2s\": unit must be m, h, d, w or bd, not \"s\"".into()),
            ("-1d", format!("invalid duration \"-1d\": cannot be negative (expected e.g. 2d; {units})")),
            ("wiat", format!("invalid duration \"wiat\": expected a number before the unit, e.g. 2d ({units})")),
            ("d", format!("invalid duration \"d\": expected a number before the unit, e.g. 2d ({units})")),
            ("+2d", format!("invalid duration \"+2d\": expected a number before the unit, e.g. 2d ({units})")),
            ("2 d", "invalid duration \"2 d\": unit must be m, h, d, w or bd, not \" d\"".into()),
            ("2D", "invalid duration \"2D\": unit must be m, h, d, w or bd, not \"D\"".into()),
            ("1.5h", "invalid duration \"1.5h\": unit must be m, h, d, w or bd, not \".5h\"".into()),
            ("2dd", "invalid duration \"2dd\": unit must be m, h, d, w or bd, not \"dd\"".into()),
            (" 2x\t", "invalid duration \"2x\": unit must be m, h, d, w or bd, not \"x\"".into()),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Wait>().unwrap_err().to_string(), want, "{text:?}");
        }
    }

    #[test]
    fn parse_rejects_overflow_and_too_long() {
        let cases = [
            ("3651d", "3650d"),
            ("522w", "521w"),
            ("5256001m", "5256000m"),
            ("87601h", "87600h"),
            ("3651bd", "3650bd"),
            ("99999999999999999999d", "3650d"),
            ("4294967296m", "5256000m"),
        ];
        for (text, max) in cases {
            let err = text.parse::<Wait>().unwrap_err();
            assert_eq!(err.to_string(), format!("invalid duration {text:?}: longer than the maximum of {max}"));
        }
    }

    #[test]
    fn minutes_and_hours_add_elapsed_time_across_dst() {
        let cal = Calendar::default();
        // 2026-03-08 01:30 EST + 1h = 03:30 EDT (one real hour).
        let from = utc(2026, 3, 8, 6, 30);
        assert_eq!(wait("1h").after(from, NY, &cal), utc(2026, 3, 8, 7, 30));
        assert_eq!(wait("90m").after(from, NY, &cal), utc(2026, 3, 8, 8, 0));
        assert_eq!(wait("24h").after(from, NY, &cal), utc(2026, 3, 9, 6, 30));
        assert_eq!(wait("0m").after(from, NY, &cal), from);
    }

    #[test]
    fn one_day_keeps_local_clock_time_across_spring_forward() {
        let cal = Calendar::default();
        // 2026-03-07 09:00 EST -> 2026-03-08 09:00 EDT (13:00Z), 23 real hours.
        let from = local(NY, 2026, 3, 7, 9, 0);
        assert_eq!(from, utc(2026, 3, 7, 14, 0));
        assert_eq!(wait("1d").after(from, NY, &cal), utc(2026, 3, 8, 13, 0));
    }

    #[test]
    fn one_day_keeps_local_clock_time_across_fall_back() {
        let cal = Calendar::default();
        let from = local(NY, 2026, 10, 31, 9, 0);
        assert_eq!(wait("1d").after(from, NY, &cal), utc(2026, 11, 1, 14, 0));
        assert_eq!(wait("1w").after(from, NY, &cal), utc(2026, 11, 7, 14, 0));
    }

    #[test]
    fn day_wait_landing_in_gap_moves_to_gap_end() {
        let cal = Calendar::default();
        // 2026-03-07 02:30 EST + 1d = 2026-03-08 02:30, which does not exist -> 03:00 EDT.
        let from = local(NY, 2026, 3, 7, 2, 30);
        assert_eq!(wait("1d").after(from, NY, &cal), utc(2026, 3, 8, 7, 0));
    }

    #[test]
    fn day_wait_landing_in_repeated_hour_takes_earlier_instant() {
        let cal = Calendar::default();
        let from = local(NY, 2026, 10, 31, 1, 30);
        assert_eq!(wait("1d").after(from, NY, &cal), utc(2026, 11, 1, 5, 30));
    }

    #[test]
    fn zero_waits_return_from_unchanged() {
        let cal = Calendar::default();
        // 01:30 EST on 2026-11-01 (the second pass): 0d must not move back to 01:30 EDT.
        let from = utc(2026, 11, 1, 6, 30);
        for text in ["0m", "0h", "0d", "0w", "0bd"] {
            assert_eq!(wait(text).after(from, NY, &cal), from, "{text}");
        }
    }

    #[test]
    fn business_days_skip_the_weekend() {
        let cal = Calendar::default();
        // 2026-03-06 is a Friday.
        let fri = local(NY, 2026, 3, 6, 10, 0);
        assert_eq!(wait("1bd").after(fri, NY, &cal), local(NY, 2026, 3, 9, 10, 0));
        assert_eq!(wait("2bd").after(fri, NY, &cal), local(NY, 2026, 3, 10, 10, 0));
        let sat = local(NY, 2026, 3, 7, 10, 0);
        assert_eq!(wait("2bd").after(sat, NY, &cal), local(NY, 2026, 3, 10, 10, 0));
        let sun = local(NY, 2026, 3, 8, 10, 0);
        assert_eq!(wait("1bd").after(sun, NY, &cal), local(NY, 2026, 3, 9, 10, 0));
        let mon = local(NY, 2026, 3, 9, 10, 0);
        assert_eq!(wait("5bd").after(mon, NY, &cal), local(NY, 2026, 3, 16, 10, 0));
        assert_eq!(wait("0bd").after(sat, NY, &cal), sat);
    }

    #[test]
    fn business_days_skip_holidays() {
        let cal = Calendar::new(
            &[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
            [date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 28)],
        )
        .unwrap();
        // Wednesday 2026-12-23 09:00 + 1bd: 24, 25 holidays, 26/27 weekend, 28 holiday -> Tue 29th.
        let from = local(NY, 2026, 12, 23, 9, 0);
        assert_eq!(wait("1bd").after(from, NY, &cal), local(NY, 2026, 12, 29, 9, 0));
        assert_eq!(wait("2bd").after(from, NY, &cal), local(NY, 2026, 12, 30, 9, 0));
        // A holiday start date never counts itself.
        let from = local(NY, 2026, 12, 25, 9, 0);
        assert_eq!(wait("1bd").after(from, NY, &cal), local(NY, 2026, 12, 29, 9, 0));
    }

    #[test]
    fn business_days_keep_local_time_across_dst() {
        let cal = Calendar::default();
        // Friday 2026-03-06 09:00 EST + 1bd = Monday 09:00 EDT.
        let from = local(NY, 2026, 3, 6, 9, 0);
        assert_eq!(wait("1bd").after(from, NY, &cal), utc(2026, 3, 9, 13, 0));
    }

    #[test]
    fn business_days_landing_in_gap_move_to_gap_end() {
        // Every day a workday; 02:30 on 2026-03-08 does not exist in New York.
        let all = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
        let cal = Calendar::new(&all, []).unwrap();
        let from = local(NY, 2026, 3, 7, 2, 30);
        assert_eq!(wait("1bd").after(from, NY, &cal), utc(2026, 3, 8, 7, 0));
    }

    #[test]
    fn business_days_use_the_leads_local_date() {
        let cal = Calendar::default();
        // Saturday 2026-03-07 03:00Z is still Friday 22:00 in New York.
        let from = utc(2026, 3, 7, 3, 0);
        assert_eq!(wait("1bd").after(from, NY, &cal), local(NY, 2026, 3, 9, 22, 0));
        // ...but Saturday 04:00 in Berlin.
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(wait("1bd").after(from, berlin, &cal), local(berlin, 2026, 3, 9, 4, 0));
    }

    #[test]
    fn huge_values_saturate_instead_of_panicking() {
        let cal = Calendar::default();
        let from = utc(2026, 1, 1, 0, 0);
        for w in [
            Wait::Minutes(u32::MAX),
            Wait::Hours(u32::MAX),
            Wait::Days(u32::MAX),
            Wait::Weeks(u32::MAX),
            Wait::BusinessDays(u32::MAX),
        ] {
            assert!(w.after(from, NY, &cal) > from, "{w}");
        }
        assert_eq!(Wait::Hours(u32::MAX).after(from, NY, &cal), DateTime::<Utc>::MAX_UTC);
        assert_eq!(Wait::BusinessDays(u32::MAX).after(from, NY, &cal), DateTime::<Utc>::MAX_UTC);
    }
}
