//! `preview --lead`: what this lead's emails will say, and when, in its zone.

use crate::support::Project;

const SEVEN: &str = "window = \"0 * 9-16 * * Mon-Fri\"\n\
    [[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nsubject = \"Quick question about {{ company }}\"\n\
    body = \"Hi {{ first_name }},\\nshall we talk?\"\n\
    [[steps]]\nid = \"bump\"\nwait = \"2bd\"\nkind = \"email\"\nbody = \"Bumping this, {{ first_name }}\"\n\
    [[steps]]\nid = \"call\"\nwait = \"1bd\"\nkind = \"call\"\nbody = \"Call {{ first_name }} ({{ phone | default('no phone') }})\"\n";

fn steps(v: &serde_json::Value) -> Vec<(String, String, String, String, String)> {
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap_or("-").to_string();
            (f("step"), f("at"), f("local"), f("subject"), f("body"))
        })
        .collect()
}

fn row(step: &str, at: &str, local: &str, subject: &str, body: &str) -> (String, String, String, String, String) {
    (step.into(), at.into(), local.into(), subject.into(), body.into())
}

#[test]
fn preview_lead_renders_its_emails_with_its_fields_at_planned_local_times() {
    let p = Project::new();
    p.cadence("seven", SEVEN);
    p.ok(&[
        "enroll",
        "jane@acme.test",
        "--cadence",
        "seven",
        "--field",
        "first_name=Jane",
        "--field",
        "company=Acme",
        "--tz",
        "America/New_York",
        "--at",
        "2026-03-02T14:00:00Z",
    ]);
    let v = p.json(&["preview", "seven", "--lead", "jane@acme.test", "--json"]);
    assert_eq!(
        (v["timezone"].as_str(), v["from"].as_str(), v["state"].as_str()),
        (Some("America/New_York"), Some("enrollment"), Some("active"))
    );
    assert_eq!(
        steps(&v),
        [
            row(
                "intro",
                "2026-03-02T14:00:00Z",
                "2026-03-02T09:00:00-05:00",
                "Quick question about Acme",
                "Hi Jane,\nshall we talk?"
            ),
            row(
                "bump",
                "2026-03-04T14:00:00Z",
                "2026-03-04T09:00:00-05:00",
                "Re: Quick question about Acme",
                "Bumping this, Jane"
            ),
            row("call", "2026-03-05T14:00:00Z", "2026-03-05T09:00:00-05:00", "-", "Call Jane (no phone)"),
        ]
    );

    // After the intro went out: from where the lead is now, in the thread of what was sent.
    p.tick("2026-03-02T14:00:00Z");
    let text = p.ok(&["preview", "seven", "--lead", "jane@acme.test"]);
    assert!(
        text.starts_with("seven for jane@acme.test (America/New_York), active, from where it is now: 2 step(s) ahead"),
        "{text}"
    );
    assert!(text.contains("  bump           email     Wed 2026-03-04 09:00 EST (14:00 UTC)\n"), "{text}");
    assert!(text.contains("    Subject: Re: Quick question about Acme\n    | Bumping this, Jane\n"), "{text}");
    assert!(
        text.contains("  call           call      Thu 2026-03-05 09:00 EST (14:00 UTC)\n    | Call Jane (no phone)\n"),
        "{text}"
    );
    assert!(!text.contains("intro"), "{text}");

    // A step the lead's fields do not fill says so, where the tick would pause it.
    p.cadence("seven", &SEVEN.replace("Call {{ first_name }}", "Call {{ title }} {{ first_name }}"));
    let text = p.ok(&["preview", "seven", "--lead", "jane@acme.test"]);
    assert!(text.contains("    does not render: step \"call\" body uses title that the lead lacks"), "{text}");

    // As if enrolled on a day: from its start in the lead's zone.
    let v = p.json(&["preview", "seven", "--lead", "jane@acme.test", "--start", "2026-11-30", "--json"]);
    assert_eq!((v["from"].as_str(), v["start"].as_str()), (Some("start"), Some("2026-11-30T05:00:00Z")));
    assert_eq!(steps(&v)[0].1, "2026-11-30T14:00:00Z", "the window opens at 09:00 New York time");

    let err = p.fails(&["preview", "seven", "--lead", "nobody@acme.test"]);
    assert!(err.contains("--lead: no lead nobody@acme.test"), "{err}");
}

#[test]
fn preview_start_takes_a_day_in_the_zone_asked_for() {
    let p = Project::new();
    p.cadence("seven", SEVEN);
    let v = p.json(&["preview", "seven", "--start", "2026-11-30", "--tz", "America/New_York", "--json"]);
    assert_eq!(v["start"], "2026-11-30T05:00:00Z");
    assert_eq!(v["steps"][0]["at"], "2026-11-30T14:00:00Z");
    let v = p.json(&["preview", "seven", "--start", "2026-11-30", "--json"]);
    assert_eq!(v["start"], "2026-11-29T23:00:00Z", "the config's zone, Europe/Berlin");
    let err = p.fails(&["preview", "seven", "--start", "30.11.2026"]);
    assert!(err.contains("--start: invalid time \"30.11.2026\": expected a day (2026-11-30) or RFC 3339"), "{err}");
}
