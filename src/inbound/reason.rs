//! Why a message bounced: one [`Reason`] per failed recipient, from the enhanced status code
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

/// Why a recipient bounced, in the reference vocabulary (Sisimai's).
///
/// The reasons fall in three groups ([`Reason::blame`]), and a sequencer treats each differently:
///
/// - **Dead address** ([`Reason::is_dead_address`]): `userunknown`, `hostunknown`, `hasmoved`,
///   `notaccept`. The address or its domain does not exist or takes no mail: the lead is suppressed.
/// - **Refusal aimed at the sender** ([`Reason::blames_sender`]): `blocked`, `spamdetected`,
///   `virusdetected`, `policyviolation`, `securityerror`, `norelaying`, `rejected`, `contenterror`,
///   `mesgtoobig`, `toomanyconn`, `syntaxerror`. The receiving side refused the sending mailbox, its
///   IP address, domain or authentication, the content or size of the message we sent, our sending
///   rate or our SMTP client, not the address: the lead is not blamed, and the refusal counts against
///   the mailbox (which pauses itself past a threshold).
/// - **Passing trouble** ([`Reason::is_passing`]): `mailboxfull`, `exceedlimit`, `systemfull`,
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
pub enum Reason {
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

/// How a sequencer treats a [`Reason`]; see its documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The address is dead: suppress the lead.
    DeadAddress,
    /// A refusal aimed at the sending mailbox: count it against the mailbox.
    Sender,
    /// Passing trouble: retry.
    Passing,
}

impl Reason {
    /// Every reason, in the order of the enum.
    pub const ALL: [Reason; 26] = [
        Reason::Userunknown,
        Reason::Hostunknown,
        Reason::Hasmoved,
        Reason::Notaccept,
        Reason::Mailboxfull,
        Reason::Exceedlimit,
        Reason::Mesgtoobig,
        Reason::Blocked,
        Reason::Spamdetected,
        Reason::Virusdetected,
        Reason::Policyviolation,
        Reason::Securityerror,
        Reason::Rejected,
        Reason::Filtered,
        Reason::Norelaying,
        Reason::Suspend,
        Reason::Expired,
        Reason::Networkerror,
        Reason::Systemerror,
        Reason::Systemfull,
        Reason::Toomanyconn,
        Reason::Contenterror,
        Reason::Syntaxerror,
        Reason::Mailererror,
        Reason::Onhold,
        Reason::Undefined,
    ];

    /// The name JSON, the database and logs use (`userunknown`, `mailboxfull`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Userunknown => "userunknown",
            Reason::Hostunknown => "hostunknown",
            Reason::Hasmoved => "hasmoved",
            Reason::Notaccept => "notaccept",
            Reason::Mailboxfull => "mailboxfull",
            Reason::Exceedlimit => "exceedlimit",
            Reason::Mesgtoobig => "mesgtoobig",
            Reason::Blocked => "blocked",
            Reason::Spamdetected => "spamdetected",
            Reason::Virusdetected => "virusdetected",
            Reason::Policyviolation => "policyviolation",
            Reason::Securityerror => "securityerror",
            Reason::Rejected => "rejected",
            Reason::Filtered => "filtered",
            Reason::Norelaying => "norelaying",
            Reason::Suspend => "suspend",
            Reason::Expired => "expired",
            Reason::Networkerror => "networkerror",
            Reason::Systemerror => "systemerror",
            Reason::Systemfull => "systemfull",
            Reason::Toomanyconn => "toomanyconn",
            Reason::Contenterror => "contenterror",
            Reason::Syntaxerror => "syntaxerror",
            Reason::Mailererror => "mailererror",
            Reason::Onhold => "onhold",
            Reason::Undefined => "undefined",
        }
    }

    /// The reason named `name` (as [`Reason::as_str`] writes it, any case).
    pub fn parse(name: &str) -> Option<Reason> {
        let name = name.trim();
        Reason::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(name))
    }

    /// How a sequencer treats this reason.
    pub fn blame(self) -> Blame {
        match self {
            Reason::Userunknown | Reason::Hostunknown | Reason::Hasmoved | Reason::Notaccept => Blame::DeadAddress,
            Reason::Blocked
            | Reason::Spamdetected
            | Reason::Virusdetected
            | Reason::Policyviolation
            | Reason::Securityerror
            | Reason::Rejected
            | Reason::Norelaying
            | Reason::Contenterror
            | Reason::Mesgtoobig
            | Reason::Toomanyconn
            | Reason::Syntaxerror => Blame::Sender,
            Reason::Mailboxfull
            | Reason::Exceedlimit
            | Reason::Systemfull
            | Reason::Suspend
            | Reason::Expired
            | Reason::Networkerror
            | Reason::Systemerror
            | Reason::Mailererror
            | Reason::Filtered
            | Reason::Onhold
            | Reason::Undefined => Blame::Passing,
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

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reason of an SMTP refusal met while sending: the reply `code` (550), its enhanced status code
/// when the server gave one (`"5.1.1"`; else it is looked for in `text`) and the reply text. The text
/// may tell the refused command ("... (in reply to end of DATA command)"); else the refusal is taken
/// for the answer to RCPT TO, the command that names a recipient.
pub fn smtp_reason(code: u16, enhanced: Option<&str>, text: &str) -> Reason {
    let found = text::best_enhanced(text);
    let status = enhanced.map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).or(found);
    let reply = (400..600).contains(&code).then_some(code);
    decide(&Evidence { status: status.as_deref(), reply, text, delayed: false, command: Some(Command::Rcpt) })
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

/// The SMTP command a refusal answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Connect,
    Helo,
    Mail,
    Rcpt,
    Data,
}

/// The reason for a failure.
pub(crate) fn decide(ev: &Evidence<'_>) -> Reason {
    let t = normalize(ev.text);
    let status = ev.status.map(str::trim).filter(|s| s.starts_with('4') || s.starts_with('5'));
    let reply = ev.reply.or_else(|| text::smtp_codes(ev.text).first().and_then(|c| c.code.parse().ok()));
    let command = command(&t).or(ev.command);
    let by_code = status.and_then(status_reason);
    let matches = |r: Reason| text_matches(r, &t);

    // 1. A provider's own error code or message, or a mail system's own wording, says it outright.
    if let Some(r) = provider_reason(&t) {
        return r;
    }
    if let Some((_, r)) = MTA_PHRASES.iter().find(|(p, _)| phrase_in(&t, p)) {
        return *r;
    }
    if matches!(command, Some(Command::Helo | Command::Connect)) {
        // Refused before any address was given: the sending host is refused.
        return Reason::Blocked;
    }

    // 2. The telling codes and texts, in order: a full mailbox beats everything, "5.1.1 + user
    //    unknown" wins over a generic code, a "user unknown" answered to DATA is a filter.
    for r in FIRST {
        let hit = match r {
            Reason::Mesgtoobig => {
                by_code == Some(r) || (by_code != Some(Reason::Exceedlimit) && status != Some("5.2.3") && matches(r))
            }
            Reason::Userunknown => match by_code {
                Some(Reason::Suspend) => false,
                // The code says the mailbox is bad unless the text says something else.
                Some(Reason::Userunknown) => ![
                    Reason::Norelaying,
                    Reason::Blocked,
                    Reason::Mailboxfull,
                    Reason::Hasmoved,
                    Reason::Rejected,
                    Reason::Filtered,
                ]
                .into_iter()
                .any(matches),
                _ => matches!(command, Some(Command::Rcpt)) && matches(r),
            },
            Reason::Filtered => match by_code {
                Some(Reason::Suspend) => false,
                _ if matches(r) => true,
                Some(Reason::Filtered) => matches(Reason::Userunknown),
                _ => !matches!(command, Some(Command::Rcpt | Command::Mail)) && matches(Reason::Userunknown),
            },
            Reason::Rejected => {
                by_code == Some(r)
                    || text_has(&t, SENDER_REFUSED)
                    || (matches(r)
                        && (matches!(command, Some(Command::Mail))
                            || matches!(by_code, None | Some(Reason::Securityerror | Reason::Systemerror))))
            }
            Reason::Hostunknown => {
                if by_code == Some(r) {
                    !matches(Reason::Networkerror)
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
        return Reason::Rejected;
    }
    if let Some(r) = by_code {
        return r;
    }
    if let Some(s) = status {
        if s.get(1..4) == Some(".6.") {
            return Reason::Contenterror;
        }
        if s.get(1..4) == Some(".7.") {
            return Reason::Securityerror;
        }
    }
    if reply.is_some_and(|c| (500..=507).contains(&c) || (400..=407).contains(&c)) {
        return Reason::Syntaxerror;
    }
    if ev.delayed {
        return Reason::Expired;
    }
    if t.trim().is_empty() { Reason::Undefined } else { Reason::Onhold }
}

/// The texts of step 2 of [`decide`], in order.
const FIRST: [Reason; 13] = [
    Reason::Mailboxfull,
    Reason::Mesgtoobig,
    Reason::Exceedlimit,
    Reason::Suspend,
    Reason::Hasmoved,
    Reason::Norelaying,
    Reason::Userunknown,
    Reason::Filtered,
    Reason::Rejected,
    Reason::Hostunknown,
    Reason::Spamdetected,
    Reason::Toomanyconn,
    Reason::Blocked,
];

/// The texts of step 4 of [`decide`], in order.
const SECOND: [Reason; 14] = [
    Reason::Mailboxfull,
    Reason::Spamdetected,
    Reason::Policyviolation,
    Reason::Virusdetected,
    Reason::Norelaying,
    Reason::Securityerror,
    Reason::Systemerror,
    Reason::Networkerror,
    Reason::Suspend,
    Reason::Expired,
    Reason::Contenterror,
    Reason::Systemfull,
    Reason::Notaccept,
    Reason::Mailererror,
];

/// Reasons a code gives only tentatively: a matching text of step 4 refines them.
const RETRY: [Reason; 7] = [
    Reason::Userunknown,
    Reason::Hostunknown,
    Reason::Securityerror,
    Reason::Systemerror,
    Reason::Networkerror,
    Reason::Onhold,
    Reason::Undefined,
];

/// The reason an enhanced status code stands for (RFC 3463, RFC 3886, RFC 7372, RFC 7505).
pub(crate) fn status_reason(code: &str) -> Option<Reason> {
    let mut parts = code.trim().split('.');
    let class = parts.next()?;
    let subject: u16 = parts.next()?.parse().ok()?;
    let detail: u16 = parts.next()?.parse().ok()?;
    let permanent = class == "5";
    if let Some(r) = microsoft_status(permanent, subject, detail) {
        return Some(r);
    }
    let r = match (subject, detail) {
        (1, 0) | (1, 1) | (1, 3) if permanent => Reason::Userunknown,
        (1, 2) if permanent => Reason::Hostunknown,
        (1, 4) if permanent => Reason::Filtered,
        (1, 6) => Reason::Hasmoved,
        (1, 7) | (1, 8) => Reason::Rejected,
        (1, 9) => Reason::Systemerror,
        (1, 10) => Reason::Notaccept,
        (2, 0) if permanent => Reason::Filtered,
        (2, 1) => {
            if permanent {
                Reason::Filtered
            } else {
                Reason::Suspend
            }
        }
        (2, 2) => Reason::Mailboxfull,
        (2, 3) => Reason::Exceedlimit,
        (2, 4) => Reason::Filtered,
        (3, 0) => Reason::Systemerror,
        (3, 1) => Reason::Systemfull,
        (3, 2) => Reason::Notaccept,
        (3, 3) | (3, 5) => Reason::Systemerror,
        (3, 4) if permanent => Reason::Mesgtoobig,
        (4, 0) if permanent => Reason::Networkerror,
        (4, 1) if !permanent => Reason::Expired,
        (4, 2) | (4, 6) if !permanent => Reason::Networkerror,
        (4, 3) if permanent => Reason::Systemerror,
        (4, 4) => {
            if permanent {
                Reason::Hostunknown
            } else {
                Reason::Networkerror
            }
        }
        (4, 5) if !permanent => Reason::Systemfull,
        (4, 7) if !permanent => Reason::Expired,
        (5, 3) => {
            if permanent {
                Reason::Toomanyconn
            } else {
                Reason::Systemerror
            }
        }
        (5, 4) if permanent => Reason::Systemerror,
        (5, 5) => Reason::Systemerror,
        (5, 6) if permanent => Reason::Securityerror,
        (6, _) => Reason::Contenterror,
        (7, 1) | (7, 2) if !permanent => Reason::Blocked,
        (7, 13) if permanent => Reason::Suspend,
        (7, 16) => Reason::Mesgtoobig,
        (7, 17) | (7, 18) if permanent => Reason::Hasmoved,
        (7, 25) => Reason::Blocked,
        (7, 27) if permanent => Reason::Notaccept,
        (7, 0..=26) => Reason::Securityerror,
        _ => return None,
    };
    Some(r)
}

/// Exchange Online's own detail codes (three digits, X.7.5xx and the like).
fn microsoft_status(permanent: bool, subject: u16, detail: u16) -> Option<Reason> {
    let r = match (permanent, subject, detail) {
        (false, 4, 312) | (true, 4, 312) => Reason::Networkerror,
        (false, 4, 316) | (true, 4, 316) => Reason::Expired,
        (false, 7, 500..=699) | (false, 7, 850..=899) => Reason::Blocked,
        (true, 0, 350) | (true, 6, 11) => Reason::Contenterror,
        (true, 7, 501..=503) => Reason::Spamdetected,
        (true, 7, 504 | 505) => Reason::Filtered,
        (true, 7, 506 | 507) => Reason::Blocked,
        (true, 7, 508) => Reason::Toomanyconn,
        (true, 7, 509 | 512) => Reason::Securityerror,
        (true, 7, 510) => Reason::Notaccept,
        (true, 7, 511) => Reason::Rejected,
        (true, 7, 600..=699) => Reason::Blocked,
        (true, 7, 700..=749) => Reason::Toomanyconn,
        _ => return None,
    };
    Some(r)
}

/// Lowercased text with white space collapsed and the continuation prefixes of multi-line SMTP
/// replies ("550-5.1.1 ") taken out, so that a phrase broken over reply lines still reads as one.
pub(crate) fn normalize(text: &str) -> String {
    let squashed = text::squash(text);
    let mut out = String::with_capacity(squashed.len());
    for word in squashed.split(' ') {
        if is_continuation(word) {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `550-5.1.1`, `550-`: the start of a continued line of a multi-line reply.
fn is_continuation(word: &str) -> bool {
    let b = word.as_bytes();
    b.len() >= 4
        && b.iter().take(3).all(u8::is_ascii_digit)
        && b.get(3) == Some(&b'-')
        && matches!(b.first(), Some(b'4' | b'5'))
        && b.iter().skip(4).all(|c| c.is_ascii_digit() || *c == b'.')
}

/// The SMTP command the (last) refusal in `t` answered, from the wording of the common MTAs.
pub(crate) fn command(t: &str) -> Option<Command> {
    const CUES: &[(&str, Command)] = &[
        ("in reply to rcpt to", Command::Rcpt),
        ("after rcpt to", Command::Rcpt),
        (">>> rcpt to", Command::Rcpt),
        ("does not like recipient", Command::Rcpt),
        ("most progress was rcpt to", Command::Rcpt),
        ("did not like our rcpt to", Command::Rcpt),
        ("did not like our mail from", Command::Mail),
        ("did not like our data", Command::Data),
        ("did not like our final dot", Command::Data),
        ("for rcpt to response", Command::Rcpt),
        ("most progress was mail from", Command::Mail),
        ("most progress was data", Command::Data),
        ("for rcpt command", Command::Rcpt),
        ("in reply to mail from", Command::Mail),
        ("after mail from", Command::Mail),
        (">>> mail from", Command::Mail),
        ("but sender was rejected", Command::Mail),
        ("in reply to end of data", Command::Data),
        ("in reply to data", Command::Data),
        ("after end of data", Command::Data),
        ("after data", Command::Data),
        (">>> data", Command::Data),
        ("failed on data command", Command::Data),
        ("failed after i sent the message", Command::Data),
        ("in reply to ehlo", Command::Helo),
        ("in reply to helo", Command::Helo),
        ("after ehlo", Command::Helo),
        ("after helo", Command::Helo),
        (">>> ehlo", Command::Helo),
        (">>> helo", Command::Helo),
        ("but my name was rejected", Command::Helo),
        ("after initial connection", Command::Connect),
        ("but greeting failed", Command::Connect),
        ("in reply to initial greeting", Command::Connect),
    ];
    let mut best: Option<(usize, Command)> = None;
    for (cue, cmd) in CUES {
        if let Some(p) = t.rfind(cue)
            && best.is_none_or(|(b, _)| p > b)
        {
            best = Some((p, *cmd));
        }
    }
    best.map(|(_, c)| c)
}

/// True when `t` (normalized) holds one of `phrases`; see [`phrase_in`].
fn text_has(t: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| phrase_in(t, p))
}

/// True when the text rules of `reason` match `t`.
fn text_matches(reason: Reason, t: &str) -> bool {
    let Some((_, phrases)) = PHRASES.iter().find(|(r, _)| *r == reason) else { return false };
    if reason == Reason::Rejected && text_has(t, NOT_REJECTED) {
        return false;
    }
    text_has(t, phrases)
}

/// True when `pattern` occurs in `hay`. In a pattern, `*` stands for one word: a run of characters
/// other than a space and the character that follows the `*` in the pattern.
fn phrase_in(hay: &str, pattern: &str) -> bool {
    if !pattern.contains('*') {
        return hay.contains(pattern);
    }
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let mut from = 0;
    while let Some(p) = hay.get(from..).and_then(|h| h.find(first)) {
        let start = from + p;
        if rest_matches(hay.get(start + first.len()..).unwrap_or(""), &rest) {
            return true;
        }
        from = start + first.len().max(1);
        while from < hay.len() && !hay.is_char_boundary(from) {
            from += 1;
        }
        if from >= hay.len() {
            break;
        }
    }
    false
}

/// Matches `[word] literal [word] literal ...` at the start of `hay`.
fn rest_matches(hay: &str, literals: &[&str]) -> bool {
    let Some((lit, more)) = literals.split_first() else { return true };
    let stop = lit.chars().next();
    let word_end = hay.find(|c: char| c == ' ' || Some(c) == stop).unwrap_or(hay.len());
    if word_end == 0 {
        return false;
    }
    let after = hay.get(word_end..).unwrap_or("");
    after.starts_with(lit) && rest_matches(after.get(lit.len()..).unwrap_or(""), more)
}

/// Error codes and messages of single providers, which say the reason outright.
fn provider_reason(t: &str) -> Option<Reason> {
    // Orange / Wanadoo / La Poste: "... OFR_416", "LPN007_510", "OUK_513".
    for tag in ["ofr_", "ofr", "lpnaaa_", "lpnaaa", "lpn", "ouk_", "ouk"] {
        let mut from = 0;
        while let Some(p) = t.get(from..).and_then(|h| h.find(tag)) {
            let start = from + p;
            from = start + tag.len();
            let before_ok = start == 0 || t.as_bytes().get(start - 1).is_some_and(|b| !b.is_ascii_alphanumeric());
            let tail: String = t.get(from..).unwrap_or("").chars().take(8).collect();
            let digits: String = tail.chars().take_while(|c| c.is_ascii_digit() || *c == '_' || *c == '-').collect();
            let code: String = digits.chars().filter(char::is_ascii_digit).collect();
            if before_ok && (code.len() == 3 || code.len() == 6) {
                let last3 = code.get(code.len() - 3..).unwrap_or("");
                if let Some(r) = orange(last3) {
                    return Some(r);
                }
            }
        }
    }
    // Cox: "AUP#CXBL", GoDaddy: "IB103", i.ua: ".i.ua/err/2".
    for (needle, r) in PROVIDER_CODES {
        if t.contains(needle) {
            return Some(*r);
        }
    }
    PROVIDER_PHRASES.iter().find(|(p, _)| phrase_in(t, p)).map(|(_, r)| *r)
}

/// Orange's error numbers.
fn orange(code: &str) -> Option<Reason> {
    let r = match code {
        "101" | "102" | "103" | "401" | "510" | "999" => Reason::Blocked,
        "104" => Reason::Toomanyconn,
        "305" | "402" => Reason::Securityerror,
        "403" | "405" | "415" | "421" => Reason::Rejected,
        "416" | "418" => Reason::Userunknown,
        "417" => Reason::Mailboxfull,
        "420" | "426" => Reason::Suspend,
        "505" => Reason::Systemerror,
        "506" => Reason::Spamdetected,
        "514" => Reason::Mesgtoobig,
        "517" => Reason::Policyviolation,
        _ => return None,
    };
    Some(r)
}

/// Providers' codes, lowercased.
const PROVIDER_CODES: &[(&str, Reason)] = &[
    // Cox.
    ("aup#cxbl", Reason::Blocked),
    ("aup#cdrbl", Reason::Blocked),
    ("aup#cxdns", Reason::Blocked),
    ("aup#ipbl", Reason::Blocked),
    ("aup#cxthrt", Reason::Securityerror),
    ("aup#cxmj", Reason::Securityerror),
    ("aup#cxsndr", Reason::Rejected),
    ("aup#cxsmtp", Reason::Rejected),
    ("aup#cxcnct", Reason::Toomanyconn),
    ("aup#cxmxrt", Reason::Toomanyconn),
    ("aup#urlbl", Reason::Spamdetected),
    // GoDaddy.
    (" ib103", Reason::Blocked),
    (" ib104", Reason::Blocked),
    (" ib105", Reason::Blocked),
    (" ib106", Reason::Blocked),
    (" ib108", Reason::Blocked),
    (" ib110", Reason::Blocked),
    (" ib111", Reason::Blocked),
    (" ib112", Reason::Blocked),
    (" ib113", Reason::Blocked),
    (" ib007", Reason::Toomanyconn),
    (" ib504", Reason::Toomanyconn),
    (" ib510", Reason::Toomanyconn),
    (" ib607", Reason::Toomanyconn),
    (" ib212", Reason::Spamdetected),
    (" ib401", Reason::Securityerror),
    (" ib501", Reason::Rejected),
    (" ib502", Reason::Rejected),
    (" ib506", Reason::Rejected),
    (" ib508", Reason::Blocked),
    (" ib705", Reason::Virusdetected),
    // i.ua.
    (".i.ua/err/1 ", Reason::Norelaying),
    (".i.ua/err/2 ", Reason::Userunknown),
    (".i.ua/err/3 ", Reason::Suspend),
    (".i.ua/err/4 ", Reason::Mailboxfull),
    (".i.ua/err/5 ", Reason::Toomanyconn),
    (".i.ua/err/6 ", Reason::Norelaying),
    (".i.ua/err/7 ", Reason::Blocked),
    (".i.ua/err/8 ", Reason::Rejected),
    (".i.ua/err/9 ", Reason::Blocked),
    (".i.ua/err/10 ", Reason::Filtered),
    // Exchange / Office 365 resolver and queue codes.
    ("resolver.adr.recipnotfound", Reason::Userunknown),
    ("resolver.adr.recipientnotfound", Reason::Userunknown),
    ("resolver.adr.exrecipnotfound", Reason::Userunknown),
    ("resolver.adr.exrecipientnotfound", Reason::Userunknown),
    ("resolver.adr.reciplimit", Reason::Toomanyconn),
    ("resolver.adr.recipientlimit", Reason::Toomanyconn),
    ("resolver.rst.recipsizelimit", Reason::Mesgtoobig),
    ("resolver.rst.recipientsizelimit", Reason::Mesgtoobig),
    ("resolver.rst.authrequired", Reason::Securityerror),
    ("resolver.rst.notauthorized", Reason::Rejected),
    ("resolver.adr.ambiguous", Reason::Systemerror),
    ("resolver.adr.badprimary", Reason::Systemerror),
    ("resolver.adr.invalidinsmtp", Reason::Systemerror),
    ("smtpsend.dns.nonexistentdomain", Reason::Hostunknown),
    ("smtpsend.dns.mxloopback", Reason::Networkerror),
    ("queue.expired", Reason::Expired),
];

/// Messages only one provider writes, lowercased.
const PROVIDER_PHRASES: &[(&str, Reason)] = &[
    // Gmail / Google Workspace.
    ("the email account that you tried to reach does not exist", Reason::Userunknown),
    ("the email account that you tried to reach is disabled", Reason::Suspend),
    ("the email account that you tried to reach is over quota", Reason::Mailboxfull),
    ("the recipient's inbox is out of storage space", Reason::Mailboxfull),
    ("the user you are trying to contact is receiving mail at a rate", Reason::Exceedlimit),
    ("your message exceeded google's message size limits", Reason::Exceedlimit),
    ("we weren't able to find the recipient domain", Reason::Hostunknown),
    ("because the address couldn't be found", Reason::Userunknown),
    ("because the domain * couldn't be found", Reason::Hostunknown),
    ("null mx", Reason::Notaccept),
    (" had no relevant answers.", Reason::Networkerror),
    (" responded with code nxdomain", Reason::Networkerror),
    ("this message is likely unsolicited mail", Reason::Spamdetected),
    ("has been blocked because it may be unsolicited mail", Reason::Spamdetected),
    ("does not have a ptr record setup", Reason::Blocked),
    ("is not authorized to send email directly to our servers", Reason::Blocked),
    ("very low reputation of the sending ip address", Reason::Blocked),
    ("very low reputation of the sending domain", Reason::Blocked),
    ("unusual rate of unsolicited mail originating from your ip address", Reason::Blocked),
    ("does not have authentication information or fails to pass authentication checks", Reason::Rejected),
    ("unauthenticated email is not accepted from this domain", Reason::Rejected),
    ("is not accepted due to domain's dmarc policy", Reason::Policyviolation),
    ("has a policy that prohibited the mail that you sent", Reason::Policyviolation),
    ("messages with multiple addresses in from: header are not accepted", Reason::Policyviolation),
    ("its content presents a potential security issue", Reason::Policyviolation),
    ("an illegal attachment on your message", Reason::Policyviolation),
    ("message exceeded 50 hops", Reason::Networkerror),
    ("dns error: domain name not found", Reason::Hostunknown),
    ("dns error: dns server returned answer with no data", Reason::Hostunknown),
    ("the recipient server did not accept our requests to connect", Reason::Expired),
    ("dns error: could not contact dns servers", Reason::Expired),
    // Tencent QQ.
    ("mail is rejected by recipients", Reason::Filtered),
    ("mail content denied", Reason::Spamdetected),
    ("spam is embedded in the email", Reason::Spamdetected),
    ("ip frequency limited", Reason::Toomanyconn),
    ("domain frequency limited", Reason::Toomanyconn),
    ("sender frequency limited", Reason::Toomanyconn),
    ("connection frequency limited", Reason::Toomanyconn),
    // Yahoo.
    ("temporarily deferred due to unexpected volume or user complaints", Reason::Blocked),
    ("will be permanently deferred; retrying will not succeed", Reason::Blocked),
    ("temporarily deferred due to user complaints", Reason::Blocked),
    // Microsoft (Outlook.com, Office 365).
    ("part of their network is on our block list", Reason::Blocked),
    ("banned sending ip", Reason::Blocked),
    ("not currently accepting mail from your ip", Reason::Blocked),
    ("access denied, spam abuse detected", Reason::Spamdetected),
    ("access denied, banned sender", Reason::Spamdetected),
    ("access denied, banned recipient", Reason::Filtered),
    ("access denied, rejected by recipient", Reason::Filtered),
    ("tenant has exceeded threshold", Reason::Toomanyconn),
    ("has exceeded permitted limits within", Reason::Toomanyconn),
    ("does not pass dmarc verification", Reason::Rejected),
    ("remote server returned unknown recipient", Reason::Userunknown),
];

/// Wordings of single mail systems (qmail, Exim, Sendmail, Postfix, OpenSMTPD, Courier, Domino,
/// InterScan, amavis, ...) with the reason they stand for, lowercased.
const MTA_PHRASES: &[(&str, Reason)] = &[
    // qmail.
    ("but sender was rejected", Reason::Rejected),
    ("sorry, i wasn't able to establish an smtp connection", Reason::Networkerror),
    ("sorry, i couldn't find a mail exchanger or ip address", Reason::Networkerror),
    ("sorry. although i'm listed as a best-preference mx or a for that host", Reason::Networkerror),
    ("sorry, i couldn't find any host ", Reason::Hostunknown),
    ("requested action not taken: mailbox unavailable (not enough free space)", Reason::Systemfull),
    ("the message exeeded the maximum size the user accepts", Reason::Exceedlimit),
    ("mailaddress is administratively disabled", Reason::Suspend),
    ("mailaddress is administrativley disabled", Reason::Suspend),
    // Exim (its expiry wordings are at the end: a telling error beside them wins).
    ("mailbox is full", Reason::Mailboxfull),
    ("error: quota exceed", Reason::Mailboxfull),
    ("all host address lookups failed permanently", Reason::Hostunknown),
    ("all relevant mx records point to non-existent hosts", Reason::Hostunknown),
    ("an mx or srv record indicated no smtp service", Reason::Notaccept),
    ("no host found for existing smtp connection", Reason::Notaccept),
    ("too many \"received\" headers", Reason::Contenterror),
    // OpenSMTPD.
    ("envelope expired", Reason::Expired),
    ("destination seem to reject all mails", Reason::Notaccept),
    ("network error on destination mxs", Reason::Networkerror),
    ("no valid route to remote mx", Reason::Networkerror),
    ("no mx found for domain", Reason::Networkerror),
    ("temporary failure in mx lookup", Reason::Networkerror),
    // Courier.
    ("this domain's dns violates rfc 1035", Reason::Systemerror),
    // Lotus Domino / Notes.
    ("not listed in domino directory", Reason::Userunknown),
    ("not listed in public name & address book", Reason::Userunknown),
    ("cannot route mail to user", Reason::Filtered),
    ("several matches found in domino directory", Reason::Systemerror),
    ("message has exceeded maximum hop count", Reason::Networkerror),
    // Exchange 2003.
    ("(000c05a6)", Reason::Userunknown),
    ("(000c0595)", Reason::Filtered),
    ("(00010256)", Reason::Systemerror),
    ("(000d06b5)", Reason::Systemerror),
    ("(00120270)", Reason::Networkerror),
    ("(00050311)", Reason::Contenterror),
    ("(000502cc)", Reason::Contenterror),
    ("(000b0981)", Reason::Securityerror),
    // Trend Micro InterScan.
    ("please check if address is correct", Reason::Userunknown),
    // amavis.
    (" - infected", Reason::Virusdetected),
    (" - bad header:", Reason::Contenterror),
    (" - message size exceeds recipient", Reason::Exceedlimit),
    // Outlook.com / Hotmail.
    ("requested action not taken: mailbox unavailable", Reason::Userunknown),
    // DragonFly Mail Agent.
    ("could not deliver for the last", Reason::Expired),
    // Amazon SES.
    ("delivery expired", Reason::Expired),
    // Exim.
    ("retry timeout exceeded", Reason::Expired),
    ("retry time not reached for any host after a long failure period", Reason::Expired),
    ("all hosts have been failing for a long time and were last tried", Reason::Expired),
    ("has been frozen", Reason::Expired),
    ("was frozen on arrival", Reason::Expired),
];

/// "Sender" refusals that name the sender outright, for any command.
const SENDER_REFUSED: &[&str] = &[
    "sender address rejected",
    "sender email address rejected",
    "sender rejected",
    "sender verify failed",
    "sender verification failed",
    "unroutable sender address",
    "domain of sender address",
    "sender domain is empty",
    "sender is spammer",
    "sender not pre-approved",
    "sender denied",
    "null sender is not allowed",
    "empty envelope senders not allowed",
    "invalid sender",
    "mail from not owned by user",
    "email address is not verified",
];

/// Texts that keep the generic "rejected" phrases from matching.
const NOT_REJECTED: &[&str] = &["5.1.0 address rejected", "recipient address rejected", "sender ip address rejected"];

/// The text rules: for each reason, phrases of its refusals (lowercased, white space collapsed, `*`
/// for one word). Which rule wins when several match is [`decide`]'s business.
const PHRASES: &[(Reason, &[&str])] = &[
    (
        Reason::Mailboxfull,
        &[
            "account disabled temporarly for exceeding receiving limits",
            "account is exceeding their quota",
            "account is over quota",
            "account is temporarily over quota",
            "boite du destinataire pleine",
            "delivery failed: over quota",
            "disc quota exceeded",
            "disk quota exceeded",
            "does not have enough space",
            "exceeded storage allocation",
            "exceeding its mailbox quota",
            "full mailbox",
            "inbox is full",
            "insufficient disk space",
            "is over disk quota",
            "is over quota",
            "mail file size exceeds the maximum size allowed for mail delivery",
            "mail quota exceeded",
            "mailbox exceeded the local limit",
            "mailbox full",
            "mailbox has exceeded",
            "mailbox is full",
            "mailbox over quota",
            "mailbox quota",
            "mailbox size limit exceeded",
            "mailbox would exceed maximum allowed storage",
            "maildir over quota",
            "maildir delivery failed: userdisk quota",
            "maildir delivery failed: domaindisk quota",
            "mailfolder is full",
            "not enough storage space",
            "out of storage space",
            "over the allowed quota",
            "over the storage limit",
            "postfach voll",
            "quota exceed",
            "quota violation for",
            "recipient reached disk quota",
            "the user's space has been used up",
            "too much mail data",
            "user has exceeded quota",
            "user has too many messages on the server",
            "user is over quota",
            "user is over the quota",
            "user over quota",
            "account storage limit",
            "was automatically rejected: quota exceeded",
            "would be over the allowed quota",
        ],
    ),
    (
        Reason::Mesgtoobig,
        &[
            "exceeded maximum inbound message size",
            "line limit exceeded",
            "max message size exceeded",
            "maximum message size exceeded",
            "message file too big",
            "message length exceeds administrative limit",
            "message size exceeds",
            "message is too big",
            "message is too large",
            "message too big",
            "message too large for this",
            "message exceeds maximum size",
            "size limit",
            "taille limite du message atteinte",
        ],
    ),
    (
        Reason::Exceedlimit,
        &["message too large", "message size exceeds recipient", "exceeded the maximum size the user accepts"],
    ),
    (
        Reason::Suspend,
        &[
            " is currently suspended",
            " temporary locked",
            "account disabled",
            "account has been disabled",
            "account has been suspended",
            "account is disabled",
            "account is inactive",
            "account is locked",
            "account is suspended",
            "boite du destinataire archivee",
            "email account that you tried to reach is disabled",
            "invalid/inactive user",
            "is a deactivated mailbox",
            "mailaddress is administratively disabled",
            "mailaddress is administrativley disabled",
            "mailbox currently suspended",
            "mailbox is disabled",
            "mailbox is frozen",
            "mailbox unavailable or access denied",
            "recipient rejected: temporarily inactive",
            "recipient suspend the service",
            "this account has been disabled or discontinued",
            "user suspended",
            "vdelivermail: account is locked",
        ],
    ),
    (Reason::Hasmoved, &[" has been replaced by ", "mailbox has moved", "address has moved"]),
    (
        Reason::Norelaying,
        &[
            "as a relay",
            "insecure mail relay",
            "mail server requires authentication when attempting to send to a non-local e-mail address",
            "not allowed to relay",
            "not an open relay",
            "not permitted to relay",
            "relay access denied",
            "no relaying",
            "open relay not allowed",
            "relay denied",
            "relay not permitted",
            "relaying denied",
            "relaying not allowed",
            "relaying mail to * is not allowed",
            "that domain isn't in my list of allowed rcpthost",
            "this system is not configured to relay mail",
            "unable to relay",
            "we do not relay",
        ],
    ),
    (
        Reason::Userunknown,
        &[
            "#5.1.1 bad address",
            "<*> not found",
            "5.1.0 address rejected.",
            "address does not exist",
            "address unknown",
            "addressee unknown",
            "archived recipient",
            "bad recipient",
            "bad-recipient",
            "bad_recipient",
            "badrcptto",
            "can't accept user",
            "destination addresses were unknown",
            "destination server rejected recipients",
            "does not exist e2110",
            "email address could not be found",
            "email address does not exist",
            "invalid address",
            "invalid mailbox",
            "invalid recipient",
            "is not a known user",
            "is not a valid mailbox",
            "is not an active address at this host",
            "mailbox * does not exist",
            "mailbox does not exist",
            "mailbox invalid",
            "mailbox is inactive",
            "mailbox is unavailable",
            "mailbox not found",
            "mailbox not present",
            "mailbox unavailable",
            "no account by that name here",
            "no mail box available for this user",
            "no mailbox by that name is currently available",
            "no mailbox found",
            "no mailbox here by that name",
            "no matches to nameserver query",
            "no such address here",
            "no such mailbox",
            "no such person at this address",
            "no such recipient",
            "no such user",
            "no valid recipients, bye",
            "non-existent user",
            "nonexistent user",
            "non existent user",
            "not a valid recipient",
            "not a valid user here",
            "not a local address",
            "not listed in domino directory",
            "not listed in public name & address book",
            "rcpt <*> does not exist",
            "recipient address rejected: access denied",
            "recipient address rejected: invalid user",
            "recipient address rejected: unknown user",
            "recipient address rejected: user * does not exist",
            "recipient address rejected: user unknown",
            "recipient address rejected. (in reply to rcpt to command)",
            "recipient does not exist",
            "recipient is not local",
            "recipient not exist",
            "recipient not found",
            "recipient not ok",
            "recipient unknown",
            "recipient * was not found in",
            "requested action not taken: mailbox unavailable",
            "said: 550 5.1.1 * user unknown",
            "sorry, no mailbox here by that name",
            "sorry, user unknown",
            "the following recipients was undeliverable",
            "the user's email name is not found",
            "there is no one at this address",
            "this address no longer accepts mail",
            "this email address is wrong or no longer valid",
            "this user doesn't have a * account",
            "unknown e-mail address",
            "unknown email address",
            "unknown local part",
            "unknown local-part",
            "unknown mailbox",
            "unknown recipient",
            "unknown user",
            "user * does not exist",
            "user * was not found",
            "user does not exist",
            "user missing home directory",
            "user not active",
            "user not exist",
            "user not found",
            "user not known",
            "user unknown",
            "vdeliver: invalid or unknown virtual user",
            "your envelope recipient is in my badrcptto list",
            "does not like recipient.",
            "does not exist.",
            "user doesn't exist",
            "unknown address",
            "unknown or illegal alias",
            "no such account",
            "account does not exist",
            "address doesn't exist",
            "address not found",
            "couldn't be found",
        ],
    ),
    (
        Reason::Filtered,
        &[
            "because the recipient is only accepting mail from specific email addresses",
            "bounced address",
            "due to extended inactivity new mail is not currently being accepted for this mailbox",
            "has restricted sms e-mail",
            "is not accepting any mail",
            "refused due to recipient preferences",
            "this account is protected by",
            "user reject",
            "refuse to receive mail",
            "you have been blocked by the recipient",
            "cannot route mail to user",
        ],
    ),
    (
        Reason::Rejected,
        &[
            "<> invalid sender",
            "access denied (in reply to mail from command)",
            "address rejected",
            "administrative prohibition",
            "batv failed to verify",
            "batv validation failure",
            "backscatter protection detected an invalid or expired email address",
            "bogus mail from",
            "connections not accepted from servers without a valid sender domain",
            "denied [bouncedeny]",
            "delivery not authorized, message refused",
            "domain of sender address ",
            "emetteur invalide",
            "empty envelope senders not allowed",
            "envelope blocked",
            "error: no third-party dsns",
            "from: domain is invalid. please provide a valid from:",
            "fully qualified email address required",
            "invalid domain, see <url:",
            "is not a registered gateway user",
            "mail from not owned by user",
            "message rejected: email address is not verified",
            "mx records for ",
            "null sender is not allowed",
            "recipient addresses rejected : access denied",
            "recipient not accepted. (batv: no tag",
            "returned mail not accepted here",
            "rfc 1035 violation: recursive cname records for",
            "rule imposed mailbox access for",
            "sender email address rejected",
            "sender is spammer",
            "sender not pre-approved",
            "sender rejected",
            "sender domain is empty",
            "sender verify failed",
            "syntax error: empty email address",
            "the message has been rejected by batv defense",
            "transaction failed unsigned dsn for",
            "unroutable sender address",
            "you are sending to/from an address that has been blacklisted",
        ],
    ),
    (
        Reason::Hostunknown,
        &[
            "domain does not exist",
            "domain is not reachable",
            "domain must exist",
            "domain not found",
            "host or domain name not found",
            "host unknown",
            "host unreachable",
            "mail domain mentioned in email address is unknown",
            "name or service not known",
            "no such domain",
            "recipient address rejected: unknown domain",
            "recipient domain must exist",
            "the account or domain may not exist",
            "unknown host",
            "unrouteable address",
            "unroutable address",
            "553 * does not exist",
            "all host address lookups failed permanently",
            "all relevant mx records point to non-existent hosts",
            "illegal host/domain name found",
            "i couldn't find any host",
            "invalid domain name",
        ],
    ),
    (
        Reason::Spamdetected,
        &[
            "the mail server detected your message as spam",
            "554 5.7.0 reject, id=",
            "appears to be unsolicited",
            "blacklisted url in message",
            "block for spam",
            "blocked by policy: no spam please",
            "blocked by spamassassin",
            "blocked for abuse. see http://att.net/blocks",
            "bulk email",
            "content filter rejection",
            "denied due to spam list",
            "listed in work.drbl.imedia.ru",
            "mail appears to be unsolicited",
            "mail content denied",
            "may consider spam",
            "message considered as spam or virus",
            "message content rejected",
            "message filtered",
            "message looks like spam",
            "message refused by mailmarshal spamprofiler",
            "message rejected as spam",
            "message rejected because of unacceptable content",
            "message rejected due to suspected spam content",
            "message rejected for policy reasons",
            "our email server thinks this email is spam",
            "probability of being spam",
            "our system has detected that this message is",
            "probable spam",
            "reject bulk.advertising",
            "rejected: spamassassin score ",
            "rejected by * (spam)",
            "rejected due to spam",
            "rejecting banned content",
            "related to content with spam-like characteristics",
            "rule imposed as * is blacklisted on",
            "sender domain listed at ",
            "sending address not accepted due to spam filter",
            "spam blocked",
            "spam check",
            "spam content matched",
            "spam detected",
            "spam email",
            "spam message rejected",
            "spam not accepted",
            "spam refused",
            "spam rejection",
            "spam reporting address",
            "spam score",
            "spambouncer identified spam",
            "spamming not allowed",
            "too much spam.",
            "the message has been rejected by spam filtering engine",
            "was rejected due to classification as bulk mail",
            "the content of this message looked like spam",
            "cannot be forwarded because it was detected as spam",
            "is classified as spam and is rejected",
            "this message appears to be spam",
            "this message has been identified as spam",
            "this message has been scored as spam",
            "this message scored * spam points",
            "this message was classified as spam",
            "rejected by recurrent pattern detection system",
            "transaction failed spam message not queued",
            "we dont accept spam",
            "we don't accept spam",
            "you're using a mass mailer",
            "your email appears similar to spam",
            "your email breaches local uribl policy",
            "your email had spam-like ",
            "your email is considered spam",
            "your email is probably spam",
            "your email was detected as spam",
            "message as spam and has prevented delivery",
            "has been temporarily blocked by our filter",
            "rejected because it appears to be spam",
            "has triggered a spam block",
            "may contain the spam contents",
            "failed several antispam checks",
            "identified as spam",
            "detected as spam",
            "considered spam",
            "considered as spam",
            "classified as spam",
            "looks like spam",
            "suspected spam",
            "unsolicited mail",
            "high spam probability",
            "high probability of spam",
            "spam-like",
            "- spam",
        ],
    ),
    (
        Reason::Toomanyconn,
        &[
            "all available ips are at maximum connection limit",
            "connection rate limit exceeded",
            "exceeds per-domain connection limit for",
            "has exceeded the max emails per hour",
            "throttling failure: daily message quota exceeded",
            "throttling failure: maximum sending rate exceeded",
            "too many connections",
            "too many concurrent smtp connections",
            "too many errors from your ip",
            "too many recipients",
            "too many smtp sessions for this host",
            "too many sessions from",
            "trop de connexions",
            "we have already made numerous attempts to deliver this message",
            "rate limit exceeded",
            "sending rate exceeded",
            "message threshold exceeded",
            "too many messages from",
            "sent too many messages",
        ],
    ),
    (
        Reason::Blocked,
        &[
            "access denied. ip name lookup failed",
            "access from ip address * blocked",
            "all mail servers must have a ptr record with a valid reverse dns entry",
            "bad dns ptr resource record",
            "bad sender ip address",
            "banned sending ip",
            "blacklisted by",
            "blocked - see http",
            "refused - see http",
            "blocked using ",
            "can't determine purported responsible address",
            "cannot find your hostname",
            "cannot resolve your address",
            "client host * blocked using",
            "client host rejected: abus detecte gu_eib_0",
            "client host rejected: cannot find your hostname",
            "client host rejected: may not be mail exchanger",
            "client host rejected: was not authenticated",
            "confirm this mail server",
            "connection dropped",
            "connection refused by",
            "connection reset by peer",
            "connection was dropped by remote host",
            "connections not accepted from ip addresses on spamhaus xbl",
            "because the ip is in spamhaus's list",
            "currently sending spam see: ",
            "mismatches client ip",
            "dns lookup failure: * try again later",
            "dnsbl:attrbl",
            "dynamic/zombied/spam ips blocked",
            "email blocked by ",
            "esmtp not accepting connections",
            "fix reverse dns for ",
            "go away",
            "helo command rejected:",
            "host * refused to talk to me: * blocked",
            "hosts with dynamic ip",
            "http://spf.pobox.com/why.html",
            "http://www.spamcop.net/bl.",
            "invalid ip for sending mail of domain",
            "is blocked by earthlink",
            "ip/domain reputation problems",
            "ips with missing ptr records",
            "is in a black list at ",
            "rbl on ",
            "is not allowed to send mail from",
            "per it's spf record",
            "mail server at * is blocked",
            "message from * rejected based on blacklist",
            "temporarily deferred due to user complaints",
            "no access from mail server",
            "no ptr record found.",
            "not currently accepting mail from your ip",
            "part of their network is on our block list",
            "please get a custom reverse dns name from your isp for your host",
            "please inspect your spf settings",
            "please use the smtp server of your isp",
            "ptr record setup",
            "rejecting open proxy",
            "reverse dns failed",
            "reverse dns required",
            "reverse dns lookup for host",
            "sender ip address rejected",
            "sender ip reverse lookup rejected",
            "forbidden by invalid rdns record of your mail server",
            "forbidden by your ip",
            "listed as abusive",
            "service not available, closing transmission channel",
            "unverifyable sending ips",
            "smtp error from remote mail server after initial connection:",
            "that domain isn't in my list of allowed rcpthosts",
            "your remotehost looks suspiciously like spammer",
            "spf (sender policy framework) domain authentication fail",
            "spf record",
            "spf check: fail",
            "is blacklisted",
            "will not accept messages from servers/devices with no reverse dns",
            "too many spams from your ip",
            "too many unwanted messages have been sent from the following ip address above",
            "unresolvable relay host name",
            "your network is temporary blacklisted",
            "abuseat.org",
            "your server requires confirmation",
            "was blocked by ",
            "we do not accept mail from dynamic ips",
            "we do not accept mail from hosts with dynamic ip",
            "you are not allowed to connect",
            "you are sending spam",
            "your access to submit messages to this e-mail system has been rejected",
            "your message was rejected for possible spam/virus content",
            "client host rejected",
            "listed on spamhaus",
            "listed at spamhaus",
            "spamhaus.org",
            "blocklist",
            "block list",
            "blacklist",
            "poor reputation",
            "your ip address",
            "ip address has been blocked",
            "rejected because of your ip",
        ],
    ),
    (
        Reason::Policyviolation,
        &[
            "an illegal attachment on your message",
            "because the recipient is not accepting mail with ",
            "closed mailing list",
            "denied by policy",
            "dmarc policy",
            "email not accepted for policy reasons",
            "email rejected due to security policies",
            "header are not accepted",
            "header error",
            "local policy violation",
            "message given low priority",
            "message not accepted for policy reasons",
            "messages with multiple addresses",
            "rejected for policy reasons",
            "protocol violation",
            "policy violation",
            "is not subscribed to this group",
            "this message was blocked because its content presents a potential",
            "allowable number of posts without solving a captcha",
            "attachment extension is forbidden",
            "violates our policy",
            "rejected by policy",
        ],
    ),
    (
        Reason::Virusdetected,
        &[
            "it has a potentially executable attachment",
            "the message was rejected because it contains prohibited virus or spam content",
            "this form of attachment has been used by recent viruses or other malware",
            "virus detected",
            "virus found",
            "infected with a virus",
            "contains a virus",
            "virus infected",
            "malware detected",
            "- infected",
        ],
    ),
    (
        Reason::Securityerror,
        &[
            "account not subscribed to ses",
            "authentication credentials invalid",
            "authentication failure",
            "authentication failed",
            "authentication required",
            "authentication turned on in your email client",
            "authentification requise",
            "authentification invalide",
            "is a dead domain",
            "executable files are not allowed in compressed files",
            "insecure mail relay",
            "recipient address rejected: access denied",
            "you don't authenticate or the domain isn't in my list of allowed rcpthosts",
            "you dont authenticate or the domain isnt in my list of allowed rcpthosts",
            "tls required but not supported",
            "must issue a starttls command first",
            "unauthenticated senders not allowed",
            "is not authorized to perform ses:sendrawemail on resource",
            "you are not authorized to send mail, authentication is required",
            "verification failure",
            "could not retrieve credentials",
            "server does not support auth",
        ],
    ),
    (
        Reason::Systemerror,
        &[
            "can't create user output file",
            "could not load drd for domain",
            "internal error reading data",
            "internal server error: operation now in progress",
            "interrupted system call",
            "it encountered an error while being processed",
            "it would create a mail loop",
            "local configuration error",
            "local error in processing",
            "loop was found in the mail exchanger",
            "loops back to myself",
            "mail system configuration error",
            "server configuration error",
            "service currently unavailable",
            "system config error",
            "temporary local problem",
            "timeout waiting for input",
            "transaction failed",
            "delivery to file forbidden",
            "delivery to pipe forbidden",
            "local delivery failed",
            "lmtp error after ",
            "this domain's dns violates rfc 1035",
            "bad interpreter: no such file or directory",
            "system error",
            "several matches found in domino directory",
            "temporary mta failure on relaying",
            "rejected by next-hop mta on relaying",
            "unable to relay message back to mta",
            "automatic homedir creator crashed",
            "temporary failure in ldap lookup",
            "unable to contact ldap server",
        ],
    ),
    (
        Reason::Networkerror,
        &[
            "could not connect and send the mail to",
            "dns records for the destination computer could not be found",
            "hop count exceeded",
            "host is unreachable",
            "host not found, try again",
            "mail forwarding loop for ",
            "malformed name server reply",
            "malformed or unexpected name server reply",
            "maximum forwarding loop count exceeded",
            "message looping",
            "message probably in a routing loop",
            "no route to host",
            "too many hops",
            "unable to resolve route ",
            "unrouteable mail domain",
            "message has exceeded maximum hop count",
            "dns lookup failed",
            "sorry, i wasn't able to establish an smtp connection",
            "sorry, i couldn't find a mail exchanger or ip address",
            "sorry. although i'm listed as a best-preference mx or a for that host",
            "address family mismatch on destination mxs",
            "all routes to destination blocked",
            "bad dns lookup error code",
            "could not retrieve source address",
            "loop detected",
            "network error on destination mxs",
            "no mx found for domain",
            "no mx found for destination",
            "no valid route to remote mx",
            "no valid route to destination",
            "temporary failure in mx lookup",
            "routing loop detected",
            "had no relevant answers.",
            "responded with code nxdomain",
        ],
    ),
    (
        Reason::Expired,
        &[
            "connection timed out",
            "could not find a gateway for",
            "delivery time expired",
            "delivery expired",
            "failed to deliver to domain ",
            "giving up on",
            "has been delayed",
            "it has not been collected after",
            "message expired after sitting in queue for",
            "message expired, connection refulsed",
            "message timed out",
            "retry time not reached for any host after a long failure period",
            "retry timeout exceeded",
            "all hosts have been failing for a long time and were last tried",
            "server did not respond",
            "this message has been in the queue too long",
            "unable to deliver message after multiple retries",
            "was not reachable within the allowed queue period",
            "your message could not be delivered for more than",
            "envelope expired",
            "has been frozen",
            "was frozen on arrival",
            "delivery to the following recipient has been delayed",
            "delay reason: ",
            "delivery timeout",
        ],
    ),
    (
        Reason::Contenterror,
        &[
            "improper use of 8-bit data in message header",
            "message header size, or recipient list, exceeds policy limit",
            "message mime complexity exceeds the policy maximum",
            "routing loop detected -- too many received: headers",
            "too many \"received\" headers",
            "this message contain invalid mime headers",
            "this message contain improperly-formatted binary content",
            "this message contain text that uses unnecessary base64 encoding",
            "- bad header:",
            "mail message is malformed",
            "conversion to internet format failed",
        ],
    ),
    (
        Reason::Systemfull,
        &[
            "mail system full",
            "requested mail action aborted: exceeded storage allocation",
            "mailbox unavailable (not enough free space)",
        ],
    ),
    (
        Reason::Notaccept,
        &[
            "host/domain does not accept mail",
            "host does not accept mail",
            "name server: .: host not found",
            "no mx record found for domain=",
            "smtp protocol returned a permanent error",
            "an mx or srv record indicated no smtp service",
            "no host found for existing smtp connection",
            "destination seem to reject all mails",
            "null mx",
            "does not accept mail",
        ],
    ),
    (
        Reason::Mailererror,
        &[
            "procmail: ",
            "bin/procmail",
            "bin/maildrop",
            "command failed: ",
            "command died with status ",
            "command output:",
            "mailer error",
            "pipe to |/",
            "x-unix; ",
        ],
    ),
    (
        Reason::Syntaxerror,
        &[
            "angle-brackets nested too deep",
            "expected word or \"<\"",
            "domain missing in source-routed address",
            "malformed address:",
            "bad address syntax",
        ],
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_groups_partition() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).ok(), Some(serde_json::Value::from(r.as_str())));
            let groups = [r.is_dead_address(), r.blames_sender(), r.is_passing()];
            assert_eq!(groups.iter().filter(|g| **g).count(), 1, "{r} is in exactly one group");
        }
        assert_eq!(Reason::parse(" MailboxFull "), Some(Reason::Mailboxfull));
        assert_eq!(Reason::parse("feedback"), None);
        let dead: Vec<&str> = Reason::ALL.into_iter().filter(|r| r.is_dead_address()).map(Reason::as_str).collect();
        assert_eq!(dead, ["userunknown", "hostunknown", "hasmoved", "notaccept"]);
        for r in ["blocked", "spamdetected", "policyviolation", "securityerror", "norelaying", "rejected"] {
            assert!(Reason::parse(r).is_some_and(Reason::blames_sender), "{r}");
        }
        for r in ["mailboxfull", "exceedlimit", "systemfull", "expired", "networkerror", "systemerror", "suspend"] {
            assert!(Reason::parse(r).is_some_and(Reason::is_passing), "{r}");
        }
    }

    /// Replies of real servers to RCPT TO / DATA, and the reason each stands for.
    #[test]
    fn smtp_replies_of_real_servers() {
        let cases: &[(u16, Option<&str>, &str, Reason)] = &[
            // Postfix.
            (550, Some("5.1.1"), "<lead@example.com>: Recipient address rejected: User unknown", Reason::Userunknown),
            (
                550,
                None,
                "5.1.1 <lead@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
                Reason::Userunknown,
            ),
            (
                550,
                None,
                "5.1.2 <lead@nowhere.example>: Recipient address rejected: Domain not found",
                Reason::Hostunknown,
            ),
            (
                550,
                Some("5.7.1"),
                "Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org",
                Reason::Blocked,
            ),
            (554, Some("5.7.1"), "<lead@example.com>: Relay access denied", Reason::Norelaying),
            (554, None, "5.7.1 Relay access denied", Reason::Norelaying),
            (452, Some("4.2.2"), "Mailbox full", Reason::Mailboxfull),
            (450, Some("4.7.1"), "Client host rejected: cannot find your hostname, [192.0.2.1]", Reason::Blocked),
            (550, Some("5.7.1"), "<sales@ourco.example>: Sender address rejected: Access denied", Reason::Rejected),
            (451, Some("4.3.0"), "Error: queue file write error", Reason::Systemerror),
            // Spam filters.
            (550, Some("5.7.1"), "Message rejected as spam", Reason::Spamdetected),
            (550, None, "5.7.1 Message rejected as spam by Content Filtering.", Reason::Spamdetected),
            (
                554,
                None,
                "Service unavailable; Client host [192.0.2.1] blocked using Barracuda Reputation; \
                 http://www.barracudanetworks.com/reputation/?r=1&ip=192.0.2.1",
                Reason::Blocked,
            ),
            (554, Some("5.7.0"), "Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", Reason::Blocked),
            (554, None, "Email rejected due to security policies - MCSpamSignature.sa.2.2", Reason::Policyviolation),
            (
                550,
                None,
                "Administrative prohibition - envelope blocked - https://community.mimecast.com/docs/DOC-1369#550",
                Reason::Rejected,
            ),
            (
                554,
                Some("5.7.1"),
                "The message was rejected because it contains prohibited virus or spam content",
                Reason::Virusdetected,
            ),
            // Gmail.
            (
                550,
                Some("5.1.1"),
                "The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 \
                 double-checking the recipient's email address for typos or\r\n550-5.1.1 unnecessary spaces. \
                 Learn more at\r\n550 5.1.1  https://support.google.com/mail/?p=NoSuchUser x1si - gsmtp",
                Reason::Userunknown,
            ),
            (552, Some("5.2.2"), "The email account that you tried to reach is over quota.", Reason::Mailboxfull),
            (550, Some("5.2.1"), "The email account that you tried to reach is disabled.", Reason::Suspend),
            (
                421,
                Some("4.7.0"),
                "[192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating from your IP \
                 address.",
                Reason::Blocked,
            ),
            (
                550,
                Some("5.7.1"),
                "[192.0.2.1] Our system has detected that this message is likely unsolicited mail.",
                Reason::Spamdetected,
            ),
            (
                550,
                Some("5.7.26"),
                "This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to \
                 authenticate with either SPF or DKIM.",
                Reason::Securityerror,
            ),
            (
                550,
                Some("5.7.26"),
                "Unauthenticated email from example.com is not accepted due to domain's DMARC policy.",
                Reason::Policyviolation,
            ),
            // Outlook.com / Office 365.
            (
                550,
                Some("5.7.1"),
                "Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet service \
                 provider since part of their network is on our block list (S3150).",
                Reason::Blocked,
            ),
            (
                550,
                Some("5.1.10"),
                "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
                Reason::Userunknown,
            ),
            (550, Some("5.7.606"), "Access denied, banned sending IP [192.0.2.1]", Reason::Blocked),
            (550, None, "Requested action not taken: mailbox unavailable (S2017062302)", Reason::Userunknown),
            // Yahoo.
            (
                554,
                None,
                "delivery error: dd This user doesn't have a yahoo.com account (lead@yahoo.com) [0] - mta1.mail.yahoo.com",
                Reason::Userunknown,
            ),
            (
                421,
                Some("4.7.0"),
                "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints",
                Reason::Blocked,
            ),
            (
                554,
                Some("5.7.9"),
                "Message not accepted for policy reasons. See https://senders.yahooinc.com/error-codes",
                Reason::Policyviolation,
            ),
            // Exim, Sendmail, qmail.
            (550, None, "Unrouteable address", Reason::Hostunknown),
            (
                553,
                Some("5.1.8"),
                "<sales@ourco.example>... Domain of sender address sales@ourco.example does not exist",
                Reason::Rejected,
            ),
            (550, None, "sorry, no mailbox here by that name. (#5.1.1)", Reason::Userunknown),
            (552, Some("5.3.4"), "Message size exceeds fixed limit", Reason::Mesgtoobig),
            (550, Some("5.1.6"), "Recipient addresses moved", Reason::Hasmoved),
            // Amazon SES as the sending relay.
            (
                554,
                None,
                "Message rejected: Email address is not verified. The following identities failed the check in \
                 region US-EAST-1: sales@ourco.example",
                Reason::Rejected,
            ),
            // Rate limits, authentication, protocol.
            (421, Some("4.7.0"), "Too many connections from your IP, try again later", Reason::Toomanyconn),
            (530, Some("5.7.0"), "Authentication required", Reason::Securityerror),
            (500, Some("5.5.1"), "Command unrecognized", Reason::Syntaxerror),
            // A "user unknown" said to DATA, after the recipient was accepted, is a filter.
            (550, None, "Unknown user (in reply to end of DATA command)", Reason::Filtered),
        ];
        for (code, enhanced, text, want) in cases {
            assert_eq!(smtp_reason(*code, *enhanced, text), *want, "{code} {enhanced:?} {text}");
        }
    }

    #[test]
    fn status_codes_alone() {
        let cases = [
            ("5.1.1", Reason::Userunknown),
            ("5.1.2", Reason::Hostunknown),
            ("5.1.6", Reason::Hasmoved),
            ("5.1.10", Reason::Notaccept),
            ("5.2.2", Reason::Mailboxfull),
            ("4.2.2", Reason::Mailboxfull),
            ("5.2.3", Reason::Exceedlimit),
            ("5.3.4", Reason::Mesgtoobig),
            ("4.4.7", Reason::Expired),
            ("5.7.1", Reason::Securityerror),
            ("4.7.1", Reason::Blocked),
            ("5.7.25", Reason::Blocked),
            ("5.6.0", Reason::Contenterror),
        ];
        for (code, want) in cases {
            assert_eq!(smtp_reason(550, Some(code), ""), want, "{code}");
        }
        // No code and no text: nothing to go by.
        assert_eq!(decide(&Evidence::default()), Reason::Undefined);
        assert_eq!(decide(&Evidence { delayed: true, ..Evidence::default() }), Reason::Expired);
    }

    #[test]
    fn word_patterns() {
        assert!(phrase_in("recipient address rejected: user kijitora does not exist", "user * does not exist"));
        assert!(!phrase_in("user does not exist", "user * does not exist"));
        assert!(phrase_in("mail for <lead@example.com> not found", "<*> not found"));
        assert!(!phrase_in("", "<*> not found"));
        assert!(phrase_in("ab ab ab c", "ab * c"));
        assert_eq!(normalize("550-5.1.1 The email\r\n550-5.1.1   account"), "the email account");
        assert_eq!(command("... (in reply to rcpt to command)"), Some(Command::Rcpt));
        assert_eq!(command(">>> mail from:<a@b> <<< 553 sorry"), Some(Command::Mail));
        assert_eq!(command(">>> rcpt to:<a@b> >>> data <<< 554 no"), Some(Command::Data));
        assert_eq!(command("user unknown"), None);
    }
}
