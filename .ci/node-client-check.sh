#!/usr/bin/env bash
# The client package in a Node back-end (issue 29): `npm pack` in packages/client (its prepack builds the
# package first), then test/node-fixture (its package-lock committed) installs nothing of the backend but
# that tarball, type-checks under `module` NodeNext, Node16, Bundler and ESNext with skipLibCheck off
# (its type tests fail if the client's types are lost), compiles under NodeNext, and runs with Node
# against the compiled binary. Usage: .ci/node-client-check.sh [BINARY]. Prints one ok/not ok line per check.
set -uo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "${1:-dist/classmatefinder-backend}")
fixture=$PWD/test/node-fixture
scratch=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$scratch"' EXIT

status=0
check() { # check NAME COMMAND...
  local name=$1
  shift
  if "$@" >"$scratch/out" 2>&1; then echo "ok - $name"; else echo "not ok - $name"; sed 's/^/    /' "$scratch/out"; status=1; fi
}

check "npm pack in packages/client, from a checkout without a build: prepack builds it, the tarball has dist/" \
  bash -c "rm -rf packages/client/dist && cd packages/client && npm pack --loglevel=error --pack-destination '$scratch' >/dev/null &&
           tar -tzf '$scratch'/classmatefinder-api-*.tgz | grep -qx package/dist/index.d.ts"
check "the fixture installs its locked dependencies from the npm registry (npm ci)" \
  bash -c "cd '$fixture' && npm ci --no-audit --no-fund --loglevel=error"
check "the fixture installs the tarball" \
  bash -c "cd '$fixture' && npm install --no-save --no-audit --no-fund --loglevel=error '$scratch'/classmatefinder-api-*.tgz"
for project in "tsconfig.json:module NodeNext" "tsconfig.node16.json:module Node16" \
  "tsconfig.bundler.json:module Preserve, moduleResolution Bundler" "tsconfig.esnext.json:module ESNext, moduleResolution Bundler"; do
  config=${project%%:*}
  check "tsc -p $config (${project#*:}, skipLibCheck off): compiles, and each of its @ts-expect-error mistakes fails" \
    bash -c "cd '$fixture' && npx --no-install tsc -p $config --noEmit --pretty false"
done
check "tsc compiles the fixture (module NodeNext) to dist/" bash -c "cd '$fixture' && rm -rf dist && npx --no-install tsc -p . --pretty false"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$scratch" && exec env -i PATH=/usr/bin:/bin HOME="$scratch" NODE_ENV=development DATABASE_URL=file:./app.db \
  PORT="$port" HOST=127.0.0.1 "$binary" serve >serve.log 2>&1) &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
check "node dist/main.js against the binary: health ok, register 201 unverified, login 403 EMAIL_NOT_VERIFIED, me 401" \
  bash -c "cd '$fixture' && node dist/main.js http://127.0.0.1:$port node-fixture@mit.edu"
exit "$status"
