#!/bin/sh
# Agent benchmark: idle RSS and CPU over DUR seconds, wake-ups (context switches) while idle,
# uevent→delivery latency and RSS idle again after those events, for `hwlabel agent` over a
# sysfs tree with a file sink.
#   [N=1000] [SHAPE=mixed] [DUR=60] [EVENTS=10] [HWLABEL=.build/release/hwlabel] bench/agent-bench.sh
#   TREE=DIR bench/agent-bench.sh      any sysfs tree (DIR/sys/bus/pci/devices) instead of a generated one
# Generated trees come from hwlabel-treegen (N functions, SHAPE mixed or hgx; TREEGEN names a
# built generator, else it is built here in debug: it links the test support target).
# Latency needs root (it writes `change` to a real /sys/bus/pci/devices/*/uevent, which the
# agent's kernel uevent monitor receives); the tree is edited first so the rescan finds a
# change and the report file is rewritten (one device link removed and put back, EVENTS even
# leaves it as it was).
set -eu
cd "$(dirname "$0")/.."
N=${N:-1000}
DUR=${DUR:-60}
EVENTS=${EVENTS:-10}
BIN=${HWLABEL:-}
if [ -z "$BIN" ]; then
    for b in .build/release/hwlabel .build-reporter/release/hwlabel .build-reporter/debug/hwlabel .build/debug/hwlabel; do
        [ -x "$b" ] && { BIN=$b; break; }
    done
fi
[ -n "$BIN" ] || { echo "agent-bench: no hwlabel binary; swift build -c release --static-swift-stdlib --product hwlabel" >&2; exit 1; }
"$BIN" agent --help >/dev/null 2>&1 || { echo "agent-bench: $BIN has no 'agent' subcommand" >&2; exit 1; }

base=${TMPDIR_BENCH:-/dev/shm}/hwlabel-agent-bench.$$
mkdir -p "$base/conf" "$base/state"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$base"' EXIT
if [ -n "${TREE:-}" ]; then
    [ -d "$TREE/sys/bus/pci/devices" ] || { echo "agent-bench: $TREE/sys/bus/pci/devices does not exist: not a sysfs tree" >&2; exit 2; }
    tree=$(cd "$TREE" && pwd)
    N=$(ls "$tree/sys/bus/pci/devices" | wc -l)
else
    if [ -z "${TREEGEN:-}" ]; then
        swift build --product hwlabel-treegen >/dev/null
        TREEGEN="$(swift build --show-bin-path)/hwlabel-treegen"
    fi
    tree=$base/tree
    "$TREEGEN" "$tree" "$N" --shape "${SHAPE:-mixed}" >/dev/null
fi
cat > "$base/conf/agent.conf" <<CONF
[agent]
resync-interval = 600
debounce = 200ms
[file]
path = $base/state/report.json
CONF

events=off
[ "$(id -u)" = 0 ] && [ -d /sys/bus/pci/devices ] && events=kernel
"$BIN" agent --config-dir "$base/conf" --state-dir "$base/state" --sysfs-root "$tree/sys" \
    --uevents "$events" --log-level warning &
pid=$!
python3 - "$base/state/report.json" <<'PY'
import os, sys, time
end = time.time() + 120
while not os.path.exists(sys.argv[1]):
    if time.time() > end: sys.exit("agent-bench: no report after 120 s")
    time.sleep(0.05)
PY
sleep 2
python3 - "$pid" "$DUR" "$EVENTS" "$events" "$base" "$N" "$BIN" "$tree" <<'PY'
import os, sys, time, glob
pid, dur, nev, events, base, n, binary, tree = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7], sys.argv[8]
hz = os.sysconf("SC_CLK_TCK")
def stat():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
def status():
    d = {}
    for l in open(f"/proc/{pid}/status"):
        k, v = l.split(":", 1); d[k] = v.strip()
    return d
def ctx():
    # Per thread: a thread that exits takes its counters with it, so compare thread by thread.
    out = {}
    for t in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            n = 0
            for l in open(t):
                if l.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")): n += int(l.split()[1])
            out[t] = n
        except FileNotFoundError:
            pass
    return out
c0, w0, t0 = stat(), ctx(), time.time()
time.sleep(dur)
c1, w1, t1 = stat(), ctx(), time.time()
st = status()
cpu = (c1 - c0) / hz / (t1 - t0) * 100
rows = [("functions in tree", n), ("idle window (s)", f"{t1-t0:.0f}"),
        ("VmRSS idle", st["VmRSS"]), ("VmHWM (peak, incl. first scan)", st["VmHWM"]),
        ("CPU idle (% of one core)", f"{cpu:.3f}"), ("wake-ups idle (ctx switches / min, all threads)", f"{sum(v - w0.get(k, 0) for k, v in w1.items())/(t1-t0)*60:.1f}"),
        ("threads", st["Threads"])]
lat, scans = [], []
def last_scan_ms():
    # The agent's own timing of its newest scan (probe, descriptors, report), from status.json.
    import json
    try: return json.load(open(f"{base}/state/status.json"))["lastScan"]["durationMs"]
    except (OSError, ValueError, KeyError, TypeError): return None
if events == "kernel" and nev > 0:
    report = f"{base}/state/report.json"
    devs = sorted(os.listdir(f"{tree}/sys/bus/pci/devices"))
    victim = devs[-1]; link = f"{tree}/sys/bus/pci/devices/{victim}"; target = os.readlink(link)
    real = sorted(os.listdir("/sys/bus/pci/devices"))[0]
    for i in range(nev):
        m0 = os.stat(report).st_mtime_ns
        if i % 2 == 0: os.unlink(link)
        else: os.symlink(target, link)
        t = time.monotonic()
        with open(f"/sys/bus/pci/devices/{real}/uevent", "w") as f: f.write("change")
        while os.stat(report).st_mtime_ns == m0:
            if time.monotonic() - t > 5: break
            time.sleep(0.002)
        lat.append((time.monotonic() - t) * 1000)
        time.sleep(0.5)
        ms = last_scan_ms()
        if ms is not None: scans.append(ms)
    lat.sort(); scans.sort()
    rows += [("uevent→file delivery p50 (ms)", f"{lat[len(lat)//2]:.0f}"), ("uevent→file delivery max (ms)", f"{lat[-1]:.0f}"),
             ("events", nev)]
    if scans:
        rows += [("rescan p50 (ms, status.json lastScan)", scans[len(scans)//2]), ("rescan max (ms)", scans[-1])]
    # Idle again after the rescans (the settle trim runs 1 s after the last one): what an agent
    # that has handled events keeps, and whether rescans leak.
    time.sleep(5)
    rows.append(("VmRSS idle after the events", status()["VmRSS"]))
elif nev == 0:
    rows.append(("uevent→delivery", "skipped (EVENTS=0)"))
else:
    rows.append(("uevent→delivery", "skipped (needs root and /sys/bus/pci)"))
print(f"\nhwlabel agent bench ({binary})\n")
print("| metric | value |\n|---|---|")
for k, v in rows: print(f"| {k} | {v} |")
PY
kill -TERM "$pid"
wait "$pid" && echo "agent exited 0 on SIGTERM" || echo "agent exit status $?"
