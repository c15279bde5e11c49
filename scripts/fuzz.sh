#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that face untrusted input (host
# routing, event decoding, response payloads, the streaming prelude), with
# cargo-fuzz and libFuzzer. Every test run also runs a short deterministic
# version of these (crates/core/tests/robustness.rs).
#   ./scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60)
source "$(dirname "$0")/env.sh"
cd "$ROOT/fuzz"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
SECS="${1:-60}"
# cargo-fuzz needs nightly flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$HOME/.cache/ownstak/fuzz-target"
for target in host_route response_payload prelude_stream event_decode; do
  echo "== $target ($SECS s)"
  cargo fuzz run "$target" -- -max_total_time="$SECS" -rss_limit_mb=2048
done
