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

# The sm_NN of every ELF (cubin) entry in an object's fatbins (nvcc's .nv_fatbin section), whether or not nvcc
# compressed the payloads (it does for large ones: norm_gpu.hip's since stop 21, whose cubin text then no longer
# holds a readable '-arch sm_90'). A fatbin is a 16-byte header (magic 0xBA55ED50, version 1, header size 16, u64
# size of what follows), then entries: u16 kind (2: ELF) at 0, u32 header size at 4, u64 payload size at 8, u32 arch
# at 28, the payload after the header.
fatbin_elf_archs() {
  local o=$1 start off end kind hsize size arch fat
  while read -r start; do
    [[ $(od -An -t u2 -j $((start + 4)) -N 4 "$o" | tr -s ' ') == " 1 16" ]] || continue
    fat=$(od -An -t u8 -j $((start + 8)) -N 8 "$o" | tr -d ' ')
    off=$((start + 16)); end=$((start + 16 + fat))
    while ((off < end)); do
      read -r kind _ hsize <<< "$(od -An -t u2 -j "$off" -N 4 "$o") $(od -An -t u4 -j $((off + 4)) -N 4 "$o")"
      size=$(od -An -t u8 -j $((off + 8)) -N 8 "$o" | tr -d ' ')
      arch=$(od -An -t u4 -j $((off + 28)) -N 4 "$o" | tr -d ' ')
      [[ $kind == 2 ]] && echo "sm_$arch"
      ((hsize > 0)) || break
      off=$((off + hsize + size))
    done
  done < <(LC_ALL=C grep -obUaP '\x50\xED\x55\xBA' "$o" | cut -d: -f1)
}

# The sources that define kernels (device_session.hip is host code calling them: no device code of its own).
dir=build/device-check/kernels/gpu
for stem in norm_gpu device_arena; do
  o=$dir/CMakeFiles/strideguard_gpu_device.dir/$stem.hip.o
  fatbin_elf_archs "$o" | grep -qx sm_90 || { echo "ERROR: $o holds no sm_90 code"; exit 1; }
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
