//! Bounces: RFC 3464 delivery status notifications and the common non-standard failure notices
//! (Postfix, Sendmail, Exim, qmail, Exchange / Office 365, Gmail, Yahoo, Lotus Notes, ...).

use std::collections::HashSet;

use super::mime::{Envelope, Mail, is_headers_type};
use super::reason::{self, Evidence, decide};
use super::text::{self, Field};
use super::{Reason, Recipient};

/// What the delivery-report analysis found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A failure (or delay) notice; the recipients may be empty when none could be read.
    Bounce(Vec<Recipient>),
    /// A delivery report that only reports success (delivered / relayed / expanded).
    Delivered,
    /// Not a delivery report.
    None,
}

/// Caps that keep pathological input linear: notice text analysed, recipients reported.
const MAX_REPORT: usize = 64 * 1024;
const MAX_RECIPIENTS: usize = 100;

/// One per-recipient block of a message/delivery-status part.
#[derive(Debug, Default, Clone)]
struct DsnRecord {
    final_rcpt: Option<String>,
    original_rcpt: Option<String>,
    action: Option<String>,
    status: Option<String>,
    diagnostic: Option<String>,
}

impl DsnRecord {
    fn address(&self) -> Option<&str> {
        self.final_rcpt.as_deref().or(self.original_rcpt.as_deref())
    }

    fn is_success(&self) -> bool {
        match self.action.as_deref() {
            Some(a) if a.starts_with("delivered") || a.starts_with("relayed") || a.starts_with("expanded") => true,
            Some(a) if a.starts_with("failed") || a.starts_with("delayed") => false,
            _ => self.status.as_deref().is_some_and(|s| s.starts_with('2')),
        }
    }
}

/// Splits the fields of a delivery-status part into per-recipient records.
fn dsn_records(text: &str) -> Vec<DsnRecord> {
    let mut out = Vec::new();
    for group in text::field_groups(text) {
        let mut cur = DsnRecord::default();
        let mut has_any = false;
        for Field { name, value } in group {
            let starts_new = match name.as_str() {
                "final-recipient" => cur.final_rcpt.is_some(),
                "original-recipient" => cur.original_rcpt.is_some(),
                _ => false,
            };
            if starts_new && has_any {
                out.push(std::mem::take(&mut cur));
            }
            match name.as_str() {
                "final-recipient" | "x-actual-recipient" if cur.final_rcpt.is_none() => {
                    cur.final_rcpt = recipient_value(&value);
                    has_any |= cur.final_rcpt.is_some();
                }
                "original-recipient" => {
                    cur.original_rcpt = recipient_value(&value);
                    has_any |= cur.original_rcpt.is_some();
                }
                "action" => cur.action = Some(value.to_ascii_lowercase()),
                "status" => {
                    cur.status = text::enhanced_codes(&value).into_iter().next().map(|c| c.code).or_else(|| {
                        let v = value.trim();
                        v.starts_with('2').then(|| v.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect())
                    })
                }
                "diagnostic-code" => cur.diagnostic = Some(value),
                _ => {}
            }
        }
        if has_any {
            out.push(cur);
        }
    }
    out
}

/// `rfc822; <addr>` -> `addr`.
fn recipient_value(value: &str) -> Option<String> {
    let v = value.split_once(';').map_or(value, |(_, v)| v);
    text::first_address(v).or_else(|| text::first_address(value))
}

/// The enhanced status code of a failure, from the status field and the diagnostic text.
fn judge(status: Option<&str>, diagnostic: &str) -> Option<String> {
    let diag_enhanced = text::best_enhanced(diagnostic);
    let diag_smtp = text::smtp_codes(diagnostic).into_iter().next().map(|c| c.code);
    let mut code = status.map(str::to_string).filter(|s| s.starts_with('4') || s.starts_with('5'));
    if code.is_none() {
        code = diag_enhanced.clone();
    }
    // A generic X.0.0 in the Status field is refined by a more specific code of the same class.
    if let (Some(c), Some(d)) = (&code, &diag_enhanced)
        && (c == "5.0.0" || c == "4.0.0")
        && d.get(..1) == c.get(..1)
        && d != c
    {
        code = Some(d.clone());
    }
    if code.is_none() {
        code = diag_smtp.as_deref().and_then(|s| s.get(..1)).map(|class| format!("{class}.0.0"));
    }
    code
}

/// The whole notice, the last text a recipient's reason is looked for in, with the reasons already
/// found in it (they depend only on the code, the command and the action, which recipients share):
/// a notice listing many recipients is read once, not once per recipient.
struct WholeNotice<'a> {
    text: &'a str,
    seen: Vec<(Option<String>, Option<reason::Command>, bool, Reason)>,
}

impl<'a> WholeNotice<'a> {
    fn new(report_lower: &'a str) -> WholeNotice<'a> {
        WholeNotice { text: text::truncate(report_lower, 8 * 1024), seen: Vec::new() }
    }

    fn reason(&mut self, status: Option<&str>, command: Option<reason::Command>, delayed: bool) -> Reason {
        if let Some((.., r)) =
            self.seen.iter().find(|(s, c, d, _)| s.as_deref() == status && *c == command && *d == delayed)
        {
            return *r;
        }
        let r = decide(&Evidence { status, reply: None, text: self.text, delayed, command });
        self.seen.push((status.map(str::to_string), command, delayed, r));
        r
    }
}

/// The reason of a failure: the rules over the status and the first of `texts`, then the whole
/// notice, that tells one. The command refused is the first one `texts` name.
fn reason_of(status: Option<&str>, texts: &[&str], delayed: bool, whole: &mut WholeNotice<'_>) -> Reason {
    let command = texts.iter().find_map(|t| reason::command(&reason::normalize(t)));
    let mut fallback = None;
    for text in texts.iter().filter(|t| !t.trim().is_empty()) {
        let r = decide(&Evidence { status, reply: None, text, delayed, command });
        if !matches!(r, Reason::Onhold | Reason::Undefined) {
            return r;
        }
        fallback.get_or_insert(r);
    }
    let r = whole.reason(status, command, delayed);
    match fallback {
        Some(f) if matches!(r, Reason::Onhold | Reason::Undefined) => f,
        _ => r,
    }
}

/// Analyses `mail` as a delivery report.
pub(crate) fn detect(mail: &Mail, report_text: &str, originals: &[Envelope]) -> Outcome {
    let dsn_parts: Vec<&str> = mail
        .parts
        .iter()
        .filter(|p| {
            p.depth == 0 && (p.ctype == "message/delivery-status" || p.ctype == "message/global-delivery-status")
        })
        .map(|p| p.text.as_str())
        .collect();
    let is_report = mail.report_type.as_deref() == Some("delivery-status") || !dsn_parts.is_empty();

    let lower_report = text::squash(report_text);
    let subject = mail.top.subject.as_deref().map(text::squash).unwrap_or_default();

    let mut records: Vec<DsnRecord> = dsn_parts.iter().flat_map(|t| dsn_records(t)).collect();
    if records.is_empty() && is_report {
        // Some reports put the delivery-status fields in a text part.
        records = mail
            .parts
            .iter()
            .filter(|p| p.depth == 0 && p.ctype.starts_with("text/") && !is_headers_type(&p.ctype))
            .flat_map(|p| dsn_records(&p.text))
            .filter(|r| r.action.is_some() || r.status.is_some())
            .collect();
    }

    if is_report && !records.is_empty() {
        let failed: Vec<&DsnRecord> = records.iter().filter(|r| !r.is_success()).collect();
        if failed.is_empty() {
            return Outcome::Delivered;
        }
        let report_lines: Vec<String> = report_text.lines().map(str::to_lowercase).collect();
        let mut whole = WholeNotice::new(&lower_report);
        let mut out: Vec<Recipient> = Vec::new();
        for r in failed.into_iter().take(MAX_RECIPIENTS) {
            let Some(address) = r.address() else { continue };
            if out.iter().any(|o| o.address == address) {
                continue;
            }
            let diagnostic = r.diagnostic.as_deref().unwrap_or("");
            let mut status = judge(r.status.as_deref(), diagnostic);
            if status.as_deref().is_none_or(|s| s.ends_with(".0.0")) {
                // A generic code: the human-readable part may say more about this recipient.
                if let Some(better) = code_near(&report_lines, address)
                    && status.as_deref().is_none_or(|s| s.get(..1) == better.get(..1))
                {
                    status = Some(better);
                }
            }
            let delayed = r.action.as_deref().is_some_and(|a| a.starts_with("delayed"));
            if status.is_none() {
                // No code in the record: look at the human-readable part.
                status = text_status(report_text);
            }
            let section = section_near(&report_lines, address);
            let reason = reason_of(status.as_deref(), &[diagnostic, &section], delayed, &mut whole);
            out.push(Recipient::bounced(address.to_string(), reason, status));
        }
        if out.is_empty() {
            out = text_recipients(mail, report_text, &lower_report, &subject, originals);
        }
        return Outcome::Bounce(google_groups(out, report_text, &lower_report));
    }

    if is_success_notice(&subject) {
        let automatic = daemon_sender(&mail.top) || null_sender(&mail.top) || auto_submitted(&mail.top);
        return if automatic { Outcome::Delivered } else { Outcome::None };
    }
    if is_report || looks_like_bounce(mail, &lower_report, &subject) {
        let out = text_recipients(mail, report_text, &lower_report, &subject, originals);
        return Outcome::Bounce(google_groups(out, report_text, &lower_report));
    }
    Outcome::None
}

/// Google Groups' refusal of a post ("the group you tried to contact may not exist, or you may not have
/// permission to post", in the sender's language, followed by four bulleted possible causes) is a
/// refusal of the sender.
fn google_groups(mut out: Vec<Recipient>, report: &str, report_lower: &str) -> Vec<Recipient> {
    let bullets = report.lines().filter(|l| l.starts_with(" * ")).count();
    if report_lower.contains("groups.google.com") && bullets == 4 {
        for r in &mut out {
            *r = Recipient::bounced(std::mem::take(&mut r.address), Reason::Rejected, r.status.take());
        }
    }
    out
}

fn is_success_notice(subject: &str) -> bool {
    text::contains_any(
        subject,
        &["(success)", "(relay)", "delivery has succeeded", "successful mail delivery", "relayed:", "delivered:"],
    ) && !subject.contains("fail")
}

const DAEMON_LOCALS: &[&str] = &[
    "mailer-daemon",
    "mailer_daemon",
    "mailerdaemon",
    "maildaemon",
    "mail-daemon",
    "mail.delivery.system",
    "mail-delivery-system",
    "postmaster",
    "poostmaster",
    "mdaemon",
    "mail-delivery-subsystem",
];

/// True when the sender is a mail system (MAILER-DAEMON, postmaster, "Mail Delivery System", empty).
pub(crate) fn daemon_sender(top: &Envelope) -> bool {
    let local_is_daemon = |a: &str| {
        let local = a.split('@').next().unwrap_or("").to_ascii_lowercase();
        DAEMON_LOCALS.iter().any(|d| local == *d || local.starts_with("mailer-daemon"))
    };
    if top.from.iter().any(|a| local_is_daemon(a)) {
        return true;
    }
    let names = top.from_names.iter().map(|n| n.to_lowercase()).collect::<Vec<_>>();
    if names.iter().any(|n| {
        text::contains_any(
            n,
            &["mailer-daemon", "mailer daemon", "mail delivery", "postmaster", "mail system", "delivery subsystem"],
        )
    }) {
        return true;
    }
    if top.from.is_empty() {
        let raw_from = top.get("from").unwrap_or("").to_ascii_lowercase();
        return raw_from.contains("mailer-daemon") || raw_from.contains("postmaster");
    }
    false
}

/// Subjects of failure notices, lowercased.
const BOUNCE_SUBJECTS: &[&str] = &[
    "undeliverable",
    "undelivered",
    "undeliverd",
    "returned mail",
    "returned to sender",
    "mail delivery failed",
    "delivery failed",
    "delivery failure",
    "delivery status notification",
    "delivery notification",
    "failure notice",
    "failed delivery",
    "mail system error",
    "could not be delivered",
    "couldn't be delivered",
    "not delivered",
    "message not delivered",
    "delivery problem",
    "delivery delayed",
    "delayed mail",
    "delivery has been delayed",
    "warning: could not send",
    "warning: message",
    "postmaster notify",
    "mail could not be delivered",
    "error sending your mail",
    "message delivery has failed",
    "non-delivery",
    "nondeliverable",
    "non deliverable",
    "bounce notification",
    "email bounce",
    "mail error",
    "delivery error",
    "delivery status",
    "unzustellbar",
    "nicht zustellbar",
    "zustellung fehlgeschlagen",
    "non recapitabile",
    "non remis",
    "échec de la remise",
    "echec de la remise",
    "no se puede entregar",
    "no entregado",
    "no se pudo entregar",
    "onbestelbaar",
    "niet afgeleverd",
    "não entregue",
    "nao entregue",
    "não foi possível entregar",
    "olevererbart",
    "kan ikke leveres",
    "メールエラー",
    "配信エラー",
    "配送エラー",
    "送信エラー",
    "недоставленное",
    "не доставлено",
    "не может быть доставлено",
    "undeliverable mail",
    "unable to deliver",
    "returned message",
    "rejected:",
    "considered unsolicited bulk email",
    "message you sent blocked",
];

/// Phrases of failure notices, lowercased, white space collapsed.
const BOUNCE_PHRASES: &[&str] = &[
    "this message was created automatically by mail delivery software",
    "this is the qmail-send program",
    "i'm afraid i wasn't able to deliver",
    "delivery has failed to these recipients or groups",
    "couldn't be delivered",
    "could not be delivered",
    "cannot be delivered",
    "wasn't delivered to",
    "was not delivered to",
    "were not delivered",
    "message was not delivered",
    "did not reach the following recipient",
    "delivery to the following recipient failed",
    "delivery to the following recipients failed",
    "permanent fatal errors",
    "following addresses had delivery",
    "following address(es) failed",
    "following address failed",
    "following recipients failed",
    "unable to deliver",
    "unable to be delivered",
    "failed to deliver",
    "we were unable to deliver your message",
    "there was an error delivering your mail",
    "error occurred while attempting to deliver",
    "error delivering your message",
    "trouble delivering your message",
    "your message could not be delivered",
    "your email could not be delivered",
    "your message did not reach",
    "the following message to",
    "address not found",
    "message not delivered",
    "delivery failed",
    "delivery failure",
    "delivery to the following recipients was delayed",
    "has been delayed",
    "message delivery has failed",
    "not be delivered to",
    "undeliverable",
    "mail delivery failed",
    "transcript of session follows",
    "was rejected by",
    "rejected your message",
    "rejected by the remote server",
    "rejected by a remote mail server",
    "has not yet been delivered",
    "has not been delivered",
    "could not deliver",
    "delivery attempts will continue",
    "non-delivery report",
    "recipient address rejected",
    "invalid final delivery userid",
    "failure reasons",
    "bounce notification",
    "was rejected and discarded",
    "message could not be delivered",
    "konnte nicht zugestellt werden",
    "nicht zugestellt",
    "unzustellbar",
    "n'a pas pu être remis",
    "n'a pas pu être délivré",
    "non remis",
    "no se pudo entregar",
    "no se ha podido entregar",
    "no pudo ser entregado",
    "non è stato possibile recapitare",
    "impossibile recapitare",
    "non recapitabile",
    "kon niet worden bezorgd",
    "kon niet worden afgeleverd",
    "não foi possível entregar",
    "não pôde ser entregue",
    "送信できませんでした",
    "配信できませんでした",
    "届けることができませんでした",
    "配送できませんでした",
    "宛先不明",
    "не может быть доставлено",
    "не доставлено",
    "не удалось доставить",
];

/// Failure-notice phrases that a person practically never writes.
const STRONG_PHRASES: &[&str] = &[
    "this message was created automatically by mail delivery software",
    "this is the qmail-send program",
    "delivery has failed to these recipients or groups",
    "permanent fatal errors",
    "the following address(es) failed",
    "transcript of session follows",
    "there was an error delivering your mail to",
    "this is the mailer-daemon",
    "this is the mail system at host",
    "i'm sorry to have to inform you that your message could not",
    "invalid final delivery userid",
    "sorry, we were unable to deliver your message to the following address",
];

fn starts_with_reply_prefix(subject: &str) -> bool {
    let s = subject.trim_start();
    [
        "re:", "re :", "aw:", "sv:", "vs:", "r:", "rif:", "réf:", "ref:", "antw:", "odp:", "fw:", "fwd:", "wg:", "tr:",
        "rv:", "enc:", "i:", "doorst:", "vl:", "fs:", "回复:", "答复:", "転送:", "返信:",
    ]
    .iter()
    .any(|p| s.starts_with(p))
}

/// `Return-Path: <>`.
pub(crate) fn null_sender(top: &Envelope) -> bool {
    top.get("return-path").is_some_and(|r| r.trim().trim_matches(['<', '>']).trim().is_empty())
}

fn auto_submitted(top: &Envelope) -> bool {
    top.get("auto-submitted").is_some_and(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("no"))
}

fn looks_like_bounce(mail: &Mail, report: &str, subject: &str) -> bool {
    let daemon = daemon_sender(&mail.top);
    let null_sender = null_sender(&mail.top) || mail.top.from.is_empty();
    let auto = auto_submitted(&mail.top);
    let failed_header = mail.top.has("x-failed-recipients");
    let subject_hit = text::contains_any(subject, BOUNCE_SUBJECTS);
    let phrase_hit = text::contains_any(report, BOUNCE_PHRASES);
    let strong_hit = text::contains_any(report, STRONG_PHRASES);
    let has_code = !text::enhanced_codes(report).is_empty() || !text::smtp_codes(report).is_empty();
    let has_original = !mail.attached.is_empty();

    // A person forwarding or answering a failure notice.
    if starts_with_reply_prefix(subject) && !daemon && !null_sender && !auto && !failed_header {
        return false;
    }
    failed_header
        || (daemon && (subject_hit || phrase_hit || has_code))
        || (strong_hit && (null_sender || auto || subject_hit || has_original || has_code))
        || (subject_hit && phrase_hit && (null_sender || auto || has_original || has_code))
}

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
    text::contains_any(&t, ORIGINAL_MARKERS)
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
            for l in lines.iter().skip(i).take(8) {
                if l.starts_with([' ', '\t']) {
                    continue;
                }
                if text::parse_field_line(l.trim_end()).is_some() {
                    n += 1;
                } else {
                    break;
                }
            }
            if n >= 3 {
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
            originals.push(Envelope::from_fields(fields));
        }
    }
    (report, originals, original_texts)
}

/// Addresses that belong to us (the sender of the original) or to the reporting system.
fn own_addresses(mail: &Mail, originals: &[Envelope], report_lower: &str) -> HashSet<String> {
    let mut set = HashSet::new();
    let top = &mail.top;
    set.extend(top.from.iter().cloned());
    set.extend(top.to.iter().cloned());
    set.extend(top.cc.iter().cloned());
    // Not Delivered-To / X-Original-To: some agents put the failed recipient there.
    for name in ["return-path", "sender", "reply-to", "errors-to"] {
        for v in top.all(name) {
            set.extend(text::find_addresses(v).into_iter().map(|f| f.address));
        }
    }
    for env in originals {
        set.extend(env.from.iter().cloned());
        for name in ["sender", "return-path", "reply-to", "errors-to", "x-envelope-from"] {
            for v in env.all(name) {
                set.extend(text::find_addresses(v).into_iter().map(|f| f.address));
            }
        }
    }
    // "envelope-from <x>", "from x" in the notice's own text.
    for marker in ["envelope-from", "envelope-sender", "mail from:", "return-path:"] {
        let mut rest = report_lower;
        while let Some(p) = rest.find(marker) {
            let after = rest.get(p + marker.len()..).unwrap_or("");
            let window = text::truncate(after, 80);
            if let Some(a) = text::find_addresses(window).into_iter().next() {
                set.insert(a.address);
            }
            rest = after;
        }
    }
    set
}

const FAILURE_WORDS: &[&str] = &[
    "unknown",
    "not found",
    "does not exist",
    "doesn't exist",
    "no such",
    "rejected",
    "refused",
    "failed",
    "failure",
    "full",
    "quota",
    "disabled",
    "invalid",
    "unavailable",
    "not delivered",
    "undeliverable",
    "couldn't be delivered",
    "could not be delivered",
    "denied",
    "blocked",
    "not allowed",
    "error",
    "inactive",
    "suspended",
    "expired",
    "deactivated",
    "not listed",
    "unrouteable",
    "unroutable",
    "bad destination",
    "not accepted",
    "over quota",
    "no mailbox",
    "mailbox",
    "user",
    "delayed",
    "spam",
    "policy",
    "wasn't delivered",
    "couldn't be found",
    "could not be found",
    "unable to receive",
    "not be delivered",
    "problem delivering",
    "temporary problem",
    "did not accept",
    "timed out",
];

const RECIPIENT_CUES: &[&str] = &[
    "to ",
    "to:",
    "to <",
    "recipient",
    "rcpt",
    "address",
    "addressed",
    "deliver",
    "user",
    "mailbox",
    "an ",
    "à ",
    "destinat",
    "empfänger",
    "adresse",
    "failed:",
    "account",
    "userid",
];

fn line_has_failure(line: &str) -> bool {
    text::contains_any(line, FAILURE_WORDS)
        || text::contains_any(line, BOUNCE_PHRASES)
        || !text::enhanced_codes(line).is_empty()
        || !text::smtp_codes(line).is_empty()
}

struct Candidate {
    address: String,
    line: usize,
    score: i32,
}

fn candidates(report_lower_lines: &[String], own: &HashSet<String>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for (i, line) in report_lower_lines.iter().enumerate() {
        let trimmed = line.trim();
        if text::is_header_line(trimmed) || trimmed.starts_with("received:") || trimmed.starts_with("message-id") {
            continue;
        }
        for found in text::find_addresses(line) {
            let addr = found.address.clone();
            if own.contains(&addr) {
                continue;
            }
            let before = line.get(..found.start).unwrap_or("");
            let after = line.get(found.end..).unwrap_or("");
            if before.ends_with(['=', '/', '?', '&', '.'])
                || before.ends_with("mailto:")
                || after.starts_with(['/', '?'])
            {
                continue;
            }
            if before.trim_end().ends_with("for") && after.trim_start().starts_with(';') {
                // "for <addr>;" of a Received line.
                continue;
            }
            let local = addr.split('@').next().unwrap_or("");
            let service = matches!(
                local,
                "mailer-daemon"
                    | "postmaster"
                    | "abuse"
                    | "hostmaster"
                    | "webmaster"
                    | "support"
                    | "help"
                    | "noreply"
                    | "no-reply"
                    | "helpdesk"
                    | "admin"
            );
            let lead =
                before.trim_start().trim_start_matches(['<', '"', '\'', '-', '*', '•', '(', '[', '>', ' ', '\t']);
            let lead = lead.trim_end().trim_end_matches(['<', '"', '\'', '(', '[']).trim_end();
            let alone = after
                .trim()
                .trim_start_matches(['>', '"', '\'', ')', ']'])
                .trim_matches([':', ',', ';', '.', ' ', '\t'])
                .is_empty();
            let mut score = 0;
            if lead.is_empty() {
                score += if alone { 4 } else { 3 };
            } else if lead.len() <= 40 && lead.ends_with([':', ';']) {
                // "Recipient: <addr>", "RCPT TO:<addr>", "Did not reach the following recipient: addr".
                score += 3;
            } else if lead.len() <= 12 && lead.bytes().all(|b| b.is_ascii_digit() || b".<>- #".contains(&b)) {
                // Transcripts: "550 <addr>... User unknown", "<<< 550 <addr>".
                score += 3;
            }
            let window_start = before.len().saturating_sub(60);
            let window = before.get(window_start..).unwrap_or(before);
            if text::contains_any(window, RECIPIENT_CUES) {
                score += 2;
            }
            if line_has_failure(line) {
                score += 2;
            } else if report_lower_lines.iter().skip(i + 1).take(3).any(|l| line_has_failure(l)) {
                score += 1;
            }
            if service && score < 6 {
                continue;
            }
            if score >= 4 {
                match out.iter_mut().find(|c| c.address == addr) {
                    Some(c) => c.score = c.score.max(score),
                    None => out.push(Candidate { address: addr, line: i, score }),
                }
            }
        }
    }
    out
}

/// The enhanced code on the line of the notice that names `address` (or the next two lines).
fn code_near(lines: &[String], address: &str) -> Option<String> {
    let i = lines.iter().position(|l| l.contains(address))?;
    let section = lines.get(i..(i + 3).min(lines.len()))?.join("\n");
    text::best_enhanced(&section)
}

/// True for a line that starts with an SMTP reply code and a space ("554 <a@b>... ").
fn starts_with_reply_code(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 4
        && matches!(b.first(), Some(b'4' | b'5'))
        && b.iter().skip(1).take(2).all(u8::is_ascii_digit)
        && b.get(3) == Some(&b' ')
}

/// The enhanced status code of a piece of text (no structured fields), or X.0.0 from a bare reply code.
fn text_status(section: &str) -> Option<String> {
    text::best_enhanced(section).or_else(|| {
        text::smtp_codes(section).into_iter().next().and_then(|c| c.code.get(..1).map(|class| format!("{class}.0.0")))
    })
}

/// The lines of the notice about `address`: its line and the next few.
fn section_near(lines: &[String], address: &str) -> String {
    match lines.iter().position(|l| l.contains(address)) {
        Some(i) => lines.get(i..(i + 8).min(lines.len())).map(|s| s.join("\n")).unwrap_or_default(),
        None => String::new(),
    }
}

fn is_delay_notice(report_lower: &str, subject: &str) -> bool {
    let delay_subject = text::contains_any(subject, &["delay", "warning", "verzögert", "retard", "retraso", "ritardo"]);
    let delay_text = text::contains_any(
        report_lower,
        &[
            "will continue to try",
            "will keep trying",
            "will retry",
            "will be retried",
            "still trying",
            "not yet been delivered",
            "has been delayed",
            "delivery has been delayed",
            "this is a warning message only",
            "no action is required on your part",
            "temporarily deferred",
            "delivery attempts will continue",
            "will try again",
        ],
    );
    let given_up = text::contains_any(report_lower, &["permanent error", "permanent failure", "giving up", "given up"]);
    (delay_subject || delay_text) && !given_up
}

/// Recipients of a failure notice without (usable) delivery-status fields.
fn text_recipients(
    mail: &Mail,
    report: &str,
    report_lower: &str,
    subject: &str,
    originals: &[Envelope],
) -> Vec<Recipient> {
    let lines: Vec<String> = report.lines().map(str::to_lowercase).collect();
    let own = own_addresses(mail, originals, report_lower);
    let global = text_status(&lines.join("\n"));
    let delay_notice = is_delay_notice(report_lower, subject);

    let mut addresses: Vec<(String, Option<usize>)> = Vec::new();
    let mut cands = candidates(&lines, &own);
    cands.truncate(MAX_RECIPIENTS);
    let best = cands.iter().map(|c| c.score).max().unwrap_or(0);
    for c in cands {
        if c.score >= best.min(5) {
            addresses.push((c.address, Some(c.line)));
        }
    }
    if addresses.is_empty() {
        // Exim's X-Failed-Recipients header names them outright.
        for v in mail.top.all("x-failed-recipients") {
            for f in text::find_addresses(v) {
                if !addresses.iter().any(|(a, _)| *a == f.address) {
                    let line = lines.iter().position(|l| l.contains(&f.address));
                    addresses.push((f.address, line));
                }
            }
        }
    }
    if addresses.is_empty() {
        // Fall back to where the returned original was sent.
        for env in originals {
            for a in env.to.iter().chain(env.cc.iter()) {
                if !own.contains(a) && !addresses.iter().any(|(x, _)| x == a) {
                    let line = lines.iter().position(|l| l.contains(a.as_str()));
                    addresses.push((a.clone(), line));
                }
            }
            if !addresses.is_empty() {
                break;
            }
        }
    }
    if addresses.is_empty() {
        return Vec::new();
    }

    let candidate_lines: Vec<usize> = addresses.iter().filter_map(|(_, l)| *l).collect();
    let mut whole = WholeNotice::new(report_lower);
    addresses
        .into_iter()
        .map(|(address, line)| {
            let section = match line {
                Some(l) => {
                    // The section of the notice about this recipient: its line up to the next recipient.
                    let mut end =
                        candidate_lines.iter().copied().filter(|&o| o > l).min().unwrap_or(lines.len()).min(l + 8);
                    // In a list of replies, one a line ("554 <a@b>... reason", Sendmail), the next
                    // reply is about someone else.
                    let starts_with_reply = |i: usize| lines.get(i).is_some_and(|x| starts_with_reply_code(x));
                    if starts_with_reply(l)
                        && let Some(next) = (l + 1..end).find(|&i| starts_with_reply(i))
                    {
                        end = next;
                    }
                    lines.get(l..end.max(l + 1)).map(|s| s.join("\n")).unwrap_or_default()
                }
                None => String::new(),
            };
            let status = text_status(&section).or_else(|| global.clone());
            let delayed = delay_notice && !status.as_deref().is_some_and(|s| s.starts_with('5'));
            let reason = reason_of(status.as_deref(), &[&section], delayed, &mut whole);
            Recipient::bounced(address, reason, status)
        })
        .collect()
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
            let l = line.trim_start();
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
