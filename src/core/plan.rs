//! PURE: where a lead goes next in a cadence. Takes the instant of the last
//! step as an argument; reads no clock and touches no I/O.

use chrono::{DateTime, Utc};

use crate::cadence::{Cadence, Step};
use crate::model::{LeadTime, Next, Reason, State};
use crate::schedule;

/// What is next after step `index` (or the first step when `None`) happened at `at`.
pub fn next(cadence: &Cadence, index: Option<usize>, at: DateTime<Utc>, lead: LeadTime<'_>) -> Next {
    let next_index = index.map_or(0, |i| i + 1);
    let Some(step) = cadence.steps.get(next_index) else {
        return Next::Finished;
    };
    match schedule::due(at, &step.wait, cadence.window_for(step), lead.tz, lead.calendar) {
        Ok(due) => Next::Step {
            id: step.id.clone(),
            due_at: due.at,
            planned_at: due.planned,
            reason: due.reason.map(Reason::from),
        },
        Err(e) => Next::Hold(format!("step {:?}: no send slot: {e}", step.id)),
    }
}

/// Where a lead whose next step was removed from its cadence goes on: the
/// index of the first step after the last one it had (`had`) that it has not
/// had, so that a step added later in the cadence is picked up in order;
/// `None` when no such step is left (the lead finishes). The tick skips the
/// removed step with this, and `check --plan` predicts with it.
pub fn after_removed(cadence: &Cadence, had: impl Fn(&str) -> bool) -> Option<usize> {
    let last = cadence.steps.iter().rposition(|s| had(&s.id));
    cadence.steps.iter().enumerate().position(|(i, s)| last.is_none_or(|l| i > l) && !had(&s.id))
}

/// One row of a cadence's timeline for a lead enrolled at `start`, sending on
/// time: what `preview` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub step: String,
    pub kind: &'static str,
    pub at: DateTime<Utc>,
    pub reason: Option<Reason>,
}

/// Why a cadence has no timeline to preview.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    /// A step has no send slot (the reason names the step).
    #[error("{0}")]
    Held(String),
    #[error("cadence ends as {}", .0.as_str())]
    Ends(State),
    #[error("a person holds the cadence")]
    HeldForPerson,
    /// A step the plan named is not in the cadence (a bug, not a user's mistake).
    #[error("step {0:?} vanished")]
    StepVanished(String),
}

/// The whole timeline, each step at its due time with the next one counted
/// from it, exactly as ticks at those instants would go.
pub fn timeline(cadence: &Cadence, start: DateTime<Utc>, lead: LeadTime<'_>) -> Result<Vec<Planned>, TimelineError> {
    timeline_after(cadence, None, start, lead)
}

/// The rest of the timeline after step `index` (from the first step when
/// `None`) happened at `at`, each step at its due time with the next one
/// counted from it.
pub fn timeline_after(
    cadence: &Cadence,
    index: Option<usize>,
    at: DateTime<Utc>,
    lead: LeadTime<'_>,
) -> Result<Vec<Planned>, TimelineError> {
    let mut out = Vec::new();
    let mut at = at;
    let mut index = index;
    loop {
        match next(cadence, index, at, lead) {
            Next::Step { id, due_at, reason, .. } => {
                let Some(i) = cadence.step_index(&id) else { return Err(TimelineError::StepVanished(id)) };
                out.push(Planned { step: id, kind: cadence.steps[i].kind.as_str(), at: due_at, reason });
                at = due_at;
                index = Some(i);
            }
            Next::Finished => return Ok(out),
            Next::Hold(why) => return Err(TimelineError::Held(why)),
            Next::End(state) => return Err(TimelineError::Ends(state)),
            Next::Block { .. } | Next::ThenHold(..) => return Err(TimelineError::HeldForPerson),
        }
    }
}

/// How late after a window slot a tick may still send in it: ticks come every
/// few seconds, so "the 09:30 slot" means 09:30:00 to 09:30:59.
pub const SLOT_GRACE: chrono::Duration = chrono::Duration::seconds(59);

/// `None` when an email of `step` may leave at `now`; otherwise the next window
/// slot it must wait for (after downtime, or when a tick ran late).
pub fn wait_for_window(
    cadence: &Cadence,
    step: &Step,
    now: DateTime<Utc>,
    lead: LeadTime<'_>,
) -> Option<DateTime<Utc>> {
    let window = cadence.window_for(step)?;
    match window.next_slot(now - SLOT_GRACE, lead.tz, lead.calendar) {
        Some(slot) if slot <= now => None,
        Some(slot) => Some(slot),
        // No slot for years: keep it off the due list for a day rather than send outside the window.
        None => Some(now + chrono::Duration::days(1)),
    }
}
