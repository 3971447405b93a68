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

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>

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
    // 16-, 8- and 4-byte pieces as one access each (the caller has checked their alignment: RowProgram's
    // piece_elems); one element at a time otherwise.
    if constexpr (N * sizeof(S) == 16) {
      const uint4 v = *reinterpret_cast<const uint4*>(base + index);
      std::memcpy(dst, &v, sizeof v);  // a register move, not a call: sizes are constants
    } else if constexpr (N * sizeof(S) == 8) {
      const uint2 v = *reinterpret_cast<const uint2*>(base + index);
      std::memcpy(dst, &v, sizeof v);
    } else if constexpr (N * sizeof(S) == 4 && N > 1) {
      const unsigned v = *reinterpret_cast<const unsigned*>(base + index);
      std::memcpy(dst, &v, sizeof v);
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
    } else if constexpr (N * sizeof(S) == 8) {
      uint2 v;
      std::memcpy(&v, src, sizeof v);
      *reinterpret_cast<uint2*>(base + index) = v;
    } else if constexpr (N * sizeof(S) == 4 && N > 1) {
      unsigned v;
      std::memcpy(&v, src, sizeof v);
      *reinterpret_cast<unsigned*>(base + index) = v;
    } else {
      for (int j = 0; j < N; ++j) base[index + j] = src[j];
    }
  }
};

// Grids larger than this walk the remaining row groups grid-stride; 2^31 - 1 is the x-dimension limit of both
// CUDA and HIP, and a grid this large already keeps every multiprocessor busy.
constexpr std::int64_t kMaxGridBlocks = 2147483647;

// The staged kernel's launch bound: at least this many blocks of 256 threads per multiprocessor, so at most 128
// registers a thread (the row cache and the weight stay in registers across the reduction: 64-99 registers for
// the simple-rows programs, up to 128 for the general ones, no spills; keeping them in shared memory instead took
// 64-80 registers but was slower, docs/performance.md v10). Its grid is what the occupancy calculator says fits
// (registers and the stages' shared memory), times the multiprocessors, capped by kStagedBlocksPerSm below.
#ifndef SG_NORM_MIN_BLOCKS
#define SG_NORM_MIN_BLOCKS 2
#endif
constexpr int kBlocksPerSm = SG_NORM_MIN_BLOCKS;

// Chunks whose pass-2 loads the stage-resident and one-stage kernels issue together before computing any of them,
// kept as stored (4 registers a chunk): their pass 2 reads the weight (the one-stage kernel also residual_out) from
// memory, mostly L2, and with one load at a time (the resident kernels until v19; four, the one-stage kernel) each
// chunk waited a whole round trip while one block of 8 warps is all a multiprocessor has. 16 is every chunk of their
// rows: all of a row's pass-2 loads are in flight before its first store. Measured on the H200 (docs/performance.md,
// v19, stop 17 runs 4 and 5): contiguous 4096x16384 f32 175 -> 145 us (1 at a time -> 4: 156, 8: 153), fused add
// 4096x16384 f32 348 -> 292 us (4 -> 8: 303), 16-bit 147-162 -> 144 us; 79-180 registers at a launch bound of one
// block (their stages allow no more), no spills. SG_PASS2_BATCH sets another count at build time (screening).
#ifndef SG_PASS2_BATCH
#define SG_PASS2_BATCH 16
#endif
constexpr int kPass2Batch = SG_PASS2_BATCH;

// Stages of the staged kernel at most (staging() below says how many a launch gets).
constexpr int kMaxStages = 8;

// The staged kernel's shared-memory slots per thread and stage: one 16-byte slot per row operand (x; fused:
// residual, and post only when present) and cached chunk (chunks_per_thread, at most cached_max). The kernel's
// slot layout and the host's shared-memory size (staging) both come from here.
struct StageShape {
  int operands = 1;
  int chunks = 1;
};
__host__ __device__ inline StageShape stage_shape(const KernelArgs& a, bool fused, int cached_max) {
  return {fused ? (a.has_post ? 3 : 2) : 1, a.chunks_per_thread < cached_max ? a.chunks_per_thread : cached_max};
}

// The row reduction of one row group (see the file comment); every thread of the block takes part.
//
// group_sums: this row group's buffer, one of two the caller alternates between (row group i uses buffer i % 2).
// One barrier a row group, between writing the group sums and reading them. The barrier v13 also had after the
// reads, so that the next row group could not overwrite sums still being read, is not needed with two buffers:
// buffer i % 2 is next written in row group i + 2, by a thread that has passed row group i + 1's barrier, which
// every thread reaches only after its reads of row group i (lanes > kReduceGroup holds for every thread of a
// launch or for none, so every thread meets every barrier). Measured in docs/performance.md (v14).
// The butterfly of reduce_row_emulated over each aligned group of g lanes of a warp (g = min(lanes, 32)): d = g/2
// .. 1, unrolled over every power of two below 32 with the steps past g skipped (the same exchanges, without a
// loop's counter and branch on each). Every lane of the warp takes part.
__device__ float butterfly(float v, int g) {
#pragma unroll
  for (int d = kReduceGroup / 2; d >= 1; d /= 2) {
    if (d < g) v = add_rn(v, sg_shfl_xor(v, d, kReduceGroup));
  }
  return v;
}

__device__ float reduce_row(float partial, int t, int lanes, float* group_sums) {
  const float v = butterfly(partial, lanes < kReduceGroup ? lanes : kReduceGroup);
  float total = v;
  if (lanes > kReduceGroup) {
    if ((t & (kReduceGroup - 1)) == 0) group_sums[t / kReduceGroup] = v;
    __syncthreads();
    const int first = (t / lanes) * (lanes / kReduceGroup);
    total = 0.f;
    for (int i = 0; i < lanes / kReduceGroup; ++i) total = add_rn(total, group_sums[first + i]);
  }
  return total;
}

// SG_BLOCK_CLOCK (a diagnostic build, CUDA only: bench/gpu_bench --block-clock; docs/performance.md, "Stop 19"): the
// first thread of each block of every norm kernel records the global timer when the block starts, when its first row
// group's data is in (staged kernels: its copies have landed; the unstaged kernel: pass 1 has used its loads) and
// when the block has finished its row groups (after a barrier), and its multiprocessor, for the first kClockBlocks
// blocks of a launch; block_clock() reads the last launch's back. Builds without it have none of this code.
#ifdef SG_BLOCK_CLOCK
#ifndef __CUDACC__
#error "SG_BLOCK_CLOCK reads the CUDA global timer: build with nvcc"
#endif
constexpr int kClockBlocks = 16384;
enum ClockField : int { kClockStart, kClockFirstData, kClockEnd, kClockMultiprocessor, kClockFields };
__device__ unsigned long long sg_block_clock[kClockFields][kClockBlocks];
__device__ inline void sg_clock_record(ClockField what, unsigned long long v) {
  if (threadIdx.x == 0 && blockIdx.x < kClockBlocks) sg_block_clock[what][blockIdx.x] = v;
}
__device__ inline unsigned long long sg_clock_now() {
  unsigned long long v;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(v));
  return v;
}
// At a block's start; when its first row group's data is in (group: the row group it is on); after its last.
__device__ inline void sg_clock_start() {
  unsigned sm;
  asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
  sg_clock_record(kClockMultiprocessor, sm);
  sg_clock_record(kClockStart, sg_clock_now());
}
__device__ inline void sg_clock_first_data(std::int64_t group) {
  if (group == blockIdx.x) sg_clock_record(kClockFirstData, sg_clock_now());
}
__device__ inline void sg_clock_end() {
  __syncthreads();
  sg_clock_record(kClockEnd, sg_clock_now());
}
#define SG_CLOCK_START() sg_clock_start()
#define SG_CLOCK_FIRST_DATA(group) sg_clock_first_data(group)
#define SG_CLOCK_END() sg_clock_end()
#else
#define SG_CLOCK_START() (void)0
#define SG_CLOCK_FIRST_DATA(group) (void)0
#define SG_CLOCK_END() (void)0
#endif

// One row group after another, one block per row group (grids larger than kMaxGridBlocks walk the rest
// grid-stride): the uncached and scalar-access plans (strided columns, misaligned or odd pitches). At least 3
// blocks of 256 threads a multiprocessor (80 registers), except the scalar programs of f32 and of fused rows: 2
// (128 registers). Measured in stop 20 (docs/performance.md) with every chunk loop of the scalar programs at a
// constant trip count: at 80 registers those spilled 0.2-1.4 KB a thread and ran 1.3-1.4x slower than at 128
// (fused add with a 4100 pitch 52.3 -> 42.5 us, f32 with a 4097 pitch 43.0 -> 32.5 us at 2048 tokens), while
// the plain 16-bit ones (106-128 registers uncapped) ran 1.0-1.35x faster at 3 blocks (strided and transposed
// columns: latency-bound, more warps help; transposed bf16 16384 tokens 712 -> 527 us).
template <class Prog>
constexpr int unstaged_min_blocks() {
  return Prog::kIsVector || (Prog::kRowOperands == 1 && sizeof(typename Prog::S) == 2) ? 3 : 2;
}
template <class Prog>
__global__ void __launch_bounds__(kMaxLanes, unstaged_min_blocks<Prog>())
    norm_kernel(SG_GRID_CONSTANT const KernelArgs a, std::int64_t groups, int /*stages: unused*/,
                unsigned* blocks_ran) {
  __shared__ float group_sums[2][kMaxLanes / kReduceGroup];  // reduce_row's two buffers
  const int t = static_cast<int>(threadIdx.x);
  const int lanes = a.lanes;
  const int rows_per_block = a.threads_per_block / lanes;
  const int lane = t % lanes;
  GpuMem m;
  sg_grid_dependency_wait();  // before the first global access (launch_norm's overlap_previous)
  sg_launch_dependents();
  if (blocks_ran != nullptr && t == 0) atomicAdd(blocks_ran, 1u);
  SG_CLOCK_START();
  int parity = 0;  // the group_sums buffer of this row group
  for (std::int64_t group = blockIdx.x; group < groups; group += gridDim.x, parity ^= 1) {
    const std::int64_t row = group * rows_per_block + t / lanes;
    const bool live = row < a.rows;
    typename Prog::State st;
    st.partial = 0.f;
    if (live) Prog::pass1(a, m, row, lane, st);
    SG_CLOCK_FIRST_DATA(group);  // pass 1 has used its loads
    const float total = reduce_row(st.partial, t, lanes, group_sums[parity]);
    if (live) Prog::pass2(a, m, row, lane, total, st);
  }
  SG_CLOCK_END();
}

// Rows across warps (column_rows plans: x's consecutive rows are consecutive elements, its columns are not; see
// norm_kernel.hpp): a block walks row groups of kColumnRows rows, grid-stride; thread t is row t % kColumnRows and
// runs lanes t / kColumnRows, + slots, ... one after another (slots = threads / kColumnRows), so each load of a
// warp reads kColumnRows adjacent elements of x at each of 32 / kColumnRows columns. Each (row, lane) runs the
// plan's per-thread pass 1, its partial goes to shared memory, and after the barrier the warps reduce the rows in
// reduce_row_emulated's order (the butterfly over each 32-lane group, then the groups in index order from 0), as
// emulate_column_grid() does; pass 2 reads its values back from memory (pass2_batched: x, or residual_out that
// this thread wrote in pass 1; mostly L2 hits, the block's rows having just been read). Launch bound as the
// unstaged kernel's for the same program.
template <class Prog>
__global__ void __launch_bounds__(kMaxLanes, unstaged_min_blocks<Prog>())
    norm_kernel_columns(SG_GRID_CONSTANT const KernelArgs a, std::int64_t groups, int /*stages: unused*/,
                        unsigned* blocks_ran) {
  __shared__ float partials[kColumnRows][kMaxLanes + 1];  // + 1: one lane's rows in distinct banks
  __shared__ float totals[kColumnRows];
  const int t = static_cast<int>(threadIdx.x);
  const int r = t % kColumnRows;  // this thread's row of the group
  const int slot = t / kColumnRows;
  const int slots = a.threads_per_block / kColumnRows;
  const int j = t % kReduceGroup;  // this thread's lane in the reducing warp
  const int warp = t / kReduceGroup;
  const int warps = (a.threads_per_block + kReduceGroup - 1) / kReduceGroup;
  const int lanes = a.lanes;
  const int g = lanes < kReduceGroup ? lanes : kReduceGroup;
  GpuMem m;
  sg_grid_dependency_wait();  // before the first global access (launch_norm's overlap_previous)
  sg_launch_dependents();
  if (blocks_ran != nullptr && t == 0) atomicAdd(blocks_ran, 1u);
  SG_CLOCK_START();
  for (std::int64_t group = blockIdx.x; group < groups; group += gridDim.x) {
    const std::int64_t row = group * kColumnRows + r;
    const bool live = row < a.rows;
    for (int lane = slot; lane < lanes; lane += slots) {
      typename Prog::State st;
      st.partial = 0.f;
      if (live) Prog::pass1(a, m, row, lane, st);
      partials[r][lane] = st.partial;
    }
    SG_CLOCK_FIRST_DATA(group);
    __syncthreads();  // every partial of the group written (and, from the second group on, totals read)
    // Warp-uniform loops (rr, base), so every shuffle has the whole warp. A block of fewer than 32 threads (rows of
    // one lane) shuffles nothing: g == 1.
    for (int rr = warp; rr < kColumnRows; rr += warps) {
      float total = 0.f;
      for (int base = 0; base < lanes; base += g) {
        // Threads past a short row's lanes add zeros, unused.
        const float v = butterfly(j < g ? partials[rr][base + j] : 0.f, g);
        total = lanes <= kReduceGroup ? v : add_rn(total, v);
      }
      if (j == 0) totals[rr] = total;
    }
    __syncthreads();  // every total written, every partial read
    const float total = totals[r];
    for (int lane = slot; lane < lanes && live; lane += slots) Prog::pass2_batched(a, m, row, lane, total);
  }
  SG_CLOCK_END();
}

// Pass 1 of one row of the stage-resident and one-stage kernels (vector programs: whole chunks), from the stage
// (slot(o, k): operand o's chunk k, as visit_row_loads filled it), in increasing k as every program's pass 1. With
// kKeepSums (the resident kernel's fused rows) each chunk's sum s, as pass 1 stores it to residual_out, is written
// back over x's slot, which that kernel's pass 2 reads instead of residual_out.
template <class Prog, bool kKeepSums, class Slot>
__device__ void pass1_from_stage(const KernelArgs& a, GpuMem& m, std::int64_t row, int lane, int chunks, Slot&& slot,
                                 float& partial) {
  using S = typename Prog::S;
  constexpr bool kFusedRows = Prog::kRowOperands > 1;
  typename Prog::Pass1Rows r{};  // plain rows: pass 1 stores nothing; fused: residual_out's row
  if constexpr (kFusedRows) r.residual_out = Prog::row_off(a.residual_out.rows, row);
  auto stage_chunk = [&](int o, int k, S (&xs)[Prog::kChunk]) {
    const uint4 v = *slot(o, k);
    std::memcpy(xs, &v, sizeof v);
  };
  for (int k = 0; k < chunks; ++k) {
    const std::int64_t col0 = Prog::chunk_col(a, lane, k);
    if (col0 >= a.hidden) break;
    S xs[Prog::kChunk], rs[Prog::kChunk] = {}, ps[Prog::kChunk] = {};
    stage_chunk(0, k, xs);
    if constexpr (kFusedRows) {
      stage_chunk(1, k, rs);
      if (a.has_post) stage_chunk(2, k, ps);
    }
    Prog::pass1_compute(a, m, r, col0, Prog::kChunk, partial, xs, rs, ps);
    if constexpr (kKeepSums) {  // xs: s as stored to residual_out
      uint4 v;
      std::memcpy(&v, xs, sizeof v);
      *slot(0, k) = v;
    }
  }
}

// Pass 2 of one row of the stage-resident and one-stage kernels (vector programs: whole chunks), kPass2Batch chunks
// at a time: first every chunk's loads of the batch, kept as stored (the weight, and with kValuesFromMemory the
// value, value(k, col0, raw)), then chunk by chunk (without kValuesFromMemory the value read now, value(k, col0,
// raw)), the value and the weight converted as load_chunk converts them, scaled and stored as pass2_chunk_w does.
// Issuing the loads first is safe because the weight is read-only and no written view overlaps any other operand
// (the planner's rule), so no store of out changes a later chunk's loads.
template <class Prog, bool kValuesFromMemory, class Value>
__device__ void pass2_in_batches(const KernelArgs& a, GpuMem& m, int lane, int chunks, std::int64_t out_off,
                                 float inv, Value&& value) {
  using S = typename Prog::S;
  for (int k0 = 0; k0 < chunks; k0 += kPass2Batch) {
    S vs[kPass2Batch][Prog::kChunk], ws[kPass2Batch][Prog::kChunk];  // 4 registers a chunk whatever the dtype
    SG_UNROLL
    for (int j = 0; j < kPass2Batch; ++j) {
      const std::int64_t col0 = Prog::chunk_col(a, lane, k0 + j);
      if (k0 + j >= chunks || col0 >= a.hidden) break;
      if constexpr (kValuesFromMemory) value(k0 + j, col0, vs[j]);
      Prog::load_raw(m, OperandId::kWeight, a.weight, a.weight.rows.offset, col0, a.weight.col_stride, Prog::kChunk,
                     ws[j]);
    }
    SG_UNROLL
    for (int j = 0; j < kPass2Batch; ++j) {
      const std::int64_t col0 = Prog::chunk_col(a, lane, k0 + j);
      if (k0 + j >= chunks || col0 >= a.hidden) break;
      float v[Prog::kChunk], w[Prog::kChunk];
      if constexpr (kValuesFromMemory) {
        Prog::decode(vs[j], Prog::kChunk, v);
      } else {
        S xs[Prog::kChunk];
        value(k0 + j, col0, xs);
        Prog::decode(xs, Prog::kChunk, v);
      }
      Prog::decode(ws[j], Prog::kChunk, w);
      Prog::pass2_chunk_w(a, m, out_off, col0, Prog::kChunk, inv, v, w);
    }
  }
}

// The staged kernel: vector-access plans with the row cache on (every chunk of a row in registers), which is
// every contiguous or padded row and every packed-QKV head slice whose pitch and offset are 16-byte multiples.
// A persistent grid (as many blocks as fit on the device, each walking row groups grid-stride) in which every
// thread copies its own chunks of the next `stages - 1` row groups into shared memory with asynchronous copies
// (sg_copy_async16: no registers held while in flight), then, row group by row group, waits for the oldest
// copy group, reads its chunks back, and runs the same pass 1, reduction and pass 2 as the CPU backend. The
// copies address exactly what load_row would load (both go through visit_row_loads); the weight is loaded once
// per block. Shared memory per thread and stage: one 16-byte slot per cached chunk and row operand, laid out
// [stage][operand][chunk][thread], so a warp's slots are consecutive (no bank conflicts) and a thread reads only
// the slots it filled (no barrier needed between copy and use).
//
// kL2Prefetch: every copy also asks L2 for the whole 128-byte line around it (a hint; launch_for says when). A
// template argument, not a run-time one: the kernels without it stay the code they were before the hint existed (a
// run-time choice per copy cost up to 15 registers).
//
// kBulk (sm_90, rows of more than one warp; launch_for says when): instead of every thread copying its own chunks,
// the first thread of each row starts one bulk copy (cp.async.bulk, the tensor memory accelerator) per chunk index
// and operand, `lanes` chunks long, which lands in exactly the slots the threads would have filled; a stage's
// mbarrier counts the bytes, and every thread waits on it instead of on its own copy groups. The same slots, the
// same reads from them, the same arithmetic: the bytes written do not change. Reuse of a stage: every thread's reads
// of it come before the reduction's barrier of that row group (a proxy fence first), and the next bulk copy into it
// is started after that barrier. The kernels without it are the code they were before (a template argument).
//
// kResident (rows too wide for any register cache: plain rows of 9-16 chunks a thread, fused rows of 5-8): the row
// stays in its stage, and pass 2 reads it from there again instead of from memory, with the weight read from memory
// as the plan's uncached program does (the loads of kPass2Batch chunks, every chunk of these rows, issued before the
// first of their stores: the weight is read-only and no written view overlaps it); the same arithmetic in the same
// order, so the same bytes. Plain rows:
// pass 2 reads x's slots, which hold what it would re-read from x. Fused rows: pass 1 stores each chunk's sum s to
// residual_out, whose chunk the uncached program's pass 2 reads back, and also writes s over x's slot, which pass 2
// reads instead (no other thread writes this thread's columns of residual_out: written views do not overlap). A
// stage is refilled only by the thread whose slots they are, at the top of the next row group (after its pass 2),
// so no barrier is needed; never with bulk copies (another row's first thread would refill the stage while this
// thread's pass 2 reads it).
//
// kOneStage (fused rows of 9-16 chunks a thread, whose x, residual and post need 128-192 KiB a stage, so two do not
// fit): one stage, refilled with the next row group's copies as soon as pass 1 has read it, so those copies are in
// flight during the reduction and pass 2; pass 2 is the uncached program's (s read back from residual_out, which pass
// 1 has just written, so mostly from L2), with the loads of kPass2Batch chunks (residual_out and weight; every chunk
// of these rows) issued before any of their stores: the same values, arithmetic and stores in the same order, so the
// same bytes (written views do not overlap, so no store of out changes a later chunk of residual_out). Both kernels
// are launched one block a multiprocessor (their stages allow no more), which is their launch bound too, so those
// loads have the registers they need.
//
// Rows of one chunk a lane (chunks_per_thread == 1: since v12's geometry only rows of one chunk, e.g. 8 bf16) run
// Prog::WithCached<1>: the same program with one cached chunk, so the compiler keeps no registers for the other
// three and the kernel fits 4 blocks (64 registers): such rows do little work per byte, so more warps are needed
// to keep the copies going.
//
// kMinBlocks > 0: that launch bound instead (the register-capped instantiation of one-row launches, kCappedMinBlocks).
template <class Prog, bool kL2Prefetch, bool kBulk, bool kResident = false, bool kOneStage = false, int kMinBlocks = 0>
__global__ void __launch_bounds__(kMaxLanes, kMinBlocks > 0 ? kMinBlocks
                                             : Prog::kCachedChunks == 1 ? 4
                                             : (kOneStage || kResident ? 1 : kBlocksPerSm))
    norm_kernel_staged(SG_GRID_CONSTANT const KernelArgs a, std::int64_t groups, int stages, unsigned* blocks_ran) {
  extern __shared__ uint4 stage_slots[];
  __shared__ float group_sums[2][kMaxLanes / kReduceGroup];  // reduce_row's two buffers
  __shared__ std::uint64_t stage_full[kBulk ? kMaxStages : 1];  // kBulk: a stage's copies have landed
  const int t = static_cast<int>(threadIdx.x);
  const int threads = a.threads_per_block;
  const int lanes = a.lanes;
  const int rows_per_block = threads / lanes;
  const int lane = t % lanes;
  const StageShape shape = stage_shape(a, Prog::kRowOperands > 1, Prog::kCachedChunks);
  GpuMem m;
  sg_grid_dependency_wait();  // before the first global access (launch_norm's overlap_previous)
  sg_launch_dependents();
  if (blocks_ran != nullptr && t == 0) atomicAdd(blocks_ran, 1u);
  SG_CLOCK_START();
  auto slot = [&](int stage, int o, int k) -> uint4* {
    return &stage_slots[((stage * shape.operands + o) * shape.chunks + k) * threads + t];
  };
  // kBulk: the bytes one row's copies bring into a stage (every operand's staged chunks).
  unsigned bulk_row_bytes = 0;
  if constexpr (kBulk) {
    const std::int64_t staged_cols = static_cast<std::int64_t>(shape.chunks) * lanes * Prog::kChunk;
    bulk_row_bytes = static_cast<unsigned>(shape.operands * (a.hidden < staged_cols ? a.hidden : staged_cols) *
                                           std::int64_t{sizeof(typename Prog::S)});
  }
  // Starts the copies of row group `group` into `stage`, and closes the copy group (empty past the last row, so
  // every thread counts the same groups); kBulk: see below.
  auto issue = [&](std::int64_t group, int stage) {
    if constexpr (kBulk) {
      // The first thread of each row copies that row: its chunk k of an operand is `lanes` consecutive 16-byte
      // chunks in memory (columns (k * lanes + lane) * kChunk) and in the slots (the row's lanes consecutive
      // threads, from this one's), so one bulk copy each. Each row's first thread arrives once per phase (with no
      // bytes past the last row), so the barrier counts rows_per_block arrivals.
      if (lane != 0 || group >= groups) return;
      const std::int64_t row = group * rows_per_block + t / lanes;
      const bool live = row < a.rows;
      sg_fence_proxy_async();
      sg_bar_arrive_expect(&stage_full[stage], live ? bulk_row_bytes : 0u);
      if (live) {
        Prog::visit_row_loads(a, row, 0,
                              [&](int k, int o, OperandId, const OperandAccess& op, std::int64_t row_off,
                                  std::int64_t col0, int) {
                                using S = typename Prog::S;
                                const std::int64_t run = static_cast<std::int64_t>(lanes) * Prog::kChunk;
                                const std::int64_t n = a.hidden - col0 < run ? a.hidden - col0 : run;
                                sg_bulk_copy(slot(stage, o, k), static_cast<const S*>(op.base) + row_off + col0,
                                             static_cast<unsigned>(n) * unsigned{sizeof(S)}, &stage_full[stage]);
                              });
      }
      return;
    }
    const std::int64_t row = group * rows_per_block + t / lanes;
    if (group < groups && row < a.rows) {
      Prog::visit_row_loads(a, row, lane,
                            [&](int k, int o, OperandId, const OperandAccess& op, std::int64_t row_off,
                                std::int64_t col0, int) {
                              const auto* base = static_cast<const typename Prog::S*>(op.base);
                              sg_copy_async16(slot(stage, o, k), base + row_off + col0, kL2Prefetch);
                            });
    }
    sg_copy_commit();
  };

  std::int64_t group = blockIdx.x;
  if (group >= groups) return;
  if constexpr (kBulk) {
    if (t == 0) {
      for (int s = 0; s < stages; ++s) sg_bar_init(&stage_full[s], static_cast<unsigned>(rows_per_block));
    }
    __syncthreads();
  }
  unsigned phases = 0;  // kBulk: bit s is the parity of stage s's next phase
  typename Prog::State st;
  if constexpr (kOneStage) {
    static_assert(!kBulk && !kResident && Prog::kRowOperands > 1, "one stage: fused rows, per-thread copies");
    using S = typename Prog::S;
    const std::int64_t step = gridDim.x;
    int parity = 0;  // the group_sums buffer of `group`
    issue(group, 0);
    for (; group < groups; group += step, parity ^= 1) {
      sg_copy_wait(0);  // this thread's copies of `group` are complete
      SG_CLOCK_FIRST_DATA(group);
      const std::int64_t row = group * rows_per_block + t / lanes;
      const bool live = row < a.rows;
      st.partial = 0.f;
      if (live) {
        pass1_from_stage<Prog, false>(a, m, row, lane, shape.chunks, [&](int o, int k) { return slot(0, o, k); },
                                      st.partial);
      }
      issue(group + step, 0);  // this thread has read its slots: the next row group's copies go into them
      const float total = reduce_row(st.partial, t, lanes, group_sums[parity]);
      if (live) {
        // The uncached program's pass 2: s read back from residual_out, which pass 1 has just written. The kernel's
        // launch bound is one block a multiprocessor (its stage allows no more), so the batch has the registers it
        // needs (at the two-block bound of 128 registers the 16-bit kernels spilled 20-36 bytes).
        const float inv = Prog::inv_rms(a, total);
        const std::int64_t out_off = Prog::row_off(a.out.rows, row);
        const std::int64_t src_off = Prog::row_off(a.residual_out.rows, row);
        pass2_in_batches<Prog, true>(a, m, lane, shape.chunks, out_off, inv,
                                     [&](int, std::int64_t col0, S (&raw)[Prog::kChunk]) {
                                       Prog::load_raw(m, OperandId::kResidualOut, a.residual_out, src_off, col0,
                                                      a.residual_out.col_stride, Prog::kChunk, raw);
                                     });
      }
    }
    SG_CLOCK_END();
    return;
  }
  if constexpr (!kResident) Prog::load_weight(a, m, lane, st);
  // The row-group loop, with the stage count n a compile-time 2 (two 16 KiB stages: most launches) or the run-time
  // `stages`: with n constant the stage rotation, the copy wait and the slot addresses fold (v16,
  // docs/performance.md).
  auto run = [&]<int kStages>() {
    const int n = kStages > 0 ? kStages : stages;
    const std::int64_t step = gridDim.x;
    for (int j = 0; j < n - 1; ++j) issue(group + j * step, j);
    int stage = 0;       // the stage holding `group`
    int refill = n - 1;  // the stage the next issue fills (the one consumed last)
    int parity = 0;      // the group_sums buffer of `group`
    for (; group < groups; group += step, parity ^= 1) {
      issue(group + (n - 1) * step, refill);
      if constexpr (kBulk) {
        sg_bar_wait(&stage_full[stage], (phases >> stage) & 1u);  // the copies of `group` have landed
        phases ^= 1u << stage;
      } else {
        sg_copy_wait(n - 1);  // this thread's copies of `group` are complete
      }
      SG_CLOCK_FIRST_DATA(group);
      const std::int64_t row = group * rows_per_block + t / lanes;
      const bool live = row < a.rows;
      st.partial = 0.f;
      if constexpr (kResident) {
        static_assert(!kBulk, "resident rows: per-thread copies");
        using S = typename Prog::S;
        const auto stage_slot = [&](int o, int k) { return slot(stage, o, k); };
        if (live) {
          pass1_from_stage<Prog, (Prog::kRowOperands > 1)>(a, m, row, lane, shape.chunks, stage_slot, st.partial);
        }
        const float total = reduce_row(st.partial, t, lanes, group_sums[parity]);
        if (live) {
          // The values from the stage (plain rows: x; fused: the sums pass 1 kept there), the weight from memory
          // (mostly L2: every row reads the same weight).
          const float inv = Prog::inv_rms(a, total);
          pass2_in_batches<Prog, false>(a, m, lane, shape.chunks, Prog::row_off(a.out.rows, row), inv,
                                        [&](int k, std::int64_t, S (&raw)[Prog::kChunk]) {
                                          const uint4 v = *stage_slot(0, k);
                                          std::memcpy(raw, &v, sizeof v);
                                        });
        }
      } else {
        if (live) {
          // Chunk by chunk from shared memory, just before pass 1 uses it (the slots visit_row_loads filled: x,
          // and for fused rows residual and, with post, post_residual_addition).
          typename Prog::RowLoads L;
          auto fetch = [&](int k) {
            SG_UNROLL
            for (int o = 0; o < Prog::kRowOperands; ++o) {
              if (o == 2 && !a.has_post) break;
              const uint4 v = *slot(stage, o, k);
              std::memcpy(L.at(o, k), &v, sizeof v);
            }
          };
          Prog::template compute_row_fetched<true>(a, m, row, lane, L, fetch, st);
        }
        // kBulk: this thread's reads of the stage come before the next bulk copy into it, which a row's first
        // thread starts after reduce_row's barrier (bulk launches have rows of more than one warp, so there is one).
        if constexpr (kBulk) sg_fence_proxy_async();
        // Dead rows (past a.rows in the last group) still shuffle: every lane of a warp takes part in every
        // exchange.
        const float total = reduce_row(st.partial, t, lanes, group_sums[parity]);
        if (live) Prog::pass2_cached(a, m, row, lane, total, st);
      }
      refill = stage;
      stage = stage + 1 == n ? 0 : stage + 1;
    }
    SG_CLOCK_END();
  };
  if (stages == 2) {
    run.template operator()<2>();
  } else {
    run.template operator()<0>();
  }
}

// Shared memory the staged kernel may use per block for its stages, and their number: as many stages as fit in
// the budget, at least 2 (one in use, one in flight), at most kMaxStages. Measured on an H200 with kernel v13
// (docs/performance.md, stage x blocks sweep over all 39 benchmark cases): 32 KiB (two 16 KiB stages of a 4-chunk
// row group; fused rows have 32 or 48 KiB stages, so two) at two blocks a multiprocessor was fastest or within 1%
// on 34 of the 39 cases (within 5% on all), e.g. contiguous 16384x4096 bf16 74.3 us against 80.0 us at 48 KiB
// (v12's budget, chosen on an H100, where 32 and 48 KiB were within 1-4%).
// SG_GPU_STAGE_KB sets another budget for every launch (a tuning knob for benchmarks).
constexpr std::int64_t kStageBudgetBytes = 32 * 1024;

// Staged blocks a multiprocessor at most, for programs of several cached chunks. Fewer registers (v13's simple-
// rows programs: 64-99) let the occupancy calculator fit 3-4 such blocks, which the same sweep measured slower than
// two (contiguous 16384x4096 bf16 77.5 us at three, 74.3 us at two). Fused 16-bit rows (two stages of 32 or 48
// KiB) were fastest at one block: fused add 16384x4096 bf16 138.6 us against 146.0 us at two (one block was slower
// on plain rows, 82.5 us, and on fused f32 rows with post, 348 vs 339 us). One-chunk programs (launch bound 4) are
// not capped. SG_GPU_BLOCKS_PER_SM overrides all of these.
constexpr std::int64_t kStagedBlocksPerSm = 2;
constexpr std::int64_t kFused16BlocksPerSm = 1;

// Plain 16-bit rows of at most 32 lanes (one warp or less a row: the reduction needs no barrier; the packed-QKV head
// slices, 4 lanes a row) with many row groups: one block a multiprocessor with a 48 KiB budget (three 16 KiB
// stages). Measured with the one-barrier kernel (v14) on the H200: Q slice 16384x32x128 bf16 68.4-68.7 us against
// 76.8 us at 32 KiB and two blocks (92% of the copy ceiling against 83%), K slice 16384x8x128 20.2 against 21.0 us;
// 64 KiB and more were slower (73-75 us on Q). With few row groups a multiprocessor two blocks keep more rows in
// flight: K slice 2048x8x128 5.3 us at two blocks against 5.7 at one, Q slice 2048 11.8 against 12.1. The switch
// is at kDeepMinGroupsPerSm row groups a multiprocessor, between those cases (Q 2048: 7.8, K 16384: 15.5). f32
// rows of 8 lanes were the same either way (within 1%), and keep the default. These launches' copies ask for the L2
// prefetch (whole 128-byte lines): measured on the H200 with v19 (docs/performance.md, stop 18 run 3, three passes
// each in one binary): K slice 16384x8x128 bf16 20.3 -> 19.9 us, f16 20.4 -> 20.1 us (77.7% -> 79.0% of the copy
// ceiling), Q slice 16384x32x128 16-bit unchanged (68.4 / 68.9 us either way); K f32 (two blocks, not these
// launches) was slower with it, 37.7 -> 39.0 us.
constexpr std::int64_t kDeepStageBudgetBytes = 48 * 1024;
constexpr std::int64_t kDeepMinGroupsPerSm = 12;

// 16-bit rows wider than a warp with fewer than kMaxCachedChunks chunks a thread (the geometry's power-of-two lanes
// leave them 2-3 chunks a lane: hidden 1025-1536, 2049-3072, 4097-6144 elements), measured on the H200 (docs/
// performance.md, stop 22 runs 1 to 3, gpu_bench --shape, two passes each) with the launch knobs: a block's rows in
// flight are 3/4 of a 4-chunk row's or less, and at two blocks a multiprocessor these rows ran at 76-84% of the copy
// ceiling. Plain rows at three blocks: 16384x2560 bf16 56.6 -> 46.6 us (1.21x), 16384x5120 103.9 -> 87.9 (1.18x),
// 16384x1536 1.09x, 16384x3072 1.05x, 2048x5120 1.09x, 2048x6144 1.05x, 16384x6144 1.01x (four blocks: the same
// as three). The f16 programs do not fit three blocks (95-96 registers against bf16's 76-77, ptxas sm_90), so they
// keep two (the occupancy calculator caps the grid). Fused rows whose last chunk slot is partly empty (chunks not a
// multiple of the lanes) at two blocks instead of one: fused add 16384x2304 bf16 92.5 -> 84.6 us (1.09x),
// 16384x5120 1.05x, 2048x5120 1.13x; fused rows of exactly 3 chunks a lane were 0.98x at two (16384x3072) and keep
// one. f32 rows were slower at three blocks (16384x3072 0.96x, 16384x1536 0.98x) and keep two. Small launches that
// run one-row blocks keep those blocks' settings.
constexpr std::int64_t kThreeChunkBlocksPerSm = 3;
constexpr std::int64_t kFusedPartialBlocksPerSm = 2;
// Where three blocks of such plain rows do not fit (the f16 programs on sm_90), a 40 KiB stage budget at the blocks
// that do (three 12 KiB stages instead of two): measured on the H200 with f16 at two blocks (stop 22 run 5, two
// passes each): 16384 tokens 1536 1.06x, 2560 1.01x, 3072 1.05x, 5120 1.01x, 6144 1.06x; 2048x5120 1.03x,
// 2048x6144 1.01x; 48 and 64 KiB no better. Decided from the occupancy calculator, not the dtype.
constexpr std::int64_t kShortLanesUnfitBudgetBytes = 40 * 1024;

// A tuning knob for benchmarks: environment variable `name` as an integer, -1 when unset or negative (a value that
// does not parse reads as 0, as atoll has it).
std::int64_t env_knob(const char* name) {
  const char* e = std::getenv(name);
  const std::int64_t v = e != nullptr ? std::atoll(e) : -1;
  return v >= 0 ? v : -1;
}

// Rows of 5 to kWideCachedChunks chunks a thread (256 lanes: 16-bit rows of 8193-16384 elements, f32 rows of
// 4097-8192), which the planner gives no row cache (kMaxCachedChunks), run the staged kernel with a cache of
// kWideCachedChunks chunks (Prog::WithCached<8>) where that fits the registers without spilling (ptxas, sm_90:
// 112-128): plain rows whose row maps are 1-2 dims (the simple-rows programs; the general ones spilled 16-124
// bytes; fused rows, at 102-128 with 4 chunks, were not tried). Their bytes are the plan's uncached program's,
// which re-reads in pass 2 exactly what pass 1 read (plain rows: x, unchanged in between: the planner allows out to
// alias x only as the same view; and pass 2 reads x through pass 1's column stride, which wide_chunks checks, as a
// bug model may not) and applies the same arithmetic to it (the CPU backend runs the 8-chunk program too, in the
// test CpuBackend.WideRowCacheWritesTheUncachedProgramsBytes); the launch marks its copy of the arguments
// cache_rows so that the kernel loads the weight once (Kernels::cache_rows). Measured in docs/performance.md (v17).
//
// Plain rows of kWideCachedChunks + 1 to kResidentChunks chunks a thread (16-bit rows of 16385-32768 elements, f32
// of 8193-16384) run the kResident staged kernel: the row stays in its stage for pass 2 (64 KiB a stage, so one
// block a multiprocessor). Measured in docs/performance.md (v17).
//
// Fused rows of 5 to kWideCachedChunks chunks a thread (16-bit rows of 8193-16384 elements, f32 of 4097-8192) run
// the kResident kernel too, with stages of 8 chunks of each operand (64 KiB, 96 KiB with post_residual_addition; two
// stages, one block a multiprocessor): pass 2 reads the sums s from the stage, where the uncached program reads them
// back from residual_out. Fused rows of 9 to kResidentChunks (16-bit 16385-32768, f32 8193-16384) run the kOneStage
// kernel: one stage of 16 chunks of each operand (128 or 192 KiB). Measured in docs/performance.md (v18).
//
// wide_chunks(p): the chunks a thread such a plan's staged kernel holds, kWideCachedChunks (plain: the register
// cache; fused: the stage-resident kernel) or kResidentChunks (plain: stage-resident; fused: one stage); 0 for every
// other plan. A tuning knob: SG_GPU_WIDE_ROWS=0 leaves such rows on the unstaged kernel (read once per process).
constexpr int kResidentChunks = 16;
int wide_chunks(const Plan& p) {
  static const bool wide_off = env_knob("SG_GPU_WIDE_ROWS") == 0;
  if (wide_off || !p.vector || p.args.cache_rows || p.args.chunks_per_thread > kResidentChunks ||
      !simple_rows(p.args)) {
    return 0;
  }
  // Plain rows' pass 2 re-reads x, through x_pass2_col_stride; fused rows' reads residual_out back.
  if (p.op == Op::kRmsNorm && p.args.x_pass2_col_stride != p.args.x.col_stride) return 0;
  return p.args.chunks_per_thread <= kWideCachedChunks ? kWideCachedChunks : kResidentChunks;
}

// `bytes`, or SG_GPU_STAGE_KB when set above 0 (read once per process).
std::int64_t stage_budget_bytes(std::int64_t bytes) {
  static const std::int64_t kb = env_knob("SG_GPU_STAGE_KB");
  return kb > 0 ? kb * 1024 : bytes;
}

// What the launch code needs from device 0, read once per process (the first launch).
struct DeviceInfo {
  std::int64_t multiprocessors = 1;  // 1 if unknown
  // Dynamic shared memory a block may opt in to, less room for the static group_sums (48 KiB if unknown).
  std::int64_t max_dynamic_shared = 48 * 1024;
  // Launches may overlap their predecessor (programmatic dependent launch: CUDA on sm_90+).
  bool dependent_launch = false;
};
const DeviceInfo& device_info() {
  static const DeviceInfo info = [] {
    DeviceInfo d;
    hipDeviceProp_t prop;
    if (hipGetDeviceProperties(&prop, 0) != hipSuccess) {
      (void)hipGetLastError();  // the launch reports the device's state; don't leave this error behind
      return d;
    }
    if (prop.multiProcessorCount > 0) d.multiprocessors = prop.multiProcessorCount;
    const auto shared = static_cast<std::int64_t>(sg_max_block_shared(prop));
    if (shared > 2048) d.max_dynamic_shared = shared - 1024;
    d.dependent_launch = SG_HAVE_DEPENDENT_LAUNCH != 0 && prop.major >= 9;
    return d;
  }();
  return info;
}

struct Staging {
  int stages = 0;
  std::size_t bytes = 0;  // dynamic shared memory per block
};

// Stages for plan p within a budget of `budget` bytes (before SG_GPU_STAGE_KB), for a program caching cached_max
// chunks a thread.
Staging staging(const Plan& p, std::int64_t budget, int cached_max) {
  const StageShape shape = stage_shape(p.args, p.op == Op::kFusedAddRmsNorm, cached_max);
  const std::int64_t per_stage = static_cast<std::int64_t>(shape.operands) * shape.chunks * p.args.threads_per_block * 16;
  std::int64_t n = stage_budget_bytes(budget) / (per_stage > 0 ? per_stage : 1);
  n = n < 2 ? 2 : (n > kMaxStages ? kMaxStages : n);
  // Never more than a block may have (at most 3 operands x 4 chunks x 256 threads x 16 B = 48 KiB a stage; wide
  // rows 32 or 64 KiB, fused wide rows 64 or 96 KiB: two stages fit the 227 KiB of an sm_90 GPU; where two do not
  // fit, choose_kernel takes the unstaged kernel).
  while (n > 2 && n * per_stage > device_info().max_dynamic_shared) --n;
  return {static_cast<int>(n), static_cast<std::size_t>(n * per_stage)};
}

using KernelFn = void (*)(KernelArgs, std::int64_t, int, unsigned*);

// Blocks of `kernel` resident per multiprocessor with `smem` bytes of dynamic shared memory, times the
// multiprocessors of device 0 (the persistent grid). The first time a kernel is seen its dynamic shared memory
// limit is raised to the most a block may have: the limit belongs to the kernel, not to a launch, so setting it
// per launch size would lower it for the next, larger launch of the same kernel (seen: cudaErrorInvalidValue).
// 0 when the runtime cannot say (the launch then reports the error).
std::int64_t resident_blocks(KernelFn kernel, int threads, std::size_t smem) {
  static std::mutex mu;
  static std::map<std::tuple<KernelFn, int, std::size_t>, std::int64_t> known;
  static std::map<KernelFn, bool> raised;
  const std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(kernel, threads, smem);
  if (auto it = known.find(key); it != known.end()) return it->second;
  if (!raised[kernel]) {
    raised[kernel] = hipFuncSetAttribute(reinterpret_cast<const void*>(kernel), hipFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(device_info().max_dynamic_shared)) == hipSuccess;
    if (!raised[kernel]) (void)hipGetLastError();  // reported by the launch instead; don't leave it behind
  }
  int per_sm = 0;
  std::int64_t n = 0;
  if (hipOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem) == hipSuccess && per_sm > 0) {
    n = static_cast<std::int64_t>(per_sm) * device_info().multiprocessors;
  } else {
    (void)hipGetLastError();
  }
  known[key] = n;
  return n;
}

// Whether `kernel` uses local memory (ptxas spilled registers, or a stack), read once per kernel; true when the runtime
// cannot say.
bool uses_local_memory(KernelFn kernel) {
  static std::mutex mu;
  static std::map<KernelFn, bool> known;
  const std::lock_guard<std::mutex> lock(mu);
  if (auto it = known.find(kernel); it != known.end()) return it->second;
  hipFuncAttributes attr{};
  bool local = true;
  if (hipFuncGetAttributes(&attr, reinterpret_cast<const void*>(kernel)) == hipSuccess) {
    local = attr.localSizeBytes > 0;
  } else {
    (void)hipGetLastError();  // don't leave it behind
  }
  known[kernel] = local;
  return local;
}

// The kernel programs (describe_launch's kernel=, launch_counts' keys): the unstaged kernel; the staged one with
// rows cached in registers (4 chunks a thread at most); its one-chunk instantiation; the plain 8-chunk cache (wide
// rows); rows kept in their stage (kResident); fused rows of 9-16 chunks on one stage (kOneStage); rows across warps
// (kColumns: column_rows plans, norm_kernel_columns); the staged one at a lower register bound (kCappedMinBlocks).
enum class KernelKind : int { kUnstaged, kStaged, kOneChunk, kWide8, kResident, kOneStage, kColumns, kCapped, kCount };
constexpr const char* kKernelNames[] = {"unstaged",        "staged",           "staged-one-chunk", "staged-wide8",
                                        "staged-resident", "staged-one-stage", "rows-across-warps", "staged-capped"};
static_assert(std::size(kKernelNames) == static_cast<std::size_t>(KernelKind::kCount));
const char* kernel_name(KernelKind k) { return kKernelNames[static_cast<int>(k)]; }
// Launches enqueued by launch_norm in this process, by kind (relaxed counters: a tally, not a synchronisation).
std::atomic<std::int64_t> launches_by_kind[static_cast<int>(KernelKind::kCount)];

// The kernels that can serve plan p, their dynamic shared memory and stages (0: the unstaged kernel), and the most
// blocks a multiprocessor they are launched with (0: as many as are resident); for the staged kernel also its
// variant whose copies ask for the L2 prefetch and, where p's rows allow bulk copies, its bulk-copy variant (nullptr
// where there is none; launch_for says when either runs instead).
struct Kernels {
  KernelFn kernel = nullptr;
  std::size_t smem = 0;
  int stages = 0;
  std::int64_t max_per_sm = 0;
  KernelFn prefetching = nullptr;
  KernelFn bulk = nullptr;
  // The kernel is the plain 8-chunk one, which caches every chunk and loads the weight once: its launch marks its
  // copy of the arguments cache_rows (the plan's is false; the unstaged kernel, e.g. under SG_GPU_STAGED=0, must
  // keep it so, its program caching 4 chunks).
  bool cache_rows = false;
  KernelKind kind = KernelKind::kUnstaged;  // which program, for describe_launch and launch_counts
  bool l2_prefetch = false;  // StagedSetting::l2_prefetch
  bool bulk_when_large = true;  // StagedSetting::bulk_when_large
  // One-row launches of 64-lane plain rows: the prefetching kernel at kCappedMinBlocks' register bound (launch_for
  // says when it runs).
  KernelFn capped = nullptr;
};

// Small staged launches of 128-lane rows (16-bit rows of 2049-4096 elements, f32 rows of 1025-2048) run blocks of
// one row: four blocks of 128 threads a multiprocessor with 16 KiB of stages each, instead of two blocks of two rows
// with 32 KiB (fused 16-bit rows: one block). A block's last row group is the one whose arithmetic no copy overlaps,
// and a one-row group is half a two-row one. Measured on the H200 (docs/performance.md, v15): contiguous 2048x4096
// bf16 11.8 -> 11.6 us, fused add 2048x4096 16-bit 21.3 -> 20.7 us; at 16384 tokens (31 or more row groups a
// block) 0.95-0.96x, so only small launches (at most kFewGroupsPerBlock row groups a block at the plan's shape) get
// them. Rows of 64 lanes (16-bit rows of 1025-2048 elements, f32 of 513-1024) too, in blocks of 64 threads, at
// most 16 a multiprocessor (bf16 fits 12 at the usual register bound: kCappedMinBlocks) with 8 KiB of stages each
// (stop 20, gpu_bench --shape, two passes each: 2048x1536 bf16 6.67 -> 6.38 us, f16 6.48 -> 6.37, 2048x2048 bf16
// 7.68 -> 7.43, 4096x1536 bf16 9.97 -> 9.24, f32 2048x1024 7.49 -> 7.05; 1.02-1.08x; at 4 blocks of 16 KiB, the
// 128-lane setting, 0.84-0.92x: too few warps; fused add 2048x1536 bf16 10.49 -> 9.50 us, 2048x2048 12.33 -> 11.87,
// with post 1.00x; fused f32 2048x1024 0.98x, which keeps the plan's blocks). Same bytes either way: a row's
// reduction depends on its lanes only, and blocks take row groups grid-stride as emulate_grid() does, for any
// threads_per_block (test CpuBackend.ThreadsPerBlockDoesNotChangeTheBytes).
constexpr int kOneRowMinLanes = 64;
constexpr int kOneRowLanes = 128;
constexpr std::int64_t kOneRowBlockBudgetBytes = 16 * 1024;
constexpr std::int64_t kOneRowBlocksPerSm = 4;
// One-row blocks of plain 16-bit 128-lane rows with fewer than 4 chunks a lane (hidden 2049-3072: 2-3 chunks, a
// block's row 3/4 of a 4-chunk one's bytes or less, as for the large launches of kThreeChunkBlocksPerSm): as many
// blocks as fit (0; by registers 6 a multiprocessor in bf16, 5 in f16). Measured on the H200 (docs/performance.md,
// stop 23, two passes each): runs 1 and 2 (SG_GPU_BLOCKS_PER_SM=0 against 4) 2048x2560 bf16 9.11 -> 8.49 us and
// 9.03 -> 8.43 (1.07x), 4096x2560 1.06-1.07x, 2048x3072 9.98 -> 9.32 and 9.84 -> 9.35 (1.05-1.07x), 4096x3072
// 1.01x; the 4-chunk rows (2048x4096) 0.99-1.01x, so they keep four; runs 5 and 6 (this setting against the previous
// build): bf16 2560 1.05-1.07x, 3072 1.01-1.06x, f16 2560 1.04x, 3072 1.01-1.03x. Fused rows keep four (all that
// fit: fused 2048x2560 and 2048x3072 bf16 1.00x).
constexpr std::int64_t kOneRowShortBlocksPerSm = 0;
constexpr std::int64_t kOneRow64BlockBudgetBytes = 8 * 1024;
constexpr std::int64_t kOneRow64BlocksPerSm = 16;

// kOneRow64BlocksPerSm blocks of 64 threads do not fit a multiprocessor at the staged kernel's usual register bound
// (bf16 plain rows: 76-77 registers, so 12 fit; f16 95-96, 10): a 2048-token launch of 1536- or 2048-wide 16-bit
// rows (2048 one-row blocks) then has 1584 resident (bf16), and a quarter of its blocks run a second row after the
// first. The staged kernel instantiated at a bound of kCappedMinBlocks blocks of kMaxLanes threads (64 registers)
// fits all 16. launch_for takes it for one-row launches of 64-lane plain 16-bit rows where that makes every row's
// block resident at once and the usual kernel does not, and only where ptxas fitted it without local memory (bf16:
// 64 registers, no spills; f16 spills 36 bytes, so f16 keeps the usual kernel). Measured on the H200
// (docs/performance.md, stop 23 runs 1, 2 and 5, two passes each): 2048x1536 bf16 6.47 -> 6.20 us, 6.38 -> 6.12 and
// 6.44 -> 6.21 (1.04x), 2048x2048 bf16 7.51 -> 7.21, 7.41 -> 7.14 and 7.54 -> 7.24 (1.04x); where two waves are
// needed either way (4096 tokens) 0.98-0.99x, so those keep the usual kernel; f16 2048x1536 (spilling) 1.01x; f32
// 2048x1024 (64 lanes; 14 of 16 blocks a multiprocessor already fit) 0.996x, so f32 has no capped instantiation. A
// tuning knob: SG_GPU_CAPPED=0 never takes it (read once per process).
constexpr int kCappedMinBlocks = 4;

// Staged launches whose blocks walk at most this many row groups each (the 2048-token benchmark launches walk
// 3.9-7.8, the 16384-token ones 15.5 or more) are "small": they get one-row blocks (above) and the L2 prefetch:
// their copies ask L2 for whole 128-byte lines (cp.async .L2::128B). Measured with v14 on the H200 (v15 in
// docs/performance.md): small launches 1.01-1.05x faster with the hint (contiguous 2048x4096 bf16 12.0 -> 11.8 us, K
// slice 2048x8x128 bf16 5.3 -> 5.1 us); large ones 0.95-1.01x (fused add+post 16384x4096 16-bit 170 -> 177 us), so
// they go without, except the narrow 16-bit rows' deep launches (kDeepStageBudgetBytes: 1.00-1.02x).
constexpr std::int64_t kFewGroupsPerBlock = 8;

// Rows of 5-8 chunks a thread (wide_chunks 8: 16-bit rows of 8193-16384 elements, f32 of 4097-8192) run one block
// a multiprocessor, and 16-bit ones copy a chunk a thread even in large launches (no bulk copies). Measured on the
// H200 (docs/performance.md, v20, stop 18 runs 5 and 6, two passes each, one binary): contiguous 4096x16384 f16 78.1
// us (two blocks, bulk copies, v19) -> 71.4 us (one block, a copy a thread; 80.8% -> 88.4% of the copy ceiling;
// one block with bulk copies was slower, 80.8 us in stop 16), bf16 73.1 -> 71.4 us (one block already; 86.4% ->
// 88.4%); f32 16384x8192 281.4 us (two blocks, bulk) -> 273.1 us with one block and bulk copies (89.7% -> 92.5%),
// 279.6 us with one block and a copy a thread. Three stages at one block were slower (77.5 us in 16-bit). Whether
// the dtype or the rows a block (31 in the 16-bit case, 124 in the f32 one) makes bulk copies lose there is not
// separated: with bulk copies every warp waits for the whole row, with a copy a thread each warp only for its own
// chunks, and 16-bit rows have twice the arithmetic a byte.
constexpr std::int64_t kWideBlocksPerSm = 1;

// The staged kernel's measured launch settings for plan p (the constants above say where each was measured): the
// stage budget before SG_GPU_STAGE_KB, and the most blocks a multiprocessor before SG_GPU_BLOCKS_PER_SM (0: as
// many as are resident). one_row_blocks: p has been reshaped to blocks of one row (launch_for); wide: wide_chunks(p).
struct StagedSetting {
  std::int64_t budget_bytes = kStageBudgetBytes;
  std::int64_t max_per_sm = kStagedBlocksPerSm;
  bool l2_prefetch = false;  // the prefetch on every launch of the setting, not only small ones (launch_for)
  bool bulk_when_large = true;  // large launches take the bulk-copy kernel where there is one (launch_for)
  // > 0: the stage budget where fewer than max_per_sm blocks a multiprocessor fit (choose_kernel asks)
  std::int64_t unfit_budget_bytes = 0;
  // The launch may take the register-capped kernel (kCappedMinBlocks; launch_for says when it does).
  bool capped = false;
};
StagedSetting staged_setting(const Plan& p, bool one_row_blocks, int wide) {
  const bool k16 = dtype_size(p.dtype) == 2;
  // 16-bit rows wider than a warp with 3 chunks a lane or fewer (kThreeChunkBlocksPerSm, kOneRowShortBlocksPerSm).
  const bool short_lanes = k16 && p.args.lanes > kReduceGroup && p.args.chunks_per_thread < kMaxCachedChunks;
  if (one_row_blocks && p.args.lanes < kOneRowLanes) {
    return {kOneRow64BlockBudgetBytes, kOneRow64BlocksPerSm, false, true, 0, true};
  }
  if (one_row_blocks && short_lanes && p.op == Op::kRmsNorm) return {kOneRowBlockBudgetBytes, kOneRowShortBlocksPerSm};
  if (one_row_blocks) return {kOneRowBlockBudgetBytes, kOneRowBlocksPerSm};
  if (wide == kWideCachedChunks) return {kStageBudgetBytes, kWideBlocksPerSm, false, !k16};
  if (p.args.chunks_per_thread == 1) return {kStageBudgetBytes, 0};  // one-chunk programs: not capped
  if (k16 && p.op == Op::kFusedAddRmsNorm) {
    const bool partial = short_lanes && row_chunks(p.args.hidden, dtype_size(p.dtype)) % p.args.lanes != 0;
    return {kStageBudgetBytes, partial ? kFusedPartialBlocksPerSm : kFused16BlocksPerSm};
  }
  if (k16 && p.args.lanes <= kReduceGroup &&
      p.args.row_groups() >= kDeepMinGroupsPerSm * device_info().multiprocessors) {
    return {kDeepStageBudgetBytes, 1, true};
  }
  if (short_lanes) return {kStageBudgetBytes, kThreeChunkBlocksPerSm, false, true, kShortLanesUnfitBudgetBytes};
  return {};
}

Kernels choose_kernel(const Plan& p, bool one_row_blocks) {
  // A tuning knob: SG_GPU_STAGED=0 sends every plan to the unstaged kernel (read once per process).
  static const bool staging_off = env_knob("SG_GPU_STAGED") == 0;
  const bool fused = p.op == Op::kFusedAddRmsNorm;
  return visit_program(p.dtype, p.vector, fused, simple_rows(p.args), [&]<class Prog>() -> Kernels {
    // Rows across warps: the plan's own grid (KernelArgs::column_rows, scalar plans only), whatever the knobs.
    if constexpr (!Prog::kIsVector) {
      if (p.args.column_rows) {
        return {norm_kernel_columns<Prog>, 0, 0, 0, nullptr, nullptr, false, KernelKind::kColumns};
      }
    }
    if constexpr (Prog::kIsVector) {
      // Staged: vector plans (this branch) with the row cache on, and wide rows (wide_chunks).
      const int wide = wide_chunks(p);
      if ((p.args.cache_rows || wide > 0) && !staging_off) {
        const StagedSetting set = staged_setting(p, one_row_blocks, wide);
        Staging sg = staging(p, set.budget_bytes, wide > 0 ? wide : kMaxCachedChunks);
        if (fused && wide == kResidentChunks) sg = {1, sg.bytes / static_cast<std::size_t>(sg.stages)};  // kOneStage
        // Two stages a block do not fit this device's shared memory (wide rows on a GPU with less than sm_90's
        // 227 KiB, e.g. an AMD GPU's 64 KiB): the unstaged kernel, which serves every plan.
        if (sg.bytes > static_cast<std::size_t>(device_info().max_dynamic_shared)) return {norm_kernel<Prog>, 0, 0};
        if (p.args.chunks_per_thread == 1) {
          using One = typename Prog::template WithCached<1>;
          return {norm_kernel_staged<One, false, false>, sg.bytes, sg.stages, set.max_per_sm,
                  norm_kernel_staged<One, true, false>, nullptr, false, KernelKind::kOneChunk};
        }
        // The per-thread-copy kernel, its prefetching twin, and the bulk-copy one where rows are wider than a warp.
        const auto kernels = [&]<class P>() -> Kernels {
          KernelFn bulk = nullptr;
          if constexpr (SG_HAVE_BULK_COPY != 0) {
            if (p.args.lanes > kReduceGroup) bulk = norm_kernel_staged<P, false, true>;
          }
          // Fewer blocks a multiprocessor fit than the setting asks for (registers): its budget for that case.
          Staging fit = sg;
          if (set.unfit_budget_bytes > 0 &&
              resident_blocks(norm_kernel_staged<P, false, false>, p.args.threads_per_block, sg.bytes) <
                  set.max_per_sm * device_info().multiprocessors) {
            fit = staging(p, set.unfit_budget_bytes, kMaxCachedChunks);
          }
          KernelFn capped = nullptr;
          if constexpr (P::kRowOperands == 1 && P::kSimple && P::kCachedChunks == kMaxCachedChunks &&
                        sizeof(typename P::S) == 2) {
            if (set.capped) capped = norm_kernel_staged<P, true, false, false, false, kCappedMinBlocks>;
          }
          return {norm_kernel_staged<P, false, false>, fit.bytes, fit.stages, set.max_per_sm,
                  norm_kernel_staged<P, true, false>, bulk, false, KernelKind::kStaged, set.l2_prefetch,
                  set.bulk_when_large, capped};
        };
        if constexpr (Prog::kRowOperands == 1 && Prog::kSimple) {
          using Wide = typename Prog::template WithCached<kWideCachedChunks>;
          if (wide == kWideCachedChunks) {
            Kernels k = kernels.template operator()<Wide>();
            k.cache_rows = true;
            k.kind = KernelKind::kWide8;
            return k;
          }
          using Resident = typename Prog::template WithCached<kResidentChunks>;
          if (wide == kResidentChunks) {
            return {norm_kernel_staged<Resident, false, false, true>, sg.bytes, sg.stages, 1,
                    norm_kernel_staged<Resident, true, false, true>, nullptr, false, KernelKind::kResident};
          }
        }
        if constexpr (Prog::kRowOperands > 1 && Prog::kSimple) {
          using FusedResident = typename Prog::template WithCached<kWideCachedChunks>;
          if (wide == kWideCachedChunks) {
            return {norm_kernel_staged<FusedResident, false, false, true>, sg.bytes, sg.stages, 1,
                    norm_kernel_staged<FusedResident, true, false, true>, nullptr, false, KernelKind::kResident};
          }
          using FusedOneStage = typename Prog::template WithCached<kResidentChunks>;
          if (wide == kResidentChunks) {
            return {norm_kernel_staged<FusedOneStage, false, false, false, true>, sg.bytes, sg.stages, 1,
                    norm_kernel_staged<FusedOneStage, true, false, false, true>, nullptr, false, KernelKind::kOneStage};
          }
        }
        // Every staged program drops the chunks past its cache (kOnlyCached): a plan with more goes unstaged.
        if (p.args.chunks_per_thread <= Prog::kCachedChunks) return kernels.template operator()<Prog>();
      }
    }
    return {norm_kernel<Prog>, 0, 0};
  });
}

// Staged blocks a multiprocessor at most for kernels k: k.max_per_sm, or SG_GPU_BLOCKS_PER_SM when set (a tuning
// knob for benchmarks, read once per process; 0 there: as many as are resident).
std::int64_t blocks_per_sm_cap(const Kernels& k) {
  static const std::int64_t knob = env_knob("SG_GPU_BLOCKS_PER_SM");
  return knob >= 0 ? knob : k.max_per_sm;
}

// A testing knob: SG_GPU_MAX_BLOCKS caps every launch's grid (read once per process; unset or 0: no cap). With 1,
// one block walks every row group of a launch, so a handful of rows exercises what only large launches otherwise
// do: a block reusing its stages and reduce_row's buffers (device_run.sh part races runs the race checkers so).
std::int64_t max_blocks_knob() {
  static const std::int64_t knob = env_knob("SG_GPU_MAX_BLOCKS");
  return knob > 0 ? knob : kMaxGridBlocks;
}

// Blocks launching plan p on kernels k: the row groups, capped by what is resident at once for the staged kernel.
std::int64_t blocks_for(const Plan& p, const Kernels& k) {
  if (p.grid_blocks <= 0) return 0;
  const std::int64_t groups = p.args.row_groups();
  std::int64_t cap = kMaxGridBlocks;
  if (k.stages > 0) {
    cap = resident_blocks(k.kernel, p.args.threads_per_block, k.smem);
    if (cap <= 0) cap = 1;  // a kernel that cannot be resident fails at launch, with the runtime's error
    const std::int64_t most = blocks_per_sm_cap(k) * device_info().multiprocessors;
    if (most > 0 && most < cap) cap = most;
  }
  cap = std::min(cap, max_blocks_knob());
  return groups < cap ? groups : cap;
}

// What launch_norm launches for a plan: the kernel, its dynamic shared memory, stages (0: unstaged), threads a
// block (the plan's, or its lanes for one-row blocks), blocks, whether the copies ask for the L2 prefetch or are
// bulk copies, and the staged blocks a multiprocessor the grid was sized for (0: as many as are resident, or
// unstaged).
struct Launch {
  KernelFn kernel = nullptr;
  std::size_t smem = 0;
  int stages = 0;
  int threads = 0;
  std::int64_t blocks = 0;
  bool l2_prefetch = false;
  bool bulk = false;
  std::int64_t per_sm = 0;
  bool cache_rows = false;  // Kernels::cache_rows
  KernelKind kind = KernelKind::kUnstaged;  // Kernels::kind
};

// Large staged launches (more than kFewGroupsPerBlock row groups a block) of rows wider than a warp use the bulk-copy
// kernel where the rows are plain or fused with post_residual_addition. Measured on the H200 (docs/performance.md,
// v17; two runs, the per-thread copies in the same run): contiguous 16384x4096 bf16 73.7 -> 70.7 us (85% -> 89% of
// the copy ceiling), 16384x8192 and row-padded 1.03-1.05x in 16-bit, fused add+post 16384 1.004-1.044x; fused add
// without post 0.98-1.01x (bf16 0.98x in both runs), and small launches 0.97-0.99x (they lose the L2 prefetch, and
// the first copies of a block wait on one thread), so those keep a copy a thread, as do 16-bit rows of 5-8 chunks a
// thread (kWideBlocksPerSm).
//
// Plan p's launch. Tuning knobs for benchmarks (read once per process): SG_GPU_ONE_ROW_BLOCKS=0 keeps the plan's
// blocks, SG_GPU_L2_PREFETCH=0 / 1 asks for the prefetch on no / every staged launch, SG_GPU_BULK=0 / 1 uses bulk
// copies on no / every launch whose rows allow them (bulk copies come first where both are asked for).
Launch launch_for(const Plan& p) {
  static const bool one_row_off = env_knob("SG_GPU_ONE_ROW_BLOCKS") == 0;
  static const std::int64_t prefetch_knob = env_knob("SG_GPU_L2_PREFETCH");
  static const std::int64_t bulk_knob = env_knob("SG_GPU_BULK");
  Kernels k = choose_kernel(p, false);
  std::int64_t blocks = blocks_for(p, k);
  Launch l{k.kernel, k.smem, k.stages, p.args.threads_per_block, blocks, false, false, blocks_per_sm_cap(k),
           k.cache_rows, k.kind};
  if (k.stages == 0 || blocks == 0) return l;
  const bool small = p.args.row_groups() <= kFewGroupsPerBlock * blocks;
  const int lanes = p.args.lanes;
  // 64-lane fused f32 rows keep the plan's blocks (0.98x in one-row blocks, stop 20).
  const bool one_row_lanes =
      lanes >= kOneRowLanes || (lanes >= kOneRowMinLanes && !(p.op == Op::kFusedAddRmsNorm && p.dtype == DType::kF32));
  if (small && !one_row_off && one_row_lanes && lanes < p.args.threads_per_block) {
    Plan one = p;
    one.args.threads_per_block = lanes;
    one.grid_blocks = one.args.row_groups();
    k = choose_kernel(one, true);
    blocks = blocks_for(one, k);
    l = {k.kernel, k.smem, k.stages, lanes, blocks, false, false, blocks_per_sm_cap(k), k.cache_rows, k.kind};
    // The register-capped kernel (kCappedMinBlocks: it asks for the L2 prefetch, as small launches do) where it
    // makes every row's block resident at once and this kernel does not, and ptxas fitted it without spilling.
    static const bool capped_off = env_knob("SG_GPU_CAPPED") == 0;
    const std::int64_t rows = one.args.row_groups();
    if (!capped_off && bulk_knob != 1 && prefetch_knob != 0 && k.capped != nullptr && blocks < rows &&
        !uses_local_memory(k.capped)) {
      Kernels capped = k;
      capped.kernel = k.capped;
      if (blocks_for(one, capped) == rows) {
        l.kernel = k.capped;
        l.blocks = rows;
        l.l2_prefetch = true;
        l.kind = KernelKind::kCapped;
        return l;
      }
    }
  }
  // Either variant only where as many of its blocks are resident at once (its registers may differ).
  const auto fits = [&](KernelFn alt) { return alt != nullptr && resident_blocks(alt, l.threads, k.smem) >= blocks; };
  const bool plain_or_post = p.op != Op::kFusedAddRmsNorm || p.args.has_post;
  const bool want_bulk = bulk_knob >= 0 ? bulk_knob != 0 : !small && plain_or_post && k.bulk_when_large;
  if (want_bulk && fits(k.bulk)) {
    l.kernel = k.bulk;
    l.bulk = true;
    return l;
  }
  const bool want_prefetch = prefetch_knob >= 0 ? prefetch_knob != 0 : small || k.l2_prefetch;
  if (want_prefetch && fits(k.prefetching)) {
    l.kernel = k.prefetching;
    l.l2_prefetch = true;
  }
  return l;
}

// Dynamic shared memory for launch l when it overlaps the previous kernel (LaunchOptions::overlap_previous). A
// staged grid is sized to l.per_sm blocks a multiprocessor, which can be fewer than fit (the bf16 and f32 kernels
// of 76-80 registers fit three). Launched in stream order, every multiprocessor starts empty and the scheduler gives
// each its share; an overlapping launch's blocks are placed as the previous kernel's blocks leave, so the first
// multiprocessors to free up take as many as fit, others fewer, and the persistent grid (equal work a block) waits
// for its most crowded multiprocessor: measured 1.05-1.12x slower (stop 16 run 1, docs/performance.md: contiguous
// 16384x4096 bf16 70.6 -> 78.0 us; f16, at 2 blocks by registers, 0.99x). Asking for shared memory the stages do not
// use, so that only l.per_sm blocks fit, gives back stream order's placement: the smallest such size, in KiB steps.
// l.smem when l.per_sm blocks is already all that fits, or no size achieves it, or the runtime cannot say.
std::size_t overlap_smem(const Launch& l) {
  if (l.stages == 0 || l.per_sm <= 0) return l.smem;
  static std::mutex mu;
  static std::map<std::tuple<KernelFn, int, std::size_t, std::int64_t>, std::size_t> known;
  const auto key = std::make_tuple(l.kernel, l.threads, l.smem, l.per_sm);
  {
    const std::lock_guard<std::mutex> lock(mu);
    if (auto it = known.find(key); it != known.end()) return it->second;
  }
  const std::int64_t most = l.per_sm * device_info().multiprocessors;
  const auto fits = [&](std::size_t smem) { return resident_blocks(l.kernel, l.threads, smem) <= most; };
  std::size_t found = l.smem;
  const auto top = static_cast<std::size_t>(device_info().max_dynamic_shared);
  if (!fits(l.smem) && top > l.smem && fits(top)) {
    std::size_t lo = l.smem, hi = top;  // !fits(lo), fits(hi)
    while (hi - lo > 1024) {
      const std::size_t mid = lo + (hi - lo) / 2;
      (fits(mid) ? hi : lo) = mid;
    }
    found = hi;
  }
  const std::lock_guard<std::mutex> lock(mu);
  known[key] = found;
  return found;
}

}  // namespace

std::int64_t launch_blocks(const Plan& p) { return launch_for(p).blocks; }

std::int64_t device_multiprocessors() { return device_info().multiprocessors; }

std::string describe_launch(const Plan& p) {
  const Launch l = launch_for(p);
  return std::string("kernel=") + kernel_name(l.kind) + " per_sm=" + std::to_string(l.per_sm) +
         " launch_blocks=" + std::to_string(l.blocks) +
         " block_threads=" + std::to_string(l.threads) +
         " stages=" + std::to_string(l.stages) + " l2_prefetch=" + (l.l2_prefetch ? "1" : "0") +
         " bulk_copy=" + (l.bulk ? "1" : "0");
}

int launch_norm(const Plan& p, void* stream, unsigned* blocks_ran, const LaunchOptions& options) {
  const Launch l = launch_for(p);
  if (l.blocks == 0) return hipSuccess;
  KernelArgs a = p.args;
  a.threads_per_block = l.threads;
  if (l.cache_rows) a.cache_rows = true;  // the plain 8-chunk kernel (Kernels::cache_rows)
  const std::int64_t groups = a.row_groups();
  const dim3 grid(static_cast<unsigned>(l.blocks)), block(static_cast<unsigned>(l.threads));
  // Overlap only where the device has it (sm_90+ CUDA), so that elsewhere the option is a plain launch by
  // construction, whatever the runtime would make of the attribute. Rows across warps never overlap: their grid is
  // a block a row group, placed as the previous kernel's blocks leave, and overlapped they were slower (stop 21 run
  // 4: transposed 2048x4096 bf16 28.1 -> 34.9 us, 16384 tokens 193.8 -> 196.2; docs/performance.md).
  const bool overlap = options.overlap_previous && device_info().dependent_launch && l.kind != KernelKind::kColumns;
  const std::size_t smem = overlap ? overlap_smem(l) : l.smem;
  launches_by_kind[static_cast<int>(l.kind)].fetch_add(1, std::memory_order_relaxed);
  return static_cast<int>(sg_launch(l.kernel, grid, block, smem, static_cast<hipStream_t>(stream), overlap, a,
                                    groups, l.stages, blocks_ran));
}

std::map<std::string, std::int64_t> launch_counts() {
  std::map<std::string, std::int64_t> m;
  for (int k = 0; k < static_cast<int>(KernelKind::kCount); ++k) {
    m[kKernelNames[k]] = launches_by_kind[k].load(std::memory_order_relaxed);
  }
  return m;
}

bool block_clock_built() {
#ifdef SG_BLOCK_CLOCK
  return true;
#else
  return false;
#endif
}

std::vector<BlockClock> block_clock(std::int64_t blocks) {
  std::vector<BlockClock> v;
#ifdef SG_BLOCK_CLOCK
  std::vector<unsigned long long> raw(static_cast<std::size_t>(kClockFields) * kClockBlocks);
  if (hipMemcpyFromSymbol(raw.data(), HIP_SYMBOL(sg_block_clock), raw.size() * sizeof raw[0]) != hipSuccess) {
    (void)hipGetLastError();
    return v;
  }
  for (std::int64_t b = 0; b < blocks && b < kClockBlocks; ++b) {
    const auto at = [&](ClockField what) { return raw[static_cast<std::size_t>(what * kClockBlocks + b)]; };
    v.push_back({at(kClockStart), at(kClockFirstData), at(kClockEnd), static_cast<int>(at(kClockMultiprocessor))});
  }
#else
  (void)blocks;
#endif
  return v;
}

std::string error_text(int hip_error) {
  const auto e = static_cast<hipError_t>(hip_error);
  return std::string(hipGetErrorName(e)) + " (" + hipGetErrorString(e) + ")";
}

}  // namespace strideguard::gpu
