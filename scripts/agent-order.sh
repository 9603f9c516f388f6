#!/bin/sh
# Regenerates scripts/agent-symbols.order: the functions `hwlabel agent` runs, which the release
# link places first and together (Package.swift, --symbol-ordering-file). The kernel maps a
# binary's code 64 KiB around each page it faults in, so the agent's resident code is its hot
# functions plus whatever lies next to them; packed together they keep ~5 MB resident, not 12.
#
# How: a release build runs under valgrind's callgrind over a synthetic 1,000-function tree
# through start, first scan, two rescans, the settle trim and SIGTERM; every function callgrind
# saw run is listed by its symbol. The rescans follow a SIGHUP (reload) each, and nothing outside
# a temporary directory is written; AGENT_ORDER_UEVENTS=kernel (root only) drives them instead
# by writing `change` to a real /sys/bus/pci/devices/*/uevent, so the uevent path is listed too.
# Needs valgrind and python3. A stale list costs memory, never correctness: symbols it names
# that no longer exist are ignored by the linker (scripts/check-order-file.sh, run by CI, says
# when too many are gone).
#   scripts/agent-order.sh            (rewrites scripts/agent-symbols.order)
# The release build goes to .build-release, where CI builds it (SCRATCH=DIR for another).
set -eu
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "agent-order: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
scratch=${SCRATCH:-.build-release}
swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product hwlabel >&2
bin=$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/hwlabel
work=$(mktemp -d /tmp/hwlabel-order.XXXXXX)
pid=""
trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT
# valgrind cannot read the toolchain's DWARF 5; symbols are all it needs.
objcopy --strip-debug "$bin" "$work/hwlabel"
swift build --product hwlabel-treegen >&2
"$(swift build --show-bin-path)/hwlabel-treegen" "$work/tree" 1000 >/dev/null
mkdir -p "$work/conf" "$work/state"
printf '[agent]\nresync-interval = 600\ndebounce = 200ms\n[file]\npath = %s/state/report.json\n' "$work" > "$work/conf/agent.conf"
events=off
if [ "${AGENT_ORDER_UEVENTS:-off}" = kernel ]; then
    if [ "$(id -u)" != 0 ] || [ ! -d /sys/bus/pci/devices ]; then
        echo "agent-order: AGENT_ORDER_UEVENTS=kernel needs root and /sys/bus/pci/devices" >&2; exit 1
    fi
    events=kernel
fi
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "$work/hwlabel" agent \
    --config-dir "$work/conf" --state-dir "$work/state" --sysfs-root "$work/tree/sys" \
    --uevents "$events" --log-level warning 2>"$work/valgrind.log" &
pid=$!
python3 - "$work" "$events" "$pid" <<'PY'
import os, signal, sys, time
work, events, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
report = f"{work}/state/report.json"
end = time.time() + 600
while not os.path.exists(report):
    if time.time() > end: sys.exit("agent-order: no report after 600 s under valgrind")
    time.sleep(0.5)
time.sleep(20)  # the settle trim, at valgrind's pace
for _ in range(2):
    m0 = os.stat(report).st_mtime_ns
    # One function fewer, so the rescan finds a change and delivers it.
    victim = sorted(os.listdir(f"{work}/tree/sys/bus/pci/devices"))[-1]
    os.unlink(f"{work}/tree/sys/bus/pci/devices/{victim}")
    if events == "kernel":
        real = sorted(os.listdir("/sys/bus/pci/devices"))[0]
        with open(f"/sys/bus/pci/devices/{real}/uevent", "w") as f: f.write("change")
    else:
        os.kill(pid, signal.SIGHUP)
    t = time.time()
    while os.stat(report).st_mtime_ns == m0 and time.time() - t < 120: time.sleep(0.5)
    if os.stat(report).st_mtime_ns == m0: sys.exit("agent-order: no new report 120 s after the rescan trigger")
    time.sleep(20)
PY
kill -TERM "$pid"
wait "$pid" || true
pid=""
nm -S --defined-only "$work/hwlabel" > "$work/nm.txt"
nm -S -C --defined-only "$work/hwlabel" > "$work/nm-demangled.txt"
python3 - "$work/callgrind.out" "$work/nm.txt" "$work/nm-demangled.txt" scripts/agent-symbols.order <<'PY'
import bisect, re, sys
profile, nm, nm_demangled, out = sys.argv[1:5]
# callgrind compresses names: "fn=(id) name" or "cfn=(id) name" the first time, "(id)" after;
# every function it names ran (callees included). C++ names come demangled, recursion as 'N.
names, ran = {}, set()
for line in open(profile, errors="replace"):
    m = re.match(r"c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
    if m:
        if m.group(2): names[m.group(1)] = re.sub(r"'\d+$", "", m.group(2))
        ran.add(m.group(1))
def table(path):
    rows = []
    for l in open(path):
        p = l.rstrip("\n").split(" ", 3)
        if len(p) == 4 and p[2] in "tTwW": rows.append((int(p[0], 16), int(p[1], 16), p[3]))
    return rows
syms = sorted(table(nm))
mangled = {s[2] for s in syms}
by_addr = {}
for a, _, n in syms: by_addr.setdefault(a, []).append(n)
demangled = {n: a for a, _, n in table(nm_demangled)}
starts = [s[0] for s in syms]
keep = set()
for i in ran:
    n = names.get(i)
    if n is None: continue
    if n in mangled: keep.add(n)
    elif n in demangled: keep.update(by_addr.get(demangled[n], []))
    elif re.fullmatch(r"0x[0-9a-f]+", n):
        a = int(n, 16); j = bisect.bisect_right(starts, a) - 1
        if j >= 0 and syms[j][0] <= a < syms[j][0] + max(syms[j][1], 1): keep.add(syms[j][2])
if len(keep) < 500: sys.exit(f"agent-order: only {len(keep)} functions seen; not writing {out}")
open(out, "w").write("".join(n + "\n" for n in sorted(keep)))
print(f"agent-order: {len(keep)} functions -> {out}")
PY
