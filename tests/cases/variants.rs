//! Variants, holdouts and outcomes end to end: two subject lines and a
//! LinkedIn step with a holdout, played through a real SMTP server and a
//! real Dovecot in virtual time; replies to chosen variants, outcomes by
//! `mark` and by the API; then exact counts in `report --json`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::Project;
use crate::support::dovecot::{Dovecot, USER};
use crate::support::http::{Served, TOKEN, http_config};

pub(super) const CADENCE: &str = "[[steps]]\nid = \"intro\"\nwait = \"0d\"\nkind = \"email\"\nbody = \"Hi\"\nmin_sample = 3\n\
    [[steps.variants]]\nid = \"a\"\nsubject = \"Question A\"\n\
    [[steps.variants]]\nid = \"b\"\nsubject = \"Question B\"\n\
    [[steps]]\nid = \"like\"\nwait = \"1d\"\nkind = \"linkedin\"\nbody = \"Like a post\"\nblocking = false\nholdout = 0.5\n\
    [[steps]]\nid = \"bump\"\nwait = \"1d\"\nkind = \"email\"\nbody = \"Just bumping this.\"\n";

const LEADS: usize = 16;

fn email(i: usize) -> String {
    format!("lead{i}@acme.test")
}

fn touch(p: &Project, lead: &str, step: &str) -> Value {
    let s = p.status(lead);
    let t = s["enrollments"][0]["touchpoints"].as_array().unwrap().iter().find(|t| t["step"] == step).cloned();
    t.unwrap_or_else(|| panic!("{lead} has no {step}: {s}"))
}

fn reply(imap: &Dovecot, from: &str, to_message: &str, subject: &str, n: usize) {
    imap.deliver(
        "INBOX",
        &format!(
            "From: {from}\nTo: {USER}\nSubject: Re: {subject}\nDate: Mon, 2 Mar 2026 12:00:00 +0000\n\
             Message-ID: <r{n}@acme.test>\nIn-Reply-To: {to_message}\nReferences: {to_message}\n\nInterested!\n"
        ),
    );
}

fn step<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["cadences"][0]["steps"].as_array().unwrap().iter().find(|s| s["step"] == id).unwrap()
}

#[test]
fn variants_holdouts_and_outcomes_are_counted_exactly() {
    let imap = Dovecot::start();
    let p = Project::new();
    p.write_config(&imap.mailbox_config(p.dir.path(), None));
    p.cadence("seq", CADENCE);
    for i in 0..LEADS {
        p.ok(&["enroll", &email(i), "--cadence", "seq", "--at", "2026-03-02T09:00:00Z"]);
    }
    // preview --lead shows the variant the lead will get, before it is sent.
    let preview = p.json(&["preview", "seq", "--lead", &email(0), "--json"]);
    let previewed = preview["steps"][0]["variant"].as_str().unwrap().to_string();
    p.tick("2026-03-02T09:00:00Z");
    let sent = p.smtp.messages();
    assert_eq!(sent.len(), LEADS, "every intro left");
    // Each lead's variant is recorded and its email has that variant's subject.
    let mut variant_of = BTreeMap::new();
    for i in 0..LEADS {
        let t = touch(&p, &email(i), "intro");
        let v = t["variant"].as_str().unwrap_or_else(|| panic!("no variant: {t}")).to_string();
        assert_eq!(t["subject"], format!("Question {}", v.to_uppercase()));
        let m = sent.iter().find(|m| m.rcpt_to.iter().any(|r| *r == email(i))).unwrap();
        assert_eq!(m.header("Subject").unwrap(), format!("Question {}", v.to_uppercase()));
        variant_of.insert(i, v);
    }
    assert_eq!(variant_of[&0], previewed, "preview --lead named the variant the lead got");
    let of = |v: &str| variant_of.iter().filter(|(_, x)| x.as_str() == v).map(|(i, _)| *i).collect::<Vec<_>>();
    let (a, b) = (of("a"), of("b"));
    assert!(a.len() >= 3 && b.len() >= 3, "both variants in use: {variant_of:?}");
    // Two leads of a and one of b answer their intro.
    let repliers = [a[0], a[1], b[0]];
    for (n, i) in repliers.iter().enumerate() {
        let t = touch(&p, &email(*i), "intro");
        reply(&imap, &email(*i), t["message_id"].as_str().unwrap(), t["subject"].as_str().unwrap(), n);
    }
    p.tick("2026-03-02T12:00:00Z");
    // Outcomes: a meeting with a[0] (by hand), a deal won with a[1] (through the API), a deal lost
    // with b[1], who never answered: credited to its last touch, and its cadence ends.
    let out = p.json(&["mark", &email(a[0]), "meeting", "--value", "500", "--json", "--at", "2026-03-02T13:00:00Z"]);
    assert_eq!(
        (out["step"].as_str(), out["variant"].as_str(), out["credited_by"].as_str()),
        (Some("intro"), Some("a"), Some("replied"))
    );
    p.ok(&["mark", &email(a[1]), "won", "--value", "1200", "--at", "2026-03-02T14:00:00Z"]);
    let lost = p.ok(&["mark", &email(b[1]), "lost", "--at", "2026-03-02T15:00:00Z"]);
    assert!(
        lost.contains("lost recorded, credited to seq/intro, variant b (the lead's last touch); stopped seq"),
        "{lost}"
    );
    assert_eq!(p.status(&email(b[1]))["enrollments"][0]["state"], "stopped");
    // The LinkedIn step: about half are held out, recorded skipped with reason holdout.
    p.tick("2026-03-03T09:00:00Z");
    let going: Vec<usize> = (0..LEADS).filter(|i| !repliers.contains(i) && *i != b[1]).collect();
    let held: Vec<usize> =
        going.iter().copied().filter(|i| touch(&p, &email(*i), "like")["status"] == "skipped").collect();
    for i in &going {
        let t = touch(&p, &email(*i), "like");
        if held.contains(i) {
            assert_eq!((t["reason"].as_str(), t["kind"].as_str()), (Some("holdout"), Some("linkedin")));
        } else {
            assert_eq!(t["status"], "open", "{t}");
        }
    }
    assert!(!held.is_empty() && held.len() < going.len(), "{held:?} of {going:?}");
    // A lead who got the LinkedIn step answers (by phone) before the bump: a reply in its window.
    let answered = *going.iter().find(|i| !held.contains(i)).unwrap();
    p.ok(&["mark", &email(answered), "replied", "--at", "2026-03-03T12:00:00Z"]);
    // The bump threads under each lead's own variant, a day after the LinkedIn step's due time.
    p.tick("2026-03-04T09:00:00Z");
    for i in going.iter().filter(|i| **i != answered) {
        let t = touch(&p, &email(*i), "bump");
        assert_eq!(t["subject"], format!("Re: Question {}", variant_of[i].to_uppercase()), "{t}");
        assert_eq!(t["at"], "2026-03-04T09:00:00Z");
    }
    let r = p.json(&["report", "--json", "--until", "2026-03-10"]);
    let intro = step(&r, "intro");
    let variant = |id: &str| intro["variants"].as_array().unwrap().iter().find(|v| v["id"] == id).unwrap().clone();
    let (va, vb) = (variant("a"), variant("b"));
    // The reply marked by hand answers the lead's last email: its intro.
    let by_hand = |v: &str| u64::from(variant_of[&answered] == v);
    assert_eq!((va["reached"].as_u64(), va["replied"].as_u64()), (Some(a.len() as u64), Some(2 + by_hand("a"))));
    assert_eq!((vb["reached"].as_u64(), vb["replied"].as_u64()), (Some(b.len() as u64), Some(1 + by_hand("b"))));
    assert_eq!((va["meetings"].as_u64(), va["won"].as_u64(), va["value"].as_f64()), (Some(1), Some(1), Some(1700.0)));
    assert_eq!((vb["meetings"].as_u64(), vb["won"].as_u64(), vb["lost"].as_u64()), (Some(0), Some(0), Some(1)));
    let interval = va["reply_interval"].as_array().unwrap();
    assert!(interval[0].as_f64().unwrap() < va["reply_rate"].as_f64().unwrap());
    assert_eq!(intro["comparison"]["winner"], "not yet", "{}", intro["comparison"]);
    assert!(intro["comparison"]["leads_needed"].as_u64().unwrap() > 0);
    assert_eq!(
        (intro["meetings"].as_u64(), intro["won"].as_u64(), intro["lost"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    let lift = &step(&r, "like")["lift"];
    assert_eq!(lift["held_out"].as_u64(), Some(held.len() as u64), "{lift}");
    assert_eq!(lift["reached"].as_u64(), Some((going.len() - held.len()) as u64), "{lift}");
    assert_eq!((lift["replied"].as_u64(), lift["held_out_replied"].as_u64()), (Some(1), Some(0)), "{lift}");
    let got = (going.len() - held.len()) as f64;
    assert_eq!(lift["value"].as_f64(), Some((1.0 / got * 10_000.0).round() / 10_000.0));
    assert!(lift["interval"][0].as_f64().unwrap() < 0.0, "one reply tells nothing yet: {lift}");
    // The text report shows the same, with each variant's interval as a whisker.
    let text = p.ok(&["report", "--until", "2026-03-10"]);
    assert!(text.contains("winner: not yet"), "{text}");
    assert!(text.contains("lift over the holdout: +"), "{text}");
    assert!(text.contains("not yet distinguishable from zero"), "{text}");
    assert!(text.contains('●'), "{text}");
    // log and the journal-bound log lines name the variant.
    let log = p.json(&["log", "--json", "--since", "2026-03-01"]);
    let events = log["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["step"] == "intro" && e["variant"] == variant_of[&0].as_str()));
    assert!(events.iter().any(|e| e["what"] == "outcome" && e["kind"] == "won"));
}

#[test]
fn outcomes_come_through_the_api_and_show_in_the_metrics() {
    let p = Project::new();
    let (http, addr) = http_config(&p);
    p.write_config(&http);
    p.cadence("one", CADENCE.split("[[steps]]\nid = \"like\"").next().unwrap());
    p.ok(&["enroll", "jane@acme.test", "--cadence", "one", "--at", "2026-03-02T09:00:00Z"]);
    p.tick("2026-03-02T09:00:00Z");
    let variant = touch(&p, "jane@acme.test", "intro")["variant"].as_str().unwrap().to_string();
    let served = Served::start(&p, &addr);
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    let body = json!({"outcome": "won", "value": 1200, "at": "2026-03-03T14:00:00Z"}).to_string();
    let r = served.post("/api/v1/leads/jane@acme.test/outcomes", &auth, body.as_bytes());
    assert_eq!(r.status, 201, "{}", r.body);
    let doc = r.json();
    assert_eq!((doc["step"].as_str(), doc["variant"].as_str()), (Some("intro"), Some(variant.as_str())));
    assert_eq!(doc["credited_by"], "last_touch");
    let bad = served.post("/api/v1/leads/jane@acme.test/outcomes", &auth, br#"{"outcome": "married", "value": -3}"#);
    assert_eq!(bad.status, 422, "{}", bad.body);
    let fields: Vec<Value> = bad.json()["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("outcome"), json!("value")]);
    let unknown = served.post("/api/v1/leads/nobody@acme.test/outcomes", &auth, body.as_bytes());
    assert_eq!(unknown.status, 404);
    let denied = served.post("/api/v1/leads/jane@acme.test/outcomes", &[], body.as_bytes());
    assert_eq!(denied.status, 401);
    let metrics = served.get("/metrics", &auth).body;
    assert!(metrics.contains("cadenced_outcomes_total{outcome=\"won\"} 1"), "{metrics}");
    assert!(metrics.contains("cadenced_outcome_value_total{outcome=\"won\"} 1200"), "{metrics}");
    served.stop();
    let status = p.status("jane@acme.test");
    assert_eq!(status["outcomes"][0]["outcome"], "won");
    assert_eq!(status["outcomes"][0]["source"], "api");
}

#[test]
fn pick_winner_gives_new_leads_only_the_winner_and_the_report_says_since_when() {
    let p = Project::new();
    p.write_config("");
    let cadence = CADENCE
        .split("[[steps]]\nid = \"like\"")
        .next()
        .unwrap()
        .replace("min_sample = 3", "min_sample = 6\npick_winner = true");
    p.cadence("one", &cadence);
    let mut by_variant: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..40 {
        p.ok(&["enroll", &email(i), "--cadence", "one", "--at", "2026-03-02T09:00:00Z"]);
    }
    p.tick("2026-03-02T09:00:00Z");
    for i in 0..40 {
        let v = touch(&p, &email(i), "intro")["variant"].as_str().unwrap().to_string();
        by_variant.entry(v).or_default().push(email(i));
    }
    // Every lead of b answers, none of a: a clear winner past min_sample.
    let (a, b) = (&by_variant["a"], &by_variant["b"]);
    assert!(a.len() >= 6 && b.len() >= 6, "{by_variant:?}");
    for lead in b {
        p.ok(&["mark", lead, "replied", "--at", "2026-03-02T10:00:00Z"]);
    }
    // The next tick names the winner; from then on new leads get only b, even those the draw gives a.
    p.tick("2026-03-02T11:00:00Z");
    let late: Vec<String> = (100..120).map(email).collect();
    for lead in &late {
        p.ok(&["enroll", lead, "--cadence", "one", "--at", "2026-03-02T11:30:00Z"]);
    }
    p.tick("2026-03-02T11:30:00Z");
    for lead in &late {
        assert_eq!(touch(&p, lead, "intro")["variant"], "b", "{lead}");
    }
    // The leads who got a before keep it.
    assert_eq!(touch(&p, &a[0], "intro")["variant"], "a");
    let r = p.json(&["report", "--json", "--until", "2026-03-10"]);
    let intro = step(&r, "intro");
    assert_eq!(intro["comparison"]["winner"], "b", "{intro}");
    assert_eq!(intro["winner_since"], "2026-03-02T11:00:00Z");
}
