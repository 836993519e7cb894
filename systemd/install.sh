#!/usr/bin/env bash
# Install InnerArianna as a systemd service on the device (a Raspberry Pi or
# any Linux box with systemd). Run as root from an unpacked release, normally
# through cross/deploy.sh; safe to run again (each step checks first).
#
#   sudo bash /opt/inner-arianna/current/systemd/install.sh --deploy-user pi
#
# What it does:
#   - system user + group `arianna` (the service runs as it); the deploy user
#     joins the group so it can upload kernels into the models directory
#   - bun at /usr/local/bin/bun (the unit's ExecStart; homes are hidden from it)
#   - /opt/inner-arianna (releases/, current -> the live release), owned by the
#     deploy user; /var/lib/arianna (ARIANNA_HOME) and its models/ (2775:
#     group-writable, setgid so uploads stay in group arianna)
#   - /etc/default/arianna (ARIANNA_HOST/ARIANNA_PORT, kept if present)
#   - the unit, enabled and (re)started; waits until it is ready (Type=notify)
#     and prints where the API token is
#
# Options:
#   --deploy-user USER  the account deploys come from (joins group arianna)
#   --prefix DIR        install root (default /opt/inner-arianna)
#   --bun PATH          the bun binary to install (default: found on PATH or in
#                       ~USER/.bun/bin of the invoking/deploy user)
#   --port N            ARIANNA_PORT for a new /etc/default/arianna (default 8080)
#   --no-start          install and enable, but do not (re)start
#   --dry-run           print what would be done, change nothing (no root needed)
set -euo pipefail

SERVICE=arianna
STATE_DIR=/var/lib/arianna
UNIT_DIR=/etc/systemd/system
DEFAULTS=/etc/default/arianna
PREFIX=/opt/inner-arianna
DEPLOY_USER=""
BUN_SRC=""
PORT=8080
START=1
DRY=0
APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT=install.sh
. "$APP_DIR/systemd/script-args.sh"

while [ $# -gt 0 ]; do
  case "$1" in
    --deploy-user) DEPLOY_USER="${2:?--deploy-user needs a user}"; shift ;;
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift ;;
    --bun) BUN_SRC="${2:?--bun needs a path}"; shift ;;
    --port) PORT="${2:?--port needs a number}"; shift ;;
    --no-start) START=0 ;;
    --dry-run|-n) DRY=1 ;;
    *) other_arg "$1" ;;
  esac
  shift
done

step() { echo "== install: $*"; }
# run CMD...: do it, or under --dry-run show it
run() {
  if [ "$DRY" = 1 ]; then echo "   would run: $*"; else "$@"; fi
}

[ "$DRY" = 1 ] || [ "$(id -u)" = 0 ] || die "run as root (sudo), or with --dry-run"
command -v systemctl >/dev/null || [ "$DRY" = 1 ] || die "systemctl not found: this needs a systemd system"
[ -f "$APP_DIR/src/main.ts" ] && [ -f "$APP_DIR/systemd/arianna.service" ] \
  || die "$APP_DIR does not look like an InnerArianna release (src/main.ts, systemd/arianna.service)"
[ -z "$DEPLOY_USER" ] || id -u "$DEPLOY_USER" >/dev/null 2>&1 || die "no such user: $DEPLOY_USER"
[ "$DRY" = 1 ] && step "dry run: nothing will be changed"

# --- user and group --------------------------------------------------------------
if getent group "$SERVICE" >/dev/null; then step "group $SERVICE exists"
else step "create system group $SERVICE"; run groupadd --system "$SERVICE"; fi
if id -u "$SERVICE" >/dev/null 2>&1; then step "user $SERVICE exists"
else
  step "create system user $SERVICE (no login, home $STATE_DIR)"
  run useradd --system --gid "$SERVICE" --home-dir "$STATE_DIR" --no-create-home \
    --shell /usr/sbin/nologin --comment "InnerArianna service" "$SERVICE"
fi
if [ -n "$DEPLOY_USER" ]; then
  if id -nG "$DEPLOY_USER" | tr ' ' '\n' | grep -qx "$SERVICE"; then step "$DEPLOY_USER is in group $SERVICE"
  else step "add $DEPLOY_USER to group $SERVICE (takes effect at its next login)"; run usermod -aG "$SERVICE" "$DEPLOY_USER"; fi
fi

# --- bun -------------------------------------------------------------------------
if [ -z "$BUN_SRC" ]; then
  for u in "$DEPLOY_USER" "${SUDO_USER:-}"; do
    [ -n "$u" ] || continue
    h="$(getent passwd "$u" | cut -d: -f6)"
    if [ -x "$h/.bun/bin/bun" ]; then BUN_SRC="$h/.bun/bin/bun"; break; fi
  done
  [ -n "$BUN_SRC" ] || BUN_SRC="$(command -v bun || true)"
fi
[ -n "$BUN_SRC" ] && [ -x "$BUN_SRC" ] || die "bun not found: install it (curl -fsSL https://bun.sh/install | bash) or pass --bun PATH"
BUN_SRC="$(readlink -f "$BUN_SRC")"
# a copy, not a link: a link into a home directory would be hidden from the service
if [ ! -L /usr/local/bin/bun ] && cmp -s "$BUN_SRC" /usr/local/bin/bun; then
  step "bun $("$BUN_SRC" --version) at /usr/local/bin/bun"
else
  step "install bun $("$BUN_SRC" --version) from $BUN_SRC to /usr/local/bin/bun"
  run install -m 0755 "$BUN_SRC" /usr/local/bin/bun
fi

# --- directories -----------------------------------------------------------------
OWNER="${DEPLOY_USER:-root}"
step "directories: $PREFIX ($OWNER), $STATE_DIR ($SERVICE, 0750), $STATE_DIR/models (2775)"
run install -d -m 0755 -o "$OWNER" -g "$SERVICE" "$PREFIX" "$PREFIX/releases"
run install -d -m 0750 -o "$SERVICE" -g "$SERVICE" "$STATE_DIR"
run install -d -m 2775 -o "$SERVICE" -g "$SERVICE" "$STATE_DIR/models"
# the unit runs $PREFIX/current: when run from a release, make sure it exists
if [ -e "$PREFIX/current" ]; then step "$PREFIX/current -> $(readlink -f "$PREFIX/current")"
else
  case "$APP_DIR" in
    "$PREFIX"/*) step "link $PREFIX/current -> $APP_DIR"; run ln -sfn "$APP_DIR" "$PREFIX/current" ;;
    *) [ "$DRY" = 1 ] || die "$PREFIX/current is missing: deploy a release there first (cross/deploy.sh)"
       step "$PREFIX/current is missing: a real run needs a release deployed there first" ;;
  esac
fi

# --- unit and settings -----------------------------------------------------------
if [ -e "$DEFAULTS" ]; then step "$DEFAULTS kept"
else
  step "write $DEFAULTS (serve the LAN on port $PORT)"
  if [ "$DRY" = 1 ]; then echo "   would write: ARIANNA_HOST=0.0.0.0 ARIANNA_PORT=$PORT"
  else printf '# InnerArianna settings (see README)\nARIANNA_HOST=0.0.0.0\nARIANNA_PORT=%s\n' "$PORT" >"$DEFAULTS"; fi
fi
UNIT_SRC="$APP_DIR/systemd/arianna.service"
UNIT_TEXT="$(sed "s#/opt/inner-arianna#$PREFIX#g" "$UNIT_SRC")"
if [ -f "$UNIT_DIR/$SERVICE.service" ] && [ "$(cat "$UNIT_DIR/$SERVICE.service")" = "$UNIT_TEXT" ]; then
  step "$UNIT_DIR/$SERVICE.service up to date"
else
  step "install $UNIT_DIR/$SERVICE.service"
  if [ "$DRY" = 1 ]; then echo "   would write: $UNIT_DIR/$SERVICE.service from $UNIT_SRC"
  else printf '%s\n' "$UNIT_TEXT" >"$UNIT_DIR/$SERVICE.service"; fi
  run systemctl daemon-reload
fi
step "enable $SERVICE"
run systemctl enable "$SERVICE.service"

# --- start -----------------------------------------------------------------------
if [ "$START" = 0 ]; then step "not started (--no-start)"; exit 0; fi
# Type=notify: restart returns once the service said READY=1 (or failed)
step "restart $SERVICE (waits for READY=1)"
if ! run systemctl restart "$SERVICE.service"; then
  journalctl -u "$SERVICE" -n 30 --no-pager >&2 || true
  die "$SERVICE failed to start (journalctl -u $SERVICE)"
fi
if [ "$DRY" = 0 ]; then
  for _ in $(seq 50); do [ -s "$STATE_DIR/api-token" ] && break; sleep 0.2; done
  systemctl --no-pager --lines=0 status "$SERVICE" | sed -n '1,4p'
fi
port="$( (. "$DEFAULTS" 2>/dev/null; echo "${ARIANNA_PORT:-$PORT}") )"
addr="$(hostname -I 2>/dev/null | awk '{print $1}')"
step "done: http://${addr:-$(hostname)}:$port/"
echo "   API token (for clients not on loopback): sudo cat $STATE_DIR/api-token"
echo "   logs: journalctl -u $SERVICE -f     status: systemctl status $SERVICE"
echo "   kernels: upload into $STATE_DIR/models/ (as ${DEPLOY_USER:-a member of group $SERVICE})"
