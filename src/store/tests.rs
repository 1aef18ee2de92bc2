//! The store's domain operations on a real SQLite file.

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::*;
use crate::model::{Next, Outcome, Settled, Status};
use crate::time::parse_instant;

fn t(s: &str) -> DateTime<Utc> {
    parse_instant(s).unwrap()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("c.db")).unwrap();
    (dir, store)
}

fn lead(email: &str) -> NewEnrollment {
    NewEnrollment {
        email: email.into(),
        fields: [("first_name".to_string(), "Jane".to_string())].into(),
        timezone: None,
        cadence: "c".into(),
        first_step: "a".into(),
        due_at: t("2026-03-02T09:00:00Z"),
        planned_at: t("2026-03-02T09:00:00Z"),
        reason: None,
        owner: None,
    }
}

#[test]
fn database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, _store) = store();
    let mode = std::fs::metadata(dir.path().join("c.db")).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {mode:o}");
}

#[test]
fn emails_are_unique_case_insensitively() {
    let (_d, mut s) = store();
    let out = s.enroll_many(&[lead("Jane@Acme.test"), lead("jane@acme.TEST")], t("2026-03-01T00:00:00Z")).unwrap();
    assert_eq!(out, [EnrollOutcome::Enrolled, EnrollOutcome::AlreadyEnrolled(State::Active)]);
    assert!(s.lead("JANE@ACME.TEST").unwrap().is_some());
}

#[test]
fn due_reads_only_what_is_due_in_loaded_cadences() {
    let (_d, mut s) = store();
    let mut later = lead("b@x.test");
    later.due_at = t("2026-03-03T09:00:00Z");
    let mut other = lead("c@x.test");
    other.cadence = "gone".into();
    s.enroll_many(&[lead("a@x.test"), later, other], t("2026-03-01T00:00:00Z")).unwrap();
    let due = s.due_steps(t("2026-03-02T10:00:00Z"), &["c".into()], 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].email, "a@x.test");
    assert_eq!(due[0].fields["first_name"], "Jane");
}

#[test]
fn a_step_can_be_claimed_once() {
    let (_d, mut s) = store();
    s.enroll_many(&[lead("a@x.test")], t("2026-03-01T00:00:00Z")).unwrap();
    let due = s.due_steps(t("2026-03-02T10:00:00Z"), &["c".into()], 10).unwrap().remove(0);
    let now = t("2026-03-02T10:00:00Z");
    assert!(s.claim(&due, "email", Some("sales"), None, now).unwrap().is_some());
    assert!(s.claim(&due, "email", Some("sales"), None, now).unwrap().is_none(), "second claim of the same step");
    // Even bypassing the enrollment check, the UNIQUE constraint refuses a second touchpoint.
    let dup = s.conn.execute(
        "INSERT INTO touchpoints (enrollment_id, lead_id, cadence, step, kind, status, at) VALUES (?1, ?2, 'c', 'a', 'email', 'sent', 0)",
        params![due.enrollment_id, due.lead_id],
    );
    assert!(dup.is_err());
}

#[test]
fn paused_enrollment_cannot_be_claimed() {
    let (_d, mut s) = store();
    s.enroll_many(&[lead("a@x.test")], t("2026-03-01T00:00:00Z")).unwrap();
    let due = s.due_steps(t("2026-03-02T10:00:00Z"), &["c".into()], 10).unwrap().remove(0);
    let changed = s.change_state("a@x.test", None, Change::Pause, t("2026-03-02T09:59:00Z")).unwrap().unwrap();
    assert_eq!(changed, [Changed { cadence: "c".into(), from: State::Active, to: State::Paused }]);
    assert!(s.claim(&due, "email", Some("sales"), None, t("2026-03-02T10:00:00Z")).unwrap().is_none());
}

#[test]
fn complete_advances_and_finishes() {
    let (_d, mut s) = store();
    s.enroll_many(&[lead("a@x.test")], t("2026-03-01T00:00:00Z")).unwrap();
    let now = t("2026-03-02T10:00:00Z");
    let due = s.due_steps(now, &["c".into()], 10).unwrap().remove(0);
    let id = s.claim(&due, "email", Some("sales"), None, now).unwrap().unwrap();
    let outcome = Outcome {
        status: Status::Sent,
        at: now,
        message_id: Some("<m>".into()),
        subject: None,
        body: None,
        detail: None,
        reason: None,
    };
    s.complete(
        id,
        &outcome,
        &Next::Step {
            id: "b".into(),
            due_at: t("2026-03-04T10:00:00Z"),
            planned_at: t("2026-03-04T10:00:00Z"),
            reason: None,
        },
    )
    .unwrap();
    let view = s.lead("a@x.test").unwrap().unwrap();
    assert_eq!(view.enrollments[0].next_step.as_deref(), Some("b"));
    assert_eq!(view.enrollments[0].touchpoints[0].status, Status::Sent);
    assert!(s.interrupted().unwrap().is_empty());
}

#[test]
fn interrupted_lists_sends_left_in_flight() {
    let (_d, mut s) = store();
    s.enroll_many(&[lead("a@x.test")], t("2026-03-01T00:00:00Z")).unwrap();
    let now = t("2026-03-02T10:00:00Z");
    let due = s.due_steps(now, &["c".into()], 10).unwrap().remove(0);
    let send = NewSend {
        due: &due,
        mailbox: "sales",
        domain: "x",
        content: Content { subject: Some("Hi"), body: "b" },
        variant: None,
    };
    let (claimed, _) = s.commit_group(&[], &[], std::slice::from_ref(&send), now).unwrap();
    let id = claimed[0].as_ref().unwrap().0;
    let message_id = format!("<{}.{id}@x>", s.instance());
    // A second connection (a new process) sees it.
    drop(s);
    let s = Store::open(&_d.path().join("c.db")).unwrap();
    let stuck = s.interrupted().unwrap();
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(stuck[0].due.step, "a");
}

#[test]
fn a_group_is_claimed_and_its_outcomes_recorded_with_the_next_claim() {
    let (_d, mut s) = store();
    let now = t("2026-03-02T10:00:00Z");
    let leads = [lead("a@x.test"), lead("b@x.test"), lead("c@x.test"), lead("d@x.test")];
    s.enroll_many(&leads, t("2026-03-01T00:00:00Z")).unwrap();
    let due = s.due_steps(now, &["c".into()], 10).unwrap();
    let first: Vec<NewSend<'_>> = due[..3]
        .iter()
        .map(|d| NewSend {
            due: d,
            mailbox: "sales",
            domain: "x.test",
            content: Content { subject: Some("Hi"), body: "b" },
            variant: None,
        })
        .collect();
    let (claimed, group) = s.commit_group(&[], &[], &first, now).unwrap();
    let group = group.unwrap();
    let ids: Vec<i64> = claimed.iter().map(|c| c.as_ref().unwrap().0).collect();
    assert_eq!((group.first, group.last), (ids[0], ids[2]));
    assert_eq!(claimed[1].as_ref().unwrap().1, format!("<{}.{}@x.test>", s.instance(), ids[1]));
    assert_eq!(s.send_groups().unwrap(), std::slice::from_ref(&group));
    // Claimed once: claiming the same steps again gets nothing, and no group.
    let (again, none) = s.commit_group(&[], std::slice::from_ref(&group), &first, now).unwrap();
    assert!(again.iter().all(Option::is_none));
    assert!(none.is_none());

    // The next claim records the first group's outcomes: a sent, b given back, c to retry.
    let settled = |i: usize, settled| Settlement {
        touchpoint_id: ids[i],
        enrollment_id: due[i].enrollment_id,
        at: now,
        settled,
        refusal: None,
    };
    let records = [
        settled(
            0,
            Settled::Record { status: Status::Sent, detail: None, reason: None, next: Next::Finished, suppress: false },
        ),
        settled(1, Settled::GiveBack),
        settled(2, Settled::Retry { retry_at: t("2026-03-02T11:00:00Z"), error: "421 try later".into(), count: true }),
    ];
    let second: Vec<NewSend<'_>> = due[3..]
        .iter()
        .map(|d| NewSend {
            due: d,
            mailbox: "sales",
            domain: "x.test",
            content: Content { subject: Some("Hi"), body: "b" },
            variant: None,
        })
        .collect();
    let (claimed, group2) = s.commit_group(&records, &[], &second, now).unwrap();
    assert!(claimed[0].is_some());
    assert_eq!(s.send_groups().unwrap(), [group2.unwrap()]);
    let stuck: Vec<String> = s.interrupted().unwrap().into_iter().map(|i| i.due.email).collect();
    assert_eq!(stuck, ["d@x.test"]);
    let a = s.lead("a@x.test").unwrap().unwrap();
    assert_eq!(a.enrollments[0].state, State::Finished);
    let still_due: Vec<String> = s.due_steps(now, &["c".into()], 10).unwrap().into_iter().map(|d| d.email).collect();
    assert_eq!(still_due, ["b@x.test", "d@x.test"], "b is due again; c waits for its retry; d is claimed");
}

#[test]
fn leads_filters_use_an_index_not_a_scan() {
    let (_d, s) = store();
    let plan = |conditions: &str| -> String {
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT l.email FROM enrollments e JOIN leads l ON l.id = e.lead_id
             WHERE {conditions} ORDER BY l.email, e.cadence"
        );
        let mut stmt = s.conn.prepare(&sql).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
    };
    let owner = plan("e.owner = 'rep@x.test' AND e.state = 'paused'");
    assert!(owner.contains("enrollments_owner_state (owner=? AND state=?)"), "{owner}");
    let cadence = plan("e.cadence = 'c' AND e.state = 'paused'");
    assert!(cadence.contains("enrollments_cadence_state (cadence=? AND state=?)"), "{cadence}");
}

#[test]
fn migration_lowercases_owners_written_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.db");
    let migrations = schema::migrations();
    {
        let mut conn = Connection::open(&path).unwrap();
        migrations.to_version(&mut conn, 4).unwrap();
        conn.execute_batch(
            "INSERT INTO leads (id, email, created_at, updated_at) VALUES (1, 'a@x.test', 0, 0);
             INSERT INTO enrollments (lead_id, cadence, state, enrolled_at, updated_at, owner)
             VALUES (1, 'c', 'paused', 0, 0, 'Rep@X.test');",
        )
        .unwrap();
    }
    let s = Store::open(&path).unwrap();
    let mut found = Vec::new();
    let filter = LeadFilter { state: Some(State::Paused), owner: Some("REP@x.TEST"), cadence: None };
    s.for_each_lead(&filter, |r| -> Result<()> {
        found.push(r.email.clone());
        Ok(())
    })
    .unwrap();
    assert_eq!(found, ["a@x.test"]);
}

/// The indexes of `enrollments` as the schema holds them.
fn enrollment_indexes(s: &Store) -> Vec<(String, Option<String>)> {
    let mut stmt = s
        .conn
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'enrollments' ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect()
}

#[test]
fn a_bulk_load_leaves_the_same_indexes_whether_it_commits_or_not() {
    let (_d, mut s) = store();
    let indexes = enrollment_indexes(&s);
    assert!(indexes.len() >= 4, "{indexes:?}");
    let now = t("2026-03-01T00:00:00Z");

    let mut enrolling = s.begin_enrolling(now, true).unwrap();
    assert_eq!(enrolling.add(&lead("a@x.test")).unwrap(), EnrollOutcome::Enrolled);
    drop(enrolling);
    assert_eq!(enrollment_indexes(&s), indexes, "rolled back");
    assert_eq!(s.counts().unwrap().iter().map(|(_, n)| n).sum::<i64>(), 0, "nothing written");

    let mut enrolling = s.begin_enrolling(now, true).unwrap();
    for email in ["a@x.test", "b@x.test", "A@X.test"] {
        enrolling.add(&lead(email)).unwrap();
    }
    enrolling.commit().unwrap();
    assert_eq!(enrollment_indexes(&s), indexes, "built again");
    let due = s.due_steps(t("2026-03-02T10:00:00Z"), &["c".into()], 10).unwrap();
    assert_eq!(due.iter().map(|d| d.email.as_str()).collect::<Vec<_>>(), ["a@x.test", "b@x.test"]);
    let check: String = s.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    // The counts the trigger keeps were made at the commit, and the trigger is back.
    assert_eq!(s.enrollment_states(None).unwrap(), [("c".to_string(), State::Active, 2)]);

    // Not empty any more: a second load keeps its indexes (and the trigger) all along.
    let mut enrolling = s.begin_enrolling(now, true).unwrap();
    assert!(enrolling.rebuild.is_empty());
    enrolling.add(&lead("c@x.test")).unwrap();
    enrolling.commit().unwrap();
    assert_eq!(s.enrollment_states(None).unwrap(), [("c".to_string(), State::Active, 3)]);
}

#[test]
fn enrollments_waiting_for_their_batch_are_seen_by_later_rows() {
    let (_d, mut s) = store();
    let mut rows: Vec<_> = (0..100).map(|i| lead(&format!("l{i}@x.test"))).collect();
    // The same lead again, in the same cadence (pending or flushed) and in another one.
    rows.push(lead("L99@x.test"));
    rows.push(lead("l3@x.test"));
    let mut other = lead("l98@x.test");
    other.cadence = "other".into();
    other.fields.insert("company".into(), "Acme".into());
    rows.push(other);
    let out = s.enroll_many(&rows, t("2026-03-01T00:00:00Z")).unwrap();
    assert!(out[..100].iter().all(|o| *o == EnrollOutcome::Enrolled));
    assert_eq!(
        out[100..],
        [
            EnrollOutcome::AlreadyEnrolled(State::Active),
            EnrollOutcome::AlreadyEnrolled(State::Active),
            EnrollOutcome::Enrolled
        ]
    );
    let lead = s.lead("l98@x.test").unwrap().unwrap();
    assert_eq!(lead.enrollments.len(), 2);
    assert_eq!(lead.fields["company"], "Acme");
    assert_eq!(s.counts().unwrap(), [("active".to_string(), 101)]);
}
