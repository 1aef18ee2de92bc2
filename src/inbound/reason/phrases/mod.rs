//! The text rules: wordings of single mail systems, and for each reason the phrases of its
//! refusals, by group (the recipient's mailbox, refusals of the sender, system trouble).

use super::Reason;

mod recipient;
mod sender;
mod system;

/// Wordings of single mail systems (qmail, Exim, Sendmail, Postfix, OpenSMTPD, Courier, Domino,
/// InterScan, amavis, ...) with the reason they stand for, lowercased.
pub(super) const MTA_PHRASES: &[(&str, Reason)] = &[
    // qmail.
    ("but sender was rejected", Reason::Rejected),
    ("sorry, i wasn't able to establish an smtp connection", Reason::Networkerror),
    // notqmail, when the domain's MX is null (RFC 7505): the domain accepts no mail.
    ("sorry, i couldn't find a mail exchanger or ip address", Reason::Notaccept),
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
    // Exim's refusals of a malformed address.
    ("angle-brackets nested too deep", Reason::Syntaxerror),
    ("expected word or \"<\"", Reason::Syntaxerror),
    ("domain missing in source-routed address", Reason::Syntaxerror),
    ("malformed address:", Reason::Syntaxerror),
    ("lmtp error after ", Reason::Systemerror),
    // OpenSMTPD.
    ("envelope expired", Reason::Expired),
    ("destination seem to reject all mails", Reason::Notaccept),
    ("network error on destination mxs", Reason::Networkerror),
    ("no valid route to remote mx", Reason::Networkerror),
    // No MX (or a null MX, RFC 7505): the domain accepts no mail.
    ("no mx found for domain", Reason::Notaccept),
    ("no mx found for destination", Reason::Notaccept),
    ("temporary failure in mx lookup", Reason::Networkerror),
    // Courier.
    ("this domain's dns violates rfc 1035", Reason::Systemerror),
    // Lotus Domino / Notes.
    ("not listed in domino directory", Reason::Userunknown),
    ("no se encuentra en el directorio de domino", Reason::Userunknown),
    ("non répertorié dans l'annuaire domino", Reason::Userunknown),
    ("domino ディレクトリには見つかりません", Reason::Userunknown),
    ("ディレクトリのリストにありません", Reason::Userunknown),
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
    ("dns lookup failure: host ", Reason::Hostunknown),
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
pub(super) const PHRASES: [&[(Reason, &[&str])]; 3] = [recipient::PHRASES, sender::PHRASES, system::PHRASES];
