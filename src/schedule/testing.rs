//! Test helpers shared by the schedule's tests: instants, dates and parsed
//! waits and windows, written the short way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::{Wait, Window};

pub(crate) const NY: Tz = chrono_tz::America::New_York;

/// An instant in UTC, to the minute.
pub(crate) fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

/// An unambiguous local time.
pub(crate) fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap().with_timezone(&Utc)
}

pub(crate) fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub(crate) fn wait(s: &str) -> Wait {
    s.parse().unwrap()
}

pub(crate) fn window(s: &str) -> Window {
    s.parse().unwrap()
}
