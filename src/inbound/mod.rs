//! Inbound message classification.
//!
//! [`classify`] is a pure function over the raw bytes of a message that arrived in the watched
//! mailbox. It decides what the message means for a lead's cadence:
//!
//! - [`Kind::Bounce`]: a delivery failure or delay notice, standard (RFC 3464 multipart/report with a
//!   message/delivery-status part) or one of the common non-standard formats (Postfix, Sendmail, Exim,
//!   qmail, Exchange / Office 365, Gmail, Yahoo, Amazon SES JSON, ...). The bounced recipients are
//!   listed with their enhanced status code, why they bounced ([`BounceReason`]) and whether the address
//!   itself is dead.
//! - [`Kind::Complaint`]: an abuse / feedback-loop report (RFC 5965 ARF and variants, SES complaints).
//! - [`Kind::AutoReply`]: an automatic answer (RFC 3834 Auto-Submitted, vendor headers, out-of-office
//!   subjects and texts in common languages), with the announced return date when one can be read.
//! - [`Kind::Unsubscribe`]: a person asking to be removed, or a message sent to an unsubscribe address
//!   or by Apple Mail's unsubscribe button (automatic as these are).
//! - [`Kind::Reply`]: any other message from a person.
//! - [`Kind::Other`]: mailing-list mail, notifications, success reports, messages without a sender,
//!   empty or unparseable input.
//!
//! The order of the checks matters: delivery reports first (they often carry `Auto-Submitted`), then
//! messages to an unsubscribe address, automatic replies, the "other" signals, unsubscribe requests in
//! a person's words, and a reply last.

use serde::Serialize;

pub use arrival::date_of;
pub use reason::{Blame, BounceReason, refusal, smtp_reason};

mod arf;
mod arrival;
mod autoreply;
mod bounce;
mod dates;
mod human;
mod mime;
mod reason;
mod ses;
mod text;

#[cfg(test)]
mod tests;

/// What an inbound message is: the domain's word, [`crate::model::InboundKind`].
pub use crate::model::InboundKind as Kind;

/// A bounced (or complained-about) recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// The address, lowercased.
    pub address: String,
    /// True when the address itself is dead: the reason is one of [`BounceReason::is_dead_address`]
    /// (unknown user or domain, moved, accepts no mail), except a domain that accepts no mail said
    /// with a temporary (4.x.x) code. A full mailbox, a refusal of the sender or any 4.x.x or 5.x.x
    /// failure of another reason is not permanent in this sense. Always false for complaints.
    pub permanent: bool,
    /// Why it bounced; [`BounceReason::Undefined`] for a complaint (the kind says what happened).
    pub reason: BounceReason,
    /// The enhanced status code ("5.1.1"), or "5.0.0"/"4.0.0" derived from a bare SMTP reply code.
    pub status: Option<String>,
    /// The address the sender gave, when the report names it apart from the one that failed
    /// (RFC 3464 Original-Recipient, before an alias or a forward): the lead's own address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

impl Recipient {
    /// A bounced recipient; `permanent` follows from the reason and the status.
    pub(crate) fn bounced(address: String, reason: BounceReason, status: Option<String>) -> Recipient {
        let temporary = status.as_deref().is_some_and(|s| s.starts_with('4'));
        let permanent = reason.is_dead_address() && !(reason == BounceReason::Notaccept && temporary);
        Recipient { address, permanent, reason, status, original: None }
    }

    /// True when `email` is this recipient's address or the original one the sender gave.
    pub fn is(&self, email: &str) -> bool {
        self.address.eq_ignore_ascii_case(email)
            || self.original.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(email))
    }

    /// A complained-about recipient.
    pub(crate) fn complained(address: String) -> Recipient {
        Recipient { address, permanent: false, reason: BounceReason::Undefined, status: None, original: None }
    }
}

/// What a failure notice says as a whole when no recipient of it could be read: enough to judge the
/// address of the lead its returned Message-ID names (see [`Unattributed::for_address`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unattributed {
    pub reason: BounceReason,
    pub status: Option<String>,
}

impl Unattributed {
    /// The notice's verdict for `address`, the lead the returned original was sent to.
    pub fn for_address(&self, address: &str) -> Recipient {
        Recipient::bounced(address.to_lowercase(), self.reason, self.status.clone())
    }
}

/// The classification of one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classified {
    pub kind: Kind,
    /// Bounced (or complained-about) recipients; empty for other kinds.
    pub recipients: Vec<Recipient>,
    /// Sender address, lowercased.
    pub from: Option<String>,
    pub subject: Option<String>,
    /// The message's own Message-ID, `<...>` form.
    pub message_id: Option<String>,
    /// Message-IDs from In-Reply-To and References, `<...>` form, in order, deduplicated.
    pub in_reply_to: Vec<String>,
    /// Message-IDs of our original message found inside a bounce / complaint (attached message,
    /// text/rfc822-headers part or an inlined copy); used to find which send bounced.
    pub original_message_ids: Vec<String>,
    /// A bounce whose recipients could not be read: the notice's own verdict.
    pub unattributed: Option<Unattributed>,
    /// Auto-replies: the announced return date, when one can be read.
    pub return_date: Option<chrono::NaiveDate>,
    /// True when the message is addressed to an unsubscribe address (To local part contains
    /// "unsubscribe").
    pub list_unsubscribe_to: bool,
}

impl Classified {
    /// The lead the message is about: for a bounce / complaint the first recipient, for a reply,
    /// auto-reply or unsubscribe request the sender.
    pub fn lead(&self) -> Option<&str> {
        match self.kind {
            Kind::Bounce | Kind::Complaint => self.recipients.first().map(|r| r.address.as_str()),
            Kind::Reply | Kind::AutoReply | Kind::Unsubscribe => self.from.as_deref(),
            Kind::Other => None,
        }
    }

    fn empty() -> Classified {
        Classified {
            kind: Kind::Other,
            recipients: Vec::new(),
            from: None,
            subject: None,
            message_id: None,
            in_reply_to: Vec::new(),
            original_message_ids: Vec::new(),
            unattributed: None,
            return_date: None,
            list_unsubscribe_to: false,
        }
    }
}

/// Classifies a raw RFC 5322 message. Never panics; unparseable input is [`Kind::Other`].
pub fn classify(raw: &[u8]) -> Classified {
    match mime::Mail::parse(raw) {
        Some(mail) => classify_mail(&mail),
        None => Classified::empty(),
    }
}

fn classify_mail(mail: &mime::Mail) -> Classified {
    let top = &mail.top;
    let from =
        top.from.first().cloned().or_else(|| top.get("sender").and_then(text::first_address)).filter(|a| !a.is_empty());
    let subject = top.subject.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let list_unsubscribe_to = top.to.iter().any(|a| a.split('@').next().unwrap_or("").contains("unsubscribe"));
    let mut out = Classified {
        from,
        subject,
        message_id: top.message_id.clone(),
        in_reply_to: mail.in_reply_to.clone(),
        list_unsubscribe_to,
        ..Classified::empty()
    };

    // The originals come attached first (`mail.attached`), then those found in the text.
    let (report, originals, original_texts) = bounce::report_and_originals(mail);

    // Amazon SES notifications (JSON bodies).
    if let Some(note) = mail.body_text().and_then(ses::parse) {
        match note {
            ses::SesNote::Bounce(recipients, ids) => {
                out.kind = Kind::Bounce;
                out.recipients = recipients;
                out.original_message_ids = ids;
            }
            ses::SesNote::Complaint(recipients, ids) => {
                out.kind = Kind::Complaint;
                out.recipients = recipients;
                out.original_message_ids = ids;
            }
            ses::SesNote::Delivery => out.kind = Kind::Other,
        }
        return out;
    }

    if let Some(recipients) = arf::detect(mail) {
        out.kind = Kind::Complaint;
        out.recipients = recipients;
        out.original_message_ids = bounce::original_ids(mail, &originals, &original_texts);
        return out;
    }

    match bounce::detect(mail, &report, &originals) {
        bounce::Detection::Bounce(recipients) => {
            out.kind = Kind::Bounce;
            if recipients.is_empty() {
                let (reason, status) = bounce::notice_verdict(mail, &report);
                out.unattributed = Some(Unattributed { reason, status });
            }
            out.recipients = recipients;
            out.original_message_ids = bounce::original_ids(mail, &originals, &original_texts);
            return out;
        }
        bounce::Detection::Delivered => return out,
        bounce::Detection::None => {}
    }

    // Read receipts (RFC 8098 MDNs) say nothing about the lead's intent.
    let mdn = mail.report_type.as_deref() == Some("disposition-notification")
        || mail.parts.iter().any(|p| p.depth == 0 && p.ctype == "message/disposition-notification");
    if mdn {
        return out;
    }

    // A message sent to an unsubscribe address, or Apple Mail's unsubscribe button (which marks
    // its message `X-Apple-Unsubscribe: true` and `Auto-Submitted`), asks to be removed, automatic
    // or not.
    let apple_unsubscribe = top.get("x-apple-unsubscribe").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if out.from.is_some() && (out.list_unsubscribe_to || apple_unsubscribe) {
        out.kind = Kind::Unsubscribe;
        return out;
    }

    let own = human::own_text(mail);
    if autoreply::is_auto_reply(mail, &own) {
        out.kind = Kind::AutoReply;
        let mut dated = out.subject.clone().unwrap_or_default();
        dated.push('\n');
        dated.push_str(text::truncate(&own, 4000));
        out.return_date = dates::return_date(&dated, mail.date);
        return out;
    }

    if out.from.is_none() {
        return out;
    }
    if is_other(mail, out.subject.as_deref(), &own) {
        return out;
    }
    if human::is_unsubscribe(out.subject.as_deref(), &own) {
        out.kind = Kind::Unsubscribe;
        return out;
    }
    // A message that returns a copy of another in its text, with the trace fields only a mail
    // system copies (Received, Return-Path: a list server's alert, a notice that reads as nothing
    // else), is no person's answer: a mail client quotes From, Date, To and Subject.
    let inlined = originals.get(mail.attached.len()..).unwrap_or_default();
    if !inlined.iter().any(|e| e.has("received") || e.has("return-path")) {
        out.kind = Kind::Reply;
    }
    out
}

/// Signals of mail that is neither a report, an automatic reply nor a person's message.
fn is_other(mail: &mime::Mail, subject: Option<&str>, own: &str) -> bool {
    let top = &mail.top;
    let is_reply = !mail.in_reply_to.is_empty() || subject.is_some_and(|s| human::strip_prefixes(s).1);
    let precedence = top.get("precedence").map(str::to_ascii_lowercase).unwrap_or_default();
    // Mailing lists and newsletters.
    if top.has("list-id") || precedence.starts_with("list") || (top.has("list-unsubscribe") && !is_reply) {
        return true;
    }
    // Mail systems and no-reply senders.
    if bounce::daemon_sender(top) {
        return true;
    }
    let noreply = top.from.iter().any(|a| {
        let local = a.split('@').next().unwrap_or("");
        let squashed: String = local.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        squashed.starts_with("noreply")
            || squashed.starts_with("donotreply")
            || squashed.starts_with("notreply")
            || squashed.starts_with("notification")
            || squashed == "calendarnotification"
    });
    if noreply {
        return true;
    }
    // A null envelope sender is only used by automatic mail.
    if bounce::null_sender(top) {
        return true;
    }
    // Calendar notifications.
    let calendar =
        mail.parts.iter().any(|p| p.depth == 0 && (p.ctype == "text/calendar" || p.ctype == "application/ics"));
    if calendar {
        let s = subject.map(str::to_lowercase).unwrap_or_default();
        let calendar_subject = [
            "invitation:",
            "updated invitation",
            "accepted:",
            "declined:",
            "tentatively accepted:",
            "tentative:",
            "canceled:",
            "cancelled:",
            "canceled event",
            "cancelled event",
            "notification:",
            "reminder:",
            "einladung:",
            "angenommen:",
            "abgelehnt:",
            "mit vorbehalt angenommen:",
            "abgesagt:",
            "accepté:",
            "refusé:",
            "invitation mise à jour",
            "aceptado:",
            "rechazado:",
            "invitación:",
        ]
        .iter()
        .any(|p| s.starts_with(p));
        if calendar_subject || own.trim().is_empty() {
            return true;
        }
    }
    // Nothing at all to read.
    subject.is_none() && own.trim().is_empty() && mail.parts.iter().all(|p| p.text.trim().is_empty())
}
