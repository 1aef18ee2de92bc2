//! PURE: the arithmetic of `cadenced report` and the dashboard. The store
//! keeps tallies (how many touchpoints of each step ended how, and how many
//! of its emails were answered, bounced, unsubscribed from) in time buckets,
//! kept up to date by triggers in the same transaction as the rows they
//! count; this module says which buckets make up a period, and turns the
//! tallies into each step's funnel, rates and median time to reply.
//!
//! Every figure of a step counts its touchpoints whose time falls in the
//! period, and what became of them: a reply or a bounce counts for the email
//! it answers (or bounced), in the period of that email, so that a rate is a
//! share of the emails it divides.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::cadence::Cadences;
use crate::model::State;
use crate::time::{from_unix, parse_instant, rfc3339};

mod experiments;

pub use experiments::{
    HOLDOUT_KEY, Lift, OutcomeCounts, StepTest, VariantReport, VariantTally, Winner, arms, variant_reports, winner_of,
};
use experiments::{by_step, lift, outcomes};

/// The coarse bucket: a UTC day.
pub const DAY: i64 = 86_400;
/// The fine bucket: a quarter hour, so that a day in any zone (every UTC
/// offset in use is a whole number of quarter hours) starts on a bucket.
pub const QUARTER: i64 = 900;

/// What a tally counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum What {
    /// Touchpoints by status.
    Sent,
    Failed,
    Uncertain,
    Skipped,
    Open,
    Done,
    /// Emails answered by a reply (counted once per email).
    Replied,
    /// Emails answered by an auto-reply.
    AutoReply,
    /// Emails that bounced because the address is dead (or were refused so while sending).
    BouncedAddress,
    /// Emails that bounced (or were refused) for reasons aimed at the sender.
    BouncedSender,
    /// Emails after which the lead unsubscribed or complained.
    Unsubscribed,
    /// Emails the lead reported as spam.
    Complaint,
}

impl What {
    const ALL: [What; 12] = [
        What::Sent,
        What::Failed,
        What::Uncertain,
        What::Skipped,
        What::Open,
        What::Done,
        What::Replied,
        What::AutoReply,
        What::BouncedAddress,
        What::BouncedSender,
        What::Unsubscribed,
        What::Complaint,
    ];

    /// The name the tallies table stores (see the schema's triggers).
    pub fn as_str(self) -> &'static str {
        match self {
            What::Sent => "sent",
            What::Failed => "failed",
            What::Uncertain => "uncertain",
            What::Skipped => "skipped",
            What::Open => "open",
            What::Done => "done",
            What::Replied => "replied",
            What::AutoReply => "auto_reply",
            What::BouncedAddress => "bounced_address",
            What::BouncedSender => "bounced_sender",
            What::Unsubscribed => "unsubscribed",
            What::Complaint => "complaint",
        }
    }

    pub fn parse(text: &str) -> Option<What> {
        What::ALL.into_iter().find(|w| w.as_str() == text)
    }
}

/// A span of time the report counts, `[since, until)` in Unix seconds,
/// widened to whole quarter hours (the finest bucket): `since` down, `until` up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// `None`: from the beginning.
    pub since: Option<i64>,
    pub until: i64,
}

/// The stored buckets that make up a [`Period`], each as a half-open range
/// of bucket starts: whole UTC days in the middle (those rolled up into day
/// rows), quarter hours for the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buckets {
    pub days: Option<(i64, i64)>,
    pub quarters: Vec<(i64, i64)>,
}

impl Period {
    pub fn new(since: Option<DateTime<Utc>>, until: DateTime<Utc>) -> Period {
        let down = |t: i64| t.div_euclid(QUARTER) * QUARTER;
        let up = |t: i64| down(t.saturating_add(QUARTER - 1));
        Period { since: since.map(|s| down(s.timestamp())), until: up(until.timestamp()) }
    }

    pub fn since_time(&self) -> Option<DateTime<Utc>> {
        self.since.map(from_unix)
    }

    pub fn until_time(&self) -> DateTime<Utc> {
        from_unix(self.until)
    }

    /// Whether the instant `t` (Unix seconds) is inside.
    pub fn contains(&self, t: i64) -> bool {
        self.since.is_none_or(|s| t >= s) && t < self.until
    }

    /// Which buckets to read: as many whole days before `rolled_until` (the
    /// day rows hold the days before it) as fit, quarter hours for the rest.
    pub fn buckets(&self, rolled_until: i64) -> Buckets {
        let first_day =
            self.since.map_or(i64::MIN, |s| s.div_euclid(DAY) * DAY + if s.rem_euclid(DAY) == 0 { 0 } else { DAY });
        let end_day = (self.until.div_euclid(DAY) * DAY).min(rolled_until.div_euclid(DAY) * DAY);
        let since = self.since.unwrap_or(i64::MIN);
        if first_day >= end_day {
            return Buckets {
                days: None,
                quarters: vec![(since, self.until)].into_iter().filter(|(a, b)| a < b).collect(),
            };
        }
        let quarters = [(since, first_day), (end_day, self.until)].into_iter().filter(|(a, b)| a < b).collect();
        Buckets { days: Some((first_day, end_day)), quarters }
    }
}

/// One stored tally, summed over the buckets of a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub cadence: String,
    pub step: String,
    /// The mailbox of the email, `""` for manual steps.
    pub mailbox: String,
    pub what: What,
    /// The step's kind (email, call, linkedin, task).
    pub kind: String,
    pub n: u64,
}

/// How many touchpoints of one step ended how, and what their emails earned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    pub failed: u64,
    pub uncertain: u64,
    pub skipped: u64,
    pub open: u64,
    pub done: u64,
    pub replied: u64,
    pub auto_replies: u64,
    pub bounced_address: u64,
    pub bounced_sender: u64,
    pub unsubscribed: u64,
    pub complaints: u64,
}

impl Counts {
    pub fn add(&mut self, what: What, n: u64) {
        let slot = match what {
            What::Sent => &mut self.sent,
            What::Failed => &mut self.failed,
            What::Uncertain => &mut self.uncertain,
            What::Skipped => &mut self.skipped,
            What::Open => &mut self.open,
            What::Done => &mut self.done,
            What::Replied => &mut self.replied,
            What::AutoReply => &mut self.auto_replies,
            What::BouncedAddress => &mut self.bounced_address,
            What::BouncedSender => &mut self.bounced_sender,
            What::Unsubscribed => &mut self.unsubscribed,
            What::Complaint => &mut self.complaints,
        };
        *slot = slot.saturating_add(n);
    }

    /// Leads that got to the step: every touchpoint it has, whatever became of it.
    pub fn reached(&self) -> u64 {
        self.sent + self.failed + self.uncertain + self.skipped + self.open + self.done
    }

    pub fn bounced(&self) -> u64 {
        self.bounced_address + self.bounced_sender
    }
}

/// `n / of`, 0 when there is nothing to divide; four decimals.
pub fn rate(n: u64, of: u64) -> f64 {
    if of == 0 {
        return 0.0;
    }
    (n as f64 / of as f64 * 10_000.0).round() / 10_000.0
}

/// The median of `seconds`, in hours with two decimals; `None` when empty.
pub fn median_hours(seconds: &mut [i64]) -> Option<f64> {
    if seconds.is_empty() {
        return None;
    }
    seconds.sort_unstable();
    let mid = seconds.len() / 2;
    let median = if seconds.len() % 2 == 1 {
        seconds[mid] as f64
    } else {
        (seconds[mid - 1] as f64 + seconds[mid] as f64) / 2.0
    };
    Some((median / 3600.0 * 100.0).round() / 100.0)
}

/// A bar of `width` cells for `value` out of `max`, in eighths of a cell, so
/// that a funnel reads in a terminal; at least a sliver for any value above 0.
pub fn bar(value: u64, max: u64, width: usize) -> String {
    const PARTS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    if max == 0 || value == 0 {
        return String::new();
    }
    let eighths = ((value.min(max) as f64 / max as f64) * (width * 8) as f64).round().max(1.0) as usize;
    let mut out = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        out.push(PARTS[eighths % 8]);
    }
    out
}

/// A rate with its interval on a scale from 0 to `max`, `width` cells
/// wide, for a terminal: `├──●───┤` from the interval's low end to its high
/// end, the rate at `●`.
pub fn whisker(lo: f64, mid: f64, hi: f64, max: f64, width: usize) -> String {
    if max <= 0.0 || width < 3 {
        return String::new();
    }
    let cell = |x: f64| ((x / max).clamp(0.0, 1.0) * (width - 1) as f64).round() as usize;
    let (a, m, b) = (cell(lo), cell(mid), cell(hi));
    (0..width)
        .map(|i| match i {
            _ if i == m => '●',
            _ if i == a => '├',
            _ if i == b => '┤',
            _ if i > a && i < b => '─',
            _ => ' ',
        })
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// One step's line of the report (the JSON shape is part of the contract:
/// fields may be added, none renamed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    pub step: String,
    pub kind: String,
    pub reached: u64,
    pub sent: u64,
    pub done: u64,
    pub skipped: u64,
    pub failed: u64,
    pub uncertain: u64,
    pub open: u64,
    pub bounced: u64,
    /// Of `bounced`: the address is dead.
    pub bounced_dead: u64,
    /// Of `bounced`: refused for reasons aimed at the sender (blocklists, spam filters).
    pub bounced_sender: u64,
    pub replied: u64,
    /// Complaints included.
    pub unsubscribed: u64,
    pub complaints: u64,
    pub auto_replies: u64,
    pub reply_rate: f64,
    pub median_hours_to_reply: Option<f64>,
    /// The step is no longer in the cadence file (its history stays).
    pub removed: bool,
    /// Outcomes credited to the step (meetings, won, lost, their value).
    pub meetings: u64,
    pub won: u64,
    pub lost: u64,
    pub value: f64,
    /// Per variant, when the step has variants.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantReport>,
    /// Which variant earns more replies, once the data can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<crate::core::stats::Comparison>,
    /// With `pick_winner`: since when new leads get only the winner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winner_since: Option<String>,
    /// With a holdout: what the step adds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lift: Option<Lift>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CadenceReport {
    pub cadence: String,
    pub enrolled: u64,
    pub states: BTreeMap<&'static str, u64>,
    pub steps: Vec<StepReport>,
    /// The cadence file is gone (its leads and history stay).
    pub orphaned: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MailboxReport {
    pub mailbox: String,
    pub sent: u64,
    pub bounced: u64,
    pub bounced_dead: u64,
    pub bounced_sender: u64,
    pub complaints: u64,
    pub bounce_rate: f64,
    pub complaint_rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub since: Option<String>,
    pub until: String,
    pub cadences: Vec<CadenceReport>,
    pub mailboxes: Vec<MailboxReport>,
}

/// A cadence as its file defines it: its name and its steps (id, kind) in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Defined {
    pub name: String,
    pub steps: Vec<(String, String)>,
    /// The steps with variants or a holdout, and how they are judged.
    pub tests: Vec<StepTest>,
}

impl Defined {
    /// The loaded cadences, in name order.
    pub fn all(cadences: &Cadences) -> Vec<Defined> {
        cadences
            .by_name
            .values()
            .map(|c| Defined {
                name: c.name.clone(),
                steps: c.steps.iter().map(|s| (s.id.clone(), s.kind.as_str().to_string())).collect(),
                tests: c
                    .steps
                    .iter()
                    .filter(|s| !s.variants.is_empty() || s.holdout.is_some())
                    .map(|s| StepTest {
                        step: s.id.clone(),
                        variants: s.variants.iter().map(|v| v.id.clone()).collect(),
                        holdout: s.holdout.is_some(),
                        min_sample: s.min_sample,
                        pick_winner: s.pick_winner,
                    })
                    .collect(),
            })
            .collect()
    }
}

/// A `--since`/`--until` value that is neither a date nor an instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {0:?} (expected YYYY-MM-DD, the start of that day, or RFC 3339, e.g. 2026-03-02T09:00:00Z)")]
pub struct DateError(pub String);

/// `2026-03-02` (the start of that day in `tz`) or an RFC 3339 instant.
pub fn parse_date(text: &str, tz: Tz) -> Result<DateTime<Utc>, DateError> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return day_start(date, tz).ok_or_else(|| DateError(text.to_string()));
    }
    parse_instant(text).map_err(|_| DateError(text.to_string()))
}

/// The first instant of `date` in `tz` (after the gap where the clocks skip midnight).
pub fn day_start(date: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    let midnight = date.and_time(chrono::NaiveTime::MIN);
    (0..=4 * 24)
        .find_map(|q| tz.from_local_datetime(&(midnight + Duration::minutes(15 * q))).earliest())
        .map(|t| t.with_timezone(&Utc))
}

/// What the report is made of.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The cadences loaded from their files, in name order.
    pub defined: Vec<Defined>,
    /// Only this cadence, if given.
    pub only: Option<String>,
    /// Enrollments per cadence and state, now.
    pub states: Vec<(String, State, u64)>,
    pub tallies: Vec<Tally>,
    /// Seconds from each answered email to its first reply: (cadence, step, seconds).
    pub delays: Vec<(String, String, i64)>,
    /// The configured mailboxes (shown even when they sent nothing).
    pub mailboxes: Vec<String>,
    /// Per step and variant key (`''`, a variant id, `':holdout'`): what
    /// (`reached`, `replied`, `window_replied`, `meeting`, `won`, `lost`), n, value.
    pub variant_tallies: Vec<VariantTally>,
    /// `pick_winner`'s choices: (cadence, step, variant, since).
    pub winners: Vec<Winner>,
}

/// Turns tallies into the report of `period`.
pub fn assemble(period: Period, input: Input) -> Report {
    let wanted = |c: &str| input.only.as_deref().is_none_or(|o| o == c);
    let mut steps: BTreeMap<(String, String), (String, Counts)> = BTreeMap::new();
    let mut mailboxes: BTreeMap<String, Counts> =
        input.mailboxes.iter().map(|m| (m.clone(), Counts::default())).collect();
    for t in &input.tallies {
        if !t.mailbox.is_empty() && t.kind == "email" {
            mailboxes.entry(t.mailbox.clone()).or_default().add(t.what, t.n);
        }
        if wanted(&t.cadence) {
            let entry =
                steps.entry((t.cadence.clone(), t.step.clone())).or_insert_with(|| (t.kind.clone(), Counts::default()));
            entry.1.add(t.what, t.n);
        }
    }
    let mut tested = by_step(input.variant_tallies);
    let mut delays: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for (cadence, step, seconds) in input.delays {
        if wanted(&cadence) {
            delays.entry((cadence, step)).or_default().push(seconds);
        }
    }
    let mut states: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    for (cadence, state, n) in &input.states {
        if wanted(cadence) {
            let per =
                states.entry(cadence.clone()).or_insert_with(|| State::ALL.iter().map(|s| (s.as_str(), 0)).collect());
            *per.entry(state.as_str()).or_default() += n;
        }
    }
    // Every cadence that has a file, leads or history, in name order.
    let mut names: Vec<String> = input.defined.iter().map(|d| d.name.clone()).filter(|n| wanted(n)).collect();
    names.extend(states.keys().cloned());
    names.extend(steps.keys().map(|(c, _)| c.clone()));
    names.sort();
    names.dedup();
    let cadences = names
        .into_iter()
        .map(|name| {
            let defined = input.defined.iter().find(|d| d.name == name);
            let mut order: Vec<(String, String, bool)> = defined
                .map(|d| d.steps.iter().map(|(id, kind)| (id.clone(), kind.clone(), false)).collect())
                .unwrap_or_default();
            // Steps with history that the file no longer has (or all of them, without a file), after the others.
            for ((cadence, step), (kind, _)) in steps.range((name.clone(), String::new())..) {
                if *cadence != name {
                    break;
                }
                if !order.iter().any(|(id, ..)| id == step) {
                    order.push((step.clone(), kind.clone(), true));
                }
            }
            let step_reports = order
                .into_iter()
                .map(|(step, kind, removed)| {
                    let key = (name.clone(), step);
                    let counts = steps.get(&key).map(|(_, c)| *c).unwrap_or_default();
                    let median = delays.get_mut(&key).and_then(|d| median_hours(d));
                    let tallies = tested.remove(&key);
                    let test = defined.and_then(|d| d.tests.iter().find(|t| t.step == key.1));
                    let winner = input.winners.iter().find(|w| w.0 == key.0 && w.1 == key.1);
                    let mut report = step_report(key.1, kind, &counts, median, removed);
                    let o = outcomes(tallies.as_ref());
                    (report.meetings, report.won, report.lost, report.value) = (o.meetings, o.won, o.lost, o.value);
                    let empty = StepTest::default();
                    let has_history =
                        tallies.as_ref().is_some_and(|t| t.keys().any(|k| !k.is_empty() && k != HOLDOUT_KEY));
                    if test.is_some_and(|t| !t.variants.is_empty()) || has_history {
                        let t = test.unwrap_or(&empty);
                        report.variants = variant_reports(t, tallies.as_ref());
                        if t.variants.len() >= 2 {
                            report.comparison =
                                Some(crate::core::stats::compare(&arms(t, &report.variants), t.min_sample));
                        }
                    }
                    if let Some((.., variant, since)) = winner {
                        report.winner_since = Some(rfc3339(*since));
                        if let Some(c) = report.comparison.as_mut() {
                            // Picked once and kept: new leads get only it.
                            c.winner.clone_from(variant);
                        }
                    }
                    if test.is_some_and(|t| t.holdout) || tallies.as_ref().is_some_and(|t| t.contains_key(HOLDOUT_KEY))
                    {
                        report.lift = Some(lift(counts.reached(), tallies.as_ref()));
                    }
                    report
                })
                .collect();
            let per_state =
                states.remove(&name).unwrap_or_else(|| State::ALL.iter().map(|s| (s.as_str(), 0)).collect());
            CadenceReport {
                enrolled: per_state.values().sum(),
                states: per_state,
                steps: step_reports,
                orphaned: defined.is_none(),
                cadence: name,
            }
        })
        .collect();
    let mailboxes = mailboxes
        .into_iter()
        .map(|(mailbox, c)| MailboxReport {
            mailbox,
            sent: c.sent,
            bounced: c.bounced(),
            bounced_dead: c.bounced_address,
            bounced_sender: c.bounced_sender,
            complaints: c.complaints,
            bounce_rate: rate(c.bounced(), c.sent),
            complaint_rate: rate(c.complaints, c.sent),
        })
        .collect();
    Report { since: period.since_time().map(rfc3339), until: rfc3339(period.until_time()), cadences, mailboxes }
}

fn step_report(step: String, kind: String, c: &Counts, median: Option<f64>, removed: bool) -> StepReport {
    StepReport {
        step,
        kind,
        reached: c.reached(),
        sent: c.sent,
        done: c.done,
        skipped: c.skipped,
        failed: c.failed,
        uncertain: c.uncertain,
        open: c.open,
        bounced: c.bounced(),
        bounced_dead: c.bounced_address,
        bounced_sender: c.bounced_sender,
        replied: c.replied,
        unsubscribed: c.unsubscribed,
        complaints: c.complaints,
        auto_replies: c.auto_replies,
        reply_rate: rate(c.replied, c.sent),
        median_hours_to_reply: median,
        removed,
        meetings: 0,
        won: 0,
        lost: 0,
        value: 0.0,
        variants: Vec::new(),
        comparison: None,
        winner_since: None,
        lift: None,
    }
}

#[cfg(test)]
mod tests;
