#!/usr/bin/env bash
# Time lspci and hwlabel over synthetic sysfs trees of growing size.
#
#   bench/run.sh [SIZES...]          default sizes: 100 1000 10000
#
# Environment:
#   HWLABEL   binary to time (default .build/release/hwlabel); if it is missing, only
#             lspci is timed and the hwlabel columns say n/a
#   RUNS      runs per measurement, the best wall time is kept (default 5)
#   BENCH_TMP where to generate trees (default /dev/shm if writable, else $TMPDIR or /tmp);
#             sysfs lives in memory, so tmpfs is the fair place, and creating ~330k
#             entries for 10,000 functions on a busy ext4 disk takes minutes
#
# A tree in bench-out/tree-N (git-ignored) is reused instead of generating one:
#   python3 bench/gen-sysfs-tree.py bench-out/tree-10000 10000
set -u
cd "$(dirname "$0")/.."

if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(100 1000 10000); fi
RUNS=${RUNS:-5}
HWLABEL=${HWLABEL:-.build/release/hwlabel}
TIME=/usr/bin/time

for n in "${SIZES[@]}"; do
    case $n in ''|*[!0-9]*) echo "bench/run.sh: size '$n' is not a number" >&2; exit 2 ;; esac
done
if [ ! -x "$TIME" ]; then
    echo "bench/run.sh: $TIME not found; install it: apt-get install -y time" >&2
    exit 1
fi
if ! command -v lspci > /dev/null; then
    echo "bench/run.sh: lspci not found; install it: apt-get install -y pciutils" >&2
    exit 1
fi
if [ -z "${BENCH_TMP:-}" ]; then
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then BENCH_TMP=/dev/shm; else BENCH_TMP=${TMPDIR:-/tmp}; fi
fi
work=$(mktemp -d -p "$BENCH_TMP" hwlabel-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

have_hwlabel=0
if [ -x "$HWLABEL" ]; then have_hwlabel=1; fi

# measure NAME CMD...: run CMD $RUNS times under /usr/bin/time; sets BEST_S (lowest wall
# seconds), BEST_CPU (lowest user+sys seconds), PEAK_MIB (highest max-RSS of the runs, MiB)
# and FAIL (non-empty on any failure).
measure() {
    local name=$1; shift
    local i rc wall rss usr sys
    BEST_S=""; BEST_CPU=""; PEAK_MIB=""; FAIL=""
    for ((i = 1; i <= RUNS; i++)); do
        "$TIME" -f '%e %M %U %S' -o "$work/time.$name" "$@" > /dev/null 2> "$work/err.$name"
        rc=$?
        if [ $rc -ne 0 ]; then
            FAIL="exit $rc: $(grep -v 'Unable to load libkmod' "$work/err.$name" | head -1)"
            return
        fi
        read -r wall rss usr sys < <(tail -1 "$work/time.$name")
        BEST_S=$(awk -v a="$BEST_S" -v b="$wall" 'BEGIN { print (a == "" || b < a) ? b : a }')
        BEST_CPU=$(awk -v a="$BEST_CPU" -v u="$usr" -v s="$sys" 'BEGIN { b = u + s; print (a == "" || b < a) ? sprintf("%.2f", b) : a }')
        PEAK_MIB=$(awk -v a="$PEAK_MIB" -v b="$rss" 'BEGIN { m = b / 1024; print (a == "" || m > a) ? sprintf("%.1f", m) : a }')
    done
}

echo "## Environment"
echo
echo '```'
echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "uname -a:  $(uname -a)"
echo "nproc:     $(nproc)"
echo "cpu:       $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg)"
echo "lspci:     $(lspci --version)"
if [ $have_hwlabel -eq 1 ]; then
    echo "hwlabel:   $HWLABEL ($("$HWLABEL" --version 2>/dev/null || echo 'no --version'))"
else
    echo "hwlabel:   $HWLABEL not found: build it first (swift build -c release --static-swift-stdlib) or set HWLABEL=...;"
    echo "           timing lspci only"
fi
echo "trees in:  $BENCH_TMP (unless bench-out/tree-N exists); best of $RUNS runs"
echo '```'
echo
echo "## Commands (T = the tree's root directory)"
echo
echo '```'
echo "python3 bench/gen-sysfs-tree.py T N"
echo "$TIME -f '%e %M %U %S' lspci -vvv -nn -k -A linux-sysfs -O sysfs.path=T/sys/bus/pci > /dev/null"
echo "$TIME -f '%e %M %U %S' $HWLABEL inventory --sysfs-root T/sys --format json -o $BENCH_TMP/…/inventory.json > /dev/null"
echo '```'
echo
echo "(hwlabel writes to a scratch file, not \`-o /dev/null\`: an atomic writer that renames a"
echo "temporary file over its target would replace the /dev/null device node when run as root.)"
echo

rows=(); cpurows=()
for n in "${SIZES[@]}"; do
    tree="bench-out/tree-$n"
    if [ -d "$tree/sys/bus/pci/devices" ]; then
        T=$(cd "$tree" && pwd)
        note="reused $tree"
    else
        T="$work/tree-$n"
        gen_out=$(python3 bench/gen-sysfs-tree.py "$T" "$n" 2>&1) || {
            echo "bench/run.sh: generating $n functions failed: $gen_out" >&2
            exit 1
        }
        note="generated: ${gen_out#gen-sysfs-tree: }"
    fi
    count=$(ls "$T/sys/bus/pci/devices" | wc -l)
    echo "- N=$n: $count functions in tree, $note" >&2

    measure lspci lspci -vvv -nn -k -A linux-sysfs -O "sysfs.path=$T/sys/bus/pci"
    if [ -n "$FAIL" ]; then
        l_s="FAIL"; l_m="($FAIL)"
    else
        l_s=$BEST_S; l_m=$PEAK_MIB
    fi
    l_cpu=${BEST_CPU:-FAIL}

    h_s="n/a"; h_m="n/a"; ratio="n/a"; h_cpu="n/a"
    if [ $have_hwlabel -eq 1 ]; then
        measure hwlabel "$HWLABEL" inventory --sysfs-root "$T/sys" --format json -o "$work/inventory-$n.json"
        if [ -n "$FAIL" ]; then
            h_s="FAIL"; h_m="($FAIL)"
        else
            h_s=$BEST_S; h_m=$PEAK_MIB; h_cpu=$BEST_CPU
            if [ "$l_s" != FAIL ]; then
                ratio=$(awk -v h="$h_s" -v l="$l_s" 'BEGIN { if (l > 0) printf "%.2f", h / l; else print "n/a" }')
            fi
        fi
    fi
    rows+=("| $count | $l_s | $l_m | $h_s | $h_m | $ratio |")
    cpurows+=("| $count | $l_cpu | $h_cpu |")
    # free the memory of a generated tree before the next, larger one
    case $T in "$work"/*) rm -rf "$T" ;; esac
done

echo >&2
echo "## Results"
echo
echo "| functions | lspci wall s | lspci peak RSS MiB | hwlabel wall s | hwlabel peak RSS MiB | ratio hwlabel/lspci |"
echo "|---:|---:|---:|---:|---:|---:|"
for r in "${rows[@]}"; do echo "$r"; done
echo
echo "CPU seconds (user+sys, lowest of the runs); steadier than wall time on a shared machine:"
echo
echo "| functions | lspci CPU s | hwlabel CPU s |"
echo "|---:|---:|---:|"
for r in "${cpurows[@]}"; do echo "$r"; done
