//! The scale benchmark's building blocks, shared by `benches/scale.rs` (the
//! full run, `cargo bench --bench scale`) and the smoke test
//! `tests/cases/bench_smoke.rs` (a tiny size in the test suite):
//!
//! - a deterministic population of leads enrolled in three realistic
//!   cadences, written straight into a database that `Store::open` created
//!   (the product's own schema), in one transaction;
//! - the SMTP sink: the tests' own server (`tests/support/smtp/`) in its
//!   counting mode, acknowledging every segment at once;
//! - the figures' measurements: a library-level tick, a plain lettre loop,
//!   the sink's own capacity, whole-process runs of the real binary.
//!
//! Times are relative to `t0`, the instant the ticks run at: exactly
//! `Population::due` email steps are due at `t0` (all in the last hour before
//! it), everything else falls due from `t0 + 1h` to `t0 + 21d`.
//!
//! One file per part: `workdir` (cadences, config, the work folder),
//! `population` (leads and the database), `smtp` (the tests' SMTP server),
//! `library_figures` and `process_figures` (the measurements).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up should stop loudly

pub mod library_figures;
pub mod population;
pub mod process_figures;
// The tests' server: the bench uses its sink only, and the smoke test compiles it twice.
#[allow(dead_code, clippy::duplicate_mod)]
#[path = "../../tests/support/smtp/mod.rs"]
pub mod smtp;
pub mod workdir;

/// Median of `xs` (not empty).
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}
