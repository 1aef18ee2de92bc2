//! One tick: claim what is due, render it, send it, record the touchpoint and
//! move the enrollment on. The clock is an argument: the daemon passes the real
//! time, `cadenced tick --at` and the tests pass a virtual one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tracing::{info, warn};

use crate::cadence::{Cadence, Cadences, StepKind};
use crate::config::Config;
use crate::plan;
use crate::schedule::retry_delay;
use crate::send::{self, SendError, Transport};
use crate::store::{DispatchLock, DueStep, Next, Outcome, State, Status, Store, StoreError};

/// Temporary failures of one step before it is recorded as failed (with the
/// one-hour backoff cap, about four days of trying).
pub const MAX_ATTEMPTS: u32 = 100;

const BATCH: usize = 500;

/// What one tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub sent: usize,
    pub opened: usize,
    pub failed: usize,
    pub retrying: usize,
    pub uncertain: usize,
    pub held: usize,
}

impl Report {
    pub fn is_empty(&self) -> bool {
        *self == Report::default()
    }
}

/// The transports of the configured mailboxes, opened on first use and closed
/// at the end of each tick.
pub struct Transports {
    open: BTreeMap<String, Box<dyn Transport>>,
}

impl Transports {
    pub fn new() -> Transports {
        Transports {
            open: BTreeMap::new(),
        }
    }

    fn get(&mut self, config: &Config, mailbox: &str) -> Option<&mut Box<dyn Transport>> {
        if !self.open.contains_key(mailbox) {
            let mb = config.mailboxes.get(mailbox)?;
            self.open
                .insert(mailbox.to_string(), send::transport_for(mb));
        }
        self.open.get_mut(mailbox)
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

/// Runs one pass over everything due at `now`. Stops early, between two
/// sends, once `stop` is set.
pub fn tick(
    store: &mut Store,
    config: &Config,
    cadences: &Cadences,
    transports: &mut Transports,
    now: DateTime<Utc>,
    stop: &AtomicBool,
) -> Result<Report, StoreError> {
    let _lock = DispatchLock::acquire(&config.database)?;
    let mut run = Tick {
        store,
        config,
        cadences,
        transports,
        now,
        report: Report::default(),
        down: BTreeMap::new(),
    };
    let result = run.all(stop);
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
    /// Mailboxes found unreachable in this tick, with the reason.
    down: BTreeMap<String, String>,
}

impl Tick<'_> {
    fn all(&mut self, stop: &AtomicBool) -> Result<(), StoreError> {
        self.settle_interrupted()?;
        let names = self.cadences.names();
        let instance = self.store.instance_id()?;
        loop {
            let batch = self.store.due_steps(self.now, &names, BATCH)?;
            if batch.is_empty() {
                return Ok(());
            }
            for due in batch {
                if stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                self.one(&due, &instance)?;
            }
        }
    }

    fn zone(&self, due: &DueStep) -> Tz {
        due.timezone
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(self.config.timezone)
    }

    /// A send left `sending` by a process that died: it may have left, so it is
    /// recorded `uncertain` and never repeated; the cadence goes on.
    fn settle_interrupted(&mut self) -> Result<(), StoreError> {
        for stuck in self.store.interrupted()? {
            let due = &stuck.due;
            let next = match self.cadences.get(&due.cadence) {
                Some(c) => plan::next(
                    c,
                    c.step_index(&due.step),
                    stuck.at,
                    self.zone(due),
                    &self.config.calendar,
                ),
                None => Next::Hold(format!("cadence {:?} is not loaded", due.cadence)),
            };
            warn!(lead = %due.email, cadence = %due.cadence, step = %due.step,
                  message_id = stuck.message_id.as_deref().unwrap_or(""),
                  "send was interrupted (process stopped mid-send); recorded as uncertain, not sent again");
            let outcome = Outcome {
                status: Status::Uncertain,
                at: stuck.at,
                message_id: stuck.message_id.clone(),
                subject: None,
                body: None,
                detail: Some(
                    "interrupted: the process stopped during the send; not sent again".into(),
                ),
            };
            self.store.complete(stuck.touchpoint_id, &outcome, &next)?;
            self.report.uncertain += 1;
        }
        Ok(())
    }

    fn one(&mut self, due: &DueStep, instance: &str) -> Result<(), StoreError> {
        let Some(cadence) = self.cadences.get(&due.cadence) else {
            return Ok(());
        };
        let Some(index) = cadence.step_index(&due.step) else {
            let why = format!(
                "step {:?} is no longer in cadence {:?}",
                due.step, due.cadence
            );
            warn!(lead = %due.email, cadence = %due.cadence, "{why}; enrollment paused");
            self.report.held += 1;
            return self.store.hold(due, &why, self.now);
        };
        let step = &cadence.steps[index];
        let rendered = match cadence.templates.render(&step.id, &due.email, &due.fields) {
            Ok(r) => r,
            Err(e) => {
                warn!(lead = %due.email, cadence = %due.cadence, step = %due.step, "{e}; enrollment paused");
                self.report.held += 1;
                return self.store.hold(due, &e.to_string(), self.now);
            }
        };
        let tz = self.zone(due);
        let next = plan::next(cadence, Some(index), self.now, tz, &self.config.calendar);
        if step.kind != StepKind::Email {
            let Some(id) = self.store.claim(due, step.kind.as_str(), self.now)? else {
                return Ok(());
            };
            let outcome = Outcome {
                status: Status::Open,
                at: self.now,
                message_id: None,
                subject: None,
                body: Some(rendered.body),
                detail: None,
            };
            self.store.complete(id, &outcome, &next)?;
            info!(lead = %due.email, cadence = %due.cadence, step = %due.step, kind = %step.kind, "task opened");
            self.report.opened += 1;
            return Ok(());
        }
        if let Some(slot) =
            plan::wait_for_window(cadence, step, self.now, tz, &self.config.calendar)
        {
            // Due while outside the window (downtime, a long tick): the next slot, never now.
            return self.store.reschedule(due, slot, "window");
        }
        if let Some(why) = self.down.get(&cadence.mailbox) {
            let why = why.clone();
            return self.retry_later(due, None, &why);
        }
        self.send_email(due, cadence, &rendered, next, instance)
    }

    fn send_email(
        &mut self,
        due: &DueStep,
        cadence: &Cadence,
        rendered: &crate::cadence::Rendered,
        next: Next,
        instance: &str,
    ) -> Result<(), StoreError> {
        let Some(mailbox) = self.config.mailboxes.get(&cadence.mailbox) else {
            return Ok(());
        };
        let Some(id) = self.store.claim(due, StepKind::Email.as_str(), self.now)? else {
            return Ok(());
        };
        let message_id = send::message_id(instance, id, &mailbox.from);
        self.store.set_message_id(id, &message_id)?;
        let subject = rendered.subject.clone().unwrap_or_default();
        let email = send::Email {
            from: &mailbox.from,
            to: &due.email,
            subject: &subject,
            body: &rendered.body,
            message_id: &message_id,
            date: self.now,
        };
        let label = format!(
            "{}-{}-{}-{id}",
            self.now.format("%Y%m%dT%H%M%SZ"),
            due.cadence,
            due.step
        );
        let result = send::build(&email).and_then(|message| {
            match self.transports.get(self.config, &cadence.mailbox) {
                Some(t) => t.send(&message, &label),
                None => Err(SendError::Unavailable(format!(
                    "mailbox {:?} is not configured",
                    cadence.mailbox
                ))),
            }
        });
        let outcome = |status, detail: Option<String>| Outcome {
            status,
            at: self.now,
            message_id: Some(message_id.clone()),
            subject: Some(subject.clone()),
            body: Some(rendered.body.clone()),
            detail,
        };
        match result {
            Ok(()) => {
                info!(lead = %due.email, cadence = %due.cadence, step = %due.step, message_id = %message_id, "sent");
                self.report.sent += 1;
                self.store.complete(id, &outcome(Status::Sent, None), &next)
            }
            Err(SendError::Permanent(reply)) => {
                warn!(lead = %due.email, cadence = %due.cadence, step = %due.step, "refused for good: {reply}; lead marked bounced");
                self.report.failed += 1;
                self.store.complete(
                    id,
                    &outcome(Status::Failed, Some(reply)),
                    &Next::End(State::Bounced),
                )
            }
            Err(SendError::Uncertain(why)) => {
                warn!(lead = %due.email, cadence = %due.cadence, step = %due.step, message_id = %message_id,
                      "send interrupted, it may have been delivered: {why}; recorded as uncertain, not sent again");
                self.report.uncertain += 1;
                self.store
                    .complete(id, &outcome(Status::Uncertain, Some(why)), &next)
            }
            Err(SendError::Unavailable(why)) => {
                self.down.insert(cadence.mailbox.clone(), why.clone());
                self.retry_later(due, Some(id), &why)
            }
            Err(SendError::Temporary(why)) => {
                if due.attempts + 1 >= MAX_ATTEMPTS {
                    let detail =
                        format!("gave up after {MAX_ATTEMPTS} temporary failures, the last: {why}");
                    warn!(lead = %due.email, cadence = %due.cadence, step = %due.step, "{detail}");
                    self.report.failed += 1;
                    return self
                        .store
                        .complete(id, &outcome(Status::Failed, Some(detail)), &next);
                }
                self.retry_later(due, Some(id), &why)
            }
        }
    }

    /// Nothing was sent: try `due` again after the backoff for its attempt count.
    fn retry_later(
        &mut self,
        due: &DueStep,
        claim: Option<i64>,
        why: &str,
    ) -> Result<(), StoreError> {
        let attempt = due.attempts + 1;
        let retry_at = self.now + retry_delay(attempt);
        warn!(lead = %due.email, cadence = %due.cadence, step = %due.step, attempt,
              retry_at = %crate::time::rfc3339(retry_at), "not sent, will retry: {why}");
        self.report.retrying += 1;
        match claim {
            Some(id) => self.store.release(id, due, retry_at, why),
            None => self.store.defer(due, retry_at, why),
        }
    }
}
