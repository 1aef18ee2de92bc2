//! Why a message bounced: one [`BounceReason`] per failed recipient, from the enhanced status code
//! (RFC 3463), the SMTP reply code, the command the server refused and the diagnostic text.
//!
//! The same rules serve delivery status notifications ([`super::classify`]) and refusals met while
//! talking SMTP ([`smtp_reason`]). The vocabulary and most precedences follow the Sisimai bounce
//! parser's (<https://github.com/sisimai/p5-sisimai>, BSD 2-Clause licence, Copyright (C) 2014-2021
//! azumakuniyuki and sisimai development team), whose phrase lists several of the lists below adapt,
//! together with the texts of the common mail systems (Postfix, Exim, Sendmail, qmail, Exchange /
//! Office 365, Gmail, Yahoo, Outlook.com, Amazon SES, spam filters).

use super::text;

pub use crate::model::{Blame, BounceReason};
pub(crate) use matching::normalize;
use matching::{phrase_in, text_has, text_matches};
use phrases::{MTA_PHRASES, SENDER_REFUSED};
use providers::provider_reason;
pub(crate) use smtp::{Command, command, command_named};
pub use smtp::{refusal, smtp_reason};
use status::status_reason;

mod matching;
mod phrases;
mod providers;
mod smtp;
mod status;

#[cfg(test)]
mod tests;

/// What is known about one failed recipient.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Evidence<'a> {
    /// The enhanced status code, "5.1.1".
    pub status: Option<&'a str>,
    /// The SMTP reply code, when known apart from the text (else read from it).
    pub reply: Option<u16>,
    /// The diagnostic text: the server's reply, or the notice's words about the recipient.
    pub text: &'a str,
    /// The report says the delivery is only delayed (`Action: delayed`, a warning).
    pub delayed: bool,
    /// The command refused, when the text does not tell.
    pub command: Option<Command>,
}

/// The reason for a failure.
pub(crate) fn decide(ev: &Evidence<'_>) -> BounceReason {
    let t = normalize(ev.text);
    let status = ev.status.map(str::trim).filter(|s| s.starts_with('4') || s.starts_with('5'));
    let reply = ev.reply.or_else(|| text::smtp_codes(ev.text).first().and_then(|c| c.code.parse().ok()));
    let command = command(&t).or_else(|| command_named(ev.text)).or(ev.command);
    let by_code = status.and_then(status_reason);
    let matches = |r: BounceReason| text_matches(r, &t);

    // 1. A provider's own error code or message, or a mail system's own wording, says it outright.
    if let Some(r) = provider_reason(&t) {
        return r;
    }
    if let Some((_, r)) = MTA_PHRASES.iter().find(|(p, _)| phrase_in(&t, p)) {
        return *r;
    }
    if matches!(command, Some(Command::Helo | Command::Connect)) {
        // Refused before any address was given: the sending host is refused.
        return BounceReason::Blocked;
    }

    // 2. The telling codes and texts, in order: a full mailbox beats everything, "5.1.1 + user
    //    unknown" wins over a generic code.
    for r in FIRST {
        let hit = match r {
            BounceReason::Mesgtoobig => {
                by_code == Some(r)
                    || (by_code != Some(BounceReason::Exceedlimit) && status != Some("5.2.3") && matches(r))
            }
            BounceReason::Userunknown => match by_code {
                Some(BounceReason::Suspend) => false,
                // The code says the mailbox is bad unless the text says something else.
                Some(BounceReason::Userunknown) => ![
                    BounceReason::Norelaying,
                    BounceReason::Blocked,
                    BounceReason::Mailboxfull,
                    BounceReason::Hasmoved,
                    BounceReason::Rejected,
                    BounceReason::Filtered,
                ]
                .into_iter()
                .any(matches),
                // A text saying the mailbox does not exist says so whatever command it answered: a
                // server that takes every RCPT TO and looks the mailbox up after DATA still answers
                // for the address, and a recipient's filter that answers "unknown user" to us will
                // never let a follow-up through either.
                _ => matches(r),
            },
            BounceReason::Filtered => by_code != Some(BounceReason::Suspend) && matches(r),
            BounceReason::Rejected => {
                by_code == Some(r)
                    || text_has(&t, SENDER_REFUSED)
                    || (matches(r)
                        && (matches!(command, Some(Command::Mail))
                            || matches!(by_code, None | Some(BounceReason::Securityerror | BounceReason::Systemerror))))
            }
            BounceReason::Hostunknown => {
                if by_code == Some(r) {
                    !matches(BounceReason::Networkerror)
                } else {
                    matches(r)
                }
            }
            _ => by_code == Some(r) || matches(r),
        };
        if hit {
            return r;
        }
    }

    // 3. A code whose meaning the texts of step 4 cannot change.
    if let Some(r) = by_code
        && !RETRY.contains(&r)
    {
        return r;
    }

    // 4. The weaker texts.
    if let Some(r) = SECOND.into_iter().find(|&r| matches(r)) {
        return r;
    }

    // 5. The step the server refused, the code, its class, the reply code, the action.
    if matches!(command, Some(Command::Mail)) {
        return BounceReason::Rejected;
    }
    if let Some(r) = by_code {
        return r;
    }
    if let Some(s) = status {
        if s.get(1..4) == Some(".6.") {
            return BounceReason::Contenterror;
        }
        if s.get(1..4) == Some(".7.") {
            return BounceReason::Securityerror;
        }
    }
    if reply.is_some_and(|c| (500..=507).contains(&c) || (400..=407).contains(&c)) {
        return BounceReason::Syntaxerror;
    }
    if ev.delayed {
        return BounceReason::Expired;
    }
    if t.trim().is_empty() { BounceReason::Undefined } else { BounceReason::Onhold }
}

/// The texts of step 2 of [`decide`], in order.
const FIRST: [BounceReason; 13] = [
    BounceReason::Mailboxfull,
    BounceReason::Mesgtoobig,
    BounceReason::Exceedlimit,
    BounceReason::Suspend,
    BounceReason::Hasmoved,
    BounceReason::Norelaying,
    BounceReason::Userunknown,
    BounceReason::Filtered,
    BounceReason::Rejected,
    BounceReason::Hostunknown,
    BounceReason::Spamdetected,
    BounceReason::Toomanyconn,
    BounceReason::Blocked,
];

/// The texts of step 4 of [`decide`], in order.
const SECOND: [BounceReason; 14] = [
    BounceReason::Mailboxfull,
    BounceReason::Spamdetected,
    BounceReason::Policyviolation,
    BounceReason::Virusdetected,
    BounceReason::Norelaying,
    BounceReason::Securityerror,
    BounceReason::Systemerror,
    BounceReason::Networkerror,
    BounceReason::Suspend,
    BounceReason::Expired,
    BounceReason::Contenterror,
    BounceReason::Systemfull,
    BounceReason::Notaccept,
    BounceReason::Mailererror,
];

/// Reasons a code gives only tentatively: a matching text of step 4 refines them.
const RETRY: [BounceReason; 7] = [
    BounceReason::Userunknown,
    BounceReason::Hostunknown,
    BounceReason::Securityerror,
    BounceReason::Systemerror,
    BounceReason::Networkerror,
    BounceReason::Onhold,
    BounceReason::Undefined,
];
