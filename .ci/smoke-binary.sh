#!/usr/bin/env bash
# The compiled binary alone in an empty directory (no Bun on PATH, no node_modules, no checkout):
# --version, migrate (SQLite), serve, /health, a registration, SIGTERM -> exit 0. Prints ok/not ok lines.
set -uo pipefail
binary=$(realpath "$1")
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
cp "$binary" "$dir/classmatefinder-backend"
cd "$dir"
bad=0
check() { if eval "$2" >/dev/null 2>&1; then echo "ok - $1"; else echo "not ok - $1"; bad=1; fi; }
run() { env -i PATH=/usr/bin:/bin HOME="$dir" "$@"; }
# In the background the function runs in a subshell; exec makes $! the service itself.
run_bg() { exec env -i PATH=/usr/bin:/bin HOME="$dir" "$@"; }

check "--version prints the version and the commit it was built from" 'run ./classmatefinder-backend --version | grep -Eq "^classmatefinder-backend 0\.1\.0 \(revision [0-9a-f]{12}(-dirty)?\)$"'
check "migrate creates the SQLite database" 'run DATABASE_URL=file:./db/app.db ./classmatefinder-backend migrate && [ -s db/app.db ]'
check "a second migrate is a no-op" 'run DATABASE_URL=file:./db/app.db ./classmatefinder-backend migrate | grep -q "up to date"'
check "bad configuration exits 78 naming the variable" 'run_bg NODE_ENV=production DATABASE_URL=file:./db/app.db JWT_SECRET=short ./classmatefinder-backend check 2>&1 | grep -q JWT_SECRET; [ "${PIPESTATUS[0]}" = 78 ]'

port=$((20000 + RANDOM % 20000))
run_bg NODE_ENV=production DATABASE_URL=file:./db/app.db JWT_SECRET=smoke-test-secret-0123456789abcdef0123456789 \
  PORT=$port HOST=127.0.0.1 UNIVERSITY_DOMAINS=.edu ./classmatefinder-backend serve > serve.log 2>&1 &
pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/health/live" >/dev/null && break; sleep 0.1; done
check "serve answers /health with status ok" 'curl -sf "http://127.0.0.1:$port/health" | grep -q "\"status\":\"ok\""'
check "register answers 201" '[ "$(curl -s -o /dev/null -w "%{http_code}" -H "content-type: application/json" -d "{\"email\":\"smoke@mit.edu\",\"username\":\"smoke\",\"password\":\"TestPass123\",\"firstName\":\"Smoke\"}" "http://127.0.0.1:$port/api/auth/register")" = 201 ]'
check "Swagger UI assets are served from the binary" 'curl -sf "http://127.0.0.1:$port/swagger/assets/swagger-ui-bundle.js" -o assets.js && [ -s assets.js ]'
kill -TERM "$pid"
wait "$pid"
code=$?
check "SIGTERM stops serve with exit code 0" '[ "$code" = 0 ]'
check "every log line is JSON" 'python3 -c "import json,sys; [json.loads(l) for l in open(\"serve.log\")]"'
exit "$bad"
