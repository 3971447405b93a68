#!/usr/bin/env bash
# CI step (no GPU): compile the device code for NVIDIA sm_90 (nvcc) and AMD gfx90a + gfx940 (Debian's hipcc),
# prove each object holds code for its targets, then run the gpu-labelled tests, which skip on a machine without
# a device ("GPU tests skipped: no device"). Called from .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# hipcc and the HIP/ROCm device libraries it compiles against (Debian bookworm: HIP 5.2).
hip_packages=(hipcc libamdhip64-dev rocm-device-libs libamd-comgr-dev libhsa-runtime-dev)
missing=()
for p in "${hip_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "INFO: installing ${missing[*]}"
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
if [[ ! -x $nvcc ]]; then
  nvcc=$(command -v nvcc || true)
  [[ -n $nvcc ]] || { echo "ERROR: nvcc not found (expected /usr/local/cuda/bin/nvcc; set CUDACXX)"; exit 1; }
fi
echo "INFO: $($nvcc --version | tail -1); hipcc $(dpkg-query -W -f='${Version}' hipcc)"

export CUDACXX=$nvcc
cmake --preset device-check
# Only what the device check needs: the GPU library, its tests and driver, and the hipcc compile-only target.
cmake --build --preset device-check --target strideguard_gpu gpu_backend_test gpu_inprocess_test gpu_cases hip_check

# The sources that define kernels (device_session.hip is host code calling them: no device code of its own).
dir=build/device-check/kernels/gpu
for stem in norm_gpu device_arena; do
  o=$dir/CMakeFiles/strideguard_gpu_device.dir/$stem.hip.o
  grep -aq -- '-arch sm_90' "$o" || { echo "ERROR: $o holds no sm_90 code"; exit 1; }
done
for stem in norm_gpu device_arena; do
  o=$dir/hip_check/$stem.o
  for arch in gfx90a gfx940; do
    grep -aq "amdgcn-amd-amdhsa--$arch" "$o" || { echo "ERROR: $o holds no $arch code"; exit 1; }
  done
done
echo "INFO: device code compiled: sm_90 (nvcc), gfx90a and gfx940 (hipcc)"

if ! nvidia-smi -L >/dev/null 2>&1; then echo "GPU tests skipped: no device"; fi
ctest --preset device-check -L gpu
