//! What inbound mail is: its kind, how it was matched to a lead, and why a
//! recipient bounced with whom that blames (read by [`crate::inbound`]).

use std::fmt;

use serde::Serialize;

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

/// What an inbound message is (see [`crate::inbound::classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundKind {
    Reply,
    AutoReply,
    Bounce,
    Complaint,
    Unsubscribe,
    Other,
}

impl InboundKind {
    /// The name JSON, the database and logs use (`auto_reply`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            InboundKind::Reply => "reply",
            InboundKind::AutoReply => "auto_reply",
            InboundKind::Bounce => "bounce",
            InboundKind::Complaint => "complaint",
            InboundKind::Unsubscribe => "unsubscribe",
            InboundKind::Other => "other",
        }
    }
}

impl fmt::Display for InboundKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl InboundKind {
    pub const ALL: [InboundKind; 6] = [
        InboundKind::Reply,
        InboundKind::AutoReply,
        InboundKind::Bounce,
        InboundKind::Complaint,
        InboundKind::Unsubscribe,
        InboundKind::Other,
    ];

    pub fn parse(text: &str) -> Option<InboundKind> {
        InboundKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// How an inbound message was matched to its lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// It names (In-Reply-To, References, the original inside a bounce) an email cadenced sent.
    MessageId,
    /// It was sent to the lead's own unsubscribe address.
    Token,
    /// Only by an address: the sender's, or the bounced recipient's.
    Address,
}

impl Matched {
    pub fn as_str(self) -> &'static str {
        match self {
            Matched::MessageId => "message_id",
            Matched::Token => "token",
            Matched::Address => "address",
        }
    }
}
