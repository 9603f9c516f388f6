#!/usr/bin/env bash
# API calls and time for publishing a 100-device host to a real OpenStack Placement:
# first sync, unchanged resync (warm and cold agent), one relabel, one hot-remove.
# Starts ../shared/placement's server itself (via the test harness) and prints a Markdown table
# for BENCHMARKS.md.
# Usage: bench/placement-bench.sh [DEVICES]     (default 100)
# Env:   SCRATCH  swift build scratch path (default .build-placement)
set -euo pipefail
cd "$(dirname "$0")/.."
SCRATCH="${SCRATCH:-.build-placement}"
export HWLABEL_PLACEMENT_BENCH=1 HWLABEL_PLACEMENT_BENCH_DEVICES="${1:-100}"
out="$(swift test --scratch-path "$SCRATCH" --filter PlacementBenchmark 2>&1)" || { echo "$out" | tail -40 >&2; exit 1; }
echo "$out" | sed -n '/PLACEMENT-BENCH-TABLE-BEGIN/,/PLACEMENT-BENCH-TABLE-END/p' | sed '1d;$d'
echo
echo "host: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)"
