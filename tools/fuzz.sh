#!/usr/bin/env bash
# bun run fuzz — libFuzzer (clang, ASan + UBSan) over the model loader and the
# tokenizer, bounded in time. FUZZ_SECONDS sets the time per target (default
# 300). Exits non-zero if any target crashes; the crashing input is left in
# build/fuzz/ and should become a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-300}
out=build/fuzz
make -s -C csrc fuzz
mkdir -p "$out/corpus/loader" "$out/corpus/tokenizer"
[ -n "$(ls -A "$out/corpus/loader")" ] || "$out/fuzz_seeds" "$out/corpus/loader"

total=0
for target in "$out"/fuzz_*; do
  name=$(basename "$target")
  case "$name" in fuzz_seeds | *.*) continue ;; esac # the seed writer, logs
  corpus="$out/corpus/${name#fuzz_}"
  mkdir -p "$corpus"
  echo "fuzz: $name for ${seconds}s"
  log="$out/$name.log"
  if ! (cd "$out" && "./$name" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
          "corpus/${name#fuzz_}" >"$name.log" 2>&1); then
    tail -n 40 "$log"
    echo "fuzz: $name CRASHED — see $out (crash-* inputs)" >&2
    exit 1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  total=$((total + execs))
  echo "fuzz: $name ok, $execs executions, 0 crashes"
done
echo "fuzz: $total executions in all, 0 crashes"
