#!/usr/bin/env bash
# Time lspci and hwlabel over synthetic sysfs trees of growing size.
#
#   bench/run.sh [SIZES...]          default sizes: 100 1000 10000
#   bench/run.sh --tree DIR [...]    any sysfs tree (DIR/sys/bus/pci/devices), e.g. your capture
#
# Runs are paired: each round runs lspci then hwlabel on the same tree, so both see the same
# machine state. The tables give, for both tools, wall time and CPU time (user+sys) as the
# median of the rounds and the best, and peak RSS as the median and the highest.
#
# Environment:
#   HWLABEL   binary to time (default .build/release/hwlabel); if it is missing, only
#             lspci is timed and the hwlabel columns say n/a
#   RUNS      paired rounds per tree (default 5)
#   BENCH_TMP where to generate trees (default /dev/shm if writable, else $TMPDIR or /tmp);
#             sysfs lives in memory, so tmpfs is the fair place, and creating ~340k
#             entries for 10,000 functions on a busy ext4 disk takes minutes
#   SHAPE     what generated trees hold: mixed (default) or hgx (see hwlabel-treegen --help)
#   TREEGEN   the tree generator (default: built here with `swift build --product hwlabel-treegen`)
#
# Trees are written by hwlabel-treegen, with the tests' tree builder (Tests/HWLabelTestSupport).
# A tree in bench-out/tree-N (git-ignored) is reused instead of generating one:
#   swift build --product hwlabel-treegen && .build/debug/hwlabel-treegen bench-out/tree-10000 10000
set -u
cd "$(dirname "$0")/.."

TREES=()
SIZES=()
while [ $# -gt 0 ]; do
    case $1 in
        --tree) [ $# -ge 2 ] || { echo "bench/run.sh: --tree needs a directory" >&2; exit 2; }
                [ -d "$2/sys/bus/pci/devices" ] || { echo "bench/run.sh: $2/sys/bus/pci/devices does not exist: not a sysfs tree" >&2; exit 2; }
                TREES+=("$(cd "$2" && pwd)"); shift 2 ;;
        *) SIZES+=("$1"); shift ;;
    esac
done
if [ ${#SIZES[@]} -eq 0 ] && [ ${#TREES[@]} -eq 0 ]; then SIZES=(100 1000 10000); fi
RUNS=${RUNS:-5}
HWLABEL=${HWLABEL:-.build/release/hwlabel}
SHAPE=${SHAPE:-mixed}
TREEGEN=${TREEGEN:-}
TIME=/usr/bin/time

for n in "${SIZES[@]}"; do
    case $n in ''|*[!0-9]*) echo "bench/run.sh: size '$n' is not a number" >&2; exit 2 ;; esac
done
case $SHAPE in mixed|hgx) ;; *) echo "bench/run.sh: SHAPE '$SHAPE' is not mixed or hgx" >&2; exit 2 ;; esac
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

# once NAME CMD...: one run of CMD under /usr/bin/time; appends wall, CPU (user+sys) and RSS
# (MiB) to $work/NAME.wall, .cpu, .rss; sets FAIL (non-empty on failure).
once() {
    local name=$1; shift
    local rc wall rss usr sys
    "$TIME" -f '%e %M %U %S' -o "$work/time.$name" "$@" > /dev/null 2> "$work/err.$name"
    rc=$?
    if [ $rc -ne 0 ]; then
        FAIL="exit $rc: $(grep -v 'Unable to load libkmod' "$work/err.$name" | head -1)"
        return
    fi
    read -r wall rss usr sys < <(tail -1 "$work/time.$name")
    echo "$wall" >> "$work/$name.wall"
    awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.2f\n", u + s }' >> "$work/$name.cpu"
    awk -v r="$rss" 'BEGIN { printf "%.1f\n", r / 1024 }' >> "$work/$name.rss"
}
# median FILE / best FILE / peak FILE
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
best() { sort -g "$1" | head -1; }
peak() { sort -g "$1" | tail -1; }

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
    echo "hwlabel:   $HWLABEL not found: build it first (swift build -c release --static-swift-stdlib --product hwlabel) or set HWLABEL=...;"
    echo "           timing lspci only"
fi
echo "trees in:  $BENCH_TMP (unless bench-out/tree-N exists), shape $SHAPE; $RUNS paired rounds (lspci, then hwlabel)"
echo '```'
echo
echo "## Commands (T = the tree's root directory)"
echo
echo '```'
echo "hwlabel-treegen T N --shape $SHAPE"
echo "$TIME -f '%e %M %U %S' lspci -vvv -nn -k -A linux-sysfs -O sysfs.path=T/sys/bus/pci > /dev/null"
echo "$TIME -f '%e %M %U %S' $HWLABEL inventory --sysfs-root T/sys --format json -o $BENCH_TMP/…/inventory.json > /dev/null"
echo '```'
echo
echo "(hwlabel writes to a scratch file, not \`-o /dev/null\`: an atomic writer that renames a"
echo "temporary file over its target would replace the /dev/null device node when run as root.)"
echo

# treegen: sets TREEGEN, building hwlabel-treegen the first time it is needed (a debug build:
# it links the test support target, whose @testable imports a release build cannot compile).
treegen() {
    [ -n "$TREEGEN" ] && return
    swift build --product hwlabel-treegen > "$work/treegen-build.log" 2>&1 || {
        echo "bench/run.sh: building hwlabel-treegen failed:" >&2; tail -20 "$work/treegen-build.log" >&2; exit 1
    }
    TREEGEN="$(swift build --show-bin-path)/hwlabel-treegen"
}

rows=(); cpurows=()
# bench_tree T LABEL: paired rounds on one tree; appends a row to each table.
bench_tree() {
    local T=$1 label=$2 count r lf="" hf=""
    count=$(ls "$T/sys/bus/pci/devices" | wc -l)
    rm -f "$work"/lspci.* "$work"/hwlabel.*
    for ((r = 1; r <= RUNS; r++)); do
        FAIL=""; once lspci lspci -vvv -nn -k -A linux-sysfs -O "sysfs.path=$T/sys/bus/pci"; [ -n "$FAIL" ] && lf=$FAIL
        if [ $have_hwlabel -eq 1 ]; then
            FAIL=""; once hwlabel "$HWLABEL" inventory --sysfs-root "$T/sys" --format json -o "$work/inventory.json"
            [ -n "$FAIL" ] && hf=$FAIL
        fi
    done
    local l_s="FAIL" l_b="" l_m="($lf)" l_cpu="FAIL" h_s="n/a" h_b="" h_m="n/a" h_cpu="n/a" ratio="n/a" cratio="n/a" mratio="n/a"
    local l_cb="" h_cb="" l_mm="" h_mm=""
    if [ -z "$lf" ]; then
        l_s=$(median "$work/lspci.wall"); l_b=$(best "$work/lspci.wall"); l_m=$(peak "$work/lspci.rss"); l_mm=$(median "$work/lspci.rss")
        l_cpu=$(median "$work/lspci.cpu"); l_cb=$(best "$work/lspci.cpu")
    fi
    if [ $have_hwlabel -eq 1 ]; then
        if [ -n "$hf" ]; then h_s="FAIL"; h_m="($hf)"; else
            h_s=$(median "$work/hwlabel.wall"); h_b=$(best "$work/hwlabel.wall"); h_m=$(peak "$work/hwlabel.rss"); h_mm=$(median "$work/hwlabel.rss")
            h_cpu=$(median "$work/hwlabel.cpu"); h_cb=$(best "$work/hwlabel.cpu")
            if [ -z "$lf" ]; then
                # the median of the per-round ratios: each round's pair saw the same machine state
                paste "$work/hwlabel.wall" "$work/lspci.wall" | awk '{ if ($2 > 0) print $1 / $2 }' > "$work/ratio"
                ratio=$(median "$work/ratio" | awk '{ printf "%.2f", $1 }')
                paste "$work/hwlabel.cpu" "$work/lspci.cpu" | awk '{ if ($2 > 0) print $1 / $2 }' > "$work/cratio"
                cratio=$(median "$work/cratio" | awk '{ printf "%.2f", $1 }')
                mratio=$(awk -v h="$h_m" -v l="$l_m" 'BEGIN { if (l > 0) printf "%.1f", h / l; else print "n/a" }')
            fi
        fi
    fi
    rows+=("| $label | $count | $l_s ($l_b) | $h_s ($h_b) | $ratio |")
    cpurows+=("| $label | $count | $l_cpu ($l_cb) | $h_cpu ($h_cb) | $cratio | $l_mm ($l_m) | $h_mm ($h_m) | $mratio |")
}

for T in "${TREES[@]}"; do
    echo "- tree $T" >&2
    bench_tree "$T" "$(basename "$T")"
done
for n in "${SIZES[@]}"; do
    tree="bench-out/tree-$n"
    if [ -d "$tree/sys/bus/pci/devices" ]; then
        T=$(cd "$tree" && pwd)
        note="reused $tree"
    else
        T="$work/tree-$n"
        treegen
        gen_out=$("$TREEGEN" "$T" "$n" --shape "$SHAPE" 2>&1) || {
            echo "bench/run.sh: generating $n functions failed: $gen_out" >&2
            exit 1
        }
        note="generated: ${gen_out#hwlabel-treegen: }"
    fi
    echo "- N=$n: $note" >&2
    bench_tree "$T" "gen-$n"
    # free the memory of a generated tree before the next, larger one
    case $T in "$work"/*) rm -rf "$T" ;; esac
done

echo >&2
echo "## Results"
echo
echo "Wall seconds, median of $RUNS paired rounds (best in parentheses); ratio = median of the per-round hwlabel/lspci ratios:"
echo
echo "| tree | functions | lspci wall s | hwlabel wall s | ratio hwlabel/lspci |"
echo "|---|---:|---:|---:|---:|"
for r in "${rows[@]}"; do echo "$r"; done
echo
echo "CPU seconds (user+sys): median of the rounds (best in parentheses); CPU ratio = median of the per-round"
echo "hwlabel/lspci ratios. Peak RSS (MiB): median of the rounds (highest in parentheses); memory ratio of the highest:"
echo
echo "| tree | functions | lspci CPU s | hwlabel CPU s | CPU ratio | lspci peak MiB | hwlabel peak MiB | memory ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for r in "${cpurows[@]}"; do echo "$r"; done
