#!/usr/bin/env bash
# Short fuzz campaign for CI (issue 12): a fixed seed, a few hundred inputs, at most ~3 minutes
# on a 2-core machine. Exits non-zero when any run is a finding (crash, hang, undocumented exit
# code, invalid JSON, schema or contract violation, lost or silently dropped function, silent
# config loss, leaked secret); the report names each one with the command that reruns it.
#
#   fuzz/ci.sh                      # builds .build/debug/hwlabel if missing
#   HWLABEL_BIN=path fuzz/ci.sh     # any other binary
#   FUZZ_REPORT=file fuzz/ci.sh     # where the JSON report goes (default .build/fuzz-ci-report.json)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${HWLABEL_BIN:-.build/debug/hwlabel}
if [ ! -x "$BIN" ]; then
  swift build
fi
REPORT=${FUZZ_REPORT:-.build/fuzz-ci-report.json}
mkdir -p "$(dirname "$REPORT")"
python3 -m unittest -q fuzz/test_campaign.py
exec python3 fuzz/campaign.py --binary "$BIN" --seed "${FUZZ_SEED:-20261130}" --count "${FUZZ_COUNT:-400}" \
  --time-limit 3 --budget 170 --quiet --report "$REPORT"
