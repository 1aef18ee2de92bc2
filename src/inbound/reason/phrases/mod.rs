//! The text rules: wordings of single mail systems, and for each reason the phrases of its
//! refusals, by group (the recipient's mailbox, refusals of the sender, system trouble).

use super::BounceReason;

mod recipient;
mod sender;
mod system;

/// Wordings of single mail systems (qmail, Exim, Sendmail, Postfix, OpenSMTPD, Courier, Domino,
/// InterScan, amavis, ...) with the reason they stand for, lowercased.
pub(super) const MTA_PHRASES: &[(&str, BounceReason)] = &[
    // qmail.
    ("but sender was rejected", BounceReason::Rejected),
    ("sorry, i wasn't able to establish an smtp connection", BounceReason::Networkerror),
    // notqmail, when the domain's MX is null (RFC 7505): the domain accepts no mail.
    ("sorry, i couldn't find a mail exchanger or ip address", BounceReason::Notaccept),
    ("sorry. although i'm listed as a best-preference mx or a for that host", BounceReason::Networkerror),
    ("sorry, i couldn't find any host ", BounceReason::Hostunknown),
    ("requested action not taken: mailbox unavailable (not enough free space)", BounceReason::Systemfull),
    ("the message exeeded the maximum size the user accepts", BounceReason::Exceedlimit),
    ("mailaddress is administratively disabled", BounceReason::Suspend),
    ("mailaddress is administrativley disabled", BounceReason::Suspend),
    // Exim (its expiry wordings are at the end: a telling error beside them wins).
    ("mailbox is full", BounceReason::Mailboxfull),
    ("error: quota exceed", BounceReason::Mailboxfull),
    ("all host address lookups failed permanently", BounceReason::Hostunknown),
    ("all relevant mx records point to non-existent hosts", BounceReason::Hostunknown),
    ("an mx or srv record indicated no smtp service", BounceReason::Notaccept),
    ("no host found for existing smtp connection", BounceReason::Notaccept),
    ("too many \"received\" headers", BounceReason::Contenterror),
    // Exim's refusals of a malformed address.
    ("angle-brackets nested too deep", BounceReason::Syntaxerror),
    ("expected word or \"<\"", BounceReason::Syntaxerror),
    ("domain missing in source-routed address", BounceReason::Syntaxerror),
    ("malformed address:", BounceReason::Syntaxerror),
    ("lmtp error after ", BounceReason::Systemerror),
    // OpenSMTPD.
    ("envelope expired", BounceReason::Expired),
    ("destination seem to reject all mails", BounceReason::Notaccept),
    ("network error on destination mxs", BounceReason::Networkerror),
    ("no valid route to remote mx", BounceReason::Networkerror),
    // No MX (or a null MX, RFC 7505): the domain accepts no mail.
    ("no mx found for domain", BounceReason::Notaccept),
    ("no mx found for destination", BounceReason::Notaccept),
    ("temporary failure in mx lookup", BounceReason::Networkerror),
    // Courier.
    ("this domain's dns violates rfc 1035", BounceReason::Systemerror),
    // Ipswitch IMail.
    ("invalid final delivery userid", BounceReason::Userunknown),
    // Verizon's MMS gateway (vzwpix.com): the number is no subscriber's.
    ("no valid recipients for this mm", BounceReason::Userunknown),
    // Lotus Domino / Notes.
    ("not listed in domino directory", BounceReason::Userunknown),
    ("no se encuentra en el directorio de domino", BounceReason::Userunknown),
    ("non répertorié dans l'annuaire domino", BounceReason::Userunknown),
    ("domino ディレクトリには見つかりません", BounceReason::Userunknown),
    ("ディレクトリのリストにありません", BounceReason::Userunknown),
    ("not listed in public name & address book", BounceReason::Userunknown),
    ("cannot route mail to user", BounceReason::Filtered),
    ("several matches found in domino directory", BounceReason::Systemerror),
    ("message has exceeded maximum hop count", BounceReason::Networkerror),
    // Exchange 2003.
    ("(000c05a6)", BounceReason::Userunknown),
    ("(000c0595)", BounceReason::Filtered),
    ("(00010256)", BounceReason::Systemerror),
    ("(000d06b5)", BounceReason::Systemerror),
    ("(00120270)", BounceReason::Networkerror),
    ("(00050311)", BounceReason::Contenterror),
    ("(000502cc)", BounceReason::Contenterror),
    ("(000b0981)", BounceReason::Securityerror),
    // Trend Micro InterScan.
    ("please check if address is correct", BounceReason::Userunknown),
    // amavis.
    (" - infected", BounceReason::Virusdetected),
    (" - bad header:", BounceReason::Contenterror),
    (" - message size exceeds recipient", BounceReason::Exceedlimit),
    // Outlook.com / Hotmail.
    ("requested action not taken: mailbox unavailable", BounceReason::Userunknown),
    // DragonFly Mail Agent.
    ("could not deliver for the last", BounceReason::Expired),
    ("dns lookup failure: host ", BounceReason::Hostunknown),
    // Amazon SES.
    ("delivery expired", BounceReason::Expired),
    // Exim.
    ("retry timeout exceeded", BounceReason::Expired),
    ("retry time not reached for any host after a long failure period", BounceReason::Expired),
    ("all hosts have been failing for a long time and were last tried", BounceReason::Expired),
    ("has been frozen", BounceReason::Expired),
    ("was frozen on arrival", BounceReason::Expired),
];

/// "Sender" refusals that name the sender outright, for any command.
pub(super) const SENDER_REFUSED: &[&str] = &[
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
pub(super) const NOT_REJECTED: &[&str] =
    &["5.1.0 address rejected", "recipient address rejected", "sender ip address rejected"];

/// The text rules: for each reason, phrases of its refusals (lowercased, white space collapsed, `*`
/// for one word). Which rule wins when several match is [`super::decide`]'s business.
pub(super) const PHRASES: [&[(BounceReason, &[&str])]; 3] = [recipient::PHRASES, sender::PHRASES, system::PHRASES];
