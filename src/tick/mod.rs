//! One tick: claim what is due, render it, send it, record the touchpoint and
//! move the enrollment on. The clock is an argument: the daemon passes the real
//! time, `cadenced tick --at` and the tests pass a virtual one.
//!
//! Before an email leaves, three rules may hold it back, each recorded as the
//! step's reason: the cadence's send window in the lead's zone, the mailbox's
//! caps (`daily_limit`, `min_gap`), and `late_after` (too late: skipped).

mod sender;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use crate::cadence::{Cadence, Cadences, Rendered, Step, StepKind, StopOn};
use crate::config::{Config, Mailbox, OnUncertain};
use crate::core::pacing::{self, Caps, Load};
use crate::core::plan;
use crate::core::react::{self, LeadFacts};
use crate::core::reminders;
use crate::core::schedule::retry_delay;
use crate::imap::{Fetched, FolderRead};
use crate::inbound::Kind;
use crate::model::LeadTime;
use crate::model::{DueStep, Effect, Next, Outcome, State, Status};
use crate::send::{self, SendError, Transport};
use crate::store::{
    Content, DispatchLock, Ended, FolderState, InboundMessage, NewSend, Record, SendGroup, SendLog, Store, StoreError,
    TaskFilter, Verdict, sendlog,
};
use sender::{Batch, Done, Job, Stops};

/// Temporary failures of one step before it is recorded as failed (with the
/// one-hour backoff cap, about four days of trying).
pub const MAX_ATTEMPTS: u32 = 100;

/// Due steps read at a time (each read sorts every due step to take the oldest).
const BATCH: usize = 2000;

/// Emails claimed together in one durable commit (which also records the
/// outcomes of the group before last), then sent one by one by the sending
/// thread while the next group is planned. A larger group saves fsyncs; after
/// a power loss every claimed send of the two groups under way still without
/// its outcome is recorded `uncertain` (after a crash of the process alone,
/// only the one that was under way: see [`crate::store::sendlog`]).
const GROUP: usize = 128;

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    pub opened: usize,
    pub failed: usize,
    pub retrying: usize,
    pub uncertain: usize,
    pub held: usize,
    pub skipped: usize,
    /// Emails moved to a later slot (window, daily limit, min gap).
    pub postponed: usize,
    /// Reminder digests sent to owners.
    pub digests: usize,
    /// Inbound messages about leads handled.
    pub inbound: usize,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        *self == Report::default()
    }
}

/// The transports of the configured mailboxes, opened on first use and closed
/// at the end of each tick, and the outages of mailboxes that could not be
/// reached. The daemon keeps one across ticks, so an outage backs off
/// exponentially and is logged once per attempt, not once per step and tick.
pub struct Transports {
    open: BTreeMap<String, Box<dyn Transport>>,
    outages: BTreeMap<String, Outage>,
}

/// A mailbox that could not be reached.
#[derive(Debug, Clone)]
struct Outage {
    attempts: u32,
    since: DateTime<Utc>,
    retry_at: DateTime<Utc>,
}

impl Transports {
    pub fn new() -> Transports {
        Transports { open: BTreeMap::new(), outages: BTreeMap::new() }
    }

    /// When the next attempt to reach an unreachable `mailbox` is due, if later than `now`.
    fn held_until(&self, mailbox: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.outages.get(mailbox).map(|o| o.retry_at).filter(|at| *at > now)
    }

    /// Records a failed attempt to reach `mailbox`; returns when to try again.
    fn outage(&mut self, mailbox: &str, now: DateTime<Utc>, why: &str) -> DateTime<Utc> {
        let outage =
            self.outages.entry(mailbox.to_string()).or_insert(Outage { attempts: 0, since: now, retry_at: now });
        outage.attempts += 1;
        outage.retry_at = now + retry_delay(outage.attempts);
        warn!(mailbox, attempt = outage.attempts, retry_at = %crate::time::rfc3339(outage.retry_at),
              "mailbox unavailable, nothing sent through it until then: {why}");
        outage.retry_at
    }

    /// `mailbox` worked: the outage, if any, is over.
    fn recovered(&mut self, mailbox: &str, now: DateTime<Utc>) {
        if let Some(o) = self.outages.remove(mailbox) {
            let minutes = (now - o.since).num_minutes();
            info!(mailbox, attempts = o.attempts, minutes, "mailbox reachable again");
        }
    }

    fn get(&mut self, mailbox: &Mailbox) -> &mut Box<dyn Transport> {
        self.open.entry(mailbox.name.clone()).or_insert_with(|| send::transport_for(mailbox))
    }

    fn close_all(&mut self) {
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

/// How late past its due time a step may go before the delay is put down to
/// downtime rather than to the tick interval.
pub fn downtime_after(config: &Config) -> Duration {
    let tick = Duration::from_std(config.tick_interval).unwrap_or(Duration::seconds(30));
    (tick * 2).max(Duration::minutes(2))
}

/// The outage key of a mailbox's inbox (apart from its SMTP server).
fn inbox_key(mailbox: &str) -> String {
    format!("{mailbox} (inbox)")
}

/// Of two causes of one delay, the one worth telling: a step held by the daily
/// limit and then by the window is late because of the limit; one that waited
/// out a downtime and then a min_gap is late because of the downtime.
fn weightier<'a>(old: Option<&'a str>, new: &'a str) -> &'a str {
    const ORDER: [&str; 5] = ["window", "holiday", "min_gap", "daily_limit", "downtime"];
    let rank = |r: &str| ORDER.iter().position(|o| *o == r);
    match old {
        Some(old) if rank(old) > rank(new) => old,
        _ => new,
    }
}

/// How a running tick is steered and watched from outside: `stop` asks it to
/// end between two steps; `progress` counts the steps it has handled (the
/// daemon's watchdog pings only while it moves).
#[derive(Debug, Default)]
pub struct Control {
    pub stop: AtomicBool,
    pub progress: AtomicU64,
    /// Set when an inbox told (IMAP IDLE) that something arrived: the next
    /// tick reads the inboxes whatever their age.
    pub inbox_changed: AtomicBool,
}

impl Control {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn step(&self) {
        self.progress.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs one pass over everything due at `now`. Stops early, between two
/// sends, once `control.stop` is set.
pub fn run(
    store: &mut Store,
    config: &Config,
    cadences: &Cadences,
    transports: &mut Transports,
    now: DateTime<Utc>,
    control: &Control,
) -> Result<Report, StoreError> {
    let _lock = DispatchLock::acquire(&config.database)?;
    let mut run = Tick {
        store,
        config,
        cadences,
        transports,
        now,
        report: Report::default(),
        loads: BTreeMap::new(),
        inbox_read: BTreeMap::new(),
        pending: Vec::new(),
        pipe: None,
        inbound_at_query: 0,
    };
    let result = run.all(control);
    run.transports.close_all();
    result.map(|()| run.report)
}

struct Tick<'a> {
    store: &'a mut Store,
    config: &'a Config,
    cadences: &'a Cadences,
    transports: &'a mut Transports,
    now: DateTime<Utc>,
    report: Report,
    /// Each mailbox's sends today, read once per tick and kept up to date.
    loads: BTreeMap<String, Load>,
    /// When each watched inbox was last read completely.
    inbox_read: BTreeMap<String, DateTime<Utc>>,
    /// Emails cleared to leave, to be claimed together (see [`GROUP`]).
    pending: Vec<Ready<'a>>,
    /// The way to the sending thread, while the due steps are worked through.
    pipe: Option<Pipe<'a>>,
    /// `report.inbound` when the due steps in hand were read: when it moved,
    /// an inbound message may have stopped one of them since.
    inbound_at_query: usize,
}

/// The tick's side of the sending thread.
struct Pipe<'a> {
    batches: SyncSender<Batch<'a>>,
    done: Receiver<Done>,
    /// Claimed emails handed over and not yet back, by touchpoint.
    sending: BTreeMap<i64, Sending<'a>>,
    /// Back from the sender (or never handed over), not yet recorded.
    ended: Vec<(Sending<'a>, Ended)>,
    /// The groups handed over whose sends are not all recorded, oldest first.
    groups: VecDeque<(SendGroup, Vec<i64>)>,
}

/// A claimed email, while it is being sent (its content went with the claim).
struct Sending<'a> {
    due: DueStep,
    mailbox: &'a Mailbox,
    next: Next,
    touchpoint_id: i64,
    message_id: String,
}

/// An email that passed every check and waits for its group's claim.
struct Ready<'a> {
    due: DueStep,
    mailbox: &'a Mailbox,
    rendered: Rendered,
    next: Next,
}

impl<'a> Tick<'a> {
    fn all(&mut self, control: &Control) -> Result<(), StoreError> {
        let back = self.store.resume_away(self.now)?;
        if back > 0 {
            info!(enrollments = back, "out-of-office pauses ended");
        }
        let watched: Vec<String> =
            self.config.mailboxes.values().filter(|m| m.imap.is_some()).map(|m| m.name.clone()).collect();
        if control.inbox_changed.swap(false, Ordering::SeqCst) {
            for mailbox in &watched {
                self.inbox_read.insert(mailbox.clone(), DateTime::<Utc>::MIN_UTC);
            }
        }
        for mailbox in &watched {
            self.read_inbox_if_stale(mailbox)?;
        }
        self.settle_interrupted()?;
        let instance = self.store.instance_id()?;
        self.due_steps(&instance, control)?;
        // After the steps, so that a digest lists the tasks this tick opened.
        self.digests(&instance, control)
    }

    /// Works through every due step, with a sending thread beside this one.
    fn due_steps(&mut self, instance: &str, control: &Control) -> Result<(), StoreError> {
        let log = SendLog::open(&self.config.database)?;
        let log_path = log.path().to_path_buf();
        let open = std::mem::take(&mut self.transports.open);
        let abort = AtomicBool::new(false);
        let result = std::thread::scope(|scope| {
            let (batches, batches_rx) = std::sync::mpsc::sync_channel(1);
            let (done_tx, done) = std::sync::mpsc::channel();
            let stops = Stops { control, abort: &abort };
            let thread = scope.spawn(move || sender::run(open, log, batches_rx, done_tx, stops));
            self.pipe =
                Some(Pipe { batches, done, sending: BTreeMap::new(), ended: Vec::new(), groups: VecDeque::new() });
            let result = self.due_loop(instance, control).and_then(|()| self.drain());
            if result.is_err() {
                // Nothing more leaves; what did is in the send log for the next tick.
                abort.store(true, Ordering::SeqCst);
            }
            // Closing the channel ends the thread.
            self.pipe = None;
            match thread.join() {
                Ok(open) => {
                    self.transports.open = open;
                    result
                }
                Err(_) => Err(StoreError::Sender("it panicked; its sends are in the send log".into())),
            }
        });
        result?;
        // Everything it told is recorded now.
        sendlog::clear(&log_path)
    }

    fn due_loop(&mut self, instance: &str, control: &Control) -> Result<(), StoreError> {
        let names = self.cadences.names();
        let mut last: Option<DueStep> = None;
        let mut pass = self.report.clone();
        loop {
            let batch = self.store.due_steps_after(self.now, &names, last.as_ref(), BATCH)?;
            if batch.is_empty() {
                // Paged through: a step that fell due meanwhile (the next of a
                // chain with no wait) may sit behind the page; once all is
                // recorded, start over, as long as passes still move something.
                self.flush(instance)?;
                self.drain()?;
                if self.report == pass {
                    return Ok(());
                }
                pass = self.report.clone();
                last = None;
                continue;
            }
            self.inbound_at_query = self.report.inbound;
            for due in batch {
                if control.stopping() {
                    // Nothing is claimed before its group is: what is pending stays due.
                    self.pending.clear();
                    return Ok(());
                }
                self.one(&due, instance)?;
                control.step();
                last = Some(due);
            }
            self.flush(instance)?;
        }
    }

    /// Sends each owner's reminder digest whose slot has come, once per slot.
    fn digests(&mut self, instance: &str, control: &Control) -> Result<(), StoreError> {
        let settled = self.store.settle_interrupted_digests()?;
        if settled > 0 {
            warn!(digests = settled, "digest send was interrupted; recorded as uncertain, not sent again");
        }
        for owner_tasks in self.store.owners_with_tasks(self.now)? {
            if control.stopping() {
                return Ok(());
            }
            control.step();
            let owner = self.config.owner(&owner_tasks.owner);
            let cal = &self.config.default_calendar;
            let after = match self.store.last_digest_slot(&owner.address)? {
                Some(last) => last.max(owner_tasks.oldest - Duration::seconds(1)),
                None => owner_tasks.oldest - Duration::seconds(1),
            };
            let Some(slot) = reminders::due_slot(&owner, cal, after, self.now) else { continue };
            let mailbox_name =
                owner.mailbox.clone().or_else(|| self.cadences.get(&owner_tasks.cadence).map(|c| c.mailbox.clone()));
            let Some(mailbox) = mailbox_name.and_then(|m| self.config.mailboxes.get(&m)) else {
                warn!(owner = %owner.address, "no mailbox to send the digest through");
                continue;
            };
            if self.transports.held_until(&mailbox.name, self.now).is_some() {
                continue;
            }
            let filter = TaskFilter { owner: Some(&owner.address), opened_before: Some(slot + Duration::seconds(1)) };
            let tasks = self.store.open_tasks(&filter)?;
            if tasks.is_empty() {
                continue;
            }
            let count = u32::try_from(tasks.len()).unwrap_or(u32::MAX);
            let Some(id) = self.store.claim_digest(&owner.address, slot, &mailbox.name, count, self.now)? else {
                continue;
            };
            let (subject, body) = reminders::render(&owner, &tasks, slot, &self.config.path.display().to_string());
            let message_id = format!("<digest-{id}.{instance}@{}>", mailbox.from.email.domain());
            let email = send::Email {
                from: &mailbox.from,
                to: &owner.address,
                subject: &subject,
                body: &body,
                message_id: &message_id,
                date: self.now,
            };
            let label = format!("{}-digest-{id}", self.now.format("%Y%m%dT%H%M%SZ"));
            let result = send::build(&email).and_then(|m| self.transports.get(mailbox).send(&m, &label));
            match result {
                Ok(()) => {
                    self.transports.recovered(&mailbox.name, self.now);
                    info!(owner = %owner.address, tasks = count, message_id = %message_id, "digest sent");
                    self.report.digests += 1;
                    self.store.finish_digest(id, "sent", Some(&message_id), None)?;
                }
                Err(SendError::Uncertain(why)) => {
                    warn!(owner = %owner.address, "digest send interrupted, not repeated: {why}");
                    self.store.finish_digest(id, "uncertain", Some(&message_id), Some(&why))?;
                }
                Err(SendError::Permanent(why)) => {
                    warn!(owner = %owner.address, "digest refused: {why}");
                    self.store.finish_digest(id, "failed", Some(&message_id), Some(&why))?;
                }
                Err(SendError::Unavailable(why)) => {
                    // Certainly not sent: give the slot back so a later tick tries again.
                    self.transports.outage(&mailbox.name, self.now, &why);
                    self.store.release_digest(id)?;
                }
                Err(SendError::Temporary(why)) => {
                    warn!(owner = %owner.address, "digest not sent, will retry: {why}");
                    self.store.release_digest(id)?;
                }
            }
        }
        Ok(())
    }

    /// A send left `sending` by a process that died: it may have left, so it is
    /// recorded `uncertain` and never repeated; the cadence goes on.
    fn settle_interrupted(&mut self) -> Result<(), StoreError> {
        let interrupted = self.store.interrupted()?;
        if interrupted.is_empty() {
            return Ok(());
        }
        // The send log of the stopped process tells what became of its groups' sends.
        let log = sendlog::path_for(&self.config.database);
        let ids: Vec<i64> = interrupted.iter().map(|stuck| stuck.touchpoint_id).collect();
        let verdicts = sendlog::verdicts(&ids, &self.store.send_groups()?, &log);
        let mut given_back = Vec::new();
        for stuck in interrupted {
            let verdict = verdicts.get(&stuck.touchpoint_id).cloned().unwrap_or(Verdict::Unknown);
            match verdict {
                Verdict::NeverStarted
                | Verdict::Ended(Ended::Unavailable(_) | Ended::Temporary(_) | Ended::NotTried(_)) => {
                    given_back.push(stuck.touchpoint_id);
                }
                Verdict::Ended(Ended::Sent) => {
                    info!(lead = %stuck.due.email, cadence = %stuck.due.cadence, step = %stuck.due.step,
                          "sent before the process stopped (send log): recorded as sent");
                    let outcome = self.interrupted_outcome(&stuck, Status::Sent, "sent; recorded from the send log");
                    let next = self.interrupted_next(&stuck, false);
                    self.store.complete(stuck.touchpoint_id, &outcome, &next)?;
                    self.report.sent += 1;
                }
                Verdict::Ended(Ended::Refused(reply)) => {
                    warn!(lead = %stuck.due.email, cadence = %stuck.due.cadence, step = %stuck.due.step,
                          "refused for good before the process stopped (send log): {reply}; lead marked bounced");
                    let outcome = self.interrupted_outcome(&stuck, Status::Failed, &reply);
                    self.store.complete(stuck.touchpoint_id, &outcome, &Next::End(State::Bounced))?;
                    self.report.failed += 1;
                }
                Verdict::Ended(Ended::Uncertain(_)) | Verdict::Unknown => self.settle_unknown(&stuck)?,
            }
        }
        if !given_back.is_empty() {
            self.store.unclaim(&given_back)?;
            info!(sends = given_back.len(), "claimed sends the stopped process never made: given back, due again");
        }
        sendlog::clear(&log)
    }

    /// A send that may have left: settled from the sent folder if it is there,
    /// else recorded `uncertain`.
    fn settle_unknown(&mut self, stuck: &crate::store::Interrupted) -> Result<(), StoreError> {
        if let Some(settled) = self.settle_from_sent_folder(stuck)? {
            let next = self.interrupted_next(stuck, false);
            self.store.complete(stuck.touchpoint_id, &settled, &next)?;
            self.report.sent += 1;
            return Ok(());
        }
        let due = &stuck.due;
        warn!(lead = %due.email, cadence = %due.cadence, step = %due.step,
              message_id = stuck.message_id.as_deref().unwrap_or(""),
              "send was interrupted (process stopped mid-send); recorded as uncertain, not sent again");
        let outcome = self.interrupted_outcome(
            stuck,
            Status::Uncertain,
            "interrupted: the process stopped during the send; not sent again",
        );
        let next = self.interrupted_next(stuck, true);
        self.store.complete(stuck.touchpoint_id, &outcome, &next)?;
        self.report.uncertain += 1;
        Ok(())
    }

    fn interrupted_outcome(&self, stuck: &crate::store::Interrupted, status: Status, detail: &str) -> Outcome {
        Outcome {
            status,
            at: stuck.at,
            message_id: stuck.message_id.clone(),
            subject: None,
            body: None,
            detail: Some(detail.into()),
            reason: stuck.due.reason.clone(),
        }
    }

    /// Where an interrupted send's enrollment goes next (`uncertain`: as
    /// `on_uncertain` says).
    fn interrupted_next(&self, stuck: &crate::store::Interrupted, uncertain: bool) -> Next {
        let due = &stuck.due;
        let Some(c) = self.cadences.get(&due.cadence) else {
            return Next::Hold(format!("cadence {:?} is not loaded", due.cadence));
        };
        let lead = self.config.lead_time(Some(c), due.timezone.as_deref(), &due.fields);
        let next = plan::next(c, c.step_index(&due.step), stuck.at, lead);
        if uncertain { self.after_uncertain(c, due, next) } else { next }
    }

    /// An interrupted send whose Message-ID is in its mailbox's sent folder did
    /// leave: settled as sent.
    fn settle_from_sent_folder(&mut self, stuck: &crate::store::Interrupted) -> Result<Option<Outcome>, StoreError> {
        let Some(message_id) = &stuck.message_id else { return Ok(None) };
        let mailbox = self.cadences.get(&stuck.due.cadence).and_then(|c| self.config.mailboxes.get(&c.mailbox));
        let Some(imap) = mailbox.and_then(|m| m.imap.as_ref()) else { return Ok(None) };
        let Some(folder) = &imap.sent_folder else { return Ok(None) };
        match crate::imap::find_message_ids(imap, folder, std::slice::from_ref(message_id)) {
            Ok(found) if !found.is_empty() => {
                info!(lead = %stuck.due.email, cadence = %stuck.due.cadence, step = %stuck.due.step,
                      message_id = %message_id, "interrupted send found in the sent folder: settled as sent");
                Ok(Some(Outcome {
                    status: Status::Sent,
                    at: stuck.at,
                    message_id: Some(message_id.clone()),
                    subject: None,
                    body: None,
                    detail: Some(format!("interrupted, then found in {folder}: settled as sent")),
                    reason: stuck.due.reason.clone(),
                }))
            }
            Ok(_) => Ok(None),
            Err(e) => {
                warn!(message_id = %message_id, "cannot look for an interrupted send in the sent folder: {e}");
                Ok(None)
            }
        }
    }

    fn one(&mut self, due: &DueStep, instance: &str) -> Result<(), StoreError> {
        let Some(cadence) = self.cadences.get(&due.cadence) else {
            return Ok(());
        };
        let Some(index) = cadence.step_index(&due.step) else {
            return self.skip_removed(due, cadence);
        };
        let step = &cadence.steps[index];
        let lead = self.config.lead_time(Some(cadence), due.timezone.as_deref(), &due.fields);
        if let Some(task) = due.task_id {
            // A blocking task nobody closed within auto_skip_after.
            return self.expire_task(due, task, cadence, index, lead);
        }
        let rendered = match cadence.templates.render(&step.id, &due.email, &due.fields) {
            Ok(r) => r,
            Err(e) => {
                warn!(lead = %due.email, cadence = %due.cadence, step = %due.step, "{e}; enrollment paused");
                self.report.held += 1;
                return self.store.hold(due, &e.to_string(), self.now);
            }
        };
        let next = plan::next(cadence, Some(index), self.now, lead);
        let deadline = cadence.late_after.map(|late| late.after(due.planned_at, lead.tz, lead.calendar));
        if deadline.is_some_and(|d| self.now > d) {
            return self.skip_late(due, cadence, index, step, lead);
        }
        if step.kind != StepKind::Email {
            let Some(id) = self.store.claim(due, step.kind.as_str(), None, self.now)? else { return Ok(()) };
            let outcome = Outcome {
                status: Status::Open,
                at: self.now,
                message_id: None,
                subject: None,
                body: Some(rendered.body),
                detail: None,
                reason: self.reason_for(due),
            };
            // A blocking task holds the cadence until it is closed (or expires);
            // otherwise the next wait starts now.
            let next = if step.blocking {
                Next::Block { until: step.auto_skip_after.map(|w| w.after(self.now, lead.tz, lead.calendar)) }
            } else {
                next
            };
            self.store.complete(id, &outcome, &next)?;
            info!(lead = %due.email, cadence = %due.cadence, step = %due.step, kind = %step.kind, task = id,
                  owner = due.owner.as_deref().unwrap_or("-"), "task opened");
            self.report.opened += 1;
            return Ok(());
        }
        if let Some(slot) = plan::wait_for_window(cadence, step, self.now, lead) {
            // Due while outside the window (downtime, a long tick): the next slot, never now.
            let why = self.reason_for(due).unwrap_or_else(|| "window".into());
            return self.postpone(due, cadence, index, step, lead, slot, &why, deadline);
        }
        let Some(mailbox) = self.config.mailboxes.get(&cadence.mailbox) else {
            return Ok(());
        };
        if let Some(retry_at) = self.transports.held_until(&mailbox.name, self.now) {
            // The mailbox is down: wait for its next attempt, quietly (the outage is logged once).
            self.report.retrying += 1;
            return self.store.defer(due, retry_at, "mailbox unavailable", false);
        }
        if mailbox.imap.is_some() && !self.read_inbox_if_stale(&mailbox.name)? {
            // A reply that arrived must be seen before the next email: no read, no send.
            let retry_at = self.transports.held_until(&inbox_key(&mailbox.name), self.now).unwrap_or(self.now);
            self.report.retrying += 1;
            return self.store.defer(due, retry_at.max(self.now + Duration::minutes(1)), "inbox unreadable", false);
        }
        if self.report.inbound != self.inbound_at_query && !self.store.is_active(due)? {
            // The inbox just stopped or paused it.
            return Ok(());
        }
        let caps = Caps {
            daily_limit: mailbox.daily_limit,
            min_gap: mailbox.min_gap.and_then(|g| Duration::from_std(g).ok()),
            tz: mailbox.timezone,
        };
        if caps.daily_limit.is_some() || caps.min_gap.is_some() {
            // Read once per tick, and only when a cap needs it (it counts today's sends).
            let load = self.load(&mailbox.name, caps.tz)?;
            if let Some((until, hold)) = pacing::hold(&caps, &load, self.now) {
                return self.postpone(due, cadence, index, step, lead, until, hold.as_str(), deadline);
            }
        }
        if let Some(load) = self.loads.get_mut(&mailbox.name) {
            load.sent += 1;
        }
        self.pending.push(Ready { due: due.clone(), mailbox, rendered, next });
        // With a min_gap the next send's slot depends on this one's claim: no group.
        if self.pending.len() >= GROUP || caps.min_gap.is_some() {
            self.flush(instance)?;
        }
        Ok(())
    }

    /// What follows an uncertain send: the cadence goes on, or with
    /// `on_uncertain = "hold"` it moves on and pauses for a person.
    fn after_uncertain(&self, cadence: &Cadence, due: &DueStep, next: Next) -> Next {
        match cadence.on_uncertain.unwrap_or(self.config.on_uncertain) {
            OnUncertain::Continue => next,
            OnUncertain::Hold => Next::ThenHold(
                Box::new(next),
                format!(
                    "step {:?} may or may not have been delivered; check, then `cadenced resume {}`",
                    due.step, due.email
                ),
            ),
        }
    }

    /// The lead's step was removed from its cadence (an edit and a reload):
    /// recorded as skipped with the reason `removed`, and the lead moves on to
    /// the first step after the last one it had that it has not had yet, so a
    /// step added later in the cadence is picked up in order.
    fn skip_removed(&mut self, due: &DueStep, cadence: &Cadence) -> Result<(), StoreError> {
        let touched = self.store.touched_steps(due.enrollment_id)?;
        let last = cadence.steps.iter().rposition(|s| touched.contains(&s.id));
        let target =
            cadence.steps.iter().enumerate().position(|(i, s)| last.is_none_or(|l| i > l) && !touched.contains(&s.id));
        let lead = self.config.lead_time(Some(cadence), due.timezone.as_deref(), &due.fields);
        let next = match target {
            Some(t) => plan::next(cadence, t.checked_sub(1), self.now, lead),
            None => Next::Finished,
        };
        let detail = format!("step {:?} was removed from cadence {:?}", due.step, due.cadence);
        self.skip(due, "removed", "removed", detail, &next)
    }

    /// Records `due`'s step as skipped, with the reason and a line saying why,
    /// and moves the enrollment on as `next` says.
    fn skip(&mut self, due: &DueStep, kind: &str, reason: &str, detail: String, next: &Next) -> Result<(), StoreError> {
        let Some(id) = self.store.claim(due, kind, None, self.now)? else { return Ok(()) };
        warn!(lead = %due.email, cadence = %due.cadence, step = %due.step, "skipped ({reason}): {detail}");
        let outcome = Outcome {
            status: Status::Skipped,
            at: self.now,
            message_id: None,
            subject: None,
            body: None,
            detail: Some(detail),
            reason: Some(reason.into()),
        };
        self.report.skipped += 1;
        self.store.complete(id, &outcome, next)
    }

    /// Closes a blocking task that expired as skipped (`expired`) and moves on.
    fn expire_task(
        &mut self,
        due: &DueStep,
        task: i64,
        cadence: &Cadence,
        index: usize,
        lead: LeadTime<'_>,
    ) -> Result<(), StoreError> {
        let now = self.now;
        let closed = self.store.close_task(
            task,
            Status::Skipped,
            Some("expired: not closed within auto_skip_after"),
            Some("expired"),
            now,
            |_| plan::next(cadence, Some(index), now, lead),
        )?;
        if closed.is_none() {
            // A person closed it meanwhile; that already moved the cadence on.
            return Ok(());
        }
        info!(lead = %due.email, cadence = %due.cadence, step = %due.step, task, "task expired, skipped");
        self.report.skipped += 1;
        Ok(())
    }

    /// Reads `mailbox`'s inbox unless it was read within `inbox_max_age`.
    /// Returns whether it is now fresh.
    fn read_inbox_if_stale(&mut self, mailbox: &str) -> Result<bool, StoreError> {
        let max_age = Duration::from_std(self.config.inbox_max_age).unwrap_or(Duration::seconds(60));
        let last = match self.inbox_read.get(mailbox) {
            Some(at) => Some(*at),
            None => self.store.inbox_checked_at(mailbox)?,
        };
        if last.is_some_and(|at| at >= self.now - max_age) {
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

    /// The mailbox's sends on the local day of `now`.
    fn load(&mut self, mailbox: &str, tz: chrono_tz::Tz) -> Result<Load, StoreError> {
        if let Some(load) = self.loads.get(mailbox) {
            return Ok(*load);
        }
        let (day, start, end) = pacing::local_day(self.now, tz);
        let sends = self.store.mailbox_sends(mailbox, start, end.max(self.now + Duration::seconds(1)))?;
        let load = Load { day, sent: sends.count, last: sends.last };
        self.loads.insert(mailbox.to_string(), load);
        Ok(load)
    }

    /// Why `due` goes out later than planned, if it does: the reason recorded
    /// when it was moved, or downtime when it is well past its due time.
    fn reason_for(&self, due: &DueStep) -> Option<String> {
        if self.now - due.due_at > downtime_after(self.config) {
            return Some("downtime".into());
        }
        due.reason.clone()
    }

    /// Moves an email to `until`, or skips it when that is past `late_after`.
    #[allow(clippy::too_many_arguments)]
    fn postpone(
        &mut self,
        due: &DueStep,
        cadence: &Cadence,
        index: usize,
        step: &Step,
        lead: LeadTime<'_>,
        until: DateTime<Utc>,
        why: &str,
        deadline: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        if deadline.is_some_and(|d| until > d) {
            return self.skip_late(due, cadence, index, step, lead);
        }
        self.report.postponed += 1;
        let why = weightier(due.reason.as_deref(), why);
        self.store.reschedule(due, until, why)
    }

    /// Records the step as skipped (`late`) and moves the cadence on.
    fn skip_late(
        &mut self,
        due: &DueStep,
        cadence: &Cadence,
        index: usize,
        step: &Step,
        lead: LeadTime<'_>,
    ) -> Result<(), StoreError> {
        let late = cadence.late_after.map(|l| l.to_string()).unwrap_or_default();
        let detail = format!(
            "planned for {}, could not go out within late_after = {late}",
            crate::time::rfc3339(due.planned_at)
        );
        let next = plan::next(cadence, Some(index), self.now, lead);
        self.skip(due, step.kind.as_str(), "late", detail, &next)
    }

    /// Claims the pending emails in one durable commit, together with the
    /// outcomes of the sends that came back meanwhile, and hands them to the
    /// sending thread. At most two groups are out at once: the one being sent
    /// and the one waiting behind it.
    fn flush(&mut self, instance: &str) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let ready = std::mem::take(&mut self.pending);
        self.collect(2)?;
        let records = self.records();
        let Some(pipe) = self.pipe.as_mut() else {
            return Err(StoreError::Sender("no sending thread".into()));
        };
        let open: Vec<SendGroup> = pipe.groups.iter().map(|(g, _)| g.clone()).collect();
        let claims: Vec<NewSend<'_>> = ready
            .iter()
            .map(|r| NewSend {
                due: &r.due,
                mailbox: &r.mailbox.name,
                content: Content { subject: r.rendered.subject.as_deref(), body: &r.rendered.body },
            })
            .collect();
        let message_id = |i: usize, id: i64| send::message_id(instance, id, &ready[i].mailbox.from);
        let (claimed, group) = self.store.commit_group(&records, &open, &claims, self.now, message_id)?;
        let mut jobs = Vec::new();
        for (ready, claim) in ready.into_iter().zip(claimed) {
            let Some((id, message_id)) = claim else {
                // Stopped, paused or sent meanwhile.
                self.unclaimed_send(&ready.mailbox.name);
                continue;
            };
            if let Some(load) = self.loads.get_mut(&ready.mailbox.name) {
                load.last = Some((self.now, id));
            }
            let Ready { due, mailbox, rendered, next } = ready;
            let job = Job {
                id,
                mailbox,
                to: due.email.clone(),
                subject: rendered.subject.unwrap_or_default(),
                body: rendered.body,
                message_id: message_id.clone(),
                date: self.now,
                label: format!("{}-{}-{}-{id}", self.now.format("%Y%m%dT%H%M%SZ"), due.cadence, due.step),
            };
            jobs.push((Sending { due, mailbox, next, touchpoint_id: id, message_id }, job));
        }
        let Some(pipe) = self.pipe.as_mut() else {
            return Err(StoreError::Sender("no sending thread".into()));
        };
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
    fn drain(&mut self) -> Result<(), StoreError> {
        let out = self.pipe.as_ref().is_some_and(|pipe| !pipe.groups.is_empty() || !pipe.ended.is_empty());
        if !out {
            return Ok(());
        }
        self.collect(1)?;
        let records = self.records();
        let Some(pipe) = self.pipe.as_mut() else { return Ok(()) };
        pipe.groups.clear();
        self.store.commit_group(&records, &[], &[], self.now, |_, _| String::new())?;
        Ok(())
    }

    /// Takes in what the sending thread finished; waits until fewer than
    /// `max_open` groups have sends out.
    fn collect(&mut self, max_open: usize) -> Result<(), StoreError> {
        let Some(pipe) = self.pipe.as_mut() else { return Ok(()) };
        loop {
            while let Some((_, ids)) = pipe.groups.front() {
                if ids.iter().any(|id| pipe.sending.contains_key(id)) {
                    break;
                }
                pipe.groups.pop_front();
            }
            let done = if pipe.groups.len() >= max_open {
                match pipe.done.recv() {
                    Ok(done) => done,
                    Err(_) => return Err(StoreError::Sender("its sends are in the send log".into())),
                }
            } else {
                match pipe.done.try_recv() {
                    Ok(done) => done,
                    Err(_) => return Ok(()),
                }
            };
            if let Some(sending) = pipe.sending.remove(&done.id) {
                pipe.ended.push((sending, done.ended));
            }
        }
    }

    /// What the finished sends come to, with their logs and counts.
    fn records(&mut self) -> Vec<Record> {
        let ended = match self.pipe.as_mut() {
            Some(pipe) => std::mem::take(&mut pipe.ended),
            None => return Vec::new(),
        };
        ended.into_iter().map(|(sending, ended)| self.record(sending, ended)).collect()
    }

    fn record(&mut self, sending: Sending<'a>, ended: Ended) -> Record {
        let Sending { due, mailbox, next, touchpoint_id, message_id } = sending;
        let due = &due;
        let (now, reason) = (self.now, self.reason_for(due));
        // Time, Message-ID, subject and body are the claim's already.
        let outcome = |status, detail: Option<String>| Outcome {
            status,
            at: now,
            message_id: None,
            subject: None,
            body: None,
            detail,
            reason: reason.clone(),
        };
        match ended {
            Ended::Sent => {
                self.transports.recovered(&mailbox.name, self.now);
                info!(lead = %due.email, cadence = %due.cadence, step = %due.step, message_id = %message_id, "sent");
                self.report.sent += 1;
                Record::Complete {
                    touchpoint_id,
                    enrollment_id: due.enrollment_id,
                    outcome: outcome(Status::Sent, None),
                    next,
                }
            }
            Ended::Refused(reply) => {
                warn!(lead = %due.email, cadence = %due.cadence, step = %due.step, "refused for good: {reply}; lead marked bounced");
                self.report.failed += 1;
                Record::Complete {
                    touchpoint_id,
                    enrollment_id: due.enrollment_id,
                    outcome: outcome(Status::Failed, Some(reply)),
                    next: Next::End(State::Bounced),
                }
            }
            Ended::Uncertain(why) => {
                warn!(lead = %due.email, cadence = %due.cadence, step = %due.step, message_id = %message_id,
                      "send interrupted, it may have been delivered: {why}; recorded as uncertain, not sent again");
                self.report.uncertain += 1;
                let next = match self.cadences.get(&due.cadence) {
                    Some(c) => self.after_uncertain(c, due, next),
                    None => next,
                };
                Record::Complete {
                    touchpoint_id,
                    enrollment_id: due.enrollment_id,
                    outcome: outcome(Status::Uncertain, Some(why)),
                    next,
                }
            }
            Ended::Unavailable(why) => {
                let retry_at = self.transports.outage(&mailbox.name, self.now, &why);
                self.unclaimed_send(&mailbox.name);
                self.report.retrying += 1;
                Record::Release { touchpoint_id, enrollment_id: due.enrollment_id, retry_at, error: why, count: false }
            }
            Ended::Temporary(why) => {
                if due.attempts + 1 >= MAX_ATTEMPTS {
                    let detail = format!("gave up after {MAX_ATTEMPTS} temporary failures, the last: {why}");
                    warn!(lead = %due.email, cadence = %due.cadence, step = %due.step, "{detail}");
                    self.report.failed += 1;
                    return Record::Complete {
                        touchpoint_id,
                        enrollment_id: due.enrollment_id,
                        outcome: outcome(Status::Failed, Some(detail)),
                        next,
                    };
                }
                self.unclaimed_send(&mailbox.name);
                let retry_at = self.retry_at(due, &why);
                Record::Release { touchpoint_id, enrollment_id: due.enrollment_id, retry_at, error: why, count: true }
            }
            Ended::NotTried(_) => {
                // Still due, as if never claimed; a mailbox that went down holds it back next time.
                self.unclaimed_send(&mailbox.name);
                Record::Unclaim(touchpoint_id)
            }
        }
    }

    /// A claimed send that certainly did not leave does not count against the caps.
    fn unclaimed_send(&mut self, mailbox: &str) {
        if let Some(load) = self.loads.get_mut(mailbox) {
            load.sent = load.sent.saturating_sub(1);
        }
    }

    /// Nothing was sent: when to try `due` again, after the backoff for its attempt count.
    fn retry_at(&mut self, due: &DueStep, why: &str) -> DateTime<Utc> {
        let attempt = due.attempts + 1;
        let retry_at = self.now + retry_delay(attempt);
        warn!(lead = %due.email, cadence = %due.cadence, step = %due.step, attempt,
              retry_at = %crate::time::rfc3339(retry_at), "not sent, will retry: {why}");
        self.report.retrying += 1;
        retry_at
    }
}

#[cfg(test)]
mod tests {
    use super::weightier;

    #[test]
    fn the_weightier_cause_of_a_delay_is_kept() {
        assert_eq!(weightier(Some("window"), "daily_limit"), "daily_limit");
        assert_eq!(weightier(Some("daily_limit"), "window"), "daily_limit");
        assert_eq!(weightier(Some("downtime"), "min_gap"), "downtime");
        assert_eq!(weightier(Some("retry"), "window"), "window");
        assert_eq!(weightier(None, "holiday"), "holiday");
    }
}
