//! PURE: what an edit of a cadence file does to the leads in flight, before
//! and when it takes effect (`cadenced check --plan`, and the daemon's reload).
//!
//! The database keeps a [`Snapshot`] of each cadence as it was loaded (its
//! step ids, kinds, waits, window and texts): what its leads were planned
//! against. [`edits`] compares one with the file on disk; an [`Analysis`]
//! then takes the cadence's in-flight leads one at a time and tells where
//! each goes:
//!
//! * A lead waiting for a step that is gone is skipped on at that step's due
//!   time, exactly as the tick does it ([`plan::after_removed`]): it goes on
//!   at the first later step it has not had, planned from the skip.
//! * A lead waiting for a step whose timing changed (its wait or kind, the
//!   window, the calendar) is planned again from its last touch with the
//!   new cadence ([`plan::next`]); loading the edit writes that plan.
//! * Steps added, texts changed and other settings only need counting.
//!
//! No clock, no database: the caller hands in the leads, their touchpoints
//! and `now`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cadence::{Cadence, Fields, StepKind};
use crate::core::plan;
use crate::core::schedule::Wait;
use crate::model::{LeadTime, Next, Reason, State};
use crate::time::rfc3339;

/// What a cadence looked like when it was loaded: what tells whether its
/// leads' plans still hold. Stored as JSON; fields may be added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub mailbox: String,
    #[serde(default)]
    pub window: Option<String>,
    #[serde(default)]
    pub calendar: Option<String>,
    #[serde(default)]
    pub late_after: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub stop_on: Vec<String>,
    #[serde(default)]
    pub on_uncertain: Option<String>,
    pub steps: Vec<StepSnapshot>,
}

/// One step of a [`Snapshot`], with its subject and body as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSnapshot {
    pub id: String,
    pub kind: String,
    pub wait: String,
    #[serde(default = "yes")]
    pub blocking: bool,
    #[serde(default)]
    pub auto_skip_after: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub body: String,
}

fn yes() -> bool {
    true
}

/// `DomainReply` -> `domain_reply`: the names the files use.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl Snapshot {
    pub fn of(c: &Cadence) -> Snapshot {
        Snapshot {
            mailbox: c.mailbox.clone(),
            window: c.window.as_ref().map(ToString::to_string),
            calendar: c.calendar.clone(),
            late_after: c.late_after.map(|w| w.to_string()),
            owner: c.owner.clone(),
            stop_on: c.stop_on.iter().map(|s| snake(&format!("{s:?}"))).collect(),
            on_uncertain: c.on_uncertain.map(|o| snake(&format!("{o:?}"))),
            steps: c
                .steps
                .iter()
                .map(|s| StepSnapshot {
                    id: s.id.clone(),
                    kind: s.kind.as_str().to_string(),
                    wait: s.wait.to_string(),
                    blocking: s.blocking,
                    auto_skip_after: s.auto_skip_after.map(|w| w.to_string()),
                    subject: c.templates.source(&s.id, "subject").map(str::to_string),
                    body: c.templates.source(&s.id, "body").unwrap_or_default().to_string(),
                })
                .collect(),
        }
    }

    fn step(&self, id: &str) -> Option<&StepSnapshot> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// What decides when step `id` falls due: its wait, the window when it
    /// is an email (manual steps fall due at their plain time), the calendar.
    fn timing(&self, id: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
        let step = self.step(id)?;
        let window = if step.kind == "email" { self.window.as_deref() } else { None };
        Some((step.wait.as_str(), window, self.calendar.as_deref()))
    }
}

/// One difference between a [`Snapshot`] and the cadence on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// A new step, after `after` (`None`: first).
    Added {
        step: String,
        after: Option<String>,
    },
    Removed {
        step: String,
    },
    Wait {
        step: String,
        from: String,
        to: String,
    },
    Kind {
        step: String,
        from: String,
        to: String,
    },
    /// Its subject or body text changed (a subject added or dropped changes
    /// whether the email opens a thread or answers one).
    Text {
        step: String,
        part: &'static str,
    },
    /// `blocking` or `auto_skip_after` of a manual step.
    StepSetting {
        step: String,
        key: &'static str,
        from: String,
        to: String,
    },
    /// The steps the two versions share come in another order.
    Reordered,
    /// A cadence setting: window, calendar, mailbox, late_after, owner, stop_on, on_uncertain.
    Setting {
        key: &'static str,
        from: Option<String>,
        to: Option<String>,
    },
    /// Not an edit of the file: leads of `step` planned against a version
    /// other than the one recorded, which the file on disk plans differently.
    Replanned {
        step: String,
    },
}

impl Edit {
    /// `bump-1 wait 2bd → 3bd`: the edit, for people.
    pub fn describe(&self) -> String {
        let shown = |v: &Option<String>| v.as_ref().map_or_else(|| "none".to_string(), |v| format!("{v:?}"));
        match self {
            Edit::Added { step, after: Some(after) } => format!("{step} added after {after}"),
            Edit::Added { step, after: None } => format!("{step} added as the first step"),
            Edit::Removed { step } => format!("{step} removed"),
            Edit::Wait { step, from, to } => format!("{step} wait {from} → {to}"),
            Edit::Kind { step, from, to } => format!("{step} kind {from} → {to}"),
            Edit::Text { step, part } => format!("{step} {part} changed"),
            Edit::StepSetting { step, key, from, to } => format!("{step} {key} {from} → {to}"),
            Edit::Reordered => "steps reordered".to_string(),
            Edit::Setting { key, from, to } => format!("{key} {} → {}", shown(from), shown(to)),
            Edit::Replanned { step } => format!("{step} planned again"),
        }
    }

    /// The edit's JSON: `{"change": ..., "step": ..., "from": ..., "to": ...}`.
    fn to_json(&self) -> Value {
        match self {
            Edit::Added { step, after } => json!({"change": "added", "step": step, "after": after}),
            Edit::Removed { step } => json!({"change": "removed", "step": step}),
            Edit::Wait { step, from, to } => json!({"change": "wait", "step": step, "from": from, "to": to}),
            Edit::Kind { step, from, to } => json!({"change": "kind", "step": step, "from": from, "to": to}),
            Edit::Text { step, part } => json!({"change": part, "step": step}),
            Edit::StepSetting { step, key, from, to } => json!({"change": key, "step": step, "from": from, "to": to}),
            Edit::Reordered => json!({"change": "order"}),
            Edit::Setting { key, from, to } => json!({"change": key, "from": from, "to": to}),
            Edit::Replanned { step } => json!({"change": "replanned", "step": step}),
        }
    }

    /// The step it is about, if it is about one.
    fn step(&self) -> Option<&str> {
        match self {
            Edit::Added { step, .. }
            | Edit::Removed { step }
            | Edit::Wait { step, .. }
            | Edit::Kind { step, .. }
            | Edit::Text { step, .. }
            | Edit::StepSetting { step, .. }
            | Edit::Replanned { step } => Some(step),
            Edit::Reordered | Edit::Setting { .. } => None,
        }
    }
}

/// Every difference from `old` (what the leads were planned against) to `new`.
pub fn edits(old: &Snapshot, new: &Snapshot) -> Vec<Edit> {
    let mut out = Vec::new();
    let settings: [(&'static str, Option<String>, Option<String>); 7] = [
        ("window", old.window.clone(), new.window.clone()),
        ("calendar", old.calendar.clone(), new.calendar.clone()),
        ("mailbox", Some(old.mailbox.clone()), Some(new.mailbox.clone())),
        ("late_after", old.late_after.clone(), new.late_after.clone()),
        ("owner", old.owner.clone(), new.owner.clone()),
        ("stop_on", Some(old.stop_on.join(", ")), Some(new.stop_on.join(", "))),
        ("on_uncertain", old.on_uncertain.clone(), new.on_uncertain.clone()),
    ];
    for (key, from, to) in settings {
        if from != to {
            out.push(Edit::Setting { key, from, to });
        }
    }
    for s in &old.steps {
        if new.step(&s.id).is_none() {
            out.push(Edit::Removed { step: s.id.clone() });
        }
    }
    for (i, s) in new.steps.iter().enumerate() {
        let Some(o) = old.step(&s.id) else {
            let after = i.checked_sub(1).map(|p| new.steps[p].id.clone());
            out.push(Edit::Added { step: s.id.clone(), after });
            continue;
        };
        let step = || s.id.clone();
        if o.wait != s.wait {
            out.push(Edit::Wait { step: step(), from: o.wait.clone(), to: s.wait.clone() });
        }
        if o.kind != s.kind {
            out.push(Edit::Kind { step: step(), from: o.kind.clone(), to: s.kind.clone() });
        }
        if o.subject != s.subject {
            out.push(Edit::Text { step: step(), part: "subject" });
        }
        if o.body != s.body {
            out.push(Edit::Text { step: step(), part: "body" });
        }
        if o.blocking != s.blocking {
            out.push(Edit::StepSetting {
                step: step(),
                key: "blocking",
                from: o.blocking.to_string(),
                to: s.blocking.to_string(),
            });
        }
        if o.auto_skip_after != s.auto_skip_after {
            let shown = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
            out.push(Edit::StepSetting {
                step: step(),
                key: "auto_skip_after",
                from: shown(&o.auto_skip_after),
                to: shown(&s.auto_skip_after),
            });
        }
    }
    let shared_old: Vec<&str> = old.steps.iter().filter(|s| new.step(&s.id).is_some()).map(|s| s.id.as_str()).collect();
    let shared_new: Vec<&str> = new.steps.iter().filter(|s| old.step(&s.id).is_some()).map(|s| s.id.as_str()).collect();
    if shared_old != shared_new {
        out.push(Edit::Reordered);
    }
    out
}

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
    fn from_next(next: Next) -> Target {
        match next {
            Next::Step { id, due_at, planned_at, reason } => Target::Step { id, due_at, planned_at, reason },
            Next::Finished => Target::Finished,
            Next::Hold(why) => Target::Held(why),
            Next::End(state) => Target::Held(format!("ends as {state}")),
            Next::Block { .. } | Next::ThenHold(..) => Target::Held("waits for a person".into()),
        }
    }

    fn step_name(&self) -> &str {
        match self {
            Target::Step { id, .. } => id,
            Target::Finished => "finished",
            Target::Held(_) => "held",
        }
    }

    fn due(&self) -> Option<DateTime<Utc>> {
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

    fn to_json(&self, lead_zone: impl Fn(&Move) -> Option<String>) -> Value {
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
    fn add_shift(&mut self, m: &Move, now: DateTime<Utc>) {
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

    fn to_json(&self) -> Value {
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
        let kinds = self.cadence.steps.iter().map(|s| (s.id.clone(), kind_word(s.kind))).collect();
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

/// `1,020`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `3d 2h`, `45m`: a span of time for people.
pub fn span(d: Duration) -> String {
    let mut secs = d.num_seconds().unsigned_abs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    if out.is_empty() { "0m".to_string() } else { out }
}

/// `1 lead`, `1,020 leads`.
fn leads(n: u64) -> String {
    if n == 1 { "1 lead".to_string() } else { format!("{} leads", grouped(n)) }
}

fn business_phrase(n: i64) -> String {
    let k = n.unsigned_abs();
    let count = if k == 1 { "one business day".to_string() } else { format!("{k} business days") };
    format!("{count} {}", if n > 0 { "later" } else { "earlier" })
}

/// How re-planned leads' next steps shift: `1,020 leads' next email one business day later`.
fn shift_phrase(counts: &Counts, what: &str, prefer_business_days: bool) -> String {
    let moved = counts.later + counts.earlier;
    let mut out = if moved == 0 {
        format!("{} waiting for it keep their time", leads(counts.unchanged))
    } else {
        let (min, max) = (counts.min_shift.unwrap_or_default(), counts.max_shift.unwrap_or_default());
        let business = counts.business_days.flatten().filter(|n| *n != 0);
        let how = if counts.earlier == 0 || counts.later == 0 {
            let word = if counts.earlier == 0 { "later" } else { "earlier" };
            match business {
                Some(n) if prefer_business_days || min != max => business_phrase(n),
                _ if min == max => format!("{} {word}", span(min)),
                _ => {
                    let (lo, hi) = if min.abs() <= max.abs() { (min, max) } else { (max, min) };
                    format!("{} to {} {word}", span(lo), span(hi))
                }
            }
        } else {
            format!("moves ({} later, {} earlier)", grouped(counts.later), grouped(counts.earlier))
        };
        let mut s = format!("{}' next {what} {how}", leads(moved));
        if moved == 1 {
            s = s.replacen("1 lead'", "1 lead's", 1);
        }
        if counts.unchanged > 0 {
            let _ = write!(s, ", {} unchanged", grouped(counts.unchanged));
        }
        s
    };
    if counts.due_now > 0 {
        let _ = write!(out, " ({} due at once)", grouped(counts.due_now));
    }
    if counts.held > 0 {
        let _ = write!(out, " ({} cannot be placed and will be held)", grouped(counts.held));
    }
    out
}

impl CadencePlan {
    /// One line per change, each starting with the cadence's name.
    pub fn lines(&self) -> Vec<String> {
        let name = &self.cadence;
        if self.recorded_at.is_none() && self.changes.is_empty() {
            return vec![format!(
                "{name}: no version recorded yet (the next tick or daemon start records it); {} in flight",
                leads(self.in_flight)
            )];
        }
        if self.changes.is_empty() {
            return vec![format!("{name}: no changes ({} in flight)", leads(self.in_flight))];
        }
        let mut out = Vec::new();
        for change in &self.changes {
            let c = &change.counts;
            let what = change.edit.step().and_then(|s| self.kinds.get(s).copied()).unwrap_or("step");
            let line = match &change.edit {
                Edit::Removed { step } if c.leads == 0 => format!("{step} removed (no lead waits for it)"),
                Edit::Removed { step } => {
                    let one = |target: &str, count: Option<u64>| {
                        let n = count.unwrap_or(c.leads);
                        let count = count.map(|n| format!("{} ", grouped(n))).unwrap_or_default();
                        match target {
                            "finished" => format!("{count}{}", if n == 1 { "finishes" } else { "finish" }),
                            "held" => format!("{count}will be held"),
                            t => format!("{count}{} on at {t}", if n == 1 { "goes" } else { "go" }),
                        }
                    };
                    let whither = if c.go_on_at.len() == 1 {
                        c.go_on_at.keys().map(|t| one(t, None)).collect::<String>()
                    } else {
                        c.go_on_at.iter().map(|(t, n)| one(t, Some(*n))).collect::<Vec<_>>().join(", ")
                    };
                    let sep = if c.go_on_at.len() == 1 { " " } else { ": " };
                    if change.earlier {
                        let sep = if c.go_on_at.len() == 1 { " and " } else { ": " };
                        let wait = if c.leads == 1 { "waits" } else { "wait" };
                        format!("{step} (removed earlier): {} still {wait} for it{sep}{whither}", leads(c.leads))
                    } else {
                        format!("{step} removed → {}{sep}{whither}", leads(c.leads))
                    }
                }
                Edit::Wait { .. } | Edit::Kind { .. } => {
                    let bd = matches!(&change.edit, Edit::Wait { from, to, .. } if from.ends_with("bd") && to.ends_with("bd"));
                    let mut line = format!("{}: ", change.edit.describe());
                    if c.leads == 0 {
                        line.push_str("no lead waits for it now");
                    } else {
                        line.push_str(&shift_phrase(c, what, bd));
                    }
                    if c.ahead > 0 {
                        let verb = if c.ahead == 1 { "reaches" } else { "reach" };
                        let _ = write!(line, "; {} {verb} it later", leads(c.ahead));
                    }
                    line
                }
                Edit::Setting { key: "window" | "calendar", .. } | Edit::Replanned { .. } if c.leads > 0 => {
                    format!("{}: {}", change.edit.describe(), shift_phrase(c, what, false))
                }
                Edit::Added { .. } => format!(
                    "{}: {} in flight will get it, {} past it",
                    change.edit.describe(),
                    leads(c.ahead),
                    grouped(c.past)
                ),
                Edit::Text { .. } => {
                    format!("{}: {} have it ahead", change.edit.describe(), leads(c.ahead))
                }
                _ => change.edit.describe(),
            };
            out.push(format!("{name}: {line}"));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        let zone = |m: &Move| self.zones.get(&m.enrollment_id).cloned();
        json!({
            "cadence": self.cadence,
            "file": self.file,
            "recorded_at": self.recorded_at.map(rfc3339),
            "in_flight": self.in_flight,
            "changes": self.changes.iter().map(|c| {
                let mut v = c.edit.to_json();
                if let (Value::Object(map), Value::Object(counts)) = (&mut v, c.counts.to_json()) {
                    map.extend(counts);
                    map.insert("removed_earlier".into(), Value::Bool(c.earlier));
                }
                v
            }).collect::<Vec<_>>(),
            "leads": self.moves.iter().map(|m| m.to_json(zone)).collect::<Vec<_>>(),
        })
    }
}

/// The kind of step `id` names for people: `email`, `call`, `LinkedIn touch`, `task`.
pub fn kind_word(kind: StepKind) -> &'static str {
    match kind {
        StepKind::Email => "email",
        StepKind::Call => "call",
        StepKind::Linkedin => "LinkedIn touch",
        StepKind::Task => "task",
    }
}

/// What loading the cadence files on disk does, cadence by cadence.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub cadences: Vec<CadencePlan>,
    /// Cadences whose file is gone, with their active or paused leads (orphaned until it returns).
    pub gone: Vec<(String, i64)>,
}

impl Plan {
    /// Whether any cadence differs from the version its leads were planned
    /// against, or any lead's plan changes.
    pub fn has_changes(&self) -> bool {
        self.cadences.iter().any(|c| !c.changes.is_empty()) || !self.gone.is_empty()
    }

    /// Every line, one cadence after the other (`nurture: no changes` included).
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.cadences.iter().flat_map(CadencePlan::lines).collect();
        for (cadence, n) in &self.gone {
            out.push(format!(
                "{cadence}: the file is gone → {} wait, orphaned, until it returns",
                leads(u64::try_from(*n).unwrap_or(0))
            ));
        }
        out
    }

    /// The lines of the cadences that changed: what the daemon logs when it reloads.
    pub fn changed_lines(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.cadences.iter().filter(|c| !c.changes.is_empty()).flat_map(CadencePlan::lines).collect();
        for (cadence, n) in &self.gone {
            out.push(format!(
                "{cadence}: the file is gone → {} wait, orphaned, until it returns",
                leads(u64::try_from(*n).unwrap_or(0))
            ));
        }
        out
    }

    pub fn to_json(&self) -> Value {
        json!({
            "cadences": self.cadences.iter().map(CadencePlan::to_json).collect::<Vec<_>>(),
            "gone": self.gone.iter().map(|(c, n)| json!({"cadence": c, "leads": n})).collect::<Vec<_>>(),
            "summary": self.lines(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn snapshot(steps: &[(&str, &str, &str)]) -> Snapshot {
        Snapshot {
            mailbox: "sales".into(),
            window: Some("0 * 9-16 * * Mon-Fri".into()),
            calendar: None,
            late_after: None,
            owner: None,
            stop_on: vec!["reply".into()],
            on_uncertain: None,
            steps: steps
                .iter()
                .map(|(id, kind, wait)| StepSnapshot {
                    id: (*id).into(),
                    kind: (*kind).into(),
                    wait: (*wait).into(),
                    blocking: true,
                    auto_skip_after: None,
                    subject: Some(format!("About {id}")),
                    body: "Hi {{ first_name }}".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn edits_name_each_difference_in_the_order_a_reader_needs() {
        let old = snapshot(&[("intro", "email", "0d"), ("check-in-2", "email", "2bd"), ("bump-1", "email", "2bd")]);
        let mut new = snapshot(&[("intro", "email", "0d"), ("bump-1", "email", "3bd"), ("extra", "call", "1d")]);
        new.window = None;
        new.steps[0].body = "Hello {{ first_name }}".into();
        let got: Vec<String> = edits(&old, &new).iter().map(Edit::describe).collect();
        assert_eq!(
            got,
            [
                "window \"0 * 9-16 * * Mon-Fri\" → none",
                "check-in-2 removed",
                "intro body changed",
                "bump-1 wait 2bd → 3bd",
                "extra added after bump-1",
            ]
        );
        assert!(edits(&old, &old).is_empty());
        let swapped = snapshot(&[("check-in-2", "email", "2bd"), ("intro", "email", "0d"), ("bump-1", "email", "2bd")]);
        assert_eq!(edits(&old, &swapped), [Edit::Reordered]);
    }

    #[test]
    fn snapshots_read_back_with_fields_they_did_not_have() {
        let text = r#"{"mailbox": "sales", "steps": [{"id": "a", "kind": "email", "wait": "1d"}]}"#;
        let s: Snapshot = serde_json::from_str(text).unwrap();
        assert!(s.steps[0].blocking, "steps block unless they say otherwise");
        assert_eq!((s.window, s.steps[0].subject.as_deref()), (None, None));
    }

    fn cadence(waits: [&str; 3]) -> Cadence {
        let config = crate::config::Config::parse(
            std::path::Path::new("/p/config.toml"),
            "[mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"o\"\n",
        )
        .unwrap();
        let source = format!(
            "[[steps]]\nid = \"a\"\nwait = \"{}\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n\
             [[steps]]\nid = \"t\"\nwait = \"{}\"\nkind = \"task\"\nblocking = false\nbody = \"b\"\n\
             [[steps]]\nid = \"b\"\nwait = \"{}\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n",
            waits[0], waits[1], waits[2]
        );
        Cadence::parse(std::path::Path::new("/p/cadences/c.toml"), &source, &config).unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        crate::time::parse_instant(s).unwrap()
    }

    #[test]
    fn a_lead_is_planned_again_from_the_touch_its_step_was_planned_from() {
        // A non-blocking task opened Tuesday 09:00 and closed 14:00: b was planned
        // from the opening, so the new wait counts from there, not from the closing.
        let old = cadence(["0d", "1d", "2d"]);
        let new = cadence(["0d", "1d", "3d"]);
        let old_snapshot = Snapshot::of(&old);
        let calendar = crate::core::schedule::Calendar::default();
        let time = LeadTime { tz: chrono_tz::UTC, calendar: &calendar };
        let lead = InFlight {
            enrollment_id: 1,
            email: "x@acme.test".into(),
            state: State::Active,
            step: "b".into(),
            due_at: Some(t("2026-03-05T09:00:00Z")),
            planned_at: Some(t("2026-03-05T09:00:00Z")),
            waiting_for_task: false,
            enrolled_at: t("2026-03-02T09:00:00Z"),
            timezone: None,
            fields: Fields::new(),
        };
        let touches = [
            Touch { step: "a".into(), at: t("2026-03-02T09:00:00Z"), closed_at: None },
            Touch { step: "t".into(), at: t("2026-03-03T09:00:00Z"), closed_at: Some(t("2026-03-03T14:00:00Z")) },
        ];
        let mut analysis = Analysis::new(&new, Some(&old_snapshot), t("2026-03-04T00:00:00Z"));
        assert!(analysis.needs_history(&lead));
        analysis.add(&lead, &touches, time, time);
        let plan = analysis.finish(Some(t("2026-03-01T00:00:00Z")));
        assert_eq!(plan.moves.len(), 1);
        assert_eq!(plan.moves[0].to.due(), Some(t("2026-03-06T09:00:00Z")));
        assert_eq!(plan.lines(), ["c: b wait 2d → 3d: 1 lead's next email 1d later"]);
        // Against a version it was not planned with, the latest touch is all there is.
        let other = Snapshot::of(&cadence(["0d", "1d", "5d"]));
        let mut unknown = Analysis::new(&new, Some(&other), t("2026-03-04T00:00:00Z"));
        unknown.add(&lead, &touches, time, time);
        assert_eq!(unknown.finish(None).moves[0].to.due(), Some(t("2026-03-06T14:00:00Z")));
    }

    #[test]
    fn shifts_read_as_people_say_them() {
        let mut counts = Counts { later: 1020, leads: 1020, business_days: Some(Some(1)), ..Counts::default() };
        counts.min_shift = Some(Duration::days(1));
        counts.max_shift = Some(Duration::days(3));
        assert_eq!(shift_phrase(&counts, "email", true), "1,020 leads' next email one business day later");
        counts.business_days = Some(None);
        assert_eq!(shift_phrase(&counts, "email", true), "1,020 leads' next email 1d to 3d later");
        counts.max_shift = counts.min_shift;
        counts.unchanged = 4;
        counts.due_now = 0;
        assert_eq!(shift_phrase(&counts, "call", false), "1,020 leads' next call 1d later, 4 unchanged");
        let earlier = Counts {
            earlier: 1,
            leads: 1,
            min_shift: Some(-Duration::hours(44)),
            max_shift: Some(-Duration::hours(44)),
            business_days: Some(Some(-2)),
            due_now: 1,
            ..Counts::default()
        };
        assert_eq!(shift_phrase(&earlier, "email", false), "1 lead's next email 1d 20h earlier (1 due at once)");
        let mixed = Counts { later: 2, earlier: 3, leads: 5, ..Counts::default() };
        assert_eq!(shift_phrase(&mixed, "email", false), "5 leads' next email moves (2 later, 3 earlier)");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(span(Duration::minutes(90)), "1h 30m");
    }
}
