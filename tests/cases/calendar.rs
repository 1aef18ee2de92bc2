//! When steps go out: daylight saving, holidays, downtime, mailbox caps,
//! preview and forecast, end to end against the real SMTP test server.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::Project;

fn weekly(window: &str) -> String {
    format!(
        "window = \"{window}\"\n\
         [[steps]]\nid = \"w0\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Hello {{{{ first_name }}}}\"\nbody = \"Hi {{{{ first_name }}}}\"\n\
         [[steps]]\nid = \"w1\"\nwait = \"1w\"\nkind = \"email\"\nsubject = \"One\"\nbody = \"Hi {{{{ first_name }}}}\"\n\
         [[steps]]\nid = \"w2\"\nwait = \"1w\"\nkind = \"email\"\nsubject = \"Two\"\nbody = \"Hi {{{{ first_name }}}}\"\n\
         [[steps]]\nid = \"w3\"\nwait = \"1w\"\nkind = \"email\"\nsubject = \"Three\"\nbody = \"Hi {{{{ first_name }}}}\"\n"
    )
}

fn sent_times(p: &Project, email: &str) -> Vec<String> {
    p.timeline(email).into_iter().map(|(_, _, at, _)| at).collect()
}

fn preview_times(p: &Project, cadence: &str, start: &str, tz: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["preview", cadence, "--start", start, "--tz", tz, "--json"];
    args.extend_from_slice(extra);
    let v = p.json(&args);
    assert_eq!(v["cadence"], cadence);
    assert_eq!(v["timezone"], tz);
    v["steps"].as_array().unwrap().iter().map(|s| s["at"].as_str().unwrap().to_string()).collect()
}

#[test]
fn new_york_and_berlin_leads_across_the_march_2026_changes() {
    let p = Project::new();
    p.cadence("weekly", &weekly("0 0 9 * * Mon-Fri"));
    p.lead("ny@acme.test").field("first_name", "X").tz("America/New_York").at("2026-03-02T14:00:00Z").enroll("weekly");
    p.lead("berlin@acme.test").field("first_name", "X").tz("Europe/Berlin").at("2026-03-16T08:00:00Z").enroll("weekly");
    let ny_preview = preview_times(&p, "weekly", "2026-03-02T14:00:00Z", "America/New_York", &[]);
    let berlin_preview = preview_times(&p, "weekly", "2026-03-16T08:00:00Z", "Europe/Berlin", &[]);
    p.run_until_idle();
    // 09:00 local every Monday: EST then EDT after 8 March.
    let ny = ["2026-03-02T14:00:00Z", "2026-03-09T13:00:00Z", "2026-03-16T13:00:00Z", "2026-03-23T13:00:00Z"];
    // 09:00 local every Monday: CET then CEST after 29 March.
    let berlin = ["2026-03-16T08:00:00Z", "2026-03-23T08:00:00Z", "2026-03-30T07:00:00Z", "2026-04-06T07:00:00Z"];
    assert_eq!(sent_times(&p, "ny@acme.test"), ny);
    assert_eq!(sent_times(&p, "berlin@acme.test"), berlin);
    assert_eq!(ny_preview, ny, "preview equals what was sent");
    assert_eq!(berlin_preview, berlin, "preview equals what was sent");
    assert_eq!(p.smtp.messages().len(), 8);
}

#[test]
fn a_window_slot_in_the_spring_forward_gap_moves_to_its_end() {
    let p = Project::new();
    // The default calendar has no weekends, and the US change is on a Sunday.
    p.write_config("[calendars.all]\nworkdays = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\", \"Sat\", \"Sun\"]\n");
    p.cadence("night", &format!("calendar = \"all\"\n{}", weekly("0 30 2 * * *")));
    // 02:30 does not exist in New York on 8 March 2026: the slot moves to 03:00 EDT.
    let at = preview_times(&p, "night", "2026-03-08T05:00:00Z", "America/New_York", &[]);
    assert_eq!(at[0], "2026-03-08T07:00:00Z");
    // A week after the actual send (03:00 on the 15th), the next 02:30 is the 16th.
    assert_eq!(at[1], "2026-03-16T06:30:00Z");
}

const HOLIDAY_CADENCE: &str = "window = \"0 * 9-16 * * Mon-Fri\"\ncalendar = \"us\"\n\
    [[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n\
    [[steps]]\nid = \"bump\"\nwait = \"2bd\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n\
    [[steps]]\nid = \"nudge\"\nwait = \"1d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n\
    [[steps]]\nid = \"last\"\nwait = \"25d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n";

const CALENDARS: &str = "[calendars.us]\nholidays = [\"2026-11-26\", \"2026-12-25\"]\n\
    [calendars.de]\nworkdays = [\"Mon\", \"Tue\", \"Wed\", \"Thu\", \"Fri\"]\nholidays_file = \"de-holidays.txt\"\n";

#[test]
fn thanksgiving_and_christmas_calendar() {
    let p = Project::new();
    p.write("de-holidays.txt", "# Germany\n2026-12-24\n2026-12-25\n2026-12-26\n");
    p.write_config(CALENDARS);
    p.cadence("holidays", HOLIDAY_CADENCE);
    p.lead("us@acme.test")
        .field("first_name", "X")
        .tz("America/New_York")
        .at("2026-11-24T20:00:00Z")
        .enroll("holidays");
    p.run_until_idle();
    let timeline = p.timeline("us@acme.test");
    let got: Vec<_> =
        timeline.iter().map(|(s, st, at, why)| (s.as_str(), st.as_str(), at.as_str(), why.as_deref())).collect();
    assert_eq!(
        got,
        [
            ("intro", "sent", "2026-11-24T20:00:00Z", None), // Tue 15:00 EST
            ("bump", "sent", "2026-11-27T20:00:00Z", None),  // 2bd skips Thanksgiving: Fri 15:00
            ("nudge", "sent", "2026-11-30T14:00:00Z", Some("window")), // Sat -> Mon 09:00
            ("last", "sent", "2026-12-28T14:00:00Z", Some("holiday")), // Fri 25 Dec -> Mon 28 Dec 09:00
        ]
    );
    assert_eq!(
        preview_times(&p, "holidays", "2026-11-24T20:00:00Z", "America/New_York", &[]),
        got.iter().map(|g| g.2).collect::<Vec<_>>()
    );
}

#[test]
fn the_leads_calendar_wins_over_the_cadences() {
    let p = Project::new();
    p.write("de-holidays.txt", "2026-12-24\n2026-12-25\n2026-12-26\n");
    p.write_config(CALENDARS);
    p.cadence("holidays", HOLIDAY_CADENCE);
    // With the German calendar Thanksgiving is a workday: 2bd from Tuesday is Thursday.
    let de = preview_times(&p, "holidays", "2026-11-24T14:00:00Z", "Europe/Berlin", &["--calendar", "de"]);
    assert_eq!(de[1], "2026-11-26T14:00:00Z");
    p.lead("de@acme.test")
        .field("first_name", "X")
        .field("calendar", "de")
        .tz("Europe/Berlin")
        .at("2026-11-24T14:00:00Z")
        .enroll("holidays");
    p.tick("2026-11-24T14:00:00Z");
    assert_eq!(p.status("de@acme.test")["enrollments"][0]["next_due_at"], "2026-11-26T14:00:00Z");
    // An unknown calendar is an error at enrollment.
    let err = p.lead("x@acme.test").field("calendar", "fr").enroll_fails("holidays");
    assert!(err.contains("calendar: unknown calendar \"fr\""), "{err}");
}

#[test]
fn bad_calendar_config_is_named() {
    let p = Project::new();
    p.write_config("[calendars.us]\nworkdays = [\"Mon\", \"Funday\"]\nholidays = [\"2026-13-01\"]\n");
    let err = p.fails(&["check"]);
    assert!(err.contains("calendars.us: workdays: unknown weekday \"Funday\""), "{err}");
    assert!(err.contains("calendars.us: holidays: invalid date \"2026-13-01\""), "{err}");
    p.write_config("");
    p.cadence("c", "calendar = \"nope\"\n[[steps]]\nid = \"a\"\nwait = \"0d\"\nkind = \"task\"\nbody = \"x\"\n");
    let err = p.fails(&["check"]);
    assert!(err.contains("c.toml:1:12: calendar: unknown calendar \"nope\""), "{err}");
}

const CATCH_UP: &str = "window = \"0 * 9-16 * * Mon-Fri\"\n\
    [[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n\
    [[steps]]\nid = \"bump\"\nwait = \"2bd\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n\
    [[steps]]\nid = \"last\"\nwait = \"2bd\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n";

#[test]
fn daemon_stopped_for_five_days_catches_up_paced_and_in_order() {
    let p = Project::new();
    p.cadence("catchup", CATCH_UP);
    p.cadence("strict", &format!("late_after = \"2d\"\n{CATCH_UP}"));
    for i in 0..4 {
        // Enrolled one minute apart, Monday 2 March from 09:00 Berlin.
        let at = format!("2026-03-02T08:0{i}:00Z");
        p.lead(&format!("lead{i}@acme.test")).field("first_name", "X").tz("Europe/Berlin").at(&at).enroll("catchup");
        p.tick(&at);
    }
    p.lead("strict@acme.test").field("first_name", "X").tz("Europe/Berlin").at("2026-03-02T08:05:00Z").enroll("strict");
    p.tick("2026-03-02T08:05:00Z");
    assert_eq!(p.smtp.take().len(), 5);
    p.write_config("min_gap = \"60s\"\n");
    // The bumps were due Wednesday 09:00-09:05; nothing ran until the next Monday 20:00 (outside the window).
    p.tick("2026-03-09T19:00:00Z");
    assert!(p.smtp.messages().is_empty(), "nothing leaves outside the window");
    let s = p.status("lead0@acme.test");
    assert_eq!(s["enrollments"][0]["next_due_at"], "2026-03-10T08:00:00Z");
    assert_eq!(s["enrollments"][0]["reason"], "downtime");
    // The late_after cadence skipped its step: it could not go out within 2 days of Wednesday.
    let strict = p.timeline("strict@acme.test");
    assert_eq!(strict[1].0, "bump");
    assert_eq!(strict[1].1, "skipped");
    assert_eq!(strict[1].3.as_deref(), Some("late"));
    assert_eq!(p.status("strict@acme.test")["enrollments"][0]["next_step"], "last");

    p.run_until_idle();
    let msgs = p.smtp.messages();
    // Each lead got its bump and, two business days after that actual send, its last step: never two at once.
    for i in 0..4 {
        let t = p.timeline(&format!("lead{i}@acme.test"));
        assert_eq!(t.len(), 3);
        assert_eq!(t[1].3.as_deref(), Some("downtime"), "{t:?}");
        let bump = chrono::DateTime::parse_from_rfc3339(&t[1].2).unwrap();
        let last = chrono::DateTime::parse_from_rfc3339(&t[2].2).unwrap();
        assert!(last - bump >= chrono::Duration::days(2), "{t:?}");
    }
    // The catch-up was paced: oldest due first, at least min_gap apart, at most twice it.
    let bumps: Vec<_> = msgs.iter().filter(|m| m.header("Date").is_some()).take(5).collect();
    let order: Vec<_> = bumps.iter().map(|m| m.rcpt_to[0].clone()).collect();
    assert_eq!(order[..4], ["lead0@acme.test", "lead1@acme.test", "lead2@acme.test", "lead3@acme.test"]);
    let times: Vec<_> = (0..4).map(|i| p.timeline(&format!("lead{i}@acme.test"))[1].2.clone()).collect();
    for pair in times.windows(2) {
        let a = chrono::DateTime::parse_from_rfc3339(&pair[0]).unwrap();
        let b = chrono::DateTime::parse_from_rfc3339(&pair[1]).unwrap();
        let gap = (b - a).num_seconds();
        assert!((60..=120).contains(&gap), "sends {gap}s apart: {times:?}");
    }
}

#[test]
fn daily_limit_spreads_a_hundred_leads_over_five_days() {
    let p = Project::new();
    p.write_config("daily_limit = 20\n");
    p.cadence("one", "window = \"0 * 9-16 * * Mon-Fri\"\n[[steps]]\nid = \"hello\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n");
    let mut csv = String::from("email\n");
    for i in 0..100 {
        csv.push_str(&format!("lead{i:03}@acme.test\n"));
    }
    p.write("leads.csv", &csv);
    p.ok(&["import", p.path("leads.csv").to_str().unwrap(), "--cadence", "one", "--at", "2026-03-02T08:00:00Z"]);

    let forecast = p.json(&["forecast", "--days", "7", "--at", "2026-03-02T07:00:00Z", "--json"]);
    let days = forecast["mailboxes"][0]["days"].as_array().unwrap();
    let sends: Vec<_> = days.iter().map(|d| d["sends"].as_u64().unwrap()).collect();
    let held: Vec<_> = days.iter().map(|d| d["held"].as_u64().unwrap()).collect();
    assert_eq!(sends[..5], [20, 20, 20, 20, 20]);
    assert_eq!(held[..5], [80, 60, 40, 20, 0]);
    assert_eq!(days[0]["limited"], Value::Bool(true));
    assert_eq!(days[4]["limited"], Value::Bool(false));

    p.run_until_idle();
    let mut per_day: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..100 {
        let email = format!("lead{i:03}@acme.test");
        let t = p.timeline(&email);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].1, "sent");
        if i >= 20 {
            assert_eq!(t[0].3.as_deref(), Some("daily_limit"), "{email}: {t:?}");
        }
        per_day.entry(t[0].2[..10].to_string()).or_default().push(email);
    }
    let counts: Vec<_> = per_day.iter().map(|(d, v)| (d.as_str(), v.len())).collect();
    assert_eq!(
        counts,
        [("2026-03-02", 20), ("2026-03-03", 20), ("2026-03-04", 20), ("2026-03-05", 20), ("2026-03-06", 20)]
    );
    // In due order: the first twenty rows went first.
    assert_eq!(per_day["2026-03-02"][0], "lead000@acme.test");
    assert_eq!(per_day["2026-03-02"][19], "lead019@acme.test");
    assert_eq!(per_day["2026-03-06"][19], "lead099@acme.test");
    assert_eq!(p.smtp.messages().len(), 100);
}

#[test]
fn daily_limit_survives_a_restart() {
    // The count comes from the database: a second process the same day sends nothing more.
    let p = Project::new();
    p.write_config("daily_limit = 1\n");
    p.cadence("one", "[[steps]]\nid = \"hello\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n");
    p.lead("a@acme.test").field("first_name", "X").tz("Europe/Berlin").at("2026-03-02T08:00:00Z").enroll("one");
    p.lead("b@acme.test").field("first_name", "X").tz("Europe/Berlin").at("2026-03-02T08:00:00Z").enroll("one");
    p.tick("2026-03-02T08:00:00Z");
    p.tick("2026-03-02T12:00:00Z");
    assert_eq!(p.smtp.messages().len(), 1);
    let s = p.status("b@acme.test");
    assert_eq!(s["enrollments"][0]["reason"], "daily_limit");
    assert_eq!(s["enrollments"][0]["next_due_at"], "2026-03-02T23:00:00Z", "midnight Berlin");
    let due = p.json(&["due", "--within", "1d", "--at", "2026-03-02T12:00:00Z", "--json"]);
    assert_eq!(due["due"][0]["reason"], "daily_limit");
}

#[test]
fn preview_human_output_shows_local_and_utc() {
    let p = Project::new();
    p.cadence("weekly", &weekly("0 0 9 * * Mon-Fri"));
    let out = p.ok(&["preview", "weekly", "--start", "2026-03-06T18:00:00Z", "--tz", "America/New_York"]);
    assert!(out.contains("w0             email     Mon 2026-03-09 09:00 EDT (13:00 UTC)  (moved: window)"), "{out}");
    let v = p.json(&["preview", "weekly", "--start", "2026-03-06T18:00:00Z", "--tz", "America/New_York", "--json"]);
    assert_eq!(v["steps"][0]["local"], "2026-03-09T09:00:00-04:00");
    assert_eq!(v["steps"][0]["kind"], "email");
    assert_eq!(v["steps"][0]["step"], "w0");
    assert_eq!(p.db().leads(), 0, "preview writes nothing");
}
