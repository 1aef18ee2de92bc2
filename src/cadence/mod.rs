//! Cadence files: `cadences/<name>.toml` parsed into a checked [`Cadence`]
//! (steps, waits, send window, compiled templates). Nothing here touches the
//! database or the clock. This file holds the checked types; [`parse`] reads
//! one file into them and [`folder`] loads the folder.

mod folder;
mod parse;
mod templates;

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;

use crate::schedule::{Wait, Window};

pub use folder::Cadences;

/// What cadence files are read against: where they live, the configured
/// mailboxes and calendars. The checked config is one
/// ([`crate::config::Config`]); the cadences know nothing else of it.
pub trait Setting {
    /// The folder of `*.toml` cadence files.
    fn cadences_dir(&self) -> &std::path::Path;
    /// The configured mailboxes' names, in order.
    fn mailbox_names(&self) -> Vec<&str>;
    /// The configured calendars' names, in order.
    fn calendar_names(&self) -> Vec<&str>;
    /// Whether mailbox `name` names an owner for its leads.
    fn mailbox_has_owner(&self, name: &str) -> bool;
}

pub use templates::{BODY_LIMIT, Fields, RenderError, Rendered, SUBJECT_LIMIT, Templates};

/// What a step asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Email,
    Call,
    Linkedin,
    Task,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Email => "email",
            StepKind::Call => "call",
            StepKind::Linkedin => "linkedin",
            StepKind::Task => "task",
        }
    }

    /// The kind for people: `email`, `call`, `LinkedIn touch`, `task`.
    pub fn word(self) -> &'static str {
        match self {
            StepKind::Email => "email",
            StepKind::Call => "call",
            StepKind::Linkedin => "LinkedIn touch",
            StepKind::Task => "task",
        }
    }

    fn parse(text: &str) -> Option<StepKind> {
        Some(match text {
            "email" => StepKind::Email,
            "call" => StepKind::Call,
            "linkedin" => StepKind::Linkedin,
            "task" => StepKind::Task,
            _ => return None,
        })
    }
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One touchpoint of a cadence.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub wait: Wait,
    pub kind: StepKind,
    /// Manual steps: the cadence waits until the task is closed (default).
    pub blocking: bool,
    /// Manual steps: an untouched task is skipped (`expired`) this long after it opened.
    pub auto_skip_after: Option<Wait>,
    /// An email step without a subject: a reply in the thread of the lead's
    /// previous email in the cadence (`Re: ` its subject, `In-Reply-To`, `References`).
    pub threaded: bool,
    /// Versions of the step (`[[steps.variants]]`): each lead gets one,
    /// chosen stably (by `core::variants`). Empty: the step's own text.
    pub variants: Vec<Variant>,
    /// The share of leads that skip the step (recorded skipped, reason `holdout`).
    pub holdout: Option<f64>,
    /// No winner among the variants before each reached this many leads.
    pub min_sample: u64,
    /// Once a winner is declared, new leads reaching the step get only it.
    pub pick_winner: bool,
}

/// One version of a step: its own subject and/or body (the step's where absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub id: String,
    pub weight: f64,
}

/// `min_sample` when a step does not set it.
pub const DEFAULT_MIN_SAMPLE: u64 = 100;

impl Step {
    /// The name its templates are compiled under for `variant` (see
    /// [`Templates`]): `step@variant`, or the step's own id without one.
    pub fn template_key(&self, variant: Option<&str>) -> String {
        match variant {
            Some(v) if self.variants.iter().any(|x| x.id == v) => format!("{}@{v}", self.id),
            _ => self.id.clone(),
        }
    }
}

/// Inbound events that end a lead's enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StopOn {
    Reply,
    Bounce,
    Unsubscribe,
    /// A reply from anyone at the lead's company (its address's domain, not
    /// a free-mail one) stops every lead of that domain in the cadence.
    DomainReply,
}

/// A checked cadence: every step valid, every template compiled.
#[derive(Debug)]
pub struct Cadence {
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub mailbox: String,
    pub window: Option<Window>,
    /// Name of the calendar of its leads that have none of their own.
    pub calendar: Option<String>,
    /// A step that would go out later than this past its planned time is skipped.
    pub late_after: Option<Wait>,
    /// Owner of its leads that name none (before the mailbox's).
    pub owner: Option<String>,
    /// After an uncertain send; the config's when unset.
    pub on_uncertain: Option<crate::model::OnUncertain>,
    pub stop_on: BTreeSet<StopOn>,
    pub steps: Vec<Step>,
    pub templates: Templates,
}

impl Cadence {
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// The names of every step's templates, its variants' included: what
    /// a lead must render to be enrolled.
    pub fn template_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for step in &self.steps {
            if step.variants.is_empty() {
                keys.push(step.id.clone());
            }
            keys.extend(step.variants.iter().map(|v| step.template_key(Some(&v.id))));
        }
        keys
    }

    /// The window that applies to `step`: emails wait for the send window,
    /// manual steps fall due at their plain time.
    pub fn window_for(&self, step: &Step) -> Option<&Window> {
        if step.kind == StepKind::Email { self.window.as_ref() } else { None }
    }

    /// The manual steps (call, linkedin, task) that have no owner unless each
    /// lead brings one in its `owner` field: neither the cadence nor its
    /// mailbox names an `owner`, so their tasks list `owner -` and no
    /// reminder goes out. Empty when an owner is set or no step is manual.
    pub fn unowned_manual_steps(&self, config: &(impl Setting + ?Sized)) -> Vec<&str> {
        let mailbox_owner = config.mailbox_has_owner(&self.mailbox);
        if self.owner.is_some() || mailbox_owner {
            return Vec::new();
        }
        self.steps.iter().filter(|s| s.kind != StepKind::Email).map(|s| s.id.as_str()).collect()
    }

    /// [`unowned_manual_steps`](Self::unowned_manual_steps) as a warning a
    /// user can act on, or `None` when every manual step has an owner.
    pub fn unowned_warning(&self, config: &(impl Setting + ?Sized)) -> Option<String> {
        let steps = self.unowned_manual_steps(config);
        if steps.is_empty() {
            return None;
        }
        Some(format!(
            "{}: manual step(s) {} have no owner: their tasks get no reminder unless a lead has an owner field; \
             set owner = \"rep@example.com\" in this file or in [mailboxes.{}]",
            self.file.display(),
            steps.join(", "),
            self.mailbox
        ))
    }
}

/// Letters, digits, '-' and '_', not empty.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests;
