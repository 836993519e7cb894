#!/usr/bin/env bash
# bun run fuzz — libFuzzer (clang, ASan + UBSan) over the model loader and the
# tokenizer, then tools/fuzz-bin.ts over the IABN bin parser.
#
#   FUZZ_SECONDS=300            time per target (the default bound)
#   FUZZ_RUNS=10000000          executions per target instead of a time bound
#   FUZZ_JOBS=16                parallel libFuzzer processes per target (they
#                               share the corpus; FUZZ_RUNS is split between them)
#
# Seeds: the committed corpus in test/corpus/<target>; what the fuzzers learn
# goes to build/fuzz/corpus/<target>. Exits non-zero if any target crashes; the
# crashing input is left in build/fuzz/ and should become a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-300}
runs=${FUZZ_RUNS:-}
jobs=${FUZZ_JOBS:-1}
out=build/fuzz
make -s -C csrc fuzz

total=0
for target in "$out"/fuzz_*; do
  name=$(basename "$target")
  case "$name" in *.*) continue ;; esac # logs
  short=${name#fuzz_}
  mkdir -p "$out/corpus/$short"
  if [ -n "$runs" ]; then
    bound="-runs=$(( (runs + jobs - 1) / jobs ))" label="$runs executions"
  else
    bound="-max_total_time=$seconds" label="${seconds}s"
  fi
  echo "fuzz: $name, $jobs job(s), $label"
  pids=()
  for j in $(seq 1 "$jobs"); do
    (cd "$out" && exec "./$name" "$bound" -seed="$j" -print_final_stats=1 -rss_limit_mb=2048 \
        "corpus/$short" "../../test/corpus/$short" >"$name.$j.log" 2>&1) &
    pids+=($!)
  done
  failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  execs=0
  for j in $(seq 1 "$jobs"); do
    n=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$name.$j.log" | grep -o '[0-9]*$' || echo 0)
    execs=$((execs + n))
  done
  if [ "$failed" != 0 ]; then
    for j in $(seq 1 "$jobs"); do grep -q -E 'ERROR|SUMMARY|crash-' "$out/$name.$j.log" && tail -n 40 "$out/$name.$j.log"; done
    echo "fuzz: $name CRASHED — see $out (crash-* inputs)" >&2
    exit 1
  fi
  total=$((total + execs))
  echo "fuzz: $name ok, $execs executions, 0 crashes"
done

# the bin parser is TypeScript: a contract fuzzer, not libFuzzer (see tools/fuzz-bin.ts)
if [ -n "$runs" ]; then bin_bound=(--runs "$runs"); else bin_bound=(--seconds "$seconds" --runs 1000000000); fi
bin_out=$(bun tools/fuzz-bin.ts "${bin_bound[@]}") || { echo "$bin_out"; echo "fuzz: bin parser FAILED — see build/fuzz/crashes-bin" >&2; exit 1; }
echo "$bin_out"
bin_execs=$(tail -n 1 <<<"$bin_out" | grep -o '^fuzz-bin: [0-9]*' | grep -o '[0-9]*$')
echo "fuzz: bin ok, $bin_execs executions, 0 failures"
total=$((total + bin_execs))
echo "fuzz: $total executions in all, 0 crashes"
