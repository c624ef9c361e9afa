#!/bin/bash
# test-in-sandbox.sh BINARY: install BINARY with systemd/install.sh inside a throw-away Debian
# systemd (systemd-nspawn, via systemd-sandbox.sh) and check start / health / restart keeps data /
# clean stop / config errors that make start and restart fail / install.sh upgrade and restart that
# check first / two template instances behind Debian's nginx with deploy/nginx/classmatefinder.conf
# through a rolling upgrade with a client loop (0 failed requests) / backup, wipe, restore /
# uninstall, under the real units and their sandboxing. Needs root.
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
# nginx inside, in a base tree of its own: a different package list would rebuild (and break) a shared one
export SANDBOX_EXTRA_PACKAGES=nginx-light,jq SANDBOX_CACHE=${SANDBOX_CACHE:-/var/cache/systemd-sandbox-nginx}
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
# Its login: 403 EMAIL_NOT_VERIFIED while the (unverified) account exists, 401 once it is gone. A second
# registration would not tell: it replaces an unverified account (201) by the contract.
LOGIN_BODY='{"email":"a@x.edu","password":"TestPass123"}'
login_status() { inside curl -sk -o /dev/null -w '%{http_code}' -m 10 -X POST -H 'content-type: application/json' -d "$LOGIN_BODY" "$1/api/auth/login"; }

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
check "the units installed are the ones the binary prints (unit, unit --template)" sh_in \
  "/root/cmf/classmatefinder-backend unit | cmp -s - /etc/systemd/system/$U.service && /root/cmf/classmatefinder-backend unit --template | cmp -s - '/etc/systemd/system/$U@.service'"
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
code=$(login_status "$URL")
[ "$code" = 403 ] && ok "registered user survives restart (login -> 403 not verified)" || notok "login after restart -> $code, want 403"

t1=$SECONDS
check "systemctl stop succeeds" inside systemctl stop $U
state="$(prop ActiveState)/$(inside cat /run/cmf-exit)"
[ "$state" = inactive/success/exited/0 ] && ok "stop is clean: inactive, result success, exited 0 ($((SECONDS - t1)) s)" \
  || notok "stop not clean: ActiveState/SERVICE_RESULT/EXIT_CODE/EXIT_STATUS = $state (want inactive/success/exited/0)"

sh_in "cp $ENVF /root/env.good && sed -i 's/^JWT_SECRET=.*/JWT_SECRET=short/' $ENVF"
# ExecStartPost waits for the answer: start fails as the process exits 78
check "JWT_SECRET=short: systemctl start fails (non-zero)" sh_in "! systemctl start $U"
sleep 4                                                  # > RestartSec: a restart would have happened
st="$(prop ExecMainStatus)/$(prop NRestarts)/$(prop ActiveState)"
[ "$st" = 78/0/failed ] && ok "config error: exit 78, not restarted (RestartPreventExitStatus)" \
  || notok "config error: ExecMainStatus/NRestarts/ActiveState = $st, want 78/0/failed"
check "journal names JWT_SECRET" sh_in "journalctl -u $U --no-pager | grep -q JWT_SECRET"
check "the fatal line is in the journal as JSON too" sh_in \
  "journalctl -u $U --no-pager -o cat | grep '^{' | grep '\"level\":\"fatal\"' | grep -q JWT_SECRET"
check "docs/monitoring.md's recipe reads real journald output: jq -R 'fromjson? | ...'" sh_in \
  "journalctl -u $U --no-pager -o cat | jq -R -r 'fromjson? | select(.level == \"fatal\") | .variable' | grep -q JWT_SECRET"
check "... and with journald's JSON: -o json | jq '.MESSAGE | fromjson?'" sh_in \
  "journalctl -u $U --no-pager -o json | jq -r '.MESSAGE | fromjson? | select(.level == \"fatal\") | .variable' | grep -q JWT_SECRET"
check "journal never shows the real JWT secret" sh_in "! journalctl --no-pager | grep -qF '$SECRET'"
# Each line carries its level's priority (<2> for fatal): journald files it there and keeps the JSON.
check "journalctl -p err shows the fatal line at priority 2 (crit), its MESSAGE one JSON object" sh_in \
  "journalctl -u $U -p err --no-pager -o json | jq -r 'select(.PRIORITY == \"2\") | .MESSAGE | fromjson? | select(.level == \"fatal\") | .variable' | grep -q JWT_SECRET"
sh_in "cp /root/env.good $ENVF && systemctl reset-failed $U"
check "systemctl start with a good env file succeeds and answers at once" sh_in "systemctl start $U && curl -fsS -m 5 $URL/health/live"
check "request lines are at priority 6 (info), and not under journalctl -p err" sh_in \
  "for i in \$(seq 1 20); do journalctl -u $U -p info..info --no-pager -o json | jq -r 'select(.PRIORITY == \"6\") | .MESSAGE | fromjson? | .msg' | grep -qx request && break; sleep 0.5; done &&
   journalctl -u $U -p info..info --no-pager -o cat | grep -q '^{.*\"msg\":\"request\"' && ! journalctl -u $U -p err --no-pager -o cat | grep -q '\"msg\":\"request\"'"
sh_in "sed -i 's/^JWT_SECRET=.*/JWT_SECRET=changeme/' $ENVF"
check "JWT_SECRET=changeme: systemctl restart fails (non-zero)" sh_in "! systemctl restart $U"
check "restart failure is in the journal (JWT_SECRET)" sh_in "journalctl -u $U --no-pager -n 20 | grep -q JWT_SECRET"
sh_in "cp /root/env.good $ENVF && systemctl reset-failed $U && systemctl start $U"
pid=$(prop MainPID)
sh_in "sed -i 's/^JWT_SECRET=.*/JWT_SECRET=changeme/' $ENVF"
check "install.sh restart with a broken env file: fails" sh_in "! /root/cmf/systemd/install.sh restart"
check "install.sh upgrade with a broken env file: fails" sh_in "! /root/cmf/systemd/install.sh upgrade /root/cmf/classmatefinder-backend"
check "... and the old instance is still serving (same PID $pid)" sh_in \
  "[ \"\$(systemctl show -p MainPID --value $U)\" = $pid ] && curl -fsS -m 5 $URL/health | grep -q ok"
sh_in "cp /root/env.good $ENVF"
check "install.sh upgrade with a good env file restarts it" sh_in \
  "/root/cmf/systemd/install.sh upgrade /root/cmf/classmatefinder-backend && [ \"\$(systemctl show -p MainPID --value $U)\" != $pid ]"
check "bare file name works: cd /root/cmf && systemd/install.sh install classmatefinder-backend" sh_in \
  "cd /root/cmf && systemd/install.sh install classmatefinder-backend"
# A release before `unit` (cannot print its units) that lacks a command this folder's units run (the
# drill of issue 27: `wait-ready`, exit 64, restart loop): refused, the installed release untouched.
inside sh -c 'cat > /root/cmf/old-release; chmod +x /root/cmf/old-release' <<'OLD'
#!/bin/sh
case $1 in --version) echo "classmatefinder-backend 0.0.9" ;; --help) printf '  serve\n  migrate\n  check\n' ;; *) exit 64 ;; esac
OLD
check "install.sh refuses a binary without a command its units would run, and changes nothing" sh_in \
  "s=\$(sha256sum /usr/local/bin/$U /etc/systemd/system/$U.service); ! /root/cmf/systemd/install.sh install /root/cmf/old-release 2>/tmp/refused && grep -q 'no \`wait-ready\` command' /tmp/refused && [ \"\$(sha256sum /usr/local/bin/$U /etc/systemd/system/$U.service)\" = \"\$s\" ]"
check "installing the same binary twice keeps rollback possible" sh_in \
  "cp /usr/local/bin/$U /usr/local/bin/$U.previous && cd /root/cmf && systemd/install.sh install classmatefinder-backend && [ -f /usr/local/bin/$U.previous ] && systemd/install.sh rollback"
check "the committed template unit is make-template.sh's output" sh_in \
  "/root/cmf/systemd/make-template.sh | cmp -s - '/root/cmf/systemd/$U@.service'"
sh_in "systemctl stop $U; systemctl reset-failed $U; rm -r /etc/systemd/system/$U.service.d; systemctl daemon-reload"

# --- two template instances behind nginx (Debian's package), TLS with a throw-away certificate
command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >>"$LOG" 2>&1
CERT=$(mktemp -d /tmp/cmf-cert.XXXXXX)
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 -keyout "$CERT/key" -out "$CERT/crt" >>"$LOG" 2>&1
inside sh -c 'cat > /etc/ssl/certs/classmatefinder.crt' < "$CERT/crt"
inside sh -c 'umask 077; mkdir -p /etc/ssl/private; cat > /etc/ssl/private/classmatefinder.key' < "$CERT/key"
rm -rf "$CERT"
inside sh -c 'cat > /etc/nginx/conf.d/classmatefinder.conf' < "$REPO/deploy/nginx/classmatefinder.conf"
inside sh -c 'cat > /etc/nginx/conf.d/classmatefinder-upstream.conf' < "$REPO/deploy/nginx/classmatefinder-upstream.conf"
sh_in "for p in 5001 5002; do f=/etc/classmatefinder/backend@\$p.env; printf 'PORT=%s\n' \$p > \$f; chown root:classmatefinder \$f; chmod 0640 \$f; done
       sed -i 's/^HOST=.*/HOST=127.0.0.1/; s/^TRUST_PROXY=.*/TRUST_PROXY=true/' $ENVF; rm -f /etc/nginx/sites-enabled/default"
check "two template instances start (classmatefinder-backend@5001, @5002)" inside systemctl start $U@5001 $U@5002
check "install.sh run --instance 5001 check: the instance's own env file is read" sh_in \
  "/root/cmf/systemd/install.sh run --instance 5001 check | grep -q '\"port\": 5001'"
check "nginx accepts deploy/nginx/classmatefinder.conf (nginx -t) and reloads" sh_in "nginx -t && systemctl reload nginx"
check "through nginx over TLS: /health ok, X-Request-Id passed through" sh_in \
  "curl -fsSk -m 5 https://127.0.0.1/health | grep -q ok && curl -sSk -m 5 -D - -o /dev/null -H 'X-Request-Id: through-nginx-1' https://127.0.0.1/health/live | grep -qi 'x-request-id: through-nginx-1'"
# `systemctl reload nginx` returns before every old worker has let go of port 80: ask a few times.
check "plain HTTP on port 80 redirects to HTTPS" sh_in \
  "for i in 1 2 3 4 5 6; do c=\$(curl -sS -m 5 -o /dev/null -w '%{http_code}' http://127.0.0.1/health); [ \"\$c\" = 301 ] && exit 0; sleep 0.5; done; echo \"port 80 answered \$c\" >&2; exit 1"
inside sh -c 'cat > /root/cmf/client-loop.sh; chmod +x /root/cmf/client-loop.sh' <<'LOOP'
#!/bin/sh
# Requests through nginx until /run/loop.stop exists: one line per request, "<status> <method> <url>".
w='%{http_code} %{method} %{url_effective}\n'
while [ ! -e /run/loop.stop ]; do
  curl -sk -m 10 -o /dev/null -w "$w" https://127.0.0.1/health/live \
    --next -sk -m 10 -o /dev/null -w "$w" https://127.0.0.1/api/auth/me \
    --next -sk -m 10 -o /dev/null -w "$w" -X POST -H 'content-type: application/json' \
      -d '{"token":"not-a-real-token"}' https://127.0.0.1/api/auth/verify-email
done >> /run/loop.log
LOOP
mainpids() { echo "$(inside systemctl show -p MainPID --value $U@5001)/$(inside systemctl show -p MainPID --value $U@5002)"; }
pids=$(mainpids)
sh_in "rm -f /run/loop.stop /run/loop.log; systemd-run -q --unit=client-loop /root/cmf/client-loop.sh"
sleep 2
check "install.sh upgrade: checks both instances, restarts them one at a time" inside /root/cmf/systemd/install.sh upgrade /root/cmf/classmatefinder-backend
sleep 2
sh_in "touch /run/loop.stop; for i in \$(seq 1 50); do systemctl is-active -q client-loop || break; sleep 0.2; done"
after=$(mainpids)
[ "${pids%/*}" != "${after%/*}" ] && [ "${pids#*/}" != "${after#*/}" ] && ok "both instances were restarted (MainPIDs $pids -> $after)" \
  || notok "instances not both restarted (MainPIDs $pids -> $after)"
ok_line='^(200 GET https://127.0.0.1/health/live|401 GET https://127.0.0.1/api/auth/me|400 POST https://127.0.0.1/api/auth/verify-email)$'
total=$(sh_in "wc -l < /run/loop.log")
failed=$(sh_in "grep -cvE '$ok_line' /run/loop.log")
echo "# rolling upgrade behind nginx: $total requests, ${failed:-?} failed"
sh_in "grep -vE '$ok_line' /run/loop.log | sort | uniq -c | sed 's/^/#   /'"
[ "${total:-0}" -gt 50 ] && [ "${failed:-1}" = 0 ] && ok "rolling upgrade behind nginx: 0 failed of $total requests" \
  || notok "rolling upgrade behind nginx: ${failed:-?} failed of ${total:-?} requests"

# --- backup, wipe, restore (SQLite): the account registered above comes back
check "install.sh run backup (online, as the service user)" inside /root/cmf/systemd/install.sh run backup /var/lib/classmatefinder/backup-test.db
sh_in "systemctl stop $U@5001 $U@5002; rm -f $DB $DB-wal $DB-shm"
check "install.sh restore puts the backup in place" inside /root/cmf/systemd/install.sh restore /var/lib/classmatefinder/backup-test.db
check "the instances start on the restored database" inside systemctl start $U@5001 $U@5002
code=$(login_status https://127.0.0.1)
[ "$code" = 403 ] && ok "the account is back after restore (login -> 403 not verified)" || notok "login after restore -> $code, want 403"
sh_in "systemctl stop $U@5001 $U@5002"

sum=$(inside sha256sum $ENVF)
check "install.sh uninstall" inside /root/cmf/systemd/install.sh uninstall
check "uninstall removed binaries and units, the previous release's too" sh_in "[ ! -e /usr/local/bin/$U ] && [ ! -e /usr/local/bin/$U.previous ] && [ ! -e /usr/local/lib/$U ] && [ ! -e /etc/systemd/system/$U.service ] && [ ! -e '/etc/systemd/system/$U@.service' ]"
check "uninstall kept the env file and the SQLite data" sh_in "[ \"\$(sha256sum $ENVF)\" = '$sum' ] && [ -s $DB ]"

if [ $fail -gt 0 ]; then
  echo "# journal of $U:"; inside journalctl -u $U --no-pager -n 60 | sed 's/^/#   /'
fi
echo "systemd: $pass passed, $fail failed ($((SECONDS - t0)) s)"
[ $fail -eq 0 ]
