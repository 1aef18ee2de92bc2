//! `[owners."rep@seller.test"]` tables: an owner's zone, working window and
//! reminder digest schedule.

use std::ops::Range;

use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use crate::schedule::Window;

pub use crate::model::{Digest, Owner};

/// Weekdays 09:00 to 16:59.
pub const DEFAULT_WINDOW: &str = "0 * 9-16 * * Mon-Fri";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOwner {
    timezone: Option<Spanned<String>>,
    window: Option<Spanned<String>>,
    digest: Option<Spanned<String>>,
    mailbox: Option<Spanned<String>>,
}

type Problems = Vec<(Option<Range<usize>>, String)>;

/// The owner `address` with no table of their own.
pub fn default_owner(address: &str, tz: Tz, window: &Window) -> Owner {
    Owner {
        address: address.to_string(),
        timezone: tz,
        window: window.clone(),
        digest: Digest::StartOfWindow,
        mailbox: None,
    }
}

pub(super) fn check(
    address: &str,
    raw: &RawOwner,
    default_tz: Tz,
    default_window: &Window,
    mailboxes: &dyn Fn(&str) -> bool,
) -> Result<Owner, Problems> {
    let mut problems: Problems = Vec::new();
    let mut owner = default_owner(address, default_tz, default_window);
    if address.parse::<lettre::Address>().is_err() {
        problems.push((None, format!("{address:?} is not an email address")));
    }
    if let Some(tz) = &raw.timezone {
        match crate::time::parse_zone(tz.get_ref()) {
            Ok(z) => owner.timezone = z,
            Err(e) => problems.push((Some(tz.span()), format!("timezone: {e}"))),
        }
    }
    if let Some(w) = &raw.window {
        match w.get_ref().parse::<Window>() {
            Ok(w) => owner.window = w,
            Err(e) => problems.push((Some(w.span()), format!("window: {e}"))),
        }
    }
    if let Some(d) = &raw.digest {
        owner.digest = match d.get_ref().trim() {
            "none" => Digest::Off,
            text => match text.parse::<Window>() {
                Ok(w) => Digest::Schedule(Box::new(w)),
                Err(e) => {
                    problems.push((Some(d.span()), format!("digest: {e} (or \"none\")")));
                    Digest::StartOfWindow
                }
            },
        };
    }
    if let Some(m) = &raw.mailbox {
        if mailboxes(m.get_ref()) {
            owner.mailbox = Some(m.get_ref().clone());
        } else {
            problems.push((Some(m.span()), format!("mailbox: unknown mailbox {:?}", m.get_ref())));
        }
    }
    if problems.is_empty() { Ok(owner) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_window_parses() {
        assert!(super::DEFAULT_WINDOW.parse::<crate::schedule::Window>().is_ok());
    }
}
