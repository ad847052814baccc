#!/usr/bin/env bash
# Mutation fuzzing of every reader (tests/fuzz.rs) at scale: CASES per reader (default 10^6),
# all six readers side by side (one per test thread). Prints cases, panics and time per reader and
# writes them to bench/fuzz_results.txt. A panicking case's input is kept beside the reader's
# scratch file under target/tmp/fuzz-PID/<reader>/ as case.crash-N; an abort fails the whole run.
#   bench/fuzz.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
CASES="${1:-1000000}"
start=$(date +%s)
FUZZ_CASES="$CASES" cargo test --release --test fuzz -- --nocapture --test-threads 2 2>&1 | tee target/fuzz.log | grep -E "^fuzz |test result"
{
  echo "# bench/fuzz.sh $CASES on $(nproc) cores, $(date -u +%Y-%m-%d), strongid $(git rev-parse --short HEAD)"
  grep -E "^fuzz " target/fuzz.log
  echo "wall $(( $(date +%s) - start )) s"
} > bench/fuzz_results.txt
cat bench/fuzz_results.txt
