//! Stop on reply, bounce, complaint and unsubscribe: a real Dovecot, a real
//! SMTP server, the real binary, virtual time.

use crate::support::dovecot::{Dovecot, USER};
use crate::support::{Project, repo};

const TWO_EMAILS: &str = "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hello\"\nbody = \"b\"\n\
    [[steps]]\nid = \"bump\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"Bump\"\nbody = \"b\"\n";

fn watched(sent_folder: Option<&str>) -> (Project, Dovecot) {
    let imap = Dovecot::start();
    let p = Project::new();
    p.write_config(&imap.mailbox_config(p.dir.path(), sent_folder));
    p.cadence("two", TWO_EMAILS);
    p.cadence("other", &TWO_EMAILS.replace("Hello", "Other hello"));
    (p, imap)
}

fn start(p: &Project, email: &str) -> String {
    p.lead(email).at("2026-03-02T09:00:00Z").enroll("two");
    p.tick("2026-03-02T09:00:00Z");
    let s = p.status(email);
    s["enrollments"][0]["touchpoints"][0]["message_id"].as_str().unwrap().to_string()
}

fn message(from: &str, subject: &str, headers: &str, body: &str) -> String {
    let headers = if headers.is_empty() { String::new() } else { format!("{headers}\n") };
    format!(
        "From: {from}\nTo: {USER}\nSubject: {subject}\nDate: Mon, 2 Mar 2026 12:00:00 +0000\n\
         Message-ID: <{}@acme.test>\n{headers}\n{body}\n",
        subject.len() * 7919 + body.len()
    )
}

#[test]
fn a_reply_stops_the_cadence_before_its_next_step() {
    let (p, imap) = watched(None);
    let sent = start(&p, "jane@acme.test");
    imap.deliver(
        "INBOX",
        &message(
            "Jane <jane@acme.test>",
            "Re: Hello",
            &format!("In-Reply-To: {sent}\nReferences: {sent}"),
            "Sure, let's talk.",
        ),
    );
    p.tick("2026-03-03T09:00:00Z");
    let s = p.status("jane@acme.test");
    let e = &s["enrollments"][0];
    assert_eq!(e["state"], "replied");
    let tps = e["touchpoints"].as_array().unwrap();
    let inbound = tps.iter().find(|t| t["step"] == "inbound").expect("inbound touchpoint");
    assert_eq!(inbound["kind"], "reply");
    assert_eq!(inbound["subject"], "Re: Hello");
    assert_eq!(inbound["status"], "received");
    assert_eq!(p.smtp.messages().len(), 1, "no follow-up after the reply");
    // The user's mail is left where it was, unread.
    let files = imap.files("INBOX");
    assert_eq!(files.len(), 1);
    assert!(!files[0].1.contains('S'), "not marked seen: {:?}", files[0].1);
    let human = p.ok(&["status", "jane@acme.test"]);
    assert!(human.contains("received reply \"Re: Hello\""), "{human}");
}

#[test]
fn a_reply_is_matched_by_the_senders_address_too_and_handled_once_across_restarts() {
    let (p, imap) = watched(None);
    start(&p, "jane@acme.test");
    imap.deliver("INBOX", &message("jane@ACME.test", "Question", "", "What does it cost?"));
    p.tick("2026-03-03T09:00:00Z");
    assert_eq!(p.status("jane@acme.test")["enrollments"][0]["state"], "replied");
    // Later ticks (new processes) do not handle the same message again.
    p.tick("2026-03-04T09:00:00Z");
    p.tick("2026-03-05T09:00:00Z");
    assert_eq!(p.db().inbound_messages(), 1);
    assert_eq!(p.db().imap_last_uids("INBOX"), [1]);
}

#[test]
fn an_auto_reply_pauses_until_the_return_date_then_the_cadence_goes_on() {
    let (p, imap) = watched(None);
    start(&p, "jane@acme.test");
    imap.deliver(
        "INBOX",
        &message(
            "jane@acme.test",
            "Automatic reply: Hello",
            "Auto-Submitted: auto-replied",
            "I am out of the office and will be back on March 12, 2026.",
        ),
    );
    p.tick("2026-03-03T09:00:00Z");
    let s = p.status("jane@acme.test");
    let e = &s["enrollments"][0];
    assert_eq!(e["state"], "paused");
    assert!(e["last_error"].as_str().unwrap().contains("out of office until 2026-03-11T23:00:00Z"), "{e}");
    assert_eq!(p.smtp.messages().len(), 1);
    p.tick("2026-03-11T22:00:00Z");
    assert_eq!(p.smtp.messages().len(), 1, "still away");
    p.tick("2026-03-12T09:00:00Z");
    assert_eq!(p.status("jane@acme.test")["enrollments"][0]["state"], "finished");
    assert_eq!(p.smtp.messages().len(), 2, "the bump went out once the lead was back");
}

fn dsn(original_message_id: &str, recipient: &str, status: &str, action: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.test>\nTo: {USER}\nSubject: Undelivered Mail Returned to Sender\n\
         Date: Mon, 2 Mar 2026 12:00:00 +0000\nMessage-ID: <dsn-{status}-{}@mx.acme.test>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\n\
         --b1\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n\
         --b1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.acme.test\n\n\
         Final-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n\
         Diagnostic-Code: smtp; {} mailbox unavailable\n\n\
         --b1\nContent-Type: text/rfc822-headers\n\nFrom: ada@seller.test\nTo: {recipient}\nSubject: Hello\n\
         Message-ID: {original_message_id}\n\n--b1--\n",
        original_message_id.len() + status.len(),
        if status.starts_with('5') { "550" } else { "450" }
    )
}

#[test]
fn a_permanent_bounce_ends_every_cadence_and_suppresses_the_address() {
    let (p, imap) = watched(None);
    let sent = start(&p, "jane@acme.test");
    p.lead("jane@acme.test").at("2026-03-02T10:00:00Z").enroll("other");
    imap.deliver("INBOX", &dsn(&sent, "jane@acme.test", "5.1.1", "failed"));
    p.tick("2026-03-03T09:00:00Z");
    let s = p.status("jane@acme.test");
    for e in s["enrollments"].as_array().unwrap() {
        assert_eq!(e["state"], "bounced", "{e}");
    }
    assert_eq!(s["suppressed"], "bounced");
    assert_eq!(p.smtp.messages().len(), 1);
    p.cadence("third", TWO_EMAILS);
    let err = p.lead("jane@acme.test").enroll_fails("third");
    assert!(err.contains("suppression list (bounced)"), "{err}");
}

#[test]
fn three_temporary_bounces_count_as_permanent() {
    let (p, imap) = watched(None);
    let sent = start(&p, "jane@acme.test");
    imap.deliver("INBOX", &dsn(&sent, "jane@acme.test", "4.2.2", "delayed"));
    p.tick("2026-03-02T12:00:00Z");
    assert_eq!(
        p.status("jane@acme.test")["enrollments"][0]["state"],
        "active",
        "one temporary bounce is recorded only"
    );
    imap.deliver("INBOX", &dsn(&sent, "jane@acme.test", "4.2.1", "delayed"));
    p.tick("2026-03-02T13:00:00Z");
    assert_eq!(p.status("jane@acme.test")["enrollments"][0]["state"], "active");
    imap.deliver("INBOX", &dsn(&sent, "jane@acme.test", "4.2.0", "delayed"));
    p.tick("2026-03-02T14:00:00Z");
    assert_eq!(p.status("jane@acme.test")["enrollments"][0]["state"], "bounced");
}

#[test]
fn an_unsubscribe_request_or_a_complaint_unsubscribes_everywhere() {
    let (p, imap) = watched(None);
    let sent = start(&p, "jane@acme.test");
    p.lead("jane@acme.test").at("2026-03-02T10:00:00Z").enroll("other");
    imap.deliver(
        "INBOX",
        &message("jane@acme.test", "Re: Hello", &format!("In-Reply-To: {sent}"), "Please remove me from your list."),
    );
    p.tick("2026-03-03T09:00:00Z");
    let s = p.status("jane@acme.test");
    for e in s["enrollments"].as_array().unwrap() {
        assert_eq!(e["state"], "unsubscribed", "{e}");
    }
    assert_eq!(s["suppressed"], "unsubscribed");
    // A complaint (ARF) from a feedback loop does the same for another lead.
    let sent_bob = {
        p.lead("bob@acme.test").at("2026-03-03T09:00:00Z").enroll("two");
        p.tick("2026-03-03T09:00:00Z");
        p.status("bob@acme.test")["enrollments"][0]["touchpoints"][0]["message_id"].as_str().unwrap().to_string()
    };
    let arf = format!(
        "From: fbl@isp.test\nTo: {USER}\nSubject: Complaint\nDate: Tue, 3 Mar 2026 12:00:00 +0000\nMessage-ID: <arf-1@isp.test>\n\
         MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"f\"\n\n\
         --f\nContent-Type: text/plain\n\nThis is an abuse report.\n\n\
         --f\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: test/1.0\nVersion: 1\n\
         Original-Rcpt-To: bob@acme.test\n\n\
         --f\nContent-Type: message/rfc822\n\nFrom: ada@seller.test\nTo: bob@acme.test\nSubject: Hello\nMessage-ID: {sent_bob}\n\nb\n--f--\n"
    );
    imap.deliver("INBOX", &arf);
    p.tick("2026-03-04T09:00:00Z");
    assert_eq!(p.status("bob@acme.test")["enrollments"][0]["state"], "unsubscribed");
}

#[test]
fn each_sent_email_is_also_in_the_sent_folder() {
    let imap = Dovecot::start();
    let p = Project::new();
    // The Sent folder exists in the user's mailbox.
    imap.deliver("Sent", &message("ada@seller.test", "old", "", "an older sent message"));
    p.write_config(&imap.mailbox_config(p.dir.path(), Some("Sent")));
    p.cadence("two", TWO_EMAILS);
    let sent = start(&p, "jane@acme.test");
    let files = imap.files("Sent");
    assert!(
        files.iter().any(|(text, flags)| text.contains(&format!("Message-ID: {sent}")) && flags.contains('S')),
        "{files:?}"
    );
}

#[test]
fn an_interrupted_send_found_in_the_sent_folder_is_settled_as_sent() {
    let imap = Dovecot::start();
    let p = Project::new();
    imap.deliver("Sent", &message("ada@seller.test", "old", "", "older"));
    p.write_config(&imap.mailbox_config(p.dir.path(), Some("Sent")));
    p.cadence("two", TWO_EMAILS);
    p.lead("jane@acme.test").at("2026-03-02T09:00:00Z").enroll("two");
    // A process sent and filed the email, then died before recording it.
    p.db().leave_send_in_flight("intro", "2026-03-02T09:00:00Z", "<lost.1@seller.test>", Some("sales"));
    imap.deliver(
        "Sent",
        &message("ada@seller.test", "Hello", "", "b")
            .replace("Message-ID: <", "X-Old-Id: <")
            .replace("Subject: Hello", "Subject: Hello\nMessage-ID: <lost.1@seller.test>"),
    );
    p.tick("2026-03-02T09:00:30Z");
    let t = p.timeline("jane@acme.test");
    assert_eq!((t[0].0.as_str(), t[0].1.as_str()), ("intro", "sent"), "{t:?}");
    assert!(p.smtp.messages().is_empty(), "not sent again");
}

#[test]
fn with_the_inbox_unreadable_no_email_leaves() {
    let p = Project::new();
    let imap = Dovecot::start();
    let config = imap.mailbox_config(p.dir.path(), None);
    drop(imap);
    p.write_config(&config);
    p.cadence("two", TWO_EMAILS);
    p.lead("jane@acme.test").at("2026-03-02T09:00:00Z").enroll("two");
    p.tick("2026-03-02T09:00:00Z");
    assert!(p.smtp.messages().is_empty(), "a reply might be waiting unread");
    let e = &p.status("jane@acme.test")["enrollments"][0];
    assert_eq!(e["state"], "active");
    // Issue 13: the cause, not only that it failed.
    let error = e["last_error"].as_str().unwrap();
    assert!(error.starts_with("inbox unreadable: IMAP 127.0.0.1:") && error.contains("connect"), "{error}");
}

#[test]
fn classify_reads_the_fixture_kinds() {
    let dir = repo().join("tests/fixtures/bounces");
    let files: Vec<String> =
        ["arf-01.eml", "is-not-bounce-01.eml"].iter().map(|f| dir.join(f).display().to_string()).collect();
    let p = Project::new();
    let mut args = vec!["classify", "--json"];
    args.extend(files.iter().map(String::as_str));
    let v = p.json(&args);
    assert_eq!(v[0]["kind"], "complaint");
    assert_eq!(v[0]["recipients"][0]["permanent"], false, "a complaint does not say the address is dead");
    assert_eq!(v[0]["recipients"][0]["reason"], "undefined");
    assert_eq!(v[1]["kind"], "reply");
    assert!(v[0]["lead"].is_string());
}

#[test]
fn the_daemon_hears_a_reply_through_imap_idle() {
    let imap = Dovecot::start();
    let p = Project::new();
    // Inboxes are otherwise read only once an hour here: only IDLE can bring the reply in.
    p.write_config(&imap.mailbox_config(p.dir.path(), None));
    let config = std::fs::read_to_string(p.path("config.toml")).unwrap();
    p.write("config.toml", &format!("inbox_max_age = \"1h\"\n{config}"));
    p.cadence("two", &TWO_EMAILS.replace("wait = \"1d\"", "wait = \"1h\""));
    p.lead("jane@acme.test").enroll("two");
    let mut child = p.spawn_daemon(&[]);
    let sent = p.smtp.wait_for(1, std::time::Duration::from_secs(30));
    assert_eq!(sent.len(), 1);
    imap.deliver(
        "INBOX",
        &message(
            "jane@acme.test",
            "Re: Hello",
            &format!("In-Reply-To: {}", sent[0].message_id().unwrap()),
            "Yes please.",
        ),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut state = String::new();
    while std::time::Instant::now() < deadline {
        state = p.status("jane@acme.test")["enrollments"][0]["state"].as_str().unwrap().to_string();
        if state == "replied" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    crate::support::signal(child.id(), "TERM");
    assert!(child.wait().unwrap().success());
    assert_eq!(state, "replied");
}

#[test]
fn the_daemon_stops_watching_an_inbox_without_idle() {
    use std::io::BufRead;
    let imap = Dovecot::start_with("imap_capability = IMAP4rev1");
    let p = Project::new();
    p.write_config(&imap.mailbox_config(p.dir.path(), None));
    let mut child = p.spawn_daemon(&[]);
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut log = Vec::new();
    while !log.iter().any(|l: &String| l.contains("inbox has no IMAP IDLE: read at every tick instead")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => panic!("no 'inbox has no IMAP IDLE' line: {log:#?}"),
        }
    }
    crate::support::signal(child.id(), "TERM");
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    log.extend(rx.try_iter());
    assert!(!log.iter().any(|l| l.contains("inbox watcher")), "no retries of a server without IDLE: {log:#?}");
}
