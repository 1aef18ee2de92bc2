//! The mailboxes' connections during a tick, and their outages across ticks.
//! A mailbox that cannot be reached (SMTP, or its inbox over IMAP) is tried
//! again after a backoff and logged once per attempt, not once per step and
//! tick: the daemon keeps one [`Transports`] across ticks.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::config::Mailbox;
use crate::core::schedule::retry_delay;
use crate::model::Ended;
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

/// The outage key of a mailbox's inbox (apart from its SMTP server).
pub(super) fn inbox_key(mailbox: &str) -> String {
    format!("{mailbox} (inbox)")
}
