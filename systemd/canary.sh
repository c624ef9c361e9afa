# Sourced by install.sh: the canary of a new release behind nginx (docs/operations.md, Canary).
#
# The canary runs on one of the template instances (classmatefinder-backend@NAME, behind nginx): that
# instance's unit is stopped and classmatefinder-backend-canary@NAME started on the same port with the
# new binary ($BIN.canary) and the unit that binary prints; the instance keeps its Prometheus target,
# and every series says which release served it. nginx's weights give it its share of the requests:
# install.sh rewrites the upstream file (deploy/nginx/classmatefinder-upstream.conf, installed as
# $NGINX_UPSTREAM) and reloads nginx.

CANARY=$NAME-canary
NGINX_UPSTREAM=${NGINX_UPSTREAM:-/etc/nginx/conf.d/classmatefinder-upstream.conf}
BACKUP_DIR=$STATE_DIR/backups

# The canary's unit while a canary is in progress (its unit file is installed), running or not: a
# canary that failed is rolled back or promoted like one that runs.
canary_unit() {
  have_systemd && [ -f "$UNIT_DIR/$CANARY@.service" ] || return 1
  local unit
  unit=$(systemctl list-units --all --plain --no-legend "$CANARY@*.service" | awk '$2 == "loaded" {print $1}' | head -n1)
  [ -n "$unit" ] && echo "$unit"
}
instance_of() { local i=${1#*@}; echo "${i%.service}"; }

# The port an instance listens on: PORT from its own env file, else the shared one, else 5000.
port_of() {
  local p
  p=$(sed -n 's/^PORT=//p' "$ENV_DIR/backend@$1.env" 2>/dev/null | tail -n1 | tr -d "\"' ")
  [ -n "$p" ] || p=$(sed -n 's/^PORT=//p' "$ENV_FILE" 2>/dev/null | tail -n1 | tr -d "\"' ")
  echo "${p:-5000}"
}

gcd() { local a=$1 b=$2 t; while [ "$b" -gt 0 ]; do t=$((a % b)); a=$b; b=$t; done; echo "$a"; }

# write_upstream CANARY_INSTANCE SHARE: one server line per running instance, the canary's weighted so
# that it gets SHARE % of the requests (100: the others become `backup`, used only if it fails; 0: it is
# `down`, before its unit is switched; no canary: equal weights), then `nginx -t` and a reload. Every
# line keeps the passive health check.
write_upstream() {
  local canary=$1 share=$2 instances=() inst stable=0 ws=1 wc=1 g tmp
  for inst in $(active_units | sed -n "s/^$NAME@\(.*\)\.service\$/\1/p"); do [ "$inst" = "$canary" ] || instances+=("$inst"); done
  stable=${#instances[@]}
  [ "$stable" -gt 0 ] || die "no other instance of $NAME@ runs: a canary needs at least two instances behind nginx"
  if [ -n "$canary" ] && [ "$share" -gt 0 ] && [ "$share" -lt 100 ]; then
    ws=$((100 - share)); wc=$((stable * share)); g=$(gcd "$ws" "$wc"); ws=$((ws / g)); wc=$((wc / g))
  fi
  tmp=$(mktemp "$NGINX_UPSTREAM.XXXXXX")
  {
    if [ -n "$canary" ]; then echo "# Written by $HERE/install.sh ($(date -u +%FT%TZ)): canary on $canary, $share %."
    else echo "# Written by $HERE/install.sh ($(date -u +%FT%TZ)): no canary."; fi
    echo "# Shipped as deploy/nginx/classmatefinder-upstream.conf; install.sh rewrites it, do not edit by hand."
    echo "upstream classmatefinder_backend {"
    for inst in "${instances[@]}"; do
      if [ -n "$canary" ] && [ "$share" = 100 ]; then
        echo "    server 127.0.0.1:$(port_of "$inst") backup max_fails=1 fail_timeout=2s;   # $NAME@$inst"
      else
        echo "    server 127.0.0.1:$(port_of "$inst") weight=$ws max_fails=1 fail_timeout=2s;   # $NAME@$inst"
      fi
    done
    if [ -n "$canary" ] && [ "$share" = 0 ]; then
      echo "    server 127.0.0.1:$(port_of "$canary") down;   # $canary: switching release"
    elif [ -n "$canary" ]; then
      echo "    server 127.0.0.1:$(port_of "$canary") weight=$wc max_fails=1 fail_timeout=2s;   # $CANARY@$canary (canary, $share %)"
    fi
    echo "}"
  } > "$tmp"
  chmod 0644 "$tmp"
  local old; old=$(mktemp); cp -p "$NGINX_UPSTREAM" "$old"
  mv -f "$tmp" "$NGINX_UPSTREAM"
  if ! nginx -t -q; then cp -p "$old" "$NGINX_UPSTREAM"; rm -f "$old"; die "nginx -t refused the new upstream: put the old one back"; fi
  rm -f "$old"
  systemctl reload nginx
  if [ -n "$canary" ]; then say "nginx: instance $canary gets $share % of the requests ($NGINX_UPSTREAM)"
  else say "nginx: every instance gets an equal share ($NGINX_UPSTREAM)"; fi
}

# switch_instance INSTANCE FROM_UNIT TO_UNIT: out of nginx's rotation first, then stop one unit and
# start the other on the same port (each returns once drained / answering).
switch_instance() {
  write_upstream "$1" 0
  say "$1: systemctl stop $2; systemctl start $3"
  systemctl stop "$2"
  systemctl start "$3" || { systemctl start "$2" || true; die "$3 did not start (journalctl -u $3); $2 started again"; }
}

# What to do after the canary got SHARE %.
next_steps() {
  local then
  case $1 in 10) then="$0 canary 50" ;; 50) then="$0 canary 100" ;; *) then="$0 promote" ;; esac
  echo "wait a window, then ./classmatefinder-backend rollout-check --prometheus URL (in the new release's folder): exit 0 → $then; 2 → $0 rollback"
}

cmd_canary() {
  have_systemd || die "systemd is not running"
  case ${1:-} in
    ''|-h|--help) die "usage: $0 canary BINARY [--instance NAME] | $0 canary 50 | $0 canary 100" ;;
    10|50|100)
      local unit; unit=$(canary_unit) || die "no canary runs: $0 canary BINARY starts one"
      write_upstream "$(instance_of "$unit")" "$1"
      say "next: $(next_steps "$1")"
      return ;;
  esac
  local src instance="" tmp stamp ext path url
  src=$(binary_path "$1"); shift
  while [ $# -gt 0 ]; do
    case $1 in --instance) [ $# -ge 2 ] || die "--instance NAME"; instance=$2; shift ;; *) die "unknown argument $1" ;; esac; shift
  done
  canary_unit >/dev/null && die "a canary runs already ($(canary_unit)): $0 promote or $0 rollback first"
  [ -f "$NGINX_UPSTREAM" ] || die "no $NGINX_UPSTREAM: install deploy/nginx/classmatefinder-upstream.conf there (docs/operations.md, Several instances)"
  [ -n "$instance" ] || instance=$(active_units | sed -n "s/^$NAME@\(.*\)\.service\$/\1/p" | sort | tail -n1)
  [ -n "$instance" ] && systemctl is-active -q "$NAME@$instance.service" || die "no running instance $NAME@${instance:-NAME} to put the canary on"
  [ "$(active_units | grep -c "^$NAME@")" -ge 2 ] || die "a canary needs at least two instances behind nginx (docs/operations.md, Several instances)"
  say "canary: $("$src" --version) on $NAME@$instance (port $(port_of "$instance"))"
  install -m 0755 -o root -g root "$src" "$BIN.canary"
  trap 'rm -f "$BIN.canary" "$UNIT_DIR/$CANARY@.service"' EXIT   # until the canary runs

  # 1. A backup, written by the new binary (it has the `backup` command whatever the installed one has).
  url=$(sed -n 's/^DATABASE_URL=//p' "$ENV_FILE" | tail -n1 | tr -d "\"'")
  case $url in postgres*) ext=dump ;; *) ext=db ;; esac
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$BACKUP_DIR"
  path=$BACKUP_DIR/before-canary-$stamp.$ext
  run_as "$BIN.canary" "$NAME@$instance.service" backup "$path" | sed 's/^/[install] /' || die "backup failed: nothing changed"

  # 2. Migrations of the new release, with the new binary (expand-only: the installed release keeps working).
  check_all "$BIN.canary" 1

  # 3. The canary's unit is the one its binary prints, running $BIN.canary instead of $BIN.
  tmp=$(mktemp -d); units_of "$BIN.canary" "$tmp"
  sed -e "s|$BIN |$BIN.canary |g" -e "s|^Description=\(.*\)\$|Description=\1 (canary)|" \
    -e "s|^\[Unit\]\$|[Unit]\n# Never beside the installed release's instance of the same name (same port).\nConflicts=$NAME@%i.service|" \
    "$tmp/$NAME@.service" > "$UNIT_DIR/$CANARY@.service.new"
  mv -f "$UNIT_DIR/$CANARY@.service.new" "$UNIT_DIR/$CANARY@.service"; rm -rf "$tmp"
  reload
  # 4. The instance leaves nginx's rotation, switches to the canary, then gets its share.
  write_upstream "$instance" 0
  say "$instance: systemctl stop $NAME@$instance.service; systemctl start $CANARY@$instance.service"
  systemctl stop "$NAME@$instance.service"
  if ! systemctl start "$CANARY@$instance.service"; then
    systemctl stop "$CANARY@$instance.service" || true
    systemctl start "$NAME@$instance.service" || true
    write_upstream "" 0
    die "the canary did not start (journalctl -u $CANARY@$instance): $NAME@$instance serves again, nginx as before"
  fi
  trap - EXIT
  write_upstream "$instance" 10
  say "backup: $path"
  say "next: $(next_steps 10)"
}

cmd_promote() {
  have_systemd || die "systemd is not running"
  local unit instance
  unit=$(canary_unit) || die "no canary runs: nothing to promote"
  instance=$(instance_of "$unit")
  say "promote: $("$BIN.canary" --version) becomes the installed release"
  install_release "$BIN.canary"
  # The others restart on it one at a time; the canary keeps serving meanwhile.
  rolling_restart
  switch_instance "$instance" "$unit" "$NAME@$instance.service"
  write_upstream "" 0
  rm -f "$BIN.canary" "$UNIT_DIR/$CANARY@.service"; reload
  say "promoted: every instance runs $("$BIN" --version); $0 rollback goes back to $("$BIN.previous" --version)"
}

rollback_canary() {
  local unit instance
  unit=$(canary_unit); instance=$(instance_of "$unit")
  say "rollback of the canary $("$BIN.canary" --version) on $NAME@$instance: every request back to $("$BIN" --version)"
  print_losses "$BIN.canary"
  switch_instance "$instance" "$unit" "$NAME@$instance.service"
  write_upstream "" 0
  systemctl reset-failed "$unit" 2>/dev/null || true
  rm -f "$BIN.canary" "$UNIT_DIR/$CANARY@.service"; reload
  say "rolled back: every instance runs $("$BIN" --version)"
}

cmd_status() {
  local unit share
  say "installed: $([ -x "$BIN" ] && "$BIN" --version || echo none)"
  say "previous:  $([ -x "$BIN.previous" ] && "$BIN.previous" --version || echo none)"
  if unit=$(canary_unit); then
    share=$(sed -n 's/.*(canary, \([0-9]*\) %).*/\1/p' "$NGINX_UPSTREAM" 2>/dev/null)
    say "canary:    $("$BIN.canary" --version) on $unit, ${share:-?} % of the requests"
  else say "canary:    none"; fi
  for unit in $(active_units); do say "running:   $unit (port $(port_of "$(instance_of "$unit")"))"; done
}
