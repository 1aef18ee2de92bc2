//! A flattened, owned view of a parsed message: the top-level headers, every leaf part with its decoded
//! text, and the headers of every message embedded in it (message/rfc822 parts, text/rfc822-headers
//! parts). Built with mail-parser; nothing here indexes or slices without a check.

use chrono::NaiveDate;
use mail_parser::{HeaderName, HeaderValue, Message, MessageParser, MessagePart, PartType};

use super::text::{self, Field};

/// Parts larger than this are cut before analysis; the classification needs the first few kilobytes.
const MAX_PART_TEXT: usize = 256 * 1024;
/// Embedded messages deeper than this are ignored.
const MAX_DEPTH: usize = 6;

/// `raw` without the lines of white space alone before and inside its header block, when it has
/// any. A copy saved with blank lines above its first field still has its header there; and RFC 5322
/// 4.2 (obs-FWS) lets a field be folded onto a line of white space, which mail-parser takes for the
/// end of the header, reading the rest of the fields (Content-Type among them) as the body. A line is
/// only taken out when a field or a folded line follows; the header still ends at the first empty
/// line after a field.
fn without_blank_folds(raw: &[u8]) -> Option<Vec<u8>> {
    let blank = |l: &[u8]| l.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
    let empty = |l: &[u8]| l.iter().all(|b| matches!(b, b'\r' | b'\n'));
    let is_field = |l: &[u8]| {
        l.iter().position(|b| *b == b':').is_some_and(|colon| {
            colon > 0 && l.get(..colon).is_some_and(|n| n.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-'))
        })
    };
    let folded = |l: &[u8]| l.first().is_some_and(|b| matches!(b, b' ' | b'\t')) && !blank(l);
    // The byte ranges of the lines to take out; only the header block is read.
    let mut drop: Vec<std::ops::Range<usize>> = Vec::new();
    let mut lines = raw.split_inclusive(|b| *b == b'\n').peekable();
    let mut at = 0;
    let mut in_header = false;
    while let Some(line) = lines.next() {
        let range = at..at + line.len();
        at = range.end;
        if !in_header {
            if blank(line) {
                drop.push(range);
                continue;
            }
            if !is_field(line) {
                return None;
            }
            in_header = true;
        } else if empty(line) {
            break;
        } else if blank(line) {
            // White space alone: the header goes on when a field or a fold follows.
            if !lines.peek().is_some_and(|l| is_field(l) || folded(l)) {
                break;
            }
            drop.push(range);
        }
    }
    if drop.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut from = 0;
    for r in drop {
        out.extend_from_slice(raw.get(from..r.start).unwrap_or_default());
        from = r.end;
    }
    out.extend_from_slice(raw.get(from..).unwrap_or_default());
    Some(out)
}

/// The headers of a message (top-level, embedded or recovered from text).
#[derive(Debug, Default, Clone)]
pub(crate) struct Envelope {
    pub fields: Vec<Field>,
    /// Addresses of `From`, lowercased.
    pub from: Vec<String>,
    /// Display names of `From`.
    pub from_names: Vec<String>,
    /// Addresses of `To`, lowercased.
    pub to: Vec<String>,
    /// Addresses of `Cc`, lowercased.
    pub cc: Vec<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    /// 0 for the message itself, 1 for a message attached to it (the original a report returns),
    /// 2 for a message attached to that one, and so on.
    pub depth: usize,
}

impl Envelope {
    pub fn get(&self, name: &str) -> Option<&str> {
        text::field(&self.fields, name)
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        text::fields_named(&self.fields, name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name)
    }

    /// Builds an envelope from a header block recovered from text (text/rfc822-headers, an inlined
    /// original message).
    pub fn from_fields(fields: Vec<Field>) -> Envelope {
        let mut env = Envelope::default();
        for f in &fields {
            match f.name.as_str() {
                "from" => {
                    env.from.extend(text::find_addresses(&f.value).into_iter().map(|a| a.address));
                    let name = f.value.split('<').next().unwrap_or("").trim().trim_matches('"').trim();
                    if !name.is_empty() && !name.contains('@') {
                        env.from_names.push(name.to_string());
                    }
                }
                "to" => env.to.extend(text::find_addresses(&f.value).into_iter().map(|a| a.address)),
                "cc" => env.cc.extend(text::find_addresses(&f.value).into_iter().map(|a| a.address)),
                "subject" if env.subject.is_none() => env.subject = Some(f.value.clone()),
                "message-id" if env.message_id.is_none() => env.message_id = text::ids_in(&f.value).into_iter().next(),
                _ => {}
            }
        }
        env.fields = fields;
        env
    }
}

/// A leaf MIME part.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    /// Lowercased `type/subtype`.
    pub ctype: String,
    /// Decoded text (HTML converted to text, binary parts decoded lossily).
    pub text: String,
    /// 0 for parts of the message itself, 1 inside an attached message, and so on.
    pub depth: usize,
    pub html: bool,
}

/// The flattened message.
#[derive(Debug, Default, Clone)]
pub(crate) struct Mail {
    pub top: Envelope,
    pub date: Option<NaiveDate>,
    /// Lowercased `type/subtype` of the top-level part.
    pub ctype: String,
    /// Lowercased `report-type` parameter of a top-level multipart/report.
    pub report_type: Option<String>,
    pub parts: Vec<Part>,
    /// Embedded messages, in document order.
    pub attached: Vec<Envelope>,
    /// Message-IDs from In-Reply-To and References, `<...>` form, deduplicated.
    pub in_reply_to: Vec<String>,
}

impl Mail {
    /// Parses `raw`. Returns `None` when no header could be found.
    pub fn parse(raw: &[u8]) -> Option<Mail> {
        let unfolded = without_blank_folds(raw);
        let raw: &[u8] = unfolded.as_deref().unwrap_or(raw);
        // mail-parser is written not to panic, but it has debug assertions on malformed MIME structure;
        // the guard keeps those (and any parser bug) from taking down the caller. On failure the
        // headers are parsed alone and the body is read as plain text.
        match std::panic::catch_unwind(|| MessageParser::default().parse(raw)) {
            Ok(parsed) => Mail::from_message(&parsed?),
            Err(_) => Mail::headers_only(raw),
        }
    }

    fn headers_only(raw: &[u8]) -> Option<Mail> {
        let parsed = std::panic::catch_unwind(|| MessageParser::default().parse_headers(raw)).ok()??;
        let mut mail = Mail::from_message(&parsed)?;
        let body_start = [&b"\r\n\r\n"[..], &b"\n\n"[..]]
            .iter()
            .filter_map(|sep| raw.windows(sep.len()).position(|w| w == *sep).map(|p| p + sep.len()))
            .min()
            .unwrap_or(raw.len());
        let body = raw.get(body_start..).unwrap_or_default();
        let body = body.get(..body.len().min(MAX_PART_TEXT)).unwrap_or_default();
        mail.parts = vec![Part {
            ctype: "text/plain".to_string(),
            text: String::from_utf8_lossy(body).into_owned(),
            depth: 0,
            html: false,
        }];
        Some(mail)
    }

    fn from_message(parsed: &Message<'_>) -> Option<Mail> {
        let root = parsed.parts.first()?;
        let mut mail = Mail { top: envelope_of(parsed), ..Mail::default() };
        if let Some(ct) = content_type(root) {
            mail.ctype = ct.0;
            mail.report_type = ct.1;
        }
        mail.date = root.headers.iter().find(|h| h.name == HeaderName::Date).and_then(|h| match &h.value {
            HeaderValue::DateTime(dt) => {
                NaiveDate::from_ymd_opt(i32::from(dt.year), u32::from(dt.month), u32::from(dt.day))
            }
            _ => None,
        });
        // In-Reply-To first, then References, whatever their order in the header.
        let threading = root
            .headers
            .iter()
            .filter(|h| h.name == HeaderName::InReplyTo)
            .chain(root.headers.iter().filter(|h| h.name == HeaderName::References));
        for h in threading {
            let ids = match &h.value {
                HeaderValue::Text(t) => text::bracket_id(t).into_iter().collect(),
                HeaderValue::TextList(list) => list.iter().filter_map(|t| text::bracket_id(t)).collect(),
                _ => raw_value(parsed, h.offset_start, h.offset_end).map(|v| text::ids_in(&v)).unwrap_or_default(),
            };
            for id in ids {
                text::push_unique(&mut mail.in_reply_to, id);
            }
        }
        walk(parsed, 0, &mut mail);
        mail.unwrap_report();
        Some(mail)
    }

    /// A delivery report that a gateway (a virus scanner, an Exchange server) passed on attached to
    /// a message of its own, with no report of its own (at most a disclaimer), is read as the report
    /// itself: its parts and the messages attached to it move up one level.
    fn unwrap_report(&mut self) {
        let is_dsn = |p: &Part| p.ctype == "message/delivery-status" || p.ctype == "message/global-delivery-status";
        let wrapped = !self.parts.iter().any(|p| p.depth == 0 && is_dsn(p))
            && self.attached.iter().filter(|e| e.depth == 1).count() == 1
            && self.parts.iter().any(|p| p.depth == 1 && is_dsn(p));
        if !wrapped {
            return;
        }
        self.attached.retain(|e| e.depth != 1);
        for e in &mut self.attached {
            e.depth = e.depth.saturating_sub(1);
        }
        for p in &mut self.parts {
            p.depth = p.depth.saturating_sub(1);
        }
        self.report_type = Some("delivery-status".to_string());
    }

    /// Text parts of the message itself (not of attached messages), HTML parts only when there is no
    /// plain-text alternative, excluding header dumps.
    pub fn own_text_parts(&self) -> impl Iterator<Item = &Part> {
        let has_plain = self.parts.iter().any(|p| p.depth == 0 && p.ctype == "text/plain");
        self.parts
            .iter()
            .filter(move |p| p.depth == 0 && (p.ctype == "text/plain" || (p.html && !has_plain) || p.ctype.is_empty()))
    }

    /// The first plain (or HTML) body text of the message itself.
    pub fn body_text(&self) -> Option<&str> {
        self.own_text_parts().next().map(|p| p.text.as_str())
    }
}

/// Lowercased `type/subtype` and `report-type` of a part.
fn content_type(part: &MessagePart<'_>) -> Option<(String, Option<String>)> {
    let ct = part.headers.iter().find(|h| h.name == HeaderName::ContentType)?;
    let HeaderValue::ContentType(ct) = &ct.value else { return None };
    let mut name = ct.c_type.to_ascii_lowercase();
    if let Some(sub) = &ct.c_subtype {
        name.push('/');
        name.push_str(&sub.to_ascii_lowercase());
    }
    let report_type = ct
        .attributes
        .as_ref()
        .and_then(|attrs| attrs.iter().find(|a| a.name.eq_ignore_ascii_case("report-type")))
        .map(|a| a.value.trim().trim_matches('"').to_ascii_lowercase());
    Some((name, report_type))
}

fn raw_value(msg: &Message<'_>, start: u32, end: u32) -> Option<String> {
    let bytes = msg.raw_message.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)?;
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(line.trim());
    }
    Some(out.trim().to_string())
}

fn addresses(value: &HeaderValue<'_>) -> (Vec<String>, Vec<String>) {
    let mut addrs = Vec::new();
    let mut names = Vec::new();
    if let HeaderValue::Address(a) = value {
        for addr in a.iter() {
            if let Some(address) = addr.address() {
                let address = address.trim().to_lowercase();
                if !address.is_empty() {
                    addrs.push(address);
                }
            }
            if let Some(name) = addr.name() {
                let name = name.trim();
                if !name.is_empty() {
                    names.push(name.to_string());
                }
            }
        }
    }
    (addrs, names)
}

/// Envelope of a parsed message (its root part's headers).
fn envelope_of(msg: &Message<'_>) -> Envelope {
    let mut env = Envelope::default();
    let Some(root) = msg.parts.first() else { return env };
    for h in &root.headers {
        let name = h.name.as_str().to_ascii_lowercase();
        let value = match &h.value {
            HeaderValue::Text(t) => t.trim().to_string(),
            _ => raw_value(msg, h.offset_start, h.offset_end).unwrap_or_default(),
        };
        match h.name {
            HeaderName::From => {
                let (a, n) = addresses(&h.value);
                if a.is_empty() && n.is_empty() {
                    // Unparseable From: fall back to a textual scan.
                    env.from.extend(text::find_addresses(&value).into_iter().map(|f| f.address));
                }
                env.from.extend(a);
                env.from_names.extend(n);
            }
            HeaderName::To => env.to.extend(addresses(&h.value).0),
            HeaderName::Cc => env.cc.extend(addresses(&h.value).0),
            HeaderName::Subject if env.subject.is_none() => env.subject = Some(value.clone()),
            HeaderName::MessageId if env.message_id.is_none() => {
                env.message_id = match &h.value {
                    HeaderValue::Text(t) => text::bracket_id(t),
                    HeaderValue::TextList(l) => l.first().and_then(|t| text::bracket_id(t)),
                    _ => text::ids_in(&value).into_iter().next(),
                }
            }
            _ => {}
        }
        env.fields.push(Field { name, value });
    }
    env
}

fn walk(msg: &Message<'_>, depth: usize, mail: &mut Mail) {
    for part in &msg.parts {
        let mut ctype = content_type(part).map(|c| c.0).unwrap_or_default();
        if ctype.starts_with("multipart/") && !matches!(part.body, PartType::Multipart(_)) {
            // A multipart whose boundary is missing or never occurs (a broken or hand-edited
            // message) comes as one leaf: its body is the text of the message.
            ctype = "text/plain".to_string();
        }
        match &part.body {
            PartType::Multipart(_) => {}
            PartType::Message(inner) => {
                if depth < MAX_DEPTH {
                    mail.attached.push(Envelope { depth: depth + 1, ..envelope_of(inner) });
                    walk(inner, depth + 1, mail);
                }
            }
            PartType::Text(t) => {
                let ctype = if ctype.is_empty() { "text/plain".to_string() } else { ctype };
                push_part(mail, ctype, text::truncate(t, MAX_PART_TEXT).to_string(), depth, false);
            }
            PartType::Html(h) => {
                let t = text::html_to_text(text::truncate(h, MAX_PART_TEXT));
                push_part(mail, if ctype.is_empty() { "text/html".to_string() } else { ctype }, t, depth, true);
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => {
                let wanted = ctype.starts_with("message/")
                    || ctype.starts_with("text/")
                    || ctype == "application/json"
                    || ctype.is_empty();
                if wanted {
                    let bytes = b.get(..b.len().min(MAX_PART_TEXT)).unwrap_or_default();
                    push_part(mail, ctype, String::from_utf8_lossy(bytes).into_owned(), depth, false);
                }
            }
        }
    }
}

fn push_part(mail: &mut Mail, ctype: String, text: String, depth: usize, html: bool) {
    // An embedded message mail-parser could not parse as one still starts with its headers.
    if is_headers_type(&ctype) || ctype == "message/rfc822" || ctype == "message/global" {
        let fields = text::header_block(&text);
        if !fields.is_empty() {
            mail.attached.push(Envelope { depth: depth + 1, ..Envelope::from_fields(fields) });
        }
    }
    mail.parts.push(Part { ctype, text, depth, html });
}

/// text/rfc822-headers and its common misspellings.
pub(crate) fn is_headers_type(ctype: &str) -> bool {
    matches!(
        ctype,
        "text/rfc822-headers"
            | "text/rfc822-header"
            | "message/rfc822-headers"
            | "message/rfc822-header"
            | "text/rfc822"
    )
}
