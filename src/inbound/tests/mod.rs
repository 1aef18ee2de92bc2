//! Tests: hand-written messages for each kind, robustness, and the agreement with the reference
//! expectations of the shared bounce fixtures.

mod bounces;
mod fixtures;
mod messages;
mod robustness;

/// The shared bounce fixtures (real messages with the reference parser's verdicts).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bounces");
