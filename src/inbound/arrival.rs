//! When a message says it was written: its `Date` header, for a timeline
//! entry when the server gives no arrival time.

use chrono::{DateTime, Utc};

/// The instant of `raw`'s `Date` header, if it has a valid one.
pub fn date_of(raw: &[u8]) -> Option<DateTime<Utc>> {
    let message = mail_parser::MessageParser::default().parse_headers(raw)?;
    let date = message.date()?;
    DateTime::from_timestamp(date.to_timestamp(), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_header_is_read_in_any_zone() {
        let raw = b"From: j@acme.test\r\nDate: Mon, 2 Mar 2026 10:15:00 -0500\r\nSubject: x\r\n\r\nhi\r\n";
        assert_eq!(date_of(raw).map(|d| d.to_rfc3339()), Some("2026-03-02T15:15:00+00:00".into()));
        assert_eq!(date_of(b"From: j@acme.test\r\n\r\nno date\r\n"), None);
        assert_eq!(date_of(b"Date: whenever\r\n\r\n"), None);
    }
}
