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

/// A step's variants and holdout, as its file defines them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StepTest {
    pub step: String,
    /// Variant ids, in file order.
    pub variants: Vec<String>,
    pub holdout: bool,
    pub min_sample: u64,
    pub pick_winner: bool,
}

/// What one variant of a step earned (the JSON shape is part of the contract).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VariantReport {
    pub id: String,
    pub reached: u64,
    pub replied: u64,
    pub reply_rate: f64,
    /// 95% Wilson interval of the reply rate.
    pub reply_interval: [f64; 2],
    pub meetings: u64,
    pub won: u64,
    pub lost: u64,
    /// The sum of the amounts recorded with its outcomes (`mark ... --value`).
    pub value: f64,
}

/// What a step adds over leaving it out: the reply rate (replies from the
/// step's time until the next step's) of leads who got it minus that of
/// leads held out, with its 95% interval (Newcombe).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lift {
    pub value: Option<f64>,
    pub interval: Option<[f64; 2]>,
    /// Leads held out, and of them those who replied in the step's window.
    pub held_out: u64,
    pub held_out_replied: u64,
    /// Leads who got the step, and of them those who replied in its window.
    pub reached: u64,
    pub replied: u64,
    pub reply_rate: f64,
    pub held_out_reply_rate: f64,
    /// Whether the interval leaves out zero: the step makes a difference.
    pub significant: bool,
}

/// Outcomes credited to a step (all its variants).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct OutcomeCounts {
    pub meetings: u64,
    pub won: u64,
    pub lost: u64,
    pub value: f64,
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
    pub variant_tallies: Vec<crate::store::VariantTally>,
    /// `pick_winner`'s choices: (cadence, step, variant, since).
    pub winners: Vec<crate::store::Winner>,
}

/// The key of the leads held out of a step in the variant tallies.
pub const HOLDOUT_KEY: &str = ":holdout";

/// One step's variant tallies: by variant key, by what, (n, value).
type StepTallies = BTreeMap<String, BTreeMap<String, (u64, f64)>>;

/// The variant tallies of each step, by (cadence, step).
fn by_step(tallies: Vec<crate::store::VariantTally>) -> BTreeMap<(String, String), StepTallies> {
    let mut out: BTreeMap<(String, String), StepTallies> = BTreeMap::new();
    for (cadence, step, variant, what, n, value) in tallies {
        let slot = out.entry((cadence, step)).or_default().entry(variant).or_default().entry(what).or_default();
        slot.0 += n;
        slot.1 += value;
    }
    out
}

fn get(t: Option<&BTreeMap<String, (u64, f64)>>, what: &str) -> (u64, f64) {
    t.and_then(|t| t.get(what)).copied().unwrap_or_default()
}

/// Each variant's figures, in file order (then any variant with history
/// that the file no longer has).
pub fn variant_reports(test: &StepTest, tallies: Option<&StepTallies>) -> Vec<VariantReport> {
    let mut ids = test.variants.clone();
    if let Some(t) = tallies {
        for key in t.keys() {
            if !key.is_empty() && key != HOLDOUT_KEY && !ids.contains(key) {
                ids.push(key.clone());
            }
        }
    }
    ids.into_iter()
        .map(|id| {
            let t = tallies.and_then(|t| t.get(&id));
            let reached = get(t, "reached").0;
            let replied = get(t, "replied").0;
            let (lo, hi) = crate::core::stats::wilson(replied, reached, crate::core::stats::Z95);
            let (meeting, won, lost) = (get(t, "meeting"), get(t, "won"), get(t, "lost"));
            VariantReport {
                id,
                reached,
                replied,
                reply_rate: rate(replied, reached),
                reply_interval: [crate::core::stats::round4(lo), crate::core::stats::round4(hi)],
                meetings: meeting.0,
                won: won.0,
                lost: lost.0,
                value: crate::core::stats::round4(meeting.1 + won.1 + lost.1),
            }
        })
        .collect()
}

/// The arms a comparison reads: the variants the file still has.
pub fn arms(test: &StepTest, variants: &[VariantReport]) -> Vec<crate::core::stats::Arm> {
    variants
        .iter()
        .filter(|v| test.variants.contains(&v.id))
        .map(|v| crate::core::stats::Arm { id: v.id.clone(), reached: v.reached, replied: v.replied })
        .collect()
}

/// A holdout step's lift: `reached` is every lead that got to the step,
/// held out or not.
fn lift(reached: u64, tallies: Option<&StepTallies>) -> Lift {
    let held = tallies.and_then(|t| t.get(HOLDOUT_KEY));
    let held_out = get(held, "reached").0;
    let held_out_replied = get(held, "window_replied").0;
    let got = reached.saturating_sub(held_out);
    let replied: u64 = tallies
        .map(|t| t.iter().filter(|(k, _)| *k != HOLDOUT_KEY).map(|(_, w)| get(Some(w), "window_replied").0).sum())
        .unwrap_or_default();
    let diff = crate::core::stats::newcombe(replied, got, held_out_replied, held_out, crate::core::stats::Z95);
    Lift {
        value: diff.map(|(d, ..)| crate::core::stats::round4(d)),
        interval: diff.map(|(_, lo, hi)| [crate::core::stats::round4(lo), crate::core::stats::round4(hi)]),
        held_out,
        held_out_replied,
        reached: got,
        replied,
        reply_rate: rate(replied, got),
        held_out_reply_rate: rate(held_out_replied, held_out),
        significant: diff.is_some_and(|(_, lo, hi)| lo > 0.0 || hi < 0.0),
    }
}

/// The winner of `step`'s variants by `tallies` (of its cadence), if the
/// comparison names one: what `pick_winner` goes by.
pub fn winner_of(step: &crate::cadence::Step, cadence: &str, tallies: &[crate::store::VariantTally]) -> Option<String> {
    let mine: Vec<crate::store::VariantTally> =
        tallies.iter().filter(|t| t.0 == cadence && t.1 == step.id).cloned().collect();
    let by = by_step(mine);
    let test = StepTest {
        step: step.id.clone(),
        variants: step.variants.iter().map(|v| v.id.clone()).collect(),
        holdout: step.holdout.is_some(),
        min_sample: step.min_sample,
        pick_winner: step.pick_winner,
    };
    let reports = variant_reports(&test, by.values().next());
    let c = crate::core::stats::compare(&arms(&test, &reports), test.min_sample);
    (c.winner != crate::core::stats::NOT_YET).then_some(c.winner)
}

/// The outcomes credited to a step, all its variants together.
fn outcomes(tallies: Option<&StepTallies>) -> OutcomeCounts {
    let mut out = OutcomeCounts::default();
    for t in tallies.into_iter().flat_map(|t| t.values()) {
        let (meeting, won, lost) = (get(Some(t), "meeting"), get(Some(t), "won"), get(Some(t), "lost"));
        out.meetings += meeting.0;
        out.won += won.0;
        out.lost += lost.0;
        out.value += meeting.1 + won.1 + lost.1;
    }
    out.value = crate::core::stats::round4(out.value);
    out
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
mod tests {
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
        assert_eq!(
            short.buckets(i64::MAX),
            Buckets { days: None, quarters: vec![(short.since.unwrap(), short.until)] }
        );
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
                    let in_days =
                        b.days.is_some_and(|(a, z)| t.div_euclid(DAY) * DAY >= a && t.div_euclid(DAY) * DAY < z);
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
        assert_eq!(
            (call.kind.as_str(), call.reached, call.done, call.skipped, call.reply_rate),
            ("call", 4, 3, 1, 0.0)
        );
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
                defined: vec![Defined {
                    name: "a".into(),
                    steps: vec![("s".into(), "email".into())],
                    tests: Vec::new(),
                }],
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
}
