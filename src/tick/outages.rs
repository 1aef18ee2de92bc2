//! The mailboxes' connections during a tick, and their outages across ticks.
//! A mailbox that cannot be reached (SMTP, or its inbox over IMAP) is tried
//! again after a backoff and logged once per attempt, not once per step and
//! tick: the daemon keeps one [`Transports`] across ticks.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::config::Mailbox;
use crate::model::Ended;
use crate::schedule::retry_delay;
use crate::send::{self, Transport};

/// The open transports, by mailbox name.
pub(super) type Open = BTreeMap<String, Box<dyn Transport>>;

/// The transports of the configured mailboxes, opened on first use and
/// closed at the end of each tick, and the outages of mailboxes that could
/// not be reached.
pub struct Transports {
    pub(super) open: Open,
    outages: BTreeMap<String, Outage>,
}

/// A mailbox that could not be reached.
#[derive(Debug, Clone)]
struct Outage {
    attempts: u32,
    since: DateTime<Utc>,
    retry_at: DateTime<Utc>,
    /// The last attempt's error.
    why: String,
}

impl Transports {
    pub fn new() -> Transports {
        Transports { open: BTreeMap::new(), outages: BTreeMap::new() }
    }

    /// When the next attempt to reach an unreachable `mailbox` is due, if later than `now`.
    pub(super) fn held_until(&self, mailbox: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.down(mailbox, now).map(|(at, _)| at)
    }

    /// While `mailbox` is down: when it is tried again, and the last error.
    pub(super) fn down(&self, mailbox: &str, now: DateTime<Utc>) -> Option<(DateTime<Utc>, String)> {
        self.outages.get(mailbox).filter(|o| o.retry_at > now).map(|o| (o.retry_at, o.why.clone()))
    }

    /// When `mailbox`'s outage began, if it has one.
    pub(super) fn down_since(&self, mailbox: &str) -> Option<DateTime<Utc>> {
        self.outages.get(mailbox).map(|o| o.since)
    }

    /// The last error of `mailbox`'s outage, if it has one.
    pub(super) fn last_error(&self, mailbox: &str) -> Option<&str> {
        self.outages.get(mailbox).map(|o| o.why.as_str())
    }

    /// Records a failed attempt to reach `mailbox`; returns when to try again.
    pub(super) fn outage(&mut self, mailbox: &str, now: DateTime<Utc>, why: &str) -> DateTime<Utc> {
        let outage = self.outages.entry(mailbox.to_string()).or_insert(Outage {
            attempts: 0,
            since: now,
            retry_at: now,
            why: String::new(),
        });
        outage.attempts += 1;
        outage.why = why.to_string();
        outage.retry_at = now + retry_delay(outage.attempts);
        warn!(mailbox, attempt = outage.attempts, retry_at = %crate::time::rfc3339(outage.retry_at),
              "mailbox unavailable, nothing sent through it until then: {why}");
        outage.retry_at
    }

    /// `mailbox` worked: the outage, if any, is over.
    pub(super) fn recovered(&mut self, mailbox: &str, now: DateTime<Utc>) {
        if let Some(o) = self.outages.remove(mailbox) {
            let minutes = (now - o.since).num_minutes();
            info!(mailbox, attempts = o.attempts, minutes, "mailbox reachable again");
        }
    }

    /// Takes in how a send through `mailbox` ended; returns when the mailbox
    /// may be tried again (`now` unless it could not be reached).
    pub(super) fn observe(&mut self, mailbox: &str, ended: &Ended, now: DateTime<Utc>) -> DateTime<Utc> {
        match ended {
            Ended::Sent => {
                self.recovered(mailbox, now);
                now
            }
            Ended::Unavailable(why) => self.outage(mailbox, now, why),
            _ => now,
        }
    }

    /// After a reload: the open connections go (the new settings may name
    /// other servers or credentials), and so does the back-off of each
    /// mailbox whose servers or credentials changed; a mailbox whose settings
    /// are as they were keeps its back-off, so a reload never lets it send
    /// before its `retry_at`.
    pub fn reloaded(&mut self, before: &crate::config::Config, after: &crate::config::Config) {
        self.close_all();
        self.open.clear();
        let unchanged = |name: &str| match (before.mailboxes.get(name), after.mailboxes.get(name)) {
            (Some(a), Some(b)) => connection_settings(a) == connection_settings(b),
            _ => false,
        };
        self.outages.retain(|key, _| unchanged(key.strip_suffix(" (inbox)").unwrap_or(key)));
    }

    pub(super) fn get(&mut self, mailbox: &Mailbox) -> &mut Box<dyn Transport> {
        self.open.entry(mailbox.name.clone()).or_insert_with(|| send::transport_for(mailbox))
    }

    pub(super) fn close_all(&mut self) {
        for t in self.open.values_mut() {
            t.close();
        }
    }
}

impl Default for Transports {
    fn default() -> Self {
        Transports::new()
    }
}

/// What a mailbox connects with, as text (secrets show as `***`, so a
/// changed password alone reads as unchanged: its back-off is kept).
fn connection_settings(mailbox: &Mailbox) -> String {
    format!("{:?} {:?}", mailbox.delivery, mailbox.imap)
}

/// The outage key of a mailbox's inbox (apart from its SMTP server).
pub(super) fn inbox_key(mailbox: &str) -> String {
    format!("{mailbox} (inbox)")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(smtp: &str) -> crate::config::Config {
        let text = format!(
            "[mailboxes.a]\nfrom = \"a@x.test\"\nsmtp = \"{smtp}\"\n[mailboxes.b]\nfrom = \"b@x.test\"\nsmtp = \"smtp://127.0.0.1:2\"\n"
        );
        crate::config::Config::parse(std::path::Path::new("/p/config.toml"), &text).unwrap()
    }

    #[test]
    fn a_reload_keeps_the_back_off_of_a_mailbox_whose_servers_did_not_change() {
        let now = crate::time::parse_instant("2026-03-02T09:00:00Z").unwrap();
        let mut t = Transports::new();
        let retry_a = t.outage("a", now, "refused");
        let retry_b = t.outage("b", now, "refused");
        t.outage(&inbox_key("b"), now, "refused");
        t.reloaded(&config("smtp://127.0.0.1:1"), &config("smtp://127.0.0.1:9"));
        assert_eq!(t.held_until("a", now), None, "a's server changed: tried at once");
        assert_eq!(t.held_until("b", now), Some(retry_b), "b's did not: its back-off holds");
        assert!(t.held_until(&inbox_key("b"), now).is_some());
        assert!(retry_a > now);
    }
}
