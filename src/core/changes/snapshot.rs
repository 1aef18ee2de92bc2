//! What a cadence looked like when it was loaded ([`Snapshot`]), and every
//! difference between that and the file on disk ([`Edit`], [`edits`]).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cadence::Cadence;

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

    pub(super) fn step(&self, id: &str) -> Option<&StepSnapshot> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// What decides when step `id` falls due: its wait, the window when it
    /// is an email (manual steps fall due at their plain time), the calendar.
    pub(super) fn timing(&self, id: &str) -> Option<(&str, Option<&str>, Option<&str>)> {
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
    pub(super) fn to_json(&self) -> Value {
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
    pub(super) fn step(&self) -> Option<&str> {
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
