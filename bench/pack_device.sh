#!/usr/bin/env bash
# Packs the GPU build (cmake --preset gpu) into .devcarry/ for a run on a machine with a GPU but without this
# project's build dependencies (gtest, fmt, RapidCheck, CLI11 are linked in or carried): binaries, the shared
# libraries they need that such a machine may lack, and the scripts. Then, there: bench/device_run.sh .devcarry
set -euo pipefail
cd "$(dirname "$0")/.."
b=build/gpu
out=.devcarry
rm -rf "$out" && mkdir -p "$out/lib"
for f in kernels/gpu/gpu_backend_test kernels/gpu/gpu_inprocess_test kernels/gpu/gpu_cases bench/gpu_bench bench/copy_probe props/props; do
  [[ -x $b/$f ]] || { echo "ERROR: $b/$f not built (cmake --build --preset gpu)"; exit 1; }
  cp "$b/$f" "$out/"
  strip --strip-debug "$out/$(basename "$f")"
done
# libfmt is the only non-system shared library the binaries link (Debian's libfmt9).
for lib in $(ldd "$out"/props "$out"/gpu_cases | awk '/libfmt/ {print $3}' | sort -u); do cp -L "$lib" "$out/lib/"; done
cp bench/device_run.sh bench/torch_bench.py bench/block_clock.py "$out/"
# The bug models' shrunk counterexamples, for the sanitizer cross-check (device_run.sh part sanitizer_bugs).
mkdir -p "$out/cases" && cp corpus/cases/bug-*.case "$out/cases/"
grep -qx '/.devcarry/' .git/info/exclude 2>/dev/null || echo '/.devcarry/' >> .git/info/exclude
du -sh "$out"
