//! Unit tests of the plan of an edit: edits found, leads re-planned, shifts in words.

use chrono::{DateTime, Duration, Utc};

use super::wording::shift_phrase;
use super::*;
use crate::cadence::{Cadence, Fields};
use crate::model::{LeadTime, State};

fn snapshot(steps: &[(&str, &str, &str)]) -> Snapshot {
    Snapshot {
        mailbox: "sales".into(),
        window: Some("0 * 9-16 * * Mon-Fri".into()),
        calendar: None,
        late_after: None,
        owner: None,
        stop_on: vec!["reply".into()],
        on_uncertain: None,
        steps: steps
            .iter()
            .map(|(id, kind, wait)| StepSnapshot {
                id: (*id).into(),
                kind: (*kind).into(),
                wait: (*wait).into(),
                blocking: true,
                auto_skip_after: None,
                subject: Some(format!("About {id}")),
                body: "Hi {{ first_name }}".into(),
            })
            .collect(),
    }
}

#[test]
fn edits_name_each_difference_in_the_order_a_reader_needs() {
    let old = snapshot(&[("intro", "email", "0d"), ("check-in-2", "email", "2bd"), ("bump-1", "email", "2bd")]);
    let mut new = snapshot(&[("intro", "email", "0d"), ("bump-1", "email", "3bd"), ("extra", "call", "1d")]);
    new.window = None;
    new.steps[0].body = "Hello {{ first_name }}".into();
    let got: Vec<String> = edits(&old, &new).iter().map(Edit::describe).collect();
    assert_eq!(
        got,
        [
            "window \"0 * 9-16 * * Mon-Fri\" → none",
            "check-in-2 removed",
            "intro body changed",
            "bump-1 wait 2bd → 3bd",
            "extra added after bump-1",
        ]
    );
    assert!(edits(&old, &old).is_empty());
    let swapped = snapshot(&[("check-in-2", "email", "2bd"), ("intro", "email", "0d"), ("bump-1", "email", "2bd")]);
    assert_eq!(edits(&old, &swapped), [Edit::Reordered]);
}

#[test]
fn snapshots_read_back_with_fields_they_did_not_have() {
    let text = r#"{"mailbox": "sales", "steps": [{"id": "a", "kind": "email", "wait": "1d"}]}"#;
    let s: Snapshot = serde_json::from_str(text).unwrap();
    assert!(s.steps[0].blocking, "steps block unless they say otherwise");
    assert_eq!((s.window, s.steps[0].subject.as_deref()), (None, None));
}

fn cadence(waits: [&str; 3]) -> Cadence {
    let config = crate::config::Config::parse(
        std::path::Path::new("/p/config.toml"),
        "[mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"o\"\n",
    )
    .unwrap();
    let source = format!(
        "[[steps]]\nid = \"a\"\nwait = \"{}\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n\
         [[steps]]\nid = \"t\"\nwait = \"{}\"\nkind = \"task\"\nblocking = false\nbody = \"b\"\n\
         [[steps]]\nid = \"b\"\nwait = \"{}\"\nkind = \"email\"\nsubject = \"s\"\nbody = \"b\"\n",
        waits[0], waits[1], waits[2]
    );
    Cadence::parse(std::path::Path::new("/p/cadences/c.toml"), &source, &config).unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    crate::time::parse_instant(s).unwrap()
}

#[test]
fn a_lead_is_planned_again_from_the_touch_its_step_was_planned_from() {
    // A non-blocking task opened Tuesday 09:00 and closed 14:00: b was planned
    // from the opening, so the new wait counts from there, not from the closing.
    let old = cadence(["0d", "1d", "2d"]);
    let new = cadence(["0d", "1d", "3d"]);
    let old_snapshot = Snapshot::of(&old);
    let calendar = crate::schedule::Calendar::default();
    let time = LeadTime { tz: chrono_tz::UTC, calendar: &calendar };
    let lead = InFlight {
        enrollment_id: 1,
        email: "x@acme.test".into(),
        state: State::Active,
        step: "b".into(),
        due_at: Some(t("2026-03-05T09:00:00Z")),
        planned_at: Some(t("2026-03-05T09:00:00Z")),
        waiting_for_task: false,
        enrolled_at: t("2026-03-02T09:00:00Z"),
        timezone: None,
        fields: Fields::new(),
    };
    let touches = [
        Touch { step: "a".into(), at: t("2026-03-02T09:00:00Z"), closed_at: None },
        Touch { step: "t".into(), at: t("2026-03-03T09:00:00Z"), closed_at: Some(t("2026-03-03T14:00:00Z")) },
    ];
    let mut analysis = Analysis::new(&new, Some(&old_snapshot), t("2026-03-04T00:00:00Z"));
    assert!(analysis.needs_history(&lead));
    analysis.add(&lead, &touches, time, time);
    let plan = analysis.finish(Some(t("2026-03-01T00:00:00Z")));
    assert_eq!(plan.moves.len(), 1);
    assert_eq!(plan.moves[0].to.due(), Some(t("2026-03-06T09:00:00Z")));
    assert_eq!(plan.lines(), ["c: b wait 2d → 3d: 1 lead's next email 1d later"]);
    // Against a version it was not planned with, the latest touch is all there is.
    let other = Snapshot::of(&cadence(["0d", "1d", "5d"]));
    let mut unknown = Analysis::new(&new, Some(&other), t("2026-03-04T00:00:00Z"));
    unknown.add(&lead, &touches, time, time);
    assert_eq!(unknown.finish(None).moves[0].to.due(), Some(t("2026-03-06T14:00:00Z")));
}

#[test]
fn shifts_read_as_people_say_them() {
    let mut counts = Counts { later: 1020, leads: 1020, business_days: Some(Some(1)), ..Counts::default() };
    counts.min_shift = Some(Duration::days(1));
    counts.max_shift = Some(Duration::days(3));
    assert_eq!(shift_phrase(&counts, "email", true), "1,020 leads' next email one business day later");
    counts.business_days = Some(None);
    assert_eq!(shift_phrase(&counts, "email", true), "1,020 leads' next email 1d to 3d later");
    counts.max_shift = counts.min_shift;
    counts.unchanged = 4;
    counts.due_now = 0;
    assert_eq!(shift_phrase(&counts, "call", false), "1,020 leads' next call 1d later, 4 unchanged");
    let earlier = Counts {
        earlier: 1,
        leads: 1,
        min_shift: Some(-Duration::hours(44)),
        max_shift: Some(-Duration::hours(44)),
        business_days: Some(Some(-2)),
        due_now: 1,
        ..Counts::default()
    };
    assert_eq!(shift_phrase(&earlier, "email", false), "1 lead's next email 1d 20h earlier (1 due at once)");
    let mixed = Counts { later: 2, earlier: 3, leads: 5, ..Counts::default() };
    assert_eq!(shift_phrase(&mixed, "email", false), "5 leads' next email moves (2 later, 3 earlier)");
    assert_eq!(grouped(0), "0");
    assert_eq!(grouped(1_234_567), "1,234,567");
    assert_eq!(span(Duration::minutes(90)), "1h 30m");
}
