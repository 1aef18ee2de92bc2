//! The statistics against published values and seeded simulations.

use super::*;

fn close(actual: f64, expected: f64) {
    assert!((actual - expected).abs() < 0.000_051, "{actual} is not {expected} to four decimals");
}

/// Newcombe (1998), "Two-sided confidence intervals for the single
/// proportion: comparison of seven methods", Table I, method 3 (score
/// interval without continuity correction).
#[test]
fn wilson_matches_newcombe_1998_table_i() {
    for (x, n, lo, hi) in
        [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)]
    {
        let (l, h) = wilson(x, n, Z95);
        close(l, lo);
        close(h, hi);
    }
}

/// Newcombe (1998), "Interval estimation for the difference between
/// independent proportions: comparison of eleven methods", Table II,
/// method 10 (hybrid score interval without continuity correction).
#[test]
fn newcombe_matches_newcombe_1998_table_ii_method_10() {
    for (x1, n1, x2, n2, d, lo, hi) in [
        // Examples (a) to (h). Note: (a) is 0.8 - 0.6 = 0.2000, not 0.1833.
        (56, 70, 48, 80, 0.2, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.6, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.5714, 0.0582, 0.8062),
        (5, 56, 0, 29, 0.0893, -0.0381, 0.1926),
        (0, 10, 0, 20, 0.0, -0.1611, 0.2775),
        (0, 10, 0, 10, 0.0, -0.2775, 0.2775),
        (10, 10, 0, 20, 1.0, 0.6791, 1.0),
        (10, 10, 0, 10, 1.0, 0.6075, 1.0),
    ] {
        let (dd, l, h) = newcombe(x1, n1, x2, n2, Z95).unwrap();
        close(dd, d);
        close(l, lo);
        close(h, hi);
    }
    assert_eq!(newcombe(1, 0, 1, 2, Z95), None);
}

#[test]
fn an_empty_group_has_the_whole_interval() {
    assert_eq!(wilson(0, 0, Z95), (0.0, 1.0));
    assert_eq!(wilson(5, 5, Z95).1, 1.0);
}

/// SplitMix64: a fixed, seeded stream, so that each simulation run is the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn replies(&mut self, n: u64, p: f64) -> u64 {
        (0..n).filter(|_| self.next() < p).count() as u64
    }
}

fn arms(a: (u64, u64), b: (u64, u64)) -> Vec<Arm> {
    vec![Arm { id: "a".into(), reached: a.0, replied: a.1 }, Arm { id: "b".into(), reached: b.0, replied: b.1 }]
}

/// Two equal subject lines (8% reply rate), 400 leads each, 2 000 runs: a
/// winner is declared in at most 5% of them.
#[test]
fn a_a_simulation_names_a_false_winner_at_most_five_percent_of_runs() {
    let mut rng = Rng(20);
    let runs = 2_000;
    let mut winners = 0;
    for _ in 0..runs {
        let a = rng.replies(400, 0.08);
        let b = rng.replies(400, 0.08);
        if compare(&arms((400, a), (400, b)), 100).winner != NOT_YET {
            winners += 1;
        }
    }
    assert!(winners <= runs / 20, "{winners} false winners in {runs} runs");
    // And not zero: the test is a test (about 5% are expected).
    assert!(winners > runs / 100, "{winners}");
}

/// A real effect (8% against 14%, 600 leads each) is found in most runs,
/// and the winner named is always the better variant.
#[test]
fn a_b_simulation_finds_a_real_effect() {
    let mut rng = Rng(7);
    let runs = 500;
    let mut found = 0;
    for _ in 0..runs {
        let a = rng.replies(600, 0.08);
        let b = rng.replies(600, 0.14);
        let c = compare(&arms((600, a), (600, b)), 100);
        assert_ne!(c.winner, "a", "the worse variant named the winner");
        if c.winner == "b" {
            found += 1;
        }
    }
    assert!(found * 10 >= runs * 8, "found in {found} of {runs} runs");
}

#[test]
fn no_winner_before_min_sample_even_when_clear() {
    let c = compare(&arms((60, 30), (60, 3)), 100);
    assert_eq!(c.winner, NOT_YET);
    assert_eq!(c.leads_needed, Some(80));
    assert_eq!(c.leading.as_deref(), Some("a"));
    let c = compare(&arms((100, 50), (100, 5)), 100);
    assert_eq!(c.winner, "a");
    assert_eq!(c.leads_needed, None);
}

#[test]
fn not_yet_says_roughly_how_many_more_leads() {
    // 10% against 12%, 200 each: about 1 850 a variant are needed.
    let c = compare(&arms((200, 20), (200, 24)), 100);
    assert_eq!(c.winner, NOT_YET);
    let per = leads_per_group(0.12, 0.10).unwrap();
    assert!((1_800..1_900).contains(&per), "{per}");
    assert_eq!(c.leads_needed, Some(2 * (per - 200)));
    assert_eq!(c.difference, Some(0.02));
    // No difference: nothing to extrapolate.
    assert_eq!(compare(&arms((200, 20), (200, 20)), 100).leads_needed, None);
}

#[test]
fn with_three_variants_the_best_must_beat_each_other() {
    let three = |c: (u64, u64)| {
        let mut v = arms((500, 100), (500, 40));
        v.push(Arm { id: "c".into(), reached: c.0, replied: c.1 });
        v
    };
    assert_eq!(compare(&three((500, 30)), 100).winner, "a");
    assert_eq!(compare(&three((500, 95)), 100).winner, NOT_YET);
}
