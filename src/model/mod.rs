//! The domain model: the words the pure core ([`crate::core`]), the tick and
//! the store share (an enrollment's state, a touchpoint's status, where a lead
//! goes next, a due step, what inbound mail does). Plain data: no I/O, no
//! clock, no SQL. The store reads and writes these; the core decides with them.
//! A send's words are in [`sending`], inbound mail's in [`inbound`].

mod dns;
mod inbound;
mod sending;

pub use dns::{Answer, DnsError, Mx};
pub use inbound::{Blame, BounceReason, InboundKind, Matched};
pub use sending::{Ended, Refusal, Rejection, Reply, Sent, Settled, message_id, reply_subject};

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::schedule::Calendar;

/// A lead's fields: `first_name`, `company`, ... (plus `email` when rendering).
pub type Fields = std::collections::BTreeMap<String, String>;

/// What to do after a send whose outcome is unknown (the process died or the
/// connection broke mid-send): never send it again, and then...
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUncertain {
    /// ...go on with the cadence (the default).
    #[default]
    Continue,
    /// ...pause the enrollment until a person checks and resumes it.
    Hold,
}

/// An `on_uncertain` value that is neither `continue` nor `hold`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?} (expected \"continue\" or \"hold\")")]
pub struct UnknownOnUncertain(pub String);

impl OnUncertain {
    pub fn parse(text: &str) -> Result<OnUncertain, UnknownOnUncertain> {
        match text {
            "continue" => Ok(OnUncertain::Continue),
            "hold" => Ok(OnUncertain::Hold),
            other => Err(UnknownOnUncertain(other.to_string())),
        }
    }
}

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

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for State {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
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

    pub fn parse(text: &str) -> Option<Status> {
        [Status::Sending, Status::Sent, Status::Skipped, Status::Failed, Status::Uncertain, Status::Open, Status::Done]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a step happened later than planned, or not at all: recorded with the
/// touchpoint and, while the step is pending, with its enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Its planned time was outside the send window.
    Window,
    /// The window's earlier slot was on a holiday or a day off of the calendar.
    Holiday,
    /// The mailbox's `min_gap` since its previous send.
    MinGap,
    /// The mailbox's `daily_limit` was reached.
    DailyLimit,
    /// Nothing ran when it fell due.
    Downtime,
    /// Skipped: it could not go out within the cadence's `late_after`.
    Late,
    /// Tried again after a temporary failure.
    Retry,
    /// Skipped: its step was removed from the cadence.
    Removed,
    /// Skipped: a task nobody closed within `auto_skip_after`.
    Expired,
    /// Skipped: the lead is in the step's holdout (`holdout = 0.1`).
    Holdout,
}

impl Reason {
    const ALL: [Reason; 10] = [
        Reason::Window,
        Reason::Holiday,
        Reason::MinGap,
        Reason::DailyLimit,
        Reason::Downtime,
        Reason::Late,
        Reason::Retry,
        Reason::Removed,
        Reason::Expired,
        Reason::Holdout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Window => "window",
            Reason::Holiday => "holiday",
            Reason::MinGap => "min_gap",
            Reason::DailyLimit => "daily_limit",
            Reason::Downtime => "downtime",
            Reason::Late => "late",
            Reason::Retry => "retry",
            Reason::Removed => "removed",
            Reason::Expired => "expired",
            Reason::Holdout => "holdout",
        }
    }

    pub fn parse(text: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// How much a cause of delay weighs when telling why a step is late: of
    /// two causes, the weightier is the one worth telling (a step held by the
    /// daily limit and then by the window is late because of the limit).
    /// Not a cause of delay: `None`, outweighed by any that is.
    pub fn weight(self) -> Option<u8> {
        match self {
            Reason::Window => Some(1),
            Reason::Holiday => Some(2),
            Reason::MinGap => Some(3),
            Reason::DailyLimit => Some(4),
            Reason::Downtime => Some(5),
            Reason::Late | Reason::Retry | Reason::Removed | Reason::Expired | Reason::Holdout => None,
        }
    }

    /// Of the cause recorded before (`old`) and a new one, the weightier.
    pub fn weightier(old: Option<Reason>, new: Reason) -> Reason {
        match old {
            Some(old) if old.weight() > new.weight() => old,
            _ => new,
        }
    }
}

impl From<crate::schedule::Delay> for Reason {
    fn from(delay: crate::schedule::Delay) -> Reason {
        match delay {
            crate::schedule::Delay::Window => Reason::Window,
            crate::schedule::Delay::Holiday => Reason::Holiday,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
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
    pub reason: Option<Reason>,
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
        reason: Option<Reason>,
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
    /// Why it happened later than planned, or was skipped.
    pub reason: Option<Reason>,
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
    /// Every enrollment ends in `state` (bounced or unsubscribed) and the
    /// address is suppressed.
    Suppress { state: State },
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
    pub status: Status,
    /// The enrollment waits for it to be closed.
    pub blocking: bool,
}

/// A lead's own time: its zone and the calendar that applies to it.
#[derive(Debug, Clone, Copy)]
pub struct LeadTime<'a> {
    pub tz: Tz,
    pub calendar: &'a Calendar,
}

/// Why a mailbox paused itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseCause {
    /// Too many refusals aimed at the sender: a person checks, then
    /// `cadenced mailboxes resume NAME`.
    Refusals,
    /// Its OAuth sign-in was lost (`invalid_grant`) or never made:
    /// `cadenced login NAME` resumes it.
    SignIn,
    /// The database was restored: held until its Sent folder is reconciled,
    /// or an operator confirms it cannot be (`cadenced reconcile`).
    Restore,
}

impl PauseCause {
    pub fn as_str(self) -> &'static str {
        match self {
            PauseCause::Refusals => "refusals",
            PauseCause::SignIn => "sign_in",
            PauseCause::Restore => "restore",
        }
    }

    /// The stored word; an unknown one reads as the older kind.
    pub fn parse(text: &str) -> PauseCause {
        match text {
            "sign_in" => PauseCause::SignIn,
            "restore" => PauseCause::Restore,
            _ => PauseCause::Refusals,
        }
    }
}

/// When an owner gets the digest of their tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Digest {
    /// One per working day, at the first slot of the owner's window.
    StartOfWindow,
    /// At each slot of this cron schedule (in the owner's zone).
    Schedule(Box<crate::schedule::Window>),
    /// No reminder emails: the owner uses `cadenced tasks`.
    Off,
}

/// The person who does a lead's manual steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub address: String,
    pub timezone: Tz,
    /// Working hours; the digest comes at their start by default.
    pub window: crate::schedule::Window,
    pub digest: Digest,
    /// The mailbox that sends this owner's digests (default: that of the
    /// cadence of their oldest open task).
    pub mailbox: Option<String>,
}
