//! A send's words: how a claimed send ended ([`Ended`], with a server's
//! [`Rejection`]), what that comes to ([`Settled`]), and the thread an email
//! replies in.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Blame, BounceReason, Next, Reason, Status};

/// How one claimed send ended, as the sending thread saw it; written into
/// the send log, so that a crash loses none of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// The server accepted the message.
    Sent,
    /// Refused for good (5xx, or an address no server could take).
    Refused(Rejection),
    /// Interrupted after the message may have been accepted.
    Uncertain(String),
    /// The mailbox could not be reached: nothing left.
    Unavailable(String),
    /// A 4xx for this message: nothing left.
    Temporary(String),
    /// Not tried (the tick was stopping, or its mailbox went down earlier in
    /// the tick): nothing left.
    NotTried(String),
}

/// What a claimed send that ended comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Recorded with this status, and the enrollment moves on as `next` says;
    /// with `suppress` the address is dead: every enrollment of the lead
    /// ends as bounced and the address is suppressed.
    Record { status: Status, detail: Option<String>, reason: Option<Reason>, next: Next, suppress: bool },
    /// Nothing left: due again at `retry_at`; with `count` it uses up one of
    /// the step's attempts (a 4xx for this message; a mailbox outage does not).
    Retry { retry_at: DateTime<Utc>, error: String, count: bool },
    /// Never tried: the claim is given back and the step stays due.
    GiveBack,
}

/// A message refused for good, as the transport reported it: the server's
/// reply code and words, or no code for a refusal of our own (an address
/// that cannot be sent to). Shown as lettre shows a reply: `permanent error
/// (550): 5.1.1 <x>: User unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RejectionRecord")]
pub struct Rejection {
    pub code: Option<u16>,
    pub text: String,
}

impl Rejection {
    /// The server refused with reply `code` and these words.
    pub fn smtp(code: u16, text: impl Into<String>) -> Rejection {
        Rejection { code: Some(code), text: text.into() }
    }

    /// Refused before any server answered.
    pub fn ours(text: impl Into<String>) -> Rejection {
        Rejection { code: None, text: text.into() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "permanent error ({code}): {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}

/// A rejection as a send log holds it: since the code is kept, an object;
/// before, the reply as shown (read back once, for a log written by the
/// version before across an upgrade).
#[derive(Deserialize)]
#[serde(untagged)]
enum RejectionRecord {
    Kept { code: Option<u16>, text: String },
    Shown(String),
}

impl From<RejectionRecord> for Rejection {
    fn from(record: RejectionRecord) -> Rejection {
        match record {
            RejectionRecord::Kept { code, text } => Rejection { code, text },
            RejectionRecord::Shown(reply) => {
                let code =
                    reply.strip_prefix("permanent error (").and_then(|rest| rest.get(..3)).and_then(|c| c.parse().ok());
                let text = match code {
                    Some(_) => reply.get("permanent error (550): ".len()..).unwrap_or_default().to_string(),
                    None => reply,
                };
                Rejection { code, text }
            }
        }
    }
}

/// A refusal met while sending (a 5xx reply to RCPT or DATA): why, and
/// whom it blames (read by [`crate::inbound::refusal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: BounceReason,
    pub blame: Blame,
    /// The server's reply, as the transport reported it.
    pub reply: String,
}

/// An email the lead was sent earlier in a cadence: what a reply in its
/// thread refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message_id: String,
    pub subject: String,
}

/// How an email answers the thread it is part of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The Message-ID of the email it answers.
    pub in_reply_to: String,
    /// The thread's Message-IDs, oldest first.
    pub references: Vec<String>,
}

/// `Re: ` and the subject, without piling up `Re: Re: `.
pub fn reply_subject(subject: &str) -> String {
    let mut rest = subject.trim();
    while let Some(stripped) = rest.get(..3).filter(|p| p.eq_ignore_ascii_case("re:")).map(|_| rest[3..].trim_start()) {
        rest = stripped;
    }
    format!("Re: {rest}")
}

/// `<instance.touchpoint@domain>`: the Message-ID of the email of touchpoint
/// `touchpoint_id`, derived from it so that a send can be recognised later
/// (in the sent folder, in a reply's In-Reply-To).
pub fn message_id(instance: &str, touchpoint_id: i64, domain: &str) -> String {
    format!("<{instance}.{touchpoint_id}@{domain}>")
}
