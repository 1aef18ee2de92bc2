//! Local wall-clock time to instants: the one rule every other part of the
//! schedule uses to turn a local date and clock time into a UTC instant,
//! including across daylight-saving gaps and repeated hours.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Map a local wall-clock time to the one instant it denotes:
///
/// * a time that exists once is that instant;
/// * inside a spring-forward gap (a time that never shows on the clock) it is
///   the first valid instant after the gap, i.e. the transition instant
///   (02:30 on 2026-03-08 in America/New_York -> 03:00 EDT = 07:00Z);
/// * in a repeated (autumn) hour it is the EARLIER of the two instants.
///
/// The mapping is monotone non-decreasing in `naive`. Works for any offset
/// change (30-minute DST as in Australia/Lord_Howe, transitions at local
/// midnight as in America/Santiago). At the very ends of chrono's range, where
/// no instant can be computed, it saturates to `DateTime::<Utc>::MIN_UTC` /
/// `MAX_UTC`.
pub fn resolve_local(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _later) => earlier.with_timezone(&Utc),
        LocalResult::None => gap_end(naive, tz).unwrap_or_else(|| saturate(naive)),
    }
}

/// The local wall-clock reading of instant `t` in `tz`.
pub(crate) fn naive_local(t: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

fn saturate(naive: NaiveDateTime) -> DateTime<Utc> {
    if naive.and_utc() > DateTime::<Utc>::UNIX_EPOCH { DateTime::<Utc>::MAX_UTC } else { DateTime::<Utc>::MIN_UTC }
}

/// UTC offsets in tzdata stay well within +-16 hours; searching +-26 hours
/// around "naive read as UTC" brackets every instant near that wall time.
const BRACKET_HOURS: i64 = 26;

/// The first instant whose local reading is at or after `naive`, which for a
/// `naive` inside a gap is the instant the clocks jumped (the gap's end).
/// Binary search over whole seconds (tzdata transitions fall on whole seconds).
fn gap_end(naive: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    let probe = naive.and_utc();
    let bracket = Duration::try_hours(BRACKET_HOURS)?;
    // Whole seconds: drop sub-second parts of the bounds.
    let lo0 = probe.checked_sub_signed(bracket)?;
    let hi0 = probe.checked_add_signed(bracket)?;
    let lo = lo0.timestamp();
    let hi = hi0.timestamp();
    let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0);
    let reaches = |secs: i64| at(secs).map(|u| naive_local(u, tz) >= naive);
    // Invariant: local(lo) < naive <= local(hi).
    if reaches(lo)? || !reaches(hi)? {
        return None;
    }
    at(first_reaching(lo, hi, reaches)?)
}

/// The smallest whole second in `(lo, hi]` that `reaches`, given that `lo`
/// does not and `hi` does (`reaches` never goes back once true); `None` when
/// `reaches` cannot tell. At most 64 halvings, whatever the bracket.
pub(crate) fn first_reaching(mut lo: i64, mut hi: i64, reaches: impl Fn(i64) -> Option<bool>) -> Option<i64> {
    for _ in 0..64 {
        if hi - lo <= 1 {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        if reaches(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn naive(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, s).unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        naive(y, mo, d, h, mi, s).and_utc()
    }

    fn zone(name: &str) -> Tz {
        name.parse().unwrap()
    }

    #[test]
    fn ordinary_time_is_its_single_instant() {
        let ny = zone("America/New_York");
        assert_eq!(resolve_local(naive(2026, 1, 15, 9, 0, 0), ny), utc(2026, 1, 15, 14, 0, 0));
        assert_eq!(resolve_local(naive(2026, 7, 15, 9, 0, 0), ny), utc(2026, 7, 15, 13, 0, 0));
    }

    #[test]
    fn dst_gap_time_moves_to_gap_end_new_york() {
        let ny = zone("America/New_York");
        // 02:00..03:00 does not exist on 2026-03-08; the clocks jump at 07:00Z.
        for (h, m, s) in [(2, 0, 0), (2, 30, 0), (2, 59, 59)] {
            assert_eq!(resolve_local(naive(2026, 3, 8, h, m, s), ny), utc(2026, 3, 8, 7, 0, 0));
        }
        assert_eq!(resolve_local(naive(2026, 3, 8, 1, 59, 59), ny), utc(2026, 3, 8, 6, 59, 59));
        assert_eq!(resolve_local(naive(2026, 3, 8, 3, 0, 0), ny), utc(2026, 3, 8, 7, 0, 0));
    }

    #[test]
    fn dst_gap_time_with_subseconds_moves_to_gap_end() {
        let ny = zone("America/New_York");
        let n = naive(2026, 3, 8, 2, 30, 0) + Duration::milliseconds(250);
        assert_eq!(resolve_local(n, ny), utc(2026, 3, 8, 7, 0, 0));
    }

    #[test]
    fn repeated_hour_takes_earlier_instant_new_york() {
        let ny = zone("America/New_York");
        // 01:00..02:00 happens twice on 2026-11-01 (EDT then EST).
        assert_eq!(resolve_local(naive(2026, 11, 1, 1, 0, 0), ny), utc(2026, 11, 1, 5, 0, 0));
        assert_eq!(resolve_local(naive(2026, 11, 1, 1, 30, 0), ny), utc(2026, 11, 1, 5, 30, 0));
        assert_eq!(resolve_local(naive(2026, 11, 1, 1, 59, 59), ny), utc(2026, 11, 1, 5, 59, 59));
        assert_eq!(resolve_local(naive(2026, 11, 1, 2, 0, 0), ny), utc(2026, 11, 1, 7, 0, 0));
    }

    #[test]
    fn berlin_spring_forward_and_fall_back() {
        let berlin = zone("Europe/Berlin");
        assert_eq!(resolve_local(naive(2026, 3, 29, 2, 30, 0), berlin), utc(2026, 3, 29, 1, 0, 0));
        assert_eq!(resolve_local(naive(2026, 3, 29, 3, 0, 0), berlin), utc(2026, 3, 29, 1, 0, 0));
        assert_eq!(resolve_local(naive(2026, 10, 25, 2, 30, 0), berlin), utc(2026, 10, 25, 0, 30, 0));
        assert_eq!(resolve_local(naive(2026, 10, 25, 3, 0, 0), berlin), utc(2026, 10, 25, 2, 0, 0));
    }

    #[test]
    fn lord_howe_half_hour_gap_and_overlap() {
        let lh = zone("Australia/Lord_Howe");
        // 2026-10-04 02:00 +10:30 -> 02:30 +11 at 15:30Z on the 3rd.
        assert_eq!(resolve_local(naive(2026, 10, 4, 2, 0, 0), lh), utc(2026, 10, 3, 15, 30, 0));
        assert_eq!(resolve_local(naive(2026, 10, 4, 2, 15, 0), lh), utc(2026, 10, 3, 15, 30, 0));
        assert_eq!(resolve_local(naive(2026, 10, 4, 2, 30, 0), lh), utc(2026, 10, 3, 15, 30, 0));
        assert_eq!(resolve_local(naive(2026, 10, 4, 1, 59, 0), lh), utc(2026, 10, 3, 15, 29, 0));
        // 2026-04-05 02:00 +11 -> 01:30 +10:30 at 15:00Z on the 4th.
        assert_eq!(resolve_local(naive(2026, 4, 5, 1, 45, 0), lh), utc(2026, 4, 4, 14, 45, 0));
        assert_eq!(resolve_local(naive(2026, 4, 5, 2, 0, 0), lh), utc(2026, 4, 4, 15, 30, 0));
    }

    #[test]
    fn santiago_missing_midnight_and_repeated_evening() {
        let scl = zone("America/Santiago");
        // 2026-09-06 00:00 -04 -> 01:00 -03 at 04:00Z: the local midnight does not exist.
        assert_eq!(resolve_local(naive(2026, 9, 6, 0, 0, 0), scl), utc(2026, 9, 6, 4, 0, 0));
        assert_eq!(resolve_local(naive(2026, 9, 6, 0, 30, 0), scl), utc(2026, 9, 6, 4, 0, 0));
        assert_eq!(resolve_local(naive(2026, 9, 5, 23, 59, 0), scl), utc(2026, 9, 6, 3, 59, 0));
        // 2026-04-05 00:00 -03 -> 2026-04-04 23:00 -04 at 03:00Z: 23:xx on the 4th repeats.
        assert_eq!(resolve_local(naive(2026, 4, 4, 23, 30, 0), scl), utc(2026, 4, 5, 2, 30, 0));
        assert_eq!(resolve_local(naive(2026, 4, 5, 0, 0, 0), scl), utc(2026, 4, 5, 4, 0, 0));
    }

    #[test]
    fn samoa_skipped_day_maps_to_next_midnight() {
        // Pacific/Apia skipped 2011-12-30 entirely (-10 -> +14).
        let apia = zone("Pacific/Apia");
        let got = resolve_local(naive(2011, 12, 30, 9, 0, 0), apia);
        assert_eq!(naive_local(got, apia), naive(2011, 12, 31, 0, 0, 0));
    }

    #[test]
    fn resolve_is_monotone_across_transitions() {
        let cases = [
            ("America/New_York", naive(2026, 3, 7, 20, 0, 0)),
            ("America/New_York", naive(2026, 10, 31, 20, 0, 0)),
            ("Australia/Lord_Howe", naive(2026, 4, 4, 20, 0, 0)),
            ("Australia/Lord_Howe", naive(2026, 10, 3, 20, 0, 0)),
            ("America/Santiago", naive(2026, 4, 4, 16, 0, 0)),
            ("America/Santiago", naive(2026, 9, 5, 16, 0, 0)),
        ];
        for (name, start) in cases {
            let tz = zone(name);
            let mut prev = resolve_local(start, tz);
            for i in 1..(16 * 60) {
                let n = start + Duration::minutes(i);
                let r = resolve_local(n, tz);
                assert!(r >= prev, "{name} {n}: {r} < {prev}");
                // The result's local reading is never before the asked time.
                assert!(naive_local(r, tz) >= n, "{name} {n}");
                prev = r;
            }
        }
    }

    #[test]
    fn extreme_dates_do_not_panic() {
        let ny = zone("America/New_York");
        let _ = resolve_local(NaiveDateTime::MAX, ny);
        let _ = resolve_local(NaiveDateTime::MIN, ny);
    }
}
