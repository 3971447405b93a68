#!/usr/bin/env bash
# Quick start, step 2: every test. Unit tests, property runs, corpus replays and bug-model detection under the
# default and asan presets; libFuzzer targets under the fuzz preset (clang); device code compiled for sm_90,
# gfx90a and gfx940 (no GPU needed; GPU tests run on a GPU machine, see docs/gpu.md).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install_deps.sh
jobs="$(nproc)"
run_workflow() {
  echo "== preset $1"
  cmake --preset "$1" >/dev/null
  cmake --build --preset "$1" -j "$jobs"
  ctest --preset "$1" -j "$jobs"
}
run_workflow default
run_workflow asan
run_workflow fuzz
if [ -x .ci/device_check.sh ]; then
  echo "== device code compile checks"
  .ci/device_check.sh
fi
echo "INFO: all test suites passed"
