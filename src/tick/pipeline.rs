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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use crate::cadence::{Cadences, Rendered};
use crate::config::{Config, Mailbox};
use crate::core::decide::{self, Claimed};
use crate::core::pacing::{self, Load};
use crate::core::unsubscribe;
use crate::model::{Blame, DueStep, Ended, Next, Reason, Reply, Settled};
use crate::store::{Content, NewSend, SendGroup, SendLog, Settlement, Store, StoreError, sendlog};

use super::sender::{self, Batch, Finished, Job};
use super::{Control, Report, Tick, Transports};

/// Emails claimed together in one durable commit (which also records the
/// outcomes of the group before last), then sent one by one by the sending
/// thread while the next group is planned. A larger group saves fsyncs; after
/// a power loss every claimed send of the two groups under way still without
/// its outcome is recorded `uncertain` (after a crash of the process alone,
/// only the one that was under way: see [`crate::store::sendlog`]).
pub(super) const GROUP: usize = 128;

/// The send pipeline of one tick: the emails waiting for their group's
/// claim, the way to the sending thread and what is out with it, the
/// mailboxes refused for the sender since their pause was checked, and each
/// mailbox's sends today (read once, kept up to date). The tick pages and
/// decides; it [offers](Pipeline::offer) each email cleared to leave and
/// [finishes](Pipeline::finish) when the due steps are done.
pub(super) struct Pipeline<'a> {
    /// Emails cleared to leave, to be claimed together (see [`GROUP`]).
    pending: Vec<Ready<'a>>,
    /// The way to the sending thread, while the due steps are worked through.
    pipe: Option<Pipe<'a>>,
    /// Mailboxes refused for the sender since their pause was last checked.
    refused_for: BTreeSet<String>,
    /// Each mailbox's sends today, read once per tick and kept up to date.
    loads: BTreeMap<String, Load>,
}

/// What the pipeline works with, lent by the tick for each call.
pub(super) struct Env<'t, 'a> {
    pub(super) store: &'t mut Store,
    pub(super) config: &'a Config,
    pub(super) cadences: &'a Cadences,
    pub(super) transports: &'t mut Transports,
    pub(super) control: &'a Control,
    pub(super) now: DateTime<Utc>,
    pub(super) report: &'t mut Report,
    /// Mailboxes that paused themselves, and why.
    pub(super) paused: &'t mut BTreeMap<String, String>,
}

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

impl<'a> Pipeline<'a> {
    pub(super) fn new() -> Pipeline<'a> {
        Pipeline { pending: Vec::new(), pipe: None, refused_for: BTreeSet::new(), loads: BTreeMap::new() }
    }

    /// Runs `work` (the tick's paging through its due steps) with a sending
    /// thread beside it, then waits for everything handed over and records
    /// it. An error stops the thread before its next send; what left is in
    /// the send log for the next tick.
    pub(super) fn with_sender(
        tick: &mut Tick<'a>,
        work: impl FnOnce(&mut Tick<'a>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let log = SendLog::open(&tick.config.database)?;
        let log_path = log.path().to_path_buf();
        let open = std::mem::take(&mut tick.transports.open);
        let abort = AtomicBool::new(false);
        let control = tick.control;
        let result = std::thread::scope(|scope| {
            let (batches, batches_rx) = std::sync::mpsc::sync_channel(1);
            let (done_tx, done) = std::sync::mpsc::channel();
            let stops = sender::Stops { control, abort: &abort };
            let thread = scope.spawn(move || sender::run(open, log, batches_rx, done_tx, stops));
            tick.pipeline.pipe = Some(Pipe::new(batches, done));
            let result = work(tick).and_then(|()| {
                let (mut env, pipeline) = tick.parts();
                pipeline.finish(&mut env)
            });
            if result.is_err() {
                // Nothing more leaves; what did is in the send log for the next tick.
                abort.store(true, Ordering::SeqCst);
            }
            // Closing the channel ends the thread.
            tick.pipeline.pipe = None;
            match thread.join() {
                Ok(open) => {
                    tick.transports.open = open;
                    result
                }
                Err(_) => Err(StoreError::Sender("it panicked; its sends are in the send log".into())),
            }
        });
        result?;
        // Everything it told is recorded now.
        sendlog::clear(&log_path)
    }

    /// An email cleared to leave: counted against its mailbox's day at once,
    /// claimed with its group (at once with a `min_gap`, whose next slot
    /// depends on this claim).
    pub(super) fn offer(&mut self, env: &mut Env<'_, 'a>, ready: Ready<'a>) -> Result<(), StoreError> {
        if let Some(load) = self.loads.get_mut(&ready.mailbox.name) {
            load.sent += 1;
        }
        let min_gap = ready.mailbox.min_gap.is_some();
        self.pending.push(ready);
        if self.pending.len() >= GROUP || min_gap {
            self.flush(env)?;
        }
        Ok(())
    }

    /// Claims what waits and records everything that came back: at the end
    /// of each pass over the due steps, and before the tick ends.
    pub(super) fn finish(&mut self, env: &mut Env<'_, 'a>) -> Result<(), StoreError> {
        self.flush(env)?;
        self.drain(env)
    }

    /// The tick is stopping: nothing is claimed before its group is, so what
    /// waits stays due.
    pub(super) fn forget_pending(&mut self) {
        self.pending.clear();
    }

    /// `mailbox`'s sends on the local day of `now` in `tz`.
    pub(super) fn load(&mut self, env: &mut Env<'_, 'a>, mailbox: &str, tz: chrono_tz::Tz) -> Result<Load, StoreError> {
        if let Some(load) = self.loads.get(mailbox) {
            return Ok(*load);
        }
        let (day, start, end) = pacing::local_day(env.now, tz);
        let sends = env.store.mailbox_sends(mailbox, start, end.max(env.now + Duration::seconds(1)))?;
        let load = Load { day, sent: sends.count, last: sends.last };
        self.loads.insert(mailbox.to_string(), load);
        Ok(load)
    }

    /// Pauses the mailboxes refused for the sender since the last check.
    fn check_pauses(&mut self, env: &mut Env<'_, 'a>) -> Result<(), StoreError> {
        for mailbox in std::mem::take(&mut self.refused_for) {
            super::pauses::note_refusal(env.store, env.config, env.paused, &mailbox, env.now)?;
        }
        Ok(())
    }

    /// Claims the pending emails in one durable commit, together with the
    /// outcomes of the sends that came back meanwhile, and hands them to the
    /// sending thread.
    pub(super) fn flush(&mut self, env: &mut Env<'_, 'a>) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut ready = std::mem::take(&mut self.pending);
        self.collect(env, 2)?;
        let mut settled = self.settle_ended(env)?;
        let pipe = self.pipe.as_mut().ok_or_else(no_sender)?;
        let open: Vec<SendGroup> = pipe.groups.iter().map(|(g, _)| g.clone()).collect();
        if !self.refused_for.is_empty() {
            // Refusals aimed at the sender came back: recorded first, so that a
            // mailbox they pause claims nothing more (its steps stay due).
            env.store.commit_group(&settled, &open, &[], env.now)?;
            settled.clear();
            self.check_pauses(env)?;
            let (keep, held): (Vec<_>, Vec<_>) =
                ready.into_iter().partition(|r| !env.paused.contains_key(&r.mailbox.name));
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
        let (claimed, group) = env.store.commit_group(&settled, &open, &claims, env.now)?;
        if group.is_some() {
            // On disk before any of them leaves: a restored copy of the database is behind it.
            super::restore::mark_claims(env.store, &env.config.database)?;
        }
        self.check_pauses(env)?;
        let mut jobs = Vec::new();
        for (ready, claim) in ready.into_iter().zip(claimed) {
            let Some((touchpoint_id, message_id)) = claim else {
                // Stopped, paused or sent meanwhile.
                self.unclaimed_send(&ready.mailbox.name);
                continue;
            };
            if let Some(load) = self.loads.get_mut(&ready.mailbox.name) {
                load.last = Some((env.now, touchpoint_id));
            }
            let Ready { due, mailbox, rendered, reply, next, reason, variant } = ready;
            let list_unsubscribe = list_unsubscribe(env, mailbox, due.lead_id);
            let job = Job {
                id: touchpoint_id,
                mailbox,
                to: due.email.clone(),
                subject: rendered.subject.unwrap_or_default(),
                body: rendered.body,
                reply,
                list_unsubscribe,
                step_tag: crate::core::restore::step_tag(env.store.unsubscribe_secret(), &due.cadence, &due.step),
                message_id: message_id.clone(),
                date: env.now,
                label: format!("{}-{}-{}-{touchpoint_id}", env.now.format("%Y%m%dT%H%M%SZ"), due.cadence, due.step),
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
    fn drain(&mut self, env: &mut Env<'_, 'a>) -> Result<(), StoreError> {
        let out = self.pipe.as_ref().is_some_and(|pipe| !pipe.groups.is_empty() || !pipe.ended.is_empty());
        if !out {
            return Ok(());
        }
        self.collect(env, 1)?;
        let settled = self.settle_ended(env)?;
        if let Some(pipe) = self.pipe.as_mut() {
            pipe.groups.clear();
        }
        env.store.record(&settled, env.now)?;
        self.check_pauses(env)
    }

    /// Takes in what the sending thread finished; waits until fewer than
    /// `max_open` groups have sends out.
    fn collect(&mut self, env: &mut Env<'_, 'a>, max_open: usize) -> Result<(), StoreError> {
        let control = env.control;
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
    fn settle_ended(&mut self, env: &mut Env<'_, 'a>) -> Result<Vec<Settlement>, StoreError> {
        let ended = match self.pipe.as_mut() {
            Some(pipe) => std::mem::take(&mut pipe.ended),
            None => return Ok(Vec::new()),
        };
        ended.into_iter().map(|(sending, ended)| self.settle_one(env, sending, ended)).collect()
    }

    fn settle_one(
        &mut self,
        env: &mut Env<'_, 'a>,
        sending: Sending<'a>,
        ended: Ended,
    ) -> Result<Settlement, StoreError> {
        let Sending { due, mailbox, next, reason, variant, touchpoint_id, message_id } = sending;
        let mailbox_back_at = env.transports.observe(&mailbox.name, &ended, env.now);
        let on_uncertain = env.cadences.get(&due.cadence).and_then(|c| c.on_uncertain);
        let refusal = match &ended {
            Ended::Refused(reply) => crate::inbound::refusal(reply),
            _ => None,
        };
        let temporary_bounces = match &refusal {
            Some(r) if r.blame == Blame::Passing => env.store.temporary_bounces(due.lead_id)?,
            _ => 0,
        };
        let claimed = Claimed {
            due: &due,
            next,
            reason,
            on_uncertain: on_uncertain.unwrap_or(env.config.on_uncertain),
            mailbox_back_at,
            temporary_bounces,
        };
        let settled = decide::settle(ended.clone(), claimed, env.now);
        let (lead, cadence, step) = (&due.email, &due.cadence, &due.step);
        match (&ended, &settled) {
            (Ended::Sent, _) => {
                match &variant {
                    Some(variant) => info!(lead = %lead, cadence = %cadence, step = %step, variant = %variant,
                                           message_id = %message_id, "sent"),
                    None => info!(lead = %lead, cadence = %cadence, step = %step, message_id = %message_id, "sent"),
                }
                env.report.sent += 1;
                env.control.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            (Ended::Refused(reply), Settled::Record { suppress: true, .. }) => {
                warn!(lead = %lead, cadence = %cadence, step = %step,
                      "refused, the address is dead: {reply}; lead bounced everywhere and suppressed");
                env.report.failed += 1;
            }
            (Ended::Refused(reply), Settled::Record { .. }) => {
                warn!(lead = %lead, cadence = %cadence, step = %step, "refused for good: {reply}; lead marked bounced");
                env.report.failed += 1;
            }
            (Ended::Refused(_), Settled::Retry { retry_at, error, .. }) => {
                warn!(lead = %lead, cadence = %cadence, step = %step, mailbox = %mailbox.name,
                      retry_at = %crate::time::rfc3339(*retry_at), "{error}");
                env.report.retrying += 1;
                if refusal.as_ref().is_some_and(|r| r.blame == Blame::Sender) {
                    self.refused_for.insert(mailbox.name.clone());
                }
            }
            (Ended::Uncertain(why), _) => {
                warn!(lead = %lead, cadence = %cadence, step = %step, message_id = %message_id,
                      "send interrupted, it may have been delivered: {why}; recorded as uncertain, not sent again");
                env.report.uncertain += 1;
            }
            (Ended::Temporary(_), Settled::Record { detail, .. }) => {
                warn!(lead = %lead, cadence = %cadence, step = %step, "{}", detail.as_deref().unwrap_or_default());
                env.report.failed += 1;
            }
            (Ended::Temporary(why), Settled::Retry { retry_at, .. }) => {
                warn!(lead = %lead, cadence = %cadence, step = %step, attempt = due.attempts + 1,
                      retry_at = %crate::time::rfc3339(*retry_at), "not sent, will retry: {why}");
                env.report.retrying += 1;
            }
            // The outage was logged once, as it began.
            (Ended::Unavailable(_), _) => env.report.retrying += 1,
            _ => {}
        }
        if !matches!(settled, Settled::Record { .. }) {
            // A claimed send that certainly did not leave does not count against the caps.
            self.unclaimed_send(&mailbox.name);
        }
        Ok(Settlement { touchpoint_id, enrollment_id: due.enrollment_id, at: env.now, settled, refusal })
    }

    /// A claimed send that certainly did not leave does not count against the caps.
    pub(super) fn unclaimed_send(&mut self, mailbox: &str) {
        if let Some(load) = self.loads.get_mut(mailbox) {
            load.sent = load.sent.saturating_sub(1);
        }
    }
}

/// The `List-Unsubscribe` of an email to lead `lead_id` through
/// `mailbox`: the one-click link first when `[http] public_url` is set.
fn list_unsubscribe(env: &Env<'_, '_>, mailbox: &Mailbox, lead_id: i64) -> Option<String> {
    if !mailbox.list_unsubscribe {
        return None;
    }
    let token = unsubscribe::token(env.store.unsubscribe_secret(), lead_id);
    let on = mailbox.unsubscribe_address.clone().unwrap_or_else(|| mailbox.from.email.to_string());
    let mailto = format!("<mailto:{}?subject=unsubscribe>", unsubscribe::address(&on, &token));
    Some(match env.config.http.as_ref().and_then(|h| h.public_url.as_deref()) {
        Some(url) => format!("<{url}/u/{token}>, {mailto}"),
        None => mailto,
    })
}
