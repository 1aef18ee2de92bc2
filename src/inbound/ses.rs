//! Amazon SES notifications delivered by e-mail (SNS envelope or bare notification JSON):
//! `notificationType` / `eventType` `Bounce`, `Complaint` or `Delivery`.

use serde_json::Value;

use super::reason::{Evidence, decide};
use super::text;
use super::{BounceReason, Recipient};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SesNote {
    Bounce(Vec<Recipient>, Vec<String>),
    Complaint(Vec<Recipient>, Vec<String>),
    Delivery,
}

/// Parses an SES notification from a message body, if it is one.
pub(crate) fn parse(body: &str) -> Option<SesNote> {
    let trimmed = body.trim_start();
    if !trimmed.starts_with('{') || !(body.contains("notificationType") || body.contains("eventType")) {
        return None;
    }
    // The JSON may be followed by an SNS footer; cut after the last closing brace.
    let end = trimmed.rfind('}')?;
    let json = trimmed.get(..=end)?;
    let value = parse_lenient(json)?;
    let note = match value.get("Message").and_then(Value::as_str) {
        Some(inner) => parse_lenient(inner)?,
        None => value,
    };
    interpret(&note)
}

/// Parses JSON, repairing the line folding that mail transport may have added (sendmail's `!\n ` for
/// over-long lines, plain CRLF + space folding).
fn parse_lenient(json: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(json) {
        return Some(v);
    }
    let repaired = json.replace("!\r\n ", "").replace("!\n ", "");
    if let Ok(v) = serde_json::from_str::<Value>(&repaired) {
        return Some(v);
    }
    let joined: String = repaired.replace("\r\n ", "").replace("\n ", "").replace(['\r', '\n'], "");
    serde_json::from_str::<Value>(&joined).ok()
}

fn interpret(note: &Value) -> Option<SesNote> {
    let kind = note.get("notificationType").or_else(|| note.get("eventType")).and_then(Value::as_str)?;
    let ids = original_ids(note);
    match kind.to_ascii_lowercase().as_str() {
        "bounce" => {
            let bounce = note.get("bounce")?;
            let bounce_type = bounce.get("bounceType").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
            let sub_type = bounce.get("bounceSubType").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
            let mut out: Vec<Recipient> = Vec::new();
            for r in bounce.get("bouncedRecipients").and_then(Value::as_array).into_iter().flatten() {
                let Some(address) = r.get("emailAddress").and_then(Value::as_str).and_then(text::first_address) else {
                    continue;
                };
                let diagnostic = r.get("diagnosticCode").and_then(Value::as_str).unwrap_or("");
                let status = r
                    .get("status")
                    .and_then(Value::as_str)
                    .and_then(|s| text::enhanced_codes(s).into_iter().next())
                    .or_else(|| text::enhanced_codes(diagnostic).into_iter().next())
                    .map(|c| c.code)
                    .or_else(|| {
                        text::smtp_codes(diagnostic).first().and_then(|c| c.code.get(..1)).map(|k| format!("{k}.0.0"))
                    });
                let delayed =
                    r.get("action").and_then(Value::as_str).is_some_and(|a| a.eq_ignore_ascii_case("delayed"));
                let reason = ses_reason(status.as_deref(), diagnostic, delayed, &bounce_type, &sub_type);
                if !out.iter().any(|o| o.address == address) {
                    out.push(Recipient::bounced(address, reason, status));
                }
            }
            Some(SesNote::Bounce(out, ids))
        }
        "complaint" => {
            let complaint = note.get("complaint");
            let mut out: Vec<Recipient> = Vec::new();
            for r in
                complaint.and_then(|c| c.get("complainedRecipients")).and_then(Value::as_array).into_iter().flatten()
            {
                if let Some(address) = r.get("emailAddress").and_then(Value::as_str).and_then(text::first_address)
                    && !out.iter().any(|o| o.address == address)
                {
                    out.push(Recipient::complained(address));
                }
            }
            Some(SesNote::Complaint(out, ids))
        }
        "delivery" | "send" | "open" | "click" | "deliverydelay" => Some(SesNote::Delivery),
        _ => None,
    }
}

/// The reason of one bounced recipient: SES's sub-type where it names one, else the rules over the
/// status and diagnostic, else what the bounce type says.
fn ses_reason(
    status: Option<&str>,
    diagnostic: &str,
    delayed: bool,
    bounce_type: &str,
    sub_type: &str,
) -> BounceReason {
    match sub_type {
        "mailboxfull" => return BounceReason::Mailboxfull,
        "messagetoolarge" => return BounceReason::Mesgtoobig,
        _ => {}
    }
    let reason = decide(&Evidence { status, reply: None, text: diagnostic, delayed, command: None });
    if !matches!(reason, BounceReason::Onhold | BounceReason::Undefined) {
        return reason;
    }
    match (bounce_type, sub_type) {
        ("permanent", "noemail") => BounceReason::Userunknown,
        (_, "contentrejected") => BounceReason::Spamdetected,
        (_, "attachmentrejected") => BounceReason::Policyviolation,
        _ => reason,
    }
}

/// Message-IDs of the original from the notification's copy of its headers.
fn original_ids(note: &Value) -> Vec<String> {
    let mut ids = Vec::new();
    let mail = note.get("mail");
    for h in mail.and_then(|m| m.get("headers")).and_then(Value::as_array).into_iter().flatten() {
        let is_id = h.get("name").and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case("message-id"));
        if is_id && let Some(v) = h.get("value").and_then(Value::as_str) {
            for id in text::ids_in(v) {
                text::push_unique(&mut ids, id);
            }
        }
    }
    if let Some(v) = mail.and_then(|m| m.get("commonHeaders")).and_then(|c| c.get("messageId")).and_then(Value::as_str)
    {
        for id in text::ids_in(v) {
            text::push_unique(&mut ids, id);
        }
    }
    ids
}
