//! Follow-ups thread: a subject-less email step answers the lead's previous
//! email (`Re:`, `In-Reply-To`, `References`); every email to a lead is MIME
//! 1.0 and carries `List-Unsubscribe` with the lead's own token address.

use crate::support::Project;

const CADENCE: &str = r#"
[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Quick question about {{ company }}"
body = "Hi {{ first_name }}"

[[steps]]
id = "bump-1"
wait = "1d"
kind = "email"
body = "Bumping this, {{ first_name }}"

[[steps]]
id = "bump-2"
wait = "1d"
kind = "email"
body = "Last one"
"#;

#[test]
fn bumps_reply_in_the_thread_of_the_email_before() {
    let p = Project::new();
    p.cadence("three", CADENCE);
    p.ok(&[
        "enroll",
        "jane@acme.test",
        "--cadence",
        "three",
        "--field",
        "first_name=Jane",
        "--field",
        "company=Acme",
        "--at",
        "2026-03-02T09:00:00Z",
    ]);
    p.run_to_end("jane@acme.test");
    let got = p.smtp.messages();
    assert_eq!(got.len(), 3, "three emails");
    let subjects: Vec<String> = got.iter().map(|m| m.header("Subject").unwrap_or_default()).collect();
    assert_eq!(
        subjects,
        ["Quick question about Acme", "Re: Quick question about Acme", "Re: Quick question about Acme"],
        "Re: once, never Re: Re:"
    );
    let ids: Vec<String> = got.iter().map(|m| m.message_id().expect("Message-ID")).collect();
    assert_eq!(got[0].header("In-Reply-To"), None);
    assert_eq!(got[1].header("In-Reply-To"), Some(ids[0].clone()));
    assert_eq!(got[1].header("References"), Some(ids[0].clone()));
    assert_eq!(got[2].header("In-Reply-To"), Some(ids[1].clone()));
    assert_eq!(got[2].header("References"), Some(format!("{} {}", ids[0], ids[1])), "the whole chain");
    let status = p.status("jane@acme.test");
    let recorded: Vec<&str> = status["enrollments"][0]["touchpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    assert_eq!(recorded, subjects, "the timeline shows the subjects that went out");
    for m in &got {
        assert_eq!(m.header("MIME-Version").as_deref(), Some("1.0"));
        let unsubscribe = m.header("List-Unsubscribe").expect("List-Unsubscribe on every email to a lead");
        assert!(
            unsubscribe.starts_with("<mailto:ada+unsubscribe-")
                && unsubscribe.ends_with("@seller.test?subject=unsubscribe>"),
            "{unsubscribe}"
        );
    }
    assert_eq!(got[0].header("List-Unsubscribe"), got[2].header("List-Unsubscribe"), "one token per lead");
}

#[test]
fn each_lead_gets_its_own_unsubscribe_token() {
    let p = Project::new();
    p.cadence("three", CADENCE);
    for lead in ["a@acme.test", "b@acme.test"] {
        p.ok(&[
            "enroll",
            lead,
            "--cadence",
            "three",
            "--field",
            "first_name=X",
            "--field",
            "company=Y",
            "--at",
            "2026-03-02T09:00:00Z",
        ]);
    }
    p.tick("2026-03-02T09:00:00Z");
    let got = p.smtp.messages();
    assert_eq!(got.len(), 2);
    assert_ne!(got[0].header("List-Unsubscribe"), got[1].header("List-Unsubscribe"));
}

#[test]
fn a_first_email_step_without_a_subject_is_refused_by_check() {
    let p = Project::new();
    p.cadence("bad", "[[steps]]\nid = \"a\"\nwait = \"0d\"\nkind = \"email\"\nbody = \"x\"\n");
    let err = p.fails(&["check"]);
    assert!(err.contains("an email step needs a subject unless an earlier email step starts its thread"), "{err}");
}
