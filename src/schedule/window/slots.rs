//! The search for a window's first slot at or after an instant, in the lead's zone, on a workday.

use chrono::{DateTime, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use super::Window;
use crate::schedule::calendar::Calendar;
use crate::time::local::first_reaching;
use crate::time::{naive_local, resolve_local};

/// How far ahead a slot is looked for.
const HORIZON_MONTHS: u32 = 60;
/// Upper bound on day jumps in one search: more than the days in the horizon.
const MAX_DAY_JUMPS: usize = 5 * 366 + 16;

impl Window {
    /// The first slot at or after `t`, in zone `tz`, whose local date is a
    /// workday of `cal` (not a holiday, on a workday of the week), or `None`
    /// if there is none in the next 5 years. Non-workdays are skipped a whole
    /// day at a time, so the cost does not depend on the window's granularity.
    pub fn next_slot(&self, t: DateTime<Utc>, tz: Tz, cal: &Calendar) -> Option<DateTime<Utc>> {
        self.search(t, tz, |d| cal.is_workday(d), |d, max| cal.next_workday_after(d, max))
    }

    /// Same as [`Window::next_slot`], ignoring the calendar (every day
    /// counts); used to tell window delays from holiday delays.
    pub fn next_slot_any_day(&self, t: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.search(t, tz, |_| true, |d, _| d.succ_opt())
    }

    /// Whether `t`, truncated to the whole second, is itself a slot instant
    /// (on any day). A gap-end instant that slots inside the gap move to
    /// counts; the second pass through a repeated hour does not.
    pub fn contains(&self, t: DateTime<Utc>, tz: Tz) -> bool {
        match DateTime::<Utc>::from_timestamp(t.timestamp(), 0) {
            Some(whole) => self.next_slot_any_day(whole, tz) == Some(whole),
            None => false,
        }
    }

    fn search(
        &self,
        t: DateTime<Utc>,
        tz: Tz,
        day_ok: impl Fn(NaiveDate) -> bool,
        next_ok_day: impl Fn(NaiveDate, u32) -> Option<NaiveDate>,
    ) -> Option<DateTime<Utc>> {
        let limit = naive_local(t, tz).checked_add_months(Months::new(HORIZON_MONTHS))?;
        // Every naive time from `from` on resolves to an instant >= t, and
        // resolution is monotone: the first acceptable naive slot wins.
        let mut from = first_naive_reaching(t, tz)?;
        for _ in 0..MAX_DAY_JUMPS {
            let slot = self.first_naive_slot_from(from)?;
            if slot > limit {
                return None;
            }
            let day = slot.date();
            if day_ok(day) {
                return Some(resolve_local(slot, tz));
            }
            let room = limit.date().signed_duration_since(day).num_days().max(0) + 1;
            let next = next_ok_day(day, u32::try_from(room).unwrap_or(u32::MAX))?;
            from = next.and_time(NaiveTime::MIN);
        }
        None
    }

    /// The first naive wall-clock slot at or after `from` (a whole second).
    fn first_naive_slot_from(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let before = from.checked_sub_signed(Duration::seconds(1))?.and_utc();
        self.schedule.after(&before).next().map(|d| d.naive_utc())
    }
}

/// The smallest whole-second wall-clock time `n` with `resolve_local(n) >= t`.
///
/// `floor(local(t - 1ns))` resolves to at most `t - 1ns` (so it is too early),
/// and the next second usually reaches `t`. It does not when `t` is in the
/// second pass of a repeated hour (those wall times resolve to the first
/// pass); then search forward, doubling, and bisect.
fn first_naive_reaching(t: DateTime<Utc>, tz: Tz) -> Option<NaiveDateTime> {
    let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0).map(|d| d.naive_utc());
    let reaches = |secs: i64| at(secs).map(|n| resolve_local(n, tz) >= t);
    let just_before = t.checked_sub_signed(Duration::nanoseconds(1))?;
    // and_utc().timestamp() floors to whole seconds.
    let mut lo = naive_local(just_before, tz).and_utc().timestamp();
    let first = lo.checked_add(1)?;
    if reaches(first)? {
        return at(first);
    }
    lo = first;
    let mut hi = None;
    let mut step: i64 = 3600;
    for _ in 0..10 {
        let probe = lo.checked_add(step)?;
        if reaches(probe)? {
            hi = Some(probe);
            break;
        }
        lo = probe;
        step = step.checked_mul(2)?;
    }
    // lo does not reach t, hi does.
    at(first_reaching(lo, hi?, reaches)?)
}
