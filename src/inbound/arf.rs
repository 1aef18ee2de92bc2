//! Abuse / feedback-loop reports: RFC 5965 ARF (`multipart/report; report-type=feedback-report`), its
//! older draft variants, and Microsoft's JMRP reports (message/rfc822 with X-HmXmrOriginalRecipient).

use super::Recipient;
use super::mime::Mail;
use super::text::{self, Field};

/// The complained-about recipients when `mail` is a feedback report, `None` when it is not one.
pub(crate) fn detect(mail: &Mail) -> Option<Vec<Recipient>> {
    let mut fields: Vec<Field> = mail
        .parts
        .iter()
        .filter(|p| p.depth == 0 && p.ctype == "message/feedback-report")
        .flat_map(|p| text::field_groups(&p.text).into_iter().flatten())
        .collect();
    let mut is_arf = mail.report_type.as_deref() == Some("feedback-report") || !fields.is_empty();
    if fields.is_empty() {
        // Variants that put the report fields in a text part.
        for p in mail.parts.iter().filter(|p| p.depth == 0 && p.ctype.starts_with("text/plain")) {
            let f: Vec<Field> = text::field_groups(&p.text).into_iter().flatten().collect();
            let has_type = text::field(&f, "feedback-type").is_some();
            if has_type && (text::field(&f, "user-agent").is_some() || text::field(&f, "version").is_some()) {
                is_arf = true;
                fields = f;
                break;
            }
        }
    }
    // Microsoft JMRP: "complaint about message from <ip>" from staff@hotmail.com with the reported
    // message attached, its recipient in X-HmXmrOriginalRecipient.
    let subject = mail.top.subject.as_deref().unwrap_or("").to_lowercase();
    let jmrp_sender = subject.contains("complaint")
        || mail.top.from.iter().any(|a| {
            a.starts_with("staff@")
                && ["hotmail.com", "outlook.com", "msn.com", "live.com"].iter().any(|d| a.ends_with(d))
        });
    let jmrp: Vec<String> = if jmrp_sender && mail.in_reply_to.is_empty() {
        mail.attached
            .iter()
            .flat_map(|e| e.all("x-hmxmroriginalrecipient").filter_map(text::first_address).collect::<Vec<_>>())
            .collect()
    } else {
        Vec::new()
    };
    if !is_arf && jmrp.is_empty() {
        return None;
    }

    let mut addresses: Vec<String> = Vec::new();
    for name in ["original-rcpt-to", "removal-recipient"] {
        for v in text::fields_named(&fields, name) {
            if let Some(a) = text::first_address(v) {
                text::push_unique(&mut addresses, a);
            }
        }
        if !addresses.is_empty() {
            break;
        }
    }
    if addresses.is_empty() {
        for a in jmrp {
            text::push_unique(&mut addresses, a);
        }
    }
    if addresses.is_empty() {
        // The To of the reported message.
        for env in &mail.attached {
            for a in &env.to {
                text::push_unique(&mut addresses, a.clone());
            }
            if !addresses.is_empty() {
                break;
            }
        }
    }
    Some(addresses.into_iter().map(Recipient::complained).collect())
}
