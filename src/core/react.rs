//! PURE: what an inbound message does to the lead it is about.
//!
//! - Mail sent to the lead's own unsubscribe address unsubscribes it,
//!   whatever it says.
//! - Mail matched only by the sender's address counts only if it arrived
//!   after the lead's enrollment: old mail in the inbox stops no new lead.
//!   Mail that names a Message-ID cadenced sent always counts.
//! - A reply stops the cadences that stop on replies; an out-of-office
//!   pauses until the lead is back.
//! - A bounce is judged by why it bounced: a dead address (unknown user or
//!   domain, moved, accepts no mail) bounces the lead in every cadence and
//!   suppresses the address; a refusal aimed at the sender (block lists, spam
//!   and policy filters) does not blame the lead, it counts against the
//!   mailbox; passing trouble (a full mailbox, a timeout) is noted, and the
//!   third time counts as a dead address. A bounce none of whose recipients
//!   can be read, but which returns the Message-ID of an email cadenced
//!   sent, is judged by its own words for the lead that email went to
//!   ([`attribute_bounce`]).
//! - A complaint or an unsubscribe request unsubscribes the lead everywhere
//!   and suppresses the address.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use crate::inbound::{Blame, Classified, Kind, Recipient};
use crate::model::{Effect, Matched, State};
use crate::schedule::{Calendar, Wait, resolve_local};

/// Temporary bounces after which an address counts as bounced for good.
pub const TEMPORARY_BOUNCES: u32 = 3;

/// One of the lead's active or paused enrollments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub cadence: String,
    pub enrolled_at: DateTime<Utc>,
    /// The cadence's `stop_on` has `reply`.
    pub stops_on_reply: bool,
}

/// The facts about the lead that the decision needs.
#[derive(Debug, Clone)]
pub struct LeadFacts<'a> {
    pub email: String,
    /// Its active or paused enrollments.
    pub running: Vec<Running>,
    /// When it was first enrolled in any cadence.
    pub first_enrolled: Option<DateTime<Utc>>,
    /// Temporary bounces (passing trouble) recorded for the lead before this message.
    pub temporary_bounces: u32,
    pub tz: Tz,
    pub calendar: &'a Calendar,
}

/// How a message reached its lead, and when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub matched: Matched,
    pub at: DateTime<Utc>,
}

/// A bounce that names none of its recipients but returns the Message-ID of an email cadenced
/// sent (`matched` by it) is about the lead that email went to: the notice's own verdict becomes
/// that lead's. Anything else is left as it is.
pub fn attribute_bounce(msg: &mut Classified, email: &str, matched: Matched) {
    if msg.kind == Kind::Bounce
        && matched == Matched::MessageId
        && msg.recipients.is_empty()
        && let Some(u) = &msg.unattributed
    {
        msg.recipients.push(u.for_address(email));
    }
}

/// The recipient of a bounce or complaint that is `email`, else the first.
pub fn recipient_of<'m>(msg: &'m Classified, email: &str) -> Option<&'m Recipient> {
    msg.recipients.iter().find(|r| r.is(email)).or_else(|| msg.recipients.first())
}

/// The effect of `msg` on its lead, and a line saying so.
pub fn decide(
    msg: &Classified,
    lead: &LeadFacts<'_>,
    arrival: Arrival,
    now: DateTime<Utc>,
    ooo_pause: &Wait,
) -> (Effect, String) {
    if arrival.matched == Matched::Token {
        let how = "sent to the lead's unsubscribe address: unsubscribed and suppressed";
        return (Effect::Suppress { state: State::Unsubscribed }, how.into());
    }
    let by_address = arrival.matched == Matched::Address;
    if by_address && lead.first_enrolled.is_none_or(|first| arrival.at < first) {
        let detail = format!(
            "{}; from before the lead's enrollment and naming no email cadenced sent: ignored",
            msg.kind.as_str()
        );
        return (Effect::None, detail);
    }
    match msg.kind {
        Kind::Reply => {
            let stops: Vec<String> = lead
                .running
                .iter()
                .filter(|r| r.stops_on_reply && (!by_address || r.enrolled_at <= arrival.at))
                .map(|r| r.cadence.clone())
                .collect();
            if stops.is_empty() {
                return (Effect::None, "reply; no running cadence of the lead stops on it".into());
            }
            let detail = format!("reply: stopped {}", stops.join(", "));
            (Effect::Replied { cadences: stops }, detail)
        }
        Kind::AutoReply => {
            let back = msg.return_date.map(|d| resolve_local(d.and_time(NaiveTime::MIN), lead.tz));
            let (until, how) = match back {
                Some(b) if b > now => (b, "until the return date in the auto-reply"),
                Some(_) => return (Effect::None, "auto-reply; its return date has passed".into()),
                None => (ooo_pause.after(now, lead.tz, lead.calendar), "for ooo_pause (no return date found)"),
            };
            (Effect::Away { until }, format!("auto-reply: paused {how}, until {}", crate::time::rfc3339(until)))
        }
        Kind::Bounce => bounce(msg, lead),
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

/// A bounce, by why it bounced.
fn bounce(msg: &Classified, lead: &LeadFacts<'_>) -> (Effect, String) {
    let Some(r) = recipient_of(msg, &lead.email) else {
        return (Effect::Noted, "bounce without a recipient: noted".into());
    };
    let why = match &r.status {
        Some(status) => format!("{} {status}", r.reason.as_str()),
        None => r.reason.as_str().to_string(),
    };
    match r.reason.blame() {
        _ if r.permanent => (
            Effect::Suppress { state: State::Bounced },
            format!("bounce ({why}), a dead address: bounced and suppressed"),
        ),
        Blame::Sender => (
            Effect::Noted,
            format!("bounce ({why}), a refusal aimed at the sender: counted against the mailbox, not the lead"),
        ),
        Blame::DeadAddress | Blame::Passing if lead.temporary_bounces + 1 >= TEMPORARY_BOUNCES => (
            Effect::Suppress { state: State::Bounced },
            format!("temporary bounce ({why}), the {TEMPORARY_BOUNCES}rd: treated as a dead address"),
        ),
        Blame::DeadAddress | Blame::Passing => {
            (Effect::Noted, format!("temporary bounce ({why}) ({} so far)", lead.temporary_bounces + 1))
        }
    }
}

#[cfg(test)]
mod tests;
