//! PURE: a mailbox's sending caps. `daily_limit` counts sends per local day of
//! the mailbox's zone; `min_gap` spaces two sends by at least the gap plus a
//! jitter of up to the gap again, so that sends do not look machine-made. The
//! jitter is derived from the previous send, so it is the same on every run and
//! across restarts: no hidden randomness for tests to fight.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::time::resolve_local;

/// A mailbox's sends on one local day, as counted in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    pub day: NaiveDate,
    pub sent: u32,
    /// The latest send: its time and its touchpoint id (the jitter's seed).
    pub last: Option<(DateTime<Utc>, i64)>,
}

/// Why a send must wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    DailyLimit,
    MinGap,
}

impl Hold {
    pub fn as_str(self) -> &'static str {
        match self {
            Hold::DailyLimit => "daily_limit",
            Hold::MinGap => "min_gap",
        }
    }
}

/// The caps of one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub daily_limit: Option<u32>,
    pub min_gap: Option<Duration>,
    pub tz: Tz,
}

/// The local day of `t` in `tz`, and the instants it starts and ends.
pub fn local_day(t: DateTime<Utc>, tz: Tz) -> (NaiveDate, DateTime<Utc>, DateTime<Utc>) {
    let day = t.with_timezone(&tz).date_naive();
    let start = resolve_local(day.and_time(chrono::NaiveTime::MIN), tz);
    let next = day.succ_opt().unwrap_or(day);
    let end = resolve_local(next.and_time(chrono::NaiveTime::MIN), tz);
    (day, start, end)
}

/// Up to `gap` more, picked from `seed` (a 64-bit mix, so neighbouring seeds spread out).
pub fn jitter(seed: i64, gap: Duration) -> Duration {
    let secs = gap.num_seconds().max(0);
    if secs == 0 {
        return Duration::zero();
    }
    let mut x = seed as u64 ^ 0x9E37_79B9_7F4A_7C15;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    Duration::seconds((x % (secs as u64 + 1)) as i64)
}

/// `None` when the mailbox may send at `now` given `load` (its sends on the
/// local day of `now`); otherwise when it may, and why not before.
pub fn hold(caps: &Caps, load: &Load, now: DateTime<Utc>) -> Option<(DateTime<Utc>, Hold)> {
    if let Some(limit) = caps.daily_limit {
        let (day, _, end) = local_day(now, caps.tz);
        if load.day == day && load.sent >= limit {
            return Some((end, Hold::DailyLimit));
        }
    }
    if let (Some(gap), Some((last, seed))) = (caps.min_gap, load.last) {
        let ok_at = last + gap + jitter(seed, gap);
        if now < ok_at {
            return Some((ok_at, Hold::MinGap));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_instant;

    fn t(s: &str) -> DateTime<Utc> {
        parse_instant(s).unwrap()
    }

    const BERLIN: Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn daily_limit_holds_until_the_next_local_midnight() {
        let caps = Caps { daily_limit: Some(2), min_gap: None, tz: BERLIN };
        let now = t("2026-03-02T15:00:00Z");
        let (day, start, end) = local_day(now, BERLIN);
        assert_eq!(start, t("2026-03-01T23:00:00Z"));
        assert_eq!(end, t("2026-03-02T23:00:00Z"));
        let under = Load { day, sent: 1, last: None };
        assert_eq!(hold(&caps, &under, now), None);
        let full = Load { day, sent: 2, last: None };
        assert_eq!(hold(&caps, &full, now), Some((end, Hold::DailyLimit)));
    }

    #[test]
    fn local_day_across_dst_is_23_hours() {
        let (_, start, end) = local_day(t("2026-03-29T12:00:00Z"), BERLIN);
        assert_eq!(end - start, Duration::hours(23));
    }

    #[test]
    fn min_gap_spaces_sends_by_gap_plus_jitter() {
        let gap = Duration::seconds(60);
        let caps = Caps { daily_limit: None, min_gap: Some(gap), tz: BERLIN };
        let last = t("2026-03-02T15:00:00Z");
        let load = Load { day: last.date_naive(), sent: 1, last: Some((last, 7)) };
        let (ok_at, why) = hold(&caps, &load, last).unwrap();
        assert_eq!(why, Hold::MinGap);
        assert!(ok_at >= last + gap && ok_at <= last + gap + gap, "{ok_at}");
        assert_eq!(hold(&caps, &load, ok_at), None);
    }

    #[test]
    fn jitter_stays_within_the_gap_and_varies() {
        let gap = Duration::seconds(90);
        let values: std::collections::BTreeSet<_> = (0..200).map(|s| jitter(s, gap).num_seconds()).collect();
        assert!(values.iter().all(|v| (0..=90).contains(v)));
        assert!(values.len() > 40, "jitter should spread: {values:?}");
        assert_eq!(jitter(5, gap), jitter(5, gap));
    }
}
