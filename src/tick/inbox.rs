//! Reading the watched inboxes during a tick: each message is classified,
//! matched to its lead, and what it means ([`crate::core::react`]) is applied
//! in the same transaction that marks it handled, so a reply that arrived
//! before a step's time stops that step, exactly once.

use chrono::{DateTime, Duration, Utc};
use tracing::info;

use crate::cadence::StopOn;
use crate::core::react::{self, LeadFacts};
use crate::imap::{Fetched, FolderRead};
use crate::inbound::Kind;
use crate::model::Effect;
use crate::store::{FolderState, InboundMessage, StoreError};

use super::Tick;
use super::outages::inbox_key;

impl Tick<'_> {
    /// Reads `mailbox`'s inbox unless it was read within `inbox_max_age`.
    /// Returns whether it is now fresh.
    pub(super) fn read_inbox_if_stale(&mut self, mailbox: &str) -> Result<bool, StoreError> {
        let max_age = Duration::from_std(self.config.inbox_max_age).unwrap_or(Duration::seconds(60));
        let last = match self.inbox_read.get(mailbox) {
            Some(at) => Some(*at),
            None => self.store.inbox_checked_at(mailbox)?,
        };
        if fresh(last, max_age, self.now) {
            return Ok(true);
        }
        let key = inbox_key(mailbox);
        if self.transports.held_until(&key, self.now).is_some() {
            return Ok(false);
        }
        let Some(settings) = self.config.mailboxes.get(mailbox).and_then(|m| m.imap.clone()) else {
            return Ok(true);
        };
        let mut states = Vec::new();
        for folder in &settings.folders {
            states.push(self.store.folder_state(mailbox, folder)?);
        }
        let since = (self.now - Duration::days(14)).date_naive();
        let reads = match crate::imap::read_new(&settings, &states, since) {
            Ok(r) => r,
            Err(e) => {
                self.transports.outage(&key, self.now, &e.to_string());
                return Ok(false);
            }
        };
        self.transports.recovered(&key, self.now);
        for read in reads {
            for message in &read.messages {
                self.handle_inbound(mailbox, &read, message)?;
            }
            let state = FolderState { uidvalidity: read.uidvalidity, last_uid: read.last_uid };
            self.store.set_folder_state(mailbox, &read.folder, state)?;
        }
        self.store.set_inbox_checked(mailbox, self.now)?;
        self.inbox_read.insert(mailbox.to_string(), self.now);
        Ok(true)
    }

    /// Classifies one inbound message, finds its lead, and applies what it means.
    fn handle_inbound(&mut self, mailbox: &str, read: &FolderRead, message: &Fetched) -> Result<(), StoreError> {
        let c = crate::inbound::classify(&message.raw);
        let mut ids = c.in_reply_to.clone();
        ids.extend(c.original_message_ids.iter().cloned());
        let addresses: Vec<&str> = match c.kind {
            Kind::Bounce | Kind::Complaint => c.recipients.iter().map(|r| r.address.as_str()).collect(),
            _ => c.from.as_deref().into_iter().collect(),
        };
        let lead = self.store.match_lead(&ids, &addresses)?;
        let (effect, detail) = match &lead {
            None => (Effect::None, "no lead".to_string()),
            Some(l) => {
                let fields: crate::cadence::Fields = serde_json::from_str(&l.fields).unwrap_or_default();
                let time = self.config.lead_time(None, l.timezone.as_deref(), &fields);
                let reply_stops = self
                    .store
                    .running_cadences(l.id)?
                    .into_iter()
                    .filter(|name| self.cadences.get(name).is_none_or(|c| c.stop_on.contains(&StopOn::Reply)))
                    .collect();
                let facts = LeadFacts {
                    reply_stops,
                    temporary_bounces: self.store.temporary_bounces(l.id)?,
                    tz: time.tz,
                    calendar: time.calendar,
                };
                react::decide(&c, &facts, self.now, &self.config.ooo_pause)
            }
        };
        let kind = c.kind.as_str().to_string();
        let record = InboundMessage {
            mailbox: mailbox.to_string(),
            folder: read.folder.clone(),
            uidvalidity: read.uidvalidity,
            uid: message.uid,
            kind: kind.clone(),
            permanent: (c.kind == Kind::Bounce).then(|| c.recipients.iter().any(|r| r.permanent)),
            // Mail about no lead is the user's business: only that it was read is kept.
            subject: lead.as_ref().and(c.subject.clone()),
            message_id: lead.as_ref().and(c.message_id.clone()),
            sender: lead.as_ref().and(c.from.clone()),
        };
        let handled = self.store.handle_inbound(
            &record,
            lead.as_ref().map(|l| (l.id, l.email.as_str())),
            &effect,
            &detail,
            self.now,
        )?;
        if handled && lead.is_some() {
            info!(mailbox, folder = %read.folder, uid = message.uid, kind = %kind,
                  lead = lead.as_ref().map_or("", |l| l.email.as_str()), "inbound: {detail}");
            self.report.inbound += 1;
        }
        Ok(())
    }
}

/// Whether an inbox last read at `last` is still fresh at `now`.
pub(super) fn fresh(last: Option<DateTime<Utc>>, max_age: Duration, now: DateTime<Utc>) -> bool {
    last.is_some_and(|at| at >= now - max_age)
}
