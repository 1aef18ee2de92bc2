//! The bounced recipients of a failure notice without (usable) delivery-status fields: the
//! addresses its text names near failure words, with the code and reason found near each.

use std::collections::HashSet;

use super::notice::{BOUNCE_PHRASES, is_delay_notice};
use super::{MAX_RECIPIENTS, WholeNotice, reason_of};
use crate::inbound::Recipient;
use crate::inbound::mime::{Envelope, Mail};
use crate::inbound::text;

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
    // The returned original only: a message quoted inside it (a list server's answer returning the
    // command it answers) is someone else's, maybe the failed recipient's.
    for env in originals.iter().filter(|e| e.depth <= 1) {
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

/// Words that name the address right after them as the one the failed message was for.
const ADDRESSED_CUES: &[&str] =
    &["was addressed,", "addressed to", "message to", "mail to", "could not be delivered to"];

/// Headings that introduce the list of failed recipients, in the wordings of the common systems
/// (Exchange 5.5 to 2003, Sendmail, qmail, MDaemon, Lotus Notes, Postfix, Exim), lowercased.
pub(super) const FAILED_HEADINGS: &[&str] = &[
    "did not reach the following recipient",
    "following recipient(s) could not be reached",
    "following recipients could not be reached",
    "following addresses had permanent fatal errors",
    "following addresses had transient non-fatal errors",
    "delivery has failed to these recipients or groups",
    "the following address(es) failed",
    "did not receive a copy of your message",
    "wasn't able to deliver your message to the following addresses",
    "could not be delivered to the following recipient",
    "delivery to the following recipient",
    "failed recipients",
    "was not delivered to:",
    "could not be delivered to one or more recipients",
    "failed to deliver to the following recipient",
];

/// The lines of the notice that head the list of failed recipients.
fn heading_lines(lines: &[String]) -> Vec<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| text::contains_any(&text::squash(l), FAILED_HEADINGS))
        .map(|(i, _)| i)
        .collect()
}

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
    let headings = heading_lines(report_lower_lines);
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
            if ADDRESSED_CUES.iter().any(|c| lead.ends_with(c)) {
                // "The address to which your message was addressed, x@y, did not ...", "The
                // following message, addressed to 'x@y', failed": the sentence is about this one.
                score += 2;
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
            // Under a heading of the failed list, an address is one of them; above the first
            // heading it is the summary of the original message (Exchange's "Your message To: ...
            // Cc: ... did not reach the following recipient(s)").
            if headings.iter().any(|&h| h < i && i <= h + 6) || headings.contains(&i) && lead.ends_with(':') {
                score += 3;
            } else if headings.first().is_some_and(|&h| i < h) {
                score -= 3;
            }
            if before.trim_end().ends_with("expanded from:") {
                // Sendmail's "(expanded from: <addr>)": the address the sender gave, not another
                // recipient (see `expanded_from`).
                continue;
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
pub(super) fn code_near(lines: &[String], address: &str) -> Option<String> {
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

/// The first line of the session transcript (Sendmail's "while talking to host:", then ">>>" for
/// what was sent and "<<<" for the answer) right above line `l`; `l` when there is none.
fn dialogue_start(lines: &[String], l: usize) -> usize {
    let mut start = l;
    while let Some(prev) = start.checked_sub(1).and_then(|i| lines.get(i)).map(|p| p.trim_start()) {
        if prev.starts_with(">>>") || prev.starts_with("<<<") {
            start -= 1;
        } else {
            if prev.starts_with("while talking to") {
                start -= 1;
            }
            break;
        }
    }
    start
}

/// The enhanced status code of a piece of text (no structured fields), or X.0.0 from a bare reply code.
pub(super) fn text_status(section: &str) -> Option<String> {
    text::best_enhanced(section).or_else(|| {
        text::smtp_codes(section).into_iter().next().and_then(|c| c.code.get(..1).map(|class| format!("{class}.0.0")))
    })
}

/// The lines of the notice about `address`: its line and the next few, up to a line that names
/// another of the failed recipients (`others`).
pub(super) fn section_near(lines: &[String], address: &str, others: &[&str]) -> String {
    let Some(i) = lines.iter().position(|l| l.contains(address)) else { return String::new() };
    let mut end = (i + 8).min(lines.len());
    if let Some(next) = (i + 1..end)
        .find(|&j| lines.get(j).is_some_and(|l| !l.contains(address) && others.iter().any(|o| l.contains(o))))
    {
        end = next;
    }
    lines.get(i..end).map(|s| s.join("\n")).unwrap_or_default()
}

/// Sendmail's "(expanded from: <addr>)" on the line after a failed address: the address the
/// sender gave, before an alias or a forward.
fn expanded_from(lines: &[String], line: usize) -> Option<String> {
    let next = lines.get(line + 1)?;
    let (_, after) = next.split_once("expanded from:")?;
    text::find_addresses(after).into_iter().next().map(|f| f.address)
}

/// Recipients of a failure notice without (usable) delivery-status fields.
pub(super) fn text_recipients(
    mail: &Mail,
    report: &str,
    report_lower: &str,
    subject: &str,
    originals: &[Envelope],
) -> Vec<Recipient> {
    let raw_lines: Vec<&str> = report.lines().collect();
    let lines: Vec<String> = raw_lines.iter().map(|l| l.to_lowercase()).collect();
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
        for env in originals.iter().filter(|e| e.depth <= 1) {
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

    // The address a failed one was "expanded from" is that one's original, not another recipient.
    let expanded: Vec<String> =
        addresses.iter().filter_map(|(_, l)| l.and_then(|l| expanded_from(&lines, l))).collect();
    if addresses.iter().any(|(a, _)| !expanded.contains(a)) {
        addresses.retain(|(a, _)| !expanded.contains(a));
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
                    // Sendmail writes the dialogue ("while talking to host:", ">>> MAIL From:",
                    // "<<< 501 ...") above the line that gives up on a recipient ("554 <a@b>...
                    // Remote protocol error"): that dialogue is this recipient's.
                    let start = if starts_with_reply(l) { dialogue_start(&lines, l) } else { l };
                    // As written: a transcript names the refused command in capitals.
                    raw_lines.get(start..end.max(l + 1)).map(|s| s.join("\n")).unwrap_or_default()
                }
                None => String::new(),
            };
            let status = text_status(&section).or_else(|| global.clone());
            let delayed = delay_notice && !status.as_deref().is_some_and(|s| s.starts_with('5'));
            let reason = reason_of(status.as_deref(), &[&section], delayed, &mut whole);
            let original = line.and_then(|l| expanded_from(&lines, l)).filter(|o| *o != address);
            Recipient { original, ..Recipient::bounced(address, reason, status) }
        })
        .collect()
}
