//! Tests of the reason rules.

use super::matching::phrase_in;
use super::*;

#[test]
fn names_round_trip_and_groups_partition() {
    for r in BounceReason::ALL {
        assert_eq!(BounceReason::parse(r.as_str()), Some(r));
        assert_eq!(serde_json::to_value(r).ok(), Some(serde_json::Value::from(r.as_str())));
        let groups = [r.is_dead_address(), r.blames_sender(), r.is_passing()];
        assert_eq!(groups.iter().filter(|g| **g).count(), 1, "{r} is in exactly one group");
    }
    assert_eq!(BounceReason::parse(" MailboxFull "), Some(BounceReason::Mailboxfull));
    assert_eq!(BounceReason::parse("feedback"), None);
    let dead: Vec<&str> =
        BounceReason::ALL.into_iter().filter(|r| r.is_dead_address()).map(BounceReason::as_str).collect();
    assert_eq!(dead, ["userunknown", "hostunknown", "hasmoved", "notaccept"]);
    for r in ["blocked", "spamdetected", "policyviolation", "securityerror", "norelaying", "rejected"] {
        assert!(BounceReason::parse(r).is_some_and(BounceReason::blames_sender), "{r}");
    }
    for r in ["mailboxfull", "exceedlimit", "systemfull", "expired", "networkerror", "systemerror", "suspend"] {
        assert!(BounceReason::parse(r).is_some_and(BounceReason::is_passing), "{r}");
    }
}

/// Replies of real servers to RCPT TO / DATA, and the reason each stands for.
#[test]
fn smtp_replies_of_real_servers() {
    let cases: &[(u16, Option<&str>, &str, BounceReason)] = &[
        // Postfix.
        (550, Some("5.1.1"), "<lead@example.com>: Recipient address rejected: User unknown", BounceReason::Userunknown),
        (
            550,
            None,
            "5.1.1 <lead@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
            BounceReason::Userunknown,
        ),
        (
            550,
            None,
            "5.1.2 <lead@nowhere.example>: Recipient address rejected: Domain not found",
            BounceReason::Hostunknown,
        ),
        (
            550,
            Some("5.7.1"),
            "Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org",
            BounceReason::Blocked,
        ),
        (554, Some("5.7.1"), "<lead@example.com>: Relay access denied", BounceReason::Norelaying),
        (554, None, "5.7.1 Relay access denied", BounceReason::Norelaying),
        (452, Some("4.2.2"), "Mailbox full", BounceReason::Mailboxfull),
        (450, Some("4.7.1"), "Client host rejected: cannot find your hostname, [192.0.2.1]", BounceReason::Blocked),
        (550, Some("5.7.1"), "<sales@ourco.example>: Sender address rejected: Access denied", BounceReason::Rejected),
        (451, Some("4.3.0"), "Error: queue file write error", BounceReason::Systemerror),
        // Spam filters.
        (550, Some("5.7.1"), "Message rejected as spam", BounceReason::Spamdetected),
        (550, None, "5.7.1 Message rejected as spam by Content Filtering.", BounceReason::Spamdetected),
        (
            554,
            None,
            "Service unavailable; Client host [192.0.2.1] blocked using Barracuda Reputation; \
             http://www.barracudanetworks.com/reputation/?r=1&ip=192.0.2.1",
            BounceReason::Blocked,
        ),
        (554, Some("5.7.0"), "Blocked - see https://ipcheck.proofpoint.com/?ip=192.0.2.1", BounceReason::Blocked),
        (554, None, "Email rejected due to security policies - MCSpamSignature.sa.2.2", BounceReason::Policyviolation),
        (
            550,
            None,
            "Administrative prohibition - envelope blocked - https://community.mimecast.com/docs/DOC-1369#550",
            BounceReason::Rejected,
        ),
        (
            554,
            Some("5.7.1"),
            "The message was rejected because it contains prohibited virus or spam content",
            BounceReason::Virusdetected,
        ),
        // Gmail.
        (
            550,
            Some("5.1.1"),
            "The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 \
             double-checking the recipient's email address for typos or\r\n550-5.1.1 unnecessary spaces. \
             Learn more at\r\n550 5.1.1  https://support.google.com/mail/?p=NoSuchUser x1si - gsmtp",
            BounceReason::Userunknown,
        ),
        (552, Some("5.2.2"), "The email account that you tried to reach is over quota.", BounceReason::Mailboxfull),
        (550, Some("5.2.1"), "The email account that you tried to reach is disabled.", BounceReason::Suspend),
        (
            421,
            Some("4.7.0"),
            "[192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating from your IP \
             address.",
            BounceReason::Blocked,
        ),
        (
            550,
            Some("5.7.1"),
            "[192.0.2.1] Our system has detected that this message is likely unsolicited mail.",
            BounceReason::Spamdetected,
        ),
        (
            550,
            Some("5.7.26"),
            "This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to \
             authenticate with either SPF or DKIM.",
            BounceReason::Securityerror,
        ),
        (
            550,
            Some("5.7.26"),
            "Unauthenticated email from example.com is not accepted due to domain's DMARC policy.",
            BounceReason::Policyviolation,
        ),
        // Outlook.com / Office 365.
        (
            550,
            Some("5.7.1"),
            "Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your Internet service \
             provider since part of their network is on our block list (S3150).",
            BounceReason::Blocked,
        ),
        (
            550,
            Some("5.1.10"),
            "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            BounceReason::Userunknown,
        ),
        (550, Some("5.7.606"), "Access denied, banned sending IP [192.0.2.1]", BounceReason::Blocked),
        (550, None, "Requested action not taken: mailbox unavailable (S2017062302)", BounceReason::Userunknown),
        // Yahoo.
        (
            554,
            None,
            "delivery error: dd This user doesn't have a yahoo.com account (lead@yahoo.com) [0] - mta1.mail.yahoo.com",
            BounceReason::Userunknown,
        ),
        (
            421,
            Some("4.7.0"),
            "[TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints",
            BounceReason::Blocked,
        ),
        (
            554,
            Some("5.7.9"),
            "Message not accepted for policy reasons. See https://senders.yahooinc.com/error-codes",
            BounceReason::Policyviolation,
        ),
        // Exim, Sendmail, qmail.
        (550, None, "Unrouteable address", BounceReason::Hostunknown),
        (
            553,
            Some("5.1.8"),
            "<sales@ourco.example>... Domain of sender address sales@ourco.example does not exist",
            BounceReason::Rejected,
        ),
        (550, None, "sorry, no mailbox here by that name. (#5.1.1)", BounceReason::Userunknown),
        (552, Some("5.3.4"), "Message size exceeds fixed limit", BounceReason::Mesgtoobig),
        (550, Some("5.1.6"), "Recipient addresses moved", BounceReason::Hasmoved),
        // Amazon SES as the sending relay.
        (
            554,
            None,
            "Message rejected: Email address is not verified. The following identities failed the check in \
             region US-EAST-1: sales@ourco.example",
            BounceReason::Rejected,
        ),
        // Rate limits, authentication, protocol.
        (421, Some("4.7.0"), "Too many connections from your IP, try again later", BounceReason::Toomanyconn),
        (530, Some("5.7.0"), "Authentication required", BounceReason::Securityerror),
        (500, Some("5.5.1"), "Command unrecognized", BounceReason::Syntaxerror),
        // A "user unknown" said to DATA, after the recipient was accepted, is still about the address.
        (550, None, "Unknown user (in reply to end of DATA command)", BounceReason::Userunknown),
        (550, Some("5.7.1"), "Refused due to recipient preferences", BounceReason::Filtered),
    ];
    for (code, enhanced, text, want) in cases {
        assert_eq!(smtp_reason(*code, *enhanced, text), *want, "{code} {enhanced:?} {text}");
    }
}

#[test]
fn status_codes_alone() {
    let cases = [
        ("5.1.1", BounceReason::Userunknown),
        ("5.1.2", BounceReason::Hostunknown),
        ("5.1.6", BounceReason::Hasmoved),
        ("5.1.10", BounceReason::Notaccept),
        ("5.2.2", BounceReason::Mailboxfull),
        ("4.2.2", BounceReason::Mailboxfull),
        ("5.2.3", BounceReason::Exceedlimit),
        ("5.3.4", BounceReason::Mesgtoobig),
        ("4.4.7", BounceReason::Expired),
        ("5.7.1", BounceReason::Securityerror),
        ("4.7.1", BounceReason::Blocked),
        ("5.7.25", BounceReason::Blocked),
        ("5.6.0", BounceReason::Contenterror),
    ];
    for (code, want) in cases {
        assert_eq!(smtp_reason(550, Some(code), ""), want, "{code}");
    }
    // No code and no text: nothing to go by.
    assert_eq!(decide(&Evidence::default()), BounceReason::Undefined);
    assert_eq!(decide(&Evidence { delayed: true, ..Evidence::default() }), BounceReason::Expired);
}

/// A text saying the mailbox does not exist, whether or not the notice says which command it
/// answered (a relaying system's summary, a reply quoted without its transcript, an answer to DATA):
/// the address is dead.
#[test]
fn user_unknown_is_a_dead_address_whatever_the_command() {
    let reason = |status: Option<&'static str>, text: &'static str, command: Option<Command>| {
        decide(&Evidence { status, reply: None, text, delayed: false, command })
    };
    assert_eq!(reason(Some("5.0.0"), "550 <lead@example.com>: User unknown", None), BounceReason::Userunknown);
    assert_eq!(reason(None, "550 unknown user<lead@example.co.jp>", None), BounceReason::Userunknown);
    // PowerMTA's 5.2.1 ("mailbox disabled") with the remote's own "User Unknown".
    assert_eq!(reason(Some("5.2.1"), "550 5.2.1 <lead@example.org>... User Unknown", None), BounceReason::Userunknown);
    assert_eq!(reason(Some("5.0.0"), "550 User unknown", Some(Command::Data)), BounceReason::Userunknown);
    assert_eq!(
        reason(Some("5.0.0"), "550 <lead@example.com>: User unknown (in reply to end of DATA command)", None),
        BounceReason::Userunknown
    );
    // Other words still win: a full mailbox, a disabled account, the recipient's own filter.
    assert_eq!(reason(Some("5.2.2"), "552 5.2.2 Over quota", None), BounceReason::Mailboxfull);
    assert_eq!(reason(Some("5.2.1"), "550 5.2.1 Account disabled", None), BounceReason::Suspend);
    assert_eq!(
        reason(Some("5.7.1"), "550 You have been blocked by the recipient", Some(Command::Data)),
        BounceReason::Filtered
    );
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

#[test]
fn command_named_in_capitals() {
    assert_eq!(command_named("550 5.2.1 <a@b>... User Unknown\n[RCPT_TO]"), Some(Command::Rcpt));
    assert_eq!(command_named(">>> MAIL FROM:<a@b>\n>>> RCPT TO:<c@d>\n>>> DATA\n<<< 554 no"), Some(Command::Data));
    assert_eq!(command_named("EHLO refused"), Some(Command::Helo));
    // Only whole words in capitals.
    assert_eq!(command_named("DATABASE error, rcpt to failed"), None);
}

/// Wordings of single mail systems and providers, refused at RCPT TO unless the text says otherwise.
#[test]
fn provider_and_mail_system_wordings() {
    let cases: &[(u16, &str, BounceReason)] = &[
        // notqmail and OpenSMTPD: no MX, or a null MX (RFC 7505), the domain takes no mail.
        (550, "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)", BounceReason::Notaccept),
        (550, "No MX found for domain", BounceReason::Notaccept),
        // IMail.
        (550, "User mailbox exceeds allowed size: lead@example.com", BounceReason::Mailboxfull),
        (550, "Delivery failed 20 attempts: lead@example.com", BounceReason::Expired),
        // Exim.
        (550, "malformed address: <a@b> may not follow c@d", BounceReason::Syntaxerror),
        // Domino in Spanish.
        (550, "lead@example.com no se encuentra en el Directorio de Domino", BounceReason::Userunknown),
        // Microsoft: DMARC, DANE, limits.
        (
            550,
            "5.7.509 Access denied, sending domain example.com does not pass DMARC verification",
            BounceReason::Policyviolation,
        ),
        (550, "4.4.317 TLSA-invalid: The domain failed DANE validation", BounceReason::Securityerror),
        (550, "5.2.2 Submission quota exceeded", BounceReason::Toomanyconn),
        // Google.
        (421, "4.7.0 This message does not have a PTR record", BounceReason::Blocked),
        (550, "5.2.1 The email account that you tried to reach is disabled.", BounceReason::Suspend),
        (550, "5.7.1 Daily user sending limit exceeded.", BounceReason::Toomanyconn),
        // Gmail's DNS errors: NXDOMAIN, and neither an MX nor an address (dead domains); a lookup that
        // only had no answers of one type is not that.
        (
            550,
            "DNS Error: DNS type 'mx' lookup of example.jp responded with code NXDOMAIN Domain name not found",
            BounceReason::Hostunknown,
        ),
        (
            550,
            "DNS Error: 1 DNS type 'mx' lookup of gmal.com responded with code NOERROR 1 DNS type 'mx' lookup of \
             gmal.com had no relevant answers. 1 DNS type 'aaaa' lookup of gmal.com had no relevant answers.",
            BounceReason::Notaccept,
        ),
        (550, "DNS type 'mx' lookup of gmal.com had no relevant answers.", BounceReason::Networkerror),
        // IMail, Verizon's MMS gateway, Exim's permanent failures.
        (550, "Invalid final delivery userid: lead@example.com", BounceReason::Userunknown),
        (
            550,
            "Message could not be delivered to mobile. Error: No valid recipients for this MM",
            BounceReason::Userunknown,
        ),
        (550, "unrouteable mail domain \"example.invalid\"", BounceReason::Hostunknown),
        // Mimecast.
        (
            554,
            "Host network not allowed - https://community.mimecast.com/docs/DOC-1369#554",
            BounceReason::Policyviolation,
        ),
        (550, "Envelope blocked - User Entry", BounceReason::Rejected),
    ];
    for (code, text, want) in cases {
        assert_eq!(smtp_reason(*code, None, text), *want, "{text}");
    }
}
