#!/bin/bash
# security-report.sh [BINARY]: `systemd-analyze verify` + `systemd-analyze security` for the unit.
# Exits 1 when verify prints anything or the exposure is above MAX_EXPOSURE (1.2).
# verify needs the ExecStart binary: if /usr/local/bin/classmatefinder-backend is not installed,
# BINARY (default dist/classmatefinder-backend) is copied onto a tmpfs over /usr/local/bin in a
# private mount namespace (root only), so the host is not touched.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UNIT=$HERE/classmatefinder-backend.service
TARGET=/usr/local/bin/classmatefinder-backend
MAX=${MAX_EXPOSURE:-1.2}
rc=0

echo "# systemd-analyze verify $UNIT"
if [ -x "$TARGET" ]; then
  out=$(systemd-analyze verify --man=no "$UNIT" 2>&1) || rc=1
else
  bin=${1:-$HERE/../dist/classmatefinder-backend}
  [ -f "$bin" ] || { echo "no binary at $bin (pass BINARY or run: bun run build)" >&2; exit 1; }
  [ "$(id -u)" = 0 ] || { echo "verify with a temporary binary copy needs root (unshare -m)" >&2; exit 1; }
  out=$(unshare -m sh -ec 'mount -t tmpfs -o mode=0755 tmpfs "$(dirname "$3")"; cp "$1" "$3"
                          exec systemd-analyze verify --man=no "$2"' sh "$bin" "$UNIT" "$TARGET" 2>&1) || rc=1
fi
# verify exits 0 on unknown keys / bad values and only warns: any output counts as a failure
[ -z "$out" ] || { printf '%s\n' "$out"; rc=1; }
[ $rc = 0 ] && echo "verify: clean" || echo "verify: NOT clean"

echo "# systemd-analyze security --offline=yes $UNIT"
sec=$(systemd-analyze security --offline=yes --no-pager "$UNIT" 2>&1) || true
printf '%s\n' "$sec" | grep -E '^✗' || true   # only the options that still cost points
line=$(printf '%s\n' "$sec" | grep -E 'Overall exposure level' || true)
echo "${line:-no exposure figure in the output}"
exposure=$(printf '%s\n' "$line" | grep -oE '[0-9]+\.[0-9]+' | head -n1 || true)
if [ -z "$exposure" ] || awk -v e="$exposure" -v m="$MAX" 'BEGIN { exit !(e > m) }'; then
  echo "exposure ${exposure:-?} is above $MAX"; rc=1
else
  echo "exposure $exposure <= $MAX"
fi
exit $rc
