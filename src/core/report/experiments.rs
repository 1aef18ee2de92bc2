//! PURE: the report's experiments: each variant's reply rate with its
//! Wilson interval, the comparison that names a winner (or how many more
//! leads it needs), a holdout's lift, and the outcomes credited to a step.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::rate;

/// One variant tally summed over a period: (cadence, step, variant, what, n, value).
pub type VariantTally = (String, String, String, String, u64, f64);

/// A variant `pick_winner` chose: (cadence, step, variant, since).
pub type Winner = (String, String, String, DateTime<Utc>);

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

/// The key of the leads held out of a step in the variant tallies.
pub const HOLDOUT_KEY: &str = ":holdout";

/// One step's variant tallies: by variant key, by what, (n, value).
type StepTallies = BTreeMap<String, BTreeMap<String, (u64, f64)>>;

/// The variant tallies of each step, by (cadence, step).
pub(super) fn by_step(tallies: Vec<VariantTally>) -> BTreeMap<(String, String), StepTallies> {
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
pub(super) fn lift(reached: u64, tallies: Option<&StepTallies>) -> Lift {
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
pub fn winner_of(step: &crate::cadence::Step, cadence: &str, tallies: &[VariantTally]) -> Option<String> {
    let mine: Vec<VariantTally> = tallies.iter().filter(|t| t.0 == cadence && t.1 == step.id).cloned().collect();
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
pub(super) fn outcomes(tallies: Option<&StepTallies>) -> OutcomeCounts {
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
