//! `[calendars.NAME]` tables: workdays and holidays, inline or from a file.

use std::ops::Range;
use std::path::PathBuf;

use chrono::NaiveDate;
use serde::Deserialize;
use toml::Spanned;

use crate::schedule::Calendar;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCalendar {
    workdays: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
    /// A text file with one `YYYY-MM-DD` a line (`#` starts a comment).
    holidays_file: Option<Spanned<String>>,
}

type Problems = Vec<(Option<Range<usize>>, String)>;

pub(super) fn check(raw: &RawCalendar, resolve: &dyn Fn(&str) -> PathBuf) -> Result<Calendar, Problems> {
    let mut problems: Problems = Vec::new();
    let mut workdays = Vec::new();
    match &raw.workdays {
        None => workdays.extend([
            chrono::Weekday::Mon,
            chrono::Weekday::Tue,
            chrono::Weekday::Wed,
            chrono::Weekday::Thu,
            chrono::Weekday::Fri,
        ]),
        Some(list) => {
            for day in list.get_ref() {
                match Calendar::parse_weekday(day.get_ref()) {
                    Ok(d) => workdays.push(d),
                    Err(e) => problems.push((Some(day.span()), format!("workdays: {e}"))),
                }
            }
            if list.get_ref().is_empty() {
                problems.push((Some(list.span()), "workdays: a calendar needs at least one workday".into()));
            }
        }
    }
    let mut holidays = Vec::new();
    for h in &raw.holidays {
        match parse_date(h.get_ref()) {
            Ok(d) => holidays.push(d),
            Err(e) => problems.push((Some(h.span()), format!("holidays: {e}"))),
        }
    }
    if let Some(file) = &raw.holidays_file {
        let path = resolve(file.get_ref());
        match std::fs::read_to_string(&path) {
            Err(e) => problems.push((Some(file.span()), format!("holidays_file: cannot read {}: {e}", path.display()))),
            Ok(text) => {
                for (i, line) in text.lines().enumerate() {
                    let date = line.split('#').next().unwrap_or("").trim();
                    if date.is_empty() {
                        continue;
                    }
                    match parse_date(date) {
                        Ok(d) => holidays.push(d),
                        Err(e) => problems
                            .push((Some(file.span()), format!("holidays_file: {}:{}: {e}", path.display(), i + 1))),
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Calendar::new(&workdays, holidays).map_err(|e| vec![(None, e.to_string())])
}

/// A holiday that is not a `YYYY-MM-DD` date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {text:?}: {reason} (expected YYYY-MM-DD)")]
struct InvalidDate {
    text: String,
    reason: chrono::ParseError,
}

fn parse_date(text: &str) -> Result<NaiveDate, InvalidDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|reason| InvalidDate { text: text.to_string(), reason })
}
