//! The core daemon end to end: the real binary, a real SQLite file, a real SMTP
//! server on loopback, and virtual time through `--at`.

use std::process::Command;

use crate::support::{BIN, Fault, Project, repo};

const DST_CADENCE: &str = r#"
description = "crosses a weekend and the US daylight-saving change"
window = "0 * 9-16 * * Mon-Fri"

[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Hello {{ company }}"
body = "Hi {{ first_name }}, intro."

[[steps]]
id = "bump"
wait = "2bd"
kind = "email"
subject = "Re: Hello {{ company }}"
body = "Hi {{ first_name }}, bump."

[[steps]]
id = "call"
wait = "2bd"
kind = "call"
blocking = false
body = "Call {{ first_name }}"

[[steps]]
id = "follow"
wait = "3d"
kind = "email"
subject = "Following up"
body = "Hi {{ first_name }}, following up."

[[steps]]
id = "last"
wait = "1w"
kind = "email"
subject = "Closing the loop"
body = "Hi {{ first_name }}, last one from {{ company | default('us') }}."
"#;

fn dst_project() -> Project {
    let p = Project::new();
    p.cadence("dst", DST_CADENCE);
    p.lead("jane@acme.test")
        .field("first_name", "Jane")
        .field("company", "Acme")
        .tz("America/New_York")
        .at("2026-03-05T20:00:00Z")
        .enroll("dst");
    p
}

#[test]
fn cadence_across_weekend_and_dst_runs_to_end_inside_the_window() {
    let p = dst_project();
    let ticks = p.run_to_end("jane@acme.test");
    assert_eq!(
        ticks,
        [
            "2026-03-05T20:00:00Z", // Thu 15:00 EST
            "2026-03-09T19:00:00Z", // 2bd: over the weekend and the DST change, still 15:00 local
            "2026-03-11T19:00:00Z", // the call, 2bd later
            "2026-03-16T13:00:00Z", // 3d lands on Saturday: the window moves it to Monday 09:00 EDT
            "2026-03-23T13:00:00Z", // 1w later, same local time
        ]
    );
    let status = p.status("jane@acme.test");
    let e = &status["enrollments"][0];
    assert_eq!(e["state"], "finished");
    let tps = e["touchpoints"].as_array().unwrap();
    let statuses: Vec<_> = tps.iter().map(|t| (t["step"].as_str().unwrap(), t["status"].as_str().unwrap())).collect();
    assert_eq!(statuses, [("intro", "sent"), ("bump", "sent"), ("call", "open"), ("follow", "sent"), ("last", "sent")]);

    let msgs = p.smtp.messages();
    assert_eq!(msgs.len(), 4);
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    for (m, tp) in msgs.iter().zip(tps.iter().filter(|t| t["kind"] == "email")) {
        assert_eq!(m.rcpt_to, ["jane@acme.test"]);
        assert_eq!(m.message_id().as_deref(), tp["message_id"].as_str(), "Message-ID recorded as sent");
        let body = m.body();
        assert!(body.starts_with("Hi Jane,"), "rendered body: {body:?}");
        assert!(!body.contains("{{"), "unrendered template: {body:?}");
        // Sent inside the window in the lead's own zone.
        let at = chrono::DateTime::parse_from_rfc3339(tp["at"].as_str().unwrap()).unwrap().with_timezone(&tz);
        use chrono::{Datelike, Timelike};
        assert!(at.weekday().num_days_from_monday() < 5 && (9..17).contains(&at.hour()), "outside window: {at}");
    }
    assert_eq!(msgs[0].header("Subject").as_deref(), Some("Hello Acme"));
    assert_eq!(msgs[3].body(), "Hi Jane, last one from Acme.");
}

#[test]
fn repeated_ticks_at_the_same_instant_send_nothing_new() {
    let p = dst_project();
    for _ in 0..3 {
        p.tick("2026-03-05T20:00:00Z");
    }
    assert_eq!(p.smtp.messages().len(), 1);
    assert_eq!(p.db().touchpoints(), 1);
    // And a tick later the same day, before the next step is due, sends nothing either.
    p.tick("2026-03-06T15:00:00Z");
    assert_eq!(p.smtp.messages().len(), 1);
}

#[test]
fn one_connection_carries_every_message_of_a_tick() {
    let p = Project::new();
    p.cadence("dst", DST_CADENCE);
    for name in ["a", "b", "c"] {
        p.lead(&format!("{name}@acme.test"))
            .field("first_name", "X")
            .field("company", "Y")
            .tz("America/New_York")
            .at("2026-03-05T20:00:00Z")
            .enroll("dst");
    }
    p.tick("2026-03-05T20:00:30Z");
    let msgs = p.smtp.messages();
    assert_eq!(msgs.len(), 3);
    assert!(msgs.iter().all(|m| m.connection == msgs[0].connection), "one connection per tick");
}

#[test]
fn email_due_outside_the_window_waits_for_the_next_slot() {
    // Enrolled Friday evening New York time: the intro waits for Monday 09:00.
    let p = Project::new();
    p.cadence("dst", DST_CADENCE);
    p.lead("late@acme.test")
        .field("first_name", "L")
        .field("company", "C")
        .tz("America/New_York")
        .at("2026-03-06T23:00:00Z")
        .enroll("dst");
    let s = p.status("late@acme.test");
    assert_eq!(s["enrollments"][0]["next_due_at"], "2026-03-09T13:00:00Z");
    assert_eq!(s["enrollments"][0]["reason"], "window");
    // A tick during downtime-like lateness (Monday 20:00 EDT, outside the window) holds it to Tuesday 09:00.
    p.tick("2026-03-10T00:00:00Z");
    assert!(p.smtp.messages().is_empty(), "nothing may leave outside the window");
    let s = p.status("late@acme.test");
    assert_eq!(s["enrollments"][0]["next_due_at"], "2026-03-10T13:00:00Z");
    p.tick("2026-03-10T13:00:00Z");
    assert_eq!(p.smtp.messages().len(), 1);
}

#[test]
fn status_json_has_the_spec_shape() {
    let p = dst_project();
    p.tick("2026-03-05T20:00:00Z");
    let s = p.status("JANE@acme.test");
    assert_eq!(s["email"], "jane@acme.test");
    assert_eq!(s["timezone"], "America/New_York");
    assert_eq!(s["fields"]["first_name"], "Jane");
    let e = &s["enrollments"][0];
    assert_eq!(e["cadence"], "dst");
    assert_eq!(e["state"], "active");
    assert_eq!(e["next_step"], "bump");
    assert_eq!(e["next_due_at"], "2026-03-09T19:00:00Z");
    let t = &e["touchpoints"][0];
    assert_eq!(t["step"], "intro");
    assert_eq!(t["kind"], "email");
    assert_eq!(t["status"], "sent");
    assert_eq!(t["at"], "2026-03-05T20:00:00Z");
    assert!(t["message_id"].as_str().unwrap().starts_with('<'));

    let human = p.ok(&["status", "jane@acme.test"]);
    assert!(human.contains("Thu 2026-03-05 15:00 EST (20:00 UTC)"), "{human}");
    assert!(human.contains("Mon 2026-03-09 15:00 EDT (19:00 UTC)"), "{human}");
}

#[test]
fn leads_and_due_list_enrollments() {
    let p = dst_project();
    let leads = p.json(&["leads", "--cadence", "dst", "--state", "active", "--json"]);
    assert_eq!(leads["leads"].as_array().unwrap().len(), 1);
    assert_eq!(leads["leads"][0]["email"], "jane@acme.test");
    assert_eq!(leads["leads"][0]["next_step"], "intro");
    let none = p.json(&["leads", "--state", "paused", "--json"]);
    assert!(none["leads"].as_array().unwrap().is_empty());

    let due = p.json(&["due", "--within", "1h", "--at", "2026-03-05T19:30:00Z", "--json"]);
    assert_eq!(due["due"][0]["step"], "intro");
    assert_eq!(due["due"][0]["kind"], "email");
    assert_eq!(due["due"][0]["due_at"], "2026-03-05T20:00:00Z");
    let later = p.json(&["due", "--within", "10m", "--at", "2026-03-05T19:00:00Z", "--json"]);
    assert!(later["due"].as_array().unwrap().is_empty());
    let table = p.ok(&["leads"]);
    assert!(table.contains("jane@acme.test") && table.contains("Thu 2026-03-05 15:00 EST (20:00 UTC)"), "{table}");
}

#[test]
fn due_within_past_the_end_of_time_lists_everything_instead_of_panicking() {
    let p = dst_project();
    let due = p.json(&["due", "--within", "15250284452w", "--at", "9999-12-31T00:00:00Z", "--json"]);
    assert_eq!(due["due"][0]["step"], "intro");
    let err = p.fails(&["due", "--within", "15250284453w"]);
    assert!(
        err.contains("--within: invalid duration \"15250284453w\": longer than the maximum of 15250284452w"),
        "{err}"
    );
    let err = p.fails(&["due", "--within", "1bd"]);
    assert!(err.contains("--within: invalid duration \"1bd\": unit must be m, h, d or w, not \"bd\""), "{err}");
}

#[test]
fn leads_filters_combine_and_owner_is_case_insensitive() {
    let p = Project::new();
    p.cadence("dst", DST_CADENCE);
    p.cadence("other", DST_CADENCE);
    p.write(
        "leads.csv",
        "email,first_name,company,owner\n\
         dan@acme.test,Dan,Acme,Rep@Seller.test\n\
         bea@acme.test,Bea,Acme,rep@seller.test\n\
         cal@acme.test,Cal,Acme,boss@seller.test\n\
         Abe@acme.test,Abe,Acme,REP@seller.test\n",
    );
    let csv = p.path("leads.csv");
    p.ok(&["import", csv.to_str().unwrap(), "--cadence", "dst", "--at", "2026-03-05T20:00:00Z"]);
    p.ok(&["import", csv.to_str().unwrap(), "--cadence", "other", "--at", "2026-03-05T20:00:00Z"]);
    p.lead("solo@acme.test").field("first_name", "Solo").field("company", "S").enroll("other");
    p.ok(&["pause", "bea@acme.test", "--cadence", "dst"]);
    p.ok(&["pause", "cal@acme.test"]);
    let emails = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["leads", "--json"];
        all.extend_from_slice(args);
        let doc = p.json(&all);
        let list = doc["leads"].as_array().unwrap();
        list.iter().map(|l| format!("{} {} {}", l["email"].as_str().unwrap(), l["cadence"], l["state"])).collect()
    };
    // By email (case-insensitively), then cadence.
    assert_eq!(
        emails(&["--owner", "REP@SELLER.TEST"]),
        [
            "Abe@acme.test \"dst\" \"active\"",
            "Abe@acme.test \"other\" \"active\"",
            "bea@acme.test \"dst\" \"paused\"",
            "bea@acme.test \"other\" \"active\"",
            "dan@acme.test \"dst\" \"active\"",
            "dan@acme.test \"other\" \"active\"",
        ]
    );
    assert_eq!(emails(&["--owner", "rep@seller.test", "--state", "paused"]), ["bea@acme.test \"dst\" \"paused\""]);
    assert_eq!(emails(&["--cadence", "dst", "--state", "paused"]).len(), 2);
    assert_eq!(
        emails(&["--cadence", "other", "--state", "paused", "--owner", "Boss@seller.test"]),
        ["cal@acme.test \"other\" \"paused\""]
    );
    assert!(emails(&["--cadence", "other", "--state", "paused", "--owner", "rep@seller.test"]).is_empty());
    assert_eq!(emails(&["--cadence", "other"]).len(), 5);
    assert_eq!(emails(&[]).len(), 9);

    // One JSON document, pretty-printed, with each lead's fields.
    let out = p.ok(&["leads", "--cadence", "dst", "--state", "active", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let first = &doc["leads"][0];
    let keys: Vec<_> = first.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["cadence", "email", "next_due_at", "next_step", "reason", "state"]);
    assert_eq!(first["next_due_at"], "2026-03-06T08:00:00Z", "the window in the default zone");
    assert!(out.starts_with("{\n  \"leads\": [\n    {\n"), "{out}");
    let empty = p.ok(&["leads", "--state", "bounced", "--json"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&empty).unwrap(), serde_json::json!({ "leads": [] }));

    // The table: one line per enrollment, a paused one keeps its step but shows no due time.
    let table = p.ok(&["leads", "--owner", "boss@SELLER.test"]);
    let lines: Vec<_> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[1].starts_with("cal@acme.test") && lines[1].contains("paused") && lines[1].ends_with(" -"),
        "{table}"
    );
    assert_eq!(lines[3], "(2 rows)");
    let err = p.fails(&["leads", "--state", "sleeping"]);
    assert!(err.contains("invalid value 'sleeping' for '--state <STATE>'"), "{err}");
    assert!(
        err.contains("[possible values: active, paused, finished, stopped, replied, bounced, unsubscribed]"),
        "{err}"
    );
}

#[test]
fn pause_resume_and_stop_change_what_is_sent() {
    let p = dst_project();
    p.ok(&["pause", "jane@acme.test"]);
    p.tick("2026-03-05T20:00:00Z");
    assert!(p.smtp.messages().is_empty(), "a paused lead gets nothing");
    assert_eq!(p.status("jane@acme.test")["enrollments"][0]["state"], "paused");
    p.ok(&["resume", "jane@acme.test"]);
    p.tick("2026-03-05T20:01:00Z");
    assert_eq!(p.smtp.messages().len(), 1);
    p.ok(&["stop", "jane@acme.test"]);
    p.tick("2026-03-09T19:00:00Z");
    assert_eq!(p.smtp.messages().len(), 1, "a stopped lead gets nothing more");
    assert_eq!(p.status("jane@acme.test")["enrollments"][0]["state"], "stopped");
    let again = p.ok(&["resume", "jane@acme.test"]);
    assert!(again.contains("nothing changed"), "{again}");
}

#[test]
fn enrolling_twice_changes_nothing_and_says_so() {
    let p = dst_project();
    let out = p
        .lead("Jane@Acme.test")
        .field("first_name", "Other")
        .field("company", "Other")
        .at("2026-03-06T20:00:00Z")
        .enroll("dst");
    assert!(out.contains("already in dst (active): nothing changed"), "{out}");
    let s = p.status("jane@acme.test");
    assert_eq!(s["fields"]["first_name"], "Jane");
    assert_eq!(s["enrollments"][0]["next_due_at"], "2026-03-05T20:00:00Z");
    assert_eq!(p.db().leads(), 1);
}

// ---- SMTP outcomes ----

#[test]
fn permanent_smtp_failure_records_failed_with_the_reply_and_stops_the_lead() {
    let p = dst_project();
    p.smtp.set_faults(vec![Fault::RejectRcpt {
        address_contains: "jane@".into(),
        code: 550,
        text: "5.1.1 <jane@acme.test>: Recipient address rejected: User unknown".into(),
    }]);
    p.tick("2026-03-05T20:00:00Z");
    let s = p.status("jane@acme.test");
    let e = &s["enrollments"][0];
    assert_eq!(e["touchpoints"][0]["status"], "failed");
    assert!(e["touchpoints"][0]["detail"].as_str().unwrap().contains("User unknown"), "{e}");
    assert_eq!(e["state"], "bounced");
    p.smtp.set_faults(vec![]);
    p.run_to_end("jane@acme.test");
    assert!(p.smtp.messages().is_empty());
}

#[test]
fn temporary_smtp_failure_is_retried_with_backoff_then_sent_once() {
    let p = dst_project();
    p.smtp.set_faults(vec![Fault::RejectData { times: 2, code: 451, text: "4.3.0 try again later".into() }]);
    p.tick("2026-03-05T20:00:00Z");
    let e = &p.status("jane@acme.test")["enrollments"][0];
    assert_eq!(e["next_due_at"], "2026-03-05T20:01:00Z", "first retry after 60 s");
    assert_eq!(e["attempts"], 1);
    assert!(e["touchpoints"].as_array().unwrap().is_empty(), "nothing recorded as sent");
    // Not in a tight loop: a tick before the backoff ends does nothing.
    p.tick("2026-03-05T20:00:30Z");
    assert_eq!(p.status("jane@acme.test")["enrollments"][0]["attempts"], 1);
    p.tick("2026-03-05T20:01:00Z");
    let e = &p.status("jane@acme.test")["enrollments"][0];
    assert_eq!(e["next_due_at"], "2026-03-05T20:03:00Z", "backoff doubles");
    p.tick("2026-03-05T20:03:00Z");
    let s = p.status("jane@acme.test");
    assert_eq!(s["enrollments"][0]["touchpoints"][0]["status"], "sent");
    assert_eq!(p.smtp.messages().len(), 1);
}

#[test]
fn connection_refused_is_retried_and_sends_nothing() {
    let p = dst_project();
    // Point the mailbox at a port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let text = std::fs::read_to_string(p.path("config.toml"))
        .unwrap()
        .replace(&p.smtp.url(), &format!("smtp://127.0.0.1:{port}"));
    p.write("config.toml", &text);
    p.tick("2026-03-05T20:00:00Z");
    let e = &p.status("jane@acme.test")["enrollments"][0];
    assert_eq!(e["state"], "active");
    assert_eq!(e["attempts"], 0, "an outage of the mailbox is not a failure of the step");
    assert_eq!(e["next_due_at"], "2026-03-05T20:01:00Z", "tried again after the backoff");
    assert_eq!(e["reason"], "retry");
    assert!(e["last_error"].as_str().unwrap().contains("cannot connect"), "{e}");
    assert_eq!(p.db().touchpoints(), 0);
}

#[test]
fn connection_dropped_after_data_is_uncertain_and_never_repeated() {
    let p = dst_project();
    p.smtp.set_faults(vec![Fault::DropAfterData { times: 1 }]);
    p.tick("2026-03-05T20:00:00Z");
    let e = &p.status("jane@acme.test")["enrollments"][0];
    assert_eq!(e["touchpoints"][0]["status"], "uncertain");
    assert_eq!(e["next_step"], "bump", "the cadence goes on");
    p.tick("2026-03-05T20:05:00Z");
    assert!(p.smtp.messages().is_empty(), "an uncertain send is not repeated");
}

#[test]
fn a_connection_the_server_closed_while_idle_is_replaced_and_nothing_is_uncertain() {
    let p = Project::new();
    p.cadence("one", "[[steps]]\nid = \"hello\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi\"\nbody = \"b\"\n");
    let mut csv = String::from("email\n");
    for i in 0..4 {
        csv.push_str(&format!("lead{i}@acme.test\n"));
    }
    p.write("leads.csv", &csv);
    p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "one", "--at", "2026-03-02T10:00:00Z"]);
    // The server hangs up after each message it accepts: every next MAIL FROM meets a closed socket.
    p.smtp.set_faults(vec![Fault::CloseAfterAccept { times: 4 }]);
    p.tick("2026-03-02T10:00:00Z");
    assert_eq!(p.smtp.messages().len(), 4);
    assert_eq!(p.smtp.connections(), 4, "one new connection after each hang-up");
    assert_eq!(p.db().touchpoints_with_status("sent"), 4);
}

#[test]
fn a_send_left_in_flight_by_a_dead_process_becomes_uncertain() {
    let p = dst_project();
    // What a SIGKILL between claim and SMTP leaves behind.
    p.db().leave_send_in_flight("intro", "2026-03-05T20:00:00Z", "<x.1@seller.test>", None);
    p.tick("2026-03-05T20:00:30Z");
    assert!(p.smtp.messages().is_empty(), "never sent twice");
    let e = &p.status("jane@acme.test")["enrollments"][0];
    assert_eq!(e["touchpoints"][0]["status"], "uncertain");
    assert_eq!(e["next_step"], "bump");
}

// ---- bad input: a clear error, nothing changed ----

#[test]
fn misspelt_cadence_key_is_named_with_file_line_and_column() {
    let p = Project::new();
    p.cadence(
        "typo",
        "[[steps]]\nid = \"a\"\nwiat = \"2d\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n",
    );
    let err = p.fails(&["check"]);
    assert!(err.contains("cadences/typo.toml:3:1:"), "{err}");
    assert!(err.contains("unknown field `wiat`"), "{err}");
}

#[test]
fn check_lists_every_problem_of_the_first_bad_file() {
    let p = Project::new();
    p.cadence(
        "bad",
        "window = \"0 * 25 * * *\"\n\n[[steps]]\nid = \"a\"\nwait = \"2x\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"Hi {{ name \"\n\n\
         [[steps]]\nid = \"a\"\nwait = \"1d\"\nkind = \"fax\"\nbody = \"b\"\n",
    );
    p.cadence("zzz", "[[steps]]\nid = \"a\"\nwait = \"nope\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n");
    let err = p.fails(&["check"]);
    for needle in [
        "bad.toml:1:10: window",
        "bad.toml:5:8: step \"a\": wait",
        "bad.toml:8:",
        "bad.toml:11:6: step \"a\": id is used twice",
        "bad.toml:13:8: step \"a\": kind",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    assert!(!err.contains("zzz.toml"), "stops at the first bad file:\n{err}");
}

#[test]
fn config_errors_name_the_field() {
    let p = Project::new();
    p.write("config.toml", "timezone = \"Mars/Olympus\"\ntick_interval = \"soon\"\n[mailboxes.sales]\nfrom = \"ada@seller.test\"\noutbox = \"out\"\nimap_host = \"x\"\n");
    let err = p.fails(&["check"]);
    assert!(err.contains("config.toml:6:1: unknown field `imap_host`"), "{err}");
    p.write("config.toml", "[mailboxes.sales]\nfrom = \"ada@seller.test\"\noutbox = \"out\"\nimap = \"x\"\n");
    let err = p.fails(&["check"]);
    assert!(err.contains("config.toml:4:8: mailboxes.sales: imap: invalid URL \"x\""), "{err}");
    p.write("config.toml", "timezone = \"Mars/Olympus\"\ntick_interval = \"soon\"\n[mailboxes.sales]\nfrom = \"ada@seller.test\"\noutbox = \"out\"\n");
    let err = p.fails(&["check"]);
    assert!(err.contains("config.toml:1:12: timezone: unknown time zone \"Mars/Olympus\""), "{err}");
    assert!(err.contains("config.toml:2:17: tick_interval"), "{err}");
}

#[test]
fn enrolling_a_lead_missing_a_template_variable_fails_and_writes_nothing() {
    let p = Project::new();
    p.cadence("dst", DST_CADENCE);
    let err = p.lead("jane@acme.test").field("first_name", "Jane").enroll_fails("dst");
    assert!(err.contains("company"), "names the missing field: {err}");
    let err = p.lead("not-an-address").field("first_name", "J").field("company", "C").enroll_fails("dst");
    assert!(err.contains("email: invalid address"), "{err}");
    let err = p.lead("j@acme.test").field("first_name", "J").field("company", "C").tz("Moon/Base").enroll_fails("dst");
    assert!(err.contains("timezone: unknown time zone"), "{err}");
    let err = p.lead("j@acme.test").enroll_fails("nope");
    assert!(err.contains("unknown cadence \"nope\""), "{err}");
    assert_eq!(p.db().leads(), 0);
    assert_eq!(p.db().enrollments(), 0);
}

#[test]
fn import_skips_bad_rows_with_line_numbers_and_enrolls_the_rest() {
    let p = Project::new();
    p.cadence("dst", DST_CADENCE);
    p.write(
        "leads.csv",
        "email,first_name,company,timezone\n\
         ann@acme.test,Ann,Acme,America/New_York\n\
         not-an-address,Bob,Acme,\n\
         cy@acme.test,Cy,,Europe/Berlin\n\
         dee@acme.test,Dee,Acme,Mars/Base\n\
         ANN@acme.test,Ann2,Acme,\n\
         eve@acme.test,Eve,Evil Corp,\n",
    );
    let out =
        p.run(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "dst", "--at", "2026-03-05T20:00:00Z"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "skipped rows make the exit status non-zero");
    assert!(stderr.contains("leads.csv:3: email: invalid address"), "{stderr}");
    assert!(stderr.contains("leads.csv:4: company:"), "{stderr}");
    assert!(stderr.contains("leads.csv:5: timezone: unknown time zone"), "{stderr}");
    assert!(stderr.contains("leads.csv:6: email: ANN@acme.test appears earlier"), "{stderr}");
    assert!(
        stdout.contains("6 rows read: 2 enrolled in dst, 0 already in dst (left unchanged), 4 skipped"),
        "{stdout}"
    );
    assert_eq!(p.db().enrollments(), 2);
    assert_eq!(p.status("ann@acme.test")["timezone"], "America/New_York");
    assert_eq!(p.status("eve@acme.test")["timezone"], "Europe/Berlin");

    // Importing again changes nothing and says so.
    p.write("again.csv", "email,first_name,company\nann@acme.test,Ann,Acme\n");
    let again = p.ok(&["import", p.path("again.csv").to_str().unwrap(), "--cadence", "dst"]);
    assert!(again.contains("0 enrolled in dst, 1 already in dst (left unchanged)"), "{again}");
}

#[test]
fn import_skips_suppressed_addresses_and_changes_nothing_on_a_second_run() {
    let p = dst_project();
    p.ok(&["leads"]);
    p.db().suppress("Gone@Acme.test", "unsubscribed");
    p.write(
        "leads.csv",
        "email,first_name,company\n\
         jane@acme.test,Janet,Other\n\
         gone@acme.test,Gus,Acme\n\
         new@acme.test,Nan,Acme\n\
         bad@acme.test,,Acme\n",
    );
    let csv = p.path("leads.csv");
    let out = p.run(&["import", csv.to_str().unwrap(), "--cadence", "dst", "--at", "2026-03-05T20:00:00Z"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success());
    assert!(stderr.contains("leads.csv:5: first_name: step \"intro\" body uses first_name"), "{stderr}");
    assert!(stderr.contains("gone@acme.test is on the suppression list (unsubscribed): skipped"), "{stderr}");
    assert!(
        stdout.contains("4 rows read: 1 enrolled in dst, 1 already in dst (left unchanged), 2 skipped"),
        "{stdout}"
    );
    assert_eq!(p.status("jane@acme.test")["fields"]["first_name"], "Jane", "an enrolled lead is left as it was");
    assert!(!p.db().has_lead("gone@acme.test"));

    // The same file again: nothing new, nothing changed.
    let before = p.db().leads_version();
    let again = p.run(&["import", csv.to_str().unwrap(), "--cadence", "dst", "--at", "2026-03-06T20:00:00Z"]);
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(
        stdout.contains("4 rows read: 0 enrolled in dst, 2 already in dst (left unchanged), 2 skipped"),
        "{stdout}"
    );
    assert_eq!(p.db().leads_version(), before);
    assert_eq!(p.db().enrollments(), 2);
}

#[test]
fn import_of_a_file_that_cannot_be_read_writes_nothing() {
    let p = dst_project();
    let before = p.db().enrollments();
    // A row that is not UTF-8 is a bad row; the file goes on.
    std::fs::write(p.path("mixed.csv"), b"email,first_name,company\nann@acme.test,Ann,Acme\nbo@acme.test,B\xff,Acme\n")
        .unwrap();
    let out = p.run(&["import", p.path("mixed.csv").to_str().unwrap(), "--cadence", "dst"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mixed.csv:3:"), "{stderr}");
    assert_eq!(p.db().enrollments(), before + 1);
    // A directory is not a CSV file: an error, and nothing written.
    std::fs::create_dir(p.path("dir.csv")).unwrap();
    let err = p.fails(&["import", p.path("dir.csv").to_str().unwrap(), "--cadence", "dst"]);
    assert!(err.contains("dir.csv"), "{err}");
    assert_eq!(p.db().enrollments(), before + 1);
}

#[test]
fn import_without_email_column_imports_nothing() {
    let p = Project::new();
    p.cadence("dst", DST_CADENCE);
    p.write("leads.csv", "mail,first_name\nann@acme.test,Ann\n");
    let err = p.fails(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "dst"]);
    assert!(err.contains("leads.csv:1: no `email` column"), "{err}");
    assert_eq!(p.db().leads(), 0);
}

#[test]
fn tick_refuses_to_run_with_a_broken_cadence_file() {
    let p = dst_project();
    p.cadence("broken", "[[steps]]\nid = \"a\"\n");
    let err = p.fails(&["tick", "--at", "2026-03-05T20:00:00Z"]);
    assert!(err.contains("broken.toml"), "{err}");
    assert!(p.smtp.messages().is_empty());
}

#[test]
fn bad_at_value_is_rejected() {
    let p = dst_project();
    let err = p.fails(&["tick", "--at", "tomorrow"]);
    assert!(err.contains("--at: invalid time \"tomorrow\""), "{err}");
}

// ---- the shipped files ----

#[test]
fn shipped_config_and_cadences_pass_check() {
    let out = Command::new(BIN).arg("--config").arg(repo().join("config.toml")).arg("check").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}{}", stdout, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("seven-touch.toml: 7 steps (5 emails, 2 manual)"), "{stdout}");
}

#[test]
fn shipped_config_writes_eml_files_to_the_outbox() {
    // The README walkthrough, on a copy of the shipped files.
    let p = Project::shipped();
    p.lead("jane@acme.test")
        .field("first_name", "Jane")
        .field("company", "Acme")
        .tz("America/New_York")
        .at("2026-03-02T14:00:00Z")
        .enroll("seven-touch");
    p.tick("2026-03-02T14:00:00Z");
    let emls: Vec<_> = std::fs::read_dir(p.path("outbox")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(emls.len(), 1, "{emls:?}");
    assert!(emls[0].extension().is_some_and(|x| x == "eml"));
    let text = std::fs::read_to_string(&emls[0]).unwrap();
    assert!(text.contains("Subject: Quick question about Acme"), "{text}");
    assert!(text.contains("To: jane@acme.test"), "{text}");
    let status = p.status("jane@acme.test");
    let mid = status["enrollments"][0]["touchpoints"][0]["message_id"].as_str().unwrap().to_string();
    assert!(text.contains(&format!("Message-ID: {mid}")), "{text}");
    assert_eq!(status["enrollments"][0]["next_step"], "bump-1");
    assert_eq!(status["enrollments"][0]["next_due_at"], "2026-03-04T14:00:00Z");
}

// ---- the daemon ----

#[test]
fn daemon_sends_what_is_due_and_exits_zero_on_sigterm() {
    let p = Project::new();
    p.cadence("now", "[[steps]]\nid = \"hello\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hi {{ first_name }}\"\nbody = \"Hello\"\n");
    p.lead("jo@acme.test").field("first_name", "Jo").enroll("now");
    let child = Command::new(BIN)
        .arg("--config")
        .arg(p.path("config.toml"))
        .arg("run")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let got = p.smtp.wait_for(1, std::time::Duration::from_secs(30));
    assert_eq!(got.len(), 1, "the daemon sent the due email");
    let kill = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("sent") && log.contains("jo@acme.test") && log.contains("hello"), "{log}");
    assert!(log.contains(got[0].message_id().unwrap().as_str()), "log line names the Message-ID: {log}");
    assert_eq!(p.status("jo@acme.test")["enrollments"][0]["state"], "finished");
}
