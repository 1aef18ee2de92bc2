//! One test per rule of [`decide`], one for how the rules rank, and one per
//! way a send can end.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::cadence::{Cadence, Fields};
use crate::config::Config;
use crate::model::{Sent, reply_subject};
use crate::schedule::Calendar;
use crate::time::parse_instant;

mod settle;

fn t(s: &str) -> DateTime<Utc> {
    parse_instant(s).unwrap()
}

fn config() -> Config {
    Config::parse(
        Path::new("/p/config.toml"),
        "timezone = \"Europe/Berlin\"\n[mailboxes.sales]\nfrom = \"a@seller.test\"\noutbox = \"o\"\n",
    )
    .unwrap()
}

/// Emails Monday to Friday 09:00-16:59 Berlin; an email, a blocking call
/// that expires, a non-blocking LinkedIn step, a last email; `late_after`.
const CADENCE: &str = r#"
window = "0 * 9-16 * * Mon-Fri"
late_after = "2d"
[[steps]]
id = "intro"
wait = "0d"
kind = "email"
subject = "Hi {{ first_name }}"
body = "Hello {{ first_name }}"
[[steps]]
id = "call"
wait = "1d"
kind = "call"
body = "Call {{ first_name }}"
auto_skip_after = "2bd"
[[steps]]
id = "like"
wait = "1d"
kind = "linkedin"
body = "Like a post"
blocking = false
[[steps]]
id = "bump"
wait = "2d"
kind = "email"
body = "Still there, {{ first_name }}?"
"#;

fn cadence(config: &Config) -> Cadence {
    Cadence::parse(Path::new("/p/cadences/c.toml"), CADENCE, config).unwrap()
}

/// Monday 2026-03-02 10:00 Berlin: inside the window.
const MONDAY_10: &str = "2026-03-02T09:00:00Z";

fn due(step: &str, at: &str) -> DueStep {
    let fields: Fields = [("first_name".to_string(), "Jane".to_string())].into();
    DueStep {
        enrollment_id: 1,
        lead_id: 1,
        email: "jane@acme.test".into(),
        fields,
        timezone: None,
        cadence: "c".into(),
        step: step.into(),
        due_at: t(at),
        planned_at: t(at),
        reason: None,
        attempts: 0,
        owner: None,
        task_id: None,
    }
}

fn caps() -> Caps {
    Caps { daily_limit: None, min_gap: None, tz: chrono_tz::Europe::Berlin }
}

fn mailbox() -> MailboxFacts {
    MailboxFacts { down: None, paused: None, inbox: Inbox::Fresh, caps: caps(), load: None }
}

fn facts<'a>(cadence: &'a Cadence, cal: &'a Calendar) -> Facts<'a> {
    Facts {
        cadence: Some(cadence),
        lead: LeadTime { tz: chrono_tz::Europe::Berlin, calendar: cal },
        touched: &[],
        thread: &[],
        downtime_after: Duration::minutes(2),
        mailbox: Some(mailbox()),
        still_active: true,
        winner: None,
    }
}

/// The step `next` names, and when it is due.
fn next_step(next: &Next) -> (&str, DateTime<Utc>) {
    match next {
        Next::Step { id, due_at, .. } => (id, *due_at),
        other => panic!("expected a next step, got {other:?}"),
    }
}

#[test]
fn rule_15_an_email_in_its_window_with_nothing_against_it_is_sent() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let now = t(MONDAY_10);
    let Action::Send { rendered, next, reason, .. } = decide(&due("intro", MONDAY_10), &facts(&c, &cal), now) else {
        panic!("expected a send");
    };
    assert_eq!(rendered.subject.as_deref(), Some("Hi Jane"));
    assert_eq!(rendered.body, "Hello Jane");
    assert_eq!(next_step(&next), ("call", t("2026-03-03T09:00:00Z")), "the call a day later");
    assert_eq!(reason, None);
}

#[test]
fn an_email_without_a_subject_replies_in_the_thread_of_the_last_one() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let sent = [
        Sent { message_id: "<i.1@seller.test>".into(), subject: "Hi Jane".into() },
        Sent { message_id: "<i.5@seller.test>".into(), subject: "Re: Hi Jane".into() },
    ];
    let f = Facts { thread: &sent, ..facts(&c, &cal) };
    let Action::Send { rendered, reply, .. } = decide(&due("bump", MONDAY_10), &f, t(MONDAY_10)) else { panic!() };
    assert_eq!(rendered.subject.as_deref(), Some("Re: Hi Jane"), "never Re: Re:");
    assert_eq!(rendered.body, "Still there, Jane?");
    let reply = reply.expect("in reply to the thread");
    assert_eq!(reply.in_reply_to, "<i.5@seller.test>");
    assert_eq!(reply.references, ["<i.1@seller.test>", "<i.5@seller.test>"]);
    // Nothing was sent before (the intro was skipped): it opens the thread with the intro's subject.
    let Action::Send { rendered, reply, .. } = decide(&due("bump", MONDAY_10), &facts(&c, &cal), t(MONDAY_10)) else {
        panic!()
    };
    assert_eq!((rendered.subject.as_deref(), reply), (Some("Hi Jane"), None));
    // An email step that has a subject is not a reply, whatever was sent before.
    let f = Facts { thread: &sent, ..facts(&c, &cal) };
    let Action::Send { rendered, reply, .. } = decide(&due("intro", MONDAY_10), &f, t(MONDAY_10)) else { panic!() };
    assert_eq!((rendered.subject.as_deref(), reply), (Some("Hi Jane"), None));
    assert_eq!(reply_subject("RE: re:  Hi"), "Re: Hi");
}

#[test]
fn rule_1_a_cadence_that_is_not_loaded_leaves_its_lead_alone() {
    let cal = Calendar::default();
    let config = config();
    let c = cadence(&config);
    let f = Facts { cadence: None, ..facts(&c, &cal) };
    assert_eq!(decide(&due("intro", MONDAY_10), &f, t(MONDAY_10)), Action::Nothing);
}

#[test]
fn rule_2_a_removed_step_is_skipped_and_the_lead_goes_on_after_its_last_step() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let touched = ["intro".to_string(), "call".to_string()];
    let f = Facts { touched: &touched, ..facts(&c, &cal) };
    let now = t(MONDAY_10);
    let Action::Skip { kind, reason, detail, next } = decide(&due("gone", MONDAY_10), &f, now) else {
        panic!("expected a skip");
    };
    assert_eq!((kind, reason), ("removed", Reason::Removed));
    assert!(detail.contains("\"gone\" was removed"), "{detail}");
    assert_eq!(next_step(&next).0, "like", "the first step after the last one it had");
    let all: Vec<String> = c.steps.iter().map(|s| s.id.clone()).collect();
    let f = Facts { touched: &all, ..facts(&c, &cal) };
    let Action::Skip { next, .. } = decide(&due("gone", MONDAY_10), &f, now) else { panic!() };
    assert_eq!(next, Next::Finished, "nothing left to have");
}

#[test]
fn rule_3_a_blocking_task_nobody_closed_expires_and_the_cadence_moves_on() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let mut d = due("call", MONDAY_10);
    d.task_id = Some(42);
    let Action::ExpireTask { task, next } = decide(&d, &facts(&c, &cal), t(MONDAY_10)) else {
        panic!("expected the task to expire");
    };
    assert_eq!(task, 42);
    assert_eq!(next_step(&next).0, "like");
}

#[test]
fn rule_5_a_template_that_does_not_render_holds_the_lead() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let mut d = due("intro", MONDAY_10);
    d.fields.clear();
    let Action::Hold { reason } = decide(&d, &facts(&c, &cal), t(MONDAY_10)) else { panic!("expected a hold") };
    assert!(reason.contains("uses first_name that the lead lacks"), "{reason}");
}

#[test]
fn rule_6_a_step_past_late_after_is_skipped_as_late() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    // Planned Monday 10:00, found Thursday 10:00: more than 2d late.
    let now = t("2026-03-05T09:00:00Z");
    let Action::Skip { kind, reason, detail, next } = decide(&due("intro", MONDAY_10), &facts(&c, &cal), now) else {
        panic!("expected a skip");
    };
    assert_eq!((kind, reason), ("email", Reason::Late));
    assert!(detail.contains("late_after = 2d"), "{detail}");
    assert_eq!(next_step(&next).0, "call");
}

#[test]
fn rule_7_a_manual_step_opens_a_task_that_holds_the_cadence_unless_not_blocking() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let now = t(MONDAY_10);
    let Action::OpenTask { body, next, reason, .. } = decide(&due("call", MONDAY_10), &facts(&c, &cal), now) else {
        panic!("expected a task");
    };
    assert_eq!(body, "Call Jane");
    assert_eq!(reason, None);
    assert_eq!(next, Next::Block { until: Some(t("2026-03-04T09:00:00Z")) }, "expires 2bd after it opened");
    let Action::OpenTask { next, .. } = decide(&due("like", MONDAY_10), &facts(&c, &cal), now) else { panic!() };
    assert_eq!(next_step(&next).0, "bump", "a non-blocking task lets the next wait start now");
}

#[test]
fn rule_7_a_manual_step_ignores_the_window() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let saturday = "2026-03-07T20:00:00Z";
    assert!(matches!(decide(&due("call", saturday), &facts(&c, &cal), t(saturday)), Action::OpenTask { .. }));
}

#[test]
fn rule_8_an_email_outside_its_window_waits_for_the_next_slot() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let evening = "2026-03-02T18:00:00Z";
    let action = decide(&due("intro", evening), &facts(&c, &cal), t(evening));
    assert_eq!(action, Action::Postpone { until: t("2026-03-03T08:00:00Z"), reason: Reason::Window });
    // Found an hour after it fell due: the daemon was down.
    let action = decide(&due("intro", "2026-03-02T17:00:00Z"), &facts(&c, &cal), t(evening));
    assert_eq!(action, Action::Postpone { until: t("2026-03-03T08:00:00Z"), reason: Reason::Downtime });
}

#[test]
fn rule_8_a_slot_past_late_after_skips_the_email_as_late() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    // Planned Friday 16:00, found Friday 18:00: the next slot, Monday 09:00, is past 2d.
    let planned = "2026-03-06T15:00:00Z";
    let mut d = due("intro", planned);
    d.due_at = t("2026-03-06T17:00:00Z");
    let action = decide(&d, &facts(&c, &cal), t("2026-03-06T17:00:00Z"));
    assert!(matches!(action, Action::Skip { reason: Reason::Late, .. }), "{action:?}");
}

#[test]
fn rule_9_a_mailbox_that_is_not_configured_sends_nothing() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let f = Facts { mailbox: None, ..facts(&c, &cal) };
    assert_eq!(decide(&due("intro", MONDAY_10), &f, t(MONDAY_10)), Action::Nothing);
}

#[test]
fn rule_10_a_mailbox_that_paused_itself_defers_until_a_person_resumes_it() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let now = t(MONDAY_10);
    let paused = MailboxFacts { paused: Some("5 refusals aimed at the sender in 1h".into()), ..mailbox() };
    let f = Facts { mailbox: Some(paused), ..facts(&c, &cal) };
    let why = Deferral::MailboxPaused("5 refusals aimed at the sender in 1h".into());
    assert_eq!(
        decide(&due("intro", MONDAY_10), &f, now),
        Action::Defer { until: now + PAUSED_RECHECK, why: why.clone() }
    );
    assert_eq!(why.describe(), "mailbox paused: 5 refusals aimed at the sender in 1h", "the cause goes into status");
}

#[test]
fn rule_11_an_unreachable_mailbox_defers_until_its_next_attempt() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let now = t(MONDAY_10);
    let back = now + Duration::minutes(4);
    let down = |until| Some((until, "connection refused".to_string()));
    let f = Facts { mailbox: Some(MailboxFacts { down: down(back), ..mailbox() }), ..facts(&c, &cal) };
    assert_eq!(
        decide(&due("intro", MONDAY_10), &f, now),
        Action::Defer { until: back, why: Deferral::MailboxUnavailable("connection refused".into()) }
    );
    // An outage whose retry time has come does not hold the send back.
    let f = Facts { mailbox: Some(MailboxFacts { down: down(now), ..mailbox() }), ..facts(&c, &cal) };
    assert!(matches!(decide(&due("intro", MONDAY_10), &f, now), Action::Send { .. }));
}

#[test]
fn rule_12_an_unreadable_inbox_defers_for_at_least_a_minute() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let now = t(MONDAY_10);
    let unreadable = |retry_at| Facts {
        mailbox: Some(MailboxFacts { inbox: Inbox::Unreadable { retry_at, why: "TLS: bad".into() }, ..mailbox() }),
        ..facts(&c, &cal)
    };
    let why = Deferral::InboxUnreadable("TLS: bad".into());
    assert_eq!(
        decide(&due("intro", MONDAY_10), &unreadable(None), now),
        Action::Defer { until: now + Duration::minutes(1), why: why.clone() }
    );
    assert_eq!(why.describe(), "inbox unreadable: TLS: bad", "the cause goes into status");
    let later = now + Duration::minutes(8);
    assert_eq!(decide(&due("intro", MONDAY_10), &unreadable(Some(later)), now), Action::Defer { until: later, why });
}

#[test]
fn rule_13_a_lead_the_inbox_just_stopped_gets_nothing() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let f = Facts { still_active: false, ..facts(&c, &cal) };
    assert_eq!(decide(&due("intro", MONDAY_10), &f, t(MONDAY_10)), Action::Nothing);
}

#[test]
fn rule_14_the_mailbox_caps_postpone_the_email() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let now = t(MONDAY_10);
    let (day, _, midnight) = pacing::local_day(now, chrono_tz::Europe::Berlin);
    let full = MailboxFacts {
        caps: Caps { daily_limit: Some(2), ..caps() },
        load: Some(Load { day, sent: 2, last: None }),
        ..mailbox()
    };
    // The next day's first slot is then up to the window: here the limit is the reason.
    let f = Facts { mailbox: Some(full), ..facts(&c, &cal) };
    assert_eq!(
        decide(&due("intro", MONDAY_10), &f, now),
        Action::Postpone { until: midnight, reason: Reason::DailyLimit }
    );
    let last = now - Duration::seconds(10);
    let gap = MailboxFacts {
        caps: Caps { min_gap: Some(Duration::seconds(60)), ..caps() },
        load: Some(Load { day, sent: 1, last: Some((last, 7)) }),
        ..mailbox()
    };
    let f = Facts { mailbox: Some(gap), ..facts(&c, &cal) };
    let Action::Postpone { until, reason } = decide(&due("intro", MONDAY_10), &f, now) else { panic!() };
    assert_eq!(reason, Reason::MinGap);
    assert!(until >= last + Duration::seconds(60) && until <= last + Duration::seconds(120), "{until}");
    // Under the limit, it goes.
    let room = MailboxFacts {
        caps: Caps { daily_limit: Some(2), ..caps() },
        load: Some(Load { day, sent: 1, last: None }),
        ..mailbox()
    };
    let f = Facts { mailbox: Some(room), ..facts(&c, &cal) };
    assert!(matches!(decide(&due("intro", MONDAY_10), &f, now), Action::Send { .. }));
}

#[test]
fn an_email_found_well_past_its_due_time_records_downtime_as_its_reason() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let Action::Send { reason, .. } = decide(&due("intro", MONDAY_10), &facts(&c, &cal), t("2026-03-02T09:30:00Z"))
    else {
        panic!()
    };
    assert_eq!(reason, Some(Reason::Downtime));
    let mut d = due("intro", MONDAY_10);
    d.reason = Some(Reason::Window);
    let Action::Send { reason, .. } = decide(&d, &facts(&c, &cal), t("2026-03-02T09:01:00Z")) else { panic!() };
    assert_eq!(reason, Some(Reason::Window), "a minute late is the tick interval, not downtime");
}

#[test]
fn the_rules_rank_in_order() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    let now = t(MONDAY_10);
    let down = MailboxFacts {
        down: Some((now + Duration::hours(1), "refused".into())),
        inbox: Inbox::Unreadable { retry_at: None, why: "refused".into() },
        ..mailbox()
    };
    // A removed step is skipped even when its template would not render.
    let mut d = due("gone", MONDAY_10);
    d.fields.clear();
    assert!(matches!(decide(&d, &facts(&c, &cal), now), Action::Skip { reason: Reason::Removed, .. }));
    // An expired task closes even when its body would not render.
    let mut d = due("call", MONDAY_10);
    d.fields.clear();
    d.task_id = Some(7);
    assert!(matches!(decide(&d, &facts(&c, &cal), now), Action::ExpireTask { .. }));
    // A render failure holds before lateness is judged.
    let mut d = due("intro", MONDAY_10);
    d.fields.clear();
    assert!(matches!(decide(&d, &facts(&c, &cal), t("2026-03-09T09:00:00Z")), Action::Hold { .. }));
    // Late beats everything about the mailbox.
    let f = Facts { mailbox: Some(down.clone()), still_active: false, ..facts(&c, &cal) };
    assert!(matches!(
        decide(&due("intro", MONDAY_10), &f, t("2026-03-05T09:00:00Z")),
        Action::Skip { reason: Reason::Late, .. }
    ));
    // The window comes before the mailbox: no outage is waited out outside it.
    let evening = "2026-03-02T18:00:00Z";
    assert!(matches!(decide(&due("intro", evening), &f, t(evening)), Action::Postpone { reason: Reason::Window, .. }));
    // An outage before an unreadable inbox, an unreadable inbox before a stopped lead.
    assert!(matches!(
        decide(&due("intro", MONDAY_10), &f, now),
        Action::Defer { why: Deferral::MailboxUnavailable(_), .. }
    ));
    // A paused mailbox before an outage.
    let paused = MailboxFacts { paused: Some("3 refusals".into()), ..down.clone() };
    let f2 = Facts { mailbox: Some(paused), ..f.clone() };
    assert!(matches!(
        decide(&due("intro", MONDAY_10), &f2, now),
        Action::Defer { why: Deferral::MailboxPaused(_), .. }
    ));
    let f = Facts { mailbox: Some(MailboxFacts { down: None, ..down }), ..f };
    assert!(matches!(
        decide(&due("intro", MONDAY_10), &f, now),
        Action::Defer { why: Deferral::InboxUnreadable(_), .. }
    ));
    // A lead the inbox stopped is not postponed by the caps.
    let (day, _, _) = pacing::local_day(now, chrono_tz::Europe::Berlin);
    let full = MailboxFacts {
        caps: Caps { daily_limit: Some(1), ..caps() },
        load: Some(Load { day, sent: 1, last: None }),
        ..mailbox()
    };
    let f = Facts { mailbox: Some(full), still_active: false, ..facts(&c, &cal) };
    assert_eq!(decide(&due("intro", MONDAY_10), &f, now), Action::Nothing);
}

#[test]
fn a_postponed_step_keeps_the_weightier_reason() {
    let (config, cal) = (config(), Calendar::default());
    let c = cadence(&config);
    // Held by the daily limit into the evening, then outside the window: late because of the limit.
    let evening = "2026-03-02T18:00:00Z";
    let mut d = due("intro", evening);
    d.reason = Some(Reason::DailyLimit);
    assert!(matches!(decide(&d, &facts(&c, &cal), t(evening)), Action::Postpone { reason: Reason::DailyLimit, .. }));
    assert_eq!(Reason::weightier(Some(Reason::Window), Reason::DailyLimit), Reason::DailyLimit);
    assert_eq!(Reason::weightier(Some(Reason::DailyLimit), Reason::Window), Reason::DailyLimit);
    assert_eq!(Reason::weightier(Some(Reason::Downtime), Reason::MinGap), Reason::Downtime);
    assert_eq!(Reason::weightier(Some(Reason::MinGap), Reason::Holiday), Reason::MinGap);
    assert_eq!(Reason::weightier(Some(Reason::Retry), Reason::Window), Reason::Window);
    assert_eq!(Reason::weightier(None, Reason::Holiday), Reason::Holiday);
}

/// The intro has two subject lines and the LinkedIn step a holdout of
/// nearly everyone (so that Jane is surely in it).
fn tested(config: &Config) -> Cadence {
    let text = CADENCE
        .replace("subject = \"Hi {{ first_name }}\"\n", "")
        .replace(
            "body = \"Hello {{ first_name }}\"\n",
            "body = \"Hello {{ first_name }}\"\n[[steps.variants]]\nid = \"a\"\nsubject = \"Hi {{ first_name }}\"\n\
             [[steps.variants]]\nid = \"b\"\nsubject = \"{{ first_name }}, a question\"\n",
        )
        .replace("blocking = false\n", "blocking = false\nholdout = 0.999999\n");
    Cadence::parse(Path::new("/p/cadences/c.toml"), &text, config).unwrap()
}

#[test]
fn a_lead_gets_its_own_variant_and_the_bump_threads_under_it() {
    let (config, cal) = (config(), Calendar::default());
    let c = tested(&config);
    let mine = crate::core::variants::variant_of(&c.steps[0], "jane@acme.test", "c", None).unwrap().to_string();
    let subject = if mine == "a" { "Hi Jane" } else { "Jane, a question" };
    let Action::Send { rendered, variant, .. } = decide(&due("intro", MONDAY_10), &facts(&c, &cal), t(MONDAY_10))
    else {
        panic!("expected a send");
    };
    assert_eq!((variant.as_deref(), rendered.subject.as_deref()), (Some(mine.as_str()), Some(subject)));
    // The intro was skipped (late): the bump opens the thread with the lead's variant's subject.
    let Action::Send { rendered, reply, variant, .. } = decide(&due("bump", MONDAY_10), &facts(&c, &cal), t(MONDAY_10))
    else {
        panic!("expected a send");
    };
    assert_eq!((rendered.subject.as_deref(), reply, variant), (Some(subject), None, None));
    // The winner, once picked, is every lead's.
    let other = if mine == "a" { "b" } else { "a" };
    let f = Facts { winner: Some(other), ..facts(&c, &cal) };
    let Action::Send { variant, .. } = decide(&due("intro", MONDAY_10), &f, t(MONDAY_10)) else { panic!() };
    assert_eq!(variant.as_deref(), Some(other));
}

#[test]
fn rule_4_a_held_out_lead_skips_the_step_and_the_next_wait_counts_from_its_due_time() {
    let (config, cal) = (config(), Calendar::default());
    let c = tested(&config);
    // Found three hours late (downtime): the bump still counts from the due time.
    let due_at = "2026-03-04T09:00:00Z";
    let Action::Skip { kind, reason, detail, next } =
        decide(&due("like", due_at), &facts(&c, &cal), t("2026-03-04T12:00:00Z"))
    else {
        panic!("expected a skip");
    };
    assert_eq!((kind, reason), ("linkedin", Reason::Holdout));
    assert!(detail.contains("holdout = 0.999999"), "{detail}");
    assert_eq!(next_step(&next), ("bump", t("2026-03-06T09:00:00Z")), "two days after the skip's due time");
}
