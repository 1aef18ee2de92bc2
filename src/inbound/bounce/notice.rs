//! Telling a failure notice without delivery-status fields from other mail: the sender, the
//! subject and the phrases of the notice; delay warnings and success reports.

use crate::inbound::mime::{Envelope, Mail};
use crate::inbound::text;

pub(super) fn is_success_notice(subject: &str) -> bool {
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
    "post_master",
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
    "mail failure",
    "mail failed",
    "returning to sender",
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
    "failed mail",
    "error during delivery",
];

/// Phrases of failure notices, lowercased, white space collapsed.
pub(super) const BOUNCE_PHRASES: &[&str] = &[
    "this message was created automatically by mail delivery software",
    "this is the qmail-send program",
    "i'm afraid i wasn't able to deliver",
    // Section headings of the notices of MDaemon, SMTP32, E500 and the like.
    "failed recipients",
    "failed recipient(s)",
    "following recipient(s) could not be reached",
    "the following recipients could not be reached",
    "did not reach some or all of the intended recipients",
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
    // The same, as the older systems write French in ASCII.
    "n'a pas pu etre remis",
    "n'a pas pu etre delivre",
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

pub(super) fn auto_submitted(top: &Envelope) -> bool {
    top.get("auto-submitted").is_some_and(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("no"))
}

/// True when the notice's text opens with a failure phrase: its first line of words (rules of
/// asterisks, dashes or equal signs left out). A person forwarding or answering a failure notice
/// writes their own words first, or quotes it under a forward line.
fn opens_with_failure(report: &str) -> bool {
    let opening = report.lines().map(str::trim).find(|l| l.chars().any(char::is_alphanumeric)).unwrap_or("");
    !opening.starts_with('>') && text::contains_any(&text::squash(opening), BOUNCE_PHRASES)
}

/// Whether a message without delivery-status fields is a failure notice: `report` is its text,
/// `report_lower` the same lowercased with white space collapsed, `originals` the headers of the
/// messages it returns (attached or inlined).
pub(super) fn looks_like_bounce(
    mail: &Mail,
    report: &str,
    report_lower: &str,
    subject: &str,
    originals: &[Envelope],
) -> bool {
    let daemon = daemon_sender(&mail.top);
    let null_sender = null_sender(&mail.top) || mail.top.from.is_empty();
    let auto = auto_submitted(&mail.top);
    let failed_header = mail.top.has("x-failed-recipients");
    let subject_hit = text::contains_any(subject, BOUNCE_SUBJECTS);
    let phrase_hit = text::contains_any(report_lower, BOUNCE_PHRASES);
    let strong_hit = text::contains_any(report_lower, STRONG_PHRASES);
    // Reply codes are read on the lines as written (a code starts a line of a transcript).
    let has_code = !text::enhanced_codes(report_lower).is_empty() || !text::smtp_codes(report).is_empty();
    let has_original = !originals.is_empty();

    // A person forwarding or answering a failure notice (and not a mail system that kept the
    // "RE:" of the subject of the message it returns: its notice opens with the failure).
    if starts_with_reply_prefix(subject)
        && !daemon
        && !null_sender
        && !auto
        && !failed_header
        && (!mail.in_reply_to.is_empty() || !subject_hit || !opens_with_failure(report))
    {
        return false;
    }
    failed_header
        || (daemon && (subject_hit || phrase_hit || has_code))
        // A mail system returning a message (RFC 5321 6.1: it returns it when it cannot deliver
        // it), in whatever language its notice is written.
        || (daemon && !mail.attached.is_empty() && mail.attached.iter().any(|e| e.depth == 1))
        || (strong_hit && (null_sender || auto || subject_hit || has_original || has_code))
        || (subject_hit && phrase_hit && (null_sender || auto || has_original || has_code))
        // A notice that says it in its subject and opens with it.
        || (subject_hit && opens_with_failure(report))
        // A null reverse path (RFC 5321 4.5.5: what notifications are sent with) on a failure's
        // wording, with a reply code or the returned message.
        || (null_sender && (subject_hit || phrase_hit) && (has_code || has_original))
}

pub(super) fn is_delay_notice(report_lower: &str, subject: &str) -> bool {
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
