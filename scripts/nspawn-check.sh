#!/usr/bin/env bash
# Runs the agent as a new user would: the release binary, the unit and the udev rules installed by
# scripts/install.sh into a minimal Debian 12 root, booted under a real systemd 252
# (systemd-nspawn), then proves the service works under its hardening. CI runs it after the
# release build; a developer can run it the same way (root; about 35 s once the root file system
# is cached, about 100 s when it is built first).
#
#   scripts/nspawn-check.sh [BINARY]      BINARY: $HWLABEL_BINARY, else .build-release/release/hwlabel
#   scripts/nspawn-check.sh --prepare     only build (or reuse) the cached root file system
#
# Proves, failing otherwise: `systemctl start` reaches READY (Type=notify) with a status text; a
# watchdog ping arrives; the file, NFD and controller sinks deliver (a controller on 127.0.0.1
# beside the container records each request and its Authorization header); `systemctl reload`
# reloads; a rewritten token file reaches the controller without a restart; `change` written to a
# host PCI device's uevent file triggers a rescan (NSPAWN_UEVENT=0 skips it); written files follow
# the unit's UMask=; with the unit's capabilities another user's /proc/<pid>/fd reads (who holds a
# device); `hwlabel agent status` says running (0) and, after the stop, not running (3);
# `systemd-analyze security` inside is "OK" or better; `systemctl stop` exits 0 with
# Result=success; the journal has no SIGSYS, kill, watchdog timeout, denied call or token.
# The passthrough udev rule, as installed: scripts/check-udev-rule.sh first (udevadm test under
# umockdev), then inside the container, where the host's /sys is read-only, `udevadm test
# --action=add` of a host PCI function with Debian's whole rule set: no diagnostic about the rule;
# with passthrough.conf present its RUN is `hwlabel passthrough apply --config-dir /etc/hwlabel BDF`,
# ahead of 80-drivers.rules' `kmod load`; without it, no such RUN (udevadm test starts no RUN
# program). The installed binary runs that apply (no record for BDF: exit 0) under the sandbox the
# container's systemd-udevd.service puts its RUN programs in.
# The whole run is limited to 170 s (NSPAWN_TIMEOUT).
#
# Environment: NSPAWN_CACHE (default .build-nspawn: the cached root file system, rebuilt when its
# package list or the host's apt sources change), NSPAWN_KEEP=1 (keep the run directory with the
# journal and the controller's log), NSPAWN_UEVENT=0, NSPAWN_STRACE=1 (strace the container and
# list every call that failed with EPERM or EACCES, the agent's and systemd's; slower).
# Needs root, systemd-nspawn (systemd-container), mmdebstrap, python3, util-linux (unshare, nsenter),
# and for the udev rule udev and umockdev.
# Exit: 0 every check passed; 1 a check failed; 2 cannot run here.
#
# The container shares the host's network namespace (the controller on 127.0.0.1 is reachable
# from it) and sees the host's /sys read-only, as nspawn mounts it: nothing in it can write a host
# device. Outside the container the script writes only `change` to one PCI device's uevent file
# (the kernel then announces the device again), its cache and run directories, and a cgroup of its
# own under the cgroup2 mount, removed at exit with everything in it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

# udev gives udevadm and Debian's rules; systemd-udevd itself does not start in the container
# (ConditionPathIsReadWrite=/sys).
PACKAGES="systemd,systemd-sysv,dbus,udev,libpci3,libudev1,libstdc++6,libgcc-s1,zlib1g"
ROOTFS_REV=1          # bump when the customisation below changes
SUITE=bookworm
CACHE=${NSPAWN_CACHE:-$REPO/.build-nspawn}
UNIT=hwlabel-agent.service

say() { printf '== %s\n' "$*"; }
die() { printf 'nspawn-check: %s\n' "$*" >&2; exit 2; }

# --- the part that runs in a private mount namespace (all mounts vanish with it) ---------------
if [ "${1:-}" = "--inner" ]; then
    shift
    set +e   # every check reports and the run goes on; the exit status sums them up
    BIN=$1 RUN=$2 BASE=$3 CG=$4
    T0=$(date +%s)
    FAILED=0
    NSPAWN_PID=""
    CTL_PID=""
    fail() { printf 'FAIL: %s\n' "$*"; FAILED=1; }
    pass() { printf 'ok:   %s\n' "$*"; }
    elapsed() { echo $(( $(date +%s) - T0 ))s; }

    cleanup() {
        set +e
        if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
            # SIGRTMIN+4 asks systemd (PID 1 of the container) to power off.
            [ -n "${LEADER:-}" ] && kill -s RTMIN+4 "$LEADER" 2>/dev/null
            for _ in $(seq 1 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$NSPAWN_PID" 2>/dev/null && kill -KILL "$NSPAWN_PID" 2>/dev/null
            wait "$NSPAWN_PID" 2>/dev/null
        fi
        if [ -n "$CG" ] && [ -d "$CG" ]; then
            # Whatever is left in our cgroup (the container's processes) goes, then the cgroups.
            [ -e "$CG/cgroup.kill" ] && echo 1 > "$CG/cgroup.kill" 2>/dev/null
            for _ in $(seq 1 50); do
                [ -z "$(find "$CG" -name cgroup.procs -exec cat {} + 2>/dev/null)" ] && break
                sleep 0.1
            done
            find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
            [ -d "$CG" ] && printf 'nspawn-check: cgroup %s not removed\n' "$CG" >&2
        fi
        [ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
        mountpoint -q "$RUN/root" && umount -l "$RUN/root"
    }
    trap cleanup EXIT
    trap 'exit 1' TERM INT HUP

    # nspawn refuses to clean its propagation directory on a disk-backed /run.
    mount -t tmpfs -o mode=0755 tmpfs /run
    mkdir -p "$RUN/upper" "$RUN/work" "$RUN/root"
    if ! mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$RUN/upper,workdir=$RUN/work" "$RUN/root" 2>/dev/null; then
        cp -a "$BASE/." "$RUN/root/"
    fi
    ROOT=$RUN/root

    say "install with scripts/install.sh (DESTDIR)"
    DESTDIR=$ROOT BINARY=$BIN "$REPO/scripts/install.sh"

    # The controller beside the container: records each request (path, Authorization, body).
    cat > "$RUN/controller.py" <<'PY'
import http.server, json, sys
log = open(sys.argv[2], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            gen = json.loads(body).get("generation")
        except Exception:
            gen = None
        log.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"),
                              "generation": gen, "bytes": len(body)}) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1], "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
PY
    : > "$RUN/requests.jsonl"
    python3 "$RUN/controller.py" "$RUN/port" "$RUN/requests.jsonl" &
    CTL_PID=$!
    for _ in $(seq 1 50); do [ -s "$RUN/port" ] && break; sleep 0.1; done
    PORT=$(cat "$RUN/port")

    TOKEN_A=hwl-a-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    TOKEN_B=hwl-b-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    cat > "$ROOT/etc/hwlabel/agent.conf" <<CONF
[agent]
resync-interval = 600
debounce = 200ms
[controller]
url = http://127.0.0.1:$PORT/v1/reports
max-attempts = 3
[nfd]
dir = /etc/kubernetes/node-feature-discovery/features.d
CONF
    mkdir -p "$ROOT/etc/kubernetes/node-feature-discovery/features.d"
    printf '%s\n' "$TOKEN_A" > "$ROOT/etc/hwlabel/controller-token"

    say "boot systemd in systemd-nspawn"
    mkdir "$CG"
    (
        echo "$BASHPID" > "$CG/cgroup.procs"
        # cgroup v2 inside (DevicePolicy= is enforced there); nspawn's own filter blocks bpf(),
        # which systemd needs to attach device policies.
        SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 exec systemd-nspawn --quiet --boot --register=no --keep-unit \
            --machine="hwlabel-check-$$" --directory="$ROOT" --console=pipe --link-journal=no \
            --resolv-conf=off --timezone=off --system-call-filter=bpf
    ) < /dev/null > "$RUN/console.log" 2>&1 &
    NSPAWN_PID=$!
    LEADER=""
    for _ in $(seq 1 100); do
        # The container's PID 1: a descendant of nspawn whose name is systemd.
        for p in $(cat "$CG"/cgroup.procs "$CG"/*/cgroup.procs "$CG"/*/*/cgroup.procs 2>/dev/null); do
            [ "$(cat /proc/"$p"/comm 2>/dev/null)" = systemd ] && [ "$(awk '{print $1}' /proc/"$p"/stat 2>/dev/null)" = "$p" ] \
                && grep -q "^NSpid:.*[[:space:]]1$" /proc/"$p"/status 2>/dev/null && { LEADER=$p; break; }
        done
        [ -n "$LEADER" ] && break
        kill -0 "$NSPAWN_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$LEADER" ]; then
        cat "$RUN/console.log"
        fail "the container did not start"
        exit 1
    fi
    in_ct() { timeout "${TMO:-60}" nsenter -t "$LEADER" -a "$@"; }
    # systemctl needs PID 1's private socket, which appears a moment after the exec.
    for _ in $(seq 1 300); do in_ct test -S /run/systemd/private 2>/dev/null && break; sleep 0.1; done
    state=$(in_ct systemctl is-system-running --wait 2>/dev/null)
    case $state in
        running|degraded) pass "systemd is up ($state, $(elapsed))" ;;
        *) fail "systemd state: $state"; in_ct systemctl --failed --no-pager || true ;;
    esac
    [ "$state" = degraded ] && in_ct systemctl --failed --no-legend --no-pager | sed 's/^/      degraded: /'
    # DevicePolicy= is enforced with cgroup v2 only (a BPF program per unit).
    fs=$(in_ct stat -f -c %T /sys/fs/cgroup)
    [ "$fs" = cgroup2fs ] && pass "cgroup v2 inside: DevicePolicy= is enforced" || fail "cgroup $fs inside: DevicePolicy= would not be enforced"

    if [ "${NSPAWN_STRACE:-0}" = 1 ]; then
        # Follows PID 1's children, so the agent is traced from its exec on.
        strace -f -qq -e trace=all -e status=failed -o "$RUN/strace.log" -p "$LEADER" 2>/dev/null &
        STRACE_PID=$!
        sleep 1
    fi

    show() { in_ct systemctl show -P "$1" "$UNIT"; }
    requests() { wc -l < "$RUN/requests.jsonl"; }
    last_auth() { tail -n 1 "$RUN/requests.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["auth"])' 2>/dev/null; }
    wait_for() { # seconds, then a shell snippet (evaluated afresh each time) that must succeed
        local tries=$(( $1 * 10 ))
        for _ in $(seq 1 "$tries"); do eval "$2" && return 0; sleep 0.1; done
        return 1
    }
    scans() { # scans with trigger $1 the agent logged so far
        in_ct journalctl --no-pager -o cat -u "$UNIT" 2>/dev/null | grep -c "trigger=$1 .*scan$"; }
    status_json() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$ROOT/var/lib/hwlabel/status.json" "$1" 2>/dev/null; }

    say "udev rule: udevadm test inside (the host's /sys is read-only here)"
    # udev 252's `udevadm test` writes the ATTR{} assignments of every rule it loads: only ever
    # where /sys is mounted read-only.
    sysopts=$(in_ct awk '$2 == "/sys" { o = $4 } END { print o }' /proc/self/mounts)
    sys_ro=0
    case ,$sysopts, in *,ro,*) sys_ro=1 ;; esac
    in_ct test -w /sys/bus/pci/drivers_probe && { sys_ro=0; sysopts="$sysopts, drivers_probe writable"; }
    case $sys_ro in
        1)
            RULE=72-hwlabel-passthrough.rules
            CONF=$ROOT/etc/hwlabel/passthrough.conf
            # A function the rule does not skip as a bridge (class 06 but 0680).
            udev_dev=""
            for d in /sys/bus/pci/devices/*; do
                case $(cat "$d/class") in 0x06*) ;; *) udev_dev=$(basename "$d"); break ;; esac
            done
            want="/usr/local/bin/hwlabel passthrough apply --config-dir /etc/hwlabel $udev_dev"
            udev_test() { in_ct udevadm test --action=add "/sys/bus/pci/devices/$udev_dev" 2>&1; }
            udev_runs() { printf '%s\n' "$1" | sed -n "s/^run: '\(.*\)'\$/\1/p"; }
            if [ -z "$udev_dev" ]; then
                fail "udev: no PCI function other than bridges on this host"
            elif [ ! -f "$ROOT/etc/udev/rules.d/$RULE" ]; then
                fail "udev: scripts/install.sh did not install $RULE"
            else
                printf '# no records: written by nspawn-check for udevadm test\n' > "$CONF"
                out=$(udev_test)
                bad=$(printf '%s\n' "$out" | grep -E "^/etc/udev/rules.d/$RULE:[0-9]+" || true)
                [ -z "$bad" ] && printf '%s\n' "$out" | grep -q "^Reading rules file: /etc/udev/rules.d/$RULE" \
                    && pass "udev reads $RULE with Debian's rules, no diagnostic" \
                    || { fail "udev about $RULE:"; printf '%s\n' "${bad:-(never read)}" | sed 's/^/      /'; }
                list=$(udev_runs "$out")
                ours=$(printf '%s\n' "$list" | grep -nxF "$want" | head -n 1 | cut -d: -f1)
                kmod=$(printf '%s\n' "$list" | grep -n '^kmod load' | head -n 1 | cut -d: -f1)
                if [ -n "$ours" ] && [ -n "$kmod" ] && [ "$ours" -lt "$kmod" ]; then
                    pass "add $udev_dev with passthrough.conf: RUN '$want', before kmod load"
                else
                    fail "add $udev_dev with passthrough.conf: apply RUN ${ours:-missing}, kmod load ${kmod:-missing}"
                    printf '%s\n' "$list" | sed 's/^/      run: /'
                fi
                # What udevd would start, in the sandbox its own unit gives its RUN programs.
                sandbox=()
                while IFS= read -r l; do sandbox+=(-p "$l"); done < <(in_ct grep -E \
                    '^(SystemCallFilter|SystemCallErrorNumber|MemoryDenyWriteExecute|RestrictAddressFamilies|RestrictRealtime|RestrictSUIDSGID|LockPersonality|PrivateMounts|ProtectHostname|CapabilityBoundingSet|IPAddressDeny)=' \
                    /lib/systemd/system/systemd-udevd.service)
                if ! in_ct /usr/local/bin/hwlabel passthrough apply --help 2>&1 | grep -q 'USAGE: hwlabel passthrough apply'; then
                    fail "this hwlabel has no \`passthrough apply\`: the rule would fail at every add"
                elif out=$(in_ct systemd-run --quiet --wait --pipe --collect "${sandbox[@]}" $want 2>&1); then
                    pass "$want: exit 0 under systemd-udevd's sandbox (${#sandbox[@]} settings), no record"
                else
                    fail "$want under systemd-udevd's sandbox: $(printf '%s' "$out" | tail -n 3)"
                fi
                rm -f "$CONF"
                list=$(udev_runs "$(udev_test)")
                if printf '%s\n' "$list" | grep -q '^kmod load' && ! printf '%s\n' "$list" | grep -qF "passthrough apply"; then
                    pass "add $udev_dev without passthrough.conf: no apply"
                else
                    fail "add $udev_dev without passthrough.conf:"; printf '%s\n' "$list" | sed 's/^/      run: /'
                fi
            fi
            ;;
        *) fail "udev: /sys is not read-only in the container ($sysopts): udevadm test not run" ;;
    esac

    say "start (Type=notify)"
    if in_ct systemctl start "$UNIT"; then pass "systemctl start returned after READY=1 ($(elapsed))"
    else fail "systemctl start failed"; in_ct systemctl status --no-pager "$UNIT" || true; fi
    [ "$(show ActiveState)/$(show SubState)" = active/running ] && pass "active (running)" || fail "state $(show ActiveState)/$(show SubState)"
    st=$(show StatusText)
    case $st in generation*devices*) pass "status text: $st" ;; *) fail "status text: '$st'" ;; esac
    if [ "$(show ActiveState)" != active ]; then
        echo "-- the agent did not start; its journal:"
        in_ct journalctl --no-pager -o cat -u "$UNIT" | tail -n 30 | sed -E "s/$TOKEN_A|$TOKEN_B/<the token>/g"
        exit 1
    fi
    PID0=$(show MainPID)
    WD0=$(show WatchdogTimestampMonotonic)
    [ "$(show WatchdogUSec)" != 0 ] && [ "$(show WatchdogUSec)" != infinity ] || fail "no watchdog configured"

    say "sinks"
    wait_for 10 'test -s "$RUN/requests.jsonl"' && pass "controller received a report" || fail "controller received nothing"
    [ "$(last_auth)" = "Bearer $TOKEN_A" ] && pass "controller saw the token (Authorization: Bearer)" || fail "controller saw Authorization: $(last_auth | sed 's/hwl-[ab]-.*/<a token>/')"
    REPORT=$ROOT/var/lib/hwlabel/report.json
    NFD=$ROOT/etc/kubernetes/node-feature-discovery/features.d/hwlabel
    wait_for 5 'test -s "$REPORT"' && python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["generation"] >= 1' "$REPORT" \
        && pass "file sink: report.json, generation $(status_json 's["generation"]')" || fail "file sink: no valid report.json"
    wait_for 5 'grep -qs "^hwlabel.io/devices=" "$NFD"' && pass "NFD sink: $(grep -c '^hwlabel.io/' "$NFD") labels" || fail "NFD sink: no feature file"
    um=$(show UMask)
    want=$(printf '%o' $(( 0666 & ~0$um )))
    for f in "$REPORT" "$ROOT/var/lib/hwlabel/status.json" "$NFD"; do
        m=$(stat -c %a "$f" 2>/dev/null || echo missing)
        [ "$m" = "$want" ] && pass "$(basename "$f") is 0$m (UMask=$um)" || fail "$(basename "$f") mode $m, want $want (UMask=$um)"
    done
    out=$(in_ct /usr/local/bin/hwlabel agent status 2>&1); rc=$?
    [ $rc = 0 ] && pass "hwlabel agent status: running, exit 0" || {
        fail "agent status exit $rc"; printf '%s\n' "$out"
        in_ct sh -c "cat /proc/$PID0/stat /proc/sys/kernel/random/boot_id; grep -E 'pid|Ticks|bootID|state' /var/lib/hwlabel/status.json"
    }

    say "who holds a device: another user's open files"
    # A process started as another user, as libvirt starts QEMU: with the unit's capabilities
    # and ProtectProc=, its /proc/<pid>/fd must be listable and its links readable, or every
    # device's usage reads "unknown" on a host whose VMs run as their own user.
    in_ct systemd-run --quiet --unit=hwlabel-check-holder -p User=nobody sleep 300
    other=$(in_ct systemctl show -P MainPID hwlabel-check-holder.service)
    [ "${other:-0}" != 0 ] || other=""
    caps=$(show CapabilityBoundingSet)
    reads_fds() { # capability set: can a service with it list and read another user's open files?
        [ -n "$other" ] && in_ct systemd-run --quiet --wait --pipe --collect -p User=root -p "CapabilityBoundingSet=$1" \
            -p "ProtectProc=$(show ProtectProc)" -p NoNewPrivileges=yes -p ProtectSystem=strict \
            sh -c "ls -l /proc/$other/fd/ | grep -q -- '->'" 2>/dev/null
    }
    if reads_fds "$caps"; then
        pass "with the unit's capabilities ($caps) another user's /proc/$other/fd reads"
    else
        fail "with the unit's capabilities ($caps) another user's /proc/${other:-?}/fd does not read: usage would be unknown"
    fi
    # Why the unit grants CAP_DAC_READ_SEARCH: without it, CAP_SYS_PTRACE alone is not enough.
    reads_fds "$(printf '%s\n' $caps | grep -vx cap_dac_read_search | tr '\n' ' ')" \
        && echo "      (note: it reads without cap_dac_read_search too on this kernel)" \
        || echo "      (without cap_dac_read_search it does not: the directory is 0500, owned by that user)"
    in_ct systemctl stop hwlabel-check-holder.service

    say "reload"
    n=$(requests)
    r0=$(scans reload)
    if in_ct systemctl reload "$UNIT"; then pass "systemctl reload exit 0"; else fail "systemctl reload failed"; fi
    wait_for 10 'test "$(scans reload)" -gt "$r0"' && pass "the agent reloaded and rescanned" || fail "no rescan after reload"
    wait_for 10 'test "$(requests)" -gt "$n"' && pass "re-delivered after reload" || fail "nothing delivered after reload"
    [ "$(show MainPID)" = "$PID0" ] || fail "MainPID changed on reload"

    say "token rotation without a restart"
    n=$(requests)
    printf '%s\n' "$TOKEN_B" > "$ROOT/etc/hwlabel/.controller-token.new"
    chmod 0600 "$ROOT/etc/hwlabel/.controller-token.new"
    mv "$ROOT/etc/hwlabel/.controller-token.new" "$ROOT/etc/hwlabel/controller-token"
    if wait_for 15 'test "$(requests)" -gt "$n"' && wait_for 5 'test "$(last_auth)" = "Bearer $TOKEN_B"'; then
        pass "the next request carries the new token (no restart, no reload command)"
    else
        in_ct systemctl reload "$UNIT" || true
        wait_for 10 'test "$(last_auth)" = "Bearer $TOKEN_B"' && fail "new token only after an explicit reload" \
            || fail "controller never saw the new token"
    fi
    [ "$(show MainPID)" = "$PID0" ] && [ "$(show NRestarts)" = 0 ] && pass "same process, no restart" || fail "the agent restarted"

    if [ "${NSPAWN_UEVENT:-1}" = 1 ]; then
        say "uevent"
        # A bridge if there is one (nothing drives it), else the first device. `change` makes the
        # kernel announce the device again; it changes nothing about the device.
        dev=""
        for d in /sys/bus/pci/devices/*; do case $(cat "$d/class") in 0x06*) dev=$d; break ;; esac; done
        [ -n "$dev" ] || dev=$(ls -d /sys/bus/pci/devices/* | head -n 1)
        u0=$(scans uevent)
        echo change > "$dev/uevent"
        if wait_for 10 'test "$(scans uevent)" -gt "$u0"'; then
            pass "change on $(basename "$dev") → rescan (trigger uevent)"
        else
            fail "no rescan after a uevent on $(basename "$dev")"
        fi
    else
        say "uevent: skipped (NSPAWN_UEVENT=0)"
    fi

    say "systemd-analyze security (inside)"
    sec=$(in_ct systemd-analyze security --no-pager "$UNIT" 2>&1 || true)
    printf '%s\n' "$sec" | grep -E '^[[:space:]]*✗' | sed 's/^/      /' || true
    line=$(printf '%s\n' "$sec" | grep 'Overall exposure level' || true)
    case $line in
        *" OK"*|*SAFE*|*PERFECT*) pass "${line#*→ }" ;;
        *) fail "security: ${line:-no verdict}" ;;
    esac

    say "watchdog"
    if wait_for 40 'test "$(show WatchdogTimestampMonotonic)" -gt "${WD0:-0}"'; then
        pass "WATCHDOG=1 received (interval $(show WatchdogUSec), $(elapsed))"
    else fail "no watchdog ping after start"; fi

    say "stop"
    if in_ct systemctl stop "$UNIT"; then pass "systemctl stop exit 0"; else fail "systemctl stop failed"; fi
    r=$(show Result); code=$(show ExecMainCode); status=$(show ExecMainStatus)
    [ "$r" = success ] && [ "$status" = 0 ] && pass "Result=success, main process exited $status" \
        || fail "Result=$r ExecMainCode=$code ExecMainStatus=$status"
    out=$(in_ct /usr/local/bin/hwlabel agent status 2>&1); rc=$?
    [ $rc = 3 ] && pass "hwlabel agent status after stop: exit 3 ($(printf '%s\n' "$out" | grep -m1 '^state' || true))" \
        || { fail "agent status after stop: exit $rc"; printf '%s\n' "$out"; }

    say "journal"
    if [ -n "${STRACE_PID:-}" ]; then
        kill "$STRACE_PID" 2>/dev/null; wait "$STRACE_PID" 2>/dev/null || true
        grep -E 'E(PERM|ACCES)' "$RUN/strace.log" | sed -E 's/^[0-9]+ +//; s/\(.*\) += -1/(…) = -1/' | sort | uniq -c | sed 's/^/      strace: /' || true
    fi
    in_ct journalctl --no-pager -o short-monotonic -b > "$RUN/journal.txt" 2>&1 || true
    in_ct journalctl --no-pager -o cat -u "$UNIT" > "$RUN/agent-journal.txt" 2>&1 || true
    # Lines about the agent (its own, and systemd's about its unit), and any line with a token.
    bad=$( { grep -iE 'hwlabel' "$RUN/journal.txt" | grep -iE "SIGSYS|status=31|code=(killed|dumped)|killing process|SIGKILL|watchdog timeout|Failed to set thread priority|errno=(1|13)\b|Operation not permitted|Permission denied|203/EXEC|Failed to locate executable|Failed with result|audit"
               grep -E "$TOKEN_A|$TOKEN_B" "$RUN/journal.txt"; } | sed -E "s/$TOKEN_A|$TOKEN_B/<the token>/g" || true)
    if [ -z "$bad" ]; then
        pass "journal: no SIGSYS, kill, watchdog timeout, denied call or token ($(grep -c . "$RUN/agent-journal.txt") agent lines)"
    else
        fail "journal:"; printf '%s\n' "$bad" | head -n 30 | sed 's/^/      /'
    fi
    for tok in "$TOKEN_A" "$TOKEN_B"; do
        if grep -rqsF "$tok" "$ROOT/var/lib/hwlabel" "$RUN/console.log"; then fail "a token is in the state directory or console"; fi
    done

    if [ $FAILED != 0 ]; then
        echo "-- agent journal (last 40 lines)"; tail -n 40 "$RUN/agent-journal.txt" | sed -E "s/$TOKEN_A|$TOKEN_B/<the token>/g"
    fi
    say "done in $(elapsed): $([ $FAILED = 0 ] && echo 'all checks passed' || echo 'FAILED')"
    exit $FAILED
fi

# --- outside: checks, the cached root file system, then the inner part in its own namespace -----
PREPARE=0
[ "${1:-}" = "--prepare" ] && { PREPARE=1; shift; }
BIN=${1:-${HWLABEL_BINARY:-.build-release/release/hwlabel}}
[ "$(id -u)" = 0 ] || die "needs root (systemd-nspawn, mounts, cgroups)"
for c in systemd-nspawn mmdebstrap python3 unshare nsenter; do
    command -v "$c" >/dev/null || die "$c not found (apt-get install --no-install-recommends systemd-container mmdebstrap)"
done
[ "${NSPAWN_STRACE:-0}" = 1 ] && { command -v strace >/dev/null || die "NSPAWN_STRACE=1 needs strace"; }
if [ $PREPARE = 0 ]; then
    [ -x "$BIN" ] || die "$BIN: no such binary; build it: swift build -c release --static-swift-stdlib --scratch-path .build-release"
    BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
fi

# The mirror is this machine's own: every enabled apt source file that names the suite.
SOURCES=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -qE "^[^#]*\b$SUITE\b" "$f" && SOURCES+=("$f")
done
[ ${#SOURCES[@]} -gt 0 ] || die "no apt source for $SUITE in /etc/apt/sources.list(.d)"

mkdir -p "$CACHE"
KEY=$( { echo "$PACKAGES $SUITE $ROOTFS_REV"; cat "${SOURCES[@]}"; } | sha256sum | cut -c1-16)
BASE=$CACHE/rootfs-$KEY
if [ ! -e "$BASE/.complete" ]; then
    say "build the root file system ($SUITE, minbase + $PACKAGES) from ${SOURCES[*]}"
    t=$(date +%s)
    rm -rf "$BASE" "$BASE.tmp"
    # --no-install-recommends: libnss-mymachines and friends are not wanted. The customisation
    # keeps the boot quiet: no getty on the console pipe, no timers (apt, fstrim) in the run.
    mmdebstrap --quiet --mode=root --variant=minbase --include="$PACKAGES" \
        --aptopt='APT::Install-Recommends "false"' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='ln -sf /dev/null "$1/etc/systemd/system/console-getty.service"' \
        --customize-hook='ln -sf /dev/null "$1/etc/systemd/system/getty@.service"' \
        --customize-hook='rm -f "$1"/etc/systemd/system/timers.target.wants/*' \
        --customize-hook='rm -f "$1/etc/machine-id"; : > "$1/etc/machine-id"' \
        "$SUITE" "$BASE.tmp" "${SOURCES[@]}" || die "mmdebstrap failed"
    touch "$BASE.tmp/.complete"
    mv "$BASE.tmp" "$BASE"
    say "root file system ready in $(( $(date +%s) - t ))s ($(du -sh "$BASE" | cut -f1))"
fi
# Roots for other package lists or sources are stale.
for old in "$CACHE"/rootfs-*; do
    [ "$old" = "$BASE" ] || rm -rf --one-file-system "$old"
done

[ $PREPARE = 1 ] && exit 0

C2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$C2" ] || die "no cgroup2 mount (nspawn's container gets cgroup v2 from it)"
CG=$C2/hwlabel-nspawn-check.$$
RUN=$(mktemp -d "$CACHE/run.XXXXXX")
finish() {
    # The inner part cleans up after itself; this is for when it was killed (the time limit).
    if [ -d "$CG" ]; then
        [ -e "$CG/cgroup.kill" ] && echo 1 > "$CG/cgroup.kill" 2>/dev/null
        sleep 0.5
        find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
    fi
    if [ "${NSPAWN_KEEP:-0}" = 1 ]; then
        echo "kept $RUN (journal.txt, agent-journal.txt, requests.jsonl, console.log)"
    else
        rm -rf --one-file-system "$RUN"
    fi
}
trap finish EXIT
trap 'exit 1' TERM INT HUP
say "udev rule under umockdev (scripts/check-udev-rule.sh)"
urc=0
"$REPO/scripts/check-udev-rule.sh" || urc=$?
rc=0
# At most 3 minutes in all; its own mount namespace, so every mount goes with it.
timeout --kill-after=10 "${NSPAWN_TIMEOUT:-170}" unshare --mount --propagation private -- "$0" --inner "$BIN" "$RUN" "$BASE" "$CG" || rc=$?
[ $rc = 124 ] && echo "FAIL: the check ran out of time (${NSPAWN_TIMEOUT:-170}s)"
if [ $urc != 0 ]; then
    echo "FAIL: scripts/check-udev-rule.sh exited $urc"
    [ $rc = 0 ] && rc=1
fi
exit $rc
