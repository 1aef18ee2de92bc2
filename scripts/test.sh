#!/usr/bin/env bash
# The whole test suite, from a fresh clone: formatting, lints, unit and
# end-to-end tests (real SQLite files, a real SMTP server on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --all-targets
