//! What each kind of inbound message does, how old mail is told apart, and
//! how a bounce is judged by its reason.

use super::*;
use crate::inbound::BounceReason as Reason;
use crate::time::parse_instant;

fn t(s: &str) -> DateTime<Utc> {
    parse_instant(s).unwrap()
}

fn msg(kind: Kind) -> Classified {
    Classified {
        kind,
        recipients: vec![],
        from: Some("jane@acme.test".into()),
        subject: None,
        message_id: None,
        in_reply_to: vec![],
        original_message_ids: vec![],
        unattributed: None,
        return_date: None,
        list_unsubscribe_to: false,
    }
}

fn facts(cal: &Calendar) -> LeadFacts<'_> {
    LeadFacts {
        email: "jane@acme.test".into(),
        running: vec![Running {
            cadence: "seven-touch".into(),
            enrolled_at: t("2026-03-01T09:00:00Z"),
            stops_on_reply: true,
        }],
        first_enrolled: Some(t("2026-03-01T09:00:00Z")),
        temporary_bounces: 0,
        tz: chrono_tz::Europe::Berlin,
        calendar: cal,
    }
}

const NOW: &str = "2026-03-02T10:00:00Z";

fn by(matched: Matched) -> Arrival {
    Arrival { matched, at: t(NOW) }
}

fn bounced(reason: Reason, permanent: bool, status: &str) -> Classified {
    let mut b = msg(Kind::Bounce);
    b.recipients = vec![Recipient {
        address: "jane@acme.test".into(),
        permanent,
        reason,
        status: Some(status.into()),
        original: None,
    }];
    b
}

#[test]
fn each_kind_has_its_effect() {
    let cal = Calendar::default();
    let now = t(NOW);
    let three_days = Wait::Days(3);
    let f = facts(&cal);
    let decide = |m: &Classified| decide(m, &f, by(Matched::Address), now, &three_days).0;
    assert_eq!(decide(&msg(Kind::Reply)), Effect::Replied { cadences: vec!["seven-touch".into()] });
    assert_eq!(decide(&msg(Kind::AutoReply)), Effect::Away { until: t("2026-03-05T10:00:00Z") });
    let mut ooo = msg(Kind::AutoReply);
    ooo.return_date = chrono::NaiveDate::from_ymd_opt(2026, 3, 12);
    assert_eq!(decide(&ooo), Effect::Away { until: t("2026-03-11T23:00:00Z") }, "midnight Berlin");
    assert_eq!(decide(&msg(Kind::Unsubscribe)), Effect::Suppress { state: State::Unsubscribed });
    assert_eq!(decide(&msg(Kind::Complaint)), Effect::Suppress { state: State::Unsubscribed });
    assert_eq!(decide(&msg(Kind::Other)), Effect::None);
}

#[test]
fn mail_to_the_unsubscribe_address_unsubscribes_whatever_it_says() {
    let cal = Calendar::default();
    let (e, detail) = decide(&msg(Kind::Reply), &facts(&cal), by(Matched::Token), t(NOW), &Wait::Days(3));
    assert_eq!(e, Effect::Suppress { state: State::Unsubscribed });
    assert!(detail.contains("unsubscribe address"), "{detail}");
}

#[test]
fn old_mail_matched_only_by_address_stops_no_new_lead() {
    let cal = Calendar::default();
    let old = Arrival { matched: Matched::Address, at: t("2026-02-20T09:00:00Z") };
    let (e, detail) = decide(&msg(Kind::Reply), &facts(&cal), old, t(NOW), &Wait::Days(3));
    assert_eq!(e, Effect::None);
    assert!(detail.contains("before the lead's enrollment"), "{detail}");
    // The same bounce or unsubscribe is ignored too.
    let (e, _) = decide(&bounced(Reason::Userunknown, true, "5.1.1"), &facts(&cal), old, t(NOW), &Wait::Days(3));
    assert_eq!(e, Effect::None);
    // Naming an email cadenced sent, it always counts.
    let named = Arrival { matched: Matched::MessageId, at: t("2026-02-20T09:00:00Z") };
    let (e, _) = decide(&msg(Kind::Reply), &facts(&cal), named, t(NOW), &Wait::Days(3));
    assert_eq!(e, Effect::Replied { cadences: vec!["seven-touch".into()] });
}

#[test]
fn a_reply_by_address_stops_only_the_cadences_it_came_after() {
    let cal = Calendar::default();
    let mut f = facts(&cal);
    f.running.push(Running { cadence: "nurture".into(), enrolled_at: t("2026-03-02T09:30:00Z"), stops_on_reply: true });
    let between = Arrival { matched: Matched::Address, at: t("2026-03-02T09:00:00Z") };
    let (e, _) = decide(&msg(Kind::Reply), &f, between, t(NOW), &Wait::Days(3));
    assert_eq!(e, Effect::Replied { cadences: vec!["seven-touch".into()] });
    f.running[0].stops_on_reply = false;
    let (e, _) = decide(&msg(Kind::Reply), &f, between, t(NOW), &Wait::Days(3));
    assert_eq!(e, Effect::None);
}

#[test]
fn a_bounce_is_judged_by_its_reason() {
    let cal = Calendar::default();
    let judge = |m: &Classified| decide(m, &facts(&cal), by(Matched::MessageId), t(NOW), &Wait::Days(3));
    let (e, _) = judge(&bounced(Reason::Userunknown, true, "5.1.1"));
    assert_eq!(e, Effect::Suppress { state: State::Bounced }, "a dead address");
    let (e, detail) = judge(&bounced(Reason::Blocked, false, "5.7.1"));
    assert_eq!(e, Effect::Noted, "a block list never blames the lead");
    assert!(detail.contains("aimed at the sender") && detail.contains("blocked 5.7.1"), "{detail}");
    let (e, _) = judge(&bounced(Reason::Spamdetected, false, "5.7.1"));
    assert_eq!(e, Effect::Noted);
    let (e, detail) = judge(&bounced(Reason::Mailboxfull, false, "5.2.2"));
    assert_eq!(e, Effect::Noted, "a full mailbox is passing trouble");
    assert!(detail.contains("(1 so far)"), "{detail}");
}

#[test]
fn the_third_temporary_bounce_counts_as_a_dead_address() {
    let cal = Calendar::default();
    let now = t(NOW);
    let full = bounced(Reason::Mailboxfull, false, "4.2.2");
    let mut f = facts(&cal);
    assert_eq!(decide(&full, &f, by(Matched::MessageId), now, &Wait::Days(3)).0, Effect::Noted);
    f.temporary_bounces = 2;
    assert_eq!(
        decide(&full, &f, by(Matched::MessageId), now, &Wait::Days(3)).0,
        Effect::Suppress { state: State::Bounced }
    );
    // Refusals aimed at the sender never add up to blaming the lead.
    let blocked = bounced(Reason::Blocked, false, "5.7.1");
    assert_eq!(decide(&blocked, &f, by(Matched::MessageId), now, &Wait::Days(3)).0, Effect::Noted);
}

#[test]
fn a_bounce_naming_no_recipient_is_judged_for_the_lead_its_message_id_names() {
    let cal = Calendar::default();
    let mut b = msg(Kind::Bounce);
    b.unattributed = Some(crate::inbound::Unattributed { reason: Reason::Userunknown, status: Some("5.1.1".into()) });
    // Matched by address (the sender's), nothing is attributed.
    let mut by_address = b.clone();
    attribute_bounce(&mut by_address, "jane@acme.test", Matched::Address);
    assert!(by_address.recipients.is_empty());
    assert_eq!(decide(&by_address, &facts(&cal), by(Matched::MessageId), t(NOW), &Wait::Days(3)).0, Effect::Noted);
    // Matched by the returned Message-ID: the notice's verdict is the lead's.
    attribute_bounce(&mut b, "Jane@Acme.test", Matched::MessageId);
    assert_eq!(b.recipients.len(), 1);
    assert_eq!(b.recipients[0].address, "jane@acme.test");
    assert!(b.recipients[0].permanent);
    let (effect, detail) = decide(&b, &facts(&cal), by(Matched::MessageId), t(NOW), &Wait::Days(3));
    assert_eq!(effect, Effect::Suppress { state: State::Bounced }, "{detail}");
    // A passing verdict stays passing; recipients already read are left alone.
    let mut full = msg(Kind::Bounce);
    full.unattributed =
        Some(crate::inbound::Unattributed { reason: Reason::Mailboxfull, status: Some("4.2.2".into()) });
    attribute_bounce(&mut full, "jane@acme.test", Matched::MessageId);
    assert!(!full.recipients[0].permanent);
    let mut read = bounced(Reason::Mailboxfull, false, "5.2.2");
    read.unattributed = Some(crate::inbound::Unattributed { reason: Reason::Userunknown, status: None });
    attribute_bounce(&mut read, "jane@acme.test", Matched::MessageId);
    assert_eq!(read.recipients.len(), 1);
    assert_eq!(read.recipients[0].reason, Reason::Mailboxfull);
}
