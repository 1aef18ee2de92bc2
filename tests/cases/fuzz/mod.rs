//! Fuzz-style property tests (issue 7, item 6): no input file or message
//! panics the library; a bad file gets a clear error instead.
//!
//! Four targets, each a pure, in-process call with generated input, both
//! arbitrary and structure-aware (well-formed documents, then mutated; real
//! files, mutated):
//!
//! * `cadence_files`: `Cadence::parse`; on success also `plan::timeline` for
//!   random starts, zones and calendars, and `Templates::render` with random
//!   fields. An error is one `file:line:col: message` per line, line and col >= 1.
//! * `config_files`: `Config::parse`, same error shape.
//! * `csv_rows`: `intake::read_rows` with `intake::prepare` as the check: every
//!   record is either enrolled or reported with a line number >= 1 (or the
//!   whole file is refused: no header, no `email` column).
//! * `inbound_messages`: `inbound::classify` on arbitrary bytes, mutations of
//!   the bounce fixtures in `tests/fixtures/bounces`, and generated MIME.
//!
//! Here: the harness (environment, seeds, the `fuzz` runner, the error-shape
//! check). The generators the targets share are in `generators` (text,
//! addresses, zones, instants), `toml_writer`, `mutations`, `cron_exprs` and
//! `templates`; each target has its file, named after it; `regressions` pins
//! down what the targets found.
//!
//! A short run is part of the test suite; `scripts/fuzz.sh` runs each target
//! for minutes. Environment:
//!
//! * `CADENCED_FUZZ_CASES`: cases per batch (default: a short run);
//! * `CADENCED_FUZZ_SECONDS`: keep running batches, each from a fresh seed,
//!   until this many seconds have passed (default 0: one batch);
//! * `CADENCED_FUZZ_SEED`: the first batch's seed, a number or `random`
//!   (default: a fixed seed for a single batch, so the suite is reproducible;
//!   random for a timed run). A failure names the seed and case count that
//!   reproduce it.
//! * `CADENCED_FUZZ_SKIP_KNOWN=1`: leave out the inputs of the known bugs that
//!   the regression tests in `regressions.rs` pin down, to look for new
//!   ones while those are unfixed.
//!
//! Each target ends with one line on stderr, `fuzz TARGET: N cases in S s ...`
//! (shown with `--nocapture`). No failure-persistence files are written.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

use cadenced::location::FileErrors;
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestCaseError, TestRunner};

mod cadence_files;
mod config_files;
mod cron_exprs;
mod csv_rows;
mod generators;
mod hostile_templates;
mod inbound_messages;
mod mutations;
mod regressions;
mod templates;
mod toml_writer;

// ---- harness ----------------------------------------------------------------

fn env_var<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// `CADENCED_FUZZ_SKIP_KNOWN=1`: leave out the inputs of the bugs the
/// regression tests (`regressions.rs`) already pin down, to look for new ones while
/// those are unfixed.
fn skip_known() -> bool {
    std::env::var("CADENCED_FUZZ_SKIP_KNOWN").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(Instant::now())
}

/// The next seed of a sequence (splitmix64), so batches do not repeat.
fn next_seed(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs `test` on values of `strategy`: one batch of `CADENCED_FUZZ_CASES`
/// (else `default_cases`) cases, repeated with fresh seeds until
/// `CADENCED_FUZZ_SECONDS` have passed. Panics with the shrunk input and the
/// reproducing seed on the first failure (a panic in the library included).
/// `test` names each case's outcome ("parsed", "rejected", ...); the summary
/// line counts them, to show what the generators reach.
fn fuzz<S>(
    target: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<&'static str, TestCaseError>,
) where
    S: Strategy,
    S::Value: fmt::Debug,
{
    let cases = env_var::<u32>("CADENCED_FUZZ_CASES").filter(|n| *n > 0).unwrap_or(default_cases);
    let seconds = env_var::<f64>("CADENCED_FUZZ_SECONDS").unwrap_or(0.0);
    // A short run (the test suite) is reproducible; a timed run explores.
    let first_seed = match std::env::var("CADENCED_FUZZ_SEED").ok().map(|s| s.trim().to_string()) {
        Some(s) if s == "random" => random_seed(),
        Some(s) => s.parse().unwrap_or_else(|_| panic!("CADENCED_FUZZ_SEED={s:?}: expected a number or `random`")),
        None if seconds > 0.0 => random_seed(),
        None => 0x00C0_FFEE,
    };
    let started = Instant::now();
    let ran = Cell::new(0u64);
    let slowest = Cell::new(Duration::ZERO);
    let outcomes = RefCell::new(BTreeMap::<&'static str, u64>::new());
    let mut seed = first_seed;
    let mut batches = 0u32;
    loop {
        let config = ProptestConfig {
            cases,
            failure_persistence: None,
            rng_seed: RngSeed::Fixed(seed),
            ..ProptestConfig::default()
        };
        let mut runner = TestRunner::new(config);
        let outcome = runner.run(&strategy, |value| {
            let t = Instant::now();
            let result = test(value);
            ran.set(ran.get() + 1);
            slowest.set(slowest.get().max(t.elapsed()));
            let outcome = result?;
            *outcomes.borrow_mut().entry(outcome).or_default() += 1;
            Ok(())
        });
        batches += 1;
        if let Err(e) = outcome {
            panic!(
                "fuzz {target}: {e}\n(after {} cases; CADENCED_FUZZ_SEED={seed} CADENCED_FUZZ_CASES={cases} reproduces it)",
                ran.get()
            );
        }
        if started.elapsed().as_secs_f64() >= seconds {
            break;
        }
        seed = next_seed(seed);
    }
    let outcomes: Vec<String> = outcomes.borrow().iter().map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!(
        "fuzz {target}: {} cases in {:.1} s ({}; {batches} batches of {cases}, first seed {first_seed}, slowest case {} ms)",
        ran.get(),
        started.elapsed().as_secs_f64(),
        outcomes.join(", "),
        slowest.get().as_millis()
    );
}

/// Raw bytes, shown as an escaped byte string when a case fails.
#[derive(Clone, PartialEq, Eq)]
struct Bytes(Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\" ({} bytes)", self.0.escape_ascii(), self.0.len())
    }
}

/// Every line of a rejected file's error is `FILE:LINE:COL: MESSAGE`, FILE
/// under `root`, LINE and COL >= 1, MESSAGE not empty.
fn check_located(errors: &FileErrors, root: &str) -> Result<(), TestCaseError> {
    prop_assert!(!errors.errors.is_empty(), "an error without a problem");
    if skip_known() && errors.errors.iter().any(|e| e.message.contains(['\n', '\r'])) {
        // Known: names and paths are printed raw (see `error_messages_with_line_breaks_*`).
        return Ok(());
    }
    for e in &errors.errors {
        prop_assert!(e.line >= 1 && e.col >= 1, "location {}:{} in {e}", e.line, e.col);
    }
    let text = errors.to_string();
    // A carriage return counts as a line break too: on a terminal it overwrites the line.
    for line in text.split(['\n', '\r']) {
        let rest = line.strip_prefix(root);
        prop_assert!(rest.is_some(), "error line not under {root}: {line:?}\nwhole error:\n{text}");
        let rest = rest.unwrap_or_default();
        // The file name has no ':' (the tests choose it).
        let after_file = rest.split_once(':').map(|(_, r)| r).unwrap_or_default();
        let mut parts = after_file.splitn(3, ':');
        let ln = parts.next().and_then(|n| n.parse::<usize>().ok());
        let col = parts.next().and_then(|n| n.parse::<usize>().ok());
        let message = parts.next().unwrap_or_default();
        prop_assert!(
            matches!((ln, col), (Some(l), Some(c)) if l >= 1 && c >= 1)
                && message.starts_with(' ')
                && !message.trim().is_empty(),
            "error line not `file:line:col: message`: {line:?}\nwhole error:\n{text}"
        );
    }
    Ok(())
}
