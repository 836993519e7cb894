#!/usr/bin/env bash
# Install the night school (arianna-train.service + .timer) on the TRAINER
# machine, from a checkout of this repository. Run as root; safe to run again.
#
#   sudo bash /opt/inner-arianna/systemd/install-trainer.sh
#
# What it does:
#   - system user + group `arianna-train` (home /var/lib/arianna-train: its
#     ssh key for the device and the device's API token live there)
#   - /var/lib/arianna-train (0700) and its build/ with the C core that the
#     export check runs (the unit points ARIANNA_BUILD_DIR there)
#   - trainer/.venv in the checkout (trainer/setup_env.sh; read-only at run time)
#   - the two units in /etc/systemd/system, the timer enabled
#
# Options:
#   --prefix DIR   where the checkout lives (default /opt/inner-arianna; it is
#                  linked there when this script runs from elsewhere)
#   --root DIR     install into a staging root: every path goes under DIR, and
#                  no user, chown or systemctl (what the tests use)
#   --no-enable    install the units, do not enable the timer
set -euo pipefail

SERVICE=arianna-train
PREFIX=/opt/inner-arianna
ROOT=""
ENABLE=1
APP_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT=install-trainer.sh
. "$APP_DIR/systemd/script-args.sh"

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift ;;
    --root) ROOT="$(realpath -m "${2:?--root needs a directory}")"; shift ;;
    --no-enable) ENABLE=0 ;;
    *) other_arg "$1" ;;
  esac
  shift
done

step() { echo "== install-trainer: $*"; }
# as the service user on a real install; as the caller in a staging root
as_service() { if [ -z "$ROOT" ]; then runuser -u "$SERVICE" -- "$@"; else "$@"; fi; }

[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || die "run as root (sudo), or with --root DIR"
[ -f "$APP_DIR/trainer/nightly.py" ] && [ -f "$APP_DIR/systemd/$SERVICE.service" ] \
  || die "$APP_DIR does not look like an InnerArianna checkout (trainer/nightly.py)"
STATE="$ROOT/var/lib/$SERVICE"
UNIT_DIR="$ROOT/etc/systemd/system"
CHECKOUT="$ROOT$PREFIX"

# --- user and group --------------------------------------------------------------
if [ -n "$ROOT" ]; then step "staging root $ROOT: no user"
elif id -u "$SERVICE" >/dev/null 2>&1; then step "user $SERVICE exists"
else
  step "create system user $SERVICE (home /var/lib/$SERVICE)"
  useradd --system --user-group --home-dir "/var/lib/$SERVICE" --no-create-home \
    --shell /usr/sbin/nologin --comment "InnerArianna night school" "$SERVICE"
fi

# --- the checkout ------------------------------------------------------------------
if [ "$(realpath -m "$CHECKOUT")" = "$APP_DIR" ]; then step "checkout at $CHECKOUT"
elif [ -e "$CHECKOUT" ]; then die "$CHECKOUT exists and is not this checkout ($APP_DIR)"
else step "link $CHECKOUT -> $APP_DIR"; mkdir -p "$(dirname "$CHECKOUT")"; ln -s "$APP_DIR" "$CHECKOUT"; fi

# --- state directory (StateDirectory= would create it; the C build needs it now) --
step "state directory $STATE (0700) and $STATE/build"
install -d -m 0700 "$STATE" "$STATE/build"
[ -n "$ROOT" ] || chown -R "$SERVICE:$SERVICE" "$STATE"

# --- venv and C core ---------------------------------------------------------------
PY="$(bash "$CHECKOUT/trainer/setup_env.sh")"
step "trainer venv: $PY"
step "C core into $STATE/build"
as_service make -s -C "$CHECKOUT/csrc" host "HOST_OUT=$STATE/build"
[ -f "$STATE/build/libarianna.so" ] && [ -x "$STATE/build/arianna-run" ] || die "the C build left no libarianna.so / arianna-run"

# --- units -------------------------------------------------------------------------
install -d -m 0755 "$UNIT_DIR"
for unit in "$SERVICE.service" "$SERVICE.timer"; do
  step "install $UNIT_DIR/$unit"
  sed "s#/opt/inner-arianna#$PREFIX#g" "$APP_DIR/systemd/$unit" >"$UNIT_DIR/$unit.tmp"
  mv "$UNIT_DIR/$unit.tmp" "$UNIT_DIR/$unit"
done
if [ -n "$ROOT" ]; then step "staging root: systemctl skipped"; exit 0; fi
systemctl daemon-reload
if [ "$ENABLE" = 1 ]; then step "enable $SERVICE.timer"; systemctl enable --now "$SERVICE.timer"
else step "timer not enabled (--no-enable)"; fi
[ -e /etc/$SERVICE.env ] || step "next: write /etc/$SERVICE.env (see the top of $SERVICE.service)"
step "done: systemctl start $SERVICE.service && journalctl -fu $SERVICE"
