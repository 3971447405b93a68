#!/usr/bin/env bash
# Continuous fuzzing for a time budget: each target runs in libFuzzer fork mode over N jobs from its corpus,
# new coverage is merged back into corpus/<target>/, crashes are minimised, deduplicated by failure signature and
# turned into .case files with a replay command; final stats are printed. Exit 1 when a crash was found that is
# not already a regression in corpus/cases/ (with --expect-crash: exit 1 when none was found), 2 on usage errors.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: fuzz/run_fuzz.sh [options] [TARGET...]
  -b DIR        build tree with the libFuzzer targets (default: build/fuzz, the fuzz preset)
  -t SECONDS    fuzzing time per target (default: 600)
  -j JOBS       fork-mode jobs per target (default: number of cores)
  -p POLICY     dispatcher under test, as SG_POLICY (default: $SG_POLICY or guarded)
  -s SEED       libFuzzer -seed (default: 1)
  -w DIR        work directory: new inputs, crashes, logs, .case files (default: BUILD/fuzz-work)
  --no-merge    leave corpus/<target>/ untouched
  --empty       start from an empty corpus (detection runs) instead of corpus/<target>/
  --expect-crash  succeed only if a crash is found (bug-model policies)
TARGETS default to fuzz_planner and fuzz_case_cpu, plus fuzz_case_gpu when it was built.
EOF
}

die_usage() { echo "ERROR: $*" >&2; usage >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build/fuzz"
seconds=600
jobs=$(nproc)
policy="${SG_POLICY:-guarded}"
seed=1
work=""
merge=1
empty=0
expect_crash=0
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -b) [[ $# -ge 2 ]] || die_usage "-b needs a directory"; build=$(cd "$2" 2>/dev/null && pwd) || die_usage "-b $2: no such directory"; shift 2 ;;
    -t) [[ "${2:-}" =~ ^[0-9]+$ ]] || die_usage "-t needs a number of seconds"; seconds=$2; shift 2 ;;
    -j) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die_usage "-j needs a positive number"; jobs=$2; shift 2 ;;
    -p) [[ $# -ge 2 ]] || die_usage "-p needs a policy"; policy=$2; shift 2 ;;
    -s) [[ "${2:-}" =~ ^[0-9]+$ ]] || die_usage "-s needs a number"; seed=$2; shift 2 ;;
    -w) [[ $# -ge 2 ]] || die_usage "-w needs a directory"; work=$2; shift 2 ;;
    --no-merge) merge=0; shift ;;
    --empty) empty=1; merge=0; shift ;;
    --expect-crash) expect_crash=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die_usage "unknown option $1" ;;
    *) targets+=("$1"); shift ;;
  esac
done
work="${work:-$build/fuzz-work}"
bin_dir="$build/fuzz"
[[ -x "$bin_dir/crash_to_case" ]] || die_usage "$bin_dir/crash_to_case not found: build the fuzz preset first (cmake --preset fuzz && cmake --build --preset fuzz)"
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(fuzz_planner fuzz_case_cpu)
  [[ -x "$bin_dir/fuzz_case_gpu" ]] && targets+=(fuzz_case_gpu)
fi
for t in "${targets[@]}"; do
  [[ -x "$bin_dir/$t" ]] || die_usage "target $t not built in $bin_dir"
done
if ! "$bin_dir/crash_to_case" --policy "$policy" /dev/null >/dev/null 2>&1; then
  die_usage "unknown policy '$policy' (see props --list)"
fi

# Existing regressions, normalised (comments and blank lines dropped), so a crash that is already one is not new.
known_cases() {
  for f in "$root"/corpus/cases/*.case; do
    [[ -f "$f" ]] && grep -v '^#' "$f" | grep -v '^[[:space:]]*$' | md5sum | cut -d' ' -f1
  done
}
known=$(known_cases | sort -u)

new_crashes=0
any_crash=0
summary=()
echo "INFO: run_fuzz: policy=$policy seconds=$seconds jobs=$jobs seed=$seed work=$work"
for t in "${targets[@]}"; do
  bin="$bin_dir/$t"
  corpus="$root/corpus/$t"
  [[ "$t" == fuzz_case_gpu ]] && corpus="$root/corpus/fuzz_case_cpu"
  kind=case
  [[ "$t" == fuzz_planner ]] && kind=planner
  dict=()
  [[ -f "$root/corpus/$t.dict" ]] && dict=(-dict="$root/corpus/$t.dict")
  tw="$work/$t"
  rm -rf "$tw"
  mkdir -p "$tw/corpus" "$tw/crashes" "$tw/min" "$tw/cases"
  seeds=("$corpus")
  [[ $empty -eq 1 ]] && seeds=()
  before=$(find "$corpus" -type f 2>/dev/null | wc -l)
  echo "INFO: $t: fuzzing for ${seconds}s with $jobs job(s) from ${seeds[*]:-an empty corpus}"
  set +e
  SG_POLICY="$policy" "$bin" -fork="$jobs" -max_total_time="$seconds" -seed="$seed" -ignore_crashes=1 \
    -ignore_timeouts=1 -ignore_ooms=1 -print_final_stats=1 -artifact_prefix="$tw/crashes/" "${dict[@]}" \
    "$tw/corpus" "${seeds[@]}" >"$tw/fuzz.log" 2>&1
  set -e
  # Fork mode's progress lines: "#N: cov: C ft: F corp: K exec/s: E oom/timeout/crash: a/b/c time: Ts job: J".
  last=$(grep -E '^#[0-9]+: cov:' "$tw/fuzz.log" | tail -1 || true)
  execs=$(sed -nE 's/^#([0-9]+):.*/\1/p' <<<"$last")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  eps=$(sed -nE 's/.* exec\/s:? ([0-9]+).*/\1/p' <<<"$last")
  if [[ $merge -eq 1 ]]; then
    SG_POLICY=guarded "$bin" -merge=1 "${dict[@]}" "$corpus" "$tw/corpus" >"$tw/merge.log" 2>&1 ||
      echo "WARNING: $t: merge failed, see $tw/merge.log"
  fi
  after=$(find "$corpus" -type f 2>/dev/null | wc -l)

  # Crashes: sign each (one fast replay), keep the smallest input per signature, minimise those, convert.
  # The signature is the target's own report line (verdict, class, policy, op, rank; or the planner's check up to
  # its first number), else the sanitizer's summary.
  signature() {
    local report sig
    report=$(SG_POLICY="$policy" "$bin" -runs=1 "$1" 2>&1 || true)
    sig=$(grep -m1 -E 'ERROR: strideguard-fuzz: (verdict|planner)' <<<"$report" |
          sed -E 's/.*ERROR: strideguard-fuzz: //; s/ x_numel=[0-9-]+//; s/^(planner: policy=[^:]*: [^0-9]*).*/\1/' || true)
    [[ -n "$sig" ]] || sig=$(grep -m1 -E 'SUMMARY: ' <<<"$report" | sed -E 's/0x[0-9a-f]+/ADDR/g' || true)
    [[ -n "$sig" ]] || sig="$(basename "${1%%-*}") (no report)"
    echo "$sig"
  }
  declare -A best=()
  declare -A best_size=()
  for f in "$tw"/crashes/crash-* "$tw"/crashes/timeout-* "$tw"/crashes/oom-*; do
    [[ -f "$f" ]] || continue
    any_crash=1
    sig=$(signature "$f")
    size=$(stat -c %s "$f")
    if [[ -z "${best[$sig]:-}" || $size -lt ${best_size[$sig]} ]]; then
      best[$sig]=$f
      best_size[$sig]=$size
    fi
  done
  unique=0
  for sig in "${!best[@]}"; do
    f=${best[$sig]}
    name=$(basename "$f")
    min="$tw/min/$name"
    if [[ "$name" == crash-* ]]; then
      SG_POLICY="$policy" "$bin" -minimize_crash=1 -max_total_time=15 -exact_artifact_path="$min" "$f" \
        >"$tw/min/$name.log" 2>&1 || true
    fi
    [[ -f "$min" ]] || cp "$f" "$min"
    unique=$((unique + 1))
    case_file="$tw/cases/$t-$unique.case"
    "$bin_dir/crash_to_case" --target "$kind" --policy "$policy" "$min" >"$case_file"
    body=$(grep -v '^#' "$case_file" | grep -v '^[[:space:]]*$' | md5sum | cut -d' ' -f1)
    if grep -qx "$body" <<<"$known"; then
      echo "INFO: $t: known crash (already in corpus/cases/): $sig"
      continue
    fi
    new_crashes=$((new_crashes + 1))
    echo "ERROR: $t: new crash: $sig"
    echo "  input:  $min"
    echo "  case:   $case_file"
    echo "  replay: props --case $case_file     (or: SG_POLICY=$policy $bin $min)"
  done
  unset best best_size
  summary+=("$(printf '%-14s %10s %8s %7s %8s %6s -> %-6s %s' "$t" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$before" "$after" "$unique")")
done

echo "INFO: run_fuzz: final stats (policy=$policy, ${seconds}s per target, $jobs job(s); logs in $work/TARGET/fuzz.log)"
printf '%-14s %10s %8s %7s %8s %16s %s\n' target execs exec/s cov features "corpus before->after" unique_crashes
for line in "${summary[@]}"; do echo "$line"; done
if [[ $expect_crash -eq 1 ]]; then
  if [[ $any_crash -eq 1 ]]; then echo "INFO: expected crash found"; exit 0; fi
  echo "ERROR: no crash found under policy $policy"
  exit 1
fi
if [[ $new_crashes -gt 0 ]]; then
  echo "ERROR: $new_crashes new crash(es): add each .case above to corpus/cases/ once understood"
  exit 1
fi
echo "INFO: no new crash"
