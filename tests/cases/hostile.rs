//! A lead's field that a template turns into a huge size (issue 14): the real
//! binary refuses the lead at enrollment when its templates cannot render for
//! it, and when a template edited later on a live cadence takes its size from
//! a field, the tick holds that lead with an error naming the step and the
//! bound, sends everyone else's email, and the daemon stays up.

use std::time::{Duration, Instant};

use crate::support::{Project, signal};

/// The cadence as leads are enrolled in it: the fields are only printed.
const BEFORE: &str = "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\n\
    subject = \"Hello {{ first_name }}\"\nbody = \"Hi {{ first_name }}, {{ n }} and {{ m }}.\"\n";

/// The same step after an edit: `n` is an indentation, `m` a count of lines.
const AFTER: &str = "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\n\
    subject = \"Hello {{ first_name }}\"\n\
    body = \"\"\"\nHi {{ first_name }},\n{% for i in range(m | int) %}{{ first_name | indent(n | int, true) }}\n{% endfor %}bye\n\"\"\"\n";

/// Leads whose fields are fine until the edit, and the bound each then goes past.
const HOSTILE: [(&str, &str, &str, &str); 3] = [
    ("evil@acme.test", "999999999999", "1", "filter indent: a width of 999999999999 is more than 1000"),
    ("slow@acme.test", "1", "90000", "the template uses too much work (more than 50000 steps"),
    ("wide@acme.test", "900", "1000", "the template's output would exceed 256 KiB (the most a body may be)"),
];

const AT: &str = "2026-03-02T09:00:00Z";

fn enroll(p: &Project, email: &str, n: &str, m: &str, at: Option<&str>) {
    let (n, m) = (format!("n={n}"), format!("m={m}"));
    let mut args =
        vec!["enroll", email, "--cadence", "sizes", "--field", "first_name=Jane", "--field", &n, "--field", &m];
    if let Some(at) = at {
        args.extend(["--at", at]);
    }
    p.ok(&args);
}

/// A project with the good lead and the hostile ones enrolled, then the edit.
fn edited_project(at: Option<&str>) -> Project {
    let p = Project::new();
    p.cadence("sizes", BEFORE);
    enroll(&p, "good@acme.test", "4", "2", at);
    for (email, n, m, _) in HOSTILE {
        enroll(&p, email, n, m, at);
    }
    p.cadence("sizes", AFTER);
    let checked = p.ok(&["check"]);
    assert!(checked.contains("uses first_name, m, n"), "check accepts the edit: {checked}");
    p
}

fn assert_good_email_only(p: &Project) {
    let messages = p.smtp.messages();
    assert_eq!(messages.len(), 1, "only the good lead's email goes out");
    assert_eq!(messages[0].rcpt_to, ["good@acme.test"]);
    let body = messages[0].body();
    assert!(body.contains("Hi Jane,\r\n    Jane\r\n    Jane\r\nbye"), "{body:?}");
}

fn assert_held(p: &Project) {
    for (email, _, _, bound) in HOSTILE {
        let e = &p.status(email)["enrollments"][0];
        assert_eq!(e["state"], "paused", "{email}: {e}");
        let error = e["last_error"].as_str().unwrap_or_default();
        assert!(error.starts_with("step \"intro\" body: "), "{email}: {error}");
        assert!(error.contains(bound), "{email}: expected {bound:?} in {error:?}");
    }
    assert_eq!(p.status("good@acme.test")["enrollments"][0]["state"], "finished");
}

#[test]
fn a_hostile_field_is_refused_at_enrollment_with_nothing_written() {
    let p = Project::new();
    p.cadence("sizes", AFTER);
    p.ok(&["check"]);
    for (email, n, m, bound) in HOSTILE {
        let (n, m) = (format!("n={n}"), format!("m={m}"));
        let stderr = p.fails(&[
            "enroll",
            email,
            "--cadence",
            "sizes",
            "--field",
            "first_name=Jane",
            "--field",
            &n,
            "--field",
            &m,
        ]);
        assert!(stderr.contains(&format!("step \"intro\" body: {bound}")), "{email}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    }
    assert_eq!(p.db().leads(), 0);
    assert_eq!(p.db().enrollments(), 0);
    enroll(&p, "good@acme.test", "4", "2", Some(AT));
    assert_eq!(p.db().enrollments(), 1);
}

#[test]
fn a_tick_holds_the_leads_a_template_edit_makes_hostile_and_sends_the_rest() {
    let p = edited_project(Some(AT));
    let out = p.run(&["tick", "--at", AT]);
    assert!(out.status.success(), "tick failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_good_email_only(&p);
    assert_held(&p);
}

#[test]
fn the_daemon_holds_the_leads_a_template_edit_makes_hostile_and_stays_up() {
    let p = edited_project(None);
    let mut child = p.spawn_daemon(&[("CADENCED_LOG", "warn")]);
    assert_eq!(p.smtp.wait_for(1, Duration::from_secs(30)).len(), 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    let paused = || p.db().enrollments_in_state("paused");
    while paused() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_good_email_only(&p);
    assert_held(&p);
    // Still up, and still sending: a lead enrolled now gets its email.
    assert!(child.try_wait().unwrap().is_none(), "the daemon exited");
    enroll(&p, "later@acme.test", "2", "1", None);
    let messages = p.smtp.wait_for(2, Duration::from_secs(30));
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1].rcpt_to, ["later@acme.test"]);
    signal(child.id(), "TERM");
    assert!(child.wait().unwrap().success(), "the daemon exits 0 on TERM");
}
