#!/usr/bin/env bash
# Runs each fuzz target (tests/cases/fuzz/)
# in a release build for a time budget (default 3 minutes each), batch after
# batch from fresh seeds, and prints how many cases each ran. Offline: nothing
# is downloaded.
#
#   scripts/fuzz.sh                      # every target, 180 s each
#   scripts/fuzz.sh 20                   # every target, 20 s each
#   scripts/fuzz.sh 600 inbound_messages # one target, 10 minutes
#   scripts/fuzz.sh 600 hostile_templates # hostile templates and fields together
#
# Environment: CADENCED_FUZZ_CASES (cases per batch, default 1000),
# CADENCED_FUZZ_SEED (first seed; default random, printed),
# CADENCED_FUZZ_SKIP_KNOWN=1 (leave out the inputs of the known bugs that the
# regression tests in tests/cases/fuzz/regressions.rs pin down, to look for new ones while
# those are unfixed). A failing target
# prints its minimal input and the seed that reproduces it; its whole log is
# kept in target/fuzz/TARGET.log. Exit status 1 when any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

budget="${1:-180}"
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ "$budget" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi
all=(cadence_files config_files csv_rows inbound_messages hostile_templates)
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=("${all[@]}"); fi

export CADENCED_FUZZ_SECONDS="$budget"
export CADENCED_FUZZ_CASES="${CADENCED_FUZZ_CASES:-1000}"
# Release builds have no debug assertions; keep backtraces short in the logs.
export RUST_BACKTRACE="${RUST_BACKTRACE:-0}"

cargo test --release --offline --test main --no-run
mkdir -p target/fuzz

failed=0
summary=()
# The test module each target lives in.
for target in "${targets[@]}"; do
    log="target/fuzz/$target.log"
    echo "== $target: ${budget} s, batches of $CADENCED_FUZZ_CASES cases"
    started=$(date +%s)
    if cargo test --release --offline --test main -- --exact "cases::fuzz::$target::$target" --test-threads=1 --nocapture \
        >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed=1
    fi
    elapsed=$(($(date +%s) - started))
    line=$(grep -ao "fuzz $target: .*" "$log" | tail -n 1 || true)
    if ! grep -aq "1 passed\|1 failed" "$log"; then
        status=FAILED
        failed=1
        line="no such target (or it did not run); see $log"
    fi
    if [[ $status == FAILED ]]; then
        echo "-- $target failed after ${elapsed} s; the shrunk input and its seed:"
        grep -a -A 12 "^fuzz $target: Test failed\|panicked at" "$log" | head -n 60 || tail -n 40 "$log"
    fi
    echo "$status  ${line:-fuzz $target: (no summary)}  [${elapsed} s wall]"
    summary+=("$status  ${line:-fuzz $target: (no summary)}")
done

echo
echo "== summary (budget ${budget} s per target; logs in target/fuzz/)"
printf '%s\n' "${summary[@]}"
exit "$failed"
