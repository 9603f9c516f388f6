#!/bin/sh
# Installs hwlabel's binary, the agent's systemd unit and the udev rules on this host.
#   [PREFIX=/usr/local] [DESTDIR=] [BINARY=.build/release/hwlabel] [STRIP_MODE=all] scripts/install.sh
# With DESTDIR set (packaging), files are staged there and nothing is reloaded.
# The installed copy of the binary is stripped (STRIP_MODE=all: no symbol table or debug info,
# about half the size of the build's); STRIP_MODE=debug keeps the symbol table (function names in
# a crash backtrace), STRIP_MODE=none installs it as built. STRIP names the strip program
# (default strip, else llvm-strip). BINARY itself is never changed: keep it to symbolise a
# stripped binary's backtrace (llvm-symbolizer --obj=BINARY ADDRESS).
set -eu
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
BINARY=${BINARY:-.build/release/hwlabel}
UNITDIR=${UNITDIR:-/etc/systemd/system}
UDEVDIR=${UDEVDIR:-/etc/udev/rules.d}
CONFDIR=${CONFDIR:-/etc/hwlabel}
STRIP_MODE=${STRIP_MODE:-all}

[ -x "$BINARY" ] || { echo "install: $BINARY not found; run: swift build -c release --static-swift-stdlib" >&2; exit 1; }

install -d "$DESTDIR$PREFIX/bin" "$DESTDIR$UNITDIR" "$DESTDIR$UDEVDIR" "$DESTDIR$CONFDIR" \
    "$DESTDIR$PREFIX/share/doc/hwlabel" "$DESTDIR$PREFIX/share/hwlabel"
case $STRIP_MODE in
    all) strip_args=--strip-all ;;
    debug) strip_args=--strip-debug ;;
    none) strip_args="" ;;
    *) echo "install: STRIP_MODE=$STRIP_MODE: want all, debug or none" >&2; exit 1 ;;
esac
if [ -n "$strip_args" ]; then
    # binutils' strip, else LLVM's (the Swift toolchain's lld output suits either).
    strip_prog=${STRIP:-}
    [ -n "$strip_prog" ] || for c in strip llvm-strip; do command -v "$c" >/dev/null 2>&1 && { strip_prog=$c; break; }; done
    [ -n "$strip_prog" ] || { echo "install: no strip or llvm-strip (apt-get install binutils), or STRIP_MODE=none" >&2; exit 1; }
    # Stripped into a temporary file beside the target, then renamed over it: a running agent
    # keeps its old binary, and an interrupted install leaves no half-written one.
    tmpbin="$DESTDIR$PREFIX/bin/.hwlabel.install.$$"
    trap 'rm -f "$tmpbin"' EXIT
    "$strip_prog" "$strip_args" -o "$tmpbin" "$BINARY"
    chmod 0755 "$tmpbin"
    mv -f "$tmpbin" "$DESTDIR$PREFIX/bin/hwlabel"
else
    install -m 0755 "$BINARY" "$DESTDIR$PREFIX/bin/hwlabel"
fi
sed "s#/usr/local/#$PREFIX/#g" systemd/hwlabel-agent.service > "$DESTDIR$UNITDIR/hwlabel-agent.service"
chmod 0644 "$DESTDIR$UNITDIR/hwlabel-agent.service"
install -m 0644 udev-rules/70-hwlabel.rules "$DESTDIR$UDEVDIR/70-hwlabel.rules"
# The passthrough rule names the binary and the config dir: rewritten like the unit.
sed -e "s#/usr/local/#$PREFIX/#g" -e "s#/etc/hwlabel#$CONFDIR#g" udev-rules/72-hwlabel-passthrough.rules \
    > "$DESTDIR$UDEVDIR/72-hwlabel-passthrough.rules"
chmod 0644 "$DESTDIR$UDEVDIR/72-hwlabel-passthrough.rules"
install -m 0644 udev-rules/71-hwlabel-label.rules.example "$DESTDIR$PREFIX/share/hwlabel/71-hwlabel-label.rules.example"
install -m 0644 README.md "$DESTDIR$PREFIX/share/doc/hwlabel/README.md"
# The unit's Documentation= names agent.md; the rest of docs/ goes beside it.
for d in docs/*.md; do install -m 0644 "$d" "$DESTDIR$PREFIX/share/doc/hwlabel/$(basename "$d")"; done
install -m 0644 schema/report-1.0.schema.json "$DESTDIR$PREFIX/share/hwlabel/report-1.0.schema.json"
# Configuration is the operator's: never overwritten.
[ -e "$DESTDIR$CONFDIR/agent.conf" ] || cat > "$DESTDIR$CONFDIR/agent.conf" <<'CONF'
# hwlabel agent configuration: see /usr/local/share/doc/hwlabel/agent.md
[agent]
resync-interval = 600
debounce = 200ms
# [controller]
# url = https://controller.example/v1/reports
# [nfd]
# dir = /etc/kubernetes/node-feature-discovery/features.d
CONF
# Token files, read by the agent before every request (rewrite one to rotate the token; no
# restart). Empty means "no Authorization header" for the controller.
for t in controller-token placement-token; do
    [ -e "$DESTDIR$CONFDIR/$t" ] || install -m 0600 /dev/null "$DESTDIR$CONFDIR/$t"
done

if [ -z "$DESTDIR" ]; then
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        echo "installed; start with: systemctl enable --now hwlabel-agent.service"
    fi
    if command -v udevadm >/dev/null 2>&1 && [ -d /run/udev ]; then
        udevadm control --reload || true
    fi
fi
