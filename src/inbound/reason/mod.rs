//! Why a message bounced: one [`BounceReason`] per failed recipient, from the enhanced status code
//! (RFC 3463), the SMTP reply code, the command the server refused and the diagnostic text.
//!
//! The same rules serve delivery status notifications ([`super::classify`]) and refusals met while
//! talking SMTP ([`smtp_reason`]). The vocabulary and most precedences follow the Sisimai bounce
//! parser's (<https://github.com/sisimai/p5-sisimai>, BSD 2-Clause licence, Copyright (C) 2014-2021
//! azumakuniyuki and sisimai development team), whose phrase lists several of the lists below adapt,
//! together with the texts of the common mail systems (Postfix, Exim, Sendmail, qmail, Exchange /
//! Office 365, Gmail, Yahoo, Outlook.com, Amazon SES, spam filters).

use serde::Serialize;

use super::text;

pub(crate) use matching::normalize;
use matching::{phrase_in, text_has, text_matches};
use phrases::{MTA_PHRASES, SENDER_REFUSED};
use providers::provider_reason;
pub use smtp::smtp_reason;
pub(crate) use smtp::{Command, command, command_named};
use status::status_reason;

mod matching;
mod phrases;
mod providers;
mod smtp;
mod status;

#[cfg(test)]
mod tests;

/// Why a recipient bounced, in the reference vocabulary (Sisimai's).
///
/// The reasons fall in three groups ([`BounceReason::blame`]), and a sequencer treats each differently:
///
/// - **Dead address** ([`BounceReason::is_dead_address`]): `userunknown`, `hostunknown`, `hasmoved`,
///   `notaccept`. The address or its domain does not exist or takes no mail: the lead is suppressed.
/// - **Refusal aimed at the sender** ([`BounceReason::blames_sender`]): `blocked`, `spamdetected`,
///   `virusdetected`, `policyviolation`, `securityerror`, `norelaying`, `rejected`, `contenterror`,
///   `mesgtoobig`, `toomanyconn`, `syntaxerror`. The receiving side refused the sending mailbox, its
///   IP address, domain or authentication, the content or size of the message we sent, our sending
///   rate or our SMTP client, not the address: the lead is not blamed, and the refusal counts against
///   the mailbox (which pauses itself past a threshold).
/// - **Passing trouble** ([`BounceReason::is_passing`]): `mailboxfull`, `exceedlimit`, `systemfull`,
///   `suspend`, `expired`, `networkerror`, `systemerror`, `mailererror`, `filtered`, `onhold`,
///   `undefined`. A full or suspended mailbox, a server or network problem, a delivery that timed
///   out, or nothing telling: the send is retried. `filtered` is here and not with the sender's
///   refusals because it is the recipient's own filter (a sender allow list, "user reject"), which
///   says nothing of the mailbox's standing, and because the reference also gives it to a "user
///   unknown" answered to DATA (after the server took the recipient) or without saying to which
///   command, where the address may as well be dead: a retry, and the tick's count of temporary
///   bounces, settle both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceReason {
    /// The mailbox does not exist (X.1.1, "user unknown").
    Userunknown,
    /// The domain does not exist or cannot be routed to (X.1.2, "no such domain").
    Hostunknown,
    /// The mailbox has moved without forwarding (X.1.6).
    Hasmoved,
    /// The domain accepts no mail (null MX, X.1.10, X.3.2).
    Notaccept,
    /// The mailbox is full (X.2.2).
    Mailboxfull,
    /// The message exceeds a limit of the recipient (X.2.3).
    Exceedlimit,
    /// The message is too big for the receiving system (X.3.4).
    Mesgtoobig,
    /// The sending IP address or host name is refused (block lists, reverse DNS, HELO).
    Blocked,
    /// The message was taken for spam.
    Spamdetected,
    /// The message was taken to carry a virus.
    Virusdetected,
    /// The message breaks a policy of the receiving side (DMARC, attachments, lists).
    Policyviolation,
    /// Authentication or encryption is missing or failed (X.7.x).
    Securityerror,
    /// The sender's address or domain is refused (X.1.7, X.1.8, refused at MAIL FROM).
    Rejected,
    /// The recipient's filter refuses this sender, or a "user unknown" answered to DATA.
    Filtered,
    /// The receiving server does not relay for us.
    Norelaying,
    /// The mailbox is disabled or suspended.
    Suspend,
    /// Delivery was given up after retrying too long (X.4.7).
    Expired,
    /// A network or routing problem (DNS, loops, unreachable hosts).
    Networkerror,
    /// A problem of the receiving system.
    Systemerror,
    /// The receiving system is out of space (X.3.1).
    Systemfull,
    /// Too many connections, messages or recipients from us.
    Toomanyconn,
    /// The message's headers or MIME structure were refused (X.6.x).
    Contenterror,
    /// The SMTP conversation had a syntax error (500-507).
    Syntaxerror,
    /// The recipient's delivery program failed.
    Mailererror,
    /// A failure whose reason the text does not tell.
    Onhold,
    /// Nothing to go by.
    Undefined,
}

/// How a sequencer treats a [`BounceReason`]; see its documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The address is dead: suppress the lead.
    DeadAddress,
    /// A refusal aimed at the sending mailbox: count it against the mailbox.
    Sender,
    /// Passing trouble: retry.
    Passing,
}

impl BounceReason {
    /// Every reason, in the order of the enum.
    pub const ALL: [BounceReason; 26] = [
        BounceReason::Userunknown,
        BounceReason::Hostunknown,
        BounceReason::Hasmoved,
        BounceReason::Notaccept,
        BounceReason::Mailboxfull,
        BounceReason::Exceedlimit,
        BounceReason::Mesgtoobig,
        BounceReason::Blocked,
        BounceReason::Spamdetected,
        BounceReason::Virusdetected,
        BounceReason::Policyviolation,
        BounceReason::Securityerror,
        BounceReason::Rejected,
        BounceReason::Filtered,
        BounceReason::Norelaying,
        BounceReason::Suspend,
        BounceReason::Expired,
        BounceReason::Networkerror,
        BounceReason::Systemerror,
        BounceReason::Systemfull,
        BounceReason::Toomanyconn,
        BounceReason::Contenterror,
        BounceReason::Syntaxerror,
        BounceReason::Mailererror,
        BounceReason::Onhold,
        BounceReason::Undefined,
    ];

    /// The name JSON, the database and logs use (`userunknown`, `mailboxfull`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            BounceReason::Userunknown => "userunknown",
            BounceReason::Hostunknown => "hostunknown",
            BounceReason::Hasmoved => "hasmoved",
            BounceReason::Notaccept => "notaccept",
            BounceReason::Mailboxfull => "mailboxfull",
            BounceReason::Exceedlimit => "exceedlimit",
            BounceReason::Mesgtoobig => "mesgtoobig",
            BounceReason::Blocked => "blocked",
            BounceReason::Spamdetected => "spamdetected",
            BounceReason::Virusdetected => "virusdetected",
            BounceReason::Policyviolation => "policyviolation",
            BounceReason::Securityerror => "securityerror",
            BounceReason::Rejected => "rejected",
            BounceReason::Filtered => "filtered",
            BounceReason::Norelaying => "norelaying",
            BounceReason::Suspend => "suspend",
            BounceReason::Expired => "expired",
            BounceReason::Networkerror => "networkerror",
            BounceReason::Systemerror => "systemerror",
            BounceReason::Systemfull => "systemfull",
            BounceReason::Toomanyconn => "toomanyconn",
            BounceReason::Contenterror => "contenterror",
            BounceReason::Syntaxerror => "syntaxerror",
            BounceReason::Mailererror => "mailererror",
            BounceReason::Onhold => "onhold",
            BounceReason::Undefined => "undefined",
        }
    }

    /// The reason named `name` (as [`BounceReason::as_str`] writes it, any case).
    pub fn parse(name: &str) -> Option<BounceReason> {
        let name = name.trim();
        BounceReason::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(name))
    }

    /// How a sequencer treats this reason.
    pub fn blame(self) -> Blame {
        match self {
            BounceReason::Userunknown
            | BounceReason::Hostunknown
            | BounceReason::Hasmoved
            | BounceReason::Notaccept => Blame::DeadAddress,
            BounceReason::Blocked
            | BounceReason::Spamdetected
            | BounceReason::Virusdetected
            | BounceReason::Policyviolation
            | BounceReason::Securityerror
            | BounceReason::Rejected
            | BounceReason::Norelaying
            | BounceReason::Contenterror
            | BounceReason::Mesgtoobig
            | BounceReason::Toomanyconn
            | BounceReason::Syntaxerror => Blame::Sender,
            BounceReason::Mailboxfull
            | BounceReason::Exceedlimit
            | BounceReason::Systemfull
            | BounceReason::Suspend
            | BounceReason::Expired
            | BounceReason::Networkerror
            | BounceReason::Systemerror
            | BounceReason::Mailererror
            | BounceReason::Filtered
            | BounceReason::Onhold
            | BounceReason::Undefined => Blame::Passing,
        }
    }

    /// True when the address itself is dead: `userunknown`, `hostunknown`, `hasmoved`, `notaccept`.
    pub fn is_dead_address(self) -> bool {
        self.blame() == Blame::DeadAddress
    }

    /// True for a refusal aimed at the sending mailbox, its IP address, domain, authentication,
    /// content or rate rather than at the address.
    pub fn blames_sender(self) -> bool {
        self.blame() == Blame::Sender
    }

    /// True for passing trouble, worth a retry.
    pub fn is_passing(self) -> bool {
        self.blame() == Blame::Passing
    }
}

impl std::fmt::Display for BounceReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    //    unknown" wins over a generic code, a "user unknown" answered to DATA is a filter.
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
                _ => matches!(command, Some(Command::Rcpt)) && matches(r),
            },
            BounceReason::Filtered => match by_code {
                Some(BounceReason::Suspend) => false,
                _ if matches(r) => true,
                Some(BounceReason::Filtered) => matches(BounceReason::Userunknown),
                _ => !matches!(command, Some(Command::Rcpt | Command::Mail)) && matches(BounceReason::Userunknown),
            },
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
