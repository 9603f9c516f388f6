#!/bin/sh
# Removes what scripts/install.sh installed. Keeps /etc/hwlabel (configuration, token) and
# /var/lib/hwlabel (epoch, generation, outbox) unless PURGE=1.
#   [PREFIX=/usr/local] [DESTDIR=] [PURGE=0] scripts/uninstall.sh
set -eu
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
UNITDIR=${UNITDIR:-/etc/systemd/system}
UDEVDIR=${UDEVDIR:-/etc/udev/rules.d}
CONFDIR=${CONFDIR:-/etc/hwlabel}
PURGE=${PURGE:-0}

if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now hwlabel-agent.service 2>/dev/null || true
fi
rm -f "$DESTDIR$PREFIX/bin/hwlabel" "$DESTDIR$UNITDIR/hwlabel-agent.service" "$DESTDIR$UDEVDIR/70-hwlabel.rules" \
    "$DESTDIR$UDEVDIR/72-hwlabel-passthrough.rules"
rm -rf "$DESTDIR$PREFIX/share/doc/hwlabel" "$DESTDIR$PREFIX/share/hwlabel"
if [ "$PURGE" = 1 ]; then
    rm -rf "$DESTDIR$CONFDIR" "$DESTDIR/var/lib/hwlabel"
    rm -f "$DESTDIR/etc/kubernetes/node-feature-discovery/features.d/hwlabel"
fi
if [ -z "$DESTDIR" ]; then
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
    if command -v udevadm >/dev/null 2>&1 && [ -d /run/udev ]; then udevadm control --reload || true; fi
fi
