#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, build, and print this host's inventory.
# Run as root for full PCI config space (capabilities); as a user you get "capabilities not readable".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
swift build -c release --static-swift-stdlib --product hwlabel >&2
exec .build/release/hwlabel inventory "$@"
