#!/bin/bash
# Install / upgrade / canary / restart / roll back / restore / remove the ClassmateFinder backend.
#   install.sh [install] [--enable-now] [BINARY]   binary (default: dist/classmatefinder-backend), its units,
#                                                   user, env file (only if missing), daemon-reload;
#                                                   --enable-now also starts it (migrate first: `run migrate`)
#   install.sh upgrade BINARY                       check BINARY as the service user with every running
#                                                   instance's env (migrating when that is all it lacks),
#                                                   install it with its units (the old ones become the
#                                                   previous release), then restart the running instances
#                                                   one at a time
#   install.sh canary BINARY [--instance NAME]      back up, migrate with BINARY, run it on one instance
#                                                   behind nginx with 10 % of the requests (docs/operations.md)
#   install.sh canary 50 | 100                      that instance's share of the requests
#   install.sh promote                              the canary's release becomes the installed one everywhere
#   install.sh rollback                             during a canary: every request back to the installed
#                                                   release; otherwise the previous release (binary and
#                                                   units, checked first) back in, rolling restart. Prints
#                                                   what the rollback loses
#   install.sh status                               releases installed, instances, the canary's share
#   install.sh restart                              check with the installed binary (and the canary), then the rolling
#                                                   restart (after editing an env file)
#   install.sh restore FILE                         SQLite: stop, put the backup FILE in place, start again
#   install.sh uninstall                            stop, disable, remove binaries + units (keeps config, data)
#   install.sh run [--instance NAME] ARGS...        the installed binary as the service user with the
#                                                   service's env file(s): `run migrate`, `run check`,
#                                                   `run backup /var/lib/classmatefinder/backup.db`
# A check that fails stops everything before any running instance is touched. Must run as root.
set -euo pipefail

NAME=classmatefinder-backend
USER_NAME=classmatefinder
BIN=/usr/local/bin/$NAME
# The units of the previous release, beside its binary ($BIN.previous): a rollback restores both.
LIB=/usr/local/lib/$NAME
UNIT_DIR=/etc/systemd/system
ENV_DIR=/etc/classmatefinder
ENV_FILE=$ENV_DIR/backend.env
STATE_DIR=/var/lib/classmatefinder
# Between two instances of a rolling restart: longer than the proxy's fail_timeout (deploy/nginx: 2 s),
# so the restarted instance is back in rotation before the next one goes away.
ROLL_PAUSE=${ROLL_PAUSE:-3}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UNITS=("$NAME.service" "$NAME@.service")

say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }
case ${1:-} in -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ "$(id -u)" = 0 ] || die "must run as root"
# systemctl only works when systemd is PID 1 (not in plain containers / chroots)
have_systemd() { [ -d /run/systemd/system ]; }
reload() {
  if have_systemd; then say "systemctl daemon-reload"; systemctl daemon-reload
  else say "systemd is not running: skipped daemon-reload"; fi
}
# The running units of the installed release: the single one and every template instance.
active_units() {
  have_systemd || return 0
  systemctl list-units --state=active --plain --no-legend "$NAME.service" "$NAME@*.service" | awk '{print $1}'
}

new_secret() {   # 128 hex chars; the sandbox/minimal hosts may lack openssl
  if command -v openssl >/dev/null; then openssl rand -hex 64
  else head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \n'; fi
}

default_binary() {   # repo checkout (systemd/ next to dist/) or a release folder (binary next to us)
  local c
  for c in "$HERE/../dist/$NAME" "$HERE/$NAME"; do [ -f "$c" ] && { echo "$c"; return; }; done
  die "no binary given and none at $HERE/../dist/$NAME (run: bun run build)"
}

# A path, never a name looked up in PATH: `install.sh install new-binary` means ./new-binary.
binary_path() {
  [ -f "$1" ] || die "no such binary: $1"
  local p; p=$(realpath -- "$1")
  "$p" --version >/dev/null 2>&1 || die "$1 --version failed: not a working binary for this host"
  echo "$p"
}

# units_of BINARY DIR: the binary's own units into DIR. A binary that cannot print them (releases
# before `unit`) gets the units of this systemd/ folder, only when it has every command they run.
units_of() {
  local bin=$1 dir=$2 unit cmd help
  if "$bin" unit > "$dir/$NAME.service" 2>/dev/null && "$bin" unit --template > "$dir/$NAME@.service" 2>/dev/null; then return 0; fi
  help=$("$bin" --help 2>/dev/null || true)
  for unit in "${UNITS[@]}"; do
    for cmd in $(sed -n "s|^Exec[A-Za-z]*=[-+!@:]*$BIN \([a-z-]*\).*|\1|p" "$HERE/$unit" | sort -u); do
      grep -q "^  $cmd\b" <<<"$help" \
        || die "$bin has no \`$cmd\` command, which $HERE/$unit runs: install it with the systemd/ folder of its own release"
    done
    cp "$HERE/$unit" "$dir/$unit"
  done
  say "$("$bin" --version) cannot print its units: using $HERE's (it has every command they run)"
}

# run_as BINARY UNIT ARGS...: BINARY as the service user, with UNIT's env file(s) and working directory.
run_as() {
  local bin=$1 unit=$2; shift 2
  local envs=(-p EnvironmentFile="$ENV_FILE")
  case $unit in "$NAME"@*.service|"$NAME"-canary@*.service)
    local inst=${unit#*@}; envs+=(-p EnvironmentFile="$ENV_DIR/backend@${inst%.service}.env") ;; esac
  systemd-run --quiet --pipe --wait --collect --service-type=exec \
    -p User="$USER_NAME" -p Group="$USER_NAME" "${envs[@]}" \
    -p StateDirectory=classmatefinder -p StateDirectoryMode=0750 -p WorkingDirectory="$STATE_DIR" -p UMask=0077 \
    "$bin" "$@"
}

# check_all BINARY MIGRATE(0|1): `check` as the service user for every running unit (the single unit when
# none runs). Pending migrations only: migrate with BINARY when MIGRATE=1 (expand-only, so the running
# release keeps working), then check again. Any other failure ends the script: nothing was touched.
check_all() {
  local bin=$1 migrate=$2 unit out rc units
  units=$(active_units); [ -n "$units" ] || units=$NAME.service
  for unit in $units; do
    rc=0; out=$(run_as "$bin" "$unit" check 2>&1) || rc=$?
    if [ $rc = 1 ] && [ "$migrate" = 1 ] && printf '%s' "$out" | grep -q '^migrations: .* pending'; then
      say "$unit: the new release has migrations to apply: migrate with it (the running release keeps working)"
      run_as "$bin" "$unit" migrate || die "migrate failed: nothing restarted"
      rc=0; out=$(run_as "$bin" "$unit" check 2>&1) || rc=$?
    fi
    if [ $rc != 0 ]; then
      printf '%s\n' "$out" | grep -v '^[ {}]' | sed 's/^/    /' >&2
      die "check failed for $unit (exit $rc): left the running service alone"
    fi
    say "check passed for $unit"
  done
}

# One unit at a time; `systemctl restart` returns once the new process answers (ExecStartPost).
rolling_restart() {
  local units unit first=1
  units=$(active_units)
  [ -n "$units" ] || { say "no instance is running: nothing restarted"; return 0; }
  for unit in $units; do
    [ $first = 1 ] || { say "waiting ${ROLL_PAUSE} s (the proxy takes $unit's peer back in)"; sleep "$ROLL_PAUSE"; }
    first=0
    say "systemctl restart $unit"
    systemctl restart "$unit" || die "$unit did not start again (journalctl -u $unit); the others were not restarted"
  done
  say "restarted: $(echo $units)"
}

# put_release BINARY UNITDIR: BINARY and its units become the installed release, each file renamed into
# place (a running service keeps its old inode, never a half-written file); daemon-reload.
put_release() {
  local src=$1 units=$2 unit
  if [ ! -f "$BIN" ] || ! cmp -s "$src" "$BIN"; then
    install -m 0755 -o root -g root "$src" "$BIN.new" && mv -f "$BIN.new" "$BIN"
  fi
  for unit in "${UNITS[@]}"; do
    install -m 0644 -o root -g root "$units/$unit" "$UNIT_DIR/$unit.new" && mv -f "$UNIT_DIR/$unit.new" "$UNIT_DIR/$unit"
  done
  say "installed $BIN ($("$BIN" --version)) and its units in $UNIT_DIR"
  reload
}

# keep_as_previous: the installed binary and units become the previous release (for rollback).
keep_as_previous() {
  [ -f "$BIN" ] || return 0
  install -d -m 0755 "$LIB/previous"
  cp -p "$BIN" "$BIN.previous"
  local unit
  for unit in "${UNITS[@]}"; do [ -f "$UNIT_DIR/$unit" ] && cp -p "$UNIT_DIR/$unit" "$LIB/previous/$unit"; done
  say "kept $("$BIN" --version) and its units as the previous release (for rollback)"
}

# install_release BINARY: the installed release becomes the previous one, BINARY with its own units the
# installed one. The same binary again changes nothing but its units (and keeps the previous release).
install_release() {
  local src=$1 tmp
  tmp=$(mktemp -d); units_of "$src" "$tmp"
  if [ -f "$BIN" ] && cmp -s "$src" "$BIN"; then say "$BIN is already this binary ($("$BIN" --version))"
  else keep_as_previous; fi
  put_release "$src" "$tmp"
  rm -rf "$tmp"
}

# What rolling back from BINARY's release loses, as BINARY says (releases before `rollback-notes` cannot).
print_losses() {
  "$1" rollback-notes 2>/dev/null | sed 's/^/[install] /' \
    || say "$("$1" --version) does not say what a rollback from it loses: read its release's docs/operations.md (Rollback)"
}

cmd_install() {
  local enable=0 src=""
  while [ $# -gt 0 ]; do
    case $1 in --enable-now) enable=1 ;; -*) die "unknown option $1" ;; *) src=$1 ;; esac; shift
  done
  [ -n "$src" ] || src=$(default_binary)
  src=$(binary_path "$src")
  say "binary: $src ($("$src" --version))"

  if ! getent group "$USER_NAME" >/dev/null; then
    say "creating system group $USER_NAME"; groupadd --system "$USER_NAME"; fi
  if ! getent passwd "$USER_NAME" >/dev/null; then
    say "creating system user $USER_NAME (no login, home $STATE_DIR)"
    useradd --system --gid "$USER_NAME" --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "ClassmateFinder backend" "$USER_NAME"
  fi
  local before=""; [ -f "$BIN" ] && before=$(sha256sum < "$BIN")
  install_release "$src"

  install -d -m 0755 -o root -g root "$ENV_DIR"
  if [ -e "$ENV_FILE" ]; then
    say "$ENV_FILE exists: left unchanged (compare with $HERE/backend.env.example)"
  else
    local tmp; tmp=$(mktemp "$ENV_DIR/.backend.env.XXXXXX")
    sed -e "s|^JWT_SECRET=<generate-with-openssl-rand-64>\$|JWT_SECRET=$(new_secret)|" \
      -e "s|^DATA_SECRET=<generate-with-openssl-rand-64>\$|DATA_SECRET=$(new_secret)|" \
      "$HERE/backend.env.example" > "$tmp"
    chown root:"$USER_NAME" "$tmp"; chmod 0640 "$tmp"; mv "$tmp" "$ENV_FILE"
    say "wrote $ENV_FILE (0640 root:$USER_NAME) with a new JWT_SECRET and DATA_SECRET: review CORS_ORIGIN, APP_URL, DATABASE_URL"
  fi
  if [ $enable = 1 ]; then
    if have_systemd; then say "systemctl enable --now $NAME"; systemctl enable --now "$NAME"
    else say "systemd is not running: cannot enable/start"; fi
  elif [ -n "$(active_units)" ] && [ "$before" != "$(sha256sum < "$BIN")" ]; then
    say "running instances still run the old binary: $0 restart (checks first)"
  else
    say "next: $0 run migrate; systemctl enable --now $NAME"
  fi
}

cmd_upgrade() {
  [ $# = 1 ] || die "usage: $0 upgrade BINARY"
  have_systemd || die "systemd is not running"
  canary_unit >/dev/null && die "a canary runs: $0 promote or $0 rollback first"
  local src; src=$(binary_path "$1")
  say "upgrade to $src ($("$src" --version))"
  # A copy the service user can execute, for its check; nothing is replaced yet.
  install -m 0755 -o root -g root "$src" "$BIN.candidate"
  trap 'rm -f "$BIN.candidate"' EXIT
  check_all "$BIN.candidate" 1
  install_release "$BIN.candidate"
  rolling_restart
}

cmd_restart() {
  have_systemd || die "systemd is not running"
  [ -x "$BIN" ] || die "$BIN is not installed"
  check_all "$BIN" 0
  # A canary reads the same env files: checked with its own binary, restarted last.
  local canary=""
  if canary=$(canary_unit); then
    run_as "$BIN.canary" "$canary" check >/dev/null 2>&1 || die "check failed for $canary with $BIN.canary: left the running service alone"
  fi
  rolling_restart
  if [ -n "$canary" ]; then sleep "$ROLL_PAUSE"; say "systemctl restart $canary"; systemctl restart "$canary" || die "$canary did not start again"; fi
}

# The previous release back in (binary and units, checked first); the current one becomes the previous.
rollback_installed() {
  [ -f "$BIN.previous" ] || die "no $BIN.previous to roll back to"
  local current prev unit
  current=$(mktemp -d); prev=$(mktemp -d)
  if [ -f "$LIB/previous/$NAME.service" ] && [ -f "$LIB/previous/$NAME@.service" ]; then
    for unit in "${UNITS[@]}"; do cp -p "$LIB/previous/$unit" "$prev/$unit"; done
  else units_of "$BIN.previous" "$prev"; fi
  say "rolling back to $("$BIN.previous" --version) and its units"
  if have_systemd; then check_all "$BIN.previous" 0; fi
  print_losses "$BIN"
  cp -p "$BIN" "$current/$NAME"
  for unit in "${UNITS[@]}"; do cp -p "$UNIT_DIR/$unit" "$current/$unit"; done
  put_release "$BIN.previous" "$prev"
  # The release rolled back from is the previous one now: a second rollback goes forward again.
  install -d -m 0755 "$LIB/previous"
  cp -p "$current/$NAME" "$BIN.previous"
  for unit in "${UNITS[@]}"; do cp -p "$current/$unit" "$LIB/previous/$unit"; done
  rm -rf "$current" "$prev"
  say "now: $("$BIN" --version)"
  rolling_restart
}

cmd_rollback() {
  if canary_unit >/dev/null; then rollback_canary; else rollback_installed; fi
}

cmd_restore() {
  [ $# = 1 ] && [ -f "$1" ] || die "usage: $0 restore BACKUP-FILE (written by: $0 run backup PATH)"
  local url db units stamp
  url=$(sed -n 's/^DATABASE_URL=//p' "$ENV_FILE" | tail -n1 | tr -d "\"'")
  case $url in
    file:*) db=${url#file:}; case $db in /*) ;; *) db=$STATE_DIR/$db ;; esac ;;
    *) die "DATABASE_URL is not SQLite: restore with pg_restore (docs/operations.md, Backups)" ;;
  esac
  "$BIN" --version >/dev/null
  units=$(active_units)
  [ -z "$units" ] || { say "stopping $(echo $units)"; systemctl stop $units; }
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  if [ -f "$db" ]; then mv "$db" "$db.before-restore-$stamp"; say "kept the current database as $db.before-restore-$stamp"; fi
  rm -f "$db-wal" "$db-shm"
  install -m 0600 -o "$USER_NAME" -g "$USER_NAME" "$1" "$db"
  say "restored $1 -> $db"
  [ -z "$units" ] || { say "starting $(echo $units)"; systemctl start $units; }
}

cmd_uninstall() {
  local unit
  if have_systemd; then
    for unit in $(active_units) $(canary_unit || true) "$NAME.service"; do systemctl disable --now "$unit" >/dev/null 2>&1 || true; done
    say "stopped and disabled $NAME"
  fi
  rm -f "$BIN" "$BIN.previous" "$BIN.new" "$BIN.candidate" "$BIN.canary" "$UNIT_DIR/$NAME.service" "$UNIT_DIR/$NAME@.service" "$UNIT_DIR/$NAME-canary@.service"
  rm -rf "$LIB"
  say "removed $BIN, $BIN.previous, $LIB and the units in $UNIT_DIR"
  reload
  say "kept $ENV_DIR (config, JWT secret) and $STATE_DIR (data) and user $USER_NAME; delete them by hand if wanted"
}

cmd_run() {   # same user, env file(s) and working directory as the service, so files get the right owner
  have_systemd || die "systemd is not running"
  [ -x "$BIN" ] || die "$BIN is not installed"
  local unit=$NAME.service
  if [ "${1:-}" = --instance ]; then [ $# -ge 2 ] || die "--instance NAME"; unit=$NAME@$2.service; shift 2; fi
  run_as "$BIN" "$unit" "$@"
}

# shellcheck source=canary.sh
. "$HERE/canary.sh"

case ${1:-install} in
  install) [ $# -gt 0 ] && shift; cmd_install "$@" ;;
  upgrade) shift; cmd_upgrade "$@" ;;
  canary) shift; cmd_canary "$@" ;;
  promote) cmd_promote ;;
  rollback) cmd_rollback ;;
  status) cmd_status ;;
  restart) cmd_restart ;;
  restore) shift; cmd_restore "$@" ;;
  uninstall) cmd_uninstall ;;
  run) shift; cmd_run "$@" ;;
  *) cmd_install "$@" ;;   # install.sh BINARY or install.sh --enable-now
esac
