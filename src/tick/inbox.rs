//! Reading the watched inboxes during a tick: each message is classified,
//! matched to its lead, and what it means ([`crate::core::react`]) is applied
//! in the same transaction that marks it handled, so a reply that arrived
//! before a step's time stops that step, exactly once.

use chrono::{DateTime, Duration, Utc};
use tracing::info;

use crate::cadence::StopOn;
use crate::core::react::{self, Arrival, LeadFacts, Running};
use crate::core::unsubscribe;
use crate::imap::{Fetched, FolderRead};
use crate::inbound::{Blame, Classified, Kind};
use crate::model::{Effect, Matched, State};
use crate::store::{Answered, FolderState, InboundMessage, LeadRef, StoreError};

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
        // When it arrived: the server's INTERNALDATE, else its own Date header, else now.
        let arrived = message.arrived.or_else(|| crate::inbound::date_of(&message.raw)).unwrap_or(self.now);
        let matched = self.match_inbound(&c, &message.raw)?;
        let (effect, detail, answers, reason) = match &matched {
            None => (Effect::None, "no lead".to_string(), None, None),
            Some((lead, how, answered)) => {
                let facts = self.lead_facts(lead)?;
                let arrival = Arrival { matched: *how, at: arrived };
                let (effect, detail) = react::decide(&c, &facts, arrival, self.now, &self.config.ooo_pause);
                let answers = match answered {
                    Some(a) => Some(a.clone()),
                    None => self.store.last_email_before(lead.id, arrived)?,
                };
                let reason = (c.kind == Kind::Bounce)
                    .then(|| react::recipient_of(&c, &lead.email))
                    .flatten()
                    .map(|r| (r.reason, if r.permanent { Blame::DeadAddress } else { r.reason.blame() }));
                (effect, detail, answers, reason)
            }
        };
        let lead = matched.as_ref().map(|(l, _, _)| l);
        let kind = match &matched {
            Some((_, Matched::Token, _)) => Kind::Unsubscribe,
            _ => c.kind,
        };
        let record = InboundMessage {
            mailbox: mailbox.to_string(),
            folder: read.folder.clone(),
            uidvalidity: read.uidvalidity,
            uid: message.uid,
            kind,
            at: arrived,
            permanent: (c.kind == Kind::Bounce).then(|| c.recipients.iter().any(|r| r.permanent)),
            // Mail about no lead is the user's business: only that it was read is kept.
            subject: lead.and(c.subject.clone()),
            message_id: lead.and(c.message_id.clone()),
            sender: lead.and(c.from.clone()),
            matched: matched.as_ref().map(|(_, how, _)| *how),
            answers,
            reason,
        };
        let handled =
            self.store.handle_inbound(&record, lead.map(|l| (l.id, l.email.as_str())), &effect, &detail, self.now)?;
        if handled && let Some(lead) = lead {
            info!(mailbox, folder = %read.folder, uid = message.uid, kind = %kind.as_str(), lead = %lead.email,
                  "inbound: {detail}");
            self.report.inbound += 1;
            if matches!(reason, Some((_, Blame::Sender))) {
                self.refused_for_sender(mailbox)?;
            }
        }
        Ok(())
    }

    /// The lead `c` is about, how it was found, and the email it names: mail
    /// to a lead's unsubscribe address first, then our Message-IDs it refers
    /// to, then the address (a bounce's recipient, else the sender).
    fn match_inbound(
        &self,
        c: &Classified,
        raw: &[u8],
    ) -> Result<Option<(LeadRef, Matched, Option<Answered>)>, StoreError> {
        if let Some(id) = unsubscribe::addressed_lead(self.store.unsubscribe_secret(), raw)
            && let Some(lead) = self.store.lead_ref(id)?
        {
            return Ok(Some((lead, Matched::Token, None)));
        }
        let mut ids = c.in_reply_to.clone();
        ids.extend(c.original_message_ids.iter().cloned());
        let addresses: Vec<&str> = match c.kind {
            Kind::Bounce | Kind::Complaint => c.recipients.iter().map(|r| r.address.as_str()).collect(),
            _ => c.from.as_deref().into_iter().collect(),
        };
        self.store.match_lead(&ids, &addresses)
    }

    /// What [`react::decide`] needs to know about `lead`.
    fn lead_facts(&self, lead: &LeadRef) -> Result<LeadFacts<'_>, StoreError> {
        let fields: crate::cadence::Fields = serde_json::from_str(&lead.fields).unwrap_or_default();
        let time = self.config.lead_time(None, lead.timezone.as_deref(), &fields);
        let enrollments = self.store.enrollments_of(lead.id)?;
        let running = enrollments
            .iter()
            .filter(|e| matches!(e.state, State::Active | State::Paused))
            .map(|e| Running {
                cadence: e.cadence.clone(),
                enrolled_at: e.enrolled_at,
                stops_on_reply: self.cadences.get(&e.cadence).is_none_or(|c| c.stop_on.contains(&StopOn::Reply)),
            })
            .collect();
        Ok(LeadFacts {
            email: lead.email.clone(),
            running,
            first_enrolled: enrollments.iter().map(|e| e.enrolled_at).min(),
            temporary_bounces: self.store.temporary_bounces(lead.id)?,
            tz: time.tz,
            calendar: time.calendar,
        })
    }
}

/// Whether an inbox last read at `last` is still fresh at `now`.
pub(super) fn fresh(last: Option<DateTime<Utc>>, max_age: Duration, now: DateTime<Utc>) -> bool {
    last.is_some_and(|at| at >= now - max_age)
}
