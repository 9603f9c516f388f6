#!/bin/sh
# Runs a built hwlabel as README.md's main command does, on this host (read-only: it reads /sys
# and /proc, writes only a temporary directory), and fails if any answer is wrong. CI runs it on
# the release binary right after building it.
#   scripts/smoke.sh [BINARY]     BINARY: default .build-release/release/hwlabel
# Checks: `--version` prints a version; `inventory --format json` exits 0 with a document valid
# against schema/inventory-1.0.schema.json (python3-jsonschema, Draft 2020-12) listing every
# function under /sys/bus/pci/devices; `inventory -o FILE` writes the same functions; `list`
# exits 0 with one line per function. Exit: 0 all passed; 1 a check failed; 2 cannot run.
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-.build-release/release/hwlabel}
[ -x "$BIN" ] || { echo "smoke: $BIN: no such binary" >&2; exit 2; }
python3 -c 'import jsonschema' 2>/dev/null || { echo "smoke: needs python3-jsonschema (scripts/setup.sh installs it)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }

v=$("$BIN" --version) || fail "hwlabel --version exited $?"
[ -n "$v" ] || fail "hwlabel --version printed nothing"
echo "smoke: hwlabel --version: $v"

rc=0
"$BIN" inventory --format json > "$tmp/inventory.json" 2> "$tmp/inventory.err" || rc=$?
[ $rc = 0 ] || { cat "$tmp/inventory.err" >&2; fail "hwlabel inventory --format json exited $rc"; }
rc=0
"$BIN" inventory --format json -o "$tmp/inventory-o.json" 2>/dev/null || rc=$?
[ $rc = 0 ] || fail "hwlabel inventory --format json -o FILE exited $rc"

# Every function the kernel lists, in the document, which the schema accepts.
python3 - "$tmp/inventory.json" "$tmp/inventory-o.json" schema/inventory-1.0.schema.json <<'PY' || fail "inventory JSON (above)"
import json, os, sys
import jsonschema
doc_path, o_path, schema_path = sys.argv[1:4]
pci = "/sys/bus/pci/devices"
live = sorted(os.listdir(pci)) if os.path.isdir(pci) else []
doc = json.load(open(doc_path))
schema = json.load(open(schema_path))
errors = sorted(jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).iter_errors(doc),
                key=lambda e: list(e.path))
for e in errors[:5]:
    print(f"  {'/'.join(map(str, e.path)) or '(root)'}: {e.message[:200]}", file=sys.stderr)
if errors: sys.exit(f"  {len(errors)} schema errors")
got = sorted(f["address"] for f in doc["functions"])
if live and got != live:
    sys.exit(f"  functions {got} != {pci} {live}")
other = sorted(f["address"] for f in json.load(open(o_path))["functions"])
if other != got: sys.exit(f"  -o FILE lists {other}, stdout {got}")
print(f"smoke: inventory --format json: {len(got)} functions, {len(doc['descriptors'])} descriptors, "
      f"{len(doc['warnings'])} warnings, schema {doc['schemaVersion']} valid")
PY

rc=0
"$BIN" list > "$tmp/list.txt" 2>/dev/null || rc=$?
[ $rc = 0 ] || fail "hwlabel list exited $rc"
# One line per function, each followed by an indented detail line.
n=$(grep -c '^[0-9a-f]\{4\}:' "$tmp/list.txt" || true)
want=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["functions"]))' "$tmp/inventory.json")
[ "$n" = "$want" ] || fail "hwlabel list: $n function lines, inventory has $want"
echo "smoke: list: $n functions"
