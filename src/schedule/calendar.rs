//! The business calendar: which weekdays are workdays and which dates are
//! holidays. It decides where business-day (`bd`) waits count and which local
//! dates may carry send-window slots. Pure data, no clock.

use std::collections::BTreeSet;
use std::ops::Bound::{Excluded, Unbounded};

use chrono::{Datelike, Days, NaiveDate, Weekday};

/// Errors building a [`Calendar`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The list of workdays was empty, so no business day could ever come.
    #[error("a calendar needs at least one workday")]
    NoWorkdays,
    /// A weekday name that is not one of Mon..Sun / Monday..Sunday.
    #[error("unknown weekday {text:?} (expected Mon, Tue, Wed, Thu, Fri, Sat, Sun or the full name)")]
    BadWeekday { text: String },
}

/// Workdays of the week plus a set of holiday dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// Indexed by [`Weekday::num_days_from_monday`].
    workdays: [bool; 7],
    holidays: BTreeSet<NaiveDate>,
}

impl Default for Calendar {
    /// Monday to Friday, no holidays.
    fn default() -> Self {
        Calendar { workdays: [true, true, true, true, true, false, false], holidays: BTreeSet::new() }
    }
}

impl Calendar {
    /// A calendar with the given workdays (duplicates are fine) and holidays.
    /// Fails when `workdays` is empty.
    pub fn new(workdays: &[Weekday], holidays: impl IntoIterator<Item = NaiveDate>) -> Result<Self, CalendarError> {
        if workdays.is_empty() {
            return Err(CalendarError::NoWorkdays);
        }
        let mut days = [false; 7];
        for d in workdays {
            days[d.num_days_from_monday() as usize] = true;
        }
        Ok(Calendar { workdays: days, holidays: holidays.into_iter().collect() })
    }

    /// Parses a weekday name: `Mon`, `monday`, `TUE`, ... (case-insensitive,
    /// surrounding whitespace ignored; three-letter or full English names).
    pub fn parse_weekday(s: &str) -> Result<Weekday, CalendarError> {
        let lower = s.trim().to_ascii_lowercase();
        let day = match lower.as_str() {
            "mon" | "monday" => Weekday::Mon,
            "tue" | "tuesday" => Weekday::Tue,
            "wed" | "wednesday" => Weekday::Wed,
            "thu" | "thursday" => Weekday::Thu,
            "fri" | "friday" => Weekday::Fri,
            "sat" | "saturday" => Weekday::Sat,
            "sun" | "sunday" => Weekday::Sun,
            _ => {
                return Err(CalendarError::BadWeekday { text: s.to_string() });
            }
        };
        Ok(day)
    }

    /// True when `d` falls on a workday of the week and is not a holiday.
    pub fn is_workday(&self, d: NaiveDate) -> bool {
        self.is_workday_of_week(d.weekday()) && !self.is_holiday(d)
    }

    /// True when `d` is one of the calendar's holidays.
    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.holidays.contains(&d)
    }

    fn is_workday_of_week(&self, w: Weekday) -> bool {
        self.workdays[w.num_days_from_monday() as usize]
    }

    /// Number of workdays in a week (1..=7).
    fn workdays_per_week(&self) -> u32 {
        self.workdays.iter().filter(|w| **w).count() as u32
    }

    /// The first workday strictly after `d`, looking at most `max_days` days
    /// ahead; `None` when there is none in that range (or at the end of
    /// chrono's date range).
    pub(crate) fn next_workday_after(&self, d: NaiveDate, max_days: u32) -> Option<NaiveDate> {
        let mut day = d;
        for _ in 0..max_days {
            day = day.succ_opt()?;
            if self.is_workday(day) {
                return Some(day);
            }
        }
        None
    }

    /// The date `n` workdays after `start` (the start date itself never
    /// counts). `n == 0` gives `start`. `None` past the end of chrono's date
    /// range. Whole holiday-free weeks are skipped in one step, so the cost is
    /// proportional to the number of holidays crossed, not to `n`.
    pub(crate) fn add_workdays(&self, start: NaiveDate, n: u32) -> Option<NaiveDate> {
        let per_week = self.workdays_per_week();
        if per_week == 0 {
            // Unreachable through the constructors; never loop forever.
            return None;
        }
        let mut day = start;
        let mut left = n;
        while left > 0 {
            // Any 7 consecutive holiday-free days hold exactly `per_week`
            // workdays, so whole weeks before the next holiday can be jumped.
            let room_weeks = match self.holidays.range((Excluded(day), Unbounded)).next() {
                Some(h) => {
                    let gap = h.signed_duration_since(day).num_days() - 1;
                    u32::try_from(gap.max(0) / 7).unwrap_or(u32::MAX)
                }
                None => u32::MAX,
            };
            let weeks = ((left - 1) / per_week).min(room_weeks);
            if weeks > 0 {
                day = day.checked_add_days(Days::new(u64::from(weeks) * 7))?;
                left -= weeks * per_week;
            }
            day = day.succ_opt()?;
            if self.is_workday(day) {
                left -= 1;
            }
        }
        Some(day)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const ALL_DAYS: [Weekday; 7] =
        [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn default_is_monday_to_friday_without_holidays() {
        let cal = Calendar::default();
        // 2026-03-02 is a Monday.
        for i in 0..5 {
            assert!(cal.is_workday(date(2026, 3, 2 + i)));
        }
        assert!(!cal.is_workday(date(2026, 3, 7)));
        assert!(!cal.is_workday(date(2026, 3, 8)));
        assert!(!cal.is_holiday(date(2026, 12, 25)));
    }

    #[test]
    fn new_rejects_empty_workdays() {
        assert_eq!(Calendar::new(&[], [date(2026, 1, 1)]), Err(CalendarError::NoWorkdays));
    }

    #[test]
    fn holidays_are_not_workdays() {
        let cal = Calendar::new(
            &[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
            [date(2026, 12, 25)],
        )
        .unwrap();
        assert!(cal.is_holiday(date(2026, 12, 25)));
        assert!(!cal.is_workday(date(2026, 12, 25)));
        assert!(cal.is_workday(date(2026, 12, 24)));
        // A holiday on a weekend is still a holiday, and still not a workday.
        let cal = Calendar::new(&[Weekday::Mon], [date(2026, 3, 7)]).unwrap();
        assert!(cal.is_holiday(date(2026, 3, 7)));
        assert!(!cal.is_workday(date(2026, 3, 7)));
    }

    #[test]
    fn custom_workdays_include_weekend_days() {
        let cal = Calendar::new(&[Weekday::Sun, Weekday::Sat, Weekday::Sun], []).unwrap();
        assert!(cal.is_workday(date(2026, 3, 7)));
        assert!(cal.is_workday(date(2026, 3, 8)));
        assert!(!cal.is_workday(date(2026, 3, 9)));
        assert_eq!(cal.workdays_per_week(), 2);
    }

    #[test]
    fn parse_weekday_accepts_short_and_long_names_any_case() {
        let cases = [
            ("Mon", Weekday::Mon),
            ("monday", Weekday::Mon),
            ("TUE", Weekday::Tue),
            ("Tuesday", Weekday::Tue),
            ("wed", Weekday::Wed),
            ("Wednesday", Weekday::Wed),
            ("thu", Weekday::Thu),
            ("THURSDAY", Weekday::Thu),
            ("fri", Weekday::Fri),
            (" friday ", Weekday::Fri),
            ("Sat", Weekday::Sat),
            ("saturday", Weekday::Sat),
            ("sun", Weekday::Sun),
            ("Sunday", Weekday::Sun),
        ];
        for (text, want) in cases {
            assert_eq!(Calendar::parse_weekday(text), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn parse_weekday_rejects_other_text() {
        for text in ["", "mo", "mond", "tues", "weekday", "1", "lundi"] {
            let err = Calendar::parse_weekday(text).unwrap_err();
            assert_eq!(err, CalendarError::BadWeekday { text: text.to_string() });
            assert!(err.to_string().contains("Mon, Tue"), "{err}");
        }
    }

    #[test]
    fn next_workday_after_skips_weekend_and_holidays() {
        let cal =
            Calendar::new(&[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri], [date(2026, 3, 9)])
                .unwrap();
        assert_eq!(cal.next_workday_after(date(2026, 3, 6), 30), Some(date(2026, 3, 10)));
        assert_eq!(cal.next_workday_after(date(2026, 3, 6), 3), None);
    }

    /// Day-by-day reference for `add_workdays`.
    fn add_workdays_slow(cal: &Calendar, start: NaiveDate, n: u32) -> NaiveDate {
        let mut day = start;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().unwrap();
            if cal.is_workday(day) {
                left -= 1;
            }
        }
        day
    }

    #[test]
    fn add_workdays_matches_day_by_day_count() {
        let holidays = [
            date(2026, 1, 1),
            date(2026, 4, 3),
            date(2026, 4, 6),
            date(2026, 5, 1),
            date(2026, 12, 24),
            date(2026, 12, 25),
            date(2026, 12, 26),
            date(2027, 1, 1),
        ];
        let calendars = [
            Calendar::default(),
            Calendar::new(&[Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri], holidays).unwrap(),
            Calendar::new(&[Weekday::Wed], holidays).unwrap(),
            Calendar::new(&[Weekday::Sun, Weekday::Thu, Weekday::Fri], holidays).unwrap(),
            Calendar::new(&ALL_DAYS, holidays).unwrap(),
        ];
        for cal in &calendars {
            let mut start = date(2025, 12, 20);
            while start < date(2026, 2, 1) {
                for n in [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 20, 50, 120, 300] {
                    assert_eq!(
                        cal.add_workdays(start, n),
                        Some(add_workdays_slow(cal, start, n)),
                        "{cal:?} {start} +{n}"
                    );
                }
                start = start.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn add_workdays_is_fast_for_huge_counts() {
        let cal = Calendar::new(&[Weekday::Mon], [date(2026, 3, 2)]).unwrap();
        // u32::MAX Mondays is far past chrono's range: None, and quickly.
        assert_eq!(cal.add_workdays(date(2026, 1, 1), u32::MAX), None);
        // 10_000 Mondays after Thursday 2026-01-01, one of them a holiday.
        let got = cal.add_workdays(date(2026, 1, 1), 10_000).unwrap();
        assert_eq!(got, add_workdays_slow(&cal, date(2026, 1, 1), 10_000));
    }
}
