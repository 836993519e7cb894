#!/usr/bin/env bash
# Deploy a bundle (cross/bundle.sh) to a device over ssh + rsync:
#
#   1. unpack the bundle here
#   2. rsync it to HOST:/opt/inner-arianna/releases/<version>/ (unchanged files
#      are hard-linked from the live release, so a redeploy sends little)
#   3. bun install --frozen-lockfile --production there
#   4. switch /opt/inner-arianna/current to it atomically (rename of a link)
#   5. first time: sudo systemd/install.sh (user, dirs, unit); else restart
#      the service, which waits for READY=1
#   6. keep the newest --keep releases (never the live one)
#
# Usage: cross/deploy.sh [options] [USER@]HOST        (bun run deploy -- pi@arianna.local)
#        cross/deploy.sh [options] --local DIR        (the same into DIR, no ssh, no service)
#   --bundle FILE   the tarball (default: the one build/bundle/LATEST names;
#                   built with cross/bundle.sh when there is none)
#   --dir DIR       install root on the device (default /opt/inner-arianna)
#   --install       run install.sh even when the service is already installed
#   --no-restart    leave the service alone (the new release runs at its next start)
#   --keep N        releases to keep (default 3)
# Env: SSH (default "ssh"), e.g. SSH="ssh -p 2222 -i ~/.ssh/pi"
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT=cross/deploy.sh
. "$ROOT/systemd/script-args.sh"
HOST=""
LOCAL=""
BUNDLE=""
DIR=/opt/inner-arianna
INSTALL=0
RESTART=1
KEEP=3
while [ $# -gt 0 ]; do
  case "$1" in
    --local) LOCAL="${2:?--local needs a directory}"; shift ;;
    --bundle) BUNDLE="${2:?--bundle needs a file}"; shift ;;
    --dir) DIR="${2:?--dir needs a directory}"; shift ;;
    --install) INSTALL=1 ;;
    --no-restart) RESTART=0 ;;
    --keep) KEEP="${2:?--keep needs a number}"; shift ;;
    -*) other_arg "$1" ;;
    *) [ -z "$HOST" ] || { echo "cross/deploy.sh: one host only" >&2; exit 2; }; HOST="$1" ;;
  esac
  shift
done
if [ -n "$LOCAL" ]; then
  [ -z "$HOST" ] || { echo "cross/deploy.sh: --local and a host exclude each other" >&2; exit 2; }
  mkdir -p "$LOCAL"
  DIR="$(cd "$LOCAL" && pwd)"
  RESTART=0
elif [ -z "$HOST" ]; then
  echo "usage: cross/deploy.sh [options] [USER@]HOST | --local DIR  (--help)" >&2
  exit 2
fi
[[ "$KEEP" =~ ^[1-9][0-9]*$ ]] || { echo "cross/deploy.sh: --keep needs a positive number" >&2; exit 2; }
read -r -a SSH_CMD <<<"${SSH:-ssh}"
TARGET="${HOST:-local}"

step() { echo "== deploy ($TARGET): $*"; }
q() { printf '%q' "$1"; }
# on_device [--tty] SCRIPT: run a one-line bash script on the device (or here
# with --local); --tty lets sudo ask for a password when we have a terminal.
# A non-interactive ssh shell has a bare PATH: add where bun usually lives.
on_device() {
  local tty=()
  if [ "$1" = --tty ]; then shift; [ -t 0 ] && tty=(-t); fi
  local script="export PATH=\"\$HOME/.bun/bin:/usr/local/bin:\$PATH\"; set -euo pipefail; $1"
  if [ -n "$LOCAL" ]; then bash -c "$script"
  else "${SSH_CMD[@]}" ${tty[@]+"${tty[@]}"} "$HOST" "bash -c $(q "$script")"; fi
}

# --- 1. the bundle ----------------------------------------------------------------
if [ -z "$BUNDLE" ]; then
  [ -f "$ROOT/build/bundle/LATEST" ] || { step "no bundle yet: cross/bundle.sh"; bash "$ROOT/cross/bundle.sh"; }
  BUNDLE="$ROOT/build/bundle/$(cat "$ROOT/build/bundle/LATEST")"
fi
[ -f "$BUNDLE" ] || die "no such bundle: $BUNDLE"
if [ -f "$BUNDLE.sha256" ]; then
  (cd "$(dirname "$BUNDLE")" && sha256sum --quiet -c "$(basename "$BUNDLE").sha256") \
    || die "$BUNDLE does not match its .sha256"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$BUNDLE" -C "$WORK"
shopt -s nullglob
unpacked=("$WORK"/inner-arianna-*/VERSION)
[ ${#unpacked[@]} = 1 ] || die "$BUNDLE is not a bundle from cross/bundle.sh"
SRC="$(dirname "${unpacked[0]}")"
VERSION="$(cat "$SRC/VERSION")"
REL="$DIR/releases/$VERSION"
step "bundle $(basename "$BUNDLE") (version $VERSION)"

# --- 2. rsync ---------------------------------------------------------------------
step "prepare $DIR/releases"
# the first deploy may need root for /opt; install.sh later hands it to the deploy user
on_device --tty "mkdir -p $(q "$DIR/releases") 2>/dev/null || sudo install -d -o \"\$(id -un)\" $(q "$DIR") $(q "$DIR/releases")"
step "rsync to $REL/"
# node_modules/ is the device's own (step 3): --delete must not touch it
RSYNC=(rsync -a --delete --exclude=/node_modules/ --info=stats1)
# hard-link what the live release already has (path is relative to the destination)
if on_device "test -d $(q "$DIR/current/")"; then RSYNC+=(--link-dest=../../current/); fi
if [ -n "$LOCAL" ]; then "${RSYNC[@]}" "$SRC/" "$REL/"
else "${RSYNC[@]}" --compress -e "${SSH:-ssh}" "$SRC/" "$HOST:$REL/"; fi

# --- 3. dependencies --------------------------------------------------------------
step "bun install --frozen-lockfile --production"
on_device "command -v bun >/dev/null || { echo 'bun not found on the device; install it there: curl -fsSL https://bun.sh/install | bash' >&2; exit 1; }; cd $(q "$REL") && bun install --frozen-lockfile --production"

# --- 4. switch --------------------------------------------------------------------
# rename(2) of a fresh link over the old one: readers see the old or the new
# release, never a missing one
step "switch $DIR/current -> releases/$VERSION"
on_device "cd $(q "$DIR") && touch $(q "releases/$VERSION") && ln -sfn $(q "releases/$VERSION") .current.tmp && mv -Tf .current.tmp current"

# --- 5. service -------------------------------------------------------------------
if [ "$RESTART" = 0 ]; then
  step "service left alone$([ -n "$LOCAL" ] && echo ' (--local)' || echo ' (--no-restart)')"
elif [ "$INSTALL" = 1 ] || ! on_device "systemctl cat arianna.service >/dev/null 2>&1"; then
  step "sudo systemd/install.sh (user, directories, unit; then start)"
  on_device --tty "sudo bash $(q "$DIR/current/systemd/install.sh") --prefix $(q "$DIR") --deploy-user \"\$(id -un)\" --bun \"\$(command -v bun)\""
else
  step "restart arianna (waits for READY=1)"
  on_device --tty "sudo systemctl restart arianna.service && systemctl --no-pager --lines=5 status arianna.service | sed -n '1,3p'"
fi

# --- 6. prune ---------------------------------------------------------------------
# newest first by the time each was switched to (step 4 touches it)
step "keep the newest $KEEP releases"
on_device "cd $(q "$DIR/releases") && live=\$(basename \"\$(readlink -f ../current)\") && ls -1t | tail -n +$((KEEP + 1)) | while read -r r; do [ \"\$r\" = \"\$live\" ] || { echo \"   remove releases/\$r\"; rm -rf -- \"\$r\"; }; done"
step "done: version $VERSION is live in $DIR/current"
