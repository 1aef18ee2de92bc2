//! Manual steps: tasks for owners, blocking and expiry, reminder digests.

use serde_json::Value;

use crate::support::{Fault, Project, repo};

const REP: &str = "rep@seller.test";

fn tasks(p: &Project, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["tasks", "--json"];
    args.extend_from_slice(extra);
    p.json(&args)["tasks"].as_array().unwrap().clone()
}

#[test]
fn seven_touch_runs_to_finish_with_the_owner_closing_tasks() {
    let p = Project::new();
    p.write("cadences/seven-touch.toml", &std::fs::read_to_string(repo().join("cadences/seven-touch.toml")).unwrap());
    p.lead("jane@acme.test")
        .field("first_name", "Jane")
        .field("company", "Acme")
        .field("phone", "+1 555 0100")
        .field("owner", REP)
        .tz("America/New_York")
        .at("2026-03-02T14:00:00Z")
        .enroll("seven-touch");
    let mut closed = Vec::new();
    for _ in 0..30 {
        let s = p.status("jane@acme.test");
        let e = &s["enrollments"][0];
        if e["state"] != "active" {
            break;
        }
        if let Some(task) = e["waiting_for_task"].as_i64() {
            // The rep does the call an hour after it opened, and closes it with the CLI.
            let opened = e["touchpoints"].as_array().unwrap().last().unwrap()["at"].as_str().unwrap().to_string();
            let at = chrono::DateTime::parse_from_rfc3339(&opened).unwrap() + chrono::Duration::hours(1);
            let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let out = p.ok(&["task", "done", &task.to_string(), "--note", "spoke to Jane", "--at", &at]);
            assert!(out.contains("done"), "{out}");
            closed.push(at);
        } else {
            p.tick(e["next_due_at"].as_str().unwrap());
        }
    }
    let s = p.status("jane@acme.test");
    let e = &s["enrollments"][0];
    assert_eq!(e["state"], "finished");
    assert_eq!(e["owner"], REP);
    let tps = e["touchpoints"].as_array().unwrap();
    let got: Vec<_> = tps.iter().map(|t| (t["step"].as_str().unwrap(), t["status"].as_str().unwrap())).collect();
    assert_eq!(
        got,
        [
            ("intro", "sent"),
            ("bump-1", "sent"),
            ("call-1", "done"),
            ("linkedin-1", "done"),
            ("case-study", "sent"),
            ("bump-2", "sent"),
            ("breakup", "sent")
        ]
    );
    assert_eq!(tps[2]["note"], "spoke to Jane");
    assert_eq!(closed.len(), 2);
    // The next step's wait counts from when the task was closed: the LinkedIn
    // step is due one business day after the call was closed at 10:00 local.
    assert_eq!(tps[2]["closed_at"], closed[0].as_str());
    assert_eq!(tps[3]["at"], "2026-03-09T14:00:00Z", "1bd after the call closed Friday 10:00 EST: Monday 10:00 EDT");
    let to_lead = p.smtp.messages().iter().filter(|m| m.rcpt_to == ["jane@acme.test"]).count();
    assert_eq!(to_lead, 5, "five emails to the lead");
    assert!(p.smtp.messages().iter().all(|m| m.rcpt_to == ["jane@acme.test"] || m.rcpt_to == [REP]));
    let human = p.ok(&["status", "jane@acme.test"]);
    assert!(human.contains("call-1") && human.contains("closed") && human.contains("spoke to Jane"), "{human}");
}

const BLOCKING: &str = "owner = \"rep@seller.test\"\n\
    [[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n\
    [[steps]]\nid = \"call\"\nwait = \"1d\"\nkind = \"call\"\nbody = \"Call {{ email }}\"\nauto_skip_after = \"2bd\"\n\
    [[steps]]\nid = \"follow\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n";

#[test]
fn a_blocking_task_left_open_holds_the_cadence_until_auto_skip_releases_it() {
    let p = Project::new();
    p.write_config("[owners.\"rep@seller.test\"]\ndigest = \"none\"\n");
    p.cadence("blocking", BLOCKING);
    p.lead("lead@acme.test").at("2026-03-02T09:00:00Z").enroll("blocking");
    p.tick("2026-03-02T09:00:00Z");
    p.tick("2026-03-03T09:00:00Z");
    let open = tasks(&p, &[]);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["kind"], "call");
    assert_eq!(open[0]["owner"], REP);
    assert_eq!(open[0]["body"], "Call lead@acme.test");
    assert_eq!(open[0]["due_at"], "2026-03-03T09:00:00Z");
    // Held: a day later nothing moves, although "follow" waits only 1d.
    p.tick("2026-03-04T09:00:00Z");
    let s = p.status("lead@acme.test");
    assert_eq!(s["enrollments"][0]["waiting_for_task"], open[0]["id"]);
    assert_eq!(s["enrollments"][0]["next_due_at"], "2026-03-05T09:00:00Z", "expiry: 2bd after it opened");
    assert_eq!(p.smtp.messages().len(), 1);
    // auto_skip_after releases it: skipped as expired, and the follow-up is due 1d later.
    p.tick("2026-03-05T09:00:00Z");
    let t = p.timeline("lead@acme.test");
    assert_eq!((t[1].0.as_str(), t[1].1.as_str(), t[1].3.as_deref()), ("call", "skipped", Some("expired")));
    let s = p.status("lead@acme.test");
    assert_eq!(s["enrollments"][0]["next_step"], "follow");
    assert_eq!(s["enrollments"][0]["next_due_at"], "2026-03-06T09:00:00Z");
    assert!(tasks(&p, &[]).is_empty());
    p.tick("2026-03-06T09:00:00Z");
    assert_eq!(p.smtp.messages().len(), 2);
    assert_eq!(p.status("lead@acme.test")["enrollments"][0]["state"], "finished");
}

#[test]
fn a_non_blocking_task_lets_the_next_wait_start_when_it_opens() {
    let p = Project::new();
    p.cadence("loose", &BLOCKING.replace("auto_skip_after = \"2bd\"", "blocking = false"));
    p.lead("lead@acme.test").at("2026-03-02T09:00:00Z").enroll("loose");
    p.tick("2026-03-02T09:00:00Z");
    p.tick("2026-03-03T09:00:00Z");
    assert_eq!(p.status("lead@acme.test")["enrollments"][0]["next_due_at"], "2026-03-04T09:00:00Z");
    assert_eq!(tasks(&p, &[]).len(), 1, "still open, not holding");
}

#[test]
fn closing_tasks_from_the_cli() {
    let p = Project::new();
    p.cadence("blocking", BLOCKING);
    p.lead("lead@acme.test").at("2026-03-02T09:00:00Z").enroll("blocking");
    p.tick("2026-03-02T09:00:00Z");
    p.tick("2026-03-03T09:00:00Z");
    let id = tasks(&p, &[])[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(tasks(&p, &["--owner", "REP@seller.test"]).len(), 1);
    assert!(tasks(&p, &["--owner", "other@seller.test"]).is_empty());
    assert!(tasks(&p, &["--overdue", "--at", "2026-03-03T10:00:00Z"]).is_empty(), "opened today");
    assert_eq!(tasks(&p, &["--overdue", "--at", "2026-03-04T10:00:00Z"]).len(), 1);
    let leads = p.json(&["leads", "--owner", REP, "--json"]);
    assert_eq!(leads["leads"].as_array().unwrap().len(), 1);
    p.ok(&["task", "skip", &id, "--note", "no number", "--at", "2026-03-03T15:00:00Z"]);
    let err = p.fails(&["task", "done", &id]);
    assert!(err.contains(&format!("task {id} is already skipped")), "{err}");
    let err = p.fails(&["task", "done", "99999"]);
    assert!(err.contains("no task 99999"), "{err}");
    // Skipping lets the cadence go on from the closing time.
    assert_eq!(p.status("lead@acme.test")["enrollments"][0]["next_due_at"], "2026-03-04T15:00:00Z");
}

const CALLS: &str = "[[steps]]\nid = \"call\"\nwait = \"0d\"\nkind = \"call\"\nbody = \"Call {{ first_name }}: ask about the rollout\"\n\
    [[steps]]\nid = \"note\"\nwait = \"0d\"\nkind = \"linkedin\"\nbody = \"Connect with {{ first_name }}\"\n";

fn digest_project() -> Project {
    let p = Project::new();
    p.write_config(&format!("owner = \"{REP}\"\n[owners.\"{REP}\"]\ntimezone = \"America/New_York\"\n"));
    p.cadence("calls", CALLS);
    for (email, name) in [("ann@acme.test", "Ann"), ("bob@acme.test", "Bob")] {
        // Monday 2 February 2026, 10:00 New York: after that day's 09:00 digest slot.
        p.lead(email)
            .field("first_name", name)
            .field("company", "Acme")
            .field("phone", "+1 555 0100")
            .at("2026-02-02T15:00:00Z")
            .enroll("calls");
    }
    p.tick("2026-02-02T15:00:00Z");
    p
}

fn digests(p: &Project) -> Vec<crate::support::smtp::Received> {
    p.smtp.messages().into_iter().filter(|m| m.rcpt_to == [REP]).collect()
}

#[test]
fn the_digest_arrives_once_per_working_day_in_the_owners_zone_with_exactly_the_open_tasks() {
    let p = digest_project();
    assert!(digests(&p).is_empty(), "the day's slot (09:00) passed before the tasks opened");
    // Tuesday 09:00 New York is 14:00 UTC.
    p.tick("2026-02-03T13:59:00Z");
    assert!(digests(&p).is_empty());
    p.tick("2026-02-03T14:00:00Z");
    p.tick("2026-02-03T14:00:30Z");
    p.tick("2026-02-03T20:00:00Z");
    let d = digests(&p);
    assert_eq!(d.len(), 1, "once for the slot");
    let body = d[0].body();
    let open = tasks(&p, &[]);
    assert_eq!(open.len(), 2, "the blocking calls");
    for t in &open {
        assert!(body.contains(&format!("task done {}", t["id"])), "{body}");
    }
    assert!(body.contains("CALLS") && body.contains("Ann, Acme - +1 555 0100") && body.contains("(overdue)"), "{body}");
    assert!(body.contains("| Call Ann: ask about the rollout"), "{body}");
    assert!(!body.contains("LINKEDIN"), "the LinkedIn steps are not due yet: {body}");
    assert_eq!(d[0].header("Subject").unwrap(), "cadenced: 2 task(s) for Tue 2026-02-03 (2 overdue)");

    // Ann's call is done: the LinkedIn step opens; Wednesday's digest lists exactly what is open.
    let ann = open.iter().find(|t| t["email"] == "ann@acme.test").unwrap()["id"].to_string();
    p.ok(&["task", "done", &ann, "--at", "2026-02-03T16:00:00Z"]);
    p.tick("2026-02-03T16:00:00Z");
    p.tick("2026-02-04T14:00:00Z");
    let d = digests(&p);
    assert_eq!(d.len(), 2);
    let body = d[1].body();
    assert!(!body.contains(&format!("task done {ann}")), "closed task not listed: {body}");
    for t in tasks(&p, &[]) {
        assert!(body.contains(&format!("task done {}", t["id"])), "{body}");
    }
    assert!(body.contains("LINKEDIN") && body.contains("| Connect with Ann"), "{body}");

    // No digest on the weekend; Monday's comes.
    p.tick("2026-02-07T14:00:00Z");
    p.tick("2026-02-08T14:00:00Z");
    assert_eq!(digests(&p).len(), 2);
    p.tick("2026-02-09T14:00:00Z");
    assert_eq!(digests(&p).len(), 3);
    assert_eq!(p.db().digests_with_status("sent"), 3);
    // Never to a lead.
    assert!(p.smtp.messages().iter().all(|m| m.rcpt_to == [REP]));
}

#[test]
fn a_restart_in_the_middle_of_a_digest_run_sends_no_second_digest() {
    let p = digest_project();
    // The server takes the digest and the connection drops before its reply:
    // what a crash mid-send looks like from outside.
    p.smtp.set_faults(vec![Fault::DropAfterData { times: 1 }]);
    p.tick("2026-02-03T14:00:00Z");
    p.smtp.set_faults(vec![]);
    p.tick("2026-02-03T14:01:00Z");
    assert!(digests(&p).is_empty());
    assert_eq!(p.db().digests_with_status("uncertain"), 1);
    // A process killed between claim and send leaves the claim: no second digest for that slot either.
    p.db().leave_digest_claim(REP, "2026-02-04T14:00:00Z");
    p.tick("2026-02-04T14:00:00Z");
    assert!(digests(&p).is_empty());
    assert_eq!(p.db().digests_with_status("uncertain"), 2);
    p.tick("2026-02-05T14:00:00Z");
    assert_eq!(digests(&p).len(), 1, "the next day's slot is sent as usual");
}

#[test]
fn digest_none_sends_no_reminders() {
    let p = Project::new();
    p.write_config(&format!("owner = \"{REP}\"\n[owners.\"{REP}\"]\ndigest = \"none\"\n"));
    p.cadence("calls", CALLS);
    p.lead("ann@acme.test").field("first_name", "Ann").at("2026-02-02T08:00:00Z").enroll("calls");
    for day in 2..7 {
        p.tick(&format!("2026-02-0{day}T08:00:00Z"));
    }
    assert!(p.smtp.messages().is_empty());
    assert_eq!(tasks(&p, &[]).len(), 1);
}

#[test]
fn owner_errors_are_named() {
    let p = Project::new();
    p.write_config("[owners.\"rep@seller.test\"]\ndigest = \"sometimes\"\ntimezone = \"Nowhere\"\n");
    let err = p.fails(&["check"]);
    assert!(err.contains("owners.\"rep@seller.test\": digest:"), "{err}");
    assert!(err.contains("owners.\"rep@seller.test\": timezone: unknown time zone"), "{err}");
    p.write_config("");
    p.cadence(
        "c",
        "[[steps]]\nid = \"a\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\nblocking = true\n",
    );
    let err = p.fails(&["check"]);
    assert!(err.contains("blocking: only manual steps"), "{err}");
}
