//! Hand-written messages of each kind but bounces: replies, automatic replies, complaints,
//! unsubscribe requests and the messages that are none of these.

use chrono::NaiveDate;

use crate::inbound::{BounceReason, Kind, classify};

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
    assert_eq!(c.recipients[0].reason, BounceReason::Undefined);
    assert_eq!(c.lead(), Some("lead@example.net"));
    assert_eq!(c.original_message_ids, ["<send-42@ourco.example>"]);
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
fn json_output() {
    let raw = b"From: a@example.com\r\nSubject: Automatic reply: x\r\n\r\nI am away.\r\n";
    let json = serde_json::to_value(classify(raw)).unwrap();
    assert_eq!(json["kind"], "auto_reply");
    assert_eq!(json["recipients"], serde_json::json!([]));
}

#[test]
fn automatic_unsubscribe_requests_are_unsubscribes() {
    // Apple Mail's unsubscribe button.
    let raw = b"From: lead@icloud.example\r\nTo: sales@ourco.example\r\nSubject: unsubscribe\r\n\
Auto-Submitted: auto-replied\r\nX-Apple-Unsubscribe: true\r\n\r\nunsubscribe\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Unsubscribe);
    assert_eq!(c.lead(), Some("lead@icloud.example"));
    // Anything automatic sent to the unsubscribe address.
    let raw = b"From: lead@example.com\r\nTo: unsubscribe+abc@ourco.example\r\nSubject: x\r\n\
Auto-Submitted: auto-generated\r\n\r\n\r\n";
    assert_eq!(classify(raw).kind, Kind::Unsubscribe);
    // Without the header, the same automatic message is an automatic reply.
    let raw = b"From: lead@icloud.example\r\nTo: sales@ourco.example\r\nSubject: unsubscribe\r\n\
Auto-Submitted: auto-replied\r\n\r\nunsubscribe\r\n";
    assert_eq!(classify(raw).kind, Kind::AutoReply);
}

#[test]
fn failure_notices_without_the_usual_signals_are_bounces_not_replies() {
    // A mail system's notice under the "RE:" of the message it returns, opening with the failure.
    let raw = b"From: gateway@example.fr\r\nTo: list-bounces@lists.example.org\r\n\
Subject: RE: Your message awaits moderator approval : non remis (delivery failed)\r\n\r\n\
***********************************************\r\nYour message could not be delivered to\r\n\
duke@example.fr\r\n***********************************************\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.iter().map(|r| r.address.as_str()).collect::<Vec<_>>(), ["duke@example.fr"]);
    // A mail system returning a message, its notice in a language no phrase list holds.
    let raw = "From: MAILER-DAEMON@example.cn\r\nTo: list-admin@lists.example.org\r\nSubject: =?gb2312?B?08q8/reiy83Kp7Dc?=\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n\
\u{90ae}\u{4ef6}\u{65e0}\u{6cd5}\u{53d1}\u{9001}\r\n\r\n<boboman76@example.cn>:\r\n\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n\
From: list-admin@lists.example.org\r\nTo: boboman76@example.cn\r\nSubject: news\r\n\r\nHello\r\n--B--\r\n";
    let c = classify(raw.as_bytes());
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.iter().map(|r| r.address.as_str()).collect::<Vec<_>>(), ["boboman76@example.cn"]);
    // MDaemon's and E500's "Failed Recipients" section under a "Returned Mail" subject.
    let raw = b"From: E500_SMTP_Mail_Service@example.org\r\nTo: <list-bounces@example.org>\r\n\
Subject: Returned Mail - Error During Delivery\r\n\r\n------ Failed Recipients ------\r\n\r\n\
<acinsp1@example.com>: Requested action not taken: mailbox unavailable. [SMTP Error Code 550]\r\n\
-------- Returned Mail --------\r\n\r\nFrom: list-bounces@example.org\r\nTo: acinsp1@example.com\r\nSubject: x\r\n\r\nHi\r\n";
    let c = classify(raw);
    assert_eq!(c.kind, Kind::Bounce);
    assert_eq!(c.recipients.iter().map(|r| r.address.as_str()).collect::<Vec<_>>(), ["acinsp1@example.com"]);
}

#[test]
fn a_system_returning_a_copy_with_its_trace_fields_is_not_a_reply() {
    // A list server's alert that quotes our message, indented, with the fields only mail systems
    // copy: it names our Message-ID in References, yet nobody answered.
    let raw = b"From: list-admin@lists.example.org\r\nTo: list-admin@lists.example.org\r\n\
Subject: Loop Alert: Duplicated Message-ID (list)\r\nReferences: <send-3@ourco.example>\r\n\r\n\
Duplicated Message-ID in <list@lists.example.org>.\r\nOriginal mail as follows:\r\n\r\n\
   From owner-list@lists.example.org  Thu Apr 29 23:34:45 2017\r\n\
   Return-Path: <owner-list@lists.example.org>\r\n\
   Received: from mx.ourco.example (mx.ourco.example [192.0.2.1])\r\n\
   \tby lists.example.org (Postfix) with ESMTP id 2000\r\n\
   Message-ID: <send-3@ourco.example>\r\n   From: sales@ourco.example\r\n   Subject: Quick question\r\n";
    assert_eq!(classify(raw).kind, Kind::Other);
    // A person quoting the same message the way mail clients do is still a reply.
    let raw = b"From: lead@example.com\r\nTo: sales@ourco.example\r\nSubject: Re: Quick question\r\n\
In-Reply-To: <send-3@ourco.example>\r\n\r\nSounds good, call me.\r\n\r\n-----Original Message-----\r\n\
From: sales@ourco.example\r\nSent: Monday, March 2, 2026 9:00 AM\r\nTo: lead@example.com\r\nSubject: Quick question\r\n\r\nHello\r\n";
    assert_eq!(classify(raw).kind, Kind::Reply);
}
