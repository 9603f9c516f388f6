#!/bin/sh
# Formats the Swift code (Sources/, Tests/, Package.swift) with swift-format and the repository's
# .swift-format: 4-space indentation, 140 columns, existing line breaks kept, `#if` blocks not
# indented. swift-format ships with the Swift 6 toolchain.
#   scripts/format.sh            rewrites the files in place
#   scripts/format.sh --check    changes nothing; prints each finding as FILE:LINE:COL and exits 1
#                                if there is any (CI runs this)
# SWIFT_FORMAT=/path/to/swift-format picks another binary.
set -eu
cd "$(dirname "$0")/.."

mode=format
case ${1:-} in
    --check) mode=lint ;;
    "") ;;
    *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac

if [ -n "${SWIFT_FORMAT:-}" ]; then
    set -- "$SWIFT_FORMAT"
elif command -v swift-format >/dev/null 2>&1; then
    set -- swift-format
elif command -v swift >/dev/null 2>&1 && swift format --version >/dev/null 2>&1; then
    set -- swift format
else
    echo "format: swift-format not found (it ships with the Swift 6 toolchain; or set SWIFT_FORMAT)" >&2
    exit 2
fi

if [ "$mode" = lint ]; then
    # --strict: a finding is an error, so the exit status says whether there was one.
    if "$@" lint --strict --parallel --configuration .swift-format --recursive Sources Tests Package.swift; then
        echo "format: clean"
    else
        echo "format: findings above; scripts/format.sh rewrites the files to match .swift-format" >&2
        exit 1
    fi
else
    "$@" format --in-place --parallel --configuration .swift-format --recursive Sources Tests Package.swift
fi
