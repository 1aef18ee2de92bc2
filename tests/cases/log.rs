//! `cadenced log`: what was sent, failed and done, newest first, with its filters.

use serde_json::Value;

use crate::support::{Fault, Project};

fn setup() -> Project {
    let p = Project::new();
    p.write(
        "config.toml",
        &format!(
            "database = \"cadenced.db\"\ncadences = \"cadences\"\ntimezone = \"Europe/Berlin\"\n\n\
             [mailboxes.sales]\nfrom = \"Ada <ada@seller.test>\"\nsmtp = \"{0}\"\n\n\
             [mailboxes.support]\nfrom = \"Bob <bob@seller.test>\"\nsmtp = \"{0}\"\n",
            p.smtp.url()
        ),
    );
    p.cadence(
        "alpha",
        "mailbox = \"sales\"\n\
         [[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hello {{ first_name }}\"\nbody = \"b\"\n\
         [[steps]]\nid = \"call\"\nwait = \"1d\"\nkind = \"call\"\nbody = \"Call {{ first_name }}\"\n\
         [[steps]]\nid = \"follow\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"Following up\"\nbody = \"b\"\n",
    );
    p.cadence(
        "beta",
        "mailbox = \"support\"\n[[steps]]\nid = \"hello\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi\"\nbody = \"b\"\n",
    );
    p.smtp.set_faults(vec![Fault::RejectRcpt {
        address_contains: "dead@".into(),
        code: 550,
        text: "5.1.1 no such user".into(),
    }]);
    p.ok(&[
        "enroll",
        "jane@acme.test",
        "--cadence",
        "alpha",
        "--field",
        "first_name=Jane",
        "--tz",
        "America/New_York",
        "--at",
        "2026-03-02T14:00:00Z",
    ]);
    p.ok(&["enroll", "bob@beta.test", "--cadence", "beta", "--at", "2026-03-02T15:00:00Z"]);
    p.ok(&["enroll", "dead@beta.test", "--cadence", "beta", "--at", "2026-03-02T15:00:00Z"]);
    p.tick("2026-03-02T14:00:00Z");
    p.tick("2026-03-02T15:00:00Z");
    p.tick("2026-03-03T14:00:00Z");
    let task = p.json(&["tasks", "--json"])["tasks"][0]["id"].as_i64().unwrap().to_string();
    p.ok(&["task", "done", &task, "--note", "spoke to Jane", "--at", "2026-03-03T16:00:00Z"]);
    p.tick("2026-03-04T16:00:00Z");
    p
}

/// (what, email, step, at) of each event.
fn events(v: &Value) -> Vec<(String, String, String, String)> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("-").to_string();
            (s("what"), s("email"), s("step"), s("at"))
        })
        .collect()
}

fn ev(what: &str, email: &str, step: &str, at: &str) -> (String, String, String, String) {
    (what.into(), email.into(), step.into(), at.into())
}

#[test]
fn log_lists_sends_failures_and_tasks_newest_first_with_filters() {
    let p = setup();
    let all = p.json(&["log", "--since", "2026-03-01", "--json"]);
    assert_eq!(all["since"], "2026-02-28T23:00:00Z", "a day starts at midnight in the config's zone");
    assert_eq!(
        events(&all),
        [
            ev("sent", "jane@acme.test", "follow", "2026-03-04T16:00:00Z"),
            ev("done", "jane@acme.test", "call", "2026-03-03T16:00:00Z"),
            ev("opened", "jane@acme.test", "call", "2026-03-03T14:00:00Z"),
            ev("failed", "dead@beta.test", "hello", "2026-03-02T15:00:00Z"),
            ev("sent", "bob@beta.test", "hello", "2026-03-02T15:00:00Z"),
            ev("sent", "jane@acme.test", "intro", "2026-03-02T14:00:00Z"),
        ]
    );
    assert_eq!(all["counts"], serde_json::json!({"sent": 3, "failed": 1, "task done": 1, "task opened": 1}));
    let failed = &all["events"][3];
    assert!(failed["detail"].as_str().unwrap().contains("5.1.1 no such user"), "{failed}");
    assert_eq!((failed["mailbox"].as_str(), failed["timezone"].as_str()), (Some("support"), Some("Europe/Berlin")));
    assert_eq!(all["events"][1]["note"], "spoke to Jane");
    assert!(all["events"][5]["message_id"].as_str().unwrap().starts_with('<'));

    // A day, or an instant.
    let since_day = events(&p.json(&["log", "--since", "2026-03-03", "--json"]));
    assert_eq!(since_day.len(), 3, "{since_day:?}");
    let since_instant = events(&p.json(&["log", "--since", "2026-03-03T15:00:00Z", "--json"]));
    assert_eq!(since_instant.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["sent", "done"]);

    // One mailbox: its emails, and the manual steps of its cadences.
    let support = events(&p.json(&["log", "--since", "2026-03-01", "--mailbox", "support", "--json"]));
    assert_eq!(support.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(), ["dead@beta.test", "bob@beta.test"]);
    let sales = events(&p.json(&["log", "--since", "2026-03-01", "--mailbox", "sales", "--json"]));
    assert_eq!(sales.len(), 4);
    assert!(sales.iter().all(|e| e.1 == "jane@acme.test"), "{sales:?}");
    let beta = events(&p.json(&["log", "--since", "2026-03-01", "--cadence", "beta", "--json"]));
    assert_eq!(beta, support);

    // For people: the lead's zone and UTC.
    let text = p.ok(&["log", "--since", "2026-03-01", "--cadence", "alpha"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "since Sun 2026-03-01 00:00 CET (23:00 UTC), newest first");
    assert!(lines[1].starts_with("Wed 2026-03-04 11:00 EST (16:00 UTC)  sent "), "{text}");
    assert!(lines[1].contains("jane@acme.test  alpha/follow  \"Following up\""), "{text}");
    assert!(text.contains("Tue 2026-03-03 11:00 EST (16:00 UTC)  task done        jane@acme.test  alpha/call (call)"));
    assert!(text.contains("note: spoke to Jane"), "{text}");
    assert_eq!(lines.last().copied(), Some("2 sent, 1 task done, 1 task opened"));

    // Unknown names are refused with what would do.
    let err = p.fails(&["log", "--mailbox", "sale"]);
    assert!(err.contains("--mailbox: unknown mailbox \"sale\" (configured: sales, support)"), "{err}");
    let err = p.fails(&["log", "--cadence", "gamma"]);
    assert!(err.contains("--cadence: unknown cadence \"gamma\" (loaded: alpha, beta)"), "{err}");
    let err = p.fails(&["log", "--since", "yesterday"]);
    assert!(err.contains("--since: invalid time \"yesterday\": expected a day (2026-11-30) or RFC 3339"), "{err}");
}

#[test]
fn log_shows_today_by_default() {
    let p = setup();
    // "Today" as of a given instant: the 3rd in Berlin.
    let third = events(&p.json(&["log", "--at", "2026-03-03T12:00:00Z", "--json"]));
    assert_eq!(
        third.iter().map(|e| e.3.as_str()).collect::<Vec<_>>(),
        ["2026-03-04T16:00:00Z", "2026-03-03T16:00:00Z", "2026-03-03T14:00:00Z"]
    );
    // Today by the real clock: only what a real-time tick just sent.
    assert_eq!(p.ok(&["log"]).lines().last(), Some("nothing happened"));
    p.ok(&["enroll", "now@beta.test", "--cadence", "beta"]);
    p.ok(&["tick"]);
    let today = events(&p.json(&["log", "--json"]));
    assert_eq!(today.len(), 1, "{today:?}");
    assert_eq!((today[0].0.as_str(), today[0].1.as_str()), ("sent", "now@beta.test"));
}
