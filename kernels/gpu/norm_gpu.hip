// The RMSNorm / fused-add RMSNorm kernel on a GPU: RowProgram's pass1, the row reduction, pass2, per thread.
//
// Written in HIP; nvcc compiles it through kernels/gpu/hip_compat.hpp (-x cu), hipcc as is. The reduction adds
// the same numbers in the same order as reduce_row_emulated() in kernels/norm_kernel.hpp, which is what the CPU
// backend runs, so a GPU run and a CPU run of one plan write bit-identical bytes:
//   1. within each 32-lane group, a butterfly: v += shfl_xor(v, d) for d = min(lanes, 32)/2 .. 1 (every lane of a
//      row's group ends with the same sum, because IEEE addition commutes exactly);
//   2. rows wider than 32 lanes: group sums through shared memory, added by every thread in index order,
//      starting from 0.
// Rows are handled grid-stride over row groups, as emulate_grid() does.
#include "kernels/gpu/hip_compat.hpp"

#include <cstring>

#include "kernels/gpu/norm_gpu.hpp"
#include "kernels/norm_kernel.hpp"

namespace strideguard::gpu {
namespace {

// The memory accessor the kernel hands to RowProgram: raw accesses, nothing checked (the planner proved them).
// A chunk of 16 bytes is one 16-byte access (the planner proved its alignment), anything else one element at a
// time, exactly the accesses the CPU backend checks.
struct GpuMem {
  template <int N, class S>
  __host__ __device__ void load(OperandId, const S* base, std::int64_t index, S (&dst)[N]) const {
    if constexpr (N * sizeof(S) == 16) {
      const uint4 v = *reinterpret_cast<const uint4*>(base + index);
      std::memcpy(dst, &v, sizeof v);  // a register move, not a call: sizes are constants
    } else {
      for (int j = 0; j < N; ++j) dst[j] = base[index + j];
    }
  }

  template <int N, class S>
  __host__ __device__ void store(OperandId, S* base, std::int64_t index, const S (&src)[N]) const {
    if constexpr (N * sizeof(S) == 16) {
      uint4 v;
      std::memcpy(&v, src, sizeof v);
      *reinterpret_cast<uint4*>(base + index) = v;
    } else {
      for (int j = 0; j < N; ++j) base[index + j] = src[j];
    }
  }
};

// Grids larger than this walk the remaining row groups grid-stride; 2^31 - 1 is the x-dimension limit of both
// CUDA and HIP, and a grid this large already keeps every multiprocessor busy.
constexpr std::int64_t kMaxGridBlocks = 2147483647;

// At least 3 blocks of 256 threads per multiprocessor caps registers at 80: the plain vector variants need 72-74,
// the fused ones 80 with a few bytes spilled (at 128 registers only 2 blocks fit, and fused add ran at 36-42% of
// the copy ceiling on an H100: too few rows in flight; docs/performance.md). The scalar variants, for the strided
// layouts, spill more; they are latency-bound on their scattered accesses anyway.
template <class Prog>
__global__ void __launch_bounds__(kMaxLanes, 3)
    norm_kernel(SG_GRID_CONSTANT const KernelArgs a, std::int64_t groups, unsigned* blocks_ran) {
  __shared__ float group_sums[kMaxLanes / kReduceGroup];
  const int t = static_cast<int>(threadIdx.x);
  const int lanes = a.lanes;
  const int rows_per_block = a.threads_per_block / lanes;
  const int lane = t % lanes;
  GpuMem m;
  if (blocks_ran != nullptr && t == 0) atomicAdd(blocks_ran, 1u);
  for (std::int64_t group = blockIdx.x; group < groups; group += gridDim.x) {
    const std::int64_t row = group * rows_per_block + t / lanes;
    const bool live = row < a.rows;
    typename Prog::State st;
    st.partial = 0.f;
    if (live) Prog::pass1(a, m, row, lane, st);
    // Dead rows (past a.rows in the last group) still shuffle: every lane of a warp takes part in every exchange.
    float v = st.partial;
    const int g = lanes < kReduceGroup ? lanes : kReduceGroup;
    for (int d = g / 2; d >= 1; d /= 2) v = add_rn(v, sg_shfl_xor(v, d, kReduceGroup));
    float total = v;
    if (lanes > kReduceGroup) {
      if ((t & (kReduceGroup - 1)) == 0) group_sums[t / kReduceGroup] = v;
      __syncthreads();
      const int first = (t / lanes) * (lanes / kReduceGroup);
      total = 0.f;
      for (int i = 0; i < lanes / kReduceGroup; ++i) total = add_rn(total, group_sums[first + i]);
      __syncthreads();  // group_sums is rewritten by the next row group
    }
    if (live) Prog::pass2(a, m, row, lane, total, st);
  }
}

}  // namespace

std::int64_t launch_blocks(const Plan& p) {
  if (p.grid_blocks <= 0) return 0;
  const std::int64_t groups = p.args.row_groups();
  return groups < kMaxGridBlocks ? groups : kMaxGridBlocks;
}

int launch_norm(const Plan& p, void* stream, unsigned* blocks_ran) {
  const std::int64_t blocks = launch_blocks(p);
  if (blocks == 0) return hipSuccess;
  const std::int64_t groups = p.args.row_groups();
  const auto s = static_cast<hipStream_t>(stream);
  visit_program(p.dtype, p.vector, p.op == Op::kFusedAddRmsNorm, [&]<class Prog>() {
    hipLaunchKernelGGL(norm_kernel<Prog>, dim3(static_cast<unsigned>(blocks)),
                       dim3(static_cast<unsigned>(p.args.threads_per_block)), 0, s, p.args, groups, blocks_ran);
  });
  return static_cast<int>(hipGetLastError());
}

std::string error_text(int hip_error) {
  const auto e = static_cast<hipError_t>(hip_error);
  return std::string(hipGetErrorName(e)) + " (" + hipGetErrorString(e) + ")";
}

}  // namespace strideguard::gpu
