//! [`Analysis`]: one cadence's leads in flight, read one at a time against
//! the edit, each placed as the tick would place it; [`Analysis::finish`]
//! gives the [`CadencePlan`], each edit with what it does to them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::moves::{Cause, Counts, InFlight, Move, Target, Touch};
use super::snapshot::{Edit, Snapshot, edits};
use crate::cadence::Cadence;
use crate::core::plan;
use crate::model::LeadTime;
use crate::schedule::Wait;

/// One edit and what it does to the leads in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub edit: Edit,
    /// A removed step that was removed at an earlier load: leads still wait for it.
    pub earlier: bool,
    pub counts: Counts,
}

/// What loading the cadence on disk does to one cadence's leads in flight.
#[derive(Debug, Clone)]
pub struct CadencePlan {
    pub cadence: String,
    pub file: String,
    /// When the version compared against was loaded; `None`: none was recorded yet.
    pub recorded_at: Option<DateTime<Utc>>,
    pub in_flight: u64,
    pub changes: Vec<Change>,
    /// Each lead whose plan changes, in the order read.
    pub moves: Vec<Move>,
    /// Zone of each moved lead, by enrollment (for showing its times).
    pub zones: BTreeMap<i64, String>,
    /// What each step of the new version is, for people (`email`, `call`, ...).
    pub kinds: BTreeMap<String, &'static str>,
}

/// Reads one cadence's leads in flight, one at a time, against the edit.
pub struct Analysis<'a> {
    cadence: &'a Cadence,
    old: Option<&'a Snapshot>,
    new: Snapshot,
    edits: Vec<Edit>,
    now: DateTime<Utc>,
    in_flight: u64,
    /// Leads by the index of the step they wait for (or go on at) in the new
    /// cadence; `None`: they finish.
    at_index: BTreeMap<Option<usize>, u64>,
    moves: Vec<Move>,
    zones: BTreeMap<i64, String>,
    /// Re-planned leads whose time did not move, by step.
    unmoved: BTreeMap<String, u64>,
}

impl<'a> Analysis<'a> {
    /// `old`: the version its leads were planned against, if one was recorded.
    pub fn new(cadence: &'a Cadence, old: Option<&'a Snapshot>, now: DateTime<Utc>) -> Analysis<'a> {
        let new = Snapshot::of(cadence);
        let edits = old.map(|o| edits(o, &new)).unwrap_or_default();
        Analysis {
            cadence,
            old,
            new,
            edits,
            now,
            in_flight: 0,
            at_index: BTreeMap::new(),
            moves: Vec::new(),
            zones: BTreeMap::new(),
            unmoved: BTreeMap::new(),
        }
    }

    /// Whether the file differs from the version its leads were planned against.
    pub fn changed(&self) -> bool {
        self.old.is_some_and(|o| *o != self.new)
    }

    /// Whether a lead waiting for `step` may be planned differently now.
    fn retimed(&self, step: &str) -> bool {
        self.old.is_some_and(|old| old.timing(step) != self.new.timing(step))
    }

    /// Whether [`Analysis::add`] needs the lead's touchpoints.
    pub fn needs_history(&self, lead: &InFlight) -> bool {
        match self.cadence.step_index(&lead.step) {
            None => true,
            Some(_) => !lead.waiting_for_task && self.retimed(&lead.step),
        }
    }

    /// Takes one lead in flight, with its touchpoints when
    /// [`Analysis::needs_history`] says so. `lead_time` is its zone and
    /// calendar under the new cadence, `old_time` under the old one.
    pub fn add(&mut self, lead: &InFlight, touches: &[Touch], lead_time: LeadTime<'_>, old_time: LeadTime<'_>) {
        self.in_flight += 1;
        let cadence = self.cadence;
        let Some(index) = cadence.step_index(&lead.step) else {
            self.add_removed(lead, touches, lead_time);
            return;
        };
        *self.at_index.entry(Some(index)).or_default() += 1;
        if lead.waiting_for_task || !self.retimed(&lead.step) {
            return;
        }
        // A touchpoint for the step itself: it is being sent (or opened) right now.
        if touches.iter().any(|t| t.step == lead.step) {
            return;
        }
        let base = self.base(lead, touches, old_time);
        let to = Target::from_next(plan::next(cadence, index.checked_sub(1), base, lead_time));
        if let Target::Step { due_at, planned_at, .. } = &to
            && Some(*due_at) == lead.due_at
            && Some(*planned_at) == lead.planned_at
        {
            *self.unmoved.entry(lead.step.clone()).or_default() += 1;
            return;
        }
        self.push(lead, Cause::Replanned, None, to, lead_time);
    }

    /// A lead whose step is gone: skipped when it falls due (now, if that is
    /// past), then on at the first later step it has not had, as the tick does.
    fn add_removed(&mut self, lead: &InFlight, touches: &[Touch], lead_time: LeadTime<'_>) {
        let Some(due) = lead.due_at else {
            // A task with no expiry: it moves on when a person closes the task.
            return;
        };
        let skip_at = due.max(self.now);
        let target = plan::after_removed(self.cadence, |id| touches.iter().any(|t| t.step == id));
        *self.at_index.entry(target).or_default() += 1;
        let to = match target {
            Some(t) => Target::from_next(plan::next(self.cadence, t.checked_sub(1), skip_at, lead_time)),
            None => Target::Finished,
        };
        self.push(lead, Cause::Removed, Some(skip_at), to, lead_time);
    }

    fn push(&mut self, lead: &InFlight, cause: Cause, skip_at: Option<DateTime<Utc>>, to: Target, lt: LeadTime<'_>) {
        let business_days = match (lead.due_at, to.due()) {
            (Some(from), Some(to)) => business_days(from, to, lt),
            _ => None,
        };
        self.zones.insert(lead.enrollment_id, lt.tz.name().to_string());
        self.moves.push(Move {
            enrollment_id: lead.enrollment_id,
            email: lead.email.clone(),
            state: lead.state,
            cause,
            from_step: lead.step.clone(),
            from_due: lead.due_at,
            skip_at,
            to,
            business_days,
        });
    }

    /// The instant the lead's step was planned from: of its enrollment and
    /// its touchpoints' times (sent, opened, closed), the latest from which
    /// the old version's wait gives the planned time it has; else the latest.
    fn base(&self, lead: &InFlight, touches: &[Touch], old_time: LeadTime<'_>) -> DateTime<Utc> {
        let mut candidates: Vec<DateTime<Utc>> =
            touches.iter().flat_map(|t| [Some(t.at), t.closed_at]).flatten().collect();
        candidates.push(lead.enrolled_at);
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        let old_wait = self.old.and_then(|o| o.step(&lead.step)).and_then(|s| s.wait.parse::<Wait>().ok());
        if let (Some(wait), Some(planned)) = (old_wait, lead.planned_at)
            && let Some(base) = candidates.iter().find(|b| wait.after(**b, old_time.tz, old_time.calendar) == planned)
        {
            return *base;
        }
        candidates.first().copied().unwrap_or(lead.enrolled_at)
    }

    /// The plan for this cadence: each edit with its counts, and every move.
    pub fn finish(self, recorded_at: Option<DateTime<Utc>>) -> CadencePlan {
        let mut attributed = vec![false; self.moves.len()];
        // Step edits claim their leads before the window and calendar do.
        let mut order: Vec<usize> = (0..self.edits.len()).collect();
        order.sort_by_key(|i| matches!(self.edits[*i], Edit::Setting { .. }));
        let mut counted: Vec<Option<Counts>> = vec![None; self.edits.len()];
        for i in order {
            counted[i] = Some(self.count(&self.edits[i], &mut attributed));
        }
        let mut changes: Vec<Change> = self
            .edits
            .iter()
            .zip(counted)
            .map(|(edit, counts)| Change { edit: edit.clone(), earlier: false, counts: counts.unwrap_or_default() })
            .collect();
        // Leads still waiting for a step removed at an earlier load, and any
        // other lead planned again (planned against a version newer than the one recorded).
        let mut rest: BTreeMap<(bool, String), Counts> = BTreeMap::new();
        for (m, done) in self.moves.iter().zip(&mut attributed) {
            if *done {
                continue;
            }
            let counts = rest.entry((m.cause == Cause::Removed, m.from_step.clone())).or_default();
            if m.cause == Cause::Removed {
                counts.leads += 1;
                *counts.go_on_at.entry(m.to.step_name().to_string()).or_default() += 1;
            } else {
                counts.add_shift(m, self.now);
            }
        }
        for ((removed, step), counts) in rest {
            let edit = if removed { Edit::Removed { step } } else { Edit::Replanned { step } };
            changes.push(Change { edit, earlier: removed, counts });
        }
        let kinds = self.cadence.steps.iter().map(|s| (s.id.clone(), s.kind.word())).collect();
        CadencePlan {
            cadence: self.cadence.name.clone(),
            file: self.cadence.file.display().to_string(),
            recorded_at,
            in_flight: self.in_flight,
            changes,
            moves: self.moves,
            zones: self.zones,
            kinds,
        }
    }

    /// Leads at steps up to index `i` (they have it ahead of them).
    fn up_to(&self, i: usize) -> u64 {
        self.at_index.range(Some(0)..=Some(i)).map(|(_, n)| *n).sum()
    }

    /// What `edit` does to the leads; marks the moves it accounts for.
    fn count(&self, edit: &Edit, attributed: &mut [bool]) -> Counts {
        let mut counts = Counts::default();
        let email_step = |step: &str| {
            self.new.step(step).is_some_and(|s| s.kind == "email")
                || self.old.and_then(|o| o.step(step)).is_some_and(|s| s.kind == "email")
        };
        let mut claim = |counts: &mut Counts, wanted: &dyn Fn(&Move) -> bool| {
            for (m, done) in self.moves.iter().zip(attributed.iter_mut()) {
                if !*done && wanted(m) {
                    *done = true;
                    if m.cause == Cause::Removed {
                        counts.leads += 1;
                        *counts.go_on_at.entry(m.to.step_name().to_string()).or_default() += 1;
                    } else {
                        counts.add_shift(m, self.now);
                    }
                }
            }
        };
        match edit {
            Edit::Removed { step } => claim(&mut counts, &|m| m.cause == Cause::Removed && m.from_step == *step),
            Edit::Wait { step, .. } | Edit::Kind { step, .. } => {
                claim(&mut counts, &|m| m.cause == Cause::Replanned && m.from_step == *step);
                let unmoved = self.unmoved.get(step).copied().unwrap_or(0);
                counts.unchanged += unmoved;
                counts.leads += unmoved;
                if let Some(i) = self.cadence.step_index(step) {
                    counts.ahead = self.up_to(i).saturating_sub(self.at_index.get(&Some(i)).copied().unwrap_or(0));
                }
            }
            Edit::Setting { key: "window", .. } => {
                claim(&mut counts, &|m| m.cause == Cause::Replanned && email_step(&m.from_step));
            }
            Edit::Setting { key: "calendar", .. } => claim(&mut counts, &|m| m.cause == Cause::Replanned),
            Edit::Added { step, .. } | Edit::Text { step, .. } => {
                if let Some(i) = self.cadence.step_index(step) {
                    counts.ahead = self.up_to(i);
                    counts.past = self.in_flight.saturating_sub(counts.ahead);
                    counts.leads = counts.ahead;
                }
            }
            Edit::StepSetting { .. } | Edit::Reordered | Edit::Setting { .. } | Edit::Replanned { .. } => {}
        }
        counts
    }
}

/// Business days of `lead`'s calendar from `from`'s local date to `to`'s
/// (negative when earlier); `None` beyond a year.
fn business_days(from: DateTime<Utc>, to: DateTime<Utc>, lead: LeadTime<'_>) -> Option<i64> {
    let a = from.with_timezone(&lead.tz).date_naive();
    let b = to.with_timezone(&lead.tz).date_naive();
    let (mut day, end, sign) = if b >= a { (a, b, 1) } else { (b, a, -1) };
    if (end - day).num_days() > 366 {
        return None;
    }
    let mut n = 0;
    while day < end {
        day = day.succ_opt()?;
        if lead.calendar.is_workday(day) {
            n += 1;
        }
    }
    Some(sign * n)
}
