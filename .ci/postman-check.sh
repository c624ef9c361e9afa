#!/usr/bin/env bash
# Postman (issue 29): the compiled binary's OpenAPI document converted by openapi-to-postmanv2 with the
# document's examples, and the collection run by newman against the binary (test/postman/check.mjs: every
# request answers as documented). Both from npm (test/postman's package-lock), offline otherwise.
# Usage: .ci/postman-check.sh [BINARY]. Prints one ok/not ok line per check.
set -uo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "${1:-dist/classmatefinder-backend}")
scratch=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$scratch"' EXIT

if ! (cd test/postman && npm ci --no-audit --no-fund --loglevel=error) >"$scratch/npm.log" 2>&1; then
  echo "not ok - test/postman installs openapi-to-postmanv2 and newman from its package-lock (npm ci)"
  sed 's/^/    /' "$scratch/npm.log"
  exit 1
fi
echo "ok - test/postman installs openapi-to-postmanv2 and newman from its package-lock (npm ci)"

# A fresh development instance: its examples work as they are against it (the document says so).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$scratch" && exec env -i PATH=/usr/bin:/bin HOME="$scratch" NODE_ENV=development DATABASE_URL=file:./app.db \
  PORT="$port" HOST=127.0.0.1 "$binary" serve >serve.log 2>&1) &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
node test/postman/check.mjs "http://127.0.0.1:$port"
