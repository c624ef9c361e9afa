#!/bin/bash
# test-in-sandbox.sh BINARY: install BINARY with systemd/install.sh inside a throw-away Debian
# systemd (systemd-nspawn, via systemd-sandbox.sh) and check start / health / restart keeps data /
# clean stop / config error / uninstall under the real unit and its sandboxing. Needs root.
# Prints TAP-like `ok - ` / `not ok - ` lines; exit 1 on any failure.  If the sandbox cannot boot:
# one `SYSTEMD-SANDBOX UNAVAILABLE: reason` line and exit 0.
set -uo pipefail   # no -e: every check runs and is counted

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BIN=${1:-$REPO/dist/classmatefinder-backend}
[ -f "$BIN" ] || { echo "usage: $0 BINARY   (no file $BIN)" >&2; exit 2; }
# The tool lives beside the checkout (../shared) on these machines; a clone elsewhere finds it at /work/shared.
SB=${SYSTEMD_SANDBOX:-}
for candidate in "$REPO/../shared/tools/systemd-sandbox.sh" /work/shared/tools/systemd-sandbox.sh; do
  [ -n "$SB" ] || { [ -f "$candidate" ] && SB=$candidate; }
done
[ -n "$SB" ] && [ -f "$SB" ] || { echo "SYSTEMD-SANDBOX UNAVAILABLE: no ../shared/tools/systemd-sandbox.sh, /work/shared/tools/systemd-sandbox.sh or \$SYSTEMD_SANDBOX"; exit 0; }
export SANDBOX_NAME=${SANDBOX_NAME:-cmf-systemd-test}   # own instance: never collides with a dev's sandbox
LOG=$(mktemp /tmp/cmf-systemd-test.XXXXXX.log)          # the sandbox tool's chatter

U=classmatefinder-backend
PORT=5055                      # not the default 5000: proves the env file was read
URL=http://127.0.0.1:$PORT
ENVF=/etc/classmatefinder/backend.env
DB=/var/lib/classmatefinder/classmatefinder.db
pass=0 fail=0
ok()    { pass=$((pass + 1)); echo "ok - $*"; }
notok() { fail=$((fail + 1)); echo "not ok - $*"; }
check() { local d=$1; shift; if "$@" >>"$LOG" 2>&1; then ok "$d"; else notok "$d"; fi; }
inside() { "$SB" exec "$@" 2>>"$LOG"; }                  # run inside the container
sh_in() { "$SB" exec sh -c "$1" 2>>"$LOG"; }
prop()  { inside systemctl show -p "$1" --value $U; }
register() {   # prints the HTTP status of a registration of the same user
  inside curl -s -o /dev/null -w '%{http_code}' -m 10 -X POST -H 'content-type: application/json' \
    -d '{"email":"a@x.edu","username":"abc","password":"TestPass123","firstName":"A"}' "$URL/api/auth/register"
}
wait_state() {  # wait_state STATE SECS: until ActiveState is STATE
  local i; for i in $(seq 1 $(($2 * 5))); do [ "$(prop ActiveState)" = "$1" ] && return 0; sleep 0.2; done; return 1
}

cleanup() { "$SB" down >>"$LOG" 2>&1 || echo "# warning: sandbox down was not clean (log: $LOG)"; }
t0=$SECONDS
"$SB" down >>"$LOG" 2>&1 || true                        # leftovers of an interrupted run
if ! "$SB" up >>"$LOG" 2>&1; then
  echo "SYSTEMD-SANDBOX UNAVAILABLE: $(grep -E 'ERROR|rror' "$LOG" | tail -n1)"; cleanup; exit 0
fi
trap cleanup EXIT
echo "# sandbox up after $((SECONDS - t0)) s; testing $BIN ($("$BIN" --version 2>/dev/null)); tool log: $LOG"

# our own install.sh, not the tool's `install`: copy the systemd/ folder and the binary in via stdin
tar -C "$REPO" -c systemd | inside sh -c 'rm -rf /root/cmf; mkdir -p /root/cmf; tar -x -C /root/cmf'
inside sh -c 'cat > /root/cmf/classmatefinder-backend; chmod +x /root/cmf/classmatefinder-backend' < "$BIN"
inside sh -c 'cat > /root/cmf/smtp-sink.sh; chmod +x /root/cmf/smtp-sink.sh' <<'EOF'
#!/bin/sh
# SMTP sink (run by busybox nc per connection): accepts everything, records RCPT TO lines
r() { printf '%s\r\n' "$@"; }
r "220 sink ESMTP"; d=0
while IFS= read -r l; do
  l=$(printf '%s' "$l" | tr -d '\r')
  if [ $d = 1 ]; then [ "$l" = . ] && { d=0; r "250 queued"; }; continue; fi
  case $l in
    EHLO*|HELO*) r 250-sink "250 8BITMIME" ;;
    DATA*) d=1; r "354 go" ;;
    QUIT*) r "221 bye"; exit 0 ;;
    RCPT*) echo "$l" >> /run/smtp-sink.log; r "250 ok" ;;
    *) r "250 ok" ;;
  esac
done
EOF
check "install.sh installs (binary, unit, user, env file)" inside /root/cmf/systemd/install.sh install /root/cmf/classmatefinder-backend
check "env file is 0640 root:classmatefinder" sh_in "[ \"\$(stat -c %a:%U:%G $ENVF)\" = 640:root:classmatefinder ]"
check "install.sh generated a JWT_SECRET (>= 64 chars, not the placeholder)" \
  sh_in "grep -qE '^JWT_SECRET=[0-9a-f]{64,}\$' $ENVF"
SECRET=$(sh_in "sed -n 's/^JWT_SECRET=//p' $ENVF")
# mail through a local SMTP sink by host name: proves DNS + outgoing TCP work inside the unit's
# sandbox (the bare container has no /etc/hosts; every real host has one)
sh_in "sed -i 's/^PORT=.*/PORT=$PORT/; s/^MAIL_TRANSPORT=.*/MAIL_TRANSPORT=smtp/; s|^#SMTP_URL=smtp://user.*|SMTP_URL=smtp://localhost:2525|' $ENVF
       [ -e /etc/hosts ] || printf '127.0.0.1 localhost\\n::1 localhost\\n' > /etc/hosts"
inside systemd-run -q --unit=smtp-sink busybox nc -ll -p 2525 -e /root/cmf/smtp-sink.sh
sum=$(inside sha256sum $ENVF)
check "install.sh again is idempotent and keeps the env file" \
  sh_in "/root/cmf/systemd/install.sh /root/cmf/classmatefinder-backend && [ \"\$(sha256sum $ENVF)\" = '$sum' ] && [ ! -e /usr/local/bin/$U.previous ]"
check "security report inside the sandbox: verify clean, exposure <= 1.2" inside /root/cmf/systemd/security-report.sh
check "install.sh run migrate (as the service user, with the env file)" inside /root/cmf/systemd/install.sh run migrate
check "install.sh run check exits 0" inside /root/cmf/systemd/install.sh run check

# test-only drop-in: record how the main process ended (an inactive unit is unloaded and
# `systemctl show` then reports nothing); `+` = runs as root outside the sandbox to write /run
sh_in "mkdir -p /etc/systemd/system/$U.service.d && printf '[Service]\nExecStopPost=+/bin/sh -c \"echo \$\$SERVICE_RESULT/\$\$EXIT_CODE/\$\$EXIT_STATUS > /run/cmf-exit\"\n' > /etc/systemd/system/$U.service.d/test-exit.conf && systemctl daemon-reload"
check "systemctl start succeeds" inside systemctl start $U
check "/health answers on PORT=$PORT from the env file" "$SB" wait-http "$URL/health" 30
check "/health body is {\"status\":\"ok\"}" sh_in "curl -fsS $URL/health | grep -q '\"status\":\"ok\"'"
pid=$(prop MainPID)
check "runs as classmatefinder, seccomp on, no capabilities, no_new_privs" sh_in \
  "s=/proc/$pid/status; [ \$(stat -c %U /proc/$pid) = classmatefinder ] && grep -qE '^Seccomp:\s+2' \$s && grep -qE '^CapEff:\s+0+\$' \$s && grep -qE '^NoNewPrivs:\s+1' \$s"
code=$(register)
case $code in 200|201) ok "POST /api/auth/register -> $code" ;; *) notok "POST /api/auth/register -> $code" ;; esac
case $("$BIN" --version 2>/dev/null) in
  *standin*) ok "# SKIP verification email: the stand-in binary sends no mail" ;;
  *) check "verification email reached the SMTP sink (SMTP_URL=smtp://localhost:2525)" sh_in \
       "for i in \$(seq 1 40); do grep -qF '<a@x.edu>' /run/smtp-sink.log 2>/dev/null && exit 0; sleep 0.5; done; exit 1" ;;
esac
inode=$(inside stat -c %i $DB)

check "systemctl restart succeeds" inside systemctl restart $U
check "/health answers after restart" "$SB" wait-http "$URL/health" 30
check "SQLite file survives restart (same inode $inode)" sh_in "[ \"\$(stat -c %i $DB)\" = '$inode' ]"
code=$(register)
[ "$code" = 409 ] && ok "registered user survives restart (second register -> 409)" || notok "second register after restart -> $code, want 409"

t1=$SECONDS
check "systemctl stop succeeds" inside systemctl stop $U
state="$(prop ActiveState)/$(inside cat /run/cmf-exit)"
[ "$state" = inactive/success/exited/0 ] && ok "stop is clean: inactive, result success, exited 0 ($((SECONDS - t1)) s)" \
  || notok "stop not clean: ActiveState/SERVICE_RESULT/EXIT_CODE/EXIT_STATUS = $state (want inactive/success/exited/0)"

sh_in "cp $ENVF /root/env.good && sed -i 's/^JWT_SECRET=.*/JWT_SECRET=short/' $ENVF"
inside systemctl start $U >>"$LOG" 2>&1   # Type=exec: returns once exec'd; the config check happens next
if wait_state failed 15; then ok "JWT_SECRET=short: unit fails"; else notok "JWT_SECRET=short: unit is $(prop ActiveState), want failed"; fi
sleep 4                                                  # > RestartSec: a restart would have happened
st="$(prop ExecMainStatus)/$(prop NRestarts)/$(prop ActiveState)"
[ "$st" = 78/0/failed ] && ok "config error: exit 78, not restarted (RestartPreventExitStatus)" \
  || notok "config error: ExecMainStatus/NRestarts/ActiveState = $st, want 78/0/failed"
check "journal names JWT_SECRET" sh_in "journalctl -u $U --no-pager | grep -q JWT_SECRET"
check "journal never shows the real JWT secret" sh_in "! journalctl --no-pager | grep -qF '$SECRET'"
sh_in "cp /root/env.good $ENVF && systemctl reset-failed $U && rm -r /etc/systemd/system/$U.service.d"

check "install.sh uninstall" inside /root/cmf/systemd/install.sh uninstall
check "uninstall removed binary and unit" sh_in "[ ! -e /usr/local/bin/$U ] && [ ! -e /etc/systemd/system/$U.service ]"
check "uninstall kept the env file and the SQLite data" sh_in "[ \"\$(sha256sum $ENVF)\" = '$sum' ] && [ -s $DB ]"

if [ $fail -gt 0 ]; then
  echo "# journal of $U:"; inside journalctl -u $U --no-pager -n 60 | sed 's/^/#   /'
fi
echo "systemd: $pass passed, $fail failed ($((SECONDS - t0)) s)"
[ $fail -eq 0 ]
