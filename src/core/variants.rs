//! PURE: which variant of a step a lead gets, and whether the lead is held
//! out of it. Both are a fixed function of the lead's address, the cadence
//! and the step, so that a reload, a re-plan, a restart or a new release
//! never switches a lead (the SPEC's guarantee; the variant is also recorded
//! on the touchpoint once the step happened).
//!
//! The draw is SHA-256 of `cadenced-v1 \0 purpose \0 address \0 cadence \0
//! step` (the address lowercased), its first eight bytes read as a
//! big-endian integer and divided by 2^64: a number in [0, 1). `purpose` is
//! `variant` or `holdout`, so that a lead's variant does not depend on
//! whether it was held out elsewhere. This must never change: a lead's
//! choice is only recorded once its step happened, so a different draw
//! would switch the leads on their way to a step.

use ring::digest::{SHA256, digest};

use crate::cadence::Step;

/// Why a lead is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Variant,
    Holdout,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Variant => "variant",
            Purpose::Holdout => "holdout",
        }
    }
}

/// The lead's draw in [0, 1) for `purpose` at `step` of `cadence`.
pub fn draw(purpose: Purpose, email: &str, cadence: &str, step: &str) -> f64 {
    let email = email.trim().to_ascii_lowercase();
    let mut input = Vec::with_capacity(32 + email.len() + cadence.len() + step.len());
    for part in ["cadenced-v1", purpose.as_str(), &email, cadence, step] {
        input.extend_from_slice(part.as_bytes());
        input.push(0);
    }
    let hash = digest(&SHA256, &input);
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_ref()[..8]);
    // 53 bits: every value is exact in an f64 and the result stays below 1.
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// Index of the variant a draw `u` in [0, 1) falls in, each variant taking a
/// share of [0, 1) in proportion to its weight, in the order given. `None`
/// when there is no variant or no positive weight.
pub fn pick(weights: &[f64], u: f64) -> Option<usize> {
    let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let target = u.clamp(0.0, 1.0) * total;
    let mut acc = 0.0;
    let mut last = None;
    for (i, w) in weights.iter().enumerate() {
        if *w <= 0.0 {
            continue;
        }
        acc += w;
        last = Some(i);
        if target < acc {
            return Some(i);
        }
    }
    last
}

/// Whether the lead is held out of a step with share `holdout` held out.
pub fn held_out(holdout: Option<f64>, email: &str, cadence: &str, step: &str) -> bool {
    holdout.is_some_and(|h| h > 0.0 && draw(Purpose::Holdout, email, cadence, step) < h)
}

/// The variant a lead with address `email` gets at `step` of `cadence`:
/// `winner` when one was picked (`pick_winner`), else the stable draw;
/// `None` for a step without variants.
pub fn variant_of<'s>(step: &'s Step, email: &str, cadence: &str, winner: Option<&str>) -> Option<&'s str> {
    if let Some(w) = winner.and_then(|w| step.variants.iter().find(|v| v.id == w)) {
        return Some(&w.id);
    }
    let weights: Vec<f64> = step.variants.iter().map(|v| v.weight).collect();
    let u = draw(Purpose::Variant, email, cadence, &step.id);
    pick(&weights, u).map(|i| step.variants[i].id.as_str())
}

/// Whether a lead with address `email` is held out of `step` of `cadence`.
pub fn is_held_out(step: &Step, email: &str, cadence: &str) -> bool {
    held_out(step.holdout, email, cadence, &step.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_draw_is_fixed_across_releases() {
        // These values are the contract: a change here switches leads in flight.
        let u = draw(Purpose::Variant, "Jane@Acme.test", "seven-touch", "intro");
        assert_eq!(u, draw(Purpose::Variant, "jane@acme.test", "seven-touch", "intro"));
        let pinned = format!("{u:.12}");
        assert_eq!(pinned, format!("{:.12}", draw(Purpose::Variant, " jane@acme.test ", "seven-touch", "intro")));
        assert_eq!(pinned, PINNED_JANE);
        assert_ne!(u, draw(Purpose::Holdout, "jane@acme.test", "seven-touch", "intro"));
        assert_ne!(u, draw(Purpose::Variant, "jane@acme.test", "seven-touch", "bump-1"));
    }

    /// Computed apart (Python's hashlib) from the documented construction.
    const PINNED_JANE: &str = "0.898626547068";

    #[test]
    fn draws_are_uniform_enough() {
        let n = 20_000;
        let below_tenth = (0..n).filter(|i| draw(Purpose::Holdout, &format!("l{i}@x.test"), "c", "s") < 0.1).count();
        // 10% of 20 000 is 2 000, with a standard deviation of about 42.
        assert!((1_830..2_170).contains(&below_tenth), "{below_tenth}");
    }

    #[test]
    fn weights_share_the_unit_interval() {
        assert_eq!(pick(&[1.0, 1.0], 0.0), Some(0));
        assert_eq!(pick(&[1.0, 1.0], 0.49), Some(0));
        assert_eq!(pick(&[1.0, 1.0], 0.5), Some(1));
        assert_eq!(pick(&[1.0, 3.0], 0.26), Some(1));
        assert_eq!(pick(&[1.0, 3.0], 0.24), Some(0));
        assert_eq!(pick(&[1.0, 1.0], 0.999_999), Some(1));
        assert_eq!(pick(&[], 0.3), None);
        assert_eq!(pick(&[0.0, 2.0], 0.0), Some(1));
    }

    #[test]
    fn a_holdout_takes_its_share() {
        assert!(!held_out(None, "a@x.test", "c", "s"));
        assert!(!held_out(Some(0.0), "a@x.test", "c", "s"));
        assert!(held_out(Some(1.0), "a@x.test", "c", "s"));
        let held = (0..10_000).filter(|i| held_out(Some(0.25), &format!("l{i}@x.test"), "c", "s")).count();
        assert!((2_350..2_650).contains(&held), "{held}");
    }
}
