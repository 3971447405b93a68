#!/usr/bin/env bash
# Detection benchmark for the bug models (issue 6): for every policy but guarded, runs fuzz_case_cpu from an EMPTY
# corpus with -seed=1..N (at most SECONDS each, P runs at a time) and prints one row per run: time and execs to
# detection, verdict and failure class, and the size of the failing case. Exit 1 if any run found nothing.
set -euo pipefail
usage() { echo "usage: fuzz/detect_bug_models.sh [-b BUILD_DIR] [-n SEEDS] [-t SECONDS] [-P PARALLEL] [POLICY...]"; }
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build/fuzz"; seeds=5; secs=60; par=$(nproc); policies=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -b) build=$(cd "${2:-}" 2>/dev/null && pwd) || { echo "ERROR: -b needs a build directory" >&2; usage >&2; exit 2; }; shift 2 ;;
    -n) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "ERROR: -n needs a positive number" >&2; exit 2; }; seeds=$2; shift 2 ;;
    -t) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "ERROR: -t needs seconds" >&2; exit 2; }; secs=$2; shift 2 ;;
    -P) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "ERROR: -P needs a positive number" >&2; exit 2; }; par=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "ERROR: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) policies+=("$1"); shift ;;
  esac
done
bin="$build/fuzz/fuzz_case_cpu"
[[ -x "$bin" ]] || { echo "ERROR: $bin not found: build the fuzz preset first" >&2; exit 2; }
[[ ${#policies[@]} -gt 0 ]] || policies=(aiter-2d sglang-23974 vllm-26192 lightllm-1467 trtllm-14810 vllm-align)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

one() {  # policy seed -> one result row
  local policy=$1 seed=$2 dir="$work/$1-$2" s e log
  mkdir -p "$dir/corpus"
  log="$dir/log"
  s=$(date +%s%N)
  SG_POLICY=$policy "$bin" -seed="$seed" -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$dir/" "$dir/corpus" >"$log" 2>&1 || true
  e=$(date +%s%N)
  local execs kind numel
  execs=$(sed -n 's/stat::number_of_executed_units: *//p' "$log")
  kind=$(grep -m1 -oE 'verdict=[A-Za-z]+ class=[a-z-]+' "$log" || true)
  numel=$(grep -m1 -oE 'x_numel=[0-9-]+' "$log" | cut -d= -f2 || true)
  printf '%-14s %4s %8s %9s %-44s %s\n' "$policy" "$seed" "$(( (e - s) / 1000000 ))" "${execs:-?}" \
    "${kind:-NOT DETECTED}" "${numel:--}"
}
export -f one; export bin work secs

echo "INFO: detect_bug_models: fuzz_case_cpu from an empty corpus, seeds 1..$seeds, at most ${secs}s each, $par at a time"
printf '%-14s %4s %8s %9s %-44s %s\n' policy seed wall_ms execs "verdict / class" x_elements
for p in "${policies[@]}"; do for s in $(seq 1 "$seeds"); do echo "$p $s"; done; done |
  xargs -P "$par" -L 1 bash -c 'one "$@"' _ | sort -k1,1 -k2,2n | tee "$work/results"
if grep -q 'NOT DETECTED' "$work/results"; then
  echo "ERROR: a bug model was not detected"
  exit 1
fi
echo "INFO: every bug model detected in every run"
