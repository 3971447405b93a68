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

// Blocks of 256 threads resident per multiprocessor (the launch bound, and the grid's cap per multiprocessor).
// v3-v4 used 3 (80 registers), with the fused variants spilling; the pipelined loop below holds two rows and the
// weight, so it gets 128 registers (docs/performance.md has the measurements).
#ifndef SG_NORM_MIN_BLOCKS
#define SG_NORM_MIN_BLOCKS 2
#endif
constexpr int kBlocksPerSm = SG_NORM_MIN_BLOCKS;

// The row reduction of one row group (see the file comment); every thread of the block takes part.
__device__ float reduce_row(float partial, int t, int lanes, float* group_sums) {
  float v = partial;
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
  return total;
}

// Grid: at most kBlocksPerSm blocks per multiprocessor, each walking row groups grid-stride (launch_blocks).
// With the row cache on (every chunk of a row in registers), a block loads the weight once, and issues the next
// row group's loads before this group's reduction barrier: the loads of one row are in flight while the previous
// row is reduced, scaled and stored. 2 blocks of 256 threads a multiprocessor leave 128 registers a thread: the
// pipelined loop holds two rows' values and the weight (at 80 registers, 3 blocks, the fused variants spill).
// kPipelined (rows of more than 32 lanes with the row cache on): the persistent, pipelined loop; else one row
// group after another, 3 blocks a multiprocessor (80 registers), one block per row group: short rows (packed-QKV
// heads, one chunk a lane) ran 15-20% slower on the persistent grid.
template <class Prog, bool kPipelined>
__global__ void __launch_bounds__(kMaxLanes, kPipelined ? kBlocksPerSm : 3)
    norm_kernel(SG_GRID_CONSTANT const KernelArgs a, std::int64_t groups, unsigned* blocks_ran) {
  __shared__ float group_sums[kMaxLanes / kReduceGroup];
  const int t = static_cast<int>(threadIdx.x);
  const int lanes = a.lanes;
  const int rows_per_block = a.threads_per_block / lanes;
  const int lane = t % lanes;
  GpuMem m;
  if (blocks_ran != nullptr && t == 0) atomicAdd(blocks_ran, 1u);
  if constexpr (kPipelined) {
    typename Prog::State st;
    st.partial = 0.f;
    typename Prog::RowLoads L;
    std::int64_t group = blockIdx.x;
    if (group >= groups) return;
    Prog::load_weight(a, m, lane, st);
    std::int64_t row = group * rows_per_block + t / lanes;
    if (row < a.rows) Prog::load_row(a, m, row, lane, L);
    for (; group < groups; group += gridDim.x) {
      row = group * rows_per_block + t / lanes;
      const bool live = row < a.rows;
      st.partial = 0.f;
      if (live) Prog::compute_row(a, m, row, lane, L, st);
      const std::int64_t next = (group + gridDim.x) * rows_per_block + t / lanes;
      if (group + gridDim.x < groups && next < a.rows) Prog::load_row(a, m, next, lane, L);
      // Dead rows (past a.rows in the last group) still shuffle: every lane of a warp takes part in every exchange.
      const float total = reduce_row(st.partial, t, lanes, group_sums);
      if (live) Prog::pass2(a, m, row, lane, total, st);
    }
  } else {
    for (std::int64_t group = blockIdx.x; group < groups; group += gridDim.x) {
      const std::int64_t row = group * rows_per_block + t / lanes;
      const bool live = row < a.rows;
      typename Prog::State st;
      st.partial = 0.f;
      if (live) Prog::pass1(a, m, row, lane, st);
      const float total = reduce_row(st.partial, t, lanes, group_sums);
      if (live) Prog::pass2(a, m, row, lane, total, st);
    }
  }
}

// The persistent, pipelined kernel serves plan p.
bool pipelined(const Plan& p) { return p.args.cache_rows && p.args.lanes > kReduceGroup; }

// Multiprocessors of device 0, read once per process (the first launch).
std::int64_t grid_cap() {
  static const std::int64_t cap = [] {
    hipDeviceProp_t prop;
    if (hipGetDeviceProperties(&prop, 0) != hipSuccess || prop.multiProcessorCount <= 0) return kMaxGridBlocks;
    return static_cast<std::int64_t>(prop.multiProcessorCount) * kBlocksPerSm;
  }();
  return cap;
}

}  // namespace

std::int64_t launch_blocks(const Plan& p) {
  if (p.grid_blocks <= 0) return 0;
  const std::int64_t groups = p.args.row_groups();
  const std::int64_t cap = pipelined(p) ? grid_cap() : kMaxGridBlocks;
  return groups < cap ? groups : cap;
}

int launch_norm(const Plan& p, void* stream, unsigned* blocks_ran) {
  const std::int64_t blocks = launch_blocks(p);
  if (blocks == 0) return hipSuccess;
  const std::int64_t groups = p.args.row_groups();
  const auto s = static_cast<hipStream_t>(stream);
  visit_program(p.dtype, p.vector, p.op == Op::kFusedAddRmsNorm, [&]<class Prog>() {
    const dim3 grid(static_cast<unsigned>(blocks)), block(static_cast<unsigned>(p.args.threads_per_block));
    if (pipelined(p)) {
      hipLaunchKernelGGL((norm_kernel<Prog, true>), grid, block, 0, s, p.args, groups, blocks_ran);
    } else {
      hipLaunchKernelGGL((norm_kernel<Prog, false>), grid, block, 0, s, p.args, groups, blocks_ran);
    }
  });
  return static_cast<int>(hipGetLastError());
}

std::string error_text(int hip_error) {
  const auto e = static_cast<hipError_t>(hip_error);
  return std::string(hipGetErrorName(e)) + " (" + hipGetErrorString(e) + ")";
}

}  // namespace strideguard::gpu
