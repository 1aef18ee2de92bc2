//! Reading the watched inboxes during a tick: each message is classified,
//! matched to its lead, and what it means ([`crate::core::react`]) is applied
//! in the same transaction that marks it handled, so a reply that arrived
//! before a step's time stops that step, exactly once.

use chrono::{DateTime, Duration, Utc};
use tracing::info;

use crate::cadence::{Cadences, StopOn};
use crate::config::Config;
use crate::core::react::{self, Arrival, LeadFacts, Running};
use crate::core::unsubscribe;
use crate::imap::{Fetched, FolderRead};
use crate::inbound::{Blame, Classified, Kind};
use crate::model::{Effect, Matched, State};
use crate::store::{Answered, FolderState, InboundMessage, LeadRef, Source, Store, StoreError};

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

    /// Handles one message read from `mailbox`'s folder `read`.
    fn handle_inbound(&mut self, mailbox: &str, read: &FolderRead, message: &Fetched) -> Result<(), StoreError> {
        let incoming = Incoming {
            mailbox,
            source: Source::Imap,
            folder: &read.folder,
            uidvalidity: read.uidvalidity,
            uid: message.uid,
            raw: &message.raw,
            arrived: message.arrived,
        };
        let handled = handle_message(self.store, self.config, self.cadences, &incoming, self.now)?;
        if handled.new && handled.lead.is_some() {
            self.report.inbound += 1;
        }
        if handled.new && handled.refused_sender {
            self.refused_for_sender(mailbox)?;
        }
        Ok(())
    }
}

/// One inbound message to handle: read from a watched folder, or fed in by
/// hand (`cadenced ingest`).
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub mailbox: &'a str,
    pub source: Source,
    /// Folder, UIDVALIDITY and UID: where it was read (for a message by hand,
    /// what makes it unique).
    pub folder: &'a str,
    pub uidvalidity: u32,
    pub uid: u32,
    pub raw: &'a [u8],
    /// When the server received it (IMAP INTERNALDATE), if known.
    pub arrived: Option<DateTime<Utc>>,
}

/// What handling a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The lead it was about, if any.
    pub lead: Option<String>,
    pub kind: Kind,
    /// What it did, in a line.
    pub detail: String,
    /// False when it had been handled before (nothing was done again).
    pub new: bool,
    /// A bounce blaming the sender: it counts against the mailbox.
    pub refused_sender: bool,
}

/// Classifies one inbound message, finds its lead, and applies what it
/// means, in the one transaction that records it (so it is handled once); a
/// reply from a colleague then stops the leads of its company in the
/// cadences that stop on a `domain_reply`.
pub fn handle_message(
    store: &mut Store,
    config: &Config,
    cadences: &Cadences,
    incoming: &Incoming<'_>,
    now: DateTime<Utc>,
) -> Result<Handled, StoreError> {
    let raw = incoming.raw;
    let mut c = crate::inbound::classify(raw);
    // When it arrived: the server's INTERNALDATE, else its own Date header, else now.
    let arrived = incoming.arrived.or_else(|| crate::inbound::date_of(raw)).unwrap_or(now);
    let matched = match_inbound(store, &c, raw)?;
    if let Some((lead, how, _)) = &matched {
        react::attribute_bounce(&mut c, &lead.email, *how);
    }
    let (effect, detail, answers, reason) = match &matched {
        None => (Effect::None, "no lead".to_string(), None, None),
        Some((lead, how, answered)) => {
            let facts = lead_facts(store, config, cadences, lead)?;
            let arrival = Arrival { matched: *how, at: arrived };
            let (effect, detail) = react::decide(&c, &facts, arrival, now, &config.ooo_pause);
            let answers = match answered {
                Some(a) => Some(a.clone()),
                None => store.last_email_before(lead.id, arrived)?,
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
        source: incoming.source,
        mailbox: incoming.mailbox.to_string(),
        folder: incoming.folder.to_string(),
        uidvalidity: incoming.uidvalidity,
        uid: incoming.uid,
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
    let new = store.handle_inbound(&record, lead.map(|l| (l.id, l.email.as_str())), &effect, &detail, now)?;
    if new && let Some(lead) = lead {
        info!(mailbox = incoming.mailbox, source = incoming.source.as_str(), kind = %kind, lead = %lead.email,
              "inbound: {detail}");
    }
    let by_id = matches!(matched, Some((_, Matched::MessageId, _)));
    let mut detail = detail;
    if new
        && kind == Kind::Reply
        && let Some(from) = &c.from
    {
        let stopped = domain_reply(store, config, cadences, from, by_id, arrived, now)?;
        if stopped > 0 {
            detail = format!("{detail}; stopped {stopped} lead(s) of its company");
        }
    }
    Ok(Handled {
        lead: lead.map(|l| l.email.clone()),
        kind,
        detail,
        new,
        refused_sender: matches!(reason, Some((_, Blame::Sender))),
    })
}

/// A reply from `from`: in the cadences that stop on a `domain_reply`, every
/// lead at its company's domain (not free mail) is `replied`, saying who
/// answered. Mail naming no email cadenced sent counts only for leads
/// enrolled before it arrived. Returns how many enrollments ended.
fn domain_reply(
    store: &mut Store,
    config: &Config,
    cadences: &Cadences,
    from: &str,
    by_id: bool,
    arrived: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let stopping: Vec<String> = cadences
        .by_name
        .values()
        .filter(|c| c.stop_on.contains(&StopOn::DomainReply))
        .map(|c| c.name.clone())
        .collect();
    if stopping.is_empty() {
        return Ok(0);
    }
    let Some(domain) = crate::core::freemail::company_domain(from, &config.free_mail_domains) else {
        return Ok(0);
    };
    let leads: Vec<i64> = store
        .domain_leads(&domain, &stopping)?
        .into_iter()
        .filter(|l| by_id || l.enrolled_at <= arrived)
        .map(|l| l.enrollment_id)
        .collect();
    if leads.is_empty() {
        return Ok(0);
    }
    let ended = store.end_replied(&leads, &format!("{from} answered for {domain} (domain_reply)"), now)?;
    if ended > 0 {
        info!(domain = %domain, from, leads = ended, "a reply from the company stopped its leads (domain_reply)");
    }
    Ok(ended)
}

/// The lead `c` is about, how it was found, and the email it names: mail to
/// a lead's unsubscribe address first, then our Message-IDs it refers to,
/// then the address (a bounce's recipient, else the sender).
fn match_inbound(
    store: &Store,
    c: &Classified,
    raw: &[u8],
) -> Result<Option<(LeadRef, Matched, Option<Answered>)>, StoreError> {
    if let Some(id) = unsubscribe::addressed_lead(store.unsubscribe_secret(), raw)
        && let Some(lead) = store.lead_ref(id)?
    {
        return Ok(Some((lead, Matched::Token, None)));
    }
    let mut ids = c.in_reply_to.clone();
    ids.extend(c.original_message_ids.iter().cloned());
    let addresses: Vec<&str> = match c.kind {
        // The address that failed, then the one the sender gave when the report names it apart.
        Kind::Bounce | Kind::Complaint => {
            c.recipients.iter().flat_map(|r| std::iter::once(r.address.as_str()).chain(r.original.as_deref())).collect()
        }
        _ => c.from.as_deref().into_iter().collect(),
    };
    store.match_lead(&ids, &addresses)
}

/// What [`react::decide`] needs to know about `lead`.
fn lead_facts<'c>(
    store: &Store,
    config: &'c Config,
    cadences: &Cadences,
    lead: &LeadRef,
) -> Result<LeadFacts<'c>, StoreError> {
    let fields: crate::cadence::Fields = serde_json::from_str(&lead.fields).unwrap_or_default();
    let time = config.lead_time(None, lead.timezone.as_deref(), &fields);
    let enrollments = store.enrollments_of(lead.id)?;
    let running = enrollments
        .iter()
        .filter(|e| matches!(e.state, State::Active | State::Paused))
        .map(|e| Running {
            cadence: e.cadence.clone(),
            enrolled_at: e.enrolled_at,
            stops_on_reply: cadences.get(&e.cadence).is_none_or(|c| c.stop_on.contains(&StopOn::Reply)),
        })
        .collect();
    Ok(LeadFacts {
        email: lead.email.clone(),
        running,
        first_enrolled: enrollments.iter().map(|e| e.enrolled_at).min(),
        temporary_bounces: store.temporary_bounces(lead.id)?,
        tz: time.tz,
        calendar: time.calendar,
    })
}

/// Whether an inbox last read at `last` is still fresh at `now`.
pub(super) fn fresh(last: Option<DateTime<Utc>>, max_age: Duration, now: DateTime<Utc>) -> bool {
    last.is_some_and(|at| at >= now - max_age)
}
