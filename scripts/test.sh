#!/usr/bin/env bash
# Every test of the project: unit tests, the local backend driven by the
# official AWS SDK, foreign runtime clients, and end-to-end deploys.
source "$(dirname "$0")/env.sh"
cd "$ROOT"
# The integration tests run the built binaries as real processes.
cargo build --workspace --bins
python_env
cargo test --workspace "$@"
