#!/usr/bin/env bash
# The client package as a frontend gets it (issue 18): `bun run pack:client`, then a fresh Vite + React +
# TypeScript project (test/frontend-fixture, its package-lock committed) installs nothing of the backend
# but that tarball, type-checks under Vite's strict tsconfig with no bun-types, builds, and runs the
# account flow in Chromium against the compiled binary (test/browser/frontend.browser.ts).
# Prints one `ok`/`not ok` line per check, then bun test's summary of the browser run.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
check() { # check NAME COMMAND...
  local name=$1
  shift
  if "$@"; then echo "ok - $name"; else echo "not ok - $name"; status=1; fi
}

version=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' packages/client/package.json | head -1)
tarball="$PWD/dist/classmatefinder-api-${version}.tgz"
fixture=test/frontend-fixture

check "pack:client writes dist/classmatefinder-api-${version}.tgz" bash -c "bun run pack:client && test -s '$tarball'"
check "the fixture installs its locked dependencies from the npm registry (npm ci)" \
  bash -c "cd $fixture && npm ci --no-audit --no-fund --loglevel=error"
# Not in the fixture's package.json: its lock would pin the hash of an older build (npm ci then takes
# the cached old tarball); a frontend pins the released file (docs/integration.md, "Install and pin").
check "the fixture installs the tarball" bash -c "cd $fixture && npm install --no-save --no-audit --no-fund --loglevel=error '$tarball'"
check "nothing of Bun in the fixture: no bun-types, no @types/bun" \
  bash -c "cd $fixture && test ! -e node_modules/bun-types && test ! -e node_modules/@types/bun"
check "the fixture type-checks (tsc -b: strict, exactOptionalPropertyTypes, erasableSyntaxOnly, type tests)" \
  bash -c "cd $fixture && npx --no-install tsc -b --pretty false"
check "the fixture builds (vite build)" bash -c "cd $fixture && rm -rf dist && npx --no-install vite build --logLevel warn"
# The client is ~3 KB; a server module in the bundle would bring drizzle, elysia or bun: imports along.
check "the fixture's bundle holds no server code" \
  bash -c "! grep -lE 'bun:sqlite|drizzle-orm|elysia|argon2' $fixture/dist/assets/*.js"

if [ -x dist/classmatefinder-backend ] && [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  bun test ./test/browser/frontend.browser.ts || status=1
else
  echo "not ok - the browser check needs dist/classmatefinder-backend and Chromium"
  status=1
fi
exit "$status"
