//! Send windows: a cron expression read as the set of LOCAL wall-clock
//! instants (in the lead's zone) when emails may leave, and the search for the
//! first such slot at or after an instant.
//!
//! The cron crate is only ever run on naive wall-clock time (in `Utc`, which
//! has no transitions, standing in for "the wall clock"); every naive slot is
//! then mapped to one instant with [`resolve_local`]:
//!
//! * a slot inside a spring-forward gap fires at the first instant after the
//!   gap (`0 30 2 * * *` fires at 03:00 EDT = 07:00Z on 2026-03-08 in New
//!   York rather than being skipped);
//! * a slot in the repeated autumn hour fires ONCE, at its earlier instant;
//! * whether a slot's day is a workday is decided by the slot's local
//!   (naive) date.
//!
//! Slots are whole-second instants: with a seconds field of `0`, asking at
//! 09:00:30 (or 09:00:00.5) gives 09:01:00, never an instant before the asked
//! one.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};

mod slots;

#[cfg(test)]
mod tests;

/// A send window: a 6- or 7-field cron expression in the `cron` crate's syntax
/// (`sec min hour day-of-month month day-of-week [year]`), e.g.
/// `0 * 9-16 * * Mon-Fri` (any minute 09:00-16:59 on weekdays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    schedule: cron::Schedule,
    source: String,
}

/// Why a window did not parse, or has no slot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not a valid cron expression.
    #[error(
        "invalid cron expression {text:?}: {message} (the fields: sec min hour day-of-month month day-of-week [year], e.g. \"0 * 9-16 * * Mon-Fri\")"
    )]
    Parse { text: String, message: String },
    /// A valid expression that matches no time at all (e.g. February 30th).
    #[error("cron expression {text:?} never matches any time")]
    NeverMatches { text: String },
    /// No slot on a workday within 5 years of the asked instant.
    #[error("window {window:?} has no slot on a workday within 5 years after {after}")]
    NoSlot { window: String, after: DateTime<Utc> },
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let fields = text.split_whitespace().count();
        if !(6..=7).contains(&fields) {
            let message = format!("found {fields} fields, expected 6 or 7 fields");
            return Err(WindowError::Parse { text: text.to_string(), message });
        }
        if let Some(message) = out_of_range(text) {
            return Err(WindowError::Parse { text: text.to_string(), message });
        }
        let schedule = cron::Schedule::from_str(text)
            .map_err(|e| WindowError::Parse { text: text.to_string(), message: one_line(&e.to_string()) })?;
        // Years run 1970..=2100 in the cron crate; from the start of that range
        // an expression that ever matches finds its first match.
        let matches_ever = DateTime::<Utc>::UNIX_EPOCH
            .checked_sub_signed(Duration::seconds(1))
            .and_then(|before| schedule.after(&before).next())
            .is_some();
        if !matches_ever {
            return Err(WindowError::NeverMatches { text: text.to_string() });
        }
        Ok(Window { schedule, source: text.to_string() })
    }
}

/// Each field's name and the numbers it takes, in order.
const FIELDS: [(&str, u32, u32, &str); 7] = [
    ("second", 0, 59, ""),
    ("minute", 0, 59, ""),
    ("hour", 0, 23, ""),
    ("day-of-month", 1, 31, ""),
    ("month", 1, 12, " (or names: Jan-Dec)"),
    ("day-of-week", 1, 7, " (1 is Sunday; or names: Mon-Fri)"),
    ("year", 1970, 2100, ""),
];

/// The first number outside its field's range, said plainly: the cron crate
/// says "Hours must be less than 23" of a 25 (23 itself is fine).
fn out_of_range(text: &str) -> Option<String> {
    for (i, (field, &(name, min, max, note))) in text.split_whitespace().zip(FIELDS.iter()).enumerate() {
        for item in field.split(',') {
            // `a-b/step`: the step is a count, not a value of the field.
            let values = item.split('/').next().unwrap_or("");
            for value in values.split('-') {
                let Ok(n) = value.parse::<u64>() else { continue };
                if n < u64::from(min) || n > u64::from(max) {
                    return Some(format!("{name} {n} is out of range {min}-{max}{note} in field {} ({name})", i + 1));
                }
            }
        }
    }
    None
}

/// The cron crate's messages echo the expression and put a caret under the
/// error on a second line; keep the explanation, or the column when there is
/// none.
fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message.lines().collect();
    let caret = lines.iter().position(|l| l.contains('^') && l.chars().all(|c| c == ' ' || c == '^'));
    match caret {
        Some(i) => {
            let detail: Vec<&str> = lines[i + 1..].iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
            if detail.is_empty() {
                let column = lines[i].find('^').map_or(1, |c| c + 1);
                format!("syntax error at column {column}")
            } else {
                detail.join(" ")
            }
        }
        None => {
            let joined: Vec<&str> = lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
            if joined.is_empty() { "syntax error".to_string() } else { joined.join(" ") }
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}
