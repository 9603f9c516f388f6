#!/usr/bin/env bash
# Installs the system packages hwlabel builds against and tests with (Debian/Ubuntu).
# Idempotent; needs root (or sudo).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=(libpci-dev libudev-dev pci.ids pciutils umockdev libumockdev-dev gir1.2-umockdev-1.0 python3-gi systemd udev python3 python3-venv python3-pip curl time)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# JSON Schema validation in the tests uses Python's jsonschema.
python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install -q jsonschema 2>/dev/null \
  || python3 -m pip install -q --break-system-packages jsonschema
if ! command -v swift >/dev/null; then
  echo "swift is not on PATH: install the Swift 6 toolchain (https://www.swift.org/install/linux/)" >&2
  exit 1
fi
