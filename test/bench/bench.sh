#!/usr/bin/env bash
# `bun run bench`: throughput and latency of the compiled binary on this machine, with wrk and hyperfine
# (Debian packages, installed when missing). Prints markdown for BENCHMARKS.md. Not part of `bun test`.
# BENCH_DATABASE=postgres uses a fresh database on 127.0.0.1:5432 instead of a SQLite file.
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in wrk hyperfine; do
  command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y "$tool" >/dev/null
done
[ -x dist/classmatefinder-backend ] || bun run build >/dev/null

dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
duration=${BENCH_DURATION:-10s}
if [ "${BENCH_DATABASE:-sqlite}" = postgres ]; then
  db=cmf_bench_$$
  psql -q -h 127.0.0.1 -U root -d test -c "CREATE DATABASE $db"
  url="postgres://root@127.0.0.1:5432/$db"
else
  url="file:$dir/bench.db"
fi
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  [ -n "${db:-}" ] && psql -q -h 127.0.0.1 -U root -d test -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
  rm -rf "$dir"
}
trap cleanup EXIT

export NODE_ENV=production DATABASE_URL="$url" PORT=$port HOST=127.0.0.1 LOG_LEVEL=warn \
  JWT_SECRET=bench-secret-0123456789abcdef0123456789abcdef UNIVERSITY_DOMAINS=.edu \
  RATE_LIMIT_LOGIN_ACCOUNT=100000000/1m RATE_LIMIT_LOGIN_CLIENT=100000000/1m METRICS_TOKEN=bench-metrics-token
./dist/classmatefinder-backend migrate >/dev/null
./dist/classmatefinder-backend serve >"$dir/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done

# One verified account to log in with (the verification link is in the database only as a hash,
# so the account is verified directly).
curl -sf -o /dev/null -H 'content-type: application/json' \
  -d '{"email":"bench@mit.edu","username":"bench","password":"TestPass123","firstName":"Bench"}' "http://127.0.0.1:$port/api/auth/register"
if [ -n "${db:-}" ]; then
  psql -q -h 127.0.0.1 -U root -d "$db" -c "UPDATE users SET email_verified_at = now()"
else
  bun -e "const {Database}=require('bun:sqlite'); new Database('$dir/bench.db').run('UPDATE users SET email_verified_at = 1')"
fi
token=$(curl -sf -H 'content-type: application/json' -d '{"email":"bench@mit.edu","password":"TestPass123"}' \
  "http://127.0.0.1:$port/api/auth/login" | sed 's/.*"token":"\([^"]*\)".*/\1/')

cat >"$dir/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench@mit.edu","password":"TestPass123"}'
LUA

# wrk's latency distribution -> one markdown row.
row() {
  local name=$1 out=$2
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  echo "| $name | $rps | $p50 | $p99 |"
}

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(uname -sr); bun $(bun --version); database: ${BENCH_DATABASE:-sqlite}; wrk $duration per row"
echo
echo "| endpoint (wrk) | requests/s | p50 | p99 |"
echo "| --- | ---: | ---: | ---: |"
row "GET /health/live (4 connections)" "$(wrk -t2 -c4 -d"$duration" --latency "http://127.0.0.1:$port/health/live")"
row "GET /health (database ping, 4 connections)" "$(wrk -t2 -c4 -d"$duration" --latency "http://127.0.0.1:$port/health")"
row "GET /api/auth/me (JWT + 2 queries, 4 connections)" "$(wrk -t2 -c4 -d"$duration" --latency -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/auth/me")"
row "POST /api/auth/login (argon2id, 4 connections)" "$(wrk -t2 -c4 -d"$duration" --latency -s "$dir/login.lua" "http://127.0.0.1:$port/api/auth/login")"
echo
echo "Start-up (hyperfine, \`--version\` and \`check\` of the compiled binary):"
echo
hyperfine --warmup 3 --runs 20 --export-markdown "$dir/hf.md" --style none \
  './dist/classmatefinder-backend --version' './dist/classmatefinder-backend check' >/dev/null 2>&1
cat "$dir/hf.md"
