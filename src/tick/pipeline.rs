//! The send pipeline: the life of one email, from the decision to send it to
//! its touchpoint's final row. Every guarantee against a duplicate rests on
//! its order:
//!
//! 1. **Ready.** [`decide`](crate::core::decide::decide) said send: the
//!    rendered email waits in `pending` for its group ([`GROUP`] emails).
//! 2. **Claim.** The group is claimed in one durable commit
//!    ([`Store::commit_group`](crate::store::Store::commit_group)): each email
//!    gets a `sending` touchpoint (a UNIQUE (lead, cadence, step) row, so a
//!    step can never be claimed twice) with its Message-ID, subject and body;
//!    the groups still out are remembered with it. The same commit records
//!    how the sends that came back since ended.
//! 3. **Log.** The sending thread ([`super::sender`]) writes the group into
//!    the send log beside the database, then each send's start before its
//!    first byte and its end after it.
//! 4. **Send.** The transport talks SMTP (or writes the outbox file); its
//!    error becomes an [`Ended`].
//! 5. **Record.** Back on the tick's thread, each [`Ended`] is
//!    [settled](crate::core::decide::settle) into what is recorded (sent,
//!    failed, uncertain, due again later, or given back) and written with
//!    the next group's claim, or when the tick drains.
//!
//! A process killed anywhere in between leaves `sending` rows, which the
//! next tick settles from the send log ([`super::recovery`]): what ended is
//! recorded as it ended, what started and did not end is `uncertain`, what
//! never started is given back. At most two groups are out at once: the one
//! being sent and the one claimed behind it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{Receiver, SyncSender};

use tracing::{info, warn};

use crate::cadence::Rendered;
use crate::config::Mailbox;
use crate::core::decide::{self, Claimed};
use crate::core::unsubscribe;
use crate::inbound::Blame;
use crate::model::{DueStep, Ended, Next, Reason, Refusal, Reply, Settled};
use crate::store::{Content, NewSend, SendGroup, Settlement, StoreError};

use super::Tick;
use super::sender::{Batch, Finished, Job};

/// Emails claimed together in one durable commit (which also records the
/// outcomes of the group before last), then sent one by one by the sending
/// thread while the next group is planned. A larger group saves fsyncs; after
/// a power loss every claimed send of the two groups under way still without
/// its outcome is recorded `uncertain` (after a crash of the process alone,
/// only the one that was under way: see [`crate::store::sendlog`]).
pub(super) const GROUP: usize = 128;

/// The tick's side of the sending thread.
pub(super) struct Pipe<'a> {
    pub(super) batches: SyncSender<Batch<'a>>,
    pub(super) done: Receiver<Finished>,
    /// Claimed emails handed over and not yet back, by touchpoint.
    pub(super) sending: BTreeMap<i64, Sending<'a>>,
    /// Back from the sender (or never handed over), not yet recorded.
    pub(super) ended: Vec<(Sending<'a>, Ended)>,
    /// The groups handed over whose sends are not all recorded, oldest first.
    pub(super) groups: VecDeque<(SendGroup, Vec<i64>)>,
}

impl<'a> Pipe<'a> {
    pub(super) fn new(batches: SyncSender<Batch<'a>>, done: Receiver<Finished>) -> Pipe<'a> {
        Pipe { batches, done, sending: BTreeMap::new(), ended: Vec::new(), groups: VecDeque::new() }
    }
}

/// An email that passed every rule and waits for its group's claim.
pub(super) struct Ready<'a> {
    pub(super) due: DueStep,
    pub(super) mailbox: &'a Mailbox,
    pub(super) rendered: Rendered,
    pub(super) reply: Option<Reply>,
    pub(super) next: Next,
    pub(super) reason: Option<Reason>,
    pub(super) variant: Option<String>,
}

/// A claimed email, while it is being sent (its content went with the claim).
pub(super) struct Sending<'a> {
    due: DueStep,
    mailbox: &'a Mailbox,
    next: Next,
    reason: Option<Reason>,
    variant: Option<String>,
    touchpoint_id: i64,
    message_id: String,
}

fn no_sender() -> StoreError {
    StoreError::Sender("no sending thread".into())
}

impl<'a> Tick<'a> {
    /// Claims the pending emails in one durable commit, together with the
    /// outcomes of the sends that came back meanwhile, and hands them to the
    /// sending thread.
    pub(super) fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut ready = std::mem::take(&mut self.pending);
        self.collect(2)?;
        let mut settled = self.settle_ended()?;
        let pipe = self.pipe.as_mut().ok_or_else(no_sender)?;
        let open: Vec<SendGroup> = pipe.groups.iter().map(|(g, _)| g.clone()).collect();
        if !self.refused_for.is_empty() {
            // Refusals aimed at the sender came back: recorded first, so that a
            // mailbox they pause claims nothing more (its steps stay due).
            self.store.commit_group(&settled, &open, &[], self.now)?;
            settled.clear();
            self.check_pauses()?;
            let (keep, held): (Vec<_>, Vec<_>) =
                ready.into_iter().partition(|r| !self.paused.contains_key(&r.mailbox.name));
            for r in held {
                self.unclaimed_send(&r.mailbox.name);
            }
            ready = keep;
        }
        let claims: Vec<NewSend<'_>> = ready
            .iter()
            .map(|r| NewSend {
                due: &r.due,
                mailbox: &r.mailbox.name,
                domain: r.mailbox.from.email.domain(),
                content: Content { subject: r.rendered.subject.as_deref(), body: &r.rendered.body },
                variant: r.variant.as_deref(),
            })
            .collect();
        let (claimed, group) = self.store.commit_group(&settled, &open, &claims, self.now)?;
        if group.is_some() {
            // On disk before any of them leaves: a restored copy of the database is behind it.
            super::restore::mark_claims(self.store, &self.config.database)?;
        }
        self.check_pauses()?;
        let mut jobs = Vec::new();
        for (ready, claim) in ready.into_iter().zip(claimed) {
            let Some((touchpoint_id, message_id)) = claim else {
                // Stopped, paused or sent meanwhile.
                self.unclaimed_send(&ready.mailbox.name);
                continue;
            };
            if let Some(load) = self.loads.get_mut(&ready.mailbox.name) {
                load.last = Some((self.now, touchpoint_id));
            }
            let Ready { due, mailbox, rendered, reply, next, reason, variant } = ready;
            let list_unsubscribe = self.list_unsubscribe(mailbox, due.lead_id);
            let job = Job {
                id: touchpoint_id,
                mailbox,
                to: due.email.clone(),
                subject: rendered.subject.unwrap_or_default(),
                body: rendered.body,
                reply,
                list_unsubscribe,
                step_tag: crate::core::restore::step_tag(self.store.unsubscribe_secret(), &due.cadence, &due.step),
                message_id: message_id.clone(),
                date: self.now,
                label: format!("{}-{}-{}-{touchpoint_id}", self.now.format("%Y%m%dT%H%M%SZ"), due.cadence, due.step),
            };
            jobs.push((Sending { due, mailbox, next, reason, variant, touchpoint_id, message_id }, job));
        }
        let pipe = self.pipe.as_mut().ok_or_else(no_sender)?;
        let Some(group) = group.filter(|_| !jobs.is_empty()) else {
            return Ok(());
        };
        let ids = jobs.iter().map(|(s, _)| s.touchpoint_id).collect();
        let mut batch = Vec::with_capacity(jobs.len());
        for (sending, job) in jobs {
            pipe.sending.insert(sending.touchpoint_id, sending);
            batch.push(job);
        }
        pipe.groups.push_back((group.clone(), ids));
        if let Err(lost) = pipe.batches.send(Batch { group, jobs: batch }) {
            // The thread is gone: none of these started.
            for job in lost.0.jobs {
                if let Some(sending) = pipe.sending.remove(&job.id) {
                    pipe.ended.push((sending, Ended::NotTried("the sending thread stopped".into())));
                }
            }
        }
        Ok(())
    }

    /// Waits for everything handed to the sending thread and records it.
    pub(super) fn drain(&mut self) -> Result<(), StoreError> {
        let out = self.pipe.as_ref().is_some_and(|pipe| !pipe.groups.is_empty() || !pipe.ended.is_empty());
        if !out {
            return Ok(());
        }
        self.collect(1)?;
        let settled = self.settle_ended()?;
        if let Some(pipe) = self.pipe.as_mut() {
            pipe.groups.clear();
        }
        self.store.record(&settled, self.now)?;
        self.check_pauses()
    }

    /// Takes in what the sending thread finished; waits until fewer than
    /// `max_open` groups have sends out.
    fn collect(&mut self, max_open: usize) -> Result<(), StoreError> {
        let control = self.control;
        let Some(pipe) = self.pipe.as_mut() else { return Ok(()) };
        loop {
            while let Some((_, ids)) = pipe.groups.front() {
                if ids.iter().any(|id| pipe.sending.contains_key(id)) {
                    break;
                }
                pipe.groups.pop_front();
            }
            let finished = if pipe.groups.len() >= max_open {
                match pipe.done.recv() {
                    Ok(finished) => finished,
                    Err(_) => return Err(StoreError::Sender("its sends are in the send log".into())),
                }
            } else {
                match pipe.done.try_recv() {
                    Ok(finished) => finished,
                    Err(_) => return Ok(()),
                }
            };
            if let Some(sending) = pipe.sending.remove(&finished.id) {
                // A send finished: progress, for the watchdog.
                control.progress.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                pipe.ended.push((sending, finished.ended));
            }
        }
    }

    /// What the sends that came back come to, logged and counted.
    fn settle_ended(&mut self) -> Result<Vec<Settlement>, StoreError> {
        let ended = match self.pipe.as_mut() {
            Some(pipe) => std::mem::take(&mut pipe.ended),
            None => return Ok(Vec::new()),
        };
        ended.into_iter().map(|(sending, ended)| self.settle_one(sending, ended)).collect()
    }

    fn settle_one(&mut self, sending: Sending<'a>, ended: Ended) -> Result<Settlement, StoreError> {
        let Sending { due, mailbox, next, reason, variant, touchpoint_id, message_id } = sending;
        let mailbox_back_at = self.transports.observe(&mailbox.name, &ended, self.now);
        let on_uncertain = self.cadences.get(&due.cadence).and_then(|c| c.on_uncertain);
        let refusal = match &ended {
            Ended::Refused(reply) => Refusal::of(reply),
            _ => None,
        };
        let temporary_bounces = match &refusal {
            Some(r) if r.blame == Blame::Passing => self.store.temporary_bounces(due.lead_id)?,
            _ => 0,
        };
        let claimed = Claimed {
            due: &due,
            next,
            reason,
            on_uncertain: on_uncertain.unwrap_or(self.config.on_uncertain),
            mailbox_back_at,
            temporary_bounces,
        };
        let settled = decide::settle(ended.clone(), claimed, self.now);
        let (lead, cadence, step) = (&due.email, &due.cadence, &due.step);
        match (&ended, &settled) {
            (Ended::Sent, _) => {
                match &variant {
                    Some(variant) => info!(lead = %lead, cadence = %cadence, step = %step, variant = %variant,
                                           message_id = %message_id, "sent"),
                    None => info!(lead = %lead, cadence = %cadence, step = %step, message_id = %message_id, "sent"),
                }
                self.report.sent += 1;
                self.control.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            (Ended::Refused(reply), Settled::Record { suppress: true, .. }) => {
                warn!(lead = %lead, cadence = %cadence, step = %step,
                      "refused, the address is dead: {reply}; lead bounced everywhere and suppressed");
                self.report.failed += 1;
            }
            (Ended::Refused(reply), Settled::Record { .. }) => {
                warn!(lead = %lead, cadence = %cadence, step = %step, "refused for good: {reply}; lead marked bounced");
                self.report.failed += 1;
            }
            (Ended::Refused(_), Settled::Retry { retry_at, error, .. }) => {
                warn!(lead = %lead, cadence = %cadence, step = %step, mailbox = %mailbox.name,
                      retry_at = %crate::time::rfc3339(*retry_at), "{error}");
                self.report.retrying += 1;
                if refusal.as_ref().is_some_and(|r| r.blame == Blame::Sender) {
                    self.refused_for.insert(mailbox.name.clone());
                }
            }
            (Ended::Uncertain(why), _) => {
                warn!(lead = %lead, cadence = %cadence, step = %step, message_id = %message_id,
                      "send interrupted, it may have been delivered: {why}; recorded as uncertain, not sent again");
                self.report.uncertain += 1;
            }
            (Ended::Temporary(_), Settled::Record { detail, .. }) => {
                warn!(lead = %lead, cadence = %cadence, step = %step, "{}", detail.as_deref().unwrap_or_default());
                self.report.failed += 1;
            }
            (Ended::Temporary(why), Settled::Retry { retry_at, .. }) => {
                warn!(lead = %lead, cadence = %cadence, step = %step, attempt = due.attempts + 1,
                      retry_at = %crate::time::rfc3339(*retry_at), "not sent, will retry: {why}");
                self.report.retrying += 1;
            }
            // The outage was logged once, as it began.
            (Ended::Unavailable(_), _) => self.report.retrying += 1,
            _ => {}
        }
        if !matches!(settled, Settled::Record { .. }) {
            // A claimed send that certainly did not leave does not count against the caps.
            self.unclaimed_send(&mailbox.name);
        }
        Ok(Settlement { touchpoint_id, enrollment_id: due.enrollment_id, at: self.now, settled, refusal })
    }

    /// The `List-Unsubscribe` of an email to lead `lead_id` through
    /// `mailbox`: the one-click link first when `[http] public_url` is set.
    fn list_unsubscribe(&self, mailbox: &Mailbox, lead_id: i64) -> Option<String> {
        if !mailbox.list_unsubscribe {
            return None;
        }
        let token = unsubscribe::token(self.store.unsubscribe_secret(), lead_id);
        let on = mailbox.unsubscribe_address.clone().unwrap_or_else(|| mailbox.from.email.to_string());
        let mailto = format!("<mailto:{}?subject=unsubscribe>", unsubscribe::address(&on, &token));
        Some(match self.config.http.as_ref().and_then(|h| h.public_url.as_deref()) {
            Some(url) => format!("<{url}/u/{token}>, {mailto}"),
            None => mailto,
        })
    }

    /// A claimed send that certainly did not leave does not count against the caps.
    pub(super) fn unclaimed_send(&mut self, mailbox: &str) {
        if let Some(load) = self.loads.get_mut(mailbox) {
            load.sent = load.sent.saturating_sub(1);
        }
    }
}
