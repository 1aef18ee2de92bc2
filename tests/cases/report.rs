//! `cadenced report`: a scenario whose outcomes are known, played through a
//! real SMTP server and a real Dovecot in virtual time (replies to chosen
//! steps, one matched by address only, a bounce, an unsubscribe, an
//! auto-reply, a task done and one skipped), then its numbers.

use serde_json::Value;

use crate::support::Project;
use crate::support::dovecot::{Dovecot, USER};

const CADENCE: &str = "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hello\"\nbody = \"b\"\n\
    [[steps]]\nid = \"bump\"\nwait = \"1d\"\nkind = \"email\"\nbody = \"Just bumping this.\"\n\
    [[steps]]\nid = \"call-1\"\nwait = \"1d\"\nkind = \"call\"\nbody = \"Call them\"\n\
    [[steps]]\nid = \"breakup\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"Last one\"\nbody = \"b\"\n";

const LEADS: [&str; 8] = ["a", "b", "c", "d", "e", "f", "g", "h"];

fn email(lead: &str) -> String {
    format!("{lead}@acme.test")
}

/// The Message-ID of `lead`'s email of `step`.
fn message_id(p: &Project, lead: &str, step: &str) -> String {
    let s = p.status(&email(lead));
    let t = s["enrollments"][0]["touchpoints"].as_array().unwrap().iter().find(|t| t["step"] == step).cloned();
    t.and_then(|t| t["message_id"].as_str().map(str::to_string)).unwrap_or_else(|| panic!("{lead} has no {step}: {s}"))
}

fn mail(from: &str, to: &str, subject: &str, headers: &str, body: &str, n: u32) -> String {
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nDate: Mon, 2 Mar 2026 12:00:00 +0000\nMessage-ID: <m{n}@acme.test>\n\
         {headers}\n{body}\n"
    )
}

fn dsn(original: &str, recipient: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.test>\nTo: {USER}\nSubject: Undelivered Mail Returned to Sender\n\
         Date: Mon, 2 Mar 2026 12:00:00 +0000\nMessage-ID: <dsn1@mx.acme.test>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\n\n\
         --b1\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n\
         --b1\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.acme.test\n\n\
         Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: user unknown\n\n\
         --b1\nContent-Type: text/rfc822-headers\n\nFrom: ada@seller.test\nTo: {recipient}\nSubject: Hello\n\
         Message-ID: {original}\n\n--b1--\n"
    )
}

fn task_id(p: &Project, lead: &str) -> String {
    let tasks = p.json(&["tasks", "--json"]);
    let task = tasks["tasks"].as_array().unwrap().iter().find(|t| t["email"] == email(lead)).cloned();
    task.map(|t| t["id"].to_string()).unwrap_or_else(|| panic!("no task for {lead}: {tasks}"))
}

/// Plays the scenario; returns the project (its Dovecot stays up while it lives).
fn scenario() -> (Project, Dovecot) {
    let imap = Dovecot::start();
    let p = Project::new();
    p.write_config(&imap.mailbox_config(p.dir.path(), None));
    p.cadence("seq", CADENCE);
    for lead in LEADS {
        p.ok(&["enroll", &email(lead), "--cadence", "seq", "--at", "2026-03-02T09:00:00Z"]);
    }
    p.tick("2026-03-02T09:00:00Z");
    assert_eq!(p.smtp.messages().len(), 8, "every intro left");
    // a answers the intro; d's intro bounces (dead address); e unsubscribes through the
    // address its email's List-Unsubscribe named; h is out of office.
    let intro_a = message_id(&p, "a", "intro");
    imap.deliver(
        "INBOX",
        &mail("a@acme.test", USER, "Re: Hello", &format!("In-Reply-To: {intro_a}\nReferences: {intro_a}"), "Yes!", 1),
    );
    imap.deliver("INBOX", &dsn(&message_id(&p, "d", "intro"), "d@acme.test"));
    let to_e = p.smtp.messages().into_iter().find(|m| m.rcpt_to.iter().any(|t| t == "e@acme.test")).unwrap();
    let list = to_e.header("List-Unsubscribe").unwrap();
    let unsubscribe = list.split("mailto:").nth(1).unwrap().split(['?', '>']).next().unwrap().to_string();
    imap.deliver("INBOX", &mail("e@acme.test", &unsubscribe, "unsubscribe", "", "unsubscribe", 2));
    imap.deliver(
        "INBOX",
        &mail(
            "h@acme.test",
            USER,
            "Automatic reply: Hello",
            "Auto-Submitted: auto-replied",
            "I am out of the office.",
            3,
        ),
    );
    p.tick("2026-03-02T12:00:00Z");
    p.ok(&["stop", "h@acme.test"]);
    // The bump goes to b, c, f and g; b answers it, c writes without a reference.
    p.tick("2026-03-03T09:00:00Z");
    let bump_b = message_id(&p, "b", "bump");
    imap.deliver(
        "INBOX",
        &mail("b@acme.test", USER, "Re: Hello", &format!("In-Reply-To: {bump_b}\nReferences: {bump_b}"), "Call me", 4),
    );
    imap.deliver("INBOX", &mail("c@acme.test", USER, "A question", "", "What does it cost?", 5));
    p.tick("2026-03-03T15:00:00Z");
    // f and g reach the call: f's is done, g's skipped; both get the breakup.
    p.tick("2026-03-04T09:00:00Z");
    p.ok(&["task", "done", &task_id(&p, "f"), "--at", "2026-03-04T10:00:00Z"]);
    p.ok(&["task", "skip", &task_id(&p, "g"), "--at", "2026-03-04T10:00:00Z"]);
    p.tick("2026-03-05T10:00:00Z");
    (p, imap)
}

fn step<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["cadences"][0]["steps"].as_array().unwrap().iter().find(|s| s["step"] == id).unwrap()
}

fn numbers(step: &Value, keys: &[&str]) -> Vec<u64> {
    keys.iter().map(|k| step[*k].as_u64().unwrap_or_else(|| panic!("{k} in {step}"))).collect()
}

#[test]
fn each_step_gets_its_own_replies_bounces_and_unsubscribes() {
    let (p, _imap) = scenario();
    let r = p.json(&["report", "--json", "--until", "2026-03-10"]);
    assert_eq!(r["since"], Value::Null);
    assert_eq!(r["until"], "2026-03-09T23:00:00Z", "the start of that day in the config's zone");
    let c = &r["cadences"][0];
    assert_eq!(c["cadence"], "seq");
    assert_eq!(c["enrolled"], 8);
    let states = &c["states"];
    assert_eq!(
        numbers(states, &["replied", "bounced", "unsubscribed", "stopped", "finished", "active", "paused"]),
        [3, 1, 1, 1, 2, 0, 0],
        "{states}"
    );
    let ids: Vec<&str> = c["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(ids, ["intro", "bump", "call-1", "breakup"]);
    let keys = ["reached", "sent", "done", "skipped", "failed", "bounced", "replied", "unsubscribed", "auto_replies"];
    assert_eq!(numbers(step(&r, "intro"), &keys), [8, 8, 0, 0, 0, 1, 1, 1, 1]);
    assert_eq!(numbers(step(&r, "intro"), &["bounced_dead", "bounced_sender"]), [1, 0]);
    assert_eq!(step(&r, "intro")["reply_rate"], 0.125);
    assert_eq!(numbers(step(&r, "bump"), &keys), [4, 4, 0, 0, 0, 0, 2, 0, 0], "b by its In-Reply-To, c by address");
    assert_eq!(step(&r, "bump")["reply_rate"], 0.5);
    assert_eq!(numbers(step(&r, "call-1"), &keys), [2, 0, 1, 1, 0, 0, 0, 0, 0]);
    assert_eq!(step(&r, "call-1")["kind"], "call");
    assert_eq!(numbers(step(&r, "breakup"), &keys), [2, 2, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(step(&r, "breakup")["median_hours_to_reply"], Value::Null);
    // The median time to reply: from each answered email to its reply's arrival, as `status` shows them
    // (a arrived at the intro, b and c after the bump; the arrival is the inbox's own time).
    let hours_to_reply = |lead: &str, step: &str| {
        let s = p.status(&email(lead));
        let at = |t: &Value| chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap()).unwrap().timestamp();
        let sent = s["enrollments"][0]["touchpoints"].as_array().unwrap().iter().find(|t| t["step"] == step).unwrap();
        let reply = s["inbound"].as_array().unwrap().iter().find(|i| i["kind"] == "reply").unwrap();
        (at(&reply["at"]) - at(&sent["at"])) as f64 / 3600.0
    };
    let close = |got: &Value, want: f64| (got.as_f64().unwrap() - want).abs() < 0.01;
    let intro = hours_to_reply("a", "intro");
    assert!(close(&step(&r, "intro")["median_hours_to_reply"], intro), "{r}");
    let bump = (hours_to_reply("b", "bump") + hours_to_reply("c", "bump")) / 2.0;
    assert!(close(&step(&r, "bump")["median_hours_to_reply"], bump), "{r}");
    let mailbox = &r["mailboxes"][0];
    assert_eq!(mailbox["mailbox"], "sales");
    assert_eq!(numbers(mailbox, &["sent", "bounced", "complaints"]), [14, 1, 0]);
    assert_eq!(mailbox["bounce_rate"], 0.0714);

    // The table shows the same numbers, a line per step.
    let text = p.ok(&["report"]);
    let intro = text.lines().find(|l| l.trim_start().starts_with("intro")).unwrap();
    let cells: Vec<&str> = intro.split_whitespace().collect();
    assert_eq!(&cells[..4], ["intro", "email", "8", "8"], "{text}");
    assert!(intro.contains("12.5%"), "{text}");
    assert!(text.contains("seq: 8 enrolled"), "{text}");
}

#[test]
fn a_period_counts_the_touchpoints_it_holds() {
    let (p, _imap) = scenario();
    // Berlin's 3 March: the bump day.
    let r = p.json(&["report", "--json", "--since", "2026-03-03", "--until", "2026-03-04"]);
    assert_eq!(r["since"], "2026-03-02T23:00:00Z");
    let keys = ["reached", "sent", "replied", "bounced"];
    assert_eq!(numbers(step(&r, "intro"), &keys), [0, 0, 0, 0]);
    assert_eq!(numbers(step(&r, "bump"), &keys), [4, 4, 2, 0]);
    assert_eq!(numbers(&r["mailboxes"][0], &["sent", "bounced"]), [4, 0]);
    // An instant inside a quarter hour widens to it; --cadence names one.
    let r = p.json(&[
        "report",
        "--json",
        "--cadence",
        "seq",
        "--since",
        "2026-03-02T08:59:00Z",
        "--until",
        "2026-03-02T09:01:00Z",
    ]);
    assert_eq!(
        (r["since"].as_str(), r["until"].as_str()),
        (Some("2026-03-02T08:45:00Z"), Some("2026-03-02T09:15:00Z"))
    );
    assert_eq!(numbers(step(&r, "intro"), &keys), [8, 8, 1, 1]);
    let err = p.fails(&["report", "--since", "yesterday"]);
    assert!(err.contains("--since: invalid date \"yesterday\"") && err.contains("YYYY-MM-DD"), "{err}");
    let err = p.fails(&["report", "--cadence", "nope"]);
    assert!(err.contains("unknown cadence \"nope\""), "{err}");
}
