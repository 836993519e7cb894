#!/usr/bin/env bash
# Cross-compile the C core with zig for the devices InnerArianna ships to.
#
#   build/aarch64-cortex_a72/   Raspberry Pi 4 (NEON; the int8 path picks sdot
#                               at load time when the CPU has dotprod)
#   build/aarch64-cortex_a76/   Raspberry Pi 5 (dotprod at compile time)
#   build/x86_64/               any x86-64-v3 Linux box (AVX2 + FMA)
#
# each with libarianna.so and arianna-run, linked against glibc 2.31 so they run
# on Raspberry Pi OS bullseye (2.31) and bookworm (2.36).
#
# The source list, warnings and link libraries come from csrc/Makefile (asked
# through make itself), so there is one list to maintain.
#
# Usage: cross/build.sh [--force] [TARGET...]     (bun run build:cross)
#   TARGET: aarch64-cortex_a72 aarch64-cortex_a76 x86_64 (default: all)
# Env:    ZIG (default "python3 -m ziglang", else zig on PATH)
#         CROSS_OPT (default -O3), JOBS (parallel compiles, default 2)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CSRC="$ROOT/csrc"
SCRIPT=cross/build.sh
. "$ROOT/systemd/script-args.sh"
JOBS="${JOBS:-2}"
OPT="${CROSS_OPT:--O3}"
FORCE=0
TARGETS=()
for a in "$@"; do
  case "$a" in
    --force|-f) FORCE=1 ;;
    aarch64-cortex_a72|aarch64-cortex_a76|x86_64) TARGETS+=("$a") ;;
    *) other_arg "$a" ;;
  esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(aarch64-cortex_a72 aarch64-cortex_a76 x86_64)

# --- zig ----------------------------------------------------------------------
if [ -n "${ZIG:-}" ]; then
  read -r -a ZIGCMD <<<"$ZIG"
elif python3 -c 'import ziglang' >/dev/null 2>&1; then
  ZIGCMD=(python3 -m ziglang)
elif command -v zig >/dev/null 2>&1; then
  ZIGCMD=(zig)
else
  echo "cross/build.sh: zig not found; install it with: python3 -m pip install ziglang==0.17.0" >&2
  exit 1
fi
ZIGVER="$("${ZIGCMD[@]}" version)"

# --- what csrc/Makefile builds --------------------------------------------------
mkvar() { # mkvar ARCH VAR -> the Makefile's value of VAR for that ARCH
  make -s --no-print-directory -C "$CSRC" --eval '__print-%: ; @echo $($*)' \
    "__print-$2" ARCH="$1" ARCHFLAGS= CFLAGS=
}
BASEFLAGS="$(mkvar x86_64 BASEFLAGS)"
LDLIBS="$(mkvar x86_64 LDLIBS)"
HEADERS="$(mkvar x86_64 HEADERS)"
read -r -a BASEFLAGS_A <<<"$BASEFLAGS"
read -r -a LDLIBS_A <<<"$LDLIBS"

# One build at a time per tree (bun test and bun run bench may both call us).
mkdir -p "$ROOT/build"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$ROOT/build/.cross.lock"
  flock 9
fi

# newer_than OUT FILE... : true when OUT exists and is newer than every FILE
newer_than() {
  local out="$1"; shift
  [ -e "$out" ] || return 1
  local f
  for f in "$@"; do [ "$f" -nt "$out" ] && return 1; done
  return 0
}

build_target() {
  local name="$1" ztarget mcpu arch
  case "$name" in
    aarch64-cortex_a72) ztarget=aarch64-linux-gnu.2.31; mcpu=cortex_a72; arch=aarch64 ;;
    aarch64-cortex_a76) ztarget=aarch64-linux-gnu.2.31; mcpu=cortex_a76; arch=aarch64 ;;
    x86_64)             ztarget=x86_64-linux-gnu.2.31;  mcpu=x86_64_v3;  arch=x86_64 ;;
  esac
  local out="$ROOT/build/$name" obj="$ROOT/build/$name/obj"
  local srcs; read -r -a srcs <<<"$(mkvar "$arch" CORE_SRC)"
  local flags=(-target "$ztarget" "-mcpu=$mcpu" $OPT "${BASEFLAGS_A[@]}")
  local sig="zig $ZIGVER ${flags[*]} | ${srcs[*]} | ${LDLIBS_A[*]}"
  mkdir -p "$obj"

  # Rebuild when a source, a header, this script, the Makefile or the flags changed.
  local deps=("$0" "$CSRC/Makefile" "$CSRC/runner.c")
  local s; for s in "${srcs[@]}" $HEADERS; do deps+=("$CSRC/$s"); done
  local old_sig=""; [ -f "$out/.flags" ] && old_sig="$(cat "$out/.flags")"
  if [ "$FORCE" = 0 ] && [ "$sig" = "$old_sig" ] \
     && newer_than "$out/libarianna.so" "${deps[@]}" \
     && newer_than "$out/arianna-run" "${deps[@]}"; then
    echo "cross: $name up to date ($ztarget -mcpu=$mcpu)"
    return 0
  fi

  local t0=$SECONDS objs=() running=0
  for s in "${srcs[@]}" runner.c; do
    local o="$obj/${s%.c}.o"
    [ "$s" = runner.c ] || objs+=("$o")
    "${ZIGCMD[@]}" cc "${flags[@]}" -c -o "$o" "$CSRC/$s" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
  done
  while [ "$running" -gt 0 ]; do wait -n; running=$((running - 1)); done

  "${ZIGCMD[@]}" cc "${flags[@]}" -shared -o "$out/libarianna.so" "${objs[@]}" "${LDLIBS_A[@]}"
  "${ZIGCMD[@]}" cc "${flags[@]}" -o "$out/arianna-run" "$obj/runner.o" "${objs[@]}" "${LDLIBS_A[@]}"
  echo "$sig" >"$out/.flags"
  echo "cross: $name built in $((SECONDS - t0))s ($ztarget -mcpu=$mcpu, $(wc -c <"$out/libarianna.so") B lib) -> build/$name/"
}

for t in "${TARGETS[@]}"; do build_target "$t"; done
