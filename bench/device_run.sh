#!/usr/bin/env bash
# The GPU acceptance and performance run, on the device machine, from binaries packed by bench/pack_device.sh.
#   bench/device_run.sh DIR [part...]     parts: tests cases props bugs sanitizer sanitizer_bugs races bench (default)
#                                         and, on request: compare (DIR/gpu_bench_base: a previous build's gpu_bench,
#                                         run alternately with this one, twice each, then PyTorch), sweep (stage
#                                         budgets, SG_GPU_STAGE_KB; SWEEP_KB, SWEEP_ARGS), ncu (Nsight Compute on
#                                         three cases), sass (cuobjdump), ncu_src (per-instruction counters),
#                                         ncu_metrics (DRAM bytes and stalls per launch setting: NCU_CASES, NCU_CFGS),
#                                         alt (DIR/gpu_bench_alt_*: other builds and this one in turn, two
#                                         passes; ALT_ARGS), races (one block a launch: GPU == CPU, racecheck,
#                                         synccheck), copy (bench/copy_probe: which engine runs cudaMemcpy,
#                                         what copies of the cases' bytes reach), mutant (the overlap tests against
#                                         DIR/gpu_inprocess_test_mutant, built without the kernels' wait),
#                                         memcheck_tests (the launch tests under compute-sanitizer memcheck),
#                                         clock (DIR/gpu_bench_clock: per-block start, first data and end times),
#                                         widths (the same bytes at row widths 128-16384: gpu_bench --shape),
#                                         models (layouts of real models beyond the table, against PyTorch),
#                                         transposed (transposed views, every dtype and op, against PyTorch),
#                                         scalar (the scalar-access layouts, this build against DIR/gpu_bench_base),
#                                         knobs (layouts of your own x builds x launch knobs: KNOB_SHAPES, KNOB_BINS,
#                                         KNOB_SETS, KNOB_TOKENS)
# Logs go to $OUT (or ./device-logs); every part prints its command and the tail of its output.
set -uo pipefail
dir=$(cd "$1" && pwd); shift
parts=${*:-tests cases props bugs sanitizer sanitizer_bugs races bench}
logs=${OUT:-$PWD/device-logs}; mkdir -p "$logs"
export LD_LIBRARY_PATH=$dir/lib:${LD_LIBRARY_PATH:-}
export PATH=/usr/local/cuda/bin:$PATH
status=0
step() {  # step NAME COMMAND...: runs it, logs it, prints the command and the tail
  local name=$1; shift
  echo "=== $name: $*"
  local t0=$SECONDS
  "$@" > "$logs/$name.log" 2>&1; local rc=$?
  tail -n "${TAIL:-12}" "$logs/$name.log"
  echo "=== $name: exit $rc, $((SECONDS - t0)) s"
  [[ $rc -eq 0 ]] || status=1
}
# versus NAME SHAPES BINS SETS TOKENS: layouts ("shape|stride|dtype|flags;...", T for each of TOKENS) x builds (BINS:
# DIR's gpu_bench and any gpu_bench_* beside it) x launch knob settings (SETS: "env assignments;...", "-" for none),
# two passes, every build and setting in turn within a pass, CSVs NAME_<layout>_<build>_<setting>_<pass>.csv; then
# a table NAME_table: the mean time per layout, build and setting, and the first build's first setting's time over
# it (> 1: faster than that).
versus() {
  local name=$1 bins=$3 sets=$4 tokens=$5 pass i j sh shape stride dt f t b set
  local -a vshapes vsets envs
  IFS=';' read -r -a vshapes <<< "$2"
  IFS=';' read -r -a vsets <<< "$sets"
  for pass in 1 2; do
    i=0
    for sh in "${vshapes[@]}"; do
      IFS='|' read -r shape stride dt f <<< "$sh"
      for t in $tokens; do
        i=$((i + 1))
        for b in $bins; do
          j=0
          for set in "${vsets[@]}"; do
            j=$((j + 1))
            envs=(); [[ $set != - ]] && read -r -a envs <<< "$set"
            # shellcheck disable=SC2086  # $f: zero or more arguments
            TAIL=1 step "${name}_${i}_${b}_${j}_$pass" env "${envs[@]}" "$dir/$b" --shape "${shape//T/$t}" \
              --stride "${stride//T/$t}" $f --dtype "$dt" --csv "$logs/${name}_${i}_${b}_${j}_$pass.csv"
          done
        done
      done
    done
  done
  VERSUS_NAME=$name VERSUS_SETS=$sets VERSUS_BINS=$bins TAIL=200 step "${name}_table" python3 - "$logs" <<'PY'
import csv, glob, os, re, sys
from collections import defaultdict
name = os.environ["VERSUS_NAME"]
times, plans, cases = defaultdict(list), {}, {}
for f in glob.glob(os.path.join(sys.argv[1], name + "_*.csv")):
    m = re.match(re.escape(name) + r"_(\d+)_(.+)_(\d+)_(\d)\.csv$", os.path.basename(f))
    for row in csv.DictReader(open(f)):
        key = (int(m.group(1)), m.group(2), int(m.group(3)))
        times[key].append(float(row["us"]))
        plans[key] = row["plan"]
        cases[key[0]] = row["case"] + " " + row["dtype"]
sets, bins = os.environ["VERSUS_SETS"].split(";"), os.environ["VERSUS_BINS"].split()
first = {}
for key in sorted(times, key=lambda k: (k[0], bins.index(k[1]), k[2])):
    i, b, j = key
    mean = sum(times[key]) / len(times[key])
    first.setdefault(i, mean)
    launch = " ".join(w for w in plans[key].split() if w.split("=")[0] in ("lanes", "threads", "kernel", "launch_blocks", "stages"))
    print(f"{cases[i]} | {b} | {sets[j - 1]} | {' '.join(f'{t:.1f}' for t in times[key])} | {mean:.2f} us | "
          f"{first[i] / mean:.3f}x | {launch}")
PY
}
nvidia-smi -L 2>&1 | head -2
for part in $parts; do
  case $part in
    tests)
      step gtest_worker "$dir/gpu_backend_test"
      step gtest_poison "$dir/gpu_inprocess_test" ;;
    cases)
      step gpu_cases "$dir/gpu_cases" --cases 2000 --seed 1
      # The same cases with bulk copies on every launch whose rows allow them (by default only large launches of
      # plain rows get them, and generated cases are small).
      SG_GPU_BULK=1 step gpu_cases_bulk "$dir/gpu_cases" --cases 2000 --seed 1 ;;
    props)
      step props_gpu "$dir/props" --backend gpu --seed 1 --tests 1000 --failure-dir "$logs" ;;
    bugs)
      for p in aiter-2d sglang-23974 vllm-26192 lightllm-1467 trtllm-14810 vllm-align; do
        TAIL=6 step "props_gpu_$p" "$dir/props" --backend gpu --policy "$p" --seed 1 --tests 200 --stop-on-failure \
          --detect-line --expect-failure any --failure-dir "$logs"
      done ;;
    sanitizer)
      # Guarded policy, in-process with mapped poison redzones: memcheck must report 0 errors.
      SG_GPU_MODE=poison step sanitizer_guarded compute-sanitizer --tool memcheck --padding 256 --error-exitcode 3 \
        "$dir/props" --backend gpu --seed 1 --tests 100
      SG_GPU_BULK=1 SG_GPU_MODE=poison step sanitizer_guarded_bulk compute-sanitizer --tool memcheck --padding 256 \
        --error-exitcode 3 "$dir/props" --backend gpu --seed 1 --tests 100
      # A bug model with unmapped guards: memcheck names the bad access before the guard granule would.
      SG_GPU_MODE=inprocess TAIL=25 step sanitizer_aiter compute-sanitizer --tool memcheck --padding 256 \
        "$dir/props" --backend gpu --policy aiter-2d --seed 1 --tests 50 --stop-on-failure --expect-failure any ;;
    races)
      # The grid capped at one block (SG_GPU_MAX_BLOCKS=1), so that a block walks every row group of a launch and
      # reuses its stages and reduction buffers even on small cases: GPU == CPU bytes that way, then
      # compute-sanitizer racecheck (shared-memory hazards) and synccheck (barrier misuse), in-process.
      SG_GPU_MAX_BLOCKS=1 step races_gpu_cases "$dir/gpu_cases" --cases 500 --seed 3
      SG_GPU_MAX_BLOCKS=1 TAIL=4 step races_props "$dir/props" --backend gpu --seed 3 --tests 200
      for tool in racecheck synccheck; do
        SG_GPU_MAX_BLOCKS=1 SG_GPU_MODE=poison TAIL=6 step "races_$tool" compute-sanitizer --tool "$tool" \
          --error-exitcode 3 "$dir/props" --backend gpu --seed 2 --tests 25
        # Rows across warps (their partials and totals in shared memory): the transposed-view launch test.
        TAIL=6 step "races_${tool}_columns" compute-sanitizer --tool "$tool" --error-exitcode 3 \
          "$dir/gpu_inprocess_test" --gtest_filter='GpuPoison.Transposed*'
      done ;;
    sanitizer_bugs)
      # Every bug model's shrunk counterexample, storages placed trailing (flush against an unmapped granule), run
      # twice: under compute-sanitizer memcheck in-process (it must report errors for the faulting models), and in
      # the default worker mode (the guard granule must fault it: a DeviceFault verdict).
      for f in "$dir"/cases/bug-*.case; do
        t="$logs/$(basename "$f" .case).trailing.case"
        # vllm-align's fault is the misaligned base itself: a trailing placement would realign it, so it keeps its own.
        case $f in *vllm-align*) cp "$f" "$t" ;; *) sed 's/place=leading/place=trailing/' "$f" > "$t" ;; esac
        name=$(basename "$f" .case)
        SG_GPU_MODE=inprocess TAIL=3 step "memcheck_$name" compute-sanitizer --tool memcheck \
          "$dir/props" --case "$t" --backend gpu
        TAIL=4 step "guard_$name" "$dir/props" --case "$t" --backend gpu
      done
      status=0 ;;  # the cases are expected to fail; the summary lines are the result
    bench)
      # Graph replays on both sides (GPU time only); two passes of ours, averaged.
      TAIL=3 step gpu_bench_g1 "$dir/gpu_bench" --csv "$logs/ours_g1.csv"
      TAIL=3 step gpu_bench_g2 "$dir/gpu_bench" --csv "$logs/ours_g2.csv"
      TAIL=60 step torch_bench_graph python3 "$dir/torch_bench.py" --ours "$logs/ours_g1.csv" --ours "$logs/ours_g2.csv" \
        --markdown "$logs/table_graph.md" ;;
    compare)
      [[ -x $dir/gpu_bench_base ]] || { echo "ERROR: compare needs $dir/gpu_bench_base"; exit 2; }
      # Base and new alternately, twice each, then PyTorch: graph replays everywhere when the base can (it knows
      # --stream-launches); a base older than that knows only host launches, and then every side uses them.
      base_args=() ours_args=()
      if ! "$dir/gpu_bench_base" --stream-launches --only no-such-case > /dev/null 2>&1; then
        ours_args=(--stream-launches)
      fi
      for pass in 1 2; do
        TAIL=3 step "gpu_bench_base_$pass" "$dir/gpu_bench_base" "${base_args[@]}" --csv "$logs/base$pass.csv"
        TAIL=3 step "gpu_bench_$pass" "$dir/gpu_bench" "${ours_args[@]}" --csv "$logs/ours$pass.csv"
      done
      TAIL=60 step torch_bench python3 "$dir/torch_bench.py" "${ours_args[@]}" --ours "$logs/ours1.csv" \
        --ours "$logs/ours2.csv" --base "$logs/base1.csv" --base "$logs/base2.csv" --markdown "$logs/table.md" ;;
    alt)
      # Other builds' gpu_bench, DIR/gpu_bench_alt_NAME, and this build's, two passes, the builds in turn within
      # each pass (graph timing; ALT_ARGS: more arguments for every run, e.g. --quick), CSVs for comparing by hand.
      for pass in 1 2; do
        for b in "$dir"/gpu_bench_alt_* "$dir/gpu_bench"; do
          [[ -x $b ]] || continue
          # shellcheck disable=SC2086  # ALT_ARGS: several arguments
          TAIL=2 step "$(basename "$b")_$pass" "$b" ${ALT_ARGS:-} --csv "$logs/$(basename "$b")_$pass.csv"
        done
      done ;;
    knobs)
      # Layouts of your own x builds x launch knob settings (versus above): KNOB_SHAPES, KNOB_BINS (default
      # "gpu_bench"), KNOB_SETS (default "-"), KNOB_TOKENS (default "2048 16384").
      versus knobs "${KNOB_SHAPES:-(T,3072)|(3072,1)|bf16|;(T,4096)|(4096,1)|bf16|}" "${KNOB_BINS:-gpu_bench}" \
        "${KNOB_SETS:--}" "${KNOB_TOKENS:-2048 16384}" ;;
    memcheck_tests)
      # The in-process launch tests under memcheck: the pinned shapes of every kernel program, the generated wide
      # rows and transposed views (GPU == CPU there too), poison mode as the tests set it.
      TAIL=8 step memcheck_launch_tests compute-sanitizer --tool memcheck --error-exitcode 3 "$dir/gpu_inprocess_test" \
        --gtest_filter='GpuPoison.LaunchVariants*:GpuPoison.GeneratedWide*:GpuPoison.Transposed*' ;;
    copy)
      # Which engine runs a device-to-device cudaMemcpy, and what copies of the cases' bytes reach by each means
      # (cudaMemcpy(2D)Async, load/store kernels, bulk copies): docs/performance.md, "What a copy reaches".
      TAIL=80 step copy_probe "$dir/copy_probe" ;;
    mutant)
      # DIR/gpu_inprocess_test_mutant: the in-process tests built with the kernels' griddepcontrol.wait removed
      # (docs/performance.md says how); the overlap tests must fail there and pass in this build.
      [[ -x $dir/gpu_inprocess_test_mutant ]] || { echo "ERROR: mutant needs $dir/gpu_inprocess_test_mutant"; exit 2; }
      TAIL=20 step pdl_this_build "$dir/gpu_inprocess_test" --gtest_filter='GpuPdl*'
      TAIL=30 step pdl_mutant "$dir/gpu_inprocess_test_mutant" --gtest_filter='GpuPdl*'
      status=0 ;;  # the mutant is expected to fail; the two logs are the result
    sweep)
      # Stage budgets (SWEEP_KB) x staged blocks a multiprocessor at most (SWEEP_BLOCKS; 0: as many as fit).
      for kb in ${SWEEP_KB:-32 64 128}; do
        for nb in ${SWEEP_BLOCKS:-0}; do
          # shellcheck disable=SC2086  # SWEEP_ARGS: several arguments
          SG_GPU_STAGE_KB=$kb SG_GPU_BLOCKS_PER_SM=$nb TAIL=3 step "sweep_${kb}kb_${nb}b" "$dir/gpu_bench" \
            ${SWEEP_ARGS:---quick} --csv "$logs/sweep_${kb}kb_${nb}b.csv"
        done
      done ;;
    ncu)
      # One launch of each case (past the warm-up), the sections that say where the time goes.
      for c in "contiguous 16384x4096" "qkv Q slice 16384x32x128" "fused add 16384x4096"; do
        TAIL=80 step "ncu_${c// /_}" ncu --clock-control none -k regex:norm_kernel --launch-skip 40 --launch-count 1 \
          --section SpeedOfLight --section Occupancy --section WarpStateStats --section MemoryWorkloadAnalysis \
          --section LaunchStats "$dir/gpu_bench" --only "$c" --dtype bf16
      done ;;
    clock)
      # DIR/gpu_bench_clock (gpu_bench built with -DSG_BLOCK_CLOCK; docs/performance.md "Stop 19" says how): when each
      # block starts, gets its first row group's data and ends, on CLOCK_CASES (bf16), three lone launches each,
      # summarised by block_clock.py: how a launch's time splits into ramp, steady state and tail.
      [[ -x $dir/gpu_bench_clock ]] || { echo "ERROR: clock needs $dir/gpu_bench_clock"; exit 2; }
      mkdir -p "$logs/clock"
      IFS=';' read -r -a cases <<< "${CLOCK_CASES:-contiguous 2048x8192;fused add 2048x4096;qkv K slice 16384x8x128;contiguous 16384x4096}"
      for c in "${cases[@]}"; do
        TAIL=2 step "clock_${c// /_}" "$dir/gpu_bench_clock" --only "$c" --dtype bf16 --block-clock "$logs/clock"
      done
      TAIL=40 step block_clock python3 "$dir/block_clock.py" "$logs/clock" ;;
    widths)
      # The same bytes as rows of every width from 128 to 16384 (bf16; x 32 MiB, then 16 MiB, then fused add with
      # x 16 MiB): does a narrower row, so a smaller last row group a block, end a small launch sooner? A kernel that
      # splits a row across blocks pays only if it does (docs/performance.md, stop 20). Two passes; with
      # DIR/gpu_bench_clock also each shape's per-block clock (block_clock.py).
      widths=${WIDTHS:-"32M:16384 32M:8192 32M:4096 32M:2048 32M:1024 32M:512 32M:256 32M:128 16M:8192 16M:4096 16M:2048 16M:1024 16M:512 16M:128 F16M:4096 F16M:2048 F16M:1024 F16M:512"}
      [[ -x $dir/gpu_bench_clock ]] && mkdir -p "$logs/widths_clock"
      for pass in 1 2; do
        for w in $widths; do
          kind=${w%%:*} h=${w#*:} fused=()
          [[ $kind == F* ]] && fused=(--fused)
          [[ $kind == *32M ]] && elems=$((16 << 20)) || elems=$((8 << 20))
          rows=$((elems / h))
          TAIL=2 step "widths_${kind}_${h}_$pass" "$dir/gpu_bench" --shape "($rows,$h)" --stride "($h,1)" "${fused[@]}" \
            --dtype bf16 --csv "$logs/widths_${kind}_${h}_$pass.csv"
          if [[ $pass == 1 && -x $dir/gpu_bench_clock ]]; then
            TAIL=1 step "widths_clock_${kind}_$h" "$dir/gpu_bench_clock" --shape "($rows,$h)" --stride "($h,1)" \
              "${fused[@]}" --dtype bf16 --block-clock "$logs/widths_clock"
          fi
        done
      done
      [[ -x $dir/gpu_bench_clock ]] && TAIL=80 step widths_block_clock python3 "$dir/block_clock.py" "$logs/widths_clock" ;;
    models)
      # Layouts real models hand a norm, beyond the table (bf16, 2048 and 16384 tokens, two passes, then PyTorch on
      # the same layouts: torch_bench.py --layouts). Each entry: model and tensor | shape with T for the tokens |
      # stride | offset | fused (1: fused add). Packed QKV pitches: (q_heads + 2 kv_heads) x 128.
      models=(
        "Qwen2.5-7B hidden|(T,3584)|(3584,1)|0|1"
        "Qwen3-14B Q slice (40 heads)|(T,40,128)|(7168,128,1)|0|0"
        "Qwen3-14B K slice (8 kv heads)|(T,8,128)|(7168,128,1)|5120|0"
        "Qwen3-32B Q slice (64 heads)|(T,64,128)|(10240,128,1)|0|0"
        "Qwen3-32B K slice (8 kv heads)|(T,8,128)|(10240,128,1)|8192|0"
        "Qwen3-30B-A3B K slice (4 kv heads)|(T,4,128)|(5120,128,1)|4096|0"
        "Qwen3-32B hidden|(T,5120)|(5120,1)|0|1"
        "DeepSeek-V3 hidden|(T,7168)|(7168,1)|0|1"
        "DeepSeek-V3 kv_a_layernorm on the packed kv_a projection|(T,512)|(576,1)|0|0"
        "DeepSeek-V3 q_a_layernorm|(T,1536)|(1536,1)|0|0"
        "Gemma-2-2B hidden|(T,2304)|(2304,1)|0|1"
        "Llama-3.2-3B hidden|(T,3072)|(3072,1)|0|0"
        "row pitch not a multiple of 16 bytes (scalar path)|(T,4096)|(4100,1)|0|0"
        "hidden as the slow dim (transposed view, scalar path)|(T,4096)|(1,T)|0|0"
      )
      mcsv=()
      for pass in 1 2; do
        i=0
        for m in "${models[@]}"; do
          IFS='|' read -r what shape stride offset fused <<< "$m"
          for t in 2048 16384; do
            i=$((i + 1))
            f=(); [[ $fused == 1 ]] && f=(--fused)
            echo "models_${i}: $what, $t tokens"
            TAIL=2 step "models_${i}_$pass" "$dir/gpu_bench" --shape "${shape//T/$t}" --stride "${stride//T/$t}" \
              --offset "$offset" "${f[@]}" --dtype bf16 --csv "$logs/models_${i}_$pass.csv"
            mcsv+=(--ours "$logs/models_${i}_$pass.csv")
          done
        done
      done
      TAIL=40 step models_torch python3 "$dir/torch_bench.py" --layouts "${mcsv[@]}" --markdown "$logs/models.md" ;;
    transposed)
      # Transposed views (hidden the slow dim; rows across warps since stop 21): (T,4096):(1,T) at 2048 and 16384
      # tokens, every dtype, plain, fused and fused with post, two passes, then PyTorch on the same layouts.
      tcsv=()
      for pass in 1 2; do
        i=0
        for t in 2048 16384; do
          for f in "" "--fused" "--fused --post"; do
            i=$((i + 1))
            # shellcheck disable=SC2086  # $f: zero, one or two arguments
            TAIL=4 step "transposed_${i}_$pass" "$dir/gpu_bench" --shape "($t,4096)" --stride "(1,$t)" $f \
              --csv "$logs/transposed_${i}_$pass.csv"
            tcsv+=(--ours "$logs/transposed_${i}_$pass.csv")
          done
        done
      done
      TAIL=30 step transposed_torch python3 "$dir/torch_bench.py" --layouts "${tcsv[@]}" --markdown "$logs/transposed.md" ;;
    scalar)
      # The scalar-access layouts (stop 20's table: pitches 4100 and 4097, every other column, transposed, fused
      # with a 4100 pitch) at 2048 and 16384 tokens, bf16 (4097 also f32): DIR/gpu_bench_base and this build in turn,
      # two passes each, and the table of versus above.
      [[ -x $dir/gpu_bench_base ]] || { echo "ERROR: scalar needs $dir/gpu_bench_base"; exit 2; }
      shapes="(T,4096)|(4100,1)|bf16|;(T,4096)|(4097,1)|bf16|;(T,4096)|(4097,1)|f32|;(T,4096)|(8192,2)|bf16|"
      versus scalar "$shapes;(T,4096)|(1,T)|bf16|;(T,4096)|(4100,1)|bf16|--fused" "gpu_bench_base gpu_bench" - \
        "2048 16384" ;;
    sass)
      # The kernels' machine code (instruction counts per loop, register use), for reading beside ncu_src.
      step sass cuobjdump -sass "$dir/gpu_bench" ;;
    ncu_src)
      # Per-instruction counts and stall samples of the staged kernel on NCU_CASES (default: the QKV Q slice and
      # contiguous 2048x4096), bf16: where the issue slots go.
      IFS=';' read -r -a cases <<< "${NCU_CASES:-qkv Q slice 16384x32x128;contiguous 2048x4096}"
      for c in "${cases[@]}"; do
        rep="$logs/src_${c// /_}"
        TAIL=40 step "ncu_src_${c// /_}" ncu --clock-control none -k regex:norm_kernel --launch-skip 40 --launch-count 1 \
          --section SpeedOfLight --section InstructionStats --section WarpStateStats --section SchedulerStats \
          --section Occupancy --section SourceCounters --import-source no -f -o "$rep" "$dir/gpu_bench" --only "$c" --dtype bf16
        TAIL=5 step "ncu_src_${c// /_}_details" ncu -i "$rep.ncu-rep" --page details
        TAIL=5 step "ncu_src_${c// /_}_sass" ncu -i "$rep.ncu-rep" --page source --csv --print-source sass
      done ;;
    ncu_metrics)
      # DRAM bytes, time, instructions and warp stalls of the norm kernel and the layout copy on NCU_CASES (bf16),
      # under each stage budget : blocks-a-multiprocessor setting in NCU_CFGS (default "32:2 48:2"): what changes
      # between launch settings.
      m=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed
      m=$m,smsp__inst_executed.sum,sm__warps_active.avg.per_cycle_active,lts__t_sectors_op_read.sum,lts__t_sectors_op_write.sum
      m=$m,smsp__average_warp_latency_issue_stalled_long_scoreboard.ratio,smsp__average_warp_latency_issue_stalled_barrier.ratio
      m=$m,smsp__average_warp_latency_issue_stalled_short_scoreboard.ratio,smsp__average_warp_latency_issue_stalled_lg_throttle.ratio
      m=$m,smsp__average_warp_latency_issue_stalled_mio_throttle.ratio,smsp__average_warp_latency_issue_stalled_no_instruction.ratio
      m=$m,smsp__average_warp_latency_issue_stalled_wait.ratio,smsp__average_warp_latency_issue_stalled_drain.ratio
      m=$m,smsp__average_warp_latency_issue_stalled_membar.ratio,smsp__average_warp_latency_issue_stalled_math_pipe_throttle.ratio
      IFS=';' read -r -a cases <<< "${NCU_CASES:-contiguous 16384x4096;qkv Q slice 16384x32x128}"
      for c in "${cases[@]}"; do
        TAIL=30 step "ncu_metrics_${c// /_}_layout_copy" ncu --clock-control none -k regex:layout_copy --launch-skip 40 \
          --launch-count 1 --metrics "$m" "$dir/gpu_bench" --only "$c" --dtype bf16
        for cfg in ${NCU_CFGS:-32:2 48:2}; do
          SG_GPU_STAGE_KB=${cfg%%:*} SG_GPU_BLOCKS_PER_SM=${cfg##*:} TAIL=30 step "ncu_metrics_${c// /_}_${cfg/:/_}" \
            ncu --clock-control none -k regex:norm_kernel --launch-skip 40 --launch-count 1 --metrics "$m" \
            "$dir/gpu_bench" --only "$c" --dtype bf16
        done
      done ;;
    *) echo "ERROR: unknown part $part"; exit 2 ;;
  esac
done
exit $status
