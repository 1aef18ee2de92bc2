//! Getting an email out: building the message, and the two transports behind
//! one small trait (SMTP, or `.eml` files in an outbox folder). A transport
//! tells apart what certainly did not leave (retry later), what the server
//! refused for good, and what may or may not have left.

mod outbox;
mod smtp;

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::header::{self, ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Mailboxes};

use crate::config::{self, Delivery};
use crate::model::Reply;

pub use outbox::Outbox;
pub use smtp::{DiagStep, Smtp, probe_tls, prove_login};

/// Sends `message` through `mailbox` step by step (for `cadenced test-send`).
pub fn diagnose(mailbox: &config::Mailbox, message: &Message) -> Vec<DiagStep> {
    match &mailbox.delivery {
        Delivery::Smtp(settings) => smtp::diagnose(settings, &mailbox.from, message),
        Delivery::Outbox(dir) => {
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
    Permanent(crate::model::Rejection),
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
    match &mailbox.delivery {
        Delivery::Outbox(dir) => Box::new(Outbox::new(dir.clone())),
        Delivery::Smtp(settings) => Box::new(Smtp::new(settings.clone(), &mailbox.from)),
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
    /// In reply to an earlier email of the thread (`In-Reply-To`, `References`).
    pub reply: Option<&'a Reply>,
    /// `List-Unsubscribe`'s value (`<mailto:...>`, after `<https://.../u/TOKEN>`
    /// when the HTTP side has a public URL), on every email to a lead.
    pub list_unsubscribe: Option<&'a str>,
    /// `X-Cadenced-Step` (see [`crate::core::restore::step_tag`]): which
    /// cadence and step it is, for reconciling from the Sent folder after a restore.
    pub step_tag: Option<&'a str>,
}

/// Builds the RFC 5322 message (MIME 1.0, plain text). Fails (permanently)
/// only on an address lettre cannot parse; line breaks in the subject are
/// folded into spaces so that no field value can ever add a header.
pub fn build(email: &Email<'_>) -> Result<Message, SendError> {
    let invalid = |e: &dyn std::fmt::Display| {
        SendError::Permanent(crate::model::Rejection::ours(format!("invalid recipient address {:?}: {e}", email.to)))
    };
    let to: Mailboxes = email.to.parse().map_err(|e| invalid(&e))?;
    // An internationalised domain goes out as punycode: no SMTPUTF8 needed for it.
    let to: Vec<Mailbox> = to.into_iter().map(|m| ascii_domain(m, &invalid)).collect::<Result<_, _>>()?;
    let subject = one_line(email.subject);
    let date: SystemTime = email.date.into();
    let mut builder = Message::builder()
        .from(email.from.clone())
        .subject(subject)
        .date(date)
        .message_id(Some(email.message_id.to_string()))
        .header(header::MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN);
    if let Some(reply) = email.reply {
        builder = builder.in_reply_to(reply.in_reply_to.clone()).references(reply.references.join(" "));
    }
    if let Some(value) = email.list_unsubscribe {
        let name = HeaderName::new_from_ascii_str("List-Unsubscribe");
        builder = builder.raw_header(HeaderValue::new(name, one_line(value)));
        // RFC 8058: with an HTTPS link, providers may unsubscribe with one POST.
        if value.contains("<https://") {
            let name = HeaderName::new_from_ascii_str("List-Unsubscribe-Post");
            builder = builder.raw_header(HeaderValue::new(name, "List-Unsubscribe=One-Click".into()));
        }
    }
    if let Some(tag) = email.step_tag {
        let name = HeaderName::new_from_ascii_str(crate::core::restore::STEP_HEADER);
        builder = builder.raw_header(HeaderValue::new(name, one_line(tag)));
    }
    for mailbox in to {
        builder = builder.to(mailbox);
    }
    builder
        .body(email.body.to_string())
        .map_err(|e| SendError::Permanent(crate::model::Rejection::ours(format!("cannot build message: {e}"))))
}

/// `mailbox` with its domain in ASCII (punycode for an internationalised
/// one); `invalid` makes the error of an address that has none.
fn ascii_domain(mailbox: Mailbox, invalid: &dyn Fn(&dyn std::fmt::Display) -> SendError) -> Result<Mailbox, SendError> {
    let domain = mailbox.email.domain();
    if domain.is_ascii() {
        return Ok(mailbox);
    }
    let ascii = idna::domain_to_ascii(domain).map_err(|e| invalid(&format!("domain {domain:?}: {e}")))?;
    let email = lettre::Address::new(mailbox.email.user(), ascii).map_err(|e| invalid(&e))?;
    Ok(Mailbox::new(mailbox.name, email))
}

/// `text` on one line: a header value made from data can never add a header.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
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
            reply: None,
            list_unsubscribe: None,
            step_tag: None,
        };
        let text = String::from_utf8(build(&email).unwrap().formatted()).unwrap();
        assert!(!text.lines().any(|l| l.starts_with("Bcc:")), "{text}");
        assert!(text.contains("Subject: Hi Bcc: evil@x.test"), "{text}");
        assert!(text.contains("Message-ID: <a.1@seller.test>"), "{text}");
    }

    #[test]
    fn an_internationalised_domain_goes_out_as_punycode() {
        let from = from();
        let email = Email {
            from: &from,
            to: "jörg@bücher.example",
            subject: "s",
            body: "b",
            message_id: "<a.1@seller.test>",
            date: crate::time::parse_instant("2026-03-02T14:00:00Z").unwrap(),
            reply: None,
            list_unsubscribe: None,
            step_tag: None,
        };
        let message = build(&email).unwrap();
        let to: Vec<String> = message.envelope().to().iter().map(ToString::to_string).collect();
        assert_eq!(to, ["jörg@xn--bcher-kva.example"], "the domain in ASCII; the local part stays as it is");
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
            reply: None,
            list_unsubscribe: None,
            step_tag: None,
        };
        assert!(matches!(build(&email), Err(SendError::Permanent(_))));
    }

    #[test]
    fn message_id_names_instance_touchpoint_and_domain() {
        assert_eq!(crate::model::message_id("abc", 42, "seller.test"), "<abc.42@seller.test>");
    }

    #[test]
    fn every_email_is_mime_1_0_and_a_reply_threads() {
        let from = from();
        let reply = Reply {
            in_reply_to: "<a.2@seller.test>".into(),
            references: vec!["<a.1@seller.test>".into(), "<a.2@seller.test>".into()],
        };
        let email = Email {
            from: &from,
            to: "jane@acme.test",
            subject: "Re: Hi",
            body: "Hello",
            message_id: "<a.3@seller.test>",
            date: crate::time::parse_instant("2026-03-02T14:00:00Z").unwrap(),
            reply: Some(&reply),
            list_unsubscribe: Some("<mailto:ada+unsubscribe-1-ab@seller.test?subject=unsubscribe>\r\nBcc: x@y"),
            step_tag: Some("0123456789abcdef"),
        };
        let text = String::from_utf8(build(&email).unwrap().formatted()).unwrap();
        assert!(text.contains("MIME-Version: 1.0\r\n"), "{text}");
        assert!(text.contains("X-Cadenced-Step: 0123456789abcdef\r\n"), "{text}");
        assert!(text.contains("In-Reply-To: <a.2@seller.test>\r\n"), "{text}");
        assert!(text.contains("References: <a.1@seller.test> <a.2@seller.test>\r\n"), "{text}");
        assert!(
            text.contains("List-Unsubscribe: <mailto:ada+unsubscribe-1-ab@seller.test?subject=unsubscribe>"),
            "{text}"
        );
        assert!(!text.lines().any(|l| l.starts_with("Bcc:")), "{text}");
        assert!(!text.contains("List-Unsubscribe-Post"), "no one-click without an https link: {text}");
    }

    #[test]
    fn an_https_link_comes_with_one_click_post() {
        let from = from();
        let email = Email {
            from: &from,
            to: "jane@acme.test",
            subject: "Hi",
            body: "Hello",
            message_id: "<a.4@seller.test>",
            date: crate::time::parse_instant("2026-03-02T14:00:00Z").unwrap(),
            reply: None,
            list_unsubscribe: Some("<https://go.example.com/u/1-ab>, <mailto:ada+unsubscribe-1-ab@seller.test>"),
            step_tag: None,
        };
        // A long header is folded: unfolded, it reads as given.
        let text = String::from_utf8(build(&email).unwrap().formatted()).unwrap().replace("\r\n ", " ");
        assert!(
            text.contains(
                "List-Unsubscribe: <https://go.example.com/u/1-ab>, <mailto:ada+unsubscribe-1-ab@seller.test>\r\n"
            ),
            "{text}"
        );
        assert!(text.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"), "{text}");
    }
}
