#!/usr/bin/env bash
# rollout-drill.sh NEW_BINARY: the release plan rehearsed in a real systemd (systemd-nspawn, via
# systemd-sandbox.sh), between the previous release (the commit in .ci/previous-release, built here
# from a `git archive` of it) and NEW_BINARY: PostgreSQL 15 behind PgBouncer in transaction mode, two
# instances behind nginx, Prometheus with the shipped rules, students' traffic throughout
# (test/rollout/drill-client.ts). The previous release is installed with its own install.sh; every
# other step is a command block of docs/operations.md, run as it stands (the Prometheus address and the
# rollout-check window substituted): backup + migrate + canary 10 % → 50 % → 100 % with rollout-check →
# rollback; then a canary again, promote, and a rollback of the installed release; restore. Checks that nothing acknowledged was lost (accounts, sessions, passwords, queued
# emails), that every request is accounted for, and that the gate's verdicts match what the students saw.
# Prints `ok - ` / `not ok - ` lines; exit 1 on any failure. Needs root and the commit of
# .ci/previous-release in the clone (no shallow clone). If the sandbox cannot boot: one
# `SYSTEMD-SANDBOX UNAVAILABLE: reason` line and exit 0. Takes about 6.5 minutes on 2 shared cores
# (measured: 365-408 s over four runs); the first run on a machine also builds the sandbox's base tree
# (debootstrap with PostgreSQL, PgBouncer, nginx: 275 s, cached in $SANDBOX_CACHE afterwards).
set -uo pipefail   # no -e: every check runs and is counted

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NEW=$(realpath "${1:-$ROOT/dist/classmatefinder-backend}")
[ -x "$NEW" ] || { echo "usage: $0 NEW_BINARY" >&2; exit 2; }
PREVIOUS=$(tr -d '[:space:]' < "$ROOT/.ci/previous-release")
WINDOW=${DRILL_WINDOW:-30s}                # rollout-check's window (the docs say 30m)
STAGE_SECONDS=${DRILL_STAGE_SECONDS:-36}   # traffic at each stage before its check: the window and a bit
SB=${SYSTEMD_SANDBOX:-}
for candidate in "$ROOT/../shared/tools/systemd-sandbox.sh" /work/shared/tools/systemd-sandbox.sh; do
  [ -n "$SB" ] || { [ -f "$candidate" ] && SB=$candidate; }
done
[ -n "$SB" ] && [ -f "$SB" ] || { echo "SYSTEMD-SANDBOX UNAVAILABLE: no systemd-sandbox.sh"; exit 0; }
export SANDBOX_NAME=${SANDBOX_NAME:-cmf-rollout-drill}
# A base tree of its own (a package list of its own: sharing one would rebuild the other's).
export SANDBOX_EXTRA_PACKAGES=nginx-light,jq,postgresql,pgbouncer,openssl SANDBOX_CACHE=${SANDBOX_CACHE:-/var/cache/systemd-sandbox-rollout}
WORK=$(mktemp -d /tmp/cmf-rollout-drill.XXXXXX)
LOG=$WORK/drill.log
pass=0 fail=0
t0=$SECONDS
ok()    { pass=$((pass + 1)); echo "ok - $*"; }
notok() { fail=$((fail + 1)); echo "not ok - $*"; }
note()  { echo "# [$((SECONDS - t0)) s] $*"; }
inside() { "$SB" exec "$@" 2>>"$LOG"; }
cleanup() {   # the work directory (log, gate outputs) stays when something failed
  "$SB" down >>"$LOG" 2>&1 || echo "# warning: sandbox down was not clean (log: $LOG)"
  [ "$fail" -gt 0 ] || [ -n "${KEEP_DRILL_WORK:-}" ] || rm -rf "$WORK"
}

# A command block of docs/operations.md, by the name in its `<!-- drill: NAME -->` marker, with the
# drill's substitutions; run inside, in the new release's folder, with bash -euo pipefail.
block() {
  awk -v name="$1" '$0 == "<!-- drill: " name " -->" {found = 1; next}
    found && /^```/ { if (inside) exit; inside = 1; next } inside { print }' "$ROOT/docs/operations.md" |
    sed -e "s|http://prometheus:9090|http://127.0.0.1:9090|g" -e "s|--window 30m|--window $WINDOW|g"
}
run_block() {   # run_block NAME [OUTFILE]: exit status of the block; its output in OUTFILE (default: the log)
  local name=$1 out=${2:-$LOG} text
  text=$(block "$name")
  [ -n "$text" ] || { echo "no block '$name' in docs/operations.md" >> "$out"; return 99; }
  printf '%s\n' "$text" | inside sh -c "cat > /root/block-$name.sh"
  { echo "\$ # docs/operations.md: drill: $name"; printf '%s\n' "$text" | sed 's/^/$ /'; } >> "$LOG"
  inside bash -c "cd /root/new && bash -euo pipefail /root/block-$name.sh" >> "$out" 2>&1
}
step() {   # step DESCRIPTION BLOCK: a docs block that must succeed
  if run_block "$2"; then ok "$1 (docs: $2)"; else notok "$1 (docs: $2)"; tail -n 15 "$LOG" | sed 's/^/#   /'; fi
}
client() { inside curl -fsS -m 300 -X POST "http://127.0.0.1:7070/$1"; }
stage() { client "stage/$1" >/dev/null; note "stage: $1"; }

# --- 1. the two releases ---------------------------------------------------------------------------
note "previous release $PREVIOUS: git archive, bun install, bun run build"
mkdir -p "$WORK/previous"
if git -C "$ROOT" archive "$PREVIOUS" | tar -x -C "$WORK/previous" &&
  (cd "$WORK/previous" && bun install --frozen-lockfile && bun run build) >>"$LOG" 2>&1; then
  ok "the previous release ($PREVIOUS) builds: $("$WORK/previous/dist/classmatefinder-backend" --version)"
else
  notok "the previous release ($PREVIOUS) builds"; tail -n 20 "$LOG"; exit 1
fi
grep -q "($PREVIOUS)" <("$NEW" rollback-notes) && ok "the new binary's rollback notes name the previous release ($PREVIOUS)" \
  || notok "the new binary's rollback notes name the previous release ($PREVIOUS): $("$NEW" rollback-notes | head -n1)"
# Losses the new release documents (the subject before the colon of each note) are the only ones accepted.
LOSSES=$("$NEW" rollback-notes | sed -n 's/^- \([a-z ]*\): .*/\1/p' | grep -v '^accounts' | paste -sd, -)
note "documented losses: ${LOSSES:-none}"
bun build --compile "$ROOT/test/rollout/drill.ts" --outfile "$WORK/drill" >>"$LOG" 2>&1 || { notok "the drill client builds"; exit 1; }
PROMETHEUS=$(command -v prometheus) || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >>"$LOG" 2>&1; PROMETHEUS=$(command -v prometheus)
} || { notok "prometheus is installed"; exit 1; }

# --- 2. the host: a sandbox with PostgreSQL 15, PgBouncer, nginx ------------------------------------
"$SB" down >>"$LOG" 2>&1 || true
if ! "$SB" up >>"$LOG" 2>&1; then
  echo "SYSTEMD-SANDBOX UNAVAILABLE: $(grep -E 'ERROR|rror' "$LOG" | tail -n1)"; cleanup; exit 0
fi
trap cleanup EXIT
note "sandbox up"
for release in previous new; do
  inside mkdir -p "/root/$release"
done
tar -C "$WORK/previous" -c systemd deploy | inside tar -x -C /root/previous
inside sh -c 'cat > /root/previous/classmatefinder-backend && chmod +x /root/previous/classmatefinder-backend' < "$WORK/previous/dist/classmatefinder-backend"
tar -C "$ROOT" -c systemd deploy docs/operations.md | inside tar -x -C /root/new
inside sh -c 'cat > /root/new/classmatefinder-backend && chmod +x /root/new/classmatefinder-backend' < "$NEW"
inside sh -c 'cat > /root/drill && chmod +x /root/drill' < "$WORK/drill"
inside sh -c 'cat > /usr/local/bin/prometheus && chmod +x /usr/local/bin/prometheus' < "$PROMETHEUS"
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 2 -keyout "$WORK/key" -out "$WORK/crt" >>"$LOG" 2>&1
inside sh -c 'cat > /etc/ssl/certs/classmatefinder.crt' < "$WORK/crt"
inside sh -c 'umask 077; mkdir -p /etc/ssl/private; cat > /etc/ssl/private/classmatefinder.key' < "$WORK/key"
# What a real host has and a bare container lacks: PostgreSQL on its standard port (debootstrap ran
# beside the host's PostgreSQL and took 5433), /etc/hosts; and nginx's log of every request id.
inside sh -c "sed -i 's/^port = .*/port = 5432/' /etc/postgresql/15/main/postgresql.conf && systemctl restart postgresql@15-main
  [ -e /etc/hosts ] || printf '127.0.0.1 localhost\n::1 localhost\n' > /etc/hosts
  printf 'log_format drill \"\$http_x_request_id \$status \$upstream_addr\";\naccess_log /var/log/nginx/drill.log drill;\n' > /etc/nginx/conf.d/00-drill-log.conf"

# --- 3. the previous release, as its own install.sh installs it, on PostgreSQL behind PgBouncer -----
METRICS_TOKEN=drill-metrics-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
if inside /root/previous/systemd/install.sh install /root/previous/classmatefinder-backend >>"$LOG" 2>&1; then
  ok "the previous release installs with its own install.sh"
else notok "the previous release installs with its own install.sh"; fi
# The drill's environment: mail to the students' SMTP server, a metrics token, limits for one client address.
inside sh -c "cat >> /etc/classmatefinder/backend.env" <<EOF
MAIL_TRANSPORT=smtp
SMTP_URL=smtp://127.0.0.1:2525
APP_URL=https://classmatefinder.test
METRICS_TOKEN=$METRICS_TOKEN
RATE_LIMIT_REGISTER_CLIENT=100000/1h
RATE_LIMIT_LOGIN_CLIENT=100000/1h
RATE_LIMIT_EMAIL_REQUESTS_CLIENT=100000/1h
EOF
step "PostgreSQL 15: the role, its database, the migrations" postgres
step "PgBouncer in transaction mode with the role's SCRAM secret" pgbouncer
step "two instances behind nginx" instances
inside sh -c "printf '%s' '$METRICS_TOKEN' > /root/metrics-token && cat > /root/prometheus.yml" <<EOF
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [/root/new/deploy/prometheus/recording.rules.yml, /root/new/deploy/prometheus/alerts.rules.yml]
scrape_configs:
  - job_name: classmatefinder
    authorization: { credentials_file: /root/metrics-token }
    static_configs: [{ targets: ["127.0.0.1:5001", "127.0.0.1:5002"] }]
EOF
inside systemd-run -q --unit=prometheus /usr/local/bin/prometheus --config.file=/root/prometheus.yml \
  --storage.tsdb.path=/var/lib/drill-prometheus --web.listen-address=127.0.0.1:9090 >>"$LOG" 2>&1
inside mkdir -p /root/drill-out
inside systemd-run -q --unit=drill-client -E DRILL_FLOWS=2 -E DRILL_READERS=3 -E DRILL_DIR=/root/drill-out -E "DRILL_DOCUMENTED_LOSSES=$LOSSES" /root/drill serve >>"$LOG" 2>&1
inside sh -c 'for i in $(seq 1 50); do curl -fs http://127.0.0.1:7070/stats >/dev/null && exit 0; sleep 0.2; done; exit 1' \
  && ok "students' traffic runs through nginx" || notok "the drill client started"
note "the previous release serves for ${STAGE_SECONDS} s"
sleep "$STAGE_SECONDS"
prom() { inside curl -fsS -m 10 --data-urlencode "query=$1" http://127.0.0.1:9090/api/v1/query | jq -r '.data.result | length'; }
[ "$(prom 'release:http_requests:rate5m{revision=""} > 0')" = 1 ] && ok "the new release's rules judge the previous release's requests (series without release labels)" \
  || notok "the new release's rules judge the previous release's requests"

# --- 4. the canary: backup + migrate + 10 %, then 50 %, then 100 %, the gate after each ------------
canary_revision=$("$NEW" --version | sed -n 's/.*(revision \([^)]*\)).*/\1/p')
# verdict_expected REQUESTS FAILURES P95MS: what the plan's request criteria say of what was served
# (rollback, hold, promote; "either" within the histogram's reach of the 500 ms target).
verdict_expected() {
  awk -v n="$1" -v f="$2" -v p="${3:-0}" 'BEGIN {
    if (n < 50) { print (f >= 10 && f / n > 0.05) ? "rollback" : "hold"; exit }
    if (f / n > 0.05 || p > 2000) { print "rollback"; exit }
    if (f / n >= 0.01 || p > 550) { print "hold"; exit }
    print (p < 450) ? "promote" : "either" }'
}
# gate NAME UNIT HEADER [COMMAND]: rollout-check (the docs' block, or COMMAND), its verdict held against
# what the instances of UNIT served in the window by their own request lines, and the releases it names.
gate() {
  local name=$1 unit=$2 header=$3 out=$WORK/gate-$1.txt code served expected verdict
  if [ -n "${4:-}" ]; then inside bash -c "cd /root/new && $4" > "$out" 2>&1; else run_block check "$out"; fi
  code=$?
  served=$(inside /root/drill served "$unit" "${WINDOW%s}")
  sed 's/^/#   /' "$out"
  expected=$(verdict_expected "$(jq -r .requests <<<"$served")" "$(jq -r .failures <<<"$served")" "$(jq -r '.p95Ms // 0' <<<"$served")")
  case $code in 0) verdict=promote ;; 1) verdict=hold ;; 2) verdict=rollback ;; *) verdict="exit $code" ;; esac
  if [ "$verdict" = "$expected" ] || { [ "$expected" = either ] && [ "$code" -le 1 ]; }; then
    ok "$name: rollout-check says $verdict; what $unit served in the window says $expected ($served)"
  else notok "$name: rollout-check says $verdict, but what $unit served in the window says $expected ($served)"; fi
  grep -q "^rollout-check: canary $header" "$out" && ok "$name: the gate names the releases it compared" \
    || notok "$name: the gate names the releases it compared (want: canary $header)"
}
BOTH="0\.1\.0 ($canary_revision) on 1 instance(s) against 0\.1\.0 (no revision label) on 1 instance(s)"
stage switch-10
step "canary: backup, migrate with the new binary, 10 % of the requests" canary
stage canary-10; sleep "$STAGE_SECONDS"; gate canary-10 "classmatefinder-backend-canary@*" "$BOTH"
stage switch-50
step "canary at 50 %" canary-50
stage canary-50; sleep "$STAGE_SECONDS"; gate canary-50 "classmatefinder-backend-canary@*" "$BOTH"
# A config change during the canary (docs/operations.md, Install: install.sh restart): every instance, the canary's too.
stage restart-50
inside bash -c 'cd /root/new && p=$(systemctl show -p MainPID --value classmatefinder-backend-canary@5002) && systemd/install.sh restart &&
  [ "$(systemctl show -p MainPID --value classmatefinder-backend-canary@5002)" != "$p" ]' >>"$LOG" 2>&1 \
  && ok "install.sh restart during the canary restarts the installed release's instance and the canary" \
  || notok "install.sh restart during the canary restarts the installed release's instance and the canary"
stage switch-100
step "canary at 100 %" canary-100
stage canary-100; sleep "$STAGE_SECONDS"; gate canary-100 "classmatefinder-backend-canary@*" "$BOTH"

# --- 5. rollback: what was acknowledged survives ---------------------------------------------------
before=$(client probe/before)
note "before the rollback (all on the new release): $before; the mail server now refuses"
stage rollback
if run_block rollback "$WORK/rollback.txt"; then ok "rollback (docs: rollback)"; else notok "rollback (docs: rollback)"; fi
sed 's/^/#   /' "$WORK/rollback.txt"
grep -q "Rolling back from classmatefinder-backend" "$WORK/rollback.txt" && ok "the rollback printed what it loses" \
  || notok "the rollback printed what it loses"
stage previous-again
client smtp/up >/dev/null
after=$(client probe/after)
note "after the rollback: $after"
[ "$(jq -r '.lost | length' <<<"$after")" = 0 ] && [ "$(jq -r '.checked' <<<"$after")" -ge 8 ] \
  && ok "nothing acknowledged was lost: sessions, passwords and accounts of the new release work on the previous one; its queued emails were sent" \
  || notok "acknowledged work lost in the rollback: $(jq -c '.lost' <<<"$after")"
sleep "$STAGE_SECONDS"
gate previous-again "classmatefinder-backend@*" "0\.1\.0 (no revision label) on 2 instance(s)" \
  "./classmatefinder-backend rollout-check --prometheus http://127.0.0.1:9090 --window $WINDOW --canary 0.1.0"
# --- 6. the canary again, promoted, and the installed release rolled back: units travel with binaries
runs() {   # runs BINARY: both instances run it (their executable, even if replaced on disk since)
  inside sh -c "for i in 5001 5002; do p=\$(systemctl show -p MainPID --value classmatefinder-backend@\$i); cmp -s /proc/\$p/exe $1 || exit 1; done"
}
units_of_release() {   # units_of_release DIR: the installed units are the ones in DIR
  inside sh -c "cmp -s $1/classmatefinder-backend.service /etc/systemd/system/classmatefinder-backend.service && cmp -s '$1/classmatefinder-backend@.service' '/etc/systemd/system/classmatefinder-backend@.service'"
}
inside sh -c 'mkdir -p /root/new-units && cd /root/new && ./classmatefinder-backend unit > /root/new-units/classmatefinder-backend.service && ./classmatefinder-backend unit --template > "/root/new-units/classmatefinder-backend@.service"'
stage switch-promote
step "a second canary (its own backup; nothing left to migrate)" canary
stage promote
step "promote" promote
stage promoted; sleep 8
runs /root/new/classmatefinder-backend && units_of_release /root/new-units && inside sh -c '! ls /usr/local/bin/classmatefinder-backend.canary /etc/systemd/system/classmatefinder-backend-canary@.service 2>/dev/null' \
  && ok "promoted: both instances run the new binary under the units it prints; no canary is left" \
  || notok "promoted: both instances run the new binary under the units it prints; no canary is left"
stage rollback-installed
step "roll the installed release back" rollback
stage previous-final; sleep 8
runs /root/previous/classmatefinder-backend && units_of_release /root/previous/systemd && inside cmp -s /usr/local/bin/classmatefinder-backend.previous /root/new/classmatefinder-backend \
  && ok "rolled back: both instances run the previous binary under its own units again; the new release is the previous one now" \
  || notok "rolled back: both instances run the previous binary under its own units again; the new release is the previous one now"

fired=$(inside curl -fsS -m 10 --data-urlencode 'query=max_over_time(ALERTS{alertstate="firing"}[1h])' http://127.0.0.1:9090/api/v1/query \
  | jq -r '.data.result[].metric | "\(.alertname) \(.rollout) \(.version // "") \(.revision // "")"' | sort -u)
[ -n "$fired" ] && echo "$fired" | sed 's/^/#   fired: /'
if echo "$fired" | grep -qE ' rollback |InstanceDown|InstanceVanished|NotScraped|ReleaseNotJudged'; then
  notok "no rollback trigger and no unjudged instance or release during the drill"
else ok "no rollback trigger and no unjudged instance or release during the drill"; fi

# --- 7. every request accounted for ----------------------------------------------------------------
client stop >/dev/null
sleep 2   # journald's last lines
inside env DRILL_DIR=/root/drill-out "DRILL_SHARES=previous:0-0,canary-10:4-20,canary-50:35-65,canary-100:97-100,previous-again:0-0,promoted:100-100,previous-final:0-0" \
  /root/drill report > "$WORK/report.txt" 2>&1
grep -E '^(ok|not ok) ' "$WORK/report.txt" | while read -r line; do echo "$line"; done
grep '^#' "$WORK/report.txt"
pass=$((pass + $(grep -c '^ok ' "$WORK/report.txt"))); fail=$((fail + $(grep -c '^not ok ' "$WORK/report.txt")))

# --- 8. the backup taken before the canary restores on PostgreSQL 15 -------------------------------
step "restore the pre-canary backup into a database of its own and swap it in" restore
inside sh -c 'for i in $(seq 1 30); do curl -fsk -m 2 https://127.0.0.1/health | grep -q "\"status\":\"ok\"" && exit 0; sleep 0.5; done; exit 1' \
  && ok "the previous release serves the restored database" || notok "the previous release serves the restored database"
restored=$(inside runuser -u postgres -- psql -Atc 'SELECT count(*) FROM users' classmatefinder)
later=$(inside runuser -u postgres -- psql -Atc 'SELECT count(*) FROM users' classmatefinder_before_restore)
[ "${restored:-0}" -gt 0 ] && [ "${restored:-0}" -lt "${later:-0}" ] && ok "the restored database has the $restored accounts of the newest backup, taken before the last canary (the replaced one had $later)" \
  || notok "restored accounts: ${restored:-?} (the replaced database had ${later:-?})"

if [ $fail -gt 0 ]; then
  echo "# journal of the instances (last lines):"; inside journalctl -u 'classmatefinder-backend*' --no-pager -n 40 -o cat | cut -c1-300 | sed 's/^/#   /'
fi
echo "rollout drill: $pass passed, $fail failed ($((SECONDS - t0)) s)"
[ $fail -eq 0 ] || echo "# log and gate outputs: $WORK"
[ $fail -eq 0 ]
