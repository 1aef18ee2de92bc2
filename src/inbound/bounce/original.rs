//! The returned original message inside a report: where it starts, its headers, its Message-ID.

use super::MAX_REPORT;
use crate::inbound::mime::{Envelope, Mail, is_headers_type};
use crate::inbound::text;

/// Lines that mark the start of the returned original message inside a failure notice.
const ORIGINAL_MARKERS: &[&str] = &[
    "copy of the message",
    "copy of the original",
    "original message",
    "original mail",
    "message headers follow",
    "headers of the original",
    "header of the original",
    "original headers",
    "returned message",
    "unsent message",
    "message follows",
    "undelivered message",
    "rfc822 headers",
    "bounced e-mail",
    "bounced email",
    "copy of the message header",
    "message header follows",
    "original message header",
    "the header of the original message",
    "copy of your message",
    "headers of your message",
];

fn is_marker_line(line: &str) -> bool {
    let t = line.trim().to_lowercase();
    if t.is_empty() || t.len() > 100 {
        return false;
    }
    // "The following addresses did not receive a copy of your message:" heads the failed list.
    text::contains_any(&t, ORIGINAL_MARKERS)
        && !text::contains_any(&text::squash(&t), super::recipients::FAILED_HEADINGS)
        && (t.contains("--")
            || t.contains("==")
            || t.contains("**")
            || t.contains("##")
            || t.ends_with(':')
            || t.contains("follow")
            || t.contains("below")
            || t.contains("included"))
}

/// Splits a failure notice's text into the report and the returned original (if inlined).
pub(crate) fn split_original(text: &str) -> (&str, Option<&str>) {
    let mut offset = 0;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let start = offset;
        offset += line.len();
        if is_marker_line(line) {
            return (text.get(..start).unwrap_or(text), text.get(offset..));
        }
        // An unannounced header block: three or more header lines at the left margin.
        if !line.starts_with([' ', '\t']) && text::is_header_line(line) && i > 0 {
            let mut n = 0;
            // A MIME part's own header (Content-Type, Content-Transfer-Encoding, ...: a part a
            // broken multipart left in the text) is not a message's.
            let mut message_field = false;
            for l in lines.iter().skip(i).take(8) {
                if l.starts_with([' ', '\t']) {
                    continue;
                }
                if let Some(f) = text::parse_field_line(l.trim_end()) {
                    n += 1;
                    message_field |= !f.name.starts_with("content-") && f.name != "mime-version";
                } else {
                    break;
                }
            }
            if n >= 3 && message_field {
                return (text.get(..start).unwrap_or(text), text.get(start..));
            }
        }
    }
    (text, None)
}

/// Report text (the notice itself) and the headers of returned originals, for a message.
pub(crate) fn report_and_originals(mail: &Mail) -> (String, Vec<Envelope>, Vec<String>) {
    let mut report = String::new();
    let mut originals: Vec<Envelope> = mail.attached.clone();
    let mut original_texts: Vec<String> = Vec::new();
    for part in mail.own_text_parts() {
        let first_line = part.text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let starts_with_headers = text::is_header_line(first_line)
            && part
                .text
                .lines()
                .skip_while(|l| l.trim().is_empty())
                .take(3)
                .all(|l| l.starts_with([' ', '\t']) || text::parse_field_line(l).is_some());
        if starts_with_headers && !report.is_empty() {
            original_texts.push(part.text.clone());
            continue;
        }
        let (r, o) = split_original(&part.text);
        if report.len() < MAX_REPORT {
            report.push_str(text::truncate(r, MAX_REPORT - report.len()));
            report.push('\n');
        }
        if let Some(o) = o {
            original_texts.push(o.to_string());
        }
    }
    for t in &original_texts {
        let fields = text::header_block(t);
        if !fields.is_empty() {
            originals.push(Envelope { depth: 1, ..Envelope::from_fields(fields) });
        }
    }
    (report, originals, original_texts)
}

/// Message-IDs of the original message(s) returned in a report.
pub(crate) fn original_ids(mail: &Mail, originals: &[Envelope], original_texts: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for env in originals {
        if let Some(id) = &env.message_id {
            text::push_unique(&mut ids, id.clone());
        }
    }
    let mut texts: Vec<&str> = original_texts.iter().map(String::as_str).collect();
    for p in &mail.parts {
        if is_headers_type(&p.ctype) {
            texts.push(&p.text);
        }
    }
    for t in texts {
        let mut lines = t.lines().peekable();
        while let Some(line) = lines.next() {
            // Indented or quoted as a whole (">Message-ID: ...") in some notices.
            let l = line.trim_start_matches([' ', '\t', '>']);
            let lower = l.get(..l.len().min(24)).unwrap_or("").to_ascii_lowercase();
            if lower.starts_with("message-id") || lower.starts_with("original-message-id") {
                let mut value = l.split_once(':').map(|(_, v)| v.to_string()).unwrap_or_default();
                if value.trim().is_empty()
                    && let Some(next) = lines.peek()
                    && next.starts_with([' ', '\t'])
                {
                    value.push_str(next);
                }
                for id in text::ids_in(&value) {
                    text::push_unique(&mut ids, id);
                }
            }
        }
    }
    if let Some(own) = &mail.top.message_id {
        ids.retain(|i| i != own);
    }
    ids
}
