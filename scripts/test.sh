#!/usr/bin/env bash
# The test command README.md gives: installs what is missing, builds, runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
# Serial: several suites time real deliveries (debounce, sd_notify) while others block on
# child processes (lspci, umockdev-run); in parallel on a 2-core machine the blocked threads can
# starve the timed ones. The whole run takes well under two minutes serially.
swift test --skip-build --no-parallel "$@"
