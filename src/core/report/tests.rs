//! The report's arithmetic, on tallies made by hand.

use super::*;
use crate::time::parse_instant;

fn at(text: &str) -> DateTime<Utc> {
    parse_instant(text).unwrap()
}

#[test]
fn dates_are_the_start_of_the_day_in_the_zone() {
    let berlin = chrono_tz::Europe::Berlin;
    assert_eq!(rfc3339(parse_date("2026-03-02", berlin).unwrap()), "2026-03-01T23:00:00Z");
    assert_eq!(rfc3339(parse_date("2026-07-02", berlin).unwrap()), "2026-07-01T22:00:00Z");
    assert_eq!(rfc3339(parse_date("2026-03-02T09:00:00-05:00", berlin).unwrap()), "2026-03-02T14:00:00Z");
    // Santiago skipped midnight on 2026-09-06: the day starts at 01:00 local.
    let santiago = chrono_tz::America::Santiago;
    assert_eq!(rfc3339(parse_date("2026-09-06", santiago).unwrap()), "2026-09-06T04:00:00Z");
    let err = parse_date("March 2", berlin).unwrap_err().to_string();
    assert!(err.contains("\"March 2\"") && err.contains("YYYY-MM-DD"), "{err}");
    assert!(parse_date("2026-02-30", berlin).is_err());
}

#[test]
fn a_period_is_widened_to_quarter_hours() {
    let p = Period::new(Some(at("2026-03-01T10:07:00Z")), at("2026-03-01T11:00:01Z"));
    assert_eq!(p.since_time().map(rfc3339).as_deref(), Some("2026-03-01T10:00:00Z"));
    assert_eq!(rfc3339(p.until_time()), "2026-03-01T11:15:00Z");
    let exact = Period::new(Some(at("2026-03-01T10:00:00Z")), at("2026-03-01T11:00:00Z"));
    assert_eq!(rfc3339(exact.until_time()), "2026-03-01T11:00:00Z", "a boundary stays");
    assert!(exact.contains(at("2026-03-01T10:00:00Z").timestamp()));
    assert!(!exact.contains(at("2026-03-01T11:00:00Z").timestamp()));
}

#[test]
fn whole_days_come_from_day_buckets_and_the_ends_from_quarter_hours() {
    // Berlin's 1 to 3 March: 28 Feb 23:00 UTC to 2 Mar 23:00 UTC.
    let p = Period::new(Some(at("2026-02-28T23:00:00Z")), at("2026-03-02T23:00:00Z"));
    let b = p.buckets(i64::MAX);
    let (d1, d2) = (at("2026-03-01T00:00:00Z").timestamp(), at("2026-03-02T00:00:00Z").timestamp());
    assert_eq!(b.days, Some((d1, d2)));
    assert_eq!(b.quarters, vec![(p.since.unwrap(), d1), (d2, p.until)]);
    // Within one day: quarter hours only.
    let short = Period::new(Some(at("2026-03-01T09:30:00Z")), at("2026-03-01T17:00:00Z"));
    assert_eq!(short.buckets(i64::MAX), Buckets { days: None, quarters: vec![(short.since.unwrap(), short.until)] });
    // From the beginning, to a midnight: days only.
    let all = Period::new(None, at("2026-03-02T00:00:00Z"));
    assert_eq!(all.buckets(i64::MAX), Buckets { days: Some((i64::MIN, d2)), quarters: vec![] });
    // Kolkata's day starts at 18:30 UTC: a quarter-hour boundary.
    let kolkata = Period::new(Some(at("2026-02-28T18:30:00Z")), at("2026-03-01T18:30:00Z"));
    let b = kolkata.buckets(i64::MAX);
    assert_eq!(b.days, None);
    assert_eq!(b.quarters, vec![(kolkata.since.unwrap(), kolkata.until)]);
    assert_eq!(kolkata.since.unwrap() % QUARTER, 0);
}

#[test]
fn days_not_rolled_up_yet_come_from_quarter_hours() {
    let p = Period::new(None, at("2026-03-05T12:00:00Z"));
    let rolled = at("2026-03-03T00:00:00Z").timestamp();
    let b = p.buckets(rolled);
    assert_eq!(b.days, Some((i64::MIN, rolled)));
    assert_eq!(b.quarters, vec![(rolled, p.until)]);
}

#[test]
fn buckets_cover_the_period_exactly_once() {
    // Every quarter hour of a few days, against the buckets of many periods.
    let base = at("2026-03-01T00:00:00Z").timestamp();
    for since_q in (0..400).step_by(37) {
        for (len_q, rolled_q) in
            [1, 5, 96, 97, 200, 300].into_iter().flat_map(|l| [0, 96, 192, 288, 10_000].map(|r| (l, r)))
        {
            let p = Period { since: Some(base + since_q * QUARTER), until: base + (since_q + len_q) * QUARTER };
            let b = p.buckets(base + rolled_q * QUARTER);
            for q in -10..520 {
                let t = base + q * QUARTER;
                let in_days = b.days.is_some_and(|(a, z)| t.div_euclid(DAY) * DAY >= a && t.div_euclid(DAY) * DAY < z);
                let in_quarters = b.quarters.iter().filter(|(a, z)| t >= *a && t < *z).count();
                let covered = usize::from(in_days) + in_quarters;
                assert_eq!(covered, usize::from(p.contains(t)), "{p:?} rolled up to {rolled_q} at quarter {q}");
                let rolled = base + rolled_q * QUARTER;
                assert!(!in_days || t < rolled, "a day row read past the roll-up");
            }
        }
    }
}

#[test]
fn median_of_odd_and_even_counts() {
    assert_eq!(median_hours(&mut []), None);
    assert_eq!(median_hours(&mut [7200, 3600, 36000]), Some(2.0));
    assert_eq!(median_hours(&mut [3600, 7200]), Some(1.5));
    assert_eq!(median_hours(&mut [60]), Some(0.02));
}

#[test]
fn rates_divide_by_what_was_sent() {
    assert_eq!(rate(1, 3), 0.3333);
    assert_eq!(rate(5, 0), 0.0);
    assert_eq!(rate(2, 2), 1.0);
}

#[test]
fn whiskers_span_the_interval_around_the_rate() {
    assert_eq!(whisker(0.1, 0.2, 0.3, 0.4, 9), "  ├─●─┤");
    assert_eq!(whisker(0.0, 0.0, 0.4, 0.4, 9), "●───────┤");
    assert_eq!(whisker(0.1, 0.2, 0.3, 0.0, 9), "");
}

#[test]
fn bars_grow_in_eighths_and_never_vanish() {
    assert_eq!(bar(10, 10, 4), "████");
    assert_eq!(bar(5, 10, 4), "██");
    assert_eq!(bar(1, 1000, 4), "▏");
    assert_eq!(bar(0, 10, 4), "");
    assert_eq!(bar(3, 0, 4), "");
    assert_eq!(bar(9, 16, 2), "█▏");
}

fn tally(cadence: &str, step: &str, what: What, n: u64) -> Tally {
    let kind = if step.starts_with("call") { "call" } else { "email" };
    Tally {
        cadence: cadence.into(),
        step: step.into(),
        mailbox: if kind == "email" { "sales".into() } else { String::new() },
        what,
        kind: kind.into(),
        n,
    }
}

#[test]
fn steps_follow_the_file_and_count_their_outcomes() {
    let defined = vec![Defined {
        name: "seven".into(),
        steps: vec![
            ("intro".into(), "email".into()),
            ("call-1".into(), "call".into()),
            ("bump".into(), "email".into()),
        ],
        tests: Vec::new(),
    }];
    let tallies = vec![
        tally("seven", "intro", What::Sent, 10),
        tally("seven", "intro", What::Failed, 1),
        tally("seven", "intro", What::Replied, 2),
        tally("seven", "intro", What::BouncedAddress, 1),
        tally("seven", "intro", What::BouncedSender, 1),
        tally("seven", "intro", What::Unsubscribed, 2),
        tally("seven", "intro", What::Complaint, 1),
        tally("seven", "call-1", What::Done, 3),
        tally("seven", "call-1", What::Skipped, 1),
        tally("seven", "old-step", What::Sent, 4),
    ];
    let input = Input {
        defined,
        states: vec![("seven".into(), State::Active, 5), ("seven".into(), State::Replied, 2)],
        tallies,
        delays: vec![("seven".into(), "intro".into(), 3600), ("seven".into(), "intro".into(), 10800)],
        mailboxes: vec!["sales".into(), "quiet".into()],
        ..Input::default()
    };
    let period = Period::new(None, at("2026-03-10T00:00:00Z"));
    let r = assemble(period, input);
    assert_eq!(r.since, None);
    assert_eq!(r.until, "2026-03-10T00:00:00Z");
    let c = &r.cadences[0];
    assert_eq!((c.enrolled, c.states["active"], c.states["replied"], c.states["bounced"]), (7, 5, 2, 0));
    let ids: Vec<_> = c.steps.iter().map(|s| (s.step.as_str(), s.removed)).collect();
    assert_eq!(ids, [("intro", false), ("call-1", false), ("bump", false), ("old-step", true)]);
    let intro = &c.steps[0];
    assert_eq!((intro.reached, intro.sent, intro.failed, intro.replied), (11, 10, 1, 2));
    assert_eq!((intro.bounced, intro.bounced_dead, intro.bounced_sender), (2, 1, 1));
    assert_eq!((intro.unsubscribed, intro.complaints), (2, 1));
    assert_eq!(intro.reply_rate, 0.2);
    assert_eq!(intro.median_hours_to_reply, Some(2.0));
    let call = &c.steps[1];
    assert_eq!((call.kind.as_str(), call.reached, call.done, call.skipped, call.reply_rate), ("call", 4, 3, 1, 0.0));
    assert_eq!(c.steps[2].reached, 0);
    assert_eq!(c.steps[2].median_hours_to_reply, None);
    let sales = r.mailboxes.iter().find(|m| m.mailbox == "sales").unwrap();
    assert_eq!((sales.sent, sales.bounced, sales.complaints), (14, 2, 1));
    assert_eq!((sales.bounce_rate, sales.complaint_rate), (0.1429, 0.0714));
    let quiet = r.mailboxes.iter().find(|m| m.mailbox == "quiet").unwrap();
    assert_eq!((quiet.sent, quiet.bounce_rate), (0, 0.0));
}

#[test]
fn one_cadence_only_and_orphans_without_a_file() {
    let input = Input {
        defined: vec![Defined { name: "a".into(), steps: vec![("s".into(), "email".into())], tests: Vec::new() }],
        only: Some("gone".into()),
        states: vec![("gone".into(), State::Paused, 3), ("a".into(), State::Active, 1)],
        tallies: vec![tally("gone", "x", What::Sent, 2), tally("a", "s", What::Sent, 5)],
        ..Input::default()
    };
    let r = assemble(Period::new(None, at("2026-03-10T00:00:00Z")), input);
    assert_eq!(r.cadences.len(), 1);
    let gone = &r.cadences[0];
    assert!(gone.orphaned);
    assert_eq!((gone.enrolled, gone.steps.len(), gone.steps[0].removed), (3, 1, true));
    assert_eq!(r.mailboxes[0].sent, 7, "mailboxes count every cadence");
}

#[test]
fn the_json_has_the_documented_fields() {
    let r = assemble(
        Period::new(Some(at("2026-03-01T00:00:00Z")), at("2026-03-02T00:00:00Z")),
        Input {
            defined: vec![Defined { name: "a".into(), steps: vec![("s".into(), "email".into())], tests: Vec::new() }],
            tallies: vec![tally("a", "s", What::Sent, 1)],
            ..Input::default()
        },
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["since"], "2026-03-01T00:00:00Z");
    let step = &v["cadences"][0]["steps"][0];
    for key in [
        "step",
        "kind",
        "reached",
        "sent",
        "done",
        "skipped",
        "failed",
        "bounced",
        "replied",
        "unsubscribed",
        "auto_replies",
        "reply_rate",
        "median_hours_to_reply",
    ] {
        assert!(step.get(key).is_some(), "{key} missing from {step}");
    }
    for key in ["cadence", "enrolled", "states", "steps"] {
        assert!(v["cadences"][0].get(key).is_some(), "{key}");
    }
    for key in ["mailbox", "sent", "bounced", "complaints", "bounce_rate", "complaint_rate"] {
        assert!(v["mailboxes"][0].get(key).is_some(), "{key}");
    }
}
