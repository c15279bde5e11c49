#!/usr/bin/env bash
# Every test of the project: unit tests, the local backend driven by the
# official AWS SDK, foreign runtime clients, and end-to-end deploys; then
# the benchmarks in smoke mode (each scenario briefly, checking that it
# produces numbers; peers are installed on first use and cached). Arguments
# go to `cargo test` and skip the benchmark smoke run, as does BENCH_SMOKE=0.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
# The integration tests run the built binaries as real processes.
cargo build --workspace --bins
python_env
cargo test --workspace "$@"
if [ $# = 0 ] && [ "${BENCH_SMOKE:-1}" != 0 ]; then
  ./bench/run.sh --smoke
fi
