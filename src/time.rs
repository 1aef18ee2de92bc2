//! Reading and showing instants: RFC 3339 on the command line, UTC in the
//! database, the lead's local time beside UTC for people; and local wall-clock
//! time to instants ([`resolve_local`]).

pub(crate) mod local;

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

pub(crate) use local::naive_local;
pub use local::resolve_local;

/// Why an instant or a zone name did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("invalid time {text:?}: {reason} (expected RFC 3339, e.g. 2026-03-02T09:00:00Z)")]
    Instant { text: String, reason: chrono::ParseError },
    #[error("unknown time zone {text:?} (expected an IANA name such as Europe/Berlin)")]
    Zone { text: String },
    #[error("invalid time {text:?}: expected a day (2026-11-30) or RFC 3339 (2026-11-30T09:00:00Z): {reason}")]
    DayOrInstant { text: String, reason: chrono::ParseError },
}

/// Parses `--at`/`--start` values: RFC 3339 (`2026-03-02T09:00:00Z`), truncated to the second.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, TimeError> {
    let parsed = DateTime::parse_from_rfc3339(text.trim())
        .map_err(|reason| TimeError::Instant { text: text.to_string(), reason })?;
    Ok(from_unix(parsed.timestamp()))
}

/// Parses a value where a day is as good as an instant (`--start`,
/// `--since`): a day `2026-03-02` is the start of that day in `tz` (its first
/// instant, also when a daylight-saving change skips midnight), anything else
/// is read as by [`parse_instant`].
pub fn parse_day_or_instant(text: &str, tz: Tz) -> Result<DateTime<Utc>, TimeError> {
    let trimmed = text.trim();
    if let Ok(day) = chrono::NaiveDate::parse_from_str(trimmed, "%Y-%m-%d") {
        return Ok(resolve_local(day.and_time(chrono::NaiveTime::MIN), tz));
    }
    parse_instant(trimmed).map_err(|e| match e {
        TimeError::Instant { reason, .. } => TimeError::DayOrInstant { text: text.to_string(), reason },
        other => other,
    })
}

/// The first instant of local day `day` in `tz` (after a gap, when midnight
/// does not exist there).
pub fn start_of_day(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    resolve_local(day.and_time(chrono::NaiveTime::MIN), tz)
}

/// Parses an IANA zone name (`Europe/Berlin`).
pub fn parse_zone(text: &str) -> Result<Tz, TimeError> {
    text.trim().parse::<Tz>().map_err(|_| TimeError::Zone { text: text.to_string() })
}

/// The instant `secs` seconds after the Unix epoch (clamped into chrono's range).
pub fn from_unix(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `2026-03-02T14:00:00Z`: the form every JSON document uses.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `2026-03-02 09:00 EST (14:00 UTC)`: local first, for people.
pub fn human(t: DateTime<Utc>, tz: Tz) -> String {
    Human(t, tz).to_string()
}

/// [`human`] as a `Display`, for listings that write it straight into their
/// output (formatting through a strftime string was a fifth of `leads`' time).
#[derive(Debug, Clone, Copy)]
pub struct Human(pub DateTime<Utc>, pub Tz);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Human(t, tz) = *self;
        let local = t.with_timezone(&tz);
        if !(0..=9999).contains(&local.year()) {
            // Outside four-digit years strftime's %Y adds a sign: let it.
            return write!(f, "{} ({} UTC)", local.format("%a %Y-%m-%d %H:%M %Z"), t.format("%H:%M"));
        }
        write!(
            f,
            "{} {:04}-{:02}-{:02} {:02}:{:02} {} ({:02}:{:02} UTC)",
            local.weekday(),
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            local.offset(),
            t.hour(),
            t.minute()
        )
    }
}

/// `2026-03-02T09:00:00-05:00`: local time with its offset.
pub fn local_rfc3339(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_instant_accepts_offsets_and_normalises_to_utc() {
        let t = parse_instant("2026-03-02T09:00:00-05:00").unwrap();
        assert_eq!(rfc3339(t), "2026-03-02T14:00:00Z");
    }

    #[test]
    fn parse_instant_rejects_dates_without_time() {
        let err = parse_instant("2026-03-02").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid time \"2026-03-02\": premature end of input (expected RFC 3339, e.g. 2026-03-02T09:00:00Z)"
        );
    }

    #[test]
    fn parse_day_or_instant_takes_a_day_as_its_local_start() {
        let ny = chrono_tz::America::New_York;
        assert_eq!(rfc3339(parse_day_or_instant("2026-11-30", ny).unwrap()), "2026-11-30T05:00:00Z");
        assert_eq!(rfc3339(parse_day_or_instant(" 2026-11-30 ", chrono_tz::UTC).unwrap()), "2026-11-30T00:00:00Z");
        // An instant is an instant, whatever the zone.
        assert_eq!(rfc3339(parse_day_or_instant("2026-11-30T14:00:00Z", ny).unwrap()), "2026-11-30T14:00:00Z");
        // Santiago skips midnight on 2026-09-06: the day starts at 01:00 local.
        let santiago = chrono_tz::America::Santiago;
        assert_eq!(rfc3339(parse_day_or_instant("2026-09-06", santiago).unwrap()), "2026-09-06T04:00:00Z");
        let err = parse_day_or_instant("next monday", ny).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "invalid time \"next monday\": expected a day (2026-11-30) or RFC 3339 (2026-11-30T09:00:00Z): "
            ),
            "{err}"
        );
        assert!(parse_day_or_instant("2026-02-30", ny).is_err());
    }

    #[test]
    fn parse_zone_names_the_text_and_the_form() {
        assert_eq!(parse_zone(" Europe/Berlin "), Ok(chrono_tz::Europe::Berlin));
        let err = parse_zone("Mars/Olympus").unwrap_err().to_string();
        assert_eq!(err, "unknown time zone \"Mars/Olympus\" (expected an IANA name such as Europe/Berlin)");
    }

    #[test]
    fn human_shows_local_and_utc() {
        let t = parse_instant("2026-03-02T14:00:00Z").unwrap();
        assert_eq!(human(t, chrono_tz::America::New_York), "Mon 2026-03-02 09:00 EST (14:00 UTC)");
    }

    #[test]
    fn human_matches_the_strftime_form_in_every_kind_of_zone() {
        let zones = [
            chrono_tz::UTC,
            chrono_tz::Europe::Berlin,
            chrono_tz::Asia::Kolkata,
            chrono_tz::Asia::Dubai,
            chrono_tz::America::Sao_Paulo,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Chatham,
        ];
        let instants = ["2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", "2026-10-25T00:30:00Z", "1970-01-01T00:00:00Z"];
        for tz in zones {
            for text in instants {
                let t = parse_instant(text).unwrap();
                let local = t.with_timezone(&tz);
                let expected = format!("{} ({} UTC)", local.format("%a %Y-%m-%d %H:%M %Z"), t.format("%H:%M"));
                assert_eq!(human(t, tz), expected, "{text} in {tz}");
            }
        }
        assert!(human(DateTime::<Utc>::MAX_UTC, chrono_tz::UTC).contains("+262"));
    }
}
