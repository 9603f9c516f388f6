#!/bin/sh
# Checks that scripts/agent-symbols.order still names the release binary's functions. The release
# link places the functions it lists first and together (Package.swift, --symbol-ordering-file),
# and is told not to warn about names it cannot find (--no-warn-symbol-ordering: the list also
# holds runtime and Foundation functions that differ between toolchains), so a list left behind
# by renamed modules, types or functions makes no noise: it just stops packing the agent's hot code.
#   scripts/check-order-file.sh [BINARY]     BINARY: default .build-release/release/hwlabel, as
#                                            `swift build -c release --static-swift-stdlib
#                                            --scratch-path .build-release` leaves it (unstripped)
# Fails when more than ORDER_MAX_MISSING_PERCENT (default 5) percent of the listed symbols are
# not in the binary's symbol table. Exit: 0 fresh enough; 1 stale; 2 cannot check.
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-.build-release/release/hwlabel}
ORDER=scripts/agent-symbols.order
MAX=${ORDER_MAX_MISSING_PERCENT:-5}

[ -f "$BIN" ] || { echo "check-order-file: $BIN: no such binary (swift build -c release --static-swift-stdlib --scratch-path .build-release --product hwlabel)" >&2; exit 2; }
[ -s "$ORDER" ] || { echo "check-order-file: $ORDER is missing or empty; make it with scripts/agent-order.sh" >&2; exit 2; }
NM=${NM:-}
if [ -z "$NM" ]; then
    for c in nm llvm-nm; do command -v "$c" >/dev/null 2>&1 && { NM=$c; break; }; done
fi
[ -n "$NM" ] || { echo "check-order-file: needs nm (binutils) or llvm-nm" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Defined symbols of the static symbol table (the one --symbol-ordering-file matches against);
# a stripped binary has none.
if ! "$NM" --defined-only "$BIN" 2>"$tmp/nm.err" | awk 'NF >= 3 { print $NF }' | sort -u > "$tmp/have"; then
    echo "check-order-file: $NM $BIN failed: $(head -n 1 "$tmp/nm.err")" >&2; exit 2
fi
[ -s "$tmp/have" ] || { echo "check-order-file: $BIN has no symbol table (stripped?); check the unstripped build" >&2; exit 2; }
grep -v '^[[:space:]]*$' "$ORDER" | sort -u > "$tmp/want"

total=$(wc -l < "$tmp/want")
comm -23 "$tmp/want" "$tmp/have" > "$tmp/missing"
missing=$(wc -l < "$tmp/missing")
pct=$(( missing * 100 / total ))
if [ $(( missing * 100 )) -gt $(( total * MAX )) ]; then
    echo "check-order-file: STALE: $missing of the $total symbols in $ORDER are not in $BIN ($pct%, more than the $MAX% allowed)."
    echo "  The agent's hot functions are no longer packed together, so it keeps more code resident. For example:"
    head -n 5 "$tmp/missing" | sed 's/^/    /'
    echo "  Regenerate the list (valgrind; rebuilds release, runs the agent over a synthetic tree; a few minutes):"
    echo "    scripts/agent-order.sh"
    echo "  then rebuild the release binary and commit scripts/agent-symbols.order."
    exit 1
fi
echo "check-order-file: $((total - missing)) of $total symbols in $ORDER found in $BIN ($missing missing, $MAX% allowed)"
