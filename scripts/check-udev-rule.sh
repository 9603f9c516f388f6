#!/usr/bin/env bash
# Checks udev-rules/72-hwlabel-passthrough.rules with udev's own parser and rule engine, without
# root and without this machine's devices. scripts/nspawn-check.sh runs it (CI); a developer can
# run it the same way (about 2 s).
#
#   scripts/check-udev-rule.sh
#
# The rule is installed with scripts/install.sh into a temporary PREFIX and CONFDIR (so the check
# sees the file install.sh writes, paths rewritten), with a stand-in binary that would leave a
# mark if anything ran it. Then, in a private mount namespace (a user namespace when not root)
# where udev's rules directories hold only that rule and the system's 80-drivers.rules (the one
# that loads the native driver's module), `udevadm test --action=…` runs under umockdev-run over
# three mock PCI functions: an NVIDIA T4 (10de:1eb8, 0000:3b:00.0) behind a root port
# (0000:00:01.0), and an NVSwitch (10de:22a3, class 0680, 0000:00:02.0). udevadm (systemd 252) then reads only the mock's /sys, and no rule it loads
# writes an attribute or starts a program.
#
# Fails when: udev reports anything about the rule file (a syntax error, an unknown key, a GOTO
# without its LABEL); an `add` of the GPU with passthrough.conf present does not give
# RUN "PREFIX/bin/hwlabel passthrough apply --config-dir CONFDIR 0000:3b:00.0", or gives it
# after 80-drivers.rules' `kmod load` (the native module would load first); the same event gives
# the RUN without passthrough.conf, for the bridge, or for `change`; the NVSwitch (class 0680, an
# "other bridge" that can be handed over) does not get it; the stand-in binary ran.
# A deliberately broken copy of the rule must be reported, or the check itself is broken.
# Exit: 0 every check passed; 1 a check failed; 2 cannot run here (no udevadm, umockdev-run,
# 80-drivers.rules, or mount/user namespaces).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
RULE=72-hwlabel-passthrough.rules
GPU=0000:3b:00.0
BRIDGE=0000:00:01.0
SWITCH=0000:00:02.0

die() { printf 'check-udev-rule: %s\n' "$*" >&2; exit 2; }

# --- inside the private mount namespace: only our rule and 80-drivers.rules are visible --------
if [ "${1:-}" = "--inner" ]; then
    RULEFILE=$2 DRIVERS=$3 MOCK=$4 ACTION=$5 DEV=$6
    set -e
    # Every directory udev 252 reads rules from; /run is a fresh tmpfs (udevadm test may write
    # its database there). On a merged-/usr system /lib/udev is /usr/lib/udev: mounted once.
    for d in /etc/udev/rules.d /usr/lib/udev/rules.d /lib/udev/rules.d /usr/local/lib/udev/rules.d; do
        [ -d "$d" ] && ! mountpoint -q "$d" && mount -t tmpfs -o mode=0755 tmpfs "$d"
    done
    mount -t tmpfs -o mode=0755 tmpfs /run
    cp "$RULEFILE" "/etc/udev/rules.d/$RULE"
    cp "$DRIVERS" /usr/lib/udev/rules.d/80-drivers.rules
    exec umockdev-run --device "$MOCK" -- udevadm test --action="$ACTION" "/sys/bus/pci/devices/$DEV"
fi

for c in udevadm umockdev-run unshare; do
    command -v "$c" >/dev/null || die "$c not found (apt-get install udev umockdev util-linux)"
done
DRIVERS=""
for f in /usr/lib/udev/rules.d/80-drivers.rules /lib/udev/rules.d/80-drivers.rules; do
    [ -f "$f" ] && { DRIVERS=$f; break; }
done
[ -n "$DRIVERS" ] || die "no 80-drivers.rules (apt-get install udev)"
if [ "$(id -u)" = 0 ]; then NS=(unshare --mount --propagation private)
else NS=(unshare --user --map-root-user --mount --propagation private); fi
"${NS[@]}" true 2>/dev/null || die "cannot make a private mount namespace (${NS[*]})"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PREFIX=$TMP/prefix
CONFDIR=$TMP/conf
MARK=$TMP/ran
# The stand-in for hwlabel: udevadm test must never start it.
printf '#!/bin/sh\necho "$*" >> %s\n' "$MARK" > "$TMP/hwlabel"
chmod 0755 "$TMP/hwlabel"
DESTDIR=/ PREFIX=$PREFIX CONFDIR=$CONFDIR UNITDIR=$TMP/unit UDEVDIR=$TMP/rules BINARY=$TMP/hwlabel STRIP_MODE=none \
    scripts/install.sh >/dev/null || die "scripts/install.sh into $TMP failed"
INSTALLED=$TMP/rules/$RULE
[ -f "$INSTALLED" ] || { echo "FAIL: scripts/install.sh did not install $RULE"; exit 1; }
WANT="$PREFIX/bin/hwlabel passthrough apply --config-dir $CONFDIR $GPU"
# Copied out first: the namespace hides the directory it lives in.
cp "$DRIVERS" "$TMP/80-drivers.rules"
DRIVERS=$TMP/80-drivers.rules

cat > "$TMP/mock.umockdev" <<EOF
P: /devices/pci0000:00/$BRIDGE
E: DRIVER=pcieport
E: PCI_CLASS=60400
E: PCI_ID=8086:2030
E: PCI_SUBSYS_ID=8086:0000
E: PCI_SLOT_NAME=$BRIDGE
E: MODALIAS=pci:v00008086d00002030sv00008086sd00000000bc06sc04i00
E: SUBSYSTEM=pci
A: class=0x060400\n
A: vendor=0x8086\n
A: device=0x2030\n

P: /devices/pci0000:00/$BRIDGE/$GPU
E: DRIVER=nvidia
E: PCI_CLASS=30200
E: PCI_ID=10DE:1EB8
E: PCI_SUBSYS_ID=10DE:12A2
E: PCI_SLOT_NAME=$GPU
E: MODALIAS=pci:v000010DEd00001EB8sv000010DEsd000012A2bc03sc02i00
E: SUBSYSTEM=pci
A: class=0x030200\n
A: vendor=0x10de\n
A: device=0x1eb8\n
A: subsystem_vendor=0x10de\n
A: subsystem_device=0x12a2\n

P: /devices/pci0000:00/$SWITCH
E: PCI_CLASS=68000
E: PCI_ID=10DE:22A3
E: PCI_SUBSYS_ID=10DE:1796
E: PCI_SLOT_NAME=$SWITCH
E: MODALIAS=pci:v000010DEd000022A3sv000010DEsd00001796bc06sc80i00
E: SUBSYSTEM=pci
A: class=0x068000\n
A: vendor=0x10de\n
A: device=0x22a3\n
EOF

FAILED=0
fail() { printf 'FAIL: %s\n' "$*"; FAILED=1; }
pass() { printf 'ok:   %s\n' "$*"; }

# udevadm test's output for one event: $1 rule file, $2 action, $3 device.
simulate() { "${NS[@]}" "$0" --inner "$1" "$DRIVERS" "$TMP/mock.umockdev" "$2" "$3" 2>&1; }
# Lines where udev speaks about the rule file itself (parse errors and warnings); the trace of
# an event names the device first ("0000:3b:00.0: /etc/udev/rules.d/…:34 RUN …").
diagnostics() { printf '%s\n' "$1" | grep -E "^/etc/udev/rules.d/$RULE:[0-9]+" || true; }
# The RUN list, in the order udevd would run it.
runs() { printf '%s\n' "$1" | sed -n "s/^run: '\(.*\)'\$/\1/p"; }
show() { printf '%s\n' "$1" | sed 's/^/      /' | tail -n 25; }

# The detector itself: a copy with an unknown key and a GOTO without its LABEL must be reported.
{ cat "$INSTALLED"; printf 'SUBSYSTEM=="pci", RUNN+="x"\nKERNEL=="x", GOTO="hwlabel_nowhere"\n'; } > "$TMP/broken.rules"
out=$(simulate "$TMP/broken.rules" add "$GPU")
n=$(diagnostics "$out" | grep -c . || true)
[ "$n" -ge 2 ] && pass "a broken copy is reported by udev ($n diagnostics)" \
    || { fail "a broken copy of the rule went unreported: the check cannot see syntax errors"; show "$out"; }

: > "$CONFDIR/passthrough.conf"
out=$(simulate "$INSTALLED" add "$GPU")
d=$(diagnostics "$out")
[ -z "$d" ] && pass "udev parses $RULE without a diagnostic" || { fail "udev about $RULE:"; show "$d"; }
list=$(runs "$out")
if printf '%s\n' "$list" | grep -qxF "$WANT"; then
    pass "add $GPU, passthrough.conf present: RUN '$WANT'"
else
    fail "add $GPU with passthrough.conf: no RUN '$WANT'"; show "$out"
fi
ours=$(printf '%s\n' "$list" | grep -nxF "$WANT" | head -n 1 | cut -d: -f1)
kmod=$(printf '%s\n' "$list" | grep -n '^kmod load' | head -n 1 | cut -d: -f1)
if [ -n "$ours" ] && [ -n "$kmod" ] && [ "$ours" -lt "$kmod" ]; then
    pass "it runs before 80-drivers.rules' kmod load (RUN $ours of $(printf '%s\n' "$list" | grep -c .))"
else
    fail "apply is RUN ${ours:-never}, kmod load ${kmod:-never}: the native module would load first"
    show "$list"
fi

rm -f "$CONFDIR/passthrough.conf"
out=$(simulate "$INSTALLED" add "$GPU")
if runs "$out" | grep -q '^kmod load' && ! runs "$out" | grep -qF "passthrough apply"; then
    pass "add $GPU without passthrough.conf: no apply (kmod load still there)"
else
    fail "add $GPU without passthrough.conf"; show "$(runs "$out")"
fi

: > "$CONFDIR/passthrough.conf"
out=$(simulate "$INSTALLED" add "$BRIDGE")
if runs "$out" | grep -q '^kmod load' && ! runs "$out" | grep -qF "passthrough apply"; then
    pass "add $BRIDGE (a bridge): no apply (kmod load still there)"
else
    fail "add of the bridge $BRIDGE"; show "$(runs "$out")"
fi
out=$(simulate "$INSTALLED" add "$SWITCH")
if runs "$out" | grep -qxF "${WANT% *} $SWITCH"; then
    pass "add $SWITCH (class 0680, an NVSwitch): RUN apply"
else
    fail "add of the NVSwitch $SWITCH (class 0680): no apply"; show "$(runs "$out")"
fi
out=$(simulate "$INSTALLED" change "$GPU")
if printf '%s\n' "$out" | grep -qx "ACTION=change" && printf '%s\n' "$out" | grep -q "^Reading rules file: .*$RULE" \
    && ! runs "$out" | grep -qF "passthrough apply"; then
    pass "change $GPU: no apply"
else
    fail "change $GPU"; show "$out"
fi

[ -e "$MARK" ] && fail "the RUN program was started: $(cat "$MARK")" || pass "no RUN program was started"
exit $FAILED
