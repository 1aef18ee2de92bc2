//! PURE: what an inbound message does to the lead it is about. Replies stop
//! the cadences that stop on replies; an out-of-office pauses until the lead
//! is back; a permanent bounce (or the third temporary one), a complaint or an
//! unsubscribe request ends every cadence and suppresses the address.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::core::schedule::{Calendar, Wait, resolve_local};
use crate::inbound::{Classified, Kind};
use crate::model::{Effect, State};

/// Temporary bounces after which an address counts as bounced for good.
pub const TEMPORARY_BOUNCES: u32 = 3;

/// The facts about the lead that the decision needs.
#[derive(Debug, Clone)]
pub struct LeadFacts<'a> {
    /// Cadences of the lead whose `stop_on` has reply.
    pub reply_stops: Vec<String>,
    /// Temporary bounces recorded for the lead before this message.
    pub temporary_bounces: u32,
    pub tz: Tz,
    pub calendar: &'a Calendar,
}

/// The effect of `msg` on its lead, and a line saying so.
pub fn decide(msg: &Classified, lead: &LeadFacts<'_>, now: DateTime<Utc>, ooo_pause: &Wait) -> (Effect, String) {
    match msg.kind {
        Kind::Reply if lead.reply_stops.is_empty() => {
            (Effect::None, "reply; no cadence of the lead stops on replies".into())
        }
        Kind::Reply => (
            Effect::Replied { cadences: lead.reply_stops.clone() },
            format!("reply: stopped {}", lead.reply_stops.join(", ")),
        ),
        Kind::AutoReply => {
            let back = msg.return_date.map(|d| resolve_local(d.and_time(NaiveTime::MIN), lead.tz));
            let (until, how) = match back {
                Some(b) if b > now => (b, "until the return date in the auto-reply"),
                Some(_) => return (Effect::None, "auto-reply; its return date has passed".into()),
                None => (ooo_pause.after(now, lead.tz, lead.calendar), "for ooo_pause (no return date found)"),
            };
            (Effect::Away { until }, format!("auto-reply: paused {how}, until {}", crate::time::rfc3339(until)))
        }
        Kind::Bounce => {
            let permanent = msg.recipients.iter().any(|r| r.permanent);
            let status = msg.recipients.iter().find_map(|r| r.status.clone()).unwrap_or_default();
            if permanent {
                (
                    Effect::Suppress { state: State::Bounced },
                    format!("permanent bounce {status}: bounced and suppressed"),
                )
            } else if lead.temporary_bounces + 1 >= TEMPORARY_BOUNCES {
                (
                    Effect::Suppress { state: State::Bounced },
                    format!("temporary bounce {status}, the {TEMPORARY_BOUNCES}rd: treated as permanent"),
                )
            } else {
                (Effect::Noted, format!("temporary bounce {status} ({} so far)", lead.temporary_bounces + 1))
            }
        }
        Kind::Complaint => {
            (Effect::Suppress { state: State::Unsubscribed }, "complaint: unsubscribed and suppressed".into())
        }
        Kind::Unsubscribe => (
            Effect::Suppress { state: State::Unsubscribed },
            "asked to unsubscribe: unsubscribed and suppressed".into(),
        ),
        Kind::Other => (Effect::None, "not about a cadence".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::Recipient;
    use crate::time::parse_instant;

    fn msg(kind: Kind) -> Classified {
        Classified {
            kind,
            recipients: vec![],
            from: Some("jane@acme.test".into()),
            subject: None,
            message_id: None,
            in_reply_to: vec![],
            original_message_ids: vec![],
            return_date: None,
            list_unsubscribe_to: false,
        }
    }

    fn facts(cal: &Calendar) -> LeadFacts<'_> {
        LeadFacts {
            reply_stops: vec!["seven-touch".into()],
            temporary_bounces: 0,
            tz: chrono_tz::Europe::Berlin,
            calendar: cal,
        }
    }

    #[test]
    fn each_kind_has_its_effect() {
        let cal = Calendar::default();
        let now = parse_instant("2026-03-02T10:00:00Z").unwrap();
        let three_days = Wait::Days(3);
        let (e, _) = decide(&msg(Kind::Reply), &facts(&cal), now, &three_days);
        assert_eq!(e, Effect::Replied { cadences: vec!["seven-touch".into()] });
        let (e, _) = decide(&msg(Kind::AutoReply), &facts(&cal), now, &three_days);
        assert_eq!(e, Effect::Away { until: parse_instant("2026-03-05T10:00:00Z").unwrap() });
        let mut ooo = msg(Kind::AutoReply);
        ooo.return_date = chrono::NaiveDate::from_ymd_opt(2026, 3, 12);
        let (e, _) = decide(&ooo, &facts(&cal), now, &three_days);
        assert_eq!(e, Effect::Away { until: parse_instant("2026-03-11T23:00:00Z").unwrap() }, "midnight Berlin");
        let (e, _) = decide(&msg(Kind::Unsubscribe), &facts(&cal), now, &three_days);
        assert_eq!(e, Effect::Suppress { state: State::Unsubscribed });
        let (e, _) = decide(&msg(Kind::Complaint), &facts(&cal), now, &three_days);
        assert_eq!(e, Effect::Suppress { state: State::Unsubscribed });
        let (e, _) = decide(&msg(Kind::Other), &facts(&cal), now, &three_days);
        assert_eq!(e, Effect::None);
    }

    #[test]
    fn the_third_temporary_bounce_counts_as_permanent() {
        let cal = Calendar::default();
        let now = parse_instant("2026-03-02T10:00:00Z").unwrap();
        let mut bounce = msg(Kind::Bounce);
        bounce.recipients = vec![Recipient {
            address: "jane@acme.test".into(),
            permanent: false,
            reason: crate::inbound::Reason::Mailboxfull,
            status: Some("4.2.2".into()),
        }];
        let mut f = facts(&cal);
        assert_eq!(decide(&bounce, &f, now, &Wait::Days(3)).0, Effect::Noted);
        f.temporary_bounces = 2;
        assert_eq!(decide(&bounce, &f, now, &Wait::Days(3)).0, Effect::Suppress { state: State::Bounced });
        bounce.recipients[0].permanent = true;
        f.temporary_bounces = 0;
        assert_eq!(decide(&bounce, &f, now, &Wait::Days(3)).0, Effect::Suppress { state: State::Bounced });
    }
}
