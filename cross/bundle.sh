#!/usr/bin/env bash
# Build every target and pack a deployable bundle:
#
#   build/bundle/inner-arianna-<version>.tar.gz   (+ .sha256, and LATEST naming it)
#
# holding one directory inner-arianna-<version>/ with what the device runs:
# src/, package.json, bun.lock, bunfig.toml, tsconfig.json, README.md,
# build/{aarch64-cortex_a72,aarch64-cortex_a76,x86_64}/{libarianna.so,arianna-run},
# models/default/, systemd/ and a VERSION file. No tests, trainer, data or
# node_modules: the device runs `bun install --production` (cross/deploy.sh).
#
# Usage: cross/bundle.sh [--out DIR] [--no-build]      (bun run bundle)
#   --out DIR    where the tarball goes (default build/bundle)
#   --no-build   pack the cross builds already in build/ (they must exist)
# Env:   BUNDLE_VERSION  the version (default: package.json version, git commit,
#                        and a UTC time stamp when the tree has local changes)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT=cross/bundle.sh
. "$ROOT/systemd/script-args.sh"
OUT="$ROOT/build/bundle"
BUILD=1
TARGETS=(aarch64-cortex_a72 aarch64-cortex_a76 x86_64)
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$(mkdir -p "${2:?--out needs a directory}" && cd "$2" && pwd)"; shift ;;
    --no-build) BUILD=0 ;;
    *) other_arg "$1" ;;
  esac
  shift
done
step() { echo "== bundle: $*"; }
cd "$ROOT"

# --- version ---------------------------------------------------------------------
version="${BUNDLE_VERSION:-}"
if [ -z "$version" ]; then
  version="$(bun -e 'console.log(require("./package.json").version)')"
  if git rev-parse --git-dir >/dev/null 2>&1; then
    version+="-g$(git rev-parse --short=8 HEAD)"
    # a tree with local changes gets a unique name: a deploy never overwrites a release
    [ -z "$(git status --porcelain -- src package.json bun.lock csrc systemd models 2>/dev/null)" ] \
      || version+="-dirty.$(date -u +%Y%m%d%H%M%S)"
  else
    version+="-$(date -u +%Y%m%d%H%M%S)"
  fi
fi
case "$version" in *[!A-Za-z0-9._+-]*|"") echo "cross/bundle.sh: bad version '$version'" >&2; exit 2 ;; esac
NAME="inner-arianna-$version"
step "version $version"

# --- build -----------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  step "cross/build.sh ${TARGETS[*]}"
  bash "$ROOT/cross/build.sh" "${TARGETS[@]}"
fi
for t in "${TARGETS[@]}"; do
  for f in libarianna.so arianna-run; do
    [ -f "build/$t/$f" ] || die "build/$t/$f is missing (run without --no-build)"
  done
done
if [ ! -f models/default/model.bin ] || [ ! -f models/default/tokenizer.bin ]; then
  # the device still starts once a kernel is deployed to ARIANNA_HOME/models/current
  echo "== bundle: WARNING: models/default has no model.bin + tokenizer.bin; the bundle ships no default kernel" >&2
fi

# --- stage -----------------------------------------------------------------------
STAGE="$OUT/.stage"
rm -rf "$STAGE"
mkdir -p "$STAGE/$NAME"
step "stage $NAME/"
files=(src package.json bun.lock bunfig.toml tsconfig.json README.md systemd models/default)
for t in "${TARGETS[@]}"; do files+=("build/$t/libarianna.so" "build/$t/arianna-run"); done
present=()
for f in "${files[@]}"; do [ -e "$f" ] && present+=("$f"); done
# -R keeps the relative paths; tests and editor/OS litter stay behind
rsync -aR --exclude '*.test.ts' --exclude '.DS_Store' --exclude '*~' --exclude '__pycache__' \
  "${present[@]}" "$STAGE/$NAME/"
echo "$version" >"$STAGE/$NAME/VERSION"

# --- pack ------------------------------------------------------------------------
mkdir -p "$OUT"
TAR="$OUT/$NAME.tar.gz"
step "pack $TAR"
tar -C "$STAGE" --sort=name --owner=0 --group=0 --numeric-owner -czf "$TAR.tmp" "$NAME"
mv -f "$TAR.tmp" "$TAR"
(cd "$OUT" && sha256sum "$NAME.tar.gz" >"$NAME.tar.gz.sha256")
echo "$NAME.tar.gz" >"$OUT/LATEST"
rm -rf "$STAGE"
step "done: $TAR ($(du -h "$TAR" | cut -f1), $(tar -tzf "$TAR" | grep -vc '/$') files)"
