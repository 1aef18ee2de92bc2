//! Hand-written bounces: RFC 3464 reports and the plain-text notices of the common mail systems.

use crate::inbound::{BounceReason, Kind, classify};

fn dsn(action_block: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.ourco.example>\r\n\
To: sales@ourco.example\r\n\
Subject: Delayed Mail (still being retried)\r\n\
Auto-Submitted: auto-replied\r\n\
Message-ID: <dsn-1@mx.ourco.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\
\r\n\
--B\r\n\
Content-Type: text/plain\r\n\
\r\n\
This is the mail system at host mx.ourco.example.\r\n\
\r\n\
--B\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.ourco.example\r\n\
Arrival-Date: Mon,  2 Mar 2026 10:00:00 +0100 (CET)\r\n\
\r\n\
{action_block}\r\n\
--B\r\n\
Content-Type: text/rfc822-headers\r\n\
\r\n\
From: sales@ourco.example\r\n\
To: lead@example.com\r\n\
Subject: Quick question\r\n\
Message-ID: <send-7@ourco.example>\r\n\
\r\n\
--B--\r\n"
    )
}

#[test]
fn rfc3464_delayed_recipient_is_temporary() {
    let raw = dsn("Final-Recipient: rfc822; Lead@Example.com\r\n\
Original-Recipient: rfc822;lead@example.com\r\n\
Action: delayed\r\n\
Status: 4.2.2\r\n\
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full\r\n\
Will-Retry-Until: Fri, 6 Mar 2026 10:00:00 +0100\r\n");
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1);
    let r = &c.recipients[0];
    assert_eq!(r.address, "lead@example.com");
    assert!(!r.permanent);
    assert_eq!(r.status.as_deref(), Some("4.2.2"));
    assert_eq!(r.reason, BounceReason::Mailboxfull);
    assert_eq!(c.original_message_ids, ["<send-7@ourco.example>"]);
    assert_eq!(c.lead(), Some("lead@example.com"));
}

#[test]
fn rfc3464_failed_and_delivered_recipients() {
    let raw = dsn("Final-Recipient: rfc822; gone@example.com\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\
\r\n\
Final-Recipient: rfc822; fine@example.com\r\n\
Action: delivered\r\n\
Status: 2.0.0\r\n");
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1);
    assert_eq!(c.recipients[0].address, "gone@example.com");
    assert!(c.recipients[0].permanent);
    assert_eq!(c.recipients[0].status.as_deref(), Some("5.1.1"));
}

#[test]
fn refusals_of_the_sender_and_full_mailboxes_are_not_dead_addresses() {
    let cases = [
        (
            "5.7.1",
            "550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org",
            BounceReason::Blocked,
        ),
        ("5.7.1", "550 5.7.1 Message rejected as spam", BounceReason::Spamdetected),
        ("5.7.1", "554 5.7.1 <lead@example.com>: Relay access denied", BounceReason::Norelaying),
        ("5.2.2", "552 5.2.2 <lead@example.com>: Recipient address rejected: Mailbox full", BounceReason::Mailboxfull),
        (
            "5.7.26",
            "550 5.7.26 Unauthenticated email from ourco.example is not accepted due to domain's DMARC policy",
            BounceReason::Policyviolation,
        ),
        ("5.1.1", "550 5.1.1 <lead@example.com>: Recipient address rejected: User unknown", BounceReason::Userunknown),
        (
            "5.1.2",
            "550 5.1.2 <lead@example.com>: Recipient address rejected: Domain not found",
            BounceReason::Hostunknown,
        ),
    ];
    for (status, diagnostic, want) in cases {
        let raw = dsn(&format!(
            "Final-Recipient: rfc822; lead@example.com\r\nAction: failed\r\nStatus: {status}\r\n\
             Diagnostic-Code: smtp; {diagnostic}\r\n"
        ));
        let c = classify(raw.as_bytes());
        assert_eq!(c.kind, Kind::Bounce, "{diagnostic}");
        let r = &c.recipients[0];
        assert_eq!((r.reason, r.permanent), (want, want.is_dead_address()), "{diagnostic}");
        assert_eq!(r.status.as_deref(), Some(status));
    }
}

#[test]
fn success_only_dsn_is_other() {
    let raw = dsn("Final-Recipient: rfc822; fine@example.com\r\nAction: relayed\r\nStatus: 2.0.0\r\n");
    assert_eq!(classify(raw.as_bytes()).kind, Kind::Other);
}
#[test]
fn plain_text_bounce_from_postfix() {
    let raw = b"From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n\
Subject: Undelivered Mail Returned to Sender\r\nTo: sales@ourco.example\r\n\r\n\
This is the mail system at host mx.example.com.\r\n\r\n\
I'm sorry to have to inform you that your message could not\r\nbe delivered to one or more recipients.\r\n\r\n\
<Lead@Example.com>: host mx.example.com[192.0.2.1] said: 452 4.2.2 Mailbox full (in\r\n    reply to RCPT TO command)\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1);
    assert_eq!(c.recipients[0].address, "lead@example.com");
    assert!(!c.recipients[0].permanent);
    assert_eq!(c.recipients[0].reason, BounceReason::Mailboxfull);
    assert_eq!(c.recipients[0].status.as_deref(), Some("4.2.2"));
}

#[test]
fn gmail_address_not_found() {
    let raw = "From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\n\
To: sales@ourco.example\r\n\
Subject: Delivery Status Notification (Failure)\r\n\
Auto-Submitted: auto-replied\r\n\
Content-Type: text/plain; charset=UTF-8\r\n\
\r\n\
Address not found\r\n\
\r\n\
Your message wasn't delivered to Lead@example.com because the address couldn't be found, or is unable to receive mail.\r\n\
\r\n\
The response from the remote server was:\r\n\
550 5.1.1 The email account that you tried to reach does not exist.\r\n\
\r\n\
----- Original message -----\r\n\
\r\n\
From: Sales <sales@ourco.example>\r\n\
To: lead@example.com\r\n\
Message-ID: <send-9@ourco.example>\r\n\
Subject: Quick question\r\n";
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1, "{c:?}");
    assert_eq!(c.recipients[0].address, "lead@example.com");
    assert!(c.recipients[0].permanent);
    assert_eq!(c.recipients[0].status.as_deref(), Some("5.1.1"));
    assert_eq!(c.original_message_ids, ["<send-9@ourco.example>"]);
}

#[test]
fn gmail_delay_without_code_is_temporary() {
    let raw = b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\nTo: sales@ourco.example\r\n\
Subject: Delivery Status Notification (Delay)\r\n\r\nDelivery incomplete\r\n\r\n\
There was a temporary problem delivering your message to lead@example.com. Gmail will retry for 47 more hours. \
You'll be notified if the delivery fails permanently.\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1, "{c:?}");
    assert_eq!(c.recipients[0].address, "lead@example.com");
    assert!(!c.recipients[0].permanent);
    assert_eq!(c.recipients[0].reason, BounceReason::Expired);
    assert_eq!(c.recipients[0].status, None);
}

#[test]
fn exchange_plain_ndr() {
    let raw = b"From: Microsoft Outlook <postmaster@example.com>\r\nTo: sales@ourco.example\r\n\
Subject: Undeliverable: Quick question\r\nContent-Type: text/plain\r\n\r\n\
Delivery has failed to these recipients or groups:\r\n\r\n\
lead@example.com (lead@example.com)\r\n\
The e-mail address you entered couldn't be found. Please check the recipient's e-mail address and try to resend the message.\r\n\r\n\
Diagnostic information for administrators:\r\n\r\nGenerating server: EXCH01.example.com\r\n\r\n\
lead@example.com\r\nRemote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'\r\n\r\n\
Original message headers:\r\n\r\nFrom: sales@ourco.example\r\nTo: lead@example.com\r\n\
Message-ID: <send-3@ourco.example>\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1, "{c:?}");
    assert_eq!(c.recipients[0].address, "lead@example.com");
    assert_eq!(c.recipients[0].status.as_deref(), Some("5.1.1"));
    assert_eq!(c.recipients[0].reason, BounceReason::Userunknown);
    assert!(c.recipients[0].permanent);
    assert_eq!(c.original_message_ids, ["<send-3@ourco.example>"]);
}

#[test]
fn qmail_bounce() {
    let raw = b"From: MAILER-DAEMON@mx.example.net\nTo: sales@ourco.example\nSubject: failure notice\n\n\
Hi. This is the qmail-send program at mx.example.net.\n\
I'm afraid I wasn't able to deliver your message to the following addresses.\n\
This is a permanent error; I've given up. Sorry it didn't work out.\n\n\
<lead@example.net>:\n192.0.2.3 does not like recipient.\nRemote host said: 550 No such user\nGiving up on 192.0.2.3.\n\n\
--- Below this line is a copy of the message.\n\nReturn-Path: <sales@ourco.example>\nFrom: sales@ourco.example\n\
To: lead@example.net\nMessage-ID: <send-5@ourco.example>\n\nhello\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1, "{c:?}");
    assert_eq!(c.recipients[0].address, "lead@example.net");
    assert!(c.recipients[0].permanent);
    assert_eq!(c.recipients[0].status.as_deref(), Some("5.0.0"));
    assert_eq!(c.recipients[0].reason, BounceReason::Userunknown, "qmail: does not like recipient");
    assert_eq!(c.original_message_ids, ["<send-5@ourco.example>"]);
}

#[test]
fn ses_notifications() {
    let complaint = r#"{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"Lead@example.com"}],"complaintFeedbackType":"abuse"},"mail":{"messageId":"0100","headers":[{"name":"Message-ID","value":"<send-11@ourco.example>"}]}}"#;
    let raw = format!(
        "From: no-reply@sns.amazonaws.com\r\nTo: ops@ourco.example\r\nSubject: AWS Notification Message\r\n\r\n{}\r\n",
        serde_json::json!({"Type": "Notification", "Message": complaint})
    );
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Complaint);
    assert_eq!(c.recipients[0].address, "lead@example.com");
    assert_eq!(c.original_message_ids, ["<send-11@ourco.example>"]);

    let bounce = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Transient","bouncedRecipients":[{"emailAddress":"lead@example.com","diagnosticCode":"smtp; 452 4.2.2 mailbox full"}]}}"#;
    let raw = format!("From: no-reply@sns.amazonaws.com\r\nSubject: AWS Notification Message\r\n\r\n{bounce}\r\n");
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    assert!(!c.recipients[0].permanent);
    assert_eq!(c.recipients[0].reason, BounceReason::Mailboxfull);
    assert_eq!(c.recipients[0].status.as_deref(), Some("4.2.2"));
}

#[test]
fn report_whose_boundary_never_occurs_is_read_as_text() {
    // The header declares one boundary, the body uses another: the whole body is the notice.
    let raw = b"From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\nReturn-Path: <>\r\n\
Subject: Undelivered Mail Returned to Sender\r\nTo: sales@ourco.example\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"declared/mx.example.com\"\r\n\r\n\
--used/mx.example.com\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n\
--used/mx.example.com\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n\
Final-Recipient: rfc822; lead@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <lead@example.net>: Recipient address rejected: User unknown\r\n\r\n\
--used/mx.example.com--\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1, "{c:?}");
    assert_eq!(c.recipients[0].address, "lead@example.net");
    assert_eq!(c.recipients[0].reason, BounceReason::Userunknown);
    assert!(c.recipients[0].permanent);
}

#[test]
fn null_reverse_path_notice_with_a_reply_code_is_a_bounce() {
    // Neither a daemon's address nor a telling phrase: the null reverse path, a failure subject and
    // a reply code at the start of a line say it.
    let raw = b"Return-Path: <>\r\nFrom: filter@gw.example.org\r\nTo: sales@ourco.example\r\n\
Subject: failure notice\r\n\r\nSending to this address did not work:\r\nlead@example.org\r\n\r\n\
-------server message\r\n550 lead@example.org... No such user\r\n\r\n-------SMTP command\r\nRCPT\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1, "{c:?}");
    assert_eq!(c.recipients[0].address, "lead@example.org");
    assert_eq!(c.recipients[0].reason, BounceReason::Userunknown);
    // The same text from a person, with a return path, stays a reply.
    let person = String::from_utf8_lossy(raw).replace("Return-Path: <>", "Return-Path: <filter@gw.example.org>");
    assert_eq!(classify(person.as_bytes()).kind, Kind::Reply);
}

#[test]
fn a_user_unknown_under_a_filters_code_is_a_dead_address() {
    // Yahoo's notice: 5.2.1 alone would make it the recipient's filter; the remote's words say the
    // address is unknown, whichever command it names.
    let notice = |command: &str| {
        format!(
            "From: MAILER-DAEMON@yahoo.com\r\nTo: sales@ourco.example\r\nSubject: Failure Notice\r\n\r\n\
Sorry, we were unable to deliver your message to the following address.\r\n\r\n<lead@example.co.jp>:\r\n\
Remote host said:\r\n550 5.2.1 <lead@example.co.jp>... User Unknown\r\n{command}\r\n\r\n\
--- Below this line is a copy of the message.\r\n"
        )
    };
    let c = classify(notice("[RCPT_TO]").as_bytes());
    assert_eq!(c.recipients[0].reason, BounceReason::Userunknown, "{c:?}");
    assert!(c.recipients[0].permanent);
    let c = classify(notice("[DATA]").as_bytes());
    assert_eq!(c.recipients[0].reason, BounceReason::Userunknown, "{c:?}");
    assert!(c.recipients[0].permanent);
}

#[test]
fn iso_2022_jp_notice_is_decoded() {
    // Lotus Notes, in Japanese: "not in the directory list" (ディレクトリのリストにありません).
    let mut raw = b"Return-Path: <>\r\nFrom: postmaster@n.example.co.jp\r\nTo: sales@ourco.example\r\n\
Subject: Undeliverable message\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n\
------- Failure Reasons  --------\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(b"\x1b$B%G%#%l%/%H%j$N%j%9%H$K$\"$j$^$;$s\x1b(B\r\nlead@example.co.jp\r\n\r\n");
    raw.extend_from_slice(
        b"------- Returned Message --------\r\nTo: lead@example.co.jp\r\nSubject: hello\r\n\r\nhi\r\n",
    );
    let c = classify(&raw);
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1, "{c:?}");
    assert_eq!(c.recipients[0].address, "lead@example.co.jp");
    assert_eq!(c.recipients[0].reason, BounceReason::Userunknown);
    assert!(c.recipients[0].permanent);
}

#[test]
fn google_groups_refusal_with_unindented_bullets() {
    let raw = b"From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\nTo: sales@ourco.example\r\n\
Subject: Delivery Status Notification (Failure)\r\nX-Failed-Recipients: team@groups.example.com\r\n\r\n\
Hello sales@ourco.example,\r\n\r\nWe're writing to let you know that the group you tried to contact (team) may not \
exist, or you may not have permission to post messages to the group. A few more details on why you weren't able to \
post:\r\n\r\n* You might have spelled or formatted the group name incorrectly.\r\n\
* The owner of the group may have removed this group.\r\n\
* You may need to join the group before receiving permission to post.\r\n\
* This group may not be open to posting.\r\n\r\nIf you have questions related to this or any other Google Group, \
visit the Help Center at https://groups.google.com/support/.\r\n\r\nThanks,\r\n\r\nGoogle Groups\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1, "{c:?}");
    assert_eq!(c.recipients[0].reason, BounceReason::Rejected);
    assert!(!c.recipients[0].permanent);
}

/// qmail's notice with the copy of the message cut to a few headers.
fn qmail_notice(recipient_line: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example.com\r\nTo: sales@ourco.example\r\nSubject: failure notice\r\n\r\n\
Hi. This is the qmail-send program at mx.example.com.\r\n\
I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\
This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n\
{recipient_line}Sorry, no mailbox here by that name. (#5.1.1)\r\n\r\n\
--- Below this line is a copy of the message.\r\n\r\n\
Message-ID: <send-9@ourco.example>\r\nSubject: Quick question\r\n\r\nHello\r\n"
    )
}

#[test]
fn a_notice_naming_no_recipient_keeps_its_own_verdict_and_the_returned_message_id() {
    let c = classify(qmail_notice("").as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    assert!(c.recipients.is_empty(), "{:?}", c.recipients);
    assert_eq!(c.original_message_ids, ["<send-9@ourco.example>"]);
    let u = c.unattributed.as_ref().unwrap();
    assert_eq!(u.reason, BounceReason::Userunknown);
    assert_eq!(u.status.as_deref(), Some("5.1.1"));
    let r = u.for_address("Lead@Example.com");
    assert_eq!(r.address, "lead@example.com");
    assert!(r.permanent);

    // With its recipient read, there is nothing unattributed.
    let c = classify(qmail_notice("<lead@example.com>:\r\n").as_bytes());
    assert_eq!(c.recipients.len(), 1);
    assert_eq!(c.recipients[0].address, "lead@example.com");
    assert!(c.unattributed.is_none());
}

#[test]
fn original_recipient_is_kept_beside_the_address_that_failed() {
    let block = "Original-Recipient: rfc822; lead@example.com\r\nFinal-Recipient: rfc822; lead.fwd@elsewhere.example\r\n\
Action: failed\r\nStatus: 5.1.1\r\n";
    let c = classify(dsn(block).as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    let r = &c.recipients[0];
    assert_eq!(r.address, "lead.fwd@elsewhere.example");
    assert_eq!(r.original.as_deref(), Some("lead@example.com"));
    assert!(r.is("LEAD@example.com") && r.is("lead.fwd@elsewhere.example") && !r.is("other@example.com"));
}

#[test]
fn a_report_a_gateway_passed_on_attached_is_read_as_the_report() {
    let inner = dsn("Final-Recipient: rfc822; lead@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n");
    let raw = format!(
        "From: postmaster@gw.example.com\r\nTo: sales@ourco.example\r\nSubject: Delivery Status Notification (Failure)\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"W\"\r\n\r\n--W\r\n\
Content-Type: message/rfc822\r\n\r\n{inner}\r\n--W\r\nContent-Type: text/plain\r\n\r\n\
This e-mail is confidential.\r\n--W--\r\n"
    );
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.len(), 1);
    assert_eq!(c.recipients[0].address, "lead@example.com");
    assert!(c.recipients[0].permanent);
    assert_eq!(c.original_message_ids, ["<send-7@ourco.example>"]);
}

#[test]
fn a_list_servers_returned_command_is_not_taken_for_ours() {
    // The returned original is the list server's answer to a command; the command it quotes was
    // sent by the failed recipient, who is not "us".
    let raw = "From: imss@example.be\r\nTo: list-bounces@lists.example.org\r\nSubject: Mail could not be delivered\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n\
Sent <<< RCPT TO:<isam@example.be>\r\nReceived >>> 550 5.1.1 unknown user.\r\n\r\n\
Unable to deliver message to <isam@example.be>.\r\n\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n\
From: list-bounces@lists.example.org\r\nTo: isam@example.be\r\nSubject: The results of your email commands\r\n\
Message-ID: <cmd-1@lists.example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"C\"\r\n\r\n\
--C\r\nContent-Type: text/plain\r\n\r\nThe results.\r\n--C\r\nContent-Type: message/rfc822\r\n\r\n\
From: Isam <isam@example.be>\r\nTo: list-unsubscribe@lists.example.org\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n\
--C--\r\n\r\n--B--\r\n";
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    let got: Vec<&str> = c.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(got, ["isam@example.be"]);
}

#[test]
fn the_failed_list_is_read_under_its_heading_not_in_the_summary_of_the_original() {
    // Exchange 5.5 to 2003: the summary of the original names its To and Cc first.
    let raw = b"From: System Administrator <postmaster@example.com>\r\nTo: sales@ourco.example\r\n\
Subject: Undeliverable: Quick question\r\n\r\nYour message\r\n\r\n  To:      team@ourco.example\r\n\
  Cc:      lead@example.com; other@ourco.example\r\n  Subject: Quick question\r\n\r\n\
did not reach the following recipient(s):\r\n\r\nlead@example.com on Thu, 11 Jul 2002 16:54:54 -0300\r\n\
    The recipient name is not recognized\r\n    MSEXCH:IMS:Example:CENTRAL:EX02 0 (000C05A6) Unknown Recipient\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    let got: Vec<&str> = c.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(got, ["lead@example.com"]);
    assert!(c.recipients[0].permanent);

    // MDaemon: "did not receive a copy of your message" heads the list; it is not where the copy starts.
    let raw = b"From: MDaemon@mx.example.com\r\nTo: sales@ourco.example\r\nSubject: Permanent Delivery Failure\r\n\r\n\
The attached message had PERMANENT fatal delivery errors!\r\n\r\nYOUR MESSAGE WAS NOT DELIVERED!\r\n\r\n\
The following addresses did NOT receive a copy of your message:\r\n\r\n> lead@example.com\r\n\r\n\
--- Session Transcript ---\r\n RCPT To:<lead@example.com>\r\n 552 Message for <lead@example.com> would exceed mailbox quota\r\n";
    let c = classify(raw);
    let got: Vec<&str> = c.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(got, ["lead@example.com"]);
    assert!(!c.recipients[0].permanent);
}

#[test]
fn sendmails_expanded_from_is_the_original_recipient() {
    let raw = b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>\r\nTo: sales@ourco.example\r\n\
Subject: Returned mail: see transcript for details\r\n\r\n\
   ----- The following addresses had permanent fatal errors -----\r\nlead@mail.example.com\r\n\
    (expanded from: lead@example.com)\r\n\r\n   ----- Transcript of session follows -----\r\n\
550 5.1.1 lead@mail.example.com... User unknown\r\n";
    let c = classify(raw);
    assert_eq!(c.recipients.len(), 1, "{:?}", c.recipients);
    assert_eq!(c.recipients[0].address, "lead@mail.example.com");
    assert_eq!(c.recipients[0].original.as_deref(), Some("lead@example.com"));
}

#[test]
fn a_part_header_a_broken_multipart_left_in_the_text_is_not_the_returned_copy() {
    // The boundary of the inner multipart is on an unfolded line: its part comes as text, its
    // own Content-* header at the top. That is not the start of the returned message.
    let raw = b"From: post_master@vtext.example\r\nTo: sales@ourco.example\r\nSubject: Re:Quick question\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
Content-Type: multipart/alternative;\r\nboundary=\"X\"\r\n\r\n--X\r\nContent-Type: text/plain; charset=us-ascii\r\n\
Content-Transfer-Encoding: 7bit\r\nContent-Disposition: inline\r\n\r\nError: Invalid user address\r\n\r\n\
Error message below:\r\n550 - Requested action not taken: no such user here\r\n\r\nMessage details:\r\n\
  Subject: Quick question\r\n  RCPT TO: lead@vtext.example\r\n\r\n--X--\r\n\r\n--B--\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    let got: Vec<&str> = c.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(got, ["lead@vtext.example"]);
    assert!(c.recipients[0].permanent);
}

#[test]
fn a_user_unknown_of_the_reporting_systems_own_lookup_is_a_dead_address() {
    // Postfix's local delivery: X-Postfix, not smtp. No remote server read the message, so the
    // "unknown user" is not a filter's answer after DATA.
    let c = classify(
        dsn("Final-Recipient: rfc822; lead@example.com\r\nAction: failed\r\nStatus: 5.0.0\r\n\
Diagnostic-Code: X-Postfix; unknown user: \"lead\"\r\n")
        .as_bytes(),
    );
    assert_eq!(c.recipients[0].reason, BounceReason::Userunknown);
    assert!(c.recipients[0].permanent);
    // The same words from a remote server say the same, whether the command is untold or DATA.
    let c = classify(
        dsn("Final-Recipient: rfc822; lead@example.com\r\nAction: failed\r\nStatus: 5.0.0\r\n\
Diagnostic-Code: smtp; 550 : User unknown\r\n")
        .as_bytes(),
    );
    assert_eq!(c.recipients[0].reason, BounceReason::Userunknown);
    assert!(c.recipients[0].permanent);
    let c = classify(
        dsn("Final-Recipient: rfc822; lead@example.com\r\nAction: failed\r\nStatus: 5.0.0\r\n\
Diagnostic-Code: smtp; 550 : User unknown (in reply to end of DATA command)\r\n")
        .as_bytes(),
    );
    assert_eq!(c.recipients[0].reason, BounceReason::Userunknown);
    assert!(c.recipients[0].permanent);
}

#[test]
fn a_copy_quoted_line_by_line_still_gives_its_message_id() {
    let raw = b"From: postmaster@example.gov (Automated response from the postmaster)\r\nTo: sales@ourco.example\r\n\
Subject: FAILED MAIL to \"lead\" regarding \"Quick question\"\r\n\r\n\
The address to which your message was addressed did not exactly match an address here.\r\n\r\n\
Original message as received is as follows:\r\n=====================================\r\n\
>Return-Path: <sales@ourco.example>\r\n>Received: from mx.ourco.example by mx.example.gov; Sun, 27 May 2001 14:21:25 -0700\r\n\
>From: sales@ourco.example\r\n>Subject: Quick question\r\n>Message-ID: <send-11@ourco.example>\r\n>\r\n>Hello\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.original_message_ids, ["<send-11@ourco.example>"]);
}

#[test]
fn sendmail_dialogue_above_a_recipients_line_is_that_recipients() {
    // Old Sendmail: the session with each server ("While talking to ...", ">>>", "<<<") comes above
    // the line that gives up on the recipient; a refused MAIL FROM is the sender's trouble, not the
    // address's, whatever another server said about another recipient below it.
    let notice = "From: Mail Delivery Subsystem <MAILER-DAEMON@mx.ourco.example>\r\n\
To: sales@ourco.example\r\nSubject: Returned mail: User unknown\r\n\r\n\
   ----- Transcript of session follows -----\r\n\
While talking to mx.example.org:\r\n\
>>> MAIL From:<sales@ourco.example>\r\n\
<<< 501 <sales@ourco.example>... no access from mail server [192.0.2.55] which is an open relay.\r\n\
554 <lead@example.org>... Remote protocol error\r\n\
While talking to mx.example.edu:\r\n\
>>> RCPT To:<other@example.edu>\r\n\
<<< 550 <other@example.edu>... User unknown\r\n\
550 <other@example.edu>... User unknown\r\n\r\n\
   ----- Unsent message follows -----\r\n\
From: sales@ourco.example\r\nTo: lead@example.org\r\nSubject: Hello\r\n\r\nHi\r\n";
    let c = classify(notice.as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    let lead = c.recipients.iter().find(|r| r.address == "lead@example.org").expect("lead");
    assert!(!lead.permanent, "{c:?}");
    assert!(lead.reason.blames_sender(), "{c:?}");
    let other = c.recipients.iter().find(|r| r.address == "other@example.edu").expect("other");
    assert_eq!(other.reason, BounceReason::Userunknown);
}

#[test]
fn an_other_status_is_refined_by_the_remote_servers_code() {
    // RFC 3463: X.Y.0 is "other" within subject Y; the remote's 5.2.2 says more than 5.1.0.
    let c = classify(
        dsn("Final-Recipient: rfc822; lead@example.com\r\nAction: failed\r\nStatus: 5.1.0\r\n\
Diagnostic-Code: smtp; 552 5.2.2 <lead@example.com>... Mailbox full\r\n")
        .as_bytes(),
    );
    assert_eq!(c.recipients[0].status.as_deref(), Some("5.2.2"), "{c:?}");
    assert_eq!(c.recipients[0].reason, BounceReason::Mailboxfull);
    assert!(!c.recipients[0].permanent);
    // A specific Status stays.
    let c = classify(
        dsn("Final-Recipient: rfc822; lead@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\
Diagnostic-Code: smtp; 550 5.7.1 <lead@example.com>... User unknown\r\n")
        .as_bytes(),
    );
    assert_eq!(c.recipients[0].status.as_deref(), Some("5.1.1"), "{c:?}");
}

#[test]
fn the_address_a_sentence_says_the_message_was_addressed_to_is_the_failed_one() {
    // A postmaster's own words, then the returned copy quoted line by line: the recipient is the one
    // the sentence names, not the To of the copy (a list's address).
    let raw = b"From: postmaster@example.gov (Automated response from the postmaster)\r\n\
To: list-admin@lists.example.org\r\nSubject: FAILED MAIL to \"lead\" regarding \"News\"\r\n\r\n\
The address to which your message was addressed, lead@example.gov, did not exactly match an\r\n\
address here.\r\n\r\nOriginal message as received is as follows:\r\n=====================\r\n\
>From: sales@ourco.example\r\n>To: list@lists.example.org\r\n>Subject: News\r\n>\r\n>Hello\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    let got: Vec<&str> = c.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(got, ["lead@example.gov"], "{c:?}");
}
