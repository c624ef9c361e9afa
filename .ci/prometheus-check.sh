#!/usr/bin/env bash
# The rollout's Prometheus side with Debian's promtool: the compiled binary's /metrics (a real scrape,
# after some traffic) passes `promtool check metrics`; the shipped rules pass `promtool check rules`
# and their unit tests `promtool test rules`. Prints ok/not ok lines.
set -uo pipefail
binary=$(realpath "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
cd "$dir"
bad=0
check() { if eval "$2" >"$dir/out" 2>&1; then echo "ok - $1"; else echo "not ok - $1"; sed 's/^/    /' "$dir/out"; bad=1; fi; }

# A free loopback port, asked of the kernel (other jobs run the same checks at the same time).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -i PATH=/usr/bin:/bin HOME="$dir" NODE_ENV=development DATABASE_URL=file:./app.db PORT="$port" HOST=127.0.0.1 \
  "$binary" serve > serve.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
curl -s -o /dev/null -H "content-type: application/json" \
  -d '{"email":"metrics@mit.edu","username":"metrics","password":"TestPass123","firstName":"M"}' "http://127.0.0.1:$port/api/auth/register"
curl -s -o /dev/null "http://127.0.0.1:$port/api/auth/me"
curl -s -o /dev/null "http://127.0.0.1:$port/no/such/page"
curl -sf "http://127.0.0.1:$port/metrics" -o metrics.txt

check "the binary's /metrics is a valid exposition" '[ -s metrics.txt ] && grep -q "^classmatefinder_build_info{" metrics.txt'
check "promtool check metrics: no complaint about the binary's /metrics" 'out=$(promtool check metrics < metrics.txt 2>&1); echo "$out"; [ -z "$out" ]'
check "no NaN and no placeholder value in the scrape" '! grep -v "^#" metrics.txt | grep -Eiq " (nan|9223372036[0-9.]*)$"'
check "promtool check rules: the recording and alerting rules" 'promtool check rules "$root"/deploy/prometheus/*.rules.yml'
check "promtool test rules: every alert's scenario and an idle service" 'promtool test rules "$root"/deploy/prometheus/tests/*.test.yml'
exit "$bad"
