//! PURE scheduling core: when is a cadence step due? No I/O, no clock reads;
//! every function takes the instants it needs as arguments.
//!
//! * [`Wait`] (`90m`, `12h`, `2d`, `1w`, `2bd`) turns the previous step's send
//!   time into a planned instant. [`parse_duration`] reads it, and every other
//!   length of time a user writes, each with its own [`Units`].
//! * [`Window`] (a cron expression read on the lead's local wall clock) says
//!   when emails may leave; a step is due at the first window slot at or after
//!   its planned instant.
//! * [`Calendar`] (workdays and holidays) decides which local dates count as
//!   business days and which may carry window slots.
//! * [`resolve_local`] (in [`crate::time`]) is the single rule for local wall-clock time to instant
//!   across daylight saving: gap -> the gap's end, repeated hour -> the earlier
//!   instant.

mod calendar;
mod duration;
#[cfg(test)]
mod testing;
mod wait;
mod window;

pub use crate::time::resolve_local;
pub use calendar::{Calendar, CalendarError};
pub use duration::{Accepted, DurationError, Unit, UnitSet, Units, parse_duration};
pub use wait::Wait;
pub use window::{Window, WindowError};

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

/// Why a step's due time is later than its plain planned time (prev + wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delay {
    /// The planned time was outside the send window.
    Window,
    /// The window had a slot earlier than the due time, but on a holiday or a
    /// non-workday of the calendar.
    Holiday,
}

impl Delay {
    /// `"window"` or `"holiday"`, for logs and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Delay::Window => "window",
            Delay::Holiday => "holiday",
        }
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a step is due, and why if that is later than planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The instant the step may be sent.
    pub at: DateTime<Utc>,
    /// `wait.after(prev, tz, cal)`: the plain planned instant.
    pub planned: DateTime<Utc>,
    /// `None` when `at == planned`.
    pub reason: Option<Delay>,
}

/// When a step is due, given the previous step's send time `prev`.
///
/// `planned = wait.after(prev, tz, cal)`. With a window, `at` is the first
/// window slot at or after `planned` whose local date is a workday of `cal`
/// (see [`Window::next_slot`]); without one, `at` is `planned` (the calendar
/// then matters only for `bd` waits, which it already shaped).
///
/// `reason` is `None` when `at == planned`; [`Delay::Holiday`] when the first
/// slot ignoring the calendar's holidays and non-workdays would have been
/// earlier than `at`; [`Delay::Window`] otherwise.
///
/// Fails with [`WindowError::NoSlot`] when the window has no workday slot
/// within 5 years of `planned`.
pub fn due(
    prev: DateTime<Utc>,
    wait: &Wait,
    window: Option<&Window>,
    tz: Tz,
    cal: &Calendar,
) -> Result<Due, WindowError> {
    let planned = wait.after(prev, tz, cal);
    let Some(window) = window else {
        return Ok(Due { at: planned, planned, reason: None });
    };
    let at = window
        .next_slot(planned, tz, cal)
        .ok_or_else(|| WindowError::NoSlot { window: window.to_string(), after: planned })?;
    let reason = if at == planned {
        None
    } else {
        match window.next_slot_any_day(planned, tz) {
            Some(any_day) if any_day < at => Some(Delay::Holiday),
            _ => Some(Delay::Window),
        }
    };
    Ok(Due { at, planned, reason })
}

/// First retry delay after a temporary send failure.
const RETRY_BASE_SECS: i64 = 60;
/// Retry delays never exceed this.
const RETRY_CAP_SECS: i64 = 3600;

/// Backoff for temporary send failures: attempt 1 -> 60 s, then doubling
/// (120 s, 240 s, ...), capped at 1 hour. Attempt 0 is treated as attempt 1.
pub fn retry_delay(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1);
    let secs = if doublings >= 6 { RETRY_CAP_SECS } else { (RETRY_BASE_SECS << doublings).min(RETRY_CAP_SECS) };
    Duration::seconds(secs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::testing::{NY, date, local, utc, wait, window};
    use super::*;
    use chrono::Weekday;

    fn weekdays() -> [Weekday; 5] {
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri]
    }

    #[test]
    fn delay_as_str() {
        assert_eq!(Delay::Window.as_str(), "window");
        assert_eq!(Delay::Holiday.as_str(), "holiday");
        assert_eq!(Delay::Holiday.to_string(), "holiday");
    }

    #[test]
    fn due_without_window_is_planned() {
        let cal = Calendar::default();
        // Friday 17:05 + 1d = Saturday 17:05: no window, so the weekend does not matter.
        let prev = local(NY, 2026, 3, 6, 17, 5);
        let d = due(prev, &wait("1d"), None, NY, &cal).unwrap();
        assert_eq!(d.planned, local(NY, 2026, 3, 7, 17, 5));
        assert_eq!(d.at, d.planned);
        assert_eq!(d.reason, None);
    }

    #[test]
    fn due_without_window_ignores_holidays_for_day_waits() {
        let cal = Calendar::new(&weekdays(), [date(2026, 3, 9)]).unwrap();
        let prev = local(NY, 2026, 3, 8, 10, 0);
        let d = due(prev, &wait("1d"), None, NY, &cal).unwrap();
        assert_eq!(d.at, local(NY, 2026, 3, 9, 10, 0));
        assert_eq!(d.reason, None);
        // bd waits do count the calendar.
        let d = due(prev, &wait("1bd"), None, NY, &cal).unwrap();
        assert_eq!(d.at, local(NY, 2026, 3, 10, 10, 0));
        assert_eq!(d.reason, None);
    }

    #[test]
    fn due_inside_window_has_no_reason() {
        let w = window("0 * 9-16 * * Mon-Fri");
        let cal = Calendar::default();
        let prev = local(NY, 2026, 3, 9, 10, 0);
        let d = due(prev, &wait("1d"), Some(&w), NY, &cal).unwrap();
        assert_eq!(d.at, local(NY, 2026, 3, 10, 10, 0));
        assert_eq!(d.planned, d.at);
        assert_eq!(d.reason, None);
    }

    #[test]
    fn due_outside_window_is_delayed_by_window() {
        let w = window("0 * 9-16 * * Mon-Fri");
        let cal = Calendar::default();
        // Friday 15:05 + 2h = 17:05 -> Monday 09:00: the window itself is closed all weekend.
        let prev = local(NY, 2026, 3, 6, 15, 5);
        let d = due(prev, &wait("2h"), Some(&w), NY, &cal).unwrap();
        assert_eq!(d.planned, local(NY, 2026, 3, 6, 17, 5));
        assert_eq!(d.at, utc(2026, 3, 9, 13, 0));
        assert_eq!(d.reason, Some(Delay::Window));
        // Same day, before opening.
        let prev = local(NY, 2026, 3, 10, 6, 0);
        let d = due(prev, &wait("30m"), Some(&w), NY, &cal).unwrap();
        assert_eq!(d.at, local(NY, 2026, 3, 10, 9, 0));
        assert_eq!(d.reason, Some(Delay::Window));
    }

    #[test]
    fn due_on_holiday_is_delayed_by_holiday() {
        let w = window("0 * 9-16 * * Mon-Fri");
        let cal = Calendar::new(&weekdays(), [date(2026, 3, 9)]).unwrap();
        // Friday 17:05 -> Monday is a holiday -> Tuesday 09:00.
        let prev = local(NY, 2026, 3, 6, 15, 5);
        let d = due(prev, &wait("2h"), Some(&w), NY, &cal).unwrap();
        assert_eq!(d.at, local(NY, 2026, 3, 10, 9, 0));
        assert_eq!(d.reason, Some(Delay::Holiday));
        // Planned inside the window hours, on the holiday itself.
        let prev = local(NY, 2026, 3, 8, 11, 0);
        let d = due(prev, &wait("1d"), Some(&w), NY, &cal).unwrap();
        assert_eq!(d.planned, local(NY, 2026, 3, 9, 11, 0));
        assert_eq!(d.at, local(NY, 2026, 3, 10, 9, 0));
        assert_eq!(d.reason, Some(Delay::Holiday));
    }

    #[test]
    fn due_on_non_workday_counts_as_holiday_delay() {
        // The window allows weekends but the calendar does not.
        let w = window("0 * 9-16 * * *");
        let cal = Calendar::default();
        let prev = local(NY, 2026, 3, 6, 10, 0);
        let d = due(prev, &wait("1d"), Some(&w), NY, &cal).unwrap();
        assert_eq!(d.planned, local(NY, 2026, 3, 7, 10, 0));
        assert_eq!(d.at, local(NY, 2026, 3, 9, 9, 0));
        assert_eq!(d.reason, Some(Delay::Holiday));
    }

    #[test]
    fn due_with_bd_wait_and_window() {
        let w = window("0 30 9 * * Mon-Fri");
        let cal = Calendar::default();
        // Friday 10:00 + 2bd = Tuesday 10:00 -> Wednesday 09:30 (window).
        let prev = local(NY, 2026, 3, 6, 10, 0);
        let d = due(prev, &wait("2bd"), Some(&w), NY, &cal).unwrap();
        assert_eq!(d.planned, local(NY, 2026, 3, 10, 10, 0));
        assert_eq!(d.at, local(NY, 2026, 3, 11, 9, 30));
        assert_eq!(d.reason, Some(Delay::Window));
    }

    #[test]
    fn due_in_dst_gap_window_slot() {
        let w = window("0 30 2 * * *");
        let cal = Calendar::new(
            &[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun],
            [],
        )
        .unwrap();
        let prev = local(NY, 2026, 3, 7, 2, 30);
        let d = due(prev, &wait("1d"), Some(&w), NY, &cal).unwrap();
        assert_eq!(d.planned, utc(2026, 3, 8, 7, 0));
        assert_eq!(d.at, utc(2026, 3, 8, 7, 0));
        assert_eq!(d.reason, None);
    }

    #[test]
    fn due_without_any_workday_slot_is_an_error() {
        let w = window("0 0 10 * * Sat");
        let cal = Calendar::default();
        let prev = utc(2026, 3, 2, 0, 0);
        let err = due(prev, &wait("1d"), Some(&w), NY, &cal).unwrap_err();
        assert_eq!(err, WindowError::NoSlot { window: "0 0 10 * * Sat".to_string(), after: utc(2026, 3, 3, 0, 0) });
        assert!(err.to_string().contains("5 years"));
    }

    #[test]
    fn retry_delay_doubles_from_a_minute_up_to_an_hour() {
        let cases = [
            (0, 60),
            (1, 60),
            (2, 120),
            (3, 240),
            (4, 480),
            (5, 960),
            (6, 1920),
            (7, 3600),
            (8, 3600),
            (64, 3600),
            (u32::MAX, 3600),
        ];
        for (attempts, secs) in cases {
            assert_eq!(retry_delay(attempts), Duration::seconds(secs), "attempt {attempts}");
        }
    }
}
