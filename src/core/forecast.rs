//! PURE: the load ahead. Projects every active enrollment's remaining steps
//! (each at its due time, the next counted from it, as ticks would go) into
//! sends and tasks per mailbox per local day, then applies each mailbox's
//! daily limit, carrying what it holds back into the following days.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use chrono_tz::Tz;

use crate::cadence::{Cadences, StepKind};
use crate::core::plan;
use crate::model::{Fields, LeadTime, Next};

/// One mailbox's day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Day {
    pub date: Option<NaiveDate>,
    /// Emails that will leave that day (after the daily limit).
    pub sends: u32,
    /// Emails due that day or carried from earlier days.
    pub demand: u32,
    /// Manual steps (call, linkedin, task) falling due that day.
    pub tasks: u32,
    /// Emails the daily limit pushes to a later day.
    pub held: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxForecast {
    pub mailbox: String,
    pub daily_limit: Option<u32>,
    pub days: Vec<Day>,
}

/// A sending mailbox as the forecast counts it: its days are those of its
/// zone, capped at its daily limit.
#[derive(Debug, Clone)]
pub struct Sender {
    pub name: String,
    pub timezone: Tz,
    pub daily_limit: Option<u32>,
}

/// A lead's own time from its cadence's calendar name, its zone and its
/// fields (the config's rules, `Config::lead_time`).
pub type LeadTimeOf<'a> = dyn Fn(Option<&str>, Option<&str>, &Fields) -> LeadTime<'a> + 'a;

/// Collects enrollments one at a time (so a million need not sit in memory).
pub struct Forecaster<'a> {
    /// The configured mailboxes, by name.
    senders: BTreeMap<String, Sender>,
    lead_time: &'a LeadTimeOf<'a>,
    cadences: &'a Cadences,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    /// mailbox -> local date -> (emails, tasks)
    counts: BTreeMap<String, BTreeMap<NaiveDate, (u32, u32)>>,
}

impl<'a> Forecaster<'a> {
    pub fn new(
        senders: Vec<Sender>,
        lead_time: &'a LeadTimeOf<'a>,
        cadences: &'a Cadences,
        now: DateTime<Utc>,
        days: u32,
    ) -> Forecaster<'a> {
        Forecaster {
            senders: senders.into_iter().map(|s| (s.name.clone(), s)).collect(),
            lead_time,
            cadences,
            now,
            until: now + Duration::days(i64::from(days)),
            counts: BTreeMap::new(),
        }
    }

    /// Adds one active enrollment: its next step `step` due at `due_at`.
    pub fn add(&mut self, cadence: &str, step: &str, due_at: DateTime<Utc>, timezone: Option<&str>, fields: &Fields) {
        let Some(cadence) = self.cadences.get(cadence) else { return };
        let Some(mailbox) = self.senders.get(&cadence.mailbox) else { return };
        let lead = (self.lead_time)(cadence.calendar.as_deref(), timezone, fields);
        let mut index = cadence.step_index(step);
        let mut at = due_at.max(self.now);
        // Bounded: a cadence has finitely many steps and each goes forward in time.
        while let Some(i) = index {
            let step = &cadence.steps[i];
            if step.kind == StepKind::Email
                && let Some(slot) = plan::wait_for_window(cadence, step, at, lead)
            {
                at = slot;
            }
            if at >= self.until {
                return;
            }
            let date = at.with_timezone(&mailbox.timezone).date_naive();
            let entry = self.counts.entry(mailbox.name.clone()).or_default().entry(date).or_default();
            if step.kind == StepKind::Email {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
            match plan::next(cadence, Some(i), at, lead) {
                Next::Step { id, due_at, .. } => {
                    index = cadence.step_index(&id);
                    at = due_at;
                }
                _ => return,
            }
        }
    }

    /// Day by day for each configured mailbox, the daily limit applied.
    pub fn finish(self) -> Vec<MailboxForecast> {
        let days = (self.until - self.now).num_days().max(0);
        self.senders
            .values()
            .map(|mb| {
                let first = self.now.with_timezone(&mb.timezone).date_naive();
                let counts = self.counts.get(&mb.name);
                let mut carried = 0u32;
                let days = (0..days)
                    .filter_map(|d| first.checked_add_signed(Duration::days(d)))
                    .map(|date| {
                        let (emails, tasks) = counts.and_then(|c| c.get(&date)).copied().unwrap_or_default();
                        let demand = carried + emails;
                        let sends = mb.daily_limit.map_or(demand, |limit| demand.min(limit));
                        carried = demand - sends;
                        Day { date: Some(date), sends, demand, tasks, held: carried }
                    })
                    .collect();
                MailboxForecast { mailbox: mb.name.clone(), daily_limit: mb.daily_limit, days }
            })
            .collect()
    }
}
