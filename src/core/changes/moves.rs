//! A lead in flight as the plan reads it ([`InFlight`], its [`Touch`]es),
//! where it goes ([`Target`], [`Move`]) and the tallies behind one line of
//! the plan ([`Counts`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::cadence::Fields;
use crate::model::{Next, Reason, State};
use crate::time::rfc3339;

/// An active or paused enrollment, as the plan needs it.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub enrollment_id: i64,
    pub email: String,
    pub state: State,
    /// The step it waits for.
    pub step: String,
    pub due_at: Option<DateTime<Utc>>,
    pub planned_at: Option<DateTime<Utc>>,
    /// It waits for an open blocking task (`due_at` is then the task's expiry).
    pub waiting_for_task: bool,
    pub enrolled_at: DateTime<Utc>,
    pub timezone: Option<String>,
    pub fields: Fields,
}

/// One touchpoint of an enrollment: a step it had (or has in hand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    pub step: String,
    pub at: DateTime<Utc>,
    /// When a task was closed.
    pub closed_at: Option<DateTime<Utc>>,
}

/// Where a lead goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Step {
        id: String,
        due_at: DateTime<Utc>,
        planned_at: DateTime<Utc>,
        reason: Option<Reason>,
    },
    Finished,
    /// The plan cannot place it (no send slot, ...): the tick will hold it.
    Held(String),
}

impl Target {
    pub(super) fn from_next(next: Next) -> Target {
        match next {
            Next::Step { id, due_at, planned_at, reason } => Target::Step { id, due_at, planned_at, reason },
            Next::Finished => Target::Finished,
            Next::Hold(why) => Target::Held(why),
            Next::End(state) => Target::Held(format!("ends as {state}")),
            Next::Block { .. } | Next::ThenHold(..) => Target::Held("waits for a person".into()),
        }
    }

    pub(super) fn step_name(&self) -> &str {
        match self {
            Target::Step { id, .. } => id,
            Target::Finished => "finished",
            Target::Held(_) => "held",
        }
    }

    pub(super) fn due(&self) -> Option<DateTime<Utc>> {
        match self {
            Target::Step { due_at, .. } => Some(*due_at),
            Target::Finished | Target::Held(_) => None,
        }
    }
}

/// Why a lead's plan changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Its step is gone: skipped at its due time, on to `to`.
    Removed,
    /// Its step's timing changed: planned again from its last touch. Loading
    /// the edit writes the new plan.
    Replanned,
}

/// One lead whose plan changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub enrollment_id: i64,
    pub email: String,
    pub state: State,
    pub cause: Cause,
    pub from_step: String,
    pub from_due: Option<DateTime<Utc>>,
    /// For a removed step: when it is skipped (its due time, or now when that is past).
    pub skip_at: Option<DateTime<Utc>>,
    pub to: Target,
    /// The shift of its next step in business days of its calendar, when both times are known.
    pub business_days: Option<i64>,
}

impl Move {
    /// How much later (negative: earlier) its next step falls due.
    fn shift(&self) -> Option<Duration> {
        Some(self.to.due()? - self.from_due?)
    }

    pub(super) fn to_json(&self, lead_zone: impl Fn(&Move) -> Option<String>) -> Value {
        json!({
            "email": self.email,
            "state": self.state,
            "cause": match self.cause { Cause::Removed => "removed", Cause::Replanned => "replanned" },
            "step": self.from_step,
            "due_at": self.from_due.map(rfc3339),
            "skipped_at": self.skip_at.map(rfc3339),
            "new_step": self.to.step_name(),
            "new_due_at": self.to.due().map(rfc3339),
            "held": match &self.to { Target::Held(why) => Some(why.as_str()), _ => None },
            "shift_seconds": self.shift().map(|d| d.num_seconds()),
            "business_days": self.business_days,
            "timezone": lead_zone(self),
        })
    }
}

/// Counts behind one line of the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Leads whose plan the edit changes (waiting for the step, or re-planned).
    pub leads: u64,
    /// Leads before the step: they reach it later (for step edits).
    pub ahead: u64,
    /// Leads already past the step.
    pub past: u64,
    /// Where the leads of a removed step go on: step id (or `finished`, `held`) -> leads.
    pub go_on_at: BTreeMap<String, u64>,
    pub later: u64,
    pub earlier: u64,
    pub unchanged: u64,
    /// Re-planned leads whose next step is due at once.
    pub due_now: u64,
    /// Re-planned leads the new plan cannot place.
    pub held: u64,
    pub min_shift: Option<Duration>,
    pub max_shift: Option<Duration>,
    /// The shift in business days, when it is the same for every lead that moved.
    pub business_days: Option<Option<i64>>,
}

impl Counts {
    pub(super) fn add_shift(&mut self, m: &Move, now: DateTime<Utc>) {
        self.leads += 1;
        let Some(shift) = m.shift() else {
            if matches!(m.to, Target::Held(_)) {
                self.held += 1;
            }
            return;
        };
        match shift.num_seconds().signum() {
            1 => self.later += 1,
            -1 => self.earlier += 1,
            _ => {
                self.unchanged += 1;
                return;
            }
        }
        if m.to.due().is_some_and(|d| d <= now) {
            self.due_now += 1;
        }
        self.min_shift = Some(self.min_shift.map_or(shift, |s| s.min(shift)));
        self.max_shift = Some(self.max_shift.map_or(shift, |s| s.max(shift)));
        self.business_days = match self.business_days {
            None => Some(m.business_days),
            Some(seen) if seen == m.business_days => Some(seen),
            Some(_) => Some(None),
        };
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "leads": self.leads, "ahead": self.ahead, "past": self.past, "go_on_at": self.go_on_at,
            "later": self.later, "earlier": self.earlier, "unchanged": self.unchanged, "due_now": self.due_now,
            "held": self.held,
            "min_shift_seconds": self.min_shift.map(|d| d.num_seconds()),
            "max_shift_seconds": self.max_shift.map(|d| d.num_seconds()),
            "business_days": self.business_days.flatten(),
        })
    }
}
