#!/usr/bin/env bash
# The test command README.md gives: installs what is missing, builds, runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
# In parallel: the service tests drive the agent's timers with an injected clock (ManualClock)
# and bound their waits by a number of polls, not by wall time, so a loaded 2-core machine
# makes them slower, never failed.
swift test --skip-build "$@"
