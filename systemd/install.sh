#!/bin/bash
# Install / update / roll back / remove the ClassmateFinder backend as a systemd service.
#   install.sh [install] [--enable-now] [BINARY]   binary (default: dist/classmatefinder-backend),
#                                                   unit, user, env file (only if missing), daemon-reload;
#                                                   --enable-now also starts it (migrate first: `run migrate`)
#   install.sh rollback                             put classmatefinder-backend.previous back, restart if running
#   install.sh uninstall                            stop, disable, remove binary + unit (keeps config and data)
#   install.sh run ARGS...                          run the installed binary as the service user with the
#                                                   service's env file, e.g. `run migrate`, `run check`
# Idempotent; must run as root.
set -euo pipefail

NAME=classmatefinder-backend
USER_NAME=classmatefinder
BIN=/usr/local/bin/$NAME
UNIT=/etc/systemd/system/$NAME.service
ENV_DIR=/etc/classmatefinder
ENV_FILE=$ENV_DIR/backend.env
STATE_DIR=/var/lib/classmatefinder
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf '[install] %s\n' "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }
case ${1:-} in -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ "$(id -u)" = 0 ] || die "must run as root"
# systemctl only works when systemd is PID 1 (not in plain containers / chroots)
have_systemd() { [ -d /run/systemd/system ]; }
reload() {
  if have_systemd; then say "systemctl daemon-reload"; systemctl daemon-reload
  else say "systemd is not running: skipped daemon-reload"; fi
}
is_active() { have_systemd && systemctl is-active --quiet "$NAME"; }

new_secret() {   # 128 hex chars; the sandbox/minimal hosts may lack openssl
  if command -v openssl >/dev/null; then openssl rand -hex 64
  else head -c 64 /dev/urandom | od -An -tx1 -v | tr -d ' \n'; fi
}

default_binary() {   # repo checkout (systemd/ next to dist/) or a release folder (binary next to us)
  local c
  for c in "$HERE/../dist/$NAME" "$HERE/$NAME"; do [ -f "$c" ] && { echo "$c"; return; }; done
  die "no binary given and none at $HERE/../dist/$NAME (run: bun run build)"
}

cmd_install() {
  local enable=0 src=""
  while [ $# -gt 0 ]; do
    case $1 in --enable-now) enable=1 ;; -*) die "unknown option $1" ;; *) src=$1 ;; esac; shift
  done
  [ -n "$src" ] || src=$(default_binary)
  [ -f "$src" ] || die "no such binary: $src"
  local version; version=$("$src" --version) || die "$src --version failed: not a working binary for this host"
  say "binary: $src ($version)"

  if ! getent group "$USER_NAME" >/dev/null; then
    say "creating system group $USER_NAME"; groupadd --system "$USER_NAME"; fi
  if ! getent passwd "$USER_NAME" >/dev/null; then
    say "creating system user $USER_NAME (no login, home $STATE_DIR)"
    useradd --system --gid "$USER_NAME" --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "ClassmateFinder backend" "$USER_NAME"
  fi

  # Copy next to the target, then rename: a running service keeps its old inode, never a half-written file.
  local changed=1
  if [ -f "$BIN" ] && cmp -s "$src" "$BIN"; then
    changed=0; say "$BIN is already this binary"
  else
    install -m 0755 -o root -g root "$src" "$BIN.new"
    if [ -f "$BIN" ]; then say "keeping the old binary as $BIN.previous (for rollback)"; cp -p "$BIN" "$BIN.previous"; fi
    mv -f "$BIN.new" "$BIN"; say "installed $BIN"
  fi

  install -m 0644 -o root -g root "$HERE/$NAME.service" "$UNIT.new" && mv -f "$UNIT.new" "$UNIT"
  say "installed $UNIT"

  install -d -m 0755 -o root -g root "$ENV_DIR"
  if [ -e "$ENV_FILE" ]; then
    say "$ENV_FILE exists: left unchanged (compare with $HERE/backend.env.example)"
  else
    local tmp; tmp=$(mktemp "$ENV_DIR/.backend.env.XXXXXX")
    sed "s|^JWT_SECRET=<generate-with-openssl-rand-64>\$|JWT_SECRET=$(new_secret)|" \
      "$HERE/backend.env.example" > "$tmp"
    chown root:"$USER_NAME" "$tmp"; chmod 0640 "$tmp"; mv "$tmp" "$ENV_FILE"
    say "wrote $ENV_FILE (0640 root:$USER_NAME) with a new JWT_SECRET: review CORS_ORIGIN, APP_URL, DATABASE_URL"
  fi
  reload
  if [ $enable = 1 ]; then
    if have_systemd; then say "systemctl enable --now $NAME"; systemctl enable --now "$NAME"
    else say "systemd is not running: cannot enable/start"; fi
  elif is_active && [ $changed = 1 ]; then
    say "$NAME is running the old binary: $0 run migrate; systemctl restart $NAME"
  else
    say "next: $0 run migrate; systemctl enable --now $NAME"
  fi
}

cmd_rollback() {
  [ -f "$BIN.previous" ] || die "no $BIN.previous to roll back to"
  say "swapping $BIN and $BIN.previous"
  cp -p "$BIN.previous" "$BIN.new"; cp -p "$BIN" "$BIN.previous"; mv -f "$BIN.new" "$BIN"
  say "now: $("$BIN" --version)"
  if is_active; then say "systemctl restart $NAME"; systemctl restart "$NAME"; fi
}

cmd_uninstall() {
  if have_systemd && [ -f "$UNIT" ]; then
    say "systemctl disable --now $NAME"; systemctl disable --now "$NAME" || true
  fi
  rm -f "$BIN" "$BIN.previous" "$BIN.new" "$UNIT"; say "removed $BIN, $BIN.previous, $UNIT"
  reload
  say "kept $ENV_DIR (config, JWT secret) and $STATE_DIR (data) and user $USER_NAME; delete them by hand if wanted"
}

cmd_run() {   # same user, env file and working directory as the service, so files get the right owner
  have_systemd || die "systemd is not running"
  [ -x "$BIN" ] || die "$BIN is not installed"
  exec systemd-run --quiet --pipe --wait --collect --service-type=exec \
    -p User="$USER_NAME" -p Group="$USER_NAME" -p EnvironmentFile="$ENV_FILE" \
    -p StateDirectory=classmatefinder -p StateDirectoryMode=0750 -p WorkingDirectory="$STATE_DIR" -p UMask=0077 \
    "$BIN" "$@"
}

case ${1:-install} in
  install) [ $# -gt 0 ] && shift; cmd_install "$@" ;;
  rollback) cmd_rollback ;;
  uninstall) cmd_uninstall ;;
  run) shift; cmd_run "$@" ;;
  *) cmd_install "$@" ;;   # install.sh BINARY or install.sh --enable-now
esac
