#!/usr/bin/env bash
# Moved: the benchmarks are bench/run.sh (see there and BENCHMARKS.md).
exec "$(dirname "$0")/../bench/run.sh" "$@"
