//! An edit to a live cadence, reviewed before it takes effect: `check --plan`
//! says what loading it does to the leads in flight, and the ticks (or the
//! daemon's reload) then do exactly that.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Project, signal};

fn step(id: &str, wait: &str, subject: Option<&str>) -> String {
    let subject = subject.map(|s| format!("subject = \"{s}\"\n")).unwrap_or_default();
    format!(
        "[[steps]]\nid = \"{id}\"\nwait = \"{wait}\"\nkind = \"email\"\n{subject}body = \"{id} for {{{{ first_name }}}}\"\n"
    )
}

const WINDOW: &str = "window = \"0 * 9-16 * * Mon-Fri\"\n";

/// intro, check-in-2 (a reply in the thread), bump-1, final.
fn version_one() -> String {
    [
        WINDOW.to_string(),
        step("intro", "0d", Some("Hello {{ first_name }}")),
        step("check-in-2", "2bd", None),
        step("bump-1", "2bd", Some("One more thing")),
        step("final", "1bd", Some("Last")),
    ]
    .concat()
}

/// check-in-2 removed, bump-1 waits 3bd instead of 2bd, extra added after it.
fn version_two() -> String {
    [
        WINDOW.to_string(),
        step("intro", "0d", Some("Hello {{ first_name }}")),
        step("bump-1", "3bd", Some("One more thing")),
        step("extra", "1d", Some("Extra")),
        step("final", "1bd", Some("Last")),
    ]
    .concat()
}

fn enroll(p: &Project, email: &str, at: &str) {
    p.ok(&["enroll", email, "--cadence", "nurture", "--field", "first_name=Lee", "--at", at]);
}

fn next(p: &Project, email: &str) -> (String, String) {
    let s = p.status(email);
    let e = &s["enrollments"][0];
    (e["next_step"].as_str().unwrap_or("-").to_string(), e["next_due_at"].as_str().unwrap_or("-").to_string())
}

fn change<'a>(plan: &'a Value, kind: &str) -> &'a Value {
    plan["cadences"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["change"] == kind)
        .unwrap_or_else(|| panic!("no {kind} change in {plan:#}"))
}

#[test]
fn check_plan_predicts_exactly_what_the_ticks_then_do() {
    let p = Project::new();
    p.cadence("nurture", &version_one());
    // Leads in Berlin (the config's zone), in the window 09:00-16:59 local.
    enroll(&p, "l1@acme.test", "2026-03-02T09:00:00Z");
    enroll(&p, "l2@acme.test", "2026-03-02T09:00:00Z");
    enroll(&p, "l3@acme.test", "2026-03-03T09:00:00Z");
    enroll(&p, "l4@acme.test", "2026-03-04T09:00:00Z");
    for at in ["2026-03-02T09:00:00Z", "2026-03-03T09:00:00Z", "2026-03-04T09:00:00Z", "2026-03-05T09:00:00Z"] {
        p.tick(at);
    }
    enroll(&p, "l5@acme.test", "2026-03-05T09:30:00Z");
    assert_eq!(next(&p, "l1@acme.test"), ("bump-1".into(), "2026-03-06T09:00:00Z".into()));
    assert_eq!(next(&p, "l3@acme.test"), ("bump-1".into(), "2026-03-09T09:00:00Z".into()));
    assert_eq!(next(&p, "l4@acme.test"), ("check-in-2".into(), "2026-03-06T09:00:00Z".into()));
    assert_eq!(next(&p, "l5@acme.test"), ("intro".into(), "2026-03-05T09:30:00Z".into()));

    p.cadence("nurture", &version_two());
    let now = "2026-03-05T10:00:00Z";
    let text = p.ok(&["check", "--plan", "--at", now]);
    let lines = [
        "nurture: check-in-2 removed → 1 lead goes on at bump-1",
        "nurture: bump-1 wait 2bd → 3bd: 3 leads' next email one business day later; 1 lead reaches it later",
        "nurture: extra added after bump-1: 5 leads in flight will get it, 0 past it",
    ];
    for line in lines {
        assert!(text.contains(&format!("  {line}\n")), "missing {line:?} in:\n{text}");
    }
    let plan = p.json(&["check", "--plan", "--json", "--at", now])["plan"].clone();
    assert_eq!(plan["summary"], serde_json::json!(lines));
    let c = &plan["cadences"][0];
    assert_eq!(c["in_flight"], 5);
    assert_eq!(c["recorded_at"], "2026-03-02T09:00:00Z", "the version the first tick loaded");
    let removed = change(&plan, "removed");
    assert_eq!((removed["step"].as_str(), removed["leads"].as_u64()), (Some("check-in-2"), Some(1)));
    assert_eq!(removed["go_on_at"], serde_json::json!({"bump-1": 1}));
    let wait = change(&plan, "wait");
    assert_eq!((wait["from"].as_str(), wait["to"].as_str()), (Some("2bd"), Some("3bd")));
    assert_eq!((wait["leads"].as_u64(), wait["later"].as_u64(), wait["earlier"].as_u64()), (Some(3), Some(3), Some(0)));
    assert_eq!((wait["business_days"].as_i64(), wait["ahead"].as_u64()), (Some(1), Some(1)));
    // Friday -> Monday is one business day and three days.
    assert_eq!((wait["min_shift_seconds"].as_i64(), wait["max_shift_seconds"].as_i64()), (Some(86_400), Some(259_200)));
    let added = change(&plan, "added");
    assert_eq!(
        (added["after"].as_str(), added["ahead"].as_u64(), added["past"].as_u64()),
        (Some("bump-1"), Some(5), Some(0))
    );
    let predicted: BTreeMap<String, (String, String, String)> = c["leads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let s = |k: &str| l[k].as_str().unwrap_or("-").to_string();
            (s("email"), (s("cause"), s("new_step"), s("new_due_at")))
        })
        .collect();
    let want = |cause: &str, due: &str| (cause.to_string(), "bump-1".to_string(), due.to_string());
    assert_eq!(predicted["l1@acme.test"], want("replanned", "2026-03-09T09:00:00Z"), "Friday + 1bd: Monday");
    assert_eq!(predicted["l2@acme.test"], want("replanned", "2026-03-09T09:00:00Z"));
    assert_eq!(predicted["l3@acme.test"], want("replanned", "2026-03-10T09:00:00Z"));
    // Skipped at check-in-2's due time (Friday 10:00), then bump-1's new 3bd from there.
    assert_eq!(predicted["l4@acme.test"], want("removed", "2026-03-11T09:00:00Z"));
    assert!(!predicted.contains_key("l5@acme.test"), "l5's plan does not change: {predicted:?}");
    assert_eq!(p.db().cadence_versions(), 1, "check writes nothing");

    // The next tick loads the edit: the re-planned leads have their new times at once.
    let out = p.tick(now);
    for line in lines {
        assert!(out.contains(&format!("cadence edit loaded: {line}\n")), "{out}");
    }
    for email in ["l1@acme.test", "l2@acme.test", "l3@acme.test"] {
        let (_, step, due) = &predicted[email];
        assert_eq!(next(&p, email), (step.clone(), due.clone()), "{email}");
    }
    // l4 is skipped on when check-in-2 falls due, exactly as predicted.
    assert_eq!(next(&p, "l4@acme.test"), ("check-in-2".into(), "2026-03-06T09:00:00Z".into()));
    p.tick("2026-03-06T09:00:00Z");
    let (_, step, due) = &predicted["l4@acme.test"];
    assert_eq!(next(&p, "l4@acme.test"), (step.clone(), due.clone()));
    let t = p.timeline("l4@acme.test");
    assert_eq!(
        (t[1].0.as_str(), t[1].1.as_str(), t[1].2.as_str(), t[1].3.as_deref()),
        ("check-in-2", "skipped", "2026-03-06T09:00:00Z", Some("removed"))
    );
    // Loaded: nothing is left to plan, and a second tick loads nothing again.
    let again = p.ok(&["check", "--plan", "--at", "2026-03-06T10:00:00Z"]);
    assert!(again.contains("  nurture: no changes (5 leads in flight)\n"), "{again}");
    assert!(!p.tick("2026-03-06T10:00:00Z").contains("cadence edit loaded"));
    assert_eq!(p.db().cadence_versions(), 2);

    // To the end: bump-1 went out when predicted, and everyone got the added step.
    p.run_until_idle();
    for (email, (_, _, due)) in &predicted {
        let t = p.timeline(email);
        let bump = t.iter().find(|(s, ..)| s == "bump-1").unwrap();
        assert_eq!((bump.1.as_str(), bump.2.as_str()), ("sent", due.as_str()), "{email}");
    }
    let steps =
        |email: &str| -> Vec<String> { p.timeline(email).into_iter().map(|(s, st, ..)| format!("{s}:{st}")).collect() };
    assert_eq!(steps("l1@acme.test"), ["intro:sent", "check-in-2:sent", "bump-1:sent", "extra:sent", "final:sent"]);
    assert_eq!(steps("l4@acme.test"), ["intro:sent", "check-in-2:skipped", "bump-1:sent", "extra:sent", "final:sent"]);
    assert_eq!(steps("l5@acme.test"), ["intro:sent", "bump-1:sent", "extra:sent", "final:sent"]);
}

#[test]
fn a_shorter_wait_and_a_new_window_are_planned_from_the_last_touch() {
    let p = Project::new();
    p.cadence("c", &[step("a", "0d", Some("A")), step("b", "3d", Some("B"))].concat());
    enroll_in(&p, "c", "x@acme.test", "2026-03-02T09:00:00Z");
    p.tick("2026-03-02T09:00:00Z");
    assert_eq!(next(&p, "x@acme.test"), ("b".into(), "2026-03-05T09:00:00Z".into()));
    // b now waits 1d, and emails leave only from 14:00 Berlin time: from the
    // send on Monday 10:00, Tuesday 10:00, then the window's 14:00.
    p.cadence(
        "c",
        &["window = \"0 0 14 * * *\"\n".to_string(), step("a", "0d", Some("A")), step("b", "1d", Some("B"))].concat(),
    );
    let plan = p.json(&["check", "--plan", "--json", "--at", "2026-03-02T12:00:00Z"])["plan"].clone();
    assert_eq!(
        plan["summary"],
        serde_json::json!([
            "c: window none → \"0 0 14 * * *\"",
            "c: b wait 3d → 1d: 1 lead's next email 1d 20h earlier",
        ]),
        "{plan:#}"
    );
    assert_eq!(plan["cadences"][0]["leads"][0]["new_due_at"], "2026-03-03T13:00:00Z");
    p.tick("2026-03-02T12:00:00Z");
    assert_eq!(next(&p, "x@acme.test"), ("b".into(), "2026-03-03T13:00:00Z".into()));
}

fn enroll_in(p: &Project, cadence: &str, email: &str, at: &str) {
    p.ok(&["enroll", email, "--cadence", cadence, "--field", "first_name=Lee", "--at", at]);
}

/// Collects a child's stderr as it comes.
fn follow(child: &mut std::process::Child) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("piped stderr");
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut t = sink.lock().unwrap();
            t.push_str(&line);
            t.push('\n');
        }
    });
    text
}

fn wait_for(log: &Arc<Mutex<String>>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = log.lock().unwrap().clone();
        if text.contains(needle) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_daemon_logs_the_plan_when_it_reloads_and_replans_the_leads() {
    let p = Project::new();
    p.cadence("c", &[step("a", "0d", Some("A")), step("b", "2d", Some("B"))].concat());
    // Far ahead of the real clock: nothing is due while the daemon runs.
    enroll_in(&p, "c", "x@acme.test", "2099-03-02T09:00:00Z");
    let mut child = p.spawn_daemon(&[("CADENCED_LOG", "info")]);
    let log = follow(&mut child);
    let started = wait_for(&log, "cadenced started");
    assert!(started.contains("cadenced started"), "{started}");
    p.cadence("c", &[step("a", "1d", Some("A")), step("b", "2d", Some("B"))].concat());
    signal(child.id(), "HUP");
    let line = "cadence edit loaded: c: a wait 0d → 1d: 1 lead's next email 1d later";
    let text = wait_for(&log, line);
    assert!(text.contains(line), "{text}");
    assert_eq!(next(&p, "x@acme.test"), ("a".into(), "2099-03-03T09:00:00Z".into()));
    signal(child.id(), "TERM");
    assert!(child.wait().unwrap().success());
    assert!(p.smtp.messages().is_empty());
}
