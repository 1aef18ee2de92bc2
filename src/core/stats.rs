//! PURE: the statistics of variants and holdouts: Wilson score intervals
//! for a rate, Newcombe's hybrid score interval for the difference of two
//! rates (Newcombe 1998, "Interval estimation for the difference between
//! independent proportions: comparison of eleven methods", method 10), and
//! the rule that names a winner only when the data can tell.

use serde::Serialize;

/// The normal quantile of a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// The Wilson score interval of `x` successes out of `n` (no continuity
/// correction), `z` the normal quantile; `(0, 1)` when `n` is 0.
pub fn wilson(x: u64, n: u64, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = x.min(n) as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let center = (p + z2 / (2.0 * n_f)) / denom;
    let half = z / denom * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    // At x = 0 or x = n one end is exactly 0 or 1; rounding must not leave it a hair off.
    let lo = if x == 0 { 0.0 } else { (center - half).max(0.0) };
    let hi = if x >= n { 1.0 } else { (center + half).min(1.0) };
    (lo, hi)
}

/// The difference of two rates `x1/n1 − x2/n2` with its interval by
/// Newcombe's method 10 (the hybrid score interval, built from the two
/// Wilson intervals). `None` when either group is empty.
pub fn newcombe(x1: u64, n1: u64, x2: u64, n2: u64, z: f64) -> Option<(f64, f64, f64)> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let p1 = x1.min(n1) as f64 / n1 as f64;
    let p2 = x2.min(n2) as f64 / n2 as f64;
    let (l1, u1) = wilson(x1, n1, z);
    let (l2, u2) = wilson(x2, n2, z);
    let d = p1 - p2;
    let lo = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let hi = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    Some((d, lo.max(-1.0), hi.min(1.0)))
}

/// Roughly how many leads per group a difference between rates `p1` and
/// `p2` needs before its 95% interval leaves out zero (the normal
/// approximation: z²·(p1·q1 + p2·q2) / d²); `None` when they are equal.
pub fn leads_per_group(p1: f64, p2: f64) -> Option<u64> {
    let d = (p1 - p2).abs();
    if d < 1e-12 {
        return None;
    }
    let var = p1 * (1.0 - p1) + p2 * (1.0 - p2);
    let n = (Z95 * Z95 * var / (d * d)).ceil();
    Some(if n.is_finite() && n > 0.0 { n as u64 } else { 1 })
}

/// What one variant earned, as the comparison reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arm {
    pub id: String,
    pub reached: u64,
    pub replied: u64,
}

impl Arm {
    pub fn rate(&self) -> f64 {
        if self.reached == 0 { 0.0 } else { self.replied.min(self.reached) as f64 / self.reached as f64 }
    }
}

/// The verdict on a step's variants (the JSON shape is part of the contract).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The winning variant's id, or `"not yet"`.
    pub winner: String,
    /// With `"not yet"`: roughly how many more leads (all variants together)
    /// the observed difference needs; `None` when no difference shows yet.
    pub leads_needed: Option<u64>,
    /// The variant with the best reply rate so far.
    pub leading: Option<String>,
    /// The variant closest to it.
    pub runner_up: Option<String>,
    /// The leading rate minus the runner-up's, with its 95% interval (Newcombe).
    pub difference: Option<f64>,
    pub interval: Option<[f64; 2]>,
    pub min_sample: u64,
    /// Why there is no winner yet, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The words of a comparison without a winner.
pub const NOT_YET: &str = "not yet";

/// Names a winner among `arms` (two or more) only when every variant
/// reached at least `min_sample` leads and the 95% interval of the
/// difference between the best reply rate and each other one leaves out
/// zero; otherwise `"not yet"`, with roughly how many more leads the
/// observed difference (best against the closest) would need.
pub fn compare(arms: &[Arm], min_sample: u64) -> Comparison {
    let mut order: Vec<&Arm> = arms.iter().collect();
    // Best rate first; on a tie, the order of the file.
    order.sort_by(|a, b| b.rate().total_cmp(&a.rate()));
    let mut out = Comparison {
        winner: NOT_YET.into(),
        leads_needed: None,
        leading: None,
        runner_up: None,
        difference: None,
        interval: None,
        min_sample,
        why: None,
    };
    let (Some(best), Some(second)) = (order.first(), order.get(1)) else {
        out.why = Some("a comparison needs two variants".into());
        return out;
    };
    out.leading = Some(best.id.clone());
    out.runner_up = Some(second.id.clone());
    if let Some((d, lo, hi)) = newcombe(best.replied, best.reached, second.replied, second.reached, Z95) {
        out.difference = Some(round4(d));
        out.interval = Some([round4(lo), round4(hi)]);
    }
    let separated = order[1..].iter().all(|other| {
        newcombe(best.replied, best.reached, other.replied, other.reached, Z95).is_some_and(|(_, lo, _)| lo > 0.0)
    });
    let sampled = arms.iter().all(|a| a.reached >= min_sample);
    if separated && sampled {
        out.winner = best.id.clone();
        return out;
    }
    let needed_each = leads_per_group(best.rate(), second.rate()).map(|n| n.max(min_sample));
    let needed_each = match needed_each {
        Some(n) if !separated => Some(n),
        // Separated already: only min_sample is missing.
        _ if separated => Some(min_sample),
        _ => None,
    };
    out.leads_needed = needed_each.map(|n| arms.iter().map(|a| n.saturating_sub(a.reached)).sum::<u64>().max(1));
    out.why = Some(if !sampled {
        format!("every variant needs {min_sample} leads first")
    } else if out.leads_needed.is_none() {
        "no difference shows yet".into()
    } else {
        "the interval of the difference still includes zero".into()
    });
    out
}

/// Four decimals, as the report prints rates.
pub fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests;
