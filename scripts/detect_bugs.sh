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
maximum() { sort -g | tail -1; }
# The documented shape of each policy's counterexample (issue 6): which DETECT lines count as "as expected".
expected() {
  case "$1" in
    sglang-23974) grep 'class=fault' | grep 'residual=yes' | grep -E 'rank=[3-8] ' ;;
    lightllm-1467) grep 'kind=Mismatch' | grep 'rank=2 ' | grep -vE 'last_stride=1$' ;;
    *) grep 'class=fault' ;;
  esac
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# Fuzz part: fuzz/detect_bug_models.sh (one row per policy and seed), run once and aggregated per policy below.
if [ -x "$FUZZ" ]; then
  fuzz/detect_bug_models.sh -b "$(dirname "$(dirname "$FUZZ")")" -n "$FUZZ_SEEDS" -t "$FUZZ_SECONDS" \
    | grep -E '^[a-z0-9-]+ +[0-9]+ ' > "$work/fuzz_rows" || true
fi

printf '| %-13s | %-8s | %-13s | %-15s | %-12s | %-16s | %-24s | %-6s | %-11s | %-9s |\n' policy detected "tests med/max" "wall s med/max" "class" "kind (seed 1)" "shrunk (seed 1)" "shape" "fuzz found" "fuzz s med"
printf '|%s|\n' "---------------|----------|---------------|-----------------|--------------|------------------|--------------------------|--------|-------------|-----------"
for policy in guarded aiter-2d sglang-23974 vllm-26192 lightllm-1467 trtllm-14810 vllm-align; do
  : > "$work/lines"
  for seed in $(seq 1 "$SEEDS"); do
    "$PROPS" --policy "$policy" --seed "$seed" --tests 200 --stop-on-failure --detect-line --failure-dir "$work" \
      2>/dev/null | grep "^DETECT" >> "$work/lines" || true
  done
  found=$(grep -c 'detected=yes' "$work/lines" || true)
  [ "$policy" = guarded ] && found="$(grep -c 'detected=no' "$work/lines" || true) clean"
  tests=$( (grep 'detected=yes' "$work/lines" || true) | field tests | median)/$( (grep 'detected=yes' "$work/lines" || true) | field tests | maximum)
  secs=$( (grep 'detected=yes' "$work/lines" || true) | field seconds | median)/$( (grep 'detected=yes' "$work/lines" || true) | field seconds | maximum)
  shape="$( (grep 'detected=yes' "$work/lines" || true) | (expected "$policy" || true) | wc -l)/$SEEDS"
  first=$( (grep 'detected=yes' "$work/lines" || true) | head -1)
  class=$(echo "$first" | field class)
  kind=$(echo "$first" | field kind)
  shrunk=""
  [ -n "$first" ] && shrunk="rank $(echo "$first" | field rank), numel $(echo "$first" | field numel), res $(echo "$first" | field residual)"
  fuzz_col="(not built)"; fsecs=""
  if [ -s "$work/fuzz_rows" ]; then
    rows=$(awk -v p="$policy" '$1 == p' "$work/fuzz_rows")
    if [ -n "$rows" ]; then
      n=$(echo "$rows" | wc -l)
      hit=$(echo "$rows" | grep -vc 'NOT DETECTED' || true)
      fuzz_col="$hit/$n"
      fsecs=$( (echo "$rows" | grep -v 'NOT DETECTED' || true) | awk '{printf "%.1f\n", $3 / 1000}' | median)
    fi
  fi
  [ "$policy" = guarded ] && shape="-"
  printf '| %-13s | %-8s | %-13s | %-15s | %-12s | %-16s | %-24s | %-6s | %-11s | %-9s |\n' "$policy" "$found/$SEEDS" \
    "${tests}" "${secs}" "${class:--}" "${kind:--}" "${shrunk:--}" "$shape" "$fuzz_col" "${fsecs:--}"
done
