//! The domain model: the words the pure core ([`crate::core`]), the tick and
//! the store share (an enrollment's state, a touchpoint's status, where a lead
//! goes next, a due step, what inbound mail does). Plain data: no I/O, no
//! clock, no SQL. The store reads and writes these; the core decides with them.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::cadence::Fields;
use crate::core::schedule::Calendar;

/// Enrollment state, as in SPEC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Active,
    Paused,
    Finished,
    Stopped,
    Replied,
    Bounced,
    Unsubscribed,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Active,
        State::Paused,
        State::Finished,
        State::Stopped,
        State::Replied,
        State::Bounced,
        State::Unsubscribed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Paused => "paused",
            State::Finished => "finished",
            State::Stopped => "stopped",
            State::Replied => "replied",
            State::Bounced => "bounced",
            State::Unsubscribed => "unsubscribed",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Touchpoint status, as in SPEC, plus `sending` while a send is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Sending,
    Sent,
    Skipped,
    Failed,
    Uncertain,
    Open,
    Done,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
            Status::Uncertain => "uncertain",
            Status::Open => "open",
            Status::Done => "done",
        }
    }
}

/// An active enrollment whose next step is due.
#[derive(Debug, Clone)]
pub struct DueStep {
    pub enrollment_id: i64,
    pub lead_id: i64,
    pub email: String,
    pub fields: Fields,
    pub timezone: Option<String>,
    pub cadence: String,
    pub step: String,
    pub due_at: DateTime<Utc>,
    /// The plain planned time (previous step + wait), before windows and pacing.
    pub planned_at: DateTime<Utc>,
    /// Why `due_at` is later than `planned_at`, if it is.
    pub reason: Option<String>,
    pub attempts: u32,
    pub owner: Option<String>,
    /// The open blocking task the enrollment waits for: `due_at` is then its expiry.
    pub task_id: Option<i64>,
}

/// What happens to an enrollment after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Step {
        id: String,
        due_at: DateTime<Utc>,
        planned_at: DateTime<Utc>,
        reason: Option<String>,
    },
    /// Stay on the step until its task (the touchpoint being completed)
    /// is closed, or expires at `until`.
    Block {
        until: Option<DateTime<Utc>>,
    },
    Finished,
    /// The enrollment ends in this state (bounced, ...).
    End(State),
    /// Paused for a person, with the reason.
    Hold(String),
    /// Moves on as `next` says, then pauses for a person, with the reason
    /// (`on_uncertain = "hold"`).
    ThenHold(Box<Next>, String),
}

/// The outcome of a claimed step.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub at: DateTime<Utc>,
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub detail: Option<String>,
    /// Why it happened later than planned (window, holiday, daily_limit, min_gap, downtime, late, retry).
    pub reason: Option<String>,
}

/// What an inbound message does to its lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing (no lead, or a kind that changes nothing).
    None,
    /// The lead replied: these cadences (those whose stop_on has reply) stop as `replied`.
    Replied { cadences: Vec<String> },
    /// Out of office: active enrollments pause until `until`.
    Away { until: DateTime<Utc> },
    /// Every enrollment ends in `state` and the address is suppressed.
    Suppress { state: &'static str },
    /// A temporary bounce: recorded only.
    Noted,
}

/// An open task (or, with `status`, a closed one).
#[derive(Debug, Clone)]
pub struct Task {
    pub id: i64,
    pub email: String,
    pub fields: Fields,
    pub timezone: Option<String>,
    pub cadence: String,
    pub step: String,
    pub kind: String,
    pub owner: Option<String>,
    /// When it fell due (opened).
    pub due_at: DateTime<Utc>,
    pub body: Option<String>,
    pub status: String,
    /// The enrollment waits for it to be closed.
    pub blocking: bool,
}

/// A lead's own time: its zone and the calendar that applies to it.
#[derive(Debug, Clone, Copy)]
pub struct LeadTime<'a> {
    pub tz: Tz,
    pub calendar: &'a Calendar,
}
