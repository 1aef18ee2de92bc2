//! One tick: a pass over everything due at `now`. The clock is an argument:
//! the daemon passes the real time, `cadenced tick --at` and the tests pass a
//! virtual one.
//!
//! A tick ends the out-of-office pauses whose time has come, reads the
//! watched inboxes ([`inbox`]), settles the sends a stopped process left
//! behind ([`recovery`]), then pages through the due steps, oldest planned
//! first. For each it gathers the facts (its cadence, its lead's zone and
//! calendar, its mailbox's outage, inbox and caps), asks the pure
//! [`decide`](crate::core::decide::decide) what happens, and applies the
//! answer: a task opens, a step is skipped, postponed, deferred or held, or
//! an email joins the send pipeline ([`pipeline`]), whose sending thread
//! ([`sender`]) talks SMTP while this one goes on deciding. Last come the
//! owners' reminder digests ([`digests`]). Mailboxes that cannot be reached
//! are tracked across ticks ([`outages`]).

mod digests;
mod inbox;
mod outages;
mod pauses;
mod pipeline;
mod recovery;
pub mod reload;
pub mod restore;
mod sender;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use crate::cadence::{Cadences, StepKind};
use crate::config::Config;
use crate::core::decide::{self, Action, Facts, Inbox, MailboxFacts};
use crate::core::pacing::{Caps, Load};
use crate::model::{DueStep, Outcome, Reason, Status};
use crate::store::{DispatchLock, Store, StoreError};

pub use inbox::{Handled, Incoming, handle_message};
pub use outages::Transports;
pub use pauses::pause_if_refused;
use pipeline::{Env, Pipeline, Ready};

pub use crate::core::decide::MAX_ATTEMPTS;

/// Due steps read at a time.
const PAGE: usize = 2000;

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

/// One line for people and the journal: `6 sent, 2 tasks opened, 0 failed, ...`.
impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} sent, {} tasks opened, {} failed, {} to retry, {} uncertain, {} held, {} skipped, {} postponed, \
             {} digests, {} inbound",
            self.sent,
            self.opened,
            self.failed,
            self.retrying,
            self.uncertain,
            self.held,
            self.skipped,
            self.postponed,
            self.digests,
            self.inbound
        )
    }
}

/// How late past its due time a step may go before the delay is put down to
/// downtime rather than to the tick interval.
pub fn downtime_after(config: &Config) -> Duration {
    let tick = Duration::from_std(config.tick_interval).unwrap_or(Duration::seconds(30));
    (tick * 2).max(Duration::minutes(2))
}

/// How a running tick is steered and watched from outside: `stop` (SIGTERM)
/// and `reload` (SIGHUP) each ask it to end early, between two sends;
/// `progress` counts what it has handled (steps decided, sends finished,
/// inbox reads), so the daemon's watchdog pings only while it moves.
///
/// Ending early loses nothing: what is decided but not claimed stays due,
/// and a claimed email whose send has not started is given back, due again
/// (see [`pipeline`]). After a reload the daemon starts the next tick at
/// once, so those go out with the new config and cadences.
#[derive(Debug, Default)]
pub struct Control {
    pub stop: AtomicBool,
    /// A reload is waiting for this tick to end; the daemon clears it.
    pub reload: AtomicBool,
    pub progress: AtomicU64,
    /// Emails sent by the tick under way (reset as each tick starts), for
    /// the daemon's STATUS= while a long tick runs.
    pub sent: AtomicU64,
    /// Steps due as the tick under way began to page through them (emails,
    /// tasks and the steps it will postpone alike), for the same STATUS=.
    pub due: AtomicU64,
    /// Set when an inbox told (IMAP IDLE) that something arrived: the next
    /// tick reads the inboxes whatever their age.
    pub inbox_changed: AtomicBool,
    /// When the last tick that ran to its end ended (Unix seconds of its
    /// clock; 0 before the first) and how long it took (microseconds): for
    /// the health check and the metrics.
    pub last_tick_end: AtomicI64,
    pub last_tick_micros: AtomicU64,
}

impl Control {
    /// Whether the tick is to end at the next step or send.
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.reload.load(Ordering::SeqCst)
    }
}

/// Runs one pass over everything due at `now`. Ends early, between two
/// sends, once `control.stop` or `control.reload` is set.
pub fn run(
    store: &mut Store,
    config: &Config,
    cadences: &Cadences,
    transports: &mut Transports,
    now: DateTime<Utc>,
    control: &Control,
) -> Result<Report, StoreError> {
    let _lock = DispatchLock::acquire(&config.database)?;
    let mut tick = Tick {
        store,
        config,
        cadences,
        transports,
        control,
        now,
        report: Report::default(),
        inbox_read: BTreeMap::new(),
        paused: BTreeMap::new(),
        sign_in_pauses: BTreeMap::new(),
        pipeline: Pipeline::new(),
        inbound_at_query: 0,
        winners: BTreeMap::new(),
        left: Default::default(),
    };
    let started = std::time::Instant::now();
    control.sent.store(0, Ordering::Relaxed);
    control.due.store(0, Ordering::Relaxed);
    let result = tick.run();
    tick.transports.close_all();
    if result.is_ok() {
        let took = started.elapsed();
        let end = now + Duration::from_std(took).unwrap_or_default();
        control.last_tick_micros.store(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        control.last_tick_end.store(end.timestamp(), Ordering::Relaxed);
    }
    result.map(|()| tick.report)
}

struct Tick<'a> {
    store: &'a mut Store,
    config: &'a Config,
    cadences: &'a Cadences,
    transports: &'a mut Transports,
    control: &'a Control,
    now: DateTime<Utc>,
    report: Report,
    /// When each watched inbox was last read completely.
    inbox_read: BTreeMap<String, DateTime<Utc>>,
    /// Mailboxes that paused themselves, and why.
    paused: BTreeMap<String, String>,
    /// The mailboxes paused for a lost sign-in as the tick started.
    sign_in_pauses: BTreeMap<String, crate::store::Pause>,
    /// The send pipeline: what is claimed, out with the sending thread and
    /// back, and each mailbox's day.
    pipeline: Pipeline<'a>,
    /// `report.inbound` when the due steps in hand were read: when it moved,
    /// an inbound message may have stopped one of them since.
    inbound_at_query: usize,
    /// The variant picked for every new lead, by (cadence, step), for the
    /// steps with `pick_winner` whose comparison named a winner.
    winners: BTreeMap<(String, String), String>,
    /// Message-IDs a reconciliation found in a Sent folder or outbox this
    /// tick: an interrupted send among them left.
    left: std::collections::BTreeSet<String>,
}

impl<'a> Tick<'a> {
    fn run(&mut self) -> Result<(), StoreError> {
        // Before anything else, and before any send: a restored database is
        // reconciled from the Sent folders first; a mailbox not yet
        // reconciled is held (a pause, below).
        restore::notice(self.store, self.config, self.now)?;
        for done in restore::reconcile_open(self.store, self.config, self.cadences, self.now)? {
            self.left.extend(done.left);
        }
        self.load_pauses()?;
        self.check_sign_ins()?;
        let back = self.store.resume_away(self.now)?;
        if back > 0 {
            info!(enrollments = back, "out-of-office pauses ended");
        }
        let watched: Vec<String> =
            self.config.mailboxes.values().filter(|m| m.imap.is_some()).map(|m| m.name.clone()).collect();
        if self.control.inbox_changed.swap(false, Ordering::SeqCst) {
            for mailbox in &watched {
                self.inbox_read.insert(mailbox.clone(), DateTime::<Utc>::MIN_UTC);
            }
        }
        for mailbox in &watched {
            self.read_inbox_if_stale(mailbox)?;
            self.progress();
        }
        self.settle_interrupted()?;
        self.pick_winners()?;
        self.due_steps()?;
        // After the steps, so that a digest lists the tasks this tick opened.
        self.digests()
    }

    /// Reads the winners `pick_winner` chose, and names one for each step
    /// with `pick_winner` whose comparison (all time) now has one: from now
    /// on new leads at that step get only it.
    fn pick_winners(&mut self) -> Result<(), StoreError> {
        let picking: Vec<&crate::cadence::Cadence> =
            self.cadences.by_name.values().filter(|c| c.steps.iter().any(|s| s.pick_winner)).collect();
        if picking.is_empty() {
            return Ok(());
        }
        for (cadence, step, variant, _) in self.store.winners()? {
            self.winners.insert((cadence, step), variant);
        }
        let all_time = crate::core::report::Period::new(None, self.now);
        for cadence in picking {
            let open: Vec<&crate::cadence::Step> = cadence
                .steps
                .iter()
                .filter(|s| s.pick_winner && !self.winners.contains_key(&(cadence.name.clone(), s.id.clone())))
                .collect();
            if open.is_empty() {
                continue;
            }
            let buckets = all_time.buckets(self.store.tallies_rolled_until()?);
            let tallies = self.store.variant_tallies(&buckets, Some(&cadence.name))?;
            for step in open {
                let Some(winner) = crate::core::report::winner_of(step, &cadence.name, &tallies) else { continue };
                self.store.set_winner(&cadence.name, &step.id, &winner, self.now)?;
                info!(cadence = %cadence.name, step = %step.id, variant = %winner,
                      "winner picked: new leads at this step get only this variant");
                self.winners.insert((cadence.name.clone(), step.id.clone()), winner);
            }
        }
        Ok(())
    }

    /// Counts one more thing done, for the watchdog.
    fn progress(&self) {
        self.control.progress.fetch_add(1, Ordering::Relaxed);
    }

    /// Works through every due step, with a sending thread beside this one.
    fn due_steps(&mut self) -> Result<(), StoreError> {
        Pipeline::with_sender(self, Tick::page_through)
    }

    /// What the pipeline works with, and the pipeline.
    fn parts(&mut self) -> (Env<'_, 'a>, &mut Pipeline<'a>) {
        let env = Env {
            store: self.store,
            config: self.config,
            cadences: self.cadences,
            transports: self.transports,
            control: self.control,
            now: self.now,
            report: &mut self.report,
            paused: &mut self.paused,
        };
        (env, &mut self.pipeline)
    }

    /// Pages through what is due, deciding each step.
    fn page_through(&mut self) -> Result<(), StoreError> {
        let names = self.cadences.names();
        self.control.due.store(self.store.count_due(self.now, &names)?, Ordering::Relaxed);
        let mut last: Option<DueStep> = None;
        let mut pass = self.report.clone();
        loop {
            let page = self.store.due_steps_after(self.now, &names, last.as_ref(), PAGE)?;
            if page.is_empty() {
                // Paged through: a step that fell due meanwhile (the next of a
                // chain with no wait) may sit behind the page; once all is
                // recorded, start over, as long as passes still move something.
                let (mut env, pipeline) = self.parts();
                pipeline.finish(&mut env)?;
                if self.report == pass {
                    return Ok(());
                }
                pass = self.report.clone();
                last = None;
                continue;
            }
            self.inbound_at_query = self.report.inbound;
            for due in page {
                if self.control.stopping() {
                    self.pipeline.forget_pending();
                    return Ok(());
                }
                self.handle(&due)?;
                self.progress();
                last = Some(due);
            }
            let (mut env, pipeline) = self.parts();
            pipeline.flush(&mut env)?;
        }
    }

    /// One due step: gather the facts, decide, apply.
    fn handle(&mut self, due: &DueStep) -> Result<(), StoreError> {
        let cadence = self.cadences.get(&due.cadence);
        let touched = match cadence {
            Some(c) if c.step_index(&due.step).is_none() => self.store.touched_steps(due.enrollment_id)?,
            _ => Vec::new(),
        };
        let step = cadence.and_then(|c| c.step_index(&due.step).map(|i| (c, &c.steps[i])));
        // Only an email needs its mailbox (reading it may read the inbox).
        let mailbox = match step {
            Some((c, s)) if s.kind == StepKind::Email => self.mailbox_facts(&c.mailbox)?,
            _ => None,
        };
        let thread = match step {
            Some((_, s)) if s.threaded => self.store.thread(due.lead_id, &due.cadence)?,
            _ => Vec::new(),
        };
        let still_active = self.report.inbound == self.inbound_at_query || self.store.is_active(due)?;
        let facts = Facts {
            cadence,
            lead: self.config.lead_time(
                cadence.and_then(|c| c.calendar.as_deref()),
                due.timezone.as_deref(),
                &due.fields,
            ),
            touched: &touched,
            thread: &thread,
            downtime_after: downtime_after(self.config),
            mailbox,
            still_active,
            winner: self.winners.get(&(due.cadence.clone(), due.step.clone())).map(String::as_str),
        };
        let action = decide::decide(due, &facts, self.now);
        self.apply(due, action)
    }

    /// What the tick knows about `mailbox`: its outage, its inbox (read now
    /// if it is stale) and, when a cap needs them, its sends today.
    fn mailbox_facts(&mut self, name: &str) -> Result<Option<MailboxFacts>, StoreError> {
        let Some(mailbox) = self.config.mailboxes.get(name) else { return Ok(None) };
        let down = self.transports.down(name, self.now);
        let inbox = if mailbox.imap.is_none() || self.read_inbox_if_stale(name)? {
            Inbox::Fresh
        } else {
            let key = outages::inbox_key(name);
            let why = self.transports.last_error(&key).unwrap_or("not read yet").to_string();
            Inbox::Unreadable { retry_at: self.transports.held_until(&key, self.now), why }
        };
        let paused = self.paused.get(name).cloned();
        let caps = Caps {
            daily_limit: mailbox.daily_limit,
            min_gap: mailbox.min_gap.and_then(|g| Duration::from_std(g).ok()),
            tz: mailbox.timezone,
        };
        // Read once per tick, and only when a cap needs it (it counts today's sends).
        let load =
            if caps.daily_limit.is_some() || caps.min_gap.is_some() { Some(self.load(name, caps.tz)?) } else { None };
        Ok(Some(MailboxFacts { down, paused, inbox, caps, load }))
    }

    /// The mailbox's sends on the local day of `now`.
    fn load(&mut self, mailbox: &str, tz: chrono_tz::Tz) -> Result<Load, StoreError> {
        let (mut env, pipeline) = self.parts();
        pipeline.load(&mut env, mailbox, tz)
    }

    /// Does what `decide` said.
    fn apply(&mut self, due: &DueStep, action: Action) -> Result<(), StoreError> {
        let (lead, cadence, step) = (&due.email, &due.cadence, &due.step);
        match action {
            Action::Nothing => Ok(()),
            Action::Send { rendered, reply, next, reason, variant } => {
                let Some(mailbox) = self.cadences.get(cadence).and_then(|c| self.config.mailboxes.get(&c.mailbox))
                else {
                    return Ok(());
                };
                let ready = Ready { due: due.clone(), mailbox, rendered, reply, next, reason, variant };
                let (mut env, pipeline) = self.parts();
                pipeline.offer(&mut env, ready)
            }
            Action::OpenTask { body, next, reason, variant } => {
                let kind = self.cadences.get(cadence).and_then(|c| c.step_index(step).map(|i| c.steps[i].kind));
                let kind = kind.map_or("task", |k| k.as_str());
                let Some(id) = self.store.claim(due, kind, None, variant.as_deref(), self.now)? else { return Ok(()) };
                let outcome = Outcome {
                    status: Status::Open,
                    at: self.now,
                    message_id: None,
                    subject: None,
                    body: Some(body),
                    detail: None,
                    reason,
                };
                self.store.complete(id, &outcome, &next)?;
                info!(lead = %lead, cadence = %cadence, step = %step, kind, task = id,
                      owner = due.owner.as_deref().unwrap_or("-"), variant = variant.as_deref().unwrap_or("-"),
                      "task opened");
                self.report.opened += 1;
                Ok(())
            }
            Action::Postpone { until, reason } => {
                self.report.postponed += 1;
                self.store.reschedule(due, until, reason)
            }
            Action::Skip { kind, reason, detail, next } => {
                let Some(id) = self.store.claim(due, kind, None, None, self.now)? else { return Ok(()) };
                if reason == Reason::Holdout {
                    // By design, not trouble.
                    info!(lead = %lead, cadence = %cadence, step = %step, "skipped ({reason}): {detail}");
                } else {
                    warn!(lead = %lead, cadence = %cadence, step = %step, "skipped ({reason}): {detail}");
                }
                let outcome = Outcome {
                    status: Status::Skipped,
                    at: self.now,
                    message_id: None,
                    subject: None,
                    body: None,
                    detail: Some(detail),
                    reason: Some(reason),
                };
                self.report.skipped += 1;
                self.store.complete(id, &outcome, &next)
            }
            Action::ExpireTask { task, next } => {
                let closed = self.store.close_task(
                    task,
                    Status::Skipped,
                    Some("expired: not closed within auto_skip_after"),
                    Some(Reason::Expired),
                    self.now,
                    |_| next,
                )?;
                if closed.is_some() {
                    info!(lead = %lead, cadence = %cadence, step = %step, task, "task expired, skipped");
                    self.report.skipped += 1;
                }
                // Else a person closed it meanwhile; that already moved the cadence on.
                Ok(())
            }
            Action::Hold { reason } => {
                warn!(lead = %lead, cadence = %cadence, step = %step, "{reason}; enrollment paused");
                self.report.held += 1;
                self.store.hold(due, &reason, self.now)
            }
            Action::Defer { until, why } => {
                // Quietly: the outage is logged once, as it began.
                self.report.retrying += 1;
                self.store.defer(due, until, &why.describe(), false)
            }
        }
    }
}
