//! Lengths of time as users write them (`30s`, `90m`, `2d`, `2bd`): the one
//! parser behind every such setting. Each setting tells it which units it
//! accepts, the largest count of each and whether zero is allowed, and gets
//! back its own typed value or a [`DurationError`] that lists those units.

use std::fmt;

/// A unit a duration is written in, after its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// `s`
    Seconds,
    /// `m`
    Minutes,
    /// `h`
    Hours,
    /// `d`
    Days,
    /// `w`
    Weeks,
    /// `bd`
    BusinessDays,
}

impl Unit {
    const ALL: [Unit; 6] = [Unit::Seconds, Unit::Minutes, Unit::Hours, Unit::Days, Unit::Weeks, Unit::BusinessDays];

    /// How the unit is written: `s`, `m`, `h`, `d`, `w` or `bd`.
    pub fn suffix(self) -> &'static str {
        match self {
            Unit::Seconds => "s",
            Unit::Minutes => "m",
            Unit::Hours => "h",
            Unit::Days => "d",
            Unit::Weeks => "w",
            Unit::BusinessDays => "bd",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The units one setting accepts; shown as `m, h, d, w or bd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitSet(u8);

impl UnitSet {
    pub fn contains(self, unit: Unit) -> bool {
        self.0 & unit.bit() != 0
    }

    fn iter(self) -> impl Iterator<Item = Unit> {
        Unit::ALL.into_iter().filter(move |u| self.contains(*u))
    }
}

impl FromIterator<Unit> for UnitSet {
    fn from_iter<I: IntoIterator<Item = Unit>>(units: I) -> Self {
        UnitSet(units.into_iter().fold(0, |set, u| set | u.bit()))
    }
}

impl fmt::Display for UnitSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units: Vec<_> = self.iter().map(Unit::suffix).collect();
        match units.split_last() {
            None => Ok(()),
            Some((last, [])) => f.write_str(last),
            Some((last, rest)) => write!(f, "{} or {last}", rest.join(", ")),
        }
    }
}

/// One accepted unit: the largest count it takes and the value a count makes.
#[derive(Debug, Clone, Copy)]
pub struct Accepted<T> {
    pub unit: Unit,
    pub max: u64,
    pub make: fn(u64) -> T,
}

/// What one setting accepts, and what its durations become.
#[derive(Debug, Clone, Copy)]
pub struct Units<T: 'static> {
    pub accepted: &'static [Accepted<T>],
    /// Whether `0` (in any of the units) is accepted.
    pub zero: bool,
    /// A valid value, for messages (`2d`).
    pub example: &'static str,
}

impl<T> Units<T> {
    /// The accepted units as a set.
    pub fn set(&self) -> UnitSet {
        self.accepted.iter().map(|a| a.unit).collect()
    }
}

/// Why a duration did not parse. Every message names the text (when there is
/// one) and the units the setting accepts or the limit it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration: expected a number and a unit, e.g. {example} (units: {units})")]
    Empty { units: UnitSet, example: &'static str },
    #[error("invalid duration {text:?}: cannot be negative (expected e.g. {example}; units: {units})")]
    Negative { text: String, units: UnitSet, example: &'static str },
    #[error("invalid duration {text:?}: expected a number before the unit, e.g. {example} (units: {units})")]
    MissingNumber { text: String, units: UnitSet, example: &'static str },
    #[error("invalid duration {text:?}: missing unit after the number: unit must be {units}")]
    MissingUnit { text: String, units: UnitSet },
    #[error("invalid duration {text:?}: unit must be {units}, not {unit:?}")]
    UnknownUnit { text: String, unit: String, units: UnitSet },
    #[error("invalid duration {text:?}: longer than the maximum of {max}{}", unit.suffix())]
    TooLong { text: String, max: u64, unit: Unit },
    #[error("invalid duration {text:?}: must be more than zero")]
    Zero { text: String },
}

/// Parses `text` (a whole number of ASCII digits and a unit, surrounding
/// whitespace ignored) into what `units` makes of it.
pub fn parse_duration<T>(text: &str, units: &Units<T>) -> Result<T, DurationError> {
    let t = text.trim();
    let text = || t.to_string();
    let (set, example) = (units.set(), units.example);
    if t.is_empty() {
        return Err(DurationError::Empty { units: set, example });
    }
    if t.starts_with('-') {
        return Err(DurationError::Negative { text: text(), units: set, example });
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    if digits.is_empty() {
        return Err(DurationError::MissingNumber { text: text(), units: set, example });
    }
    if suffix.is_empty() {
        return Err(DurationError::MissingUnit { text: text(), units: set });
    }
    let Some(accepted) = units.accepted.iter().find(|a| a.unit.suffix() == suffix) else {
        return Err(DurationError::UnknownUnit { text: text(), unit: suffix.to_string(), units: set });
    };
    // Only ASCII digits here, so the sole parse failure is overflow.
    let count = digits.parse::<u64>().ok().filter(|n| *n <= accepted.max);
    let Some(count) = count else {
        return Err(DurationError::TooLong { text: text(), max: accepted.max, unit: accepted.unit });
    };
    if count == 0 && !units.zero {
        return Err(DurationError::Zero { text: text() });
    }
    Ok((accepted.make)(count))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SOME: Units<(Unit, u64)> = Units {
        accepted: &[
            Accepted { unit: Unit::Hours, max: 10, make: |n| (Unit::Hours, n) },
            Accepted { unit: Unit::BusinessDays, max: u64::MAX, make: |n| (Unit::BusinessDays, n) },
        ],
        zero: false,
        example: "2bd",
    };

    #[test]
    fn unit_sets_read_as_a_list() {
        let set = |units: &[Unit]| units.iter().copied().collect::<UnitSet>().to_string();
        assert_eq!(set(&[]), "");
        assert_eq!(set(&[Unit::Days]), "d");
        assert_eq!(set(&[Unit::Hours, Unit::Seconds]), "s or h");
        assert_eq!(set(&Unit::ALL), "s, m, h, d, w or bd");
    }

    #[test]
    fn the_parser_follows_its_units() {
        assert_eq!(parse_duration(" 10h\n", &SOME), Ok((Unit::Hours, 10)));
        assert_eq!(parse_duration("18446744073709551615bd", &SOME), Ok((Unit::BusinessDays, u64::MAX)));
        let cases = [
            ("", "empty duration: expected a number and a unit, e.g. 2bd (units: h or bd)"),
            ("-1h", "invalid duration \"-1h\": cannot be negative (expected e.g. 2bd; units: h or bd)"),
            ("h", "invalid duration \"h\": expected a number before the unit, e.g. 2bd (units: h or bd)"),
            ("7", "invalid duration \"7\": missing unit after the number: unit must be h or bd"),
            ("7d", "invalid duration \"7d\": unit must be h or bd, not \"d\""),
            ("11h", "invalid duration \"11h\": longer than the maximum of 10h"),
            ("18446744073709551616bd", "longer than the maximum of 18446744073709551615bd"),
            ("0h", "invalid duration \"0h\": must be more than zero"),
            ("00bd", "invalid duration \"00bd\": must be more than zero"),
        ];
        for (text, want) in cases {
            let msg = parse_duration(text, &SOME).unwrap_err().to_string();
            assert!(msg.ends_with(want), "{text:?}: {msg}");
        }
    }
}
