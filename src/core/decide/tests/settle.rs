//! [`settle`]: how each way a claimed send can end is recorded.

use super::*;
use crate::model::Rejection;

fn claimed(d: &DueStep, on_uncertain: OnUncertain) -> Claimed<'_> {
    Claimed {
        due: d,
        next: Next::Finished,
        reason: Some(Reason::Window),
        on_uncertain,
        mailbox_back_at: t("2026-03-02T09:05:00Z"),
        temporary_bounces: 0,
    }
}

#[test]
fn each_way_a_send_ends_is_recorded_once_and_for_all() {
    let now = t(MONDAY_10);
    let d = due("intro", MONDAY_10);
    let c = || claimed(&d, OnUncertain::Continue);
    let record = |status, detail: Option<&str>, next| Settled::Record {
        status,
        detail: detail.map(str::to_string),
        reason: Some(Reason::Window),
        next,
        suppress: false,
    };
    assert_eq!(settle(Ended::Sent, c(), now), record(Status::Sent, None, Next::Finished));
    assert_eq!(
        settle(Ended::Refused(Rejection::ours("invalid recipient address")), c(), now),
        record(Status::Failed, Some("invalid recipient address"), Next::End(State::Bounced))
    );
    assert_eq!(
        settle(Ended::Uncertain("connection lost".into()), c(), now),
        record(Status::Uncertain, Some("connection lost"), Next::Finished)
    );
    assert_eq!(
        settle(Ended::Unavailable("refused".into()), c(), now),
        Settled::Retry { retry_at: t("2026-03-02T09:05:00Z"), error: "refused".into(), count: false }
    );
    assert_eq!(
        settle(Ended::Temporary("451 later".into()), c(), now),
        Settled::Retry { retry_at: now + Duration::minutes(1), error: "451 later".into(), count: true }
    );
    assert_eq!(settle(Ended::NotTried("stopping".into()), c(), now), Settled::GiveBack);
}

#[test]
fn a_refusal_is_judged_by_why_the_server_refused() {
    let now = t(MONDAY_10);
    let d = due("intro", MONDAY_10);
    let c = || claimed(&d, OnUncertain::Continue);
    // A dead address: bounced everywhere and suppressed.
    let dead = Rejection::smtp(550, "5.1.1 <jane@acme.test>: Recipient address rejected: User unknown");
    let Settled::Record { status, next, suppress, .. } = settle(Ended::Refused(dead), c(), now) else { panic!() };
    assert_eq!((status, next, suppress), (Status::Failed, Next::End(State::Bounced), true));
    // Aimed at the sender: the lead is not blamed, the step is tried again later.
    let blocked =
        Rejection::smtp(554, "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org");
    let Settled::Retry { retry_at, error, count } = settle(Ended::Refused(blocked), c(), now) else {
        panic!("a block list must not bounce the lead")
    };
    assert_eq!((retry_at, count), (now + Duration::minutes(1), true));
    assert!(error.contains("aimed at the sender"), "{error}");
    // Passing trouble: tomorrow; the third time, a dead address.
    let full = Rejection::smtp(552, "5.2.2 <jane@acme.test>: Mailbox full");
    let Settled::Retry { retry_at, .. } = settle(Ended::Refused(full.clone()), c(), now) else { panic!() };
    assert_eq!(retry_at, now + PASSING_RETRY);
    let third = Claimed { temporary_bounces: 2, ..c() };
    let Settled::Record { suppress, detail, .. } = settle(Ended::Refused(full), third, now) else { panic!() };
    assert!(suppress && detail.unwrap_or_default().contains("3rd"));
    // Refused before any server answered (no reply code): failed, this cadence bounced, nothing suppressed.
    let ours = Rejection::ours("invalid recipient address \"x\": missing domain");
    let Settled::Record { suppress, next, .. } = settle(Ended::Refused(ours), c(), now) else { panic!() };
    assert_eq!((suppress, next), (false, Next::End(State::Bounced)));
}

#[test]
fn the_last_temporary_failure_records_the_step_as_failed() {
    let now = t(MONDAY_10);
    let mut d = due("intro", MONDAY_10);
    d.attempts = MAX_ATTEMPTS - 1;
    let Settled::Record { status, detail, next, .. } =
        settle(Ended::Temporary("451 later".into()), claimed(&d, OnUncertain::Continue), now)
    else {
        panic!()
    };
    assert_eq!((status, next), (Status::Failed, Next::Finished));
    assert!(detail.unwrap_or_default().contains("gave up after 100 temporary failures, the last: 451 later"));
}

#[test]
fn an_uncertain_send_holds_the_lead_when_the_cadence_says_so() {
    let now = t(MONDAY_10);
    let d = due("intro", MONDAY_10);
    let Settled::Record { next, .. } = settle(Ended::Uncertain("x".into()), claimed(&d, OnUncertain::Hold), now) else {
        panic!()
    };
    let Next::ThenHold(then, why) = next else { panic!("expected a hold after moving on") };
    assert_eq!(*then, Next::Finished);
    assert!(why.contains("cadenced resume jane@acme.test"), "{why}");
}

#[test]
fn a_refusal_keeps_its_reply_code_and_reads_a_log_written_before_it_did() {
    let kept = Rejection::smtp(550, "5.1.1 <jane@acme.test>: User unknown");
    assert_eq!(kept.to_string(), "permanent error (550): 5.1.1 <jane@acme.test>: User unknown");
    let json = serde_json::to_string(&Ended::Refused(kept.clone())).unwrap();
    assert_eq!(serde_json::from_str::<Ended>(&json).unwrap(), Ended::Refused(kept.clone()));
    // The send log of the version before held the reply as shown.
    let old = r#"{"refused":"permanent error (550): 5.1.1 <jane@acme.test>: User unknown"}"#;
    assert_eq!(serde_json::from_str::<Ended>(old).unwrap(), Ended::Refused(kept));
    let ours = r#"{"refused":"invalid recipient address \"x\": missing domain"}"#;
    assert_eq!(
        serde_json::from_str::<Ended>(ours).unwrap(),
        Ended::Refused(Rejection::ours("invalid recipient address \"x\": missing domain"))
    );
}
