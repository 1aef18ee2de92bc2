//! Getting an email out: building the message, and the two transports behind
//! one small trait (SMTP, or `.eml` files in an outbox folder). A transport
//! tells apart what certainly did not leave (retry later), what the server
//! refused for good, and what may or may not have left.

mod outbox;
mod smtp;

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes};

use crate::config::{self, Transport as TransportConfig};

pub use outbox::Outbox;
pub use smtp::{DiagStep, Smtp};

/// Sends `message` through `mailbox` step by step (for `cadenced test-send`).
pub fn diagnose(mailbox: &config::Mailbox, message: &Message) -> Vec<DiagStep> {
    match &mailbox.transport {
        TransportConfig::Smtp(settings) => smtp::diagnose(settings, &mailbox.from, message),
        TransportConfig::Outbox(dir) => {
            let result = Outbox::new(dir.clone()).send(message, "test-message");
            vec![DiagStep {
                what: format!("write {}", dir.join("test-message.eml").display()),
                ok: result.is_ok(),
                detail: result.map_or_else(|e| e.to_string(), |()| "written".into()),
            }]
        }
    }
}

/// Why a send did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The mailbox cannot be reached at all (connection refused, TLS or login
    /// failed, outbox folder unwritable): nothing was sent, nothing else will go now.
    #[error("mailbox unavailable: {0}")]
    Unavailable(String),
    /// Certainly not sent (a 4xx reply to this message): try again later.
    #[error("temporary failure: {0}")]
    Temporary(String),
    /// Refused for good (5xx reply, invalid address).
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The connection broke after the message may have been accepted.
    #[error("outcome unknown: {0}")]
    Uncertain(String),
}

/// How a send that failed ended: the one conversion from the transport's
/// error to what the tick records ([`crate::core::decide::settle`]).
impl From<SendError> for crate::model::Ended {
    fn from(e: SendError) -> Self {
        use crate::model::Ended;
        match e {
            SendError::Permanent(reply) => Ended::Refused(reply),
            SendError::Uncertain(why) => Ended::Uncertain(why),
            SendError::Unavailable(why) => Ended::Unavailable(why),
            SendError::Temporary(why) => Ended::Temporary(why),
        }
    }
}

/// A way out for built messages.
pub trait Transport: Send {
    /// Sends `message`; `label` names it for files and logs.
    fn send(&mut self, message: &Message, label: &str) -> Result<(), SendError>;
    /// Ends the session (QUIT) at the end of a tick.
    fn close(&mut self) {}
}

/// The transport a mailbox's settings ask for.
pub fn transport_for(mailbox: &config::Mailbox) -> Box<dyn Transport> {
    match &mailbox.transport {
        TransportConfig::Outbox(dir) => Box::new(Outbox::new(dir.clone())),
        TransportConfig::Smtp(settings) => Box::new(Smtp::new(settings.clone(), &mailbox.from)),
    }
}

/// One email about to leave.
#[derive(Debug, Clone)]
pub struct Email<'a> {
    pub from: &'a Mailbox,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub message_id: &'a str,
    pub date: DateTime<Utc>,
}

/// Builds the RFC 5322 message. Fails (permanently) only on an address lettre
/// cannot parse; line breaks in the subject are folded into spaces so that no
/// field value can ever add a header.
pub fn build(email: &Email<'_>) -> Result<Message, SendError> {
    let to: Mailboxes =
        email.to.parse().map_err(|e| SendError::Permanent(format!("invalid recipient address {:?}: {e}", email.to)))?;
    let subject: String =
        email.subject.split(['\r', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    let date: SystemTime = email.date.into();
    let mut builder = Message::builder()
        .from(email.from.clone())
        .subject(subject)
        .date(date)
        .message_id(Some(email.message_id.to_string()))
        .header(ContentType::TEXT_PLAIN);
    for mailbox in to {
        builder = builder.to(mailbox);
    }
    builder.body(email.body.to_string()).map_err(|e| SendError::Permanent(format!("cannot build message: {e}")))
}

/// `<instance.touchpoint@domain>`: derived from the touchpoint, so a send can be
/// recognised later (in the sent folder, in a reply's In-Reply-To).
pub fn message_id(instance: &str, touchpoint_id: i64, from: &Mailbox) -> String {
    format!("<{instance}.{touchpoint_id}@{}>", from.email.domain())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> Mailbox {
        "Ada <ada@seller.test>".parse().unwrap()
    }

    #[test]
    fn subject_line_breaks_cannot_add_headers() {
        let from = from();
        let email = Email {
            from: &from,
            to: "jane@acme.test",
            subject: "Hi\r\nBcc: evil@x.test",
            body: "Hello",
            message_id: "<a.1@seller.test>",
            date: crate::time::parse_instant("2026-03-02T14:00:00Z").unwrap(),
        };
        let text = String::from_utf8(build(&email).unwrap().formatted()).unwrap();
        assert!(!text.lines().any(|l| l.starts_with("Bcc:")), "{text}");
        assert!(text.contains("Subject: Hi Bcc: evil@x.test"), "{text}");
        assert!(text.contains("Message-ID: <a.1@seller.test>"), "{text}");
    }

    #[test]
    fn invalid_recipient_is_permanent() {
        let from = from();
        let email = Email {
            from: &from,
            to: "not an address",
            subject: "s",
            body: "b",
            message_id: "<a.1@seller.test>",
            date: Utc::now(),
        };
        assert!(matches!(build(&email), Err(SendError::Permanent(_))));
    }

    #[test]
    fn message_id_names_instance_touchpoint_and_domain() {
        assert_eq!(message_id("abc", 42, &from()), "<abc.42@seller.test>");
    }
}
