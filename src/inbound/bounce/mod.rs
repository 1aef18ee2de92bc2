//! Bounces: RFC 3464 delivery status notifications and the common non-standard failure notices
//! (Postfix, Sendmail, Exim, qmail, Exchange / Office 365, Gmail, Yahoo, Lotus Notes, ...).

use super::mime::{Envelope, Mail, is_headers_type};
use super::reason::{self, Evidence, decide};
use super::text;
use super::{BounceReason, Recipient};

use dsn::{DsnRecord, dsn_records, judge};
use notice::{auto_submitted, is_success_notice, looks_like_bounce};
pub(crate) use notice::{daemon_sender, null_sender};
pub(crate) use original::{original_ids, report_and_originals};
use recipients::{code_near, section_near, text_recipients, text_status};

mod dsn;
mod notice;
mod original;
mod recipients;

/// What the delivery-report analysis found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Detection {
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

/// The whole notice, the last text a recipient's reason is looked for in, with the reasons already
/// found in it (they depend only on the code, the command and the action, which recipients share):
/// a notice listing many recipients is read once, not once per recipient.
struct WholeNotice<'a> {
    text: &'a str,
    seen: Vec<(Option<String>, Option<reason::Command>, bool, BounceReason)>,
}

impl<'a> WholeNotice<'a> {
    fn new(report_lower: &'a str) -> WholeNotice<'a> {
        WholeNotice { text: text::truncate(report_lower, 8 * 1024), seen: Vec::new() }
    }

    fn reason(&mut self, status: Option<&str>, command: Option<reason::Command>, delayed: bool) -> BounceReason {
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
fn reason_of(status: Option<&str>, texts: &[&str], delayed: bool, whole: &mut WholeNotice<'_>) -> BounceReason {
    let command = texts
        .iter()
        .find_map(|t| reason::command(&reason::normalize(t)))
        .or_else(|| texts.iter().find_map(|t| reason::command_named(t)))
        .or_else(|| texts.iter().find_map(|t| local_delivery(t)));
    let mut fallback = None;
    for text in texts.iter().filter(|t| !t.trim().is_empty()) {
        let r = decide(&Evidence { status, reply: None, text, delayed, command });
        if !matches!(r, BounceReason::Onhold | BounceReason::Undefined) {
            return r;
        }
        fallback.get_or_insert(r);
    }
    let r = whole.reason(status, command, delayed);
    match fallback {
        Some(f) if matches!(r, BounceReason::Onhold | BounceReason::Undefined) => f,
        _ => r,
    }
}

/// A Diagnostic-Code of the reporting system's own (RFC 3464 2.3.6: `X-Postfix;`, `X-Unix;`, not
/// `smtp;`) tells a failure of its own recipient lookup or local delivery, where no remote server
/// read the message: a "user unknown" there is the recipient's, as at RCPT TO.
fn local_delivery(diagnostic: &str) -> Option<reason::Command> {
    let kind = diagnostic.trim_start().split_once(';')?.0.trim().to_ascii_lowercase();
    matches!(kind.as_str(), "x-postfix" | "x-unix" | "x-local").then_some(reason::Command::Rcpt)
}

/// Analyses `mail` as a delivery report.
pub(crate) fn detect(mail: &Mail, report_text: &str, originals: &[Envelope]) -> Detection {
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
    if records.is_empty() {
        // Some reports put the delivery-status fields in a text part, and some notices that are
        // no multipart/report paste them whole (Amazon WorkMail's "Technical report:").
        records = mail
            .parts
            .iter()
            .filter(|p| p.depth == 0 && p.ctype.starts_with("text/") && !is_headers_type(&p.ctype))
            .flat_map(|p| dsn_records(&p.text))
            .filter(|r| r.action.is_some() || r.status.is_some())
            .filter(|r| is_report || (r.final_rcpt.is_some() && r.action.is_some()))
            .collect();
    }
    let looks = std::cell::OnceCell::new();
    let looks_like_bounce =
        || *looks.get_or_init(|| looks_like_bounce(mail, report_text, &lower_report, &subject, originals));
    let fields = !records.is_empty() && (is_report || looks_like_bounce());

    if fields {
        let failed: Vec<&DsnRecord> = records.iter().filter(|r| !r.is_success()).collect();
        if failed.is_empty() {
            return Detection::Delivered;
        }
        let report_lines: Vec<String> = report_text.lines().map(str::to_lowercase).collect();
        let mut whole = WholeNotice::new(&lower_report);
        let mut out: Vec<Recipient> = Vec::new();
        let addresses: Vec<&str> = failed.iter().filter_map(|r| r.address()).collect();
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
            let section = section_near(&report_lines, address, &addresses);
            let reason = reason_of(status.as_deref(), &[diagnostic, &section], delayed, &mut whole);
            let mut recipient = Recipient::bounced(address.to_string(), reason, status);
            if reason == BounceReason::Notaccept && r.action.as_deref().is_some_and(|a| a.starts_with("failed")) {
                // RFC 3464 "failed" is final: a domain that accepts no mail (a null MX, RFC 7505)
                // stays so whatever class the Status field gives (Gmail writes 4.0.0).
                recipient.permanent = true;
            }
            recipient.original = r.original_rcpt.clone().filter(|o| o != address);
            out.push(recipient);
        }
        if out.is_empty() {
            out = text_recipients(mail, report_text, &lower_report, &subject, originals);
        }
        return Detection::Bounce(google_groups(out, report_text, &lower_report));
    }

    if is_success_notice(&subject) {
        let automatic = daemon_sender(&mail.top) || null_sender(&mail.top) || auto_submitted(&mail.top);
        return if automatic { Detection::Delivered } else { Detection::None };
    }
    if is_report || looks_like_bounce() {
        let out = text_recipients(mail, report_text, &lower_report, &subject, originals);
        return Detection::Bounce(google_groups(out, report_text, &lower_report));
    }
    Detection::None
}

/// The verdict of a failure notice as a whole, for a notice that names no recipient that could be
/// read: the status code and the reason its text tells (a delay is only a delay).
pub(crate) fn notice_verdict(mail: &Mail, report_text: &str) -> (BounceReason, Option<String>) {
    let lower_report = text::squash(report_text);
    let subject = mail.top.subject.as_deref().map(text::squash).unwrap_or_default();
    let status = text_status(report_text);
    let delayed =
        notice::is_delay_notice(&lower_report, &subject) && !status.as_deref().is_some_and(|s| s.starts_with('5'));
    let mut whole = WholeNotice::new(&lower_report);
    let reason = reason_of(status.as_deref(), &[report_text], delayed, &mut whole);
    // A delay without a code is passing trouble, whatever its words.
    let status = status.or_else(|| delayed.then(|| "4.0.0".to_string()));
    (reason, status)
}

/// Google Groups' refusal of a post ("the group you tried to contact may not exist, or you may not have
/// permission to post", in the sender's language, followed by four bulleted possible causes) is a
/// refusal of the sender.
fn google_groups(mut out: Vec<Recipient>, report: &str, report_lower: &str) -> Vec<Recipient> {
    // The bullets start a line, with or without a space before them.
    let bullets = report.lines().filter(|l| l.strip_prefix(' ').unwrap_or(l).starts_with("* ")).count();
    if report_lower.contains("groups.google.com") && bullets == 4 {
        for r in &mut out {
            *r = Recipient::bounced(std::mem::take(&mut r.address), BounceReason::Rejected, r.status.take());
        }
    }
    out
}
