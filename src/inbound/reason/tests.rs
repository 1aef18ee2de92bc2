//! Tests of the reason rules.

use super::matching::phrase_in;
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
        (550, None, "5.1.2 <lead@nowhere.example>: Recipient address rejected: Domain not found", Reason::Hostunknown),
        (550, Some("5.7.1"), "Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org", Reason::Blocked),
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
    let cases: &[(u16, &str, Reason)] = &[
        // notqmail and OpenSMTPD: no MX, or a null MX (RFC 7505), the domain takes no mail.
        (550, "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)", Reason::Notaccept),
        (550, "No MX found for domain", Reason::Notaccept),
        // IMail.
        (550, "User mailbox exceeds allowed size: lead@example.com", Reason::Mailboxfull),
        (550, "Delivery failed 20 attempts: lead@example.com", Reason::Expired),
        // Exim.
        (550, "malformed address: <a@b> may not follow c@d", Reason::Syntaxerror),
        // Domino in Spanish.
        (550, "lead@example.com no se encuentra en el Directorio de Domino", Reason::Userunknown),
        // Microsoft: DMARC, DANE, limits.
        (
            550,
            "5.7.509 Access denied, sending domain example.com does not pass DMARC verification",
            Reason::Policyviolation,
        ),
        (550, "4.4.317 TLSA-invalid: The domain failed DANE validation", Reason::Securityerror),
        (550, "5.2.2 Submission quota exceeded", Reason::Toomanyconn),
        // Google.
        (421, "4.7.0 This message does not have a PTR record", Reason::Blocked),
        (550, "5.2.1 The email account that you tried to reach is disabled.", Reason::Suspend),
        (550, "5.7.1 Daily user sending limit exceeded.", Reason::Toomanyconn),
        // Mimecast.
        (554, "Host network not allowed - https://community.mimecast.com/docs/DOC-1369#554", Reason::Policyviolation),
        (550, "Envelope blocked - User Entry", Reason::Rejected),
    ];
    for (code, text, want) in cases {
        assert_eq!(smtp_reason(*code, None, text), *want, "{text}");
    }
}
