#!/usr/bin/env bash
# Detection benchmark (docs/bug-models.md): for every policy, props over 20 consecutive seeds (200 tests each,
# stop at the first failing property) and the whole-case CPU fuzz target from an empty corpus with fixed seeds
# (60 s budget each). Prints one table: detected, median tests/execs and wall time to detection, failure kind,
# size of the shrunk counterexample.
#   usage: scripts/detect_bugs.sh [props-binary] [fuzz-binary]   (defaults: build/default, build/fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
PROPS=${1:-build/default/props/props}
FUZZ=${2:-build/fuzz/fuzz/fuzz_case_cpu}
SEEDS=${SEEDS:-20}
FUZZ_SEEDS=${FUZZ_SEEDS:-5}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "-"; exit} if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

printf '%-14s | %-9s %-6s %-7s %-8s %-26s %-12s | %-9s %-9s %-8s\n' policy "props" tests wall_s class "kind (first seed)" "shrunk" "fuzz" execs wall_s
printf -- '---------------+-%s-+-%s\n' "$(printf '%.0s-' {1..76})" "$(printf '%.0s-' {1..28})"
for policy in guarded aiter-2d sglang-23974 vllm-26192 lightllm-1467 trtllm-14810 vllm-align; do
  : > "$work/lines"
  for seed in $(seq 1 "$SEEDS"); do
    "$PROPS" --policy "$policy" --seed "$seed" --tests 200 --stop-on-failure --detect-line --failure-dir "$work" \
      | grep '^DETECT' >> "$work/lines" || true
  done
  found=$(grep -c 'detected=yes' "$work/lines" || true)
  tests=$(grep 'detected=yes' "$work/lines" | field tests | median)
  secs=$(grep 'detected=yes' "$work/lines" | field seconds | median)
  first=$(grep 'detected=yes' "$work/lines" | head -1 || true)
  class=$(echo "$first" | field class)
  kind=$(echo "$first" | field kind)
  shrunk=""
  [ -n "$first" ] && shrunk="rank$(echo "$first" | field rank) n=$(echo "$first" | field numel) res=$(echo "$first" | field residual)"
  fuzz_found=0; execs=""; fsecs=""
  if [ -x "$FUZZ" ]; then
    : > "$work/fz"
    for seed in $(seq 1 "$FUZZ_SEEDS"); do
      corpus="$work/corpus-$policy-$seed"; mkdir -p "$corpus"
      start=$(date +%s.%N)
      if SG_POLICY=$policy "$FUZZ" -seed="$seed" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
           -artifact_prefix="$work/" "$corpus" > "$work/fuzz.log" 2>&1; then
        :
      else
        end=$(date +%s.%N)
        n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
        awk -v n="$n" -v a="$start" -v b="$end" 'BEGIN {printf "%s %.1f\n", n, b - a}' >> "$work/fz"
      fi
    done
    fuzz_found=$(wc -l < "$work/fz")
    execs=$(awk '{print $1}' "$work/fz" | median)
    fsecs=$(awk '{print $2}' "$work/fz" | median)
    fuzz_col="$fuzz_found/$FUZZ_SEEDS"
  else
    fuzz_col="(not built)"
  fi
  printf '%-14s | %-9s %-6s %-7s %-8s %-26s %-12s | %-9s %-9s %-8s\n' "$policy" "$found/$SEEDS" "${tests:--}" \
    "${secs:--}" "${class:--}" "${kind:--}" "${shrunk:--}" "$fuzz_col" "${execs:--}" "${fsecs:--}"
done
