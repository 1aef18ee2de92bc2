//! Tests: hand-written messages for each kind, robustness, and the agreement with the reference
//! expectations of the shared bounce fixtures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;

use super::{Kind, Reason, classify};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bounces");

// ---------------------------------------------------------------------------------------------------
// Hand-written messages

#[test]
fn plain_reply_with_in_reply_to() {
    let raw = b"From: \"Jane Lead\" <Jane.Lead@Example.com>\r\n\
To: sales@ourco.example\r\n\
Subject: Re: Quick question about your pipeline\r\n\
Message-ID: <reply-1@example.com>\r\n\
In-Reply-To: <orig-1@ourco.example>\r\n\
References: <orig-0@ourco.example> <orig-1@ourco.example>\r\n\
Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n\
\r\n\
Hi, sounds interesting. Can we talk on Thursday?\r\n\
\r\n\
On Fri, Feb 27, 2026 at 9:00 AM Sales <sales@ourco.example> wrote:\r\n\
> Would you be open to a quick call? Reply unsubscribe to opt out.\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Reply);
    assert_eq!(c.from.as_deref(), Some("jane.lead@example.com"));
    assert_eq!(c.lead(), Some("jane.lead@example.com"));
    assert_eq!(c.subject.as_deref(), Some("Re: Quick question about your pipeline"));
    assert_eq!(c.message_id.as_deref(), Some("<reply-1@example.com>"));
    assert_eq!(c.in_reply_to, ["<orig-1@ourco.example>", "<orig-0@ourco.example>"]);
    assert!(c.recipients.is_empty());
    assert!(!c.list_unsubscribe_to);
}

#[test]
fn plain_message_without_threading_is_a_reply() {
    let raw = b"From: bob@example.org\nTo: sales@ourco.example\nSubject: pricing\n\nWhat does it cost?\n";
    assert_eq!(classify(raw).kind, Kind::Reply);
}

#[test]
fn german_out_of_office_with_return_date() {
    let raw = "From: Max Muster <max@example.de>\r\n\
To: sales@ourco.example\r\n\
Subject: Abwesenheitsnotiz: Ihr Angebot\r\n\
Auto-Submitted: auto-replied\r\n\
Date: Mon, 02 Mar 2026 08:00:00 +0100\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Vielen Dank für Ihre Nachricht. Ich bin bis 12.03.2026 nicht im Büro und habe keinen Zugriff auf meine E-Mails.\r\n";
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::AutoReply);
    assert_eq!(c.return_date, NaiveDate::from_ymd_opt(2026, 3, 12));
    assert_eq!(c.lead(), Some("max@example.de"));
}

#[test]
fn english_out_of_office_by_subject_only() {
    let raw = b"From: amy@example.com\r\nTo: sales@ourco.example\r\nSubject: Out of Office: Your proposal\r\n\
Date: Tue, 03 Mar 2026 08:00:00 -0500\r\n\r\nThanks for your email. I will be back on March 12, 2026 and will reply then.\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::AutoReply);
    assert_eq!(c.return_date, NaiveDate::from_ymd_opt(2026, 3, 12));
}

#[test]
fn exchange_automatic_reply_headers() {
    let raw = b"From: pat@example.com\r\nTo: sales@ourco.example\r\nSubject: Automatische Antwort: Angebot\r\n\
X-Auto-Response-Suppress: All\r\nDate: Wed, 04 Mar 2026 08:00:00 +0100\r\n\r\nIch bin ab dem 16.03. wieder erreichbar.\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::AutoReply);
    assert_eq!(c.return_date, NaiveDate::from_ymd_opt(2026, 3, 16));
}

#[test]
fn arf_report_is_a_complaint() {
    let raw = "From: <fbl@isp.example>\r\n\
To: <abuse@ourco.example>\r\n\
Subject: FW: Quick question\r\n\
Message-ID: <arf-1@isp.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"part1\"\r\n\
\r\n\
--part1\r\n\
Content-Type: text/plain; charset=\"US-ASCII\"\r\n\
\r\n\
This is an email abuse report for an email message received from IP 192.0.2.1.\r\n\
\r\n\
--part1\r\n\
Content-Type: message/feedback-report\r\n\
\r\n\
Feedback-Type: abuse\r\n\
User-Agent: SomeGenerator/1.0\r\n\
Version: 1\r\n\
Original-Mail-From: <sales@ourco.example>\r\n\
Original-Rcpt-To: <Lead@Example.net>\r\n\
Arrival-Date: Thu, 8 Mar 2026 14:00:00 EDT\r\n\
\r\n\
--part1\r\n\
Content-Type: message/rfc822\r\n\
Content-Disposition: inline\r\n\
\r\n\
From: <sales@ourco.example>\r\n\
To: <lead@example.net>\r\n\
Subject: Quick question\r\n\
Message-ID: <send-42@ourco.example>\r\n\
Date: Thu, 8 Mar 2026 13:00:00 EDT\r\n\
\r\n\
Would you be open to a call?\r\n\
--part1--\r\n";
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Complaint);
    assert_eq!(c.recipients.len(), 1);
    assert_eq!(c.recipients[0].address, "lead@example.net");
    assert!(!c.recipients[0].permanent, "a complaint does not say the address is dead");
    assert_eq!(c.recipients[0].reason, super::Reason::Undefined);
    assert_eq!(c.lead(), Some("lead@example.net"));
    assert_eq!(c.original_message_ids, ["<send-42@ourco.example>"]);
}

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
    assert_eq!(r.reason, Reason::Mailboxfull);
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
        ("5.7.1", "550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org", Reason::Blocked),
        ("5.7.1", "550 5.7.1 Message rejected as spam", Reason::Spamdetected),
        ("5.7.1", "554 5.7.1 <lead@example.com>: Relay access denied", Reason::Norelaying),
        ("5.2.2", "552 5.2.2 <lead@example.com>: Recipient address rejected: Mailbox full", Reason::Mailboxfull),
        (
            "5.7.26",
            "550 5.7.26 Unauthenticated email from ourco.example is not accepted due to domain's DMARC policy",
            Reason::Policyviolation,
        ),
        ("5.1.1", "550 5.1.1 <lead@example.com>: Recipient address rejected: User unknown", Reason::Userunknown),
        ("5.1.2", "550 5.1.2 <lead@example.com>: Recipient address rejected: Domain not found", Reason::Hostunknown),
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
fn unsubscribe_reply() {
    let raw = b"From: Lead <lead@example.com>\r\nTo: sales@ourco.example\r\nSubject: Re: Quick question\r\n\
In-Reply-To: <send-1@ourco.example>\r\n\r\nHi Sam,\r\n\r\nPlease remove me from your list.\r\n\r\nThanks\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Unsubscribe);
    assert_eq!(c.lead(), Some("lead@example.com"));

    let raw = b"From: lead@example.com\r\nTo: sales@ourco.example\r\nSubject: Unsubscribe\r\n\r\n\r\n";
    assert_eq!(classify(raw).kind, Kind::Unsubscribe);

    let raw = b"From: lead@example.com\r\nTo: sales@ourco.example\r\nSubject: AW: Angebot\r\n\r\nBitte austragen.\r\n";
    assert_eq!(classify(raw).kind, Kind::Unsubscribe);

    let raw = b"From: lead@example.com\r\nTo: sales@ourco.example\r\nSubject: Re: Quick question\r\n\r\nSTOP\r\n";
    assert_eq!(classify(raw).kind, Kind::Unsubscribe);

    let raw = b"From: lead@example.com\r\nTo: sales@ourco.example\r\nSubject: Re: Quick question\r\n\r\n\
Sounds good, but stop by our booth first!\r\n";
    assert_eq!(classify(raw).kind, Kind::Reply);

    let raw = b"From: lead@example.com\r\nTo: unsubscribe+tok123@ourco.example\r\nSubject: unsubscribe\r\n\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Unsubscribe);
    assert!(c.list_unsubscribe_to);
}

#[test]
fn reply_quoting_our_unsubscribe_footer_is_a_reply() {
    let raw = b"From: lead@example.com\r\nTo: sales@ourco.example\r\nSubject: Re: Quick question\r\n\
In-Reply-To: <send-1@ourco.example>\r\n\r\nYes, let's talk next week.\r\n\r\n\
-----Original Message-----\r\nFrom: sales@ourco.example\r\n\r\nReply \"unsubscribe\" to opt out.\r\n";
    assert_eq!(classify(raw).kind, Kind::Reply);
}

#[test]
fn newsletter_is_other() {
    let raw = b"From: News <news@vendor.example>\r\nTo: sales@ourco.example\r\nSubject: Our March newsletter\r\n\
List-Id: <news.vendor.example>\r\nList-Unsubscribe: <mailto:unsubscribe@vendor.example>\r\nPrecedence: list\r\n\
\r\nUnsubscribe | View in browser\r\nHello!\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Other);
    assert_eq!(c.lead(), None);

    // A list notification marked auto-generated is list mail, not an answer.
    let raw = b"From: Tracker <bot@tracker.example>\r\nTo: sales@ourco.example\r\nSubject: [proj] Issue #1\r\n\
List-Id: <proj.tracker.example>\r\nAuto-Submitted: auto-generated\r\n\r\nNew comment.\r\n";
    assert_eq!(classify(raw).kind, Kind::Other);
}

#[test]
fn human_forwarding_a_bounce_is_a_reply() {
    let raw =
        b"From: colleague@example.com\r\nTo: sales@ourco.example\r\nSubject: Fwd: Undeliverable: Quick question\r\n\
\r\nFYI, this one bounced:\r\n\r\nDelivery has failed to these recipients or groups:\r\nlead@example.com\r\n";
    assert_eq!(classify(raw).kind, Kind::Reply);
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
    assert_eq!(c.recipients[0].reason, Reason::Mailboxfull);
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
    assert_eq!(c.recipients[0].reason, Reason::Expired);
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
    assert_eq!(c.recipients[0].reason, Reason::Userunknown);
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
    assert_eq!(c.recipients[0].reason, Reason::Userunknown, "qmail: does not like recipient");
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
    assert_eq!(c.recipients[0].reason, Reason::Mailboxfull);
    assert_eq!(c.recipients[0].status.as_deref(), Some("4.2.2"));
}

#[test]
fn read_receipt_and_calendar_notification_are_other() {
    let mdn = b"From: lead@example.com\r\nTo: sales@ourco.example\r\nSubject: Read: Quick question\r\n\
Content-Type: multipart/report; report-type=disposition-notification; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Type: text/plain\r\n\r\nYour message was read on Monday.\r\n--b\r\n\
Content-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822;lead@example.com\r\n\
Disposition: manual-action/MDN-sent-manually; displayed\r\n--b--\r\n";
    assert_eq!(classify(mdn).kind, Kind::Other);

    let cal = b"From: Google Calendar <calendar-notification@google.com>\r\nTo: sales@ourco.example\r\n\
Subject: Notification: Call with Lead @ Tue Mar 10, 2026 10am\r\n\
Content-Type: multipart/mixed; boundary=\"c\"\r\n\r\n--c\r\nContent-Type: text/plain\r\n\r\nReminder\r\n\
--c\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--c--\r\n";
    assert_eq!(classify(cal).kind, Kind::Other);

    let no_sender = b"To: sales@ourco.example\r\nSubject: hello\r\n\r\nWho am I?\r\n";
    let c = classify(no_sender);
    assert_eq!(c.kind, Kind::Other);
    assert_eq!(c.lead(), None);
}

#[test]
fn auto_submitted_without_subject_hint() {
    let raw = b"From: lead@example.com\r\nTo: sales@ourco.example\r\nSubject: Re: Quick question\r\n\
Auto-Submitted: auto-replied (vacation)\r\nDate: Fri, 06 Mar 2026 09:00:00 +0000\r\n\r\n\
Je suis absente du bureau jusqu'au 20 mars 2026 inclus.\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::AutoReply);
    assert_eq!(c.return_date, NaiveDate::from_ymd_opt(2026, 3, 20));
    let raw = b"From: lead@example.com\r\nSubject: Re: x\r\nAuto-Submitted: no\r\n\r\nSure.\r\n";
    assert_eq!(classify(raw).kind, Kind::Reply);
}

#[test]
fn garbage_and_empty_input_do_not_panic() {
    assert_eq!(classify(b"").kind, Kind::Other);
    assert_eq!(classify(b"\r\n\r\n").kind, Kind::Other);
    assert_eq!(classify(b"\xff\xfe\x00\x01garbage\x80\x81\n\n\xc3").kind, Kind::Other);
    assert_eq!(classify(b"not a mail at all").kind, Kind::Other);
    assert_eq!(
        classify(b"Subject: \xe9\xe8\r\nContent-Type: multipart/report; boundary=x\r\n\r\n--x\r\n").kind,
        Kind::Other
    );

    // Deterministic pseudo-random bytes and truncations of real messages.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for len in [1usize, 7, 64, 300, 4096] {
        for _ in 0..50 {
            let bytes: Vec<u8> = (0..len).map(|_| (next() & 0xff) as u8).collect();
            let _ = classify(&bytes);
            let ascii: Vec<u8> = bytes
                .iter()
                .map(|b| {
                    b"From: <>@.\r\n:;-=?5.1.1 550 Content-Type: multipart/report;boundary=\"--\"\r\n"
                        [usize::from(*b) % 72]
                })
                .collect();
            let _ = classify(&ascii);
        }
    }
}

#[test]
fn malformed_mime_structure_still_classifies() {
    // A boundary inside a header of the embedded message trips a debug assertion in mail-parser; the
    // classifier then falls back to the headers and the raw body.
    let raw = "From: postmaster@example.jp\r\nSubject: Mail could not be delivered\r\n\
Content-Type: multipart/mixed; boundary=\"--B\"\r\n\r\n----B\r\nContent-type: text/plain\r\n\r\n\
Unable to deliver message to <lead@example.com>.\r\n\r\n----B\r\nContent-type: message/rfc822\r\n\r\n\
Received: from a\r\n\tby b (x----B\r\nContent-type: message/rfc822\r\n\r\nReceived: from c\r\n\
From: <sales@ourco.example>\r\nTo: <lead@example.com>\r\nSubject: Hi\r\n\r\nHi\r\n\r\n----B--\r\n";
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.lead(), Some("lead@example.com"));
}

#[test]
fn truncated_fixtures_do_not_panic() {
    let Ok(dir) = std::fs::read_dir(FIXTURES) else { return };
    for entry in dir.flatten().take(40) {
        let Ok(raw) = std::fs::read(entry.path()) else { continue };
        for cut in (0..raw.len()).step_by(raw.len() / 7 + 1) {
            let _ = classify(raw.get(..cut).unwrap_or_default());
        }
    }
}

#[test]
fn json_output() {
    let raw = b"From: a@example.com\r\nSubject: Automatic reply: x\r\n\r\nI am away.\r\n";
    let json = serde_json::to_value(classify(raw)).unwrap();
    assert_eq!(json["kind"], "auto_reply");
    assert_eq!(json["recipients"], serde_json::json!([]));
}

// ---------------------------------------------------------------------------------------------------
// Fixture agreement

#[derive(Debug, Clone, Default)]
struct Row {
    recipient: String,
    reason: String,
    softbounce: Option<i32>,
    status: String,
}

/// Expected kind for a fixture.
fn expected_kind(file: &str, rows: &[Row]) -> Kind {
    if let Some((kind, _)) = correction(file) {
        return kind;
    }
    let reason = rows.first().map(|r| r.reason.as_str()).unwrap_or("");
    match reason {
        "feedback" => Kind::Complaint,
        "vacation" => Kind::AutoReply,
        // A delivery (success) notification: not a bounce.
        "delivered" => Kind::Other,
        _ => Kind::Bounce,
    }
}

/// The 14 `none` rows of expected.tsv, checked by hand: the reference parser does not know the
/// DragonFly Mail Agent format and missed three more failure notices; two messages are from people.
/// The reasons are ours (`softbounce` 0 only for a dead address); the reference rates leave them out.
fn correction(file: &str) -> Option<(Kind, Vec<Row>)> {
    let bounce = |addr: &str, reason: &str, status: &str| {
        let dead = Reason::parse(reason).is_some_and(Reason::is_dead_address);
        Some((
            Kind::Bounce,
            vec![Row {
                recipient: addr.to_string(),
                reason: format!("corrected:{reason}"),
                softbounce: Some(if dead { 0 } else { 1 }),
                status: status.to_string(),
            }],
        ))
    };
    match file {
        "is-not-bounce-01.eml" | "is-not-bounce-02.eml" => Some((Kind::Reply, Vec::new())),
        // "554 5.7.9 Message not accepted for policy reasons".
        "lhost-dragonfly-03.eml" => bounce("pseudo-local-part@yahoo-inc.example.com", "policyviolation", "5.7.9"),
        "lhost-dragonfly-06.eml" => bounce("blocked@libsisimai.net", "blocked", "5.7.25"),
        // "550 5.2.1 ...: Recipient address rejected: User unknown" to RCPT TO: the reference reads
        // this as userunknown (as in lhost-postfix-57), whatever the local part says.
        "lhost-dragonfly-09.eml" => bounce("filtered@libsisimai.net", "userunknown", "5.2.1"),
        "lhost-dragonfly-12.eml" => bounce("mailboxfull@libsisimai.net", "mailboxfull", "5.2.2"),
        "lhost-dragonfly-15.eml" => bounce("norelaying@libsisimai.net", "norelaying", "5.7.0"),
        "lhost-dragonfly-18.eml" => bounce("policyviolation@libsisimai.net", "policyviolation", "5.7.0"),
        "lhost-dragonfly-21.eml" => bounce("suspend@libsisimai.net", "suspend", "5.7.13"),
        "lhost-dragonfly-24.eml" => bounce("userunknown@libsisimai.net", "userunknown", "5.1.1"),
        // 5.7.13: user account disabled.
        "lhost-dragonfly-27.eml" => bounce("neko-nyaan@example.org", "suspend", "5.7.13"),
        // "Could not deliver for the last 432000 seconds. Giving up." - no code.
        "lhost-dragonfly-30.eml" => bounce("neko@nyaan.jp", "expired", ""),
        // Status: 5.0.0 with "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain".
        "lhost-mimecast-02.eml" => bounce("sabatora@example.net", "norelaying", ""),
        // "reject reason: Mailbox full", no code.
        "rb-issue-368-bug.eml" => bounce("xxxx@yyyyyy.net", "mailboxfull", ""),
        _ => None,
    }
}

fn load_expected(dir: &Path) -> BTreeMap<String, Vec<Row>> {
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).expect("expected.tsv");
    let mut map: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let file = cols.first().copied().unwrap_or("").to_string();
        if file.is_empty() {
            continue;
        }
        let row = Row {
            recipient: cols.get(1).copied().unwrap_or("").to_lowercase(),
            reason: cols.get(2).copied().unwrap_or("").to_string(),
            softbounce: cols.get(3).and_then(|s| s.trim().parse().ok()),
            status: cols.get(4).copied().unwrap_or("").trim().to_string(),
        };
        let entry = map.entry(file).or_default();
        if row.recipient != "none" {
            entry.push(row);
        }
    }
    map
}

struct Rate {
    name: &'static str,
    ok: usize,
    total: usize,
}

impl Rate {
    fn new(name: &'static str) -> Rate {
        Rate { name, ok: 0, total: 0 }
    }
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.ok += usize::from(ok);
    }
    fn pct(&self) -> f64 {
        if self.total == 0 { 100.0 } else { 100.0 * self.ok as f64 / self.total as f64 }
    }
    fn print(&self) {
        println!("{:<62} {:>4}/{:<4} = {:6.2}%", self.name, self.ok, self.total, self.pct());
    }
}

/// Sisimai's own pseudo status codes (X.0.9xx) that no message contains.
fn is_pseudo_status(s: &str) -> bool {
    let mut parts = s.split('.');
    let (_, sub, detail) = (parts.next(), parts.next(), parts.next());
    sub == Some("0") && detail.is_some_and(|d| d.len() == 3 && d.starts_with('9'))
}

/// The half of the fixtures a file belongs to, by a hash of its name: the reason rules were tuned
/// looking only at the failures of half 0; half 1 was held out to measure them.
fn half(file: &str) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in file.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    usize::try_from(h % 2).unwrap_or(0)
}

/// The three agreement rates the product targets, for one set of fixtures.
struct Targets {
    rcpt: Rate,
    reason: Rate,
    dead: Rate,
}

impl Targets {
    fn new(rcpt: &'static str, reason: &'static str, dead: &'static str) -> Targets {
        Targets { rcpt: Rate::new(rcpt), reason: Rate::new(reason), dead: Rate::new(dead) }
    }
}

#[test]
fn fixture_agreement() {
    let dir = Path::new(FIXTURES);
    if !dir.join("expected.tsv").exists() {
        panic!("fixtures not found at {FIXTURES}");
    }
    let expected = load_expected(dir);
    let started = std::time::Instant::now();

    let mut kind_raw = Rate::new("(a)  kind vs expected.tsv as given (none => not bounce)");
    let mut kind = Rate::new("(a') kind, 14 `none` rows checked by hand");
    let mut complaint_rcpt = Rate::new("(b') complained-about recipient set (ARF files)");
    let mut status = Rate::new("(d)  status == expected status (non-empty), per row");
    let mut status_real = Rate::new("(d') same, excluding Sisimai pseudo codes X.0.9xx");
    let mut all = Targets::new(
        "(b)  bounced recipient set (files expected Bounce)",
        "(e)  reason == expected reason, per recipient row",
        "(c)  permanent (dead address) == (softbounce == 0), per row",
    );
    let mut halves = [
        Targets::new("     half 0 (tuned on): recipient set", "     half 0: reason", "     half 0: dead address"),
        Targets::new("     half 1 (held out): recipient set", "     half 1: reason", "     half 1: dead address"),
    ];
    let mut hand_reason = Rate::new("(e') reason of the 12 rows checked by hand");
    let mut failures: Vec<String> = Vec::new();
    let mut reason_misses: BTreeMap<String, usize> = BTreeMap::new();

    for (file, raw_rows) in &expected {
        let raw = std::fs::read(dir.join(file)).expect("fixture");
        let c = classify(&raw);
        let rows: Vec<Row> = correction(file).map(|(_, r)| r).unwrap_or_else(|| raw_rows.clone());
        let want = expected_kind(file, raw_rows);
        let h = half(file);

        let raw_want_bounce = !raw_rows.is_empty()
            && !matches!(raw_rows.first().map(|r| r.reason.as_str()), Some("feedback" | "vacation" | "delivered"));
        let raw_ok = match raw_rows.first().map(|r| r.reason.as_str()) {
            None => c.kind != Kind::Bounce,
            Some("feedback") => c.kind == Kind::Complaint,
            Some("vacation") => c.kind == Kind::AutoReply,
            _ if raw_want_bounce => c.kind == Kind::Bounce,
            _ => c.kind != Kind::Bounce,
        };
        kind_raw.add(raw_ok);
        kind.add(c.kind == want);
        if c.kind != want {
            failures.push(format!("KIND   {file}: got {:?}, want {want:?}", c.kind));
        }

        let got: BTreeSet<String> = c.recipients.iter().map(|r| r.address.to_lowercase()).collect();
        let want_set: BTreeSet<String> = rows.iter().map(|r| r.recipient.clone()).collect();
        if want == Kind::Bounce {
            let ok = got == want_set;
            all.rcpt.add(ok);
            halves[h].rcpt.add(ok);
            if !ok {
                failures.push(format!("RCPT   {file}: got {got:?}, want {want_set:?}"));
            }
        }
        if want == Kind::Complaint {
            // Sisimai reports a placeholder when the report names no recipient.
            let want_set: BTreeSet<String> = want_set.into_iter().filter(|a| !a.ends_with(".invalid")).collect();
            let ok = want_set.is_empty() || got == want_set;
            complaint_rcpt.add(ok);
            if !ok {
                failures.push(format!("CRCPT  {file}: got {got:?}, want {want_set:?}"));
            }
        }
        if want != Kind::Bounce {
            continue;
        }
        for row in &rows {
            let found = c.recipients.iter().find(|r| r.address.eq_ignore_ascii_case(&row.recipient));
            if let Some(soft) = row.softbounce.filter(|s| *s == 0 || *s == 1) {
                let ok = found.is_some_and(|r| r.permanent == (soft == 0));
                all.dead.add(ok);
                halves[h].dead.add(ok);
                if !ok {
                    failures.push(format!(
                        "DEAD   {file} {}: got {:?}, want permanent={} ({}, {})",
                        row.recipient,
                        found.map(|r| r.permanent),
                        soft == 0,
                        row.reason,
                        row.status
                    ));
                }
            }
            if let Some(hand) = row.reason.strip_prefix("corrected:") {
                let ok = found.is_some_and(|r| r.reason.as_str() == hand);
                hand_reason.add(ok);
                if !ok {
                    failures.push(format!(
                        "HAND   {file} {}: got {:?}, want {hand}",
                        row.recipient,
                        found.map(|r| r.reason)
                    ));
                }
            }
            if Reason::parse(&row.reason).is_some() {
                let ok = found.is_some_and(|r| r.reason.as_str() == row.reason);
                all.reason.add(ok);
                halves[h].reason.add(ok);
                if !ok {
                    *reason_misses.entry(row.reason.clone()).or_default() += 1;
                    failures.push(format!(
                        "REASON {file} {}: got {:?}, want {} ({})",
                        row.recipient,
                        found.map(|r| r.reason.as_str()),
                        row.reason,
                        row.status
                    ));
                }
            }
            if !row.status.is_empty() {
                let ok = found.is_some_and(|r| r.status.as_deref() == Some(row.status.as_str()));
                status.add(ok);
                if !is_pseudo_status(&row.status) {
                    status_real.add(ok);
                    if !ok {
                        failures.push(format!(
                            "STATUS {file} {}: got {:?}, want {}",
                            row.recipient,
                            found.map(|r| r.status.clone()),
                            row.status
                        ));
                    }
                }
            }
        }
    }
    let elapsed = started.elapsed();

    for f in &failures {
        println!("{f}");
    }
    println!("reasons missed (expected reason: rows): {reason_misses:?}");
    println!("classified {} fixtures in {elapsed:?}", expected.len());
    for r in [&kind_raw, &kind, &complaint_rcpt, &status, &status_real, &hand_reason] {
        r.print();
    }
    for t in [&all, &halves[0], &halves[1]] {
        for r in [&t.rcpt, &t.reason, &t.dead] {
            r.print();
        }
    }

    // The targets (recipient >= 95%, reason >= 80%, dead address or not >= 95%) on all fixtures, and
    // floors at what the classifier achieves (numbers in the comments) so that a regression fails.
    for (rate, target) in [(&all.rcpt, 95.0), (&all.reason, 80.0), (&all.dead, 95.0)] {
        assert!(rate.pct() >= target, "{}: {:.2}% < target {target}%", rate.name, rate.pct());
    }
    assert!(all.reason.pct() >= 87.5, "reason agreement {:.2}%", all.reason.pct()); // 173/197
    assert!(all.dead.pct() >= 95.5, "dead address agreement {:.2}%", all.dead.pct()); // 200/209
    // The held-out half, whose failures were never looked at: recipient 104/104, reason 87/103
    // (84.5%), dead address 100/106 (94.3%, one row short of the target).
    assert!(halves[1].rcpt.pct() >= 99.0, "held-out recipient agreement {:.2}%", halves[1].rcpt.pct());
    assert!(halves[1].reason.pct() >= 84.0, "held-out reason agreement {:.2}%", halves[1].reason.pct());
    assert!(halves[1].dead.pct() >= 94.0, "held-out dead address agreement {:.2}%", halves[1].dead.pct());
    assert!(kind.pct() >= 99.5, "kind agreement {:.2}%", kind.pct()); // 212/213
    assert!(kind_raw.pct() >= 93.5, "raw kind agreement {:.2}%", kind_raw.pct()); // 200/213
    assert!(all.rcpt.pct() >= 99.0, "recipient agreement {:.2}%", all.rcpt.pct()); // 201/203
    assert!(hand_reason.pct() >= 99.9, "reason of the rows checked by hand {:.2}%", hand_reason.pct()); // 12/12
    assert!(complaint_rcpt.pct() >= 99.9, "complaint recipient agreement {:.2}%", complaint_rcpt.pct()); // 6/6
    assert!(status_real.pct() >= 98.5, "status agreement (real codes) {:.2}%", status_real.pct()); // 151/153
    assert!(status.pct() >= 73.0, "status agreement {:.2}%", status.pct()); // 151/206
}
