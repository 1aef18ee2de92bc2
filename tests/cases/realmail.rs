//! cadenced against a company's own mail server: a real Postfix (submission
//! with STARTTLS and SASL) and a real Dovecot (IMAP with STARTTLS, delivery
//! over LMTP), with certificates from a private CA that only `tls_ca_file`
//! makes trusted. Ticks run in virtual time; mail really travels.

use std::time::Duration;

use crate::support::Project;
use crate::support::mailserver::{BLOCKED, JANE, MailServer, NO_MAILBOX, RELAY_REFUSED, SENDER, UNKNOWN};

const WAIT: Duration = Duration::from_secs(30);

const THREE: &str = r#"
[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Quick question about {{ company }}"
body = "Hi {{ first_name }}, quick question."

[[steps]]
id = "bump-1"
wait = "1d"
kind = "email"
body = "Bumping this up."

[[steps]]
id = "bump-2"
wait = "1d"
kind = "email"
body = "Last one from me."
"#;

const ONE: &str = "[[steps]]\nid = \"hello\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hello\"\nbody = \"Hi\"\n";

/// A project whose mailbox `sales` sends through `server` and watches its
/// INBOX, trusting the private CA, with `extra` lines in the mailbox table.
fn project(server: &MailServer, extra: &str) -> Project {
    let p = Project::new();
    server.create_folder(SENDER, "Sent");
    let mailbox = server.mailbox_config(p.dir.path(), Some("Sent"));
    p.write(
        "config.toml",
        &format!(
            "database = \"cadenced.db\"\ncadences = \"cadences\"\ntimezone = \"Europe/Berlin\"\n\n\
             [mailboxes.sales]\nfrom = \"Ada Sales <{SENDER}>\"\n{mailbox}{extra}\n"
        ),
    );
    p
}

fn enroll(p: &Project, email: &str, cadence: &str, at: &str) {
    p.ok(&["enroll", email, "--cadence", cadence, "--field", "first_name=J", "--field", "company=Acme", "--at", at]);
}

fn state(p: &Project, email: &str) -> String {
    p.status(email)["enrollments"][0]["state"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_three_step_cadence_lands_threaded_with_list_unsubscribe_and_a_copy_in_sent() {
    let server = MailServer::start();
    let p = project(&server, "");
    p.cadence("three", THREE);
    assert!(p.ok(&["check"]).contains("ok"), "check trusts the private CA file");
    enroll(&p, JANE, "three", "2026-03-02T09:00:00Z");
    p.run_to_end(JANE);
    let got = server.wait_for(JANE, "INBOX", 3, WAIT);
    let mut got: Vec<_> = got.into_iter().collect();
    got.sort_by_key(|m| m.header("Date").unwrap_or_default());
    let subjects: Vec<String> = got.iter().map(|m| m.header("Subject").unwrap_or_default()).collect();
    assert_eq!(
        subjects,
        ["Quick question about Acme", "Re: Quick question about Acme", "Re: Quick question about Acme"]
    );
    let ids: Vec<String> = got.iter().map(|m| m.header("Message-ID").unwrap()).collect();
    assert_eq!(got[1].header("In-Reply-To"), Some(ids[0].clone()));
    assert_eq!(got[2].header("References"), Some(format!("{} {}", ids[0], ids[1])));
    for m in &got {
        assert_eq!(m.header("MIME-Version").as_deref(), Some("1.0"));
        let unsubscribe = m.header("List-Unsubscribe").unwrap_or_default();
        assert!(unsubscribe.starts_with("<mailto:ada+unsubscribe-"), "{unsubscribe}");
        assert!(m.raw.contains("with ESMTPSA"), "authenticated submission over TLS");
    }
    let sent = server.wait_for(SENDER, "Sent", 3, WAIT);
    assert_eq!(sent.len(), 3, "a copy of each in the rep's Sent folder");
    assert!(sent.iter().all(|m| m.flags.contains('S')), "marked seen");
    assert_eq!(state(&p, JANE), "finished");
}

#[test]
fn a_reply_stops_the_lead() {
    let server = MailServer::start();
    let p = project(&server, "");
    p.cadence("three", THREE);
    enroll(&p, JANE, "three", "2026-03-02T09:00:00Z");
    p.tick("2026-03-02T09:00:00Z");
    let first = server.wait_for(JANE, "INBOX", 1, WAIT);
    let id = first[0].header("Message-ID").unwrap();
    // It reached the server at 09:40 UTC (its INTERNALDATE), written at 10:00 Berlin (its Date).
    let arrived = std::time::UNIX_EPOCH + Duration::from_secs(1_772_444_400);
    server.deliver_at(
        SENDER,
        "INBOX",
        &format!(
            "From: Jane <{JANE}>\nTo: {SENDER}\nSubject: Re: Quick question about Acme\nMessage-ID: <r1@acme.test>\n\
             In-Reply-To: {id}\nReferences: {id}\nDate: Mon, 2 Mar 2026 10:00:00 +0100\n\nSure, call me Thursday.\n"
        ),
        Some(arrived),
    );
    p.tick("2026-03-03T09:00:00Z");
    assert_eq!(state(&p, JANE), "replied");
    let inbound = &p.status(JANE)["inbound"][0];
    assert_eq!(inbound["kind"], "reply");
    assert_eq!(inbound["at"], "2026-03-02T09:40:00Z", "when it arrived (INTERNALDATE), not the tick's time");
    assert_eq!(server.messages(JANE, "INBOX").len(), 1, "no bump after the reply");
}

#[test]
fn a_postfix_bounce_of_a_dead_address_suppresses_it() {
    let server = MailServer::start();
    let p = project(&server, "");
    p.cadence("three", THREE);
    enroll(&p, NO_MAILBOX, "three", "2026-03-02T09:00:00Z");
    p.tick("2026-03-02T09:00:00Z");
    let bounce = server.wait_for(SENDER, "INBOX", 1, WAIT);
    assert!(bounce[0].delivery_status().unwrap_or_default().contains("5.1.1"));
    p.tick("2026-03-02T09:10:00Z");
    assert_eq!(state(&p, NO_MAILBOX), "bounced");
    let s = p.status(NO_MAILBOX);
    assert_eq!(s["suppressed"], "bounced");
    assert_eq!(s["inbound"][0]["kind"], "bounce");
    let err = p.fails(&["enroll", NO_MAILBOX, "--cadence", "three", "--field", "first_name=J", "--field", "company=A"]);
    assert!(err.contains("suppression list"), "{err}");
}

#[test]
fn a_550_5_1_1_at_rcpt_suppresses_the_address() {
    let server = MailServer::start();
    let p = project(&server, "");
    p.cadence("three", THREE);
    enroll(&p, UNKNOWN, "three", "2026-03-02T09:00:00Z");
    p.tick("2026-03-02T09:00:00Z");
    let s = p.status(UNKNOWN);
    assert_eq!(s["enrollments"][0]["state"], "bounced");
    assert_eq!(s["suppressed"], "bounced");
    let t = &s["enrollments"][0]["touchpoints"][0];
    assert_eq!(t["status"], "failed");
    assert!(t["detail"].as_str().unwrap_or_default().contains("5.1.1"), "{t}");
    let err = p.fails(&["enroll", UNKNOWN, "--cadence", "three", "--field", "first_name=J", "--field", "company=A"]);
    assert!(err.contains("suppression list"), "{err}");
}

#[test]
fn refusals_aimed_at_the_sender_never_blame_the_lead_and_pause_the_mailbox() {
    let server = MailServer::start();
    let p = project(&server, "pause_after_refusals = 2\n");
    p.cadence("one", ONE);
    // Instants near the real clock: the bounce report's arrival time is real.
    let t0 = chrono::Utc::now();
    let at = |minutes: i64| cadenced::time::rfc3339(t0 + chrono::Duration::minutes(minutes));
    // A 5.7.1 at RCPT (a block list), then a 5.7.1 bounce report from a relay's content filter.
    enroll(&p, BLOCKED, "one", &at(0));
    enroll(&p, RELAY_REFUSED, "one", &at(0));
    p.tick(&at(0));
    let blocked = p.status(BLOCKED);
    assert_eq!(blocked["enrollments"][0]["state"], "active", "the lead is not blamed");
    assert!(blocked["suppressed"].is_null());
    let error = blocked["enrollments"][0]["last_error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("aimed at the sender") && error.contains("5.7.1"), "{error}");
    let bounce = server.wait_for(SENDER, "INBOX", 1, WAIT);
    assert!(bounce[0].delivery_status().unwrap_or_default().contains("5.7.1"));
    p.tick(&at(2));
    let filtered = p.status(RELAY_REFUSED);
    assert!(filtered["suppressed"].is_null(), "a content filter's refusal does not suppress the lead");
    assert_eq!(filtered["inbound"][0]["kind"], "bounce");
    // Two refusals aimed at the sender: the mailbox paused itself.
    let boxes = p.json(&["mailboxes", "--json", "--at", &at(3)]);
    let sales = &boxes["mailboxes"][0];
    assert_eq!(sales["state"], "paused", "{boxes}");
    assert!(sales["reason"].as_str().unwrap_or_default().contains("2 refusals aimed at the sender"), "{sales}");
    assert_eq!(sales["refused"], 2, "the RCPT refusal and the bounce report; nothing tried once paused");
    // Nothing leaves a paused mailbox; status and due say why.
    enroll(&p, JANE, "one", &at(5));
    p.tick(&at(5));
    assert!(server.messages(JANE, "INBOX").is_empty());
    let jane = p.status(JANE);
    assert!(jane["enrollments"][0]["mailbox_paused"].as_str().unwrap_or_default().contains("mailbox sales paused"));
    let due = p.json(&["due", "--json", "--at", &at(6)]);
    assert_eq!(due["paused_mailboxes"][0]["mailbox"], "sales");
    // Resumed, it sends what it held.
    let out = p.ok(&["mailboxes", "resume", "sales", "--at", &at(10)]);
    assert!(out.contains("resumed"), "{out}");
    p.tick(&at(10));
    assert_eq!(server.wait_for(JANE, "INBOX", 1, WAIT).len(), 1);
}

#[test]
fn mail_to_a_leads_unsubscribe_address_unsubscribes_that_lead() {
    let server = MailServer::start();
    let p = project(&server, "");
    p.cadence("three", THREE);
    enroll(&p, JANE, "three", "2026-03-02T09:00:00Z");
    p.tick("2026-03-02T09:00:00Z");
    let got = server.wait_for(JANE, "INBOX", 1, WAIT);
    let header = got[0].header("List-Unsubscribe").unwrap();
    let address = header.trim_start_matches("<mailto:").split(['?', '>']).next().unwrap().to_string();
    // Jane's mail client sends the unsubscribe mail through the same server, whatever it says.
    let raw = format!(
        "From: Jane <{JANE}>\r\nTo: {address}\r\nSubject: hello\r\nMessage-ID: <u1@acme.test>\r\n\
         Date: Mon, 2 Mar 2026 11:00:00 +0100\r\n\r\nplease\r\n"
    );
    let reply = server.submit(&address, &raw);
    assert_eq!(reply.code, 250, "{reply:?}");
    server.wait_for(SENDER, "INBOX", 1, WAIT);
    p.tick("2026-03-02T10:30:00Z");
    let s = p.status(JANE);
    assert_eq!(s["enrollments"][0]["state"], "unsubscribed");
    assert_eq!(s["suppressed"], "unsubscribed");
    assert_eq!(s["inbound"][0]["kind"], "unsubscribe");
}

#[test]
fn a_lead_enrolled_after_an_old_reply_from_the_same_address_keeps_its_cadence() {
    let server = MailServer::start();
    let p = project(&server, "");
    p.cadence("three", THREE);
    // Weeks ago Jane wrote about something else; it is still in the inbox.
    let weeks_ago = std::time::SystemTime::now() - Duration::from_secs(21 * 24 * 3600);
    server.deliver_at(
        SENDER,
        "INBOX",
        &format!(
            "From: Jane <{JANE}>\nTo: {SENDER}\nSubject: lunch?\nMessage-ID: <old@acme.test>\n\nLunch next week?\n"
        ),
        Some(weeks_ago),
    );
    let now = chrono::Utc::now();
    let at = cadenced::time::rfc3339(now);
    enroll(&p, JANE, "three", &at);
    p.tick(&at);
    assert_eq!(state(&p, JANE), "active", "an old message predating the enrollment stops nothing");
    assert_eq!(server.wait_for(JANE, "INBOX", 1, WAIT).len(), 1, "the intro went out");
    let inbound = &p.status(JANE)["inbound"];
    assert!(
        inbound.as_array().is_some_and(Vec::is_empty) || inbound[0]["detail"].as_str().unwrap_or("").contains("before")
    );
}

#[test]
fn without_the_company_ca_test_send_and_status_name_the_tls_failure_and_what_to_set() {
    let server = MailServer::start();
    let p = project(&server, "");
    // The same mailbox without tls_ca_file: the private CA is unknown to this machine.
    let config = std::fs::read_to_string(p.path("config.toml")).unwrap();
    let without: String = config.lines().filter(|l| !l.starts_with("tls_ca_file")).map(|l| format!("{l}\n")).collect();
    p.write("config.toml", &without);
    let out = p.run(&["test-send", "--mailbox", "sales", JANE]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("FAIL STARTTLS") && stdout.contains("UnknownIssuer"), "{stdout}");
    assert!(stdout.contains("tls_ca_file"), "says what to set: {stdout}");
    p.cadence("one", ONE);
    enroll(&p, JANE, "one", "2026-03-02T09:00:00Z");
    p.tick("2026-03-02T09:00:00Z");
    let error = p.status(JANE)["enrollments"][0]["last_error"].as_str().unwrap_or_default().to_string();
    assert!(error.starts_with("inbox unreadable:") && error.contains("tls_ca_file"), "{error}");
    // A CA file that is not a certificate is refused by check, at its line.
    p.write("bad-ca.pem", "not a certificate\n");
    p.write("config.toml", &format!("{without}tls_ca_file = \"bad-ca.pem\"\n"));
    let err = p.fails(&["check"]);
    assert!(err.contains("tls_ca_file") && err.contains("holds no certificate"), "{err}");
}
