#!/usr/bin/env bash
# Re-run the reference tool (lspci / libpci) over every recorded fixture and
# record what it does with each one.
#
#   bench/check-fixtures.sh            print a summary
#   bench/check-fixtures.sh --record   also rewrite Tests/Fixtures/sysfs-expected/
#
# sysfs-expected/<fixture>.<mode>.out  lspci's stdout (what it printed before any abort)
# sysfs-expected/<fixture>.<mode>.err  lspci's stderr, the fixture path replaced by $FIXTURE,
#                                      libkmod noise (machine dependent) removed
# sysfs-expected/results.tsv           fixture, mode, exit status, devices listed
# Device names come from the pci.ids/hwdb of the machine that ran this; compare IDs, not names.
set -u
cd "$(dirname "$0")/.."
FIX=Tests/Fixtures
EXP=$FIX/sysfs-expected
record=0
[ "${1:-}" = "--record" ] && record=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

count_devs() { grep -c '^[0-9a-f]\{4\}:[0-9a-f]\{2\}:[0-9a-f]\{2\}\.[0-7] ' "$1" || true; }

echo "## sysfs trees (lspci -A linux-sysfs -O sysfs.path=<fixture>/sys/bus/pci ...)"
printf 'fixture\tmode\trc\tdevices\n' > "$tmp/results.tsv"
for dir in "$FIX"/sysfs/*/; do
    name=$(basename "$dir")
    root=$(cd "$dir" && pwd)
    for mode in nnD vvvnnkD; do
        case $mode in
            nnD) opts=(-nn -D) ;;
            vvvnnkD) opts=(-vvv -nn -k -D) ;;
        esac
        lspci -A linux-sysfs -O "sysfs.path=$root/sys/bus/pci" "${opts[@]}" \
            > "$tmp/$name.$mode.out" 2> "$tmp/$name.$mode.raw"
        rc=$?
        grep -v 'Unable to load libkmod resources' "$tmp/$name.$mode.raw" \
            | sed "s|$root|\$FIXTURE|g" > "$tmp/$name.$mode.err"
        rm -f "$tmp/$name.$mode.raw"
        n=$(count_devs "$tmp/$name.$mode.out")
        printf '%s\t%s\t%s\t%s\n' "$name" "$mode" "$rc" "$n" >> "$tmp/results.tsv"
        fatal=$(grep '^lspci: ' "$tmp/$name.$mode.err" | head -1)
        warn=$(grep -c '^pcilib: ' "$tmp/$name.$mode.err" || true)
        printf '%-32s %-8s rc=%s devices=%-3s pcilib-warnings=%-3s %s\n' \
            "$name" "$mode" "$rc" "$n" "$warn" "$fatal"
    done
done

echo
echo "## lspci dumps (lspci -F FILE -nn -D, then -vvv)"
ok=0; bad=0
for f in "$FIX"/lspci/*; do
    lspci -F "$f" -nn -D > "$tmp/o" 2> "$tmp/e"; rc1=$?
    lspci -F "$f" -vvv -nn -D > /dev/null 2> "$tmp/e2"; rc2=$?
    errs=$(cat "$tmp/e" "$tmp/e2" | grep -v 'Unable to load libkmod resources' | head -1)
    if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ -z "$errs" ]; then
        ok=$((ok + 1)); s=ok
    else
        bad=$((bad + 1)); s="FAIL rc=$rc1/$rc2 $errs"
    fi
    printf '%-70s devices=%-3s %s\n' "$(basename "$f")" "$(count_devs "$tmp/o")" "$s"
done
echo "lspci dumps: $ok read cleanly, $bad failed"

if command -v umockdev-run > /dev/null; then
    echo
    echo "## umockdev recordings (umockdev-run -d FILE -- lspci -nn -D)"
    for f in "$FIX"/umockdev/*.umockdev; do
        out=$(timeout 30 umockdev-run -d "$f" -- lspci -nn -D 2>/dev/null | awk '{print $1}' | tr '\n' ' ')
        printf '%-50s %s\n' "$(basename "$f")" "${out:-NOTHING LISTED}"
    done
fi

if [ $record -eq 1 ]; then
    rm -rf "$EXP"
    mkdir -p "$EXP"
    cp "$tmp"/*.out "$tmp"/*.err "$tmp/results.tsv" "$EXP"/
    echo
    echo "recorded into $EXP"
fi
