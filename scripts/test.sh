#!/usr/bin/env bash
# Every check of the project, as CI runs it: formatting and lints, unit
# tests, the local backend driven by the official AWS SDK and foreign
# runtime clients, end-to-end deploys, then ownstak's benchmark scenarios in
# smoke mode (each briefly, with the build the tests made, checking that it
# produces numbers; the peers are measured by ./bench/run.sh). Arguments go
# to `cargo test` and skip the lint gate and the smoke run, as does
# BENCH_SMOKE=0 for the smoke run alone.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
STARTED=$(date +%s)
step() { printf '\n== [%4ss] %s\n' $(( $(date +%s) - STARTED )) "$*" >&2; }
trap 'step "done (exit $?)"' EXIT
if [ $# = 0 ]; then
  step "formatting (cargo fmt --check)"
  cargo fmt --all -- --check || { echo "unformatted code: run \`cargo fmt --all\` and commit" >&2; exit 1; }
  step "lints (cargo clippy -D warnings)"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
fi
python_env
step "tests (cargo test --workspace)"
# The integration tests build the binaries they run (crates/testkit).
cargo test --workspace "$@"
if [ $# = 0 ] && [ "${BENCH_SMOKE:-1}" != 0 ]; then
  step "benchmark scenarios, smoke mode"
  ./bench/run.sh --smoke
fi
