//! The store's domain operations on a real SQLite file.

use super::*;
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
    assert!(s.claim(&due, "email", Some("sales"), now).unwrap().is_some());
    assert!(s.claim(&due, "email", Some("sales"), now).unwrap().is_none(), "second claim of the same step");
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
    let changed = s.change_state("a@x.test", None, Action::Pause, t("2026-03-02T09:59:00Z")).unwrap().unwrap();
    assert_eq!(changed, [Changed { cadence: "c".into(), from: State::Active, to: State::Paused }]);
    assert!(s.claim(&due, "email", Some("sales"), t("2026-03-02T10:00:00Z")).unwrap().is_none());
}

#[test]
fn complete_advances_and_finishes() {
    let (_d, mut s) = store();
    s.enroll_many(&[lead("a@x.test")], t("2026-03-01T00:00:00Z")).unwrap();
    let now = t("2026-03-02T10:00:00Z");
    let due = s.due_steps(now, &["c".into()], 10).unwrap().remove(0);
    let id = s.claim(&due, "email", Some("sales"), now).unwrap().unwrap();
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
    assert_eq!(view.enrollments[0].touchpoints[0].status, "sent");
    assert!(s.interrupted().unwrap().is_empty());
}

#[test]
fn interrupted_lists_sends_left_in_flight() {
    let (_d, mut s) = store();
    s.enroll_many(&[lead("a@x.test")], t("2026-03-01T00:00:00Z")).unwrap();
    let now = t("2026-03-02T10:00:00Z");
    let due = s.due_steps(now, &["c".into()], 10).unwrap().remove(0);
    let id = s.claim(&due, "email", Some("sales"), now).unwrap().unwrap();
    s.set_message_id(id, "<m.1@x>").unwrap();
    // A second connection (a new process) sees it.
    drop(s);
    let s = Store::open(&_d.path().join("c.db")).unwrap();
    let stuck = s.interrupted().unwrap();
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].message_id.as_deref(), Some("<m.1@x>"));
    assert_eq!(stuck[0].due.step, "a");
}

#[test]
fn only_the_sends_behind_the_first_unfinished_one_of_the_group_never_started() {
    let group = SendGroup { boot: Some("b1".into()), first: 10, last: 14 };
    // 10 finished; 11 was under way; 12 and 14 were waiting (13 finished? no: released).
    assert_eq!(never_started(&[11, 12, 14], Some(&group), Some("b1")), [12, 14]);
    // A send of an older group, still `sending`, is not part of this one.
    assert_eq!(never_started(&[3, 11, 12], Some(&group), Some("b1")), [12]);
    // After a reboot, commits made without an fsync may be lost: all may have left.
    assert!(never_started(&[11, 12, 14], Some(&group), Some("b2")).is_empty());
    assert!(never_started(&[11, 12], Some(&group), None).is_empty());
    let unknown = SendGroup { boot: None, ..group.clone() };
    assert!(never_started(&[11, 12], Some(&unknown), None).is_empty());
    assert!(never_started(&[11, 12], None, Some("b1")).is_empty());
    assert_eq!(SendGroup::parse(&group.to_string()), Some(group));
    assert_eq!(SendGroup::parse(&unknown.to_string()), Some(unknown));
    assert_eq!(SendGroup::parse("b1 x 3"), None);
}

#[test]
fn a_group_claimed_in_one_commit_is_recovered_send_by_send() {
    let (dir, mut s) = store();
    let now = t("2026-03-02T10:00:00Z");
    s.enroll_many(&[lead("a@x.test"), lead("b@x.test"), lead("c@x.test")], t("2026-03-01T00:00:00Z")).unwrap();
    let due = s.due_steps(now, &["c".into()], 10).unwrap();
    let group: Vec<(&DueStep, &str)> = due.iter().map(|d| (d, "sales")).collect();
    let claimed = s.claim_emails(&group, now, |i, id| format!("<{i}.{id}@x.test>")).unwrap();
    let ids: Vec<i64> = claimed.iter().map(|c| c.as_ref().unwrap().0).collect();
    assert_eq!(claimed[1].as_ref().unwrap().1, format!("<1.{}@x.test>", ids[1]));
    // Claimed once: a second claim of the same steps gets nothing.
    assert!(s.claim_emails(&group, now, |_, _| String::new()).unwrap().iter().all(Option::is_none));
    // The first was sent and recorded, then the process died during the second.
    let sent = Outcome {
        status: Status::Sent,
        at: now,
        message_id: None,
        subject: None,
        body: None,
        detail: None,
        reason: None,
    };
    s.relax_sync(true).unwrap();
    s.complete(ids[0], &sent, &Next::Finished).unwrap();
    drop(s);

    let mut s = Store::open(&dir.path().join("c.db")).unwrap();
    let stuck = s.interrupted().unwrap();
    let flags: Vec<(i64, bool)> = stuck.iter().map(|i| (i.touchpoint_id, i.never_started)).collect();
    if boot_id().is_some() {
        assert_eq!(flags, [(ids[1], false), (ids[2], true)]);
    } else {
        assert_eq!(flags, [(ids[1], false), (ids[2], false)]);
    }
    s.unclaim(&[ids[2]]).unwrap();
    // Given back, c can be claimed again; b, which may have left, cannot.
    let again = s.claim_emails(&group[1..], now, |_, id| id.to_string()).unwrap();
    assert!(again[0].is_none());
    assert!(again[1].is_some());
    s.unclaim(&[again[1].as_ref().unwrap().0]).unwrap();

    // The same state seen from another boot of the machine: both may have left.
    s.conn
        .execute("UPDATE meta SET value = 'other-boot ' || ?1 || ' ' || ?2 WHERE key = 'send_group'", [ids[0], ids[2]])
        .unwrap();
    let stuck = s.interrupted().unwrap();
    assert!(stuck.iter().all(|i| !i.never_started), "{stuck:?}");
    s.group_done().unwrap();
    assert!(s.interrupted().unwrap().iter().all(|i| !i.never_started));
}
