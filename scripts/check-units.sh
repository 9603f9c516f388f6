#!/bin/sh
# Checks the systemd unit and the udev rules (CI runs this). Debian 12: systemd 252, udev 252.
#   scripts/check-units.sh            verify; print `systemd-analyze security` exposure too
# Exit 0 when both are clean, 1 otherwise.
set -u
cd "$(dirname "$0")/.."
status=0

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "check-units: installing systemd for systemd-analyze" >&2
    apt-get install -y --no-install-recommends systemd >/dev/null 2>&1 || true
fi

unit=systemd/hwlabel-agent.service
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# verify resolves ExecStart=: point it at a stand-in binary in a temp root.
mkdir -p "$tmp/bin"
printf '#!/bin/sh\nexit 0\n' > "$tmp/bin/hwlabel"
chmod +x "$tmp/bin/hwlabel"
sed "s#/usr/local/bin/hwlabel#$tmp/bin/hwlabel#" "$unit" > "$tmp/hwlabel-agent.service"
echo "== systemd-analyze verify $unit"
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$tmp/hwlabel-agent.service" 2>&1)
# Lines about other units on this machine (or its missing PID 1) are not ours.
ours=$(printf '%s\n' "$out" | grep -F 'hwlabel-agent.service' || true)
if [ -n "$ours" ]; then
    printf '%s\n' "$ours"
    status=1
else
    echo "ok"
fi

echo "== systemd-analyze security --offline=yes $unit"
if systemd-analyze security --help 2>/dev/null | grep -q -- '--offline'; then
    systemd-analyze security --offline=yes --no-pager "$tmp/hwlabel-agent.service" 2>&1 | tail -n 3 || true
else
    echo "(--offline not supported by this systemd-analyze)"
fi

echo "== udev rules"
if udevadm verify --help >/dev/null 2>&1; then
    for f in udev-rules/*.rules udev-rules/*.rules.example; do
        cp "$f" "$tmp/$(basename "$f" .example)"
        udevadm verify --resolve-names=never "$tmp/$(basename "$f" .example)" || status=1
    done
else
    # udev 252 has no `udevadm verify`: `udevadm test` parses every rules file it loads and logs
    # "Invalid ..." for a syntax error; load ours from a temp rules dir via a temp root.
    for f in udev-rules/*.rules udev-rules/*.rules.example; do
        base=$(basename "$f" .example)
        # Structural check: every non-comment line is `KEY[{attr}]OP"value"` pairs separated by commas.
        bad=$(grep -nvE '^[[:space:]]*(#.*)?$' "$f" | grep -vE '^[0-9]+:([[:space:]]*[A-Z_]+(\{[^}]*\})?[[:space:]]*(==|!=|\+=|-=|:=|=)[[:space:]]*"[^"]*"[[:space:]]*,?)+[[:space:]]*$' || true)
        if [ -n "$bad" ]; then
            echo "$f: not udev rule syntax:"; printf '%s\n' "$bad"; status=1
        fi
        keys=$(grep -vE '^[[:space:]]*(#.*)?$' "$f" | grep -oE '(^|,)[[:space:]]*[A-Z_]+' | tr -d ', ' | sort -u)
        for k in $keys; do
            case $k in
                ACTION|DEVPATH|KERNEL|KERNELS|NAME|SYMLINK|SUBSYSTEM|SUBSYSTEMS|DRIVER|DRIVERS|ATTR|ATTRS|SYSCTL|ENV|CONST|TAG|TAGS|TEST|PROGRAM|RESULT|OWNER|GROUP|MODE|SECLABEL|RUN|LABEL|GOTO|IMPORT|OPTIONS) ;;
                *) echo "$f: unknown udev key $k"; status=1 ;;
            esac
        done
        # GOTO targets must exist.
        for g in $(grep -oE 'GOTO="[^"]+"' "$f" | sed 's/GOTO="\(.*\)"/\1/' | sort -u); do
            grep -q "LABEL=\"$g\"" "$f" || { echo "$f: GOTO=\"$g\" has no LABEL"; status=1; }
        done
        [ $status -eq 0 ] && echo "$base: ok (syntax)"
    done
fi
exit $status
