#!/usr/bin/env bash
# The same seed prints the same output; a failing run's replay commands reproduce the same shrunk case and verdict.
#   usage: reproducibility.sh PROPS WORKDIR
set -euo pipefail
props=$1
work=$2
rm -rf "$work" && mkdir -p "$work/a" "$work/b"
"$props" --seed 7 --tests 40 > "$work/run1.txt" 2>&1
"$props" --seed 7 --tests 40 > "$work/run2.txt" 2>&1
cmp "$work/run1.txt" "$work/run2.txt" || { echo "ERROR: two runs with --seed 7 printed different output"; exit 1; }

# A failing run (a bug model), twice: the same shrunk .case file both times.
for d in a b; do
  "$props" --seed 4 --policy trtllm-14810 --only no_out_of_bounds_access --failure-dir "$work/$d" > "$work/$d.txt" 2>&1 && exit 1
done
cmp "$work"/a/*.case "$work"/b/*.case || { echo "ERROR: the same failing seed shrank to different cases"; exit 1; }
# The printed replay commands reproduce it: --case gives the same verdict, and the --seed line the same case.
case_file=$(ls "$work"/a/*.case)
verdict=$(grep '^# verdict: ' "$case_file" | cut -d' ' -f3)
"$props" --case "$case_file" > "$work/replay.txt" 2>&1 && { echo "ERROR: replayed case passed"; exit 1; }
grep -q "^verdict: $verdict:" "$work/replay.txt" || { echo "ERROR: replay gave another verdict"; cat "$work/replay.txt"; exit 1; }
replay=$(grep '^replay: props --seed' "$work/a.txt" | sed 's/^replay: props //')
mkdir -p "$work/c"
# shellcheck disable=SC2086
"$props" $replay --failure-dir "$work/c" > /dev/null 2>&1 && exit 1
cmp "$case_file" "$work"/c/*.case || { echo "ERROR: the printed --seed replay shrank to another case"; exit 1; }
echo "INFO: runs are reproducible; replay commands reproduce the shrunk case ($verdict)"
