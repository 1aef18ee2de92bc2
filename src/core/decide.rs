//! PURE: what happens to one due step, and what a send's end comes to.
//!
//! [`decide`] is every rule that decides a due step's fate, in the order they
//! apply; the tick gathers the [`Facts`], calls it, and applies the
//! [`Action`]. The first rule that holds wins:
//!
//! 1. The cadence is not loaded (its file is gone): nothing happens; the
//!    lead waits, orphaned, until the file returns.
//! 2. The step was removed from the cadence: skipped (`removed`); the lead
//!    goes on at the first step after the last one it had that it has not had.
//! 3. A blocking task nobody closed within `auto_skip_after`: the task is
//!    closed as skipped (`expired`) and the cadence moves on.
//! 4. The lead is held out of the step (`holdout`): skipped (`holdout`),
//!    and the next step's wait counts from the skip's due time. Otherwise
//!    the lead's variant is chosen ([`crate::core::variants`]).
//! 5. The step's template does not render for the lead: the lead is held
//!    (paused) with the error, for a person to fix.
//! 6. Past the cadence's `late_after`: skipped (`late`).
//! 7. A manual step (call, LinkedIn, task): a task opens for the owner; a
//!    blocking one holds the cadence until it is closed (or expires).
//! 8. An email outside its send window: postponed to the next slot (or
//!    skipped as late when that slot is past `late_after`).
//! 9. The mailbox is not configured (any more): nothing happens.
//! 10. The mailbox paused itself (too many refusals aimed at the sender):
//!     deferred until a person resumes it.
//! 11. The mailbox cannot be reached: deferred until its next attempt.
//! 12. The mailbox's inbox could not be read recently enough: deferred (a
//!     reply that arrived must be seen before the next email).
//! 13. Inbound mail read during this tick stopped or paused the lead:
//!     nothing happens.
//! 14. The mailbox's caps (`daily_limit`, `min_gap`): postponed (or late).
//! 15. Otherwise the email is sent.
//!
//! Whenever a step goes out later than planned, the reason recorded is the
//! weightier of the one it carried and the new one ([`Reason::weightier`]);
//! a step found well past its due time is late because of `downtime`.
//!
//! [`settle`] is the one conversion from how a claimed send ended to what is
//! recorded, for sends that just ended and for those a stopped process left.

use chrono::{DateTime, Duration, Utc};

use crate::cadence::{Cadence, Rendered, StepKind};
use crate::core::pacing::{self, Caps, Load};
use crate::core::plan;
use crate::core::react::TEMPORARY_BOUNCES;
use crate::model::{
    Blame, DueStep, Ended, LeadTime, Next, OnUncertain, Reason, Reply, Sent, Settled, State, Status, reply_subject,
};
use crate::schedule::retry_delay;

/// Temporary failures of one step before it is recorded as failed (with the
/// one-hour backoff cap, about four days of trying).
pub const MAX_ATTEMPTS: u32 = 100;

/// What the tick knows about a due step besides the step itself.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    /// The step's cadence, if it is loaded.
    pub cadence: Option<&'a Cadence>,
    /// The lead's zone and calendar.
    pub lead: LeadTime<'a>,
    /// The steps the enrollment already has a touchpoint for (needed only
    /// when its step was removed from the cadence).
    pub touched: &'a [String],
    /// The emails the lead was sent in the cadence so far, oldest first
    /// (needed only by a threaded step: an email without a subject).
    pub thread: &'a [Sent],
    /// How late past its due time a step may go before the delay is put down
    /// to downtime rather than to the tick interval.
    pub downtime_after: Duration,
    /// The email's mailbox; `None` when the cadence names one that is not
    /// configured.
    pub mailbox: Option<MailboxFacts>,
    /// False when inbound mail read during this tick stopped or paused the
    /// enrollment after the step was read.
    pub still_active: bool,
    /// The variant every new lead gets at this step, once `pick_winner`
    /// picked one.
    pub winner: Option<&'a str>,
}

/// What the tick knows about a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxFacts {
    /// While the mailbox cannot be reached: when it is tried again, and why.
    pub down: Option<(DateTime<Utc>, String)>,
    /// While the mailbox has paused itself (too many refusals aimed at it), why.
    pub paused: Option<String>,
    pub inbox: Inbox,
    pub caps: Caps,
    /// Its sends on the local day; read only when a cap needs it.
    pub load: Option<Load>,
}

/// Whether an email may leave as far as its mailbox's inbox goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbox {
    /// Read recently enough, or not watched.
    Fresh,
    /// Could not be read (why); tried again at `retry_at` if known.
    Unreadable { retry_at: Option<DateTime<Utc>>, why: String },
}

/// How long a step of a paused mailbox waits before it is looked at again
/// (resuming the mailbox makes its steps due at once).
pub const PAUSED_RECHECK: Duration = Duration::hours(1);

/// Why a step waits without being moved to a send slot, with the cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferral {
    MailboxUnavailable(String),
    InboxUnreadable(String),
    MailboxPaused(String),
}

impl Deferral {
    /// The line recorded as the enrollment's last error (`status` shows it).
    pub fn describe(&self) -> String {
        match self {
            Deferral::MailboxUnavailable(why) => format!("mailbox unavailable: {why}"),
            Deferral::InboxUnreadable(why) => format!("inbox unreadable: {why}"),
            Deferral::MailboxPaused(why) => format!("mailbox paused: {why}"),
        }
    }
}

/// What happens to a due step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing: the cadence or its mailbox is not loaded, or the inbox just
    /// stopped or paused the lead.
    Nothing,
    /// The email goes out, in reply to the thread when `reply` says so;
    /// `reason` says why later than planned, if it is.
    Send { rendered: Rendered, reply: Option<Reply>, next: Next, reason: Option<Reason>, variant: Option<String> },
    /// A task opens for the owner, with the rendered body.
    OpenTask { body: String, next: Next, reason: Option<Reason>, variant: Option<String> },
    /// Moved to the next send slot, with the reason.
    Postpone { until: DateTime<Utc>, reason: Reason },
    /// Recorded as skipped (touchpoint kind `kind`), and the cadence moves on.
    Skip { kind: &'static str, reason: Reason, detail: String, next: Next },
    /// The open blocking task `task` expired: closed as skipped, and the
    /// cadence moves on.
    ExpireTask { task: i64, next: Next },
    /// Paused for a person, with the reason.
    Hold { reason: String },
    /// Waits until `until` without using up an attempt.
    Defer { until: DateTime<Utc>, why: Deferral },
}

/// Why `due` goes out later than planned, if it does: `downtime` when it is
/// well past its due time, else the reason recorded when it was moved.
pub fn lateness(due: &DueStep, downtime_after: Duration, now: DateTime<Utc>) -> Option<Reason> {
    if now - due.due_at > downtime_after { Some(Reason::Downtime) } else { due.reason }
}

/// What happens to `due` at `now`, given `facts`: the rules of this module's
/// header, in order.
pub fn decide(due: &DueStep, facts: &Facts<'_>, now: DateTime<Utc>) -> Action {
    let Some(cadence) = facts.cadence else {
        return Action::Nothing;
    };
    let lead = facts.lead;
    let Some(index) = cadence.step_index(&due.step) else {
        return skip_removed(due, cadence, facts.touched, lead, now);
    };
    let step = &cadence.steps[index];
    let next = plan::next(cadence, Some(index), now, lead);
    if let Some(task) = due.task_id {
        return Action::ExpireTask { task, next };
    }
    if crate::core::variants::is_held_out(step, &due.email, &cadence.name) {
        return skip_held_out(due, cadence, index, lead);
    }
    let variant = crate::core::variants::variant_of(step, &due.email, &cadence.name, facts.winner).map(str::to_string);
    let mut rendered = match cadence.templates.render(&step.template_key(variant.as_deref()), &due.email, &due.fields) {
        Ok(r) => r,
        Err(e) => return Action::Hold { reason: e.to_string() },
    };
    let mut reply = None;
    if step.threaded {
        match thread(cadence, index, due, facts.thread) {
            Ok((subject, r)) => {
                rendered.subject = Some(subject);
                reply = r;
            }
            Err(e) => return Action::Hold { reason: e },
        }
    }
    let deadline = cadence.late_after.map(|late| late.after(due.planned_at, lead.tz, lead.calendar));
    let late = || skip_late(due, cadence, next.clone());
    if deadline.is_some_and(|d| now > d) {
        return late();
    }
    let reason = lateness(due, facts.downtime_after, now);
    let postpone = |until: DateTime<Utc>, why: Reason| {
        if deadline.is_some_and(|d| until > d) {
            return late();
        }
        Action::Postpone { until, reason: Reason::weightier(due.reason, why) }
    };
    if step.kind != StepKind::Email {
        let next = if step.blocking {
            Next::Block { until: step.auto_skip_after.map(|w| w.after(now, lead.tz, lead.calendar)) }
        } else {
            next
        };
        return Action::OpenTask { body: rendered.body, next, reason, variant };
    }
    if let Some(slot) = plan::wait_for_window(cadence, step, now, lead) {
        // Due while outside the window (downtime, a long tick): the next slot, never now.
        return postpone(slot, reason.unwrap_or(Reason::Window));
    }
    let Some(mailbox) = &facts.mailbox else {
        return Action::Nothing;
    };
    if let Some(why) = &mailbox.paused {
        return Action::Defer { until: now + PAUSED_RECHECK, why: Deferral::MailboxPaused(why.clone()) };
    }
    if let Some((until, why)) = mailbox.down.as_ref().filter(|(u, _)| *u > now) {
        return Action::Defer { until: *until, why: Deferral::MailboxUnavailable(why.clone()) };
    }
    if let Inbox::Unreadable { retry_at, why } = &mailbox.inbox {
        let until = retry_at.unwrap_or(now).max(now + Duration::minutes(1));
        return Action::Defer { until, why: Deferral::InboxUnreadable(why.clone()) };
    }
    if !facts.still_active {
        return Action::Nothing;
    }
    if let Some(load) = &mailbox.load
        && let Some((until, hold)) = pacing::hold(&mailbox.caps, load, now)
    {
        let why = match hold {
            pacing::Hold::DailyLimit => Reason::DailyLimit,
            pacing::Hold::MinGap => Reason::MinGap,
        };
        return postpone(until, why);
    }
    Action::Send { rendered, reply, next, reason, variant }
}

/// The subject and the reply headers of threaded step `index`: `Re: ` the
/// subject of the lead's last email in the cadence, in reply to it. When
/// none was sent (skipped, failed), the email opens the thread with the
/// subject of the nearest earlier email step that has one.
fn thread(cadence: &Cadence, index: usize, due: &DueStep, sent: &[Sent]) -> Result<(String, Option<Reply>), String> {
    if let Some(last) = sent.last() {
        let references = sent.iter().map(|s| s.message_id.clone()).collect();
        let reply = Reply { in_reply_to: last.message_id.clone(), references };
        return Ok((reply_subject(&last.subject), Some(reply)));
    }
    let opener = cadence.steps[..index].iter().rev().find(|s| s.kind == StepKind::Email && !s.threaded);
    let Some(opener) = opener else {
        return Err(format!("step {:?} has no earlier email step to take its subject from", due.step));
    };
    // Under the variant of the opener the lead got (or would have got).
    let key = opener.template_key(crate::core::variants::variant_of(opener, &due.email, &cadence.name, None));
    let rendered = cadence.templates.render(&key, &due.email, &due.fields).map_err(|e| e.to_string())?;
    Ok((rendered.subject.unwrap_or_default(), None))
}

/// Skips a step the lead is held out of (`holdout`): the cadence goes on as
/// if the step had happened at its due time, so that the next step's wait
/// counts from there, as it would have for a lead that got the step.
fn skip_held_out(due: &DueStep, cadence: &Cadence, index: usize, lead: LeadTime<'_>) -> Action {
    let step = &cadence.steps[index];
    let share = step.holdout.unwrap_or_default();
    let detail = format!("held out of step {:?} (holdout = {share}), to measure what it adds", step.id);
    let next = plan::next(cadence, Some(index), due.due_at, lead);
    Action::Skip { kind: step.kind.as_str(), reason: Reason::Holdout, detail, next }
}

/// Skips a step that could not go out within `late_after` of its plan.
fn skip_late(due: &DueStep, cadence: &Cadence, next: Next) -> Action {
    let late = cadence.late_after.map(|l| l.to_string()).unwrap_or_default();
    let detail =
        format!("planned for {}, could not go out within late_after = {late}", crate::time::rfc3339(due.planned_at));
    let kind = cadence.step_index(&due.step).map_or("email", |i| cadence.steps[i].kind.as_str());
    Action::Skip { kind, reason: Reason::Late, detail, next }
}

/// The lead's step was removed from its cadence (an edit and a reload): the
/// lead moves on to the first step after the last one it had that it has not
/// had yet, so a step added later in the cadence is picked up in order.
fn skip_removed(
    due: &DueStep,
    cadence: &Cadence,
    touched: &[String],
    lead: LeadTime<'_>,
    now: DateTime<Utc>,
) -> Action {
    let target = plan::after_removed(cadence, |id| touched.iter().any(|t| t == id));
    let next = match target {
        Some(t) => plan::next(cadence, t.checked_sub(1), now, lead),
        None => Next::Finished,
    };
    let detail = format!("step {:?} was removed from cadence {:?}", due.step, due.cadence);
    Action::Skip { kind: "removed", reason: Reason::Removed, detail, next }
}

/// What follows an uncertain send: the cadence goes on, or with
/// `on_uncertain = "hold"` it moves on and pauses for a person.
pub fn after_uncertain(on_uncertain: OnUncertain, due: &DueStep, next: Next) -> Next {
    match on_uncertain {
        OnUncertain::Continue => next,
        OnUncertain::Hold => Next::ThenHold(
            Box::new(next),
            format!(
                "step {:?} may or may not have been delivered; check, then `cadenced resume {}`",
                due.step, due.email
            ),
        ),
    }
}

/// What the recording of a claimed send needs besides how it ended.
#[derive(Debug, Clone)]
pub struct Claimed<'a> {
    pub due: &'a DueStep,
    /// Where the enrollment goes after a send.
    pub next: Next,
    /// Why it went out later than planned, if it did.
    pub reason: Option<Reason>,
    pub on_uncertain: OnUncertain,
    /// When its mailbox is tried again, if the send found it unreachable.
    pub mailbox_back_at: DateTime<Utc>,
    /// Temporary bounces recorded for the lead so far (read only when the
    /// server refused it for passing trouble).
    pub temporary_bounces: u32,
}

/// How long a refusal for passing trouble (a full mailbox) waits before the
/// step is tried again: trouble that passes takes days, not minutes.
pub const PASSING_RETRY: Duration = Duration::days(1);

/// The one conversion from how a send ended to what is recorded. A refusal
/// is judged by why the server refused ([`crate::inbound::refusal`]): a dead address
/// bounces the lead everywhere and suppresses it; a refusal aimed at the
/// sender never blames the lead, the step is tried again later (and the
/// refusal counts against the mailbox); passing trouble is tried again the
/// next day, and the third time counts as a dead address.
pub fn settle(ended: Ended, claimed: Claimed<'_>, now: DateTime<Utc>) -> Settled {
    let Claimed { due, next, reason, on_uncertain, mailbox_back_at, temporary_bounces } = claimed;
    let record = |status, detail, next| Settled::Record { status, detail, reason, next, suppress: false };
    let dead = |detail| Settled::Record {
        status: Status::Failed,
        detail: Some(detail),
        reason,
        next: Next::End(State::Bounced),
        suppress: true,
    };
    let give_up = |why: &str, next| {
        let detail = format!("gave up after {MAX_ATTEMPTS} temporary failures, the last: {why}");
        record(Status::Failed, Some(detail), next)
    };
    match ended {
        Ended::Sent => record(Status::Sent, None, next),
        Ended::Refused(rejection) => {
            match (crate::inbound::refusal(&rejection).map(|r| r.blame), rejection.to_string()) {
                // Refused before any server answered (an address that cannot be sent to).
                (None, reply) => record(Status::Failed, Some(reply), Next::End(State::Bounced)),
                (Some(Blame::DeadAddress), reply) => dead(reply),
                (Some(Blame::Sender), reply) if due.attempts + 1 >= MAX_ATTEMPTS => give_up(&reply, next),
                (Some(Blame::Sender), reply) => Settled::Retry {
                    retry_at: now + retry_delay(due.attempts + 1),
                    error: format!("refused, aimed at the sender, not the lead: {reply}"),
                    count: true,
                },
                (Some(Blame::Passing), reply) if temporary_bounces + 1 >= TEMPORARY_BOUNCES => {
                    dead(format!("{reply} (the {TEMPORARY_BOUNCES}rd temporary refusal: treated as a dead address)"))
                }
                (Some(Blame::Passing), reply) => Settled::Retry {
                    retry_at: now + PASSING_RETRY,
                    error: format!("refused for passing trouble, tried again tomorrow: {reply}"),
                    count: true,
                },
            }
        }
        Ended::Uncertain(why) => record(Status::Uncertain, Some(why), after_uncertain(on_uncertain, due, next)),
        Ended::Unavailable(error) => Settled::Retry { retry_at: mailbox_back_at, error, count: false },
        Ended::Temporary(why) if due.attempts + 1 >= MAX_ATTEMPTS => give_up(&why, next),
        Ended::Temporary(error) => Settled::Retry { retry_at: now + retry_delay(due.attempts + 1), error, count: true },
        Ended::NotTried(_) => Settled::GiveBack,
    }
}

#[cfg(test)]
mod tests;
