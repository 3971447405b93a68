// The RMSNorm / fused-add RMSNorm kernels, written once: per-thread code shared by the GPU and the CPU backend.
//
// A launch is a grid of blocks of threads_per_block threads. Each row is owned by a group of `lanes` consecutive
// threads (lanes == threads_per_block: block-per-row; lanes <= 32: sub-warp-per-row, several rows per block).
// A row's columns are cut into chunks of kChunk = 16 bytes / sizeof(element); lane l owns chunks l, l+lanes, ...
// in both the vector variant (one 16-byte access per chunk) and the scalar variant (one access per element), so
// both variants add the same numbers in the same order and give bit-identical output. Geometry depends on hidden
// and dtype only, never on the layout: the same values in any layout reduce in the same order.
//
// The kernel has two passes separated by one row reduction (a barrier on the GPU, a loop boundary on the CPU):
//   pass1: load the row (fused: s = x + round(residual [+ post]), store s to residual_out), partial sum of squares
//   reduce: butterfly over each 32-lane group (shuffle xor), then the group sums in index order
//   pass2: inv = 1 / sqrt(sum / hidden + eps); out = (v * inv) * weight, rounded to nearest even
// Device code checks nothing: the planner proved every access in bounds (and aligned, for the vector variant).
#pragma once

#include <cstdint>

#include "kernels/dtype.hpp"
#include "kernels/norm_call.hpp"
#include "kernels/sg_hd.hpp"

namespace strideguard {

inline constexpr int kMaxRowDims = kMaxRank - 1;
inline constexpr int kReduceGroup = 32;     // lanes reduced by shuffles; the rest goes through shared memory
inline constexpr int kMaxThreads = 1024;    // CUDA's and HIP's block limit
// Lanes a long row gets at most: longer rows give each lane more chunks. Blocks are 256 threads (several rows
// each when a row has fewer lanes), so the kernel's register budget is set per 256 threads (norm_gpu.hip).
inline constexpr int kMaxLanes = 256;
inline constexpr int kMaxCachedChunks = 4;  // chunks a thread keeps in registers between the passes
// The larger register cache the GPU's wide-row kernel keeps for plain rows the plan leaves uncached (kernels/gpu/
// norm_gpu.hip, wide_chunks); the CPU backend runs it too (CpuRunOptions::wide_cache), for the test of its bytes.
inline constexpr int kWideCachedChunks = 8;

// Loops with a compile-time trip count that index register arrays must be unrolled on the GPU, or the arrays move
// to the thread's stack. Host compilers decide for themselves (GCC would warn on an unknown pragma).
#if SG_DEVICE_PASS
#define SG_UNROLL _Pragma("unroll")
#else
#define SG_UNROLL
#endif

// The least l with 2^l >= n (0 for n <= 1).
SG_HD constexpr int ceil_log2(std::int64_t n) {
  int l = 0;
  while ((std::int64_t{1} << l) < n) ++l;
  return l;
}

// Where row r of one operand starts: offset + sum_k idx_k(r) * stride[k], with idx decoded row-major from sizes.
// ndims == 0: every row starts at offset (a weight, or a single row); ndims == 1: a single pitch.
struct RowMap {
  int ndims = 0;
  std::int64_t size[kMaxRowDims] = {};
  std::int64_t stride[kMaxRowDims] = {};
  std::int64_t offset = 0;
  // Division by size[k] as a multiply and a shift (Granlund & Montgomery, "Division by invariant integers using
  // multiplication", 1994, fig. 4.1): for 0 <= r < 2^32 and 1 <= size[k] < 2^31,
  //   r / size[k] == (umulhi(r, magic[k]) + r) >> shift[k]        (the sum in 64 bits)
  // magic[k] == 0: not prepared, divide. A GPU has no integer divider: a 32-bit division by a run-time value is
  // a ~20-instruction sequence, and a packed-QKV head slice decodes one per row per operand (docs/performance.md).
  std::uint32_t magic[kMaxRowDims] = {};
  std::uint32_t shift[kMaxRowDims] = {};

  // Fills magic/shift for the sizes set (host side, once per plan).
  void prepare_division() {
    for (int k = 0; k < ndims; ++k) {
      magic[k] = 0;
      shift[k] = 0;
      const std::int64_t d = size[k];
      if (d < 1 || d >= (std::int64_t{1} << 31)) continue;
      const auto l = static_cast<std::uint32_t>(ceil_log2(d));
      const std::uint64_t m = ((std::uint64_t{1} << 32) * ((std::uint64_t{1} << l) - static_cast<std::uint64_t>(d))) /
                                  static_cast<std::uint64_t>(d) + 1;
      magic[k] = static_cast<std::uint32_t>(m);  // m <= 2^32 - 1 for every d >= 1 (m == 1 when d is a power of 2)
      shift[k] = l;
    }
  }

  // r / size[k] and r % size[k] through the prepared multiplier, when it applies (r < 2^32, prepared size).
  SG_HD bool split_fast(int k, std::int64_t r, std::int64_t& q, std::int64_t& rem) const {
    if (magic[k] == 0 || (static_cast<std::uint64_t>(r) >> 32) != 0) return false;
    const auto r32 = static_cast<std::uint32_t>(r);
    const auto hi = static_cast<std::uint32_t>((static_cast<std::uint64_t>(r32) * magic[k]) >> 32);
    const auto q32 = static_cast<std::uint32_t>((static_cast<std::uint64_t>(hi) + r32) >> shift[k]);
    q = q32;
    rem = static_cast<std::int64_t>(r32 - q32 * static_cast<std::uint32_t>(size[k]));
    return true;
  }

  SG_HD std::int64_t row_offset(std::int64_t r) const {
    if (ndims == 1) return offset + r * stride[0];  // the common case: one pitch, no division
    if (ndims == 2) {
      // Head slices of a packed projection, (tokens, heads): one multiply-and-shift, no loop. For r < size[0] *
      // size[1] (every row a kernel visits) q is the dim-0 index itself; the general loop would reduce it modulo
      // size[0] and agree.
      std::int64_t q = 0, rem = 0;
      if (split_fast(1, r, q, rem)) return offset + rem * stride[1] + q * stride[0];
    }
    // Every other map (0 or 3+ dims, sizes or rows past 2^32). Kept inline: moving this loop out of line
    // (noinline) shrank the staged kernel's code by two thirds but made it 2-9% slower on an H100
    // (docs/performance.md, v12).
    std::int64_t off = offset;
    for (int k = ndims - 1; k >= 0; --k) {
      const std::int64_t n = size[k];
      std::int64_t q = 0;
      // A 64-bit division is a long software sequence on GPUs; row indices and sizes below 2^32 (every realistic
      // packed-QKV slice) take the 32-bit path. Every path is exact, so the offset is the same either way.
      if (((static_cast<std::uint64_t>(r) | static_cast<std::uint64_t>(n)) >> 32) == 0) {
        const auto r32 = static_cast<std::uint32_t>(r);
        if (magic[k] != 0) {
          const auto hi = static_cast<std::uint32_t>((static_cast<std::uint64_t>(r32) * magic[k]) >> 32);
          q = static_cast<std::int64_t>((static_cast<std::uint64_t>(hi) + r32) >> shift[k]);
        } else {
          q = static_cast<std::int64_t>(r32 / static_cast<std::uint32_t>(n));
        }
      } else {
        q = r / n;
      }
      off += (r - q * n) * stride[k];
      r = q;
    }
    return off;
  }

  // The row maps row_offset_simple() serves for every row below `rows`: at most 2 dims (0 dims only with no pitch),
  // and 2 only with dim 1's division prepared and rows <= 2^32, where row_offset takes its loop-free path anyway.
  bool simple(std::int64_t rows) const {
    if (ndims == 0) return stride[0] == 0;
    if (ndims == 1) return true;
    return ndims == 2 && magic[1] != 0 && rows <= (std::int64_t{1} << 32);
  }

  // row_offset without its general loop, for the GPU's kernels of plans whose every row map is simple(): the
  // staged kernel inlines a row decode per operand, and the general loop's copies, never run on such plans, were
  // most of its machine code (docs/performance.md, v13).
  // @pre simple(rows) and 0 <= r < rows. @post the same value as row_offset(r).
  SG_HD std::int64_t row_offset_simple(std::int64_t r) const {
    if (ndims == 2) {
      const auto r32 = static_cast<std::uint32_t>(r);
      const auto hi = static_cast<std::uint32_t>((static_cast<std::uint64_t>(r32) * magic[1]) >> 32);
      const auto q = static_cast<std::uint32_t>((static_cast<std::uint64_t>(hi) + r32) >> shift[1]);
      const auto rem = static_cast<std::int64_t>(r32 - q * static_cast<std::uint32_t>(size[1]));
      return offset + rem * stride[1] + static_cast<std::int64_t>(q) * stride[0];
    }
    return offset + r * stride[0];
  }
};

// How the kernel addresses one operand: storage base, row map, and the stride between columns.
struct OperandAccess {
  void* base = nullptr;  // storage element 0
  RowMap rows;
  std::int64_t col_stride = 1;
};

struct KernelArgs {
  OperandAccess x, weight, residual, post, out, residual_out;
  std::int64_t rows = 0;
  std::int64_t hidden = 0;
  float eps = 0.f;
  int lanes = 1;              // threads per row
  int threads_per_block = 1;  // a multiple of lanes
  int chunks_per_thread = 1;  // ceil(ceil(hidden / kChunk) / lanes)
  bool has_post = false;
  bool cache_rows = true;     // keep pass-1 values in registers (false: pass 2 reads memory again)
  // Rows across warps (column_rows_pay(), set by the planner): a block holds kColumnRows rows, thread t of it is row
  // t % kColumnRows and lanes t / kColumnRows, + threads / kColumnRows, ...; cache_rows is then false.
  bool column_rows = false;
  // Column stride used when pass 2 reads x again; equals x.col_stride on every correct plan (the lightllm-1467
  // bug model sets 1 here to reproduce a kernel whose second pass forgot the stride).
  std::int64_t x_pass2_col_stride = 1;

  SG_HD int rows_per_block() const;
  SG_HD std::int64_t row_groups() const { return (rows + rows_per_block() - 1) / rows_per_block(); }
};

// Rows across warps: x's consecutive rows are consecutive elements while its columns are not (a transposed view,
// hidden the slow dim), so a warp of one row's lanes would touch a 32-byte sector for each 2- or 4-byte element.
// Such plans run blocks of kColumnRows rows instead, in which thread t is row t % kColumnRows at lanes
// t / kColumnRows, + kColumnSlots, ...: a warp's access is then kColumnRows adjacent elements (16 bytes in 16-bit
// dtypes, a 32-byte sector in f32; the neighbouring rows are the next block's, read at about the same time) at each
// of its 32 / kColumnRows lanes' columns. Each (row, lane) runs the same per-thread program as in any plan, in the
// same chunk order, and each row's partials are reduced in reduce_row_emulated's order, so the bytes are those of
// the same plan in row-per-lanes blocks (test CpuBackend.ColumnRowsWriteTheBytesOfRowsAlongWarps). Blocks are
// kColumnRows * min(lanes, kColumnSlots) threads. 8 rows, measured against 16, 32 and 4 on the H200
// (docs/performance.md, stop 21): at 2048 tokens more blocks (256 for 2048 rows) and fewer lanes a thread, at 16384
// a block's rows (re-read by pass 2) small enough for every resident block's to stay in L2; 8 rows were 1.4-1.75x
// faster than 16 at 2048 tokens and 0.96-1.34x at 16384, 16 rows 2.2-2.5x faster than 32, 4 rows slower than 8
// except in fused f32.
#ifndef SG_COLUMN_ROWS  // a build option for benchmarks only (4, 8, 16 or 32); the tests run the default
#define SG_COLUMN_ROWS 8
#endif
inline constexpr int kColumnRows = SG_COLUMN_ROWS;
inline constexpr int kColumnSlots = kMaxLanes / kColumnRows;  // lane slots a block: at most kMaxLanes threads

SG_HD int KernelArgs::rows_per_block() const { return column_rows ? kColumnRows : threads_per_block / lanes; }

// Whether the planner gives a scalar-access plan rows across warps: x's innermost row dim has stride 1 (and is at
// least a block's kColumnRows long, or the only one), and its columns are not adjacent. Vector plans never qualify
// (their columns have stride 1).
inline bool column_rows_pay(const KernelArgs& a) {
  const RowMap& m = a.x.rows;
  if (m.ndims < 1 || a.x.col_stride == 1 || m.stride[m.ndims - 1] != 1) return false;
  return m.ndims == 1 || m.size[m.ndims - 1] >= kColumnRows;
}

// Launch geometry: a function of hidden and element size only (see the file comment for why).
struct Geometry {
  int lanes = 1;
  int threads_per_block = 1;
  int chunks_per_thread = 1;
};

SG_HD constexpr int chunk_elems(int elem_size) { return 16 / elem_size; }

// The most chunks a thread can own: KernelArgs::chunks_per_thread is an int.
inline constexpr std::int64_t kMaxChunksPerThread = 2147483647;

// The longest row (hidden, in elements) a plan may have: kMaxChunksPerThread at kMaxLanes lanes. The planner rejects
// longer rows (Status::kRowTooLong); only views that repeat one element (stride 0) or have no rows can be that long.
SG_HD constexpr std::int64_t max_hidden(int elem_size) {
  return kMaxChunksPerThread * kMaxLanes * chunk_elems(elem_size);
}

// The chunks of a row of `hidden` elements (the last one partial where hidden is not a multiple of the chunk),
// without overflow for any hidden >= 0 (`hidden + chunk - 1` overflowed at INT64_MAX, found by fuzz_planner).
inline std::int64_t row_chunks(std::int64_t hidden, int elem_size) {
  const std::int64_t ce = chunk_elems(elem_size);
  return hidden / ce + (hidden % ce != 0 ? 1 : 0);
}

// @pre hidden >= 0. Any such hidden, also past max_hidden (the bug-model planners do not reject those), gives a
// geometry without overflow; chunks_per_thread saturates at kMaxChunksPerThread there.
inline Geometry choose_geometry(std::int64_t hidden, int elem_size) {
  const std::int64_t chunks = row_chunks(hidden, elem_size);
  Geometry g;
  // As few lanes as keep every chunk in the register cache (kMaxCachedChunks a lane): a power of two, at most
  // kMaxLanes. A row's fixed cost (row decode, reduction, scale) is paid by every lane of the row, so fewer lanes
  // a row means less of it per byte: a packed-QKV head (128 bf16 = 16 chunks) gets 4 lanes of 4 chunks, not 16
  // of 1, whose per-row cost made those slices instruction-bound at 58-70% of the copy ceiling on an H100
  // (docs/performance.md, v12). And more rows, hence more bytes, are in flight between reduction barriers: with
  // one chunk a lane, 16384x4096 bf16 ran at 46% of the copy ceiling (v4).
  const std::int64_t want = (chunks + kMaxCachedChunks - 1) / kMaxCachedChunks;
  std::int64_t lanes = 1;
  while (lanes < want && lanes < kMaxLanes) lanes *= 2;
  g.lanes = static_cast<int>(lanes);
  g.threads_per_block = g.lanes > 256 ? g.lanes : 256;  // several rows a block when lanes < 256
  const std::int64_t per_thread = chunks / lanes + (chunks % lanes != 0 ? 1 : 0);
  g.chunks_per_thread =
      static_cast<int>(per_thread < 1 ? 1 : per_thread > kMaxChunksPerThread ? kMaxChunksPerThread : per_thread);
  return g;
}

// Per-thread program. Mem is the memory accessor: raw pointers on the GPU, checked accesses on the CPU backend.
// Mem::load<N>(id, base, elem_index, dst) / Mem::store<N>(...) move N consecutive elements (N = kChunk: one
// 16-byte access; N = 1: one element).
//
// kCached: chunks a thread keeps in registers (kMaxCachedChunks everywhere, except the GPU's kernel for rows of
// one chunk a lane, which instantiates 1 so the compiler drops the rest; valid only for chunks_per_thread <=
// kCached when the row cache is on).
//
// kSimpleRows: every row map of the plan is RowMap::simple() (simple_rows()), so rows are decoded by
// row_offset_simple; the offsets are the same, the code smaller (visit_program chooses it, CPU and GPU alike).
template <DType kDType, bool kVector, bool kFused, int kCached = kMaxCachedChunks, bool kSimpleRows = false>
struct RowProgram {
  using Traits = DTypeTraits<kDType>;
  using S = typename Traits::Storage;
  static constexpr int kChunk = chunk_elems(sizeof(S));
  static constexpr int kAccess = kVector ? kChunk : 1;
  static constexpr bool kIsVector = kVector;
  static constexpr int kCachedChunks = kCached;
  template <int N>
  using WithCached = RowProgram<kDType, kVector, kFused, N, kSimpleRows>;
  static constexpr bool kSimple = kSimpleRows;

  // Where row `row` of an operand starts (RowMap::row_offset, or row_offset_simple on kSimpleRows programs).
  SG_HD static std::int64_t row_off(const RowMap& m, std::int64_t row) {
    if constexpr (kSimpleRows) {
      return m.row_offset_simple(row);
    } else {
      return m.row_offset(row);
    }
  }

  // The cache keeps pass-1 values as stored, packed in 32-bit words: every cached value is exact in the dtype (a
  // loaded element, or a fused sum already rounded to it), so converting back in pass 2 gives the same fp32 bits,
  // and a 16-byte chunk costs 4 registers whatever the dtype (a 16-bit array element would take a whole one).
  static constexpr int kChunkWords = 16 / 4;
  struct State {
    std::uint32_t cache[kCached * kChunkWords];
    std::uint32_t wcache[kCached * kChunkWords];  // the weight's cached chunks, loaded in pass 1
    float partial;
  };
  SG_HD static void cache_put(State& st, int k, const S (&xs)[kChunk]) {
    std::memcpy(&st.cache[k * kChunkWords], xs, sizeof xs);
  }
  SG_HD static void cache_get(const State& st, int k, S (&xs)[kChunk]) {
    std::memcpy(xs, &st.cache[k * kChunkWords], sizeof xs);
  }
  SG_HD static void wcache_get(const State& st, int k, S (&ws)[kChunk]) {
    std::memcpy(ws, &st.wcache[k * kChunkWords], sizeof ws);
  }

  // The widest access, in elements, that moves a whole chunk of a unit-stride row at storage element `index` of
  // `base` in pieces aligned to their size: kChunk (16 bytes), 8 or 4 bytes' worth, else 1. Scalar programs (the
  // plan could not prove every chunk of every row 16-byte aligned, e.g. a row pitch of 4100 bf16) decide it per
  // chunk from the address itself, so misaligned rows still move 8 or 4 bytes an access where their addresses allow
  // (docs/performance.md, stop 20); the elements moved, hence every value, are the same as one at a time. The CPU
  // backend runs this same decision on its own buffers and checks each access's alignment as it does every access.
  static constexpr int kPiece8 = static_cast<int>(8 / sizeof(S));  // elements in 8 bytes: 2 (f32) or 4 (16-bit)
  static constexpr int kPiece4 = static_cast<int>(4 / sizeof(S));  // in 4 bytes: 1 (f32: the element loop) or 2
  SG_HD static int piece_elems(const S* base, std::int64_t index) {
    // Integer arithmetic, not base + index: a bug model's index may lie outside the storage (the access is then
    // refused by the CPU backend's check), and forming such a pointer is undefined.
    const auto addr = reinterpret_cast<std::uintptr_t>(base) + static_cast<std::uintptr_t>(index) * sizeof(S);
    if (addr % 16 == 0) return kChunk;
    if (addr % 8 == 0) return kPiece8;
    if (addr % 4 == 0) return kPiece4;
    return 1;
  }

  // Moves chunk elements [0, kChunk) in pieces of P elements (P * sizeof(S) bytes, aligned to that).
  template <int P, class Mem>
  SG_HD static void load_pieces(Mem& m, OperandId id, const S* base, std::int64_t index, S (&s)[kChunk]) {
    SG_UNROLL
    for (int j = 0; j < kChunk; j += P) {
      S tmp[P];
      m.template load<P>(id, base, index + j, tmp);
      SG_UNROLL
      for (int q = 0; q < P; ++q) s[j + q] = tmp[q];
    }
  }
  template <int P, class Mem>
  SG_HD static void store_pieces(Mem& m, OperandId id, S* base, std::int64_t index, const S (&s)[kChunk]) {
    SG_UNROLL
    for (int j = 0; j < kChunk; j += P) {
      S tmp[P];
      SG_UNROLL
      for (int q = 0; q < P; ++q) tmp[q] = s[j + q];
      m.template store<P>(id, base, index + j, tmp);
    }
  }

  // A whole chunk of a unit-stride row at storage element `index` of `base`, as wide as its address allows: calls
  // move.template operator()<P>() for the widest piece P of piece_elems (kChunk, kPiece8 or kPiece4 elements; a
  // piece of one element is left to the caller's element loop) and says whether it did. load_raw and store_raw
  // both decide so.
  template <class Move>
  SG_HD static bool move_in_pieces(const S* base, std::int64_t index, Move&& move) {
    const int w = piece_elems(base, index);
    if (w == kChunk) return move.template operator()<kChunk>(), true;
    if (w == kPiece8) return move.template operator()<kPiece8>(), true;
    if constexpr (kPiece4 > 1) {
      if (w == kPiece4) return move.template operator()<kPiece4>(), true;
    }
    return false;
  }

  // Loads the n valid elements of one chunk starting at column col0, as stored.
  template <class Mem>
  SG_HD static void load_raw(Mem& m, OperandId id, const OperandAccess& op, std::int64_t row_off, std::int64_t col0,
                             std::int64_t col_stride, int n, S (&s)[kChunk]) {
    S* base = static_cast<S*>(op.base);
    if constexpr (kVector) {
      m.template load<kChunk>(id, base, row_off + col0, s);
    } else {
      if (n == kChunk) {
        if (col_stride == 1) {  // a whole chunk of a unit-stride row: as wide as its address allows
          const std::int64_t index = row_off + col0;
          const auto load = [&]<int P>() {
            if constexpr (P == kChunk) return m.template load<kChunk>(id, base, index, s);  // one 16-byte access
            else return load_pieces<P>(m, id, base, index, s);
          };
          if (move_in_pieces(base, index, load)) return;
        }
        // A whole chunk element by element (strided columns, or an address aligned to less than 4 bytes).
        return load_elements<true>(m, id, base, row_off, col0, col_stride, kChunk, s);
      }
      load_elements<false>(m, id, base, row_off, col0, col_stride, n, s);  // a row's last, partial chunk
    }
  }

  // Elements j of a chunk, one access each, at row_off + (col0 + j) * col_stride: all kChunk of them with no test
  // between the loads (kWhole), so they issue back to back; else the first n, at a constant trip count with a
  // predicate, not j < n, so every index is a constant after unrolling and s stays in registers (a run-time bound put
  // the chunk arrays on the thread's stack: 288-480 bytes of stack frame in the unstaged kernel's scalar programs).
  // Whole chunks take no predicate because with it each load sat in its own basic block together with the
  // instruction that packs its value into s, which waited for the load before the next one could issue: a memory
  // round trip per element (docs/performance.md, stop 21).
  template <bool kWhole, class Mem>
  SG_HD static void load_elements(Mem& m, OperandId id, const S* base, std::int64_t row_off, std::int64_t col0,
                                  std::int64_t col_stride, int n, S (&s)[kChunk]) {
    SG_UNROLL
    for (int j = 0; j < kChunk; ++j) {
      if (!kWhole && j >= n) break;
      S tmp[1];
      m.template load<1>(id, base, row_off + (col0 + j) * col_stride, tmp);
      s[j] = tmp[0];
    }
  }

  // Loads the n valid elements of one chunk starting at column col0 into v (as fp32).
  template <class Mem>
  SG_HD static void load_chunk(Mem& m, OperandId id, const OperandAccess& op, std::int64_t row_off,
                               std::int64_t col0, std::int64_t col_stride, int n, float (&v)[kChunk]) {
    S s[kChunk] = {};  // a scalar chunk loads n elements; decode reads no more (zeroed: compilers can't tell)
    load_raw(m, id, op, row_off, col0, col_stride, n, s);
    decode(s, kVector ? kChunk : n, v);
  }

  template <class Mem>
  SG_HD static void store_raw(Mem& m, OperandId id, const OperandAccess& op, std::int64_t row_off, std::int64_t col0,
                              int n, const S (&s)[kChunk]) {
    S* base = static_cast<S*>(op.base);
    if constexpr (kVector) {
      m.template store<kChunk>(id, base, row_off + col0, s);
    } else {
      if (op.col_stride == 1 && n == kChunk) {  // as load_raw: as wide as the address allows
        const std::int64_t index = row_off + col0;
        const auto store = [&]<int P>() {
          if constexpr (P == kChunk) return m.template store<kChunk>(id, base, index, s);
          else return store_pieces<P>(m, id, base, index, s);
        };
        if (move_in_pieces(base, index, store)) return;
      }
      SG_UNROLL
      for (int j = 0; j < kChunk; ++j) {  // as load_raw: a constant trip count
        if (j >= n) break;
        S tmp[1] = {s[j]};
        m.template store<1>(id, base, row_off + (col0 + j) * op.col_stride, tmp);
      }
    }
  }

  // Stores the n valid values of v, each encode()d (NaN canonicalised, rounded to the dtype).
  template <class Mem>
  SG_HD static void store_chunk(Mem& m, OperandId id, const OperandAccess& op, std::int64_t row_off,
                                std::int64_t col0, int n, const float (&v)[kChunk]) {
    S s[kChunk];
    encode_chunk(v, kVector ? kChunk : n, s);
    store_raw(m, id, op, row_off, col0, n, s);
  }

  // Conversions. The CPU backend (and the host pass) use the exact software conversions of kernels/dtype.hpp; on
  // the GPU the same functions cost tens of integer instructions per element, which made fp16 compute-bound at a
  // fifth of the memory bandwidth (docs/performance.md). The device pass uses the hardware conversions instead,
  // which give the same bits:
  //   - f16 -> f32 is exact for every non-NaN input, in software and in hardware. NaN payloads may differ, but a
  //     converted value only reaches memory through canonical_nan() (out, residual_out and the fused residual
  //     sum are canonicalised before they are stored), so no NaN payload from here is ever written;
  //   - f32 -> f16 / bf16 round to nearest even, subnormals kept, overflow to inf, in IEEE hardware conversion
  //     (no .ftz) exactly as dtype.hpp does; every value converted is canonical_nan()'d first, and the one NaN
  //     pattern left is mapped to the software's bits (0x7e00 / 0x7fc0) by hand.
  SG_HD static float to_f32(S v) {
#if SG_DEVICE_PASS && defined(__CUDA_ARCH__)
    if constexpr (kDType == DType::kF16) {
      float f;
      asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v));
      return f;
    }
#elif SG_DEVICE_PASS && defined(__HIP_DEVICE_COMPILE__)
    if constexpr (kDType == DType::kF16) return static_cast<float>(__builtin_bit_cast(_Float16, v));
#endif
    return Traits::to_f32(v);
  }
  SG_HD static S from_f32(float v) {
#if SG_DEVICE_PASS && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if constexpr (kDType == DType::kF16) {
      S h;
      asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
      return v != v ? S{0x7e00} : h;
    }
    if constexpr (kDType == DType::kBF16) {
      S h;
      asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(v));
      return v != v ? S{0x7fc0} : h;
    }
#elif SG_DEVICE_PASS && defined(__HIP_DEVICE_COMPILE__)
    if constexpr (kDType == DType::kF16) {
      return v != v ? S{0x7e00} : __builtin_bit_cast(S, static_cast<_Float16>(v));
    }
#endif
    return Traits::from_f32(v);
  }

  // A NaN the kernel creates (inf * 0 in pass 2, inf - inf in the fused sum) carries the hardware's default NaN:
  // negative on x86 (0xffc00000), positive on NVIDIA GPUs (0x7fffffff). Every computed value goes through this
  // before it is stored, so the CPU and GPU backends write the same bits for NaN too (seen on an H100: f16 out
  // 0xfe00 on the CPU, 0x7e00 on the GPU, for the same case).
  SG_HD static float canonical_nan(float v) { return v != v ? bits_float(0x7fc00000u) : v; }

  // A computed value as stored: from_f32(canonical_nan(v)). The device's 16-bit from_f32 already writes the
  // canonical NaN bits for every NaN (see from_f32), so there the explicit canonicalisation is left out: two
  // instructions less per element, the same bits.
  SG_HD static S encode(float v) {
#if SG_DEVICE_PASS && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    if constexpr (kDType != DType::kF32) return from_f32(v);
#elif SG_DEVICE_PASS && defined(__HIP_DEVICE_COMPILE__)
    if constexpr (kDType == DType::kF16) return from_f32(v);
#endif
    return from_f32(canonical_nan(v));
  }

  // The first n elements of a chunk as fp32 (to_f32 of each); v[j] = 0 for j >= n. A whole bf16 chunk on the
  // device is read as 32-bit words, two elements each: the low element shifted up, the high one masked, which is
  // to_f32's bits in one instruction an element (the compiler's per-element extraction took 1.5).
  SG_HD static void decode(const S (&s)[kChunk], int n, float (&v)[kChunk]) {
#if SG_DEVICE_PASS
    if constexpr (kDType == DType::kBF16 && kVector) {
      std::uint32_t w[kChunkWords];
      std::memcpy(w, s, sizeof w);
      for (int i = 0; i < kChunkWords; ++i) {
        v[2 * i] = bits_float(w[i] << 16);
        v[2 * i + 1] = bits_float(w[i] & 0xffff0000u);
      }
    } else  // the generic loop below is the else branch on the device (no unreachable code for nvcc to flag)
#endif
    {
      for (int j = 0; j < kChunk; ++j) v[j] = j < n ? to_f32(s[j]) : 0.f;
    }
  }

  // s[j] = encode(v[j]) for the first n elements. A whole 16-bit chunk on an NVIDIA device converts two values
  // per instruction (cvt.rn.{bf16x2,f16x2}.f32: the same rounding as the one-value cvt of from_f32) and maps a
  // NaN half to the canonical bits with one compare-and-mask on the packed pair (set.nan on the halves), the
  // same bits as encode() element by element: 3 instructions a pair instead of 8 (docs/performance.md, v12).
  SG_HD static void encode_chunk(const float (&v)[kChunk], int n, S (&s)[kChunk]) {
#if SG_DEVICE_PASS && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if constexpr (kDType != DType::kF32 && kVector) {
      std::uint32_t w[kChunkWords];
      for (int i = 0; i < kChunkWords; ++i) {
        std::uint32_t packed, nan;
        if constexpr (kDType == DType::kBF16) {
          asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(v[2 * i + 1]), "f"(v[2 * i]));
          asm("set.nan.u32.bf16x2 %0, %1, %1;" : "=r"(nan) : "r"(packed));
          w[i] = (packed & ~nan) | (0x7fc07fc0u & nan);
        } else {
          asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(v[2 * i + 1]), "f"(v[2 * i]));
          asm("set.nan.u32.f16x2 %0, %1, %1;" : "=r"(nan) : "r"(packed));
          w[i] = (packed & ~nan) | (0x7e007e00u & nan);
        }
      }
      std::memcpy(s, w, sizeof w);
    } else  // as in decode
#endif
    {
      SG_UNROLL
      for (int j = 0; j < kChunk; ++j) {  // as load_raw: a constant trip count
        if (j >= n) break;
        s[j] = encode(v[j]);
      }
    }
  }

  // The sum of squares of one chunk's values, as a fixed pairwise tree over its kChunk slots: slot j + w is added
  // to slot j for w = kChunk/2 .. 1. Slots past the valid elements hold +0 (decode), which changes no sum (every
  // square is +0 or more, or NaN), so a partial chunk of the scalar variant adds the same numbers in the same
  // order as a whole one. A tree, not a chain: 3 dependent additions a 16-bit chunk instead of 8.
  SG_HD static float chunk_sumsq(const float (&v)[kChunk]) {
    float q[kChunk];
    SG_UNROLL
    for (int j = 0; j < kChunk; ++j) q[j] = mul_rn(v[j], v[j]);
    SG_UNROLL
    for (int w = kChunk / 2; w >= 1; w /= 2) {
      SG_UNROLL
      for (int j = 0; j < w; ++j) q[j] = add_rn(q[j], q[j + w]);
    }
    return q[0];
  }

  // Chunk k of this lane starts at column (lane + k * lanes) * kChunk; past hidden there is nothing to do.
  SG_HD static std::int64_t chunk_col(const KernelArgs& a, int lane, int k) {
    return (static_cast<std::int64_t>(lane) + static_cast<std::int64_t>(k) * a.lanes) * kChunk;
  }
  SG_HD static int chunk_len(const KernelArgs& a, std::int64_t col0) {
    return a.hidden - col0 < kChunk ? static_cast<int>(a.hidden - col0) : kChunk;
  }

  // Row offsets of the operands pass 1 touches, decoded once per row.
  struct Pass1Rows {
    std::int64_t x = 0, residual = 0, post = 0, residual_out = 0;
  };

  // The operands pass 1 loads for one chunk, in load order: f(o, id, op, row_off) with operand slot o (0 x,
  // 1 residual, 2 post_residual_addition; RowLoads::at) and the operand's row offset. pass1_load and
  // visit_row_loads both go through here.
  template <class F>
  SG_HD static void visit_chunk_operands(const KernelArgs& a, const Pass1Rows& r, F&& f) {
    f(0, OperandId::kX, a.x, r.x);
    if constexpr (kFused) {
      f(1, OperandId::kResidual, a.residual, r.residual);
      if (a.has_post) f(2, OperandId::kPostResidualAddition, a.post, r.post);
    }
  }

  // Pass 1 for one chunk, split in two so that pass1 can issue every cached chunk's loads before it uses any of
  // them (a GPU thread then waits for one memory round trip per row, not one per chunk). The arithmetic and its
  // order are the same either way.
  //   load: x (fused: residual, post) as stored;
  //   compute: fused: s = x + round(residual [+ post]), rounded to the dtype, stored to residual_out; then the
  //   chunk's sum of squares (chunk_sumsq) added to sumsq; xs left holding the values as stored.
  template <class Mem>
  SG_HD static void pass1_load(const KernelArgs& a, Mem& m, const Pass1Rows& r, std::int64_t col0, int n,
                               S (&xs)[kChunk], S (&rs)[kChunk], S (&ps)[kChunk]) {
    visit_chunk_operands(a, r, [&](int o, OperandId id, const OperandAccess& op, std::int64_t row_off) {
      load_raw(m, id, op, row_off, col0, op.col_stride, n, o == 0 ? xs : (o == 1 ? rs : ps));
    });
  }

  template <class Mem>
  SG_HD static void pass1_compute(const KernelArgs& a, Mem& m, const Pass1Rows& r, std::int64_t col0, int n,
                                  float& sumsq, S (&xs)[kChunk], const S (&rs)[kChunk], const S (&ps)[kChunk]) {
    // A vector chunk is always whole (the planner proved 16-byte accesses in bounds): a constant trip count keeps
    // the arrays in registers.
    if constexpr (kVector) n = kChunk;
    float v[kChunk];
    if constexpr (kFused) {
      float res[kChunk];
      decode(rs, n, res);
      if (a.has_post) {
        float p[kChunk];
        decode(ps, n, p);
        for (int j = 0; j < kChunk; ++j) p[j] = add_rn(res[j], p[j]);
        S rounded[kChunk];
        encode_chunk(p, n, rounded);
        decode(rounded, n, res);
      }
      decode(xs, n, v);
      for (int j = 0; j < kChunk; ++j) v[j] = add_rn(v[j], res[j]);
      encode_chunk(v, n, xs);
      store_raw(m, OperandId::kResidualOut, a.residual_out, r.residual_out, col0, n, xs);
    }
    decode(xs, n, v);
    sumsq = add_rn(sumsq, chunk_sumsq(v));
  }

  template <class Mem>
  SG_HD static void pass1_chunk(const KernelArgs& a, Mem& m, const Pass1Rows& r, std::int64_t col0, int n,
                                float& sumsq, S (&xs)[kChunk]) {
    S rs[kChunk], ps[kChunk];
    pass1_load(a, m, r, col0, n, xs, rs, ps);
    pass1_compute(a, m, r, col0, n, sumsq, xs, rs, ps);
  }

  // Chunks are visited in increasing k in every loop below, so the sum of squares adds the same terms in the same
  // order as one plain loop would. The first kMaxCachedChunks are loops with a compile-time trip count: unrolled,
  // every array index is a constant and the arrays live in registers, not on the thread's stack.
  //
  // pass1 = load_weight + load_row + compute_row. The GPU kernel calls the three pieces itself: the weight once
  // per block (it is the same for every row), and the next row's load_row before this row's reduction barrier,
  // so that a thread always has a row's loads in flight (software pipelining). Only loads move; the arithmetic
  // and its order are the same as the CPU backend's plain pass1.
  struct RowLoads {
    S x[kCached][kChunk], r[kCached][kChunk], p[kCached][kChunk];
    // Operand slot o of chunk k: 0 x, 1 residual, 2 post_residual_addition (o is a constant after unrolling).
    SG_HD S (&at(int o, int k))[kChunk] { return o == 0 ? x[k] : o == 1 ? r[k] : p[k]; }
    SG_HD S (&of(int o))[kCached][kChunk] { return o == 0 ? x : o == 1 ? r : p; }  // every chunk of slot o
  };
  static constexpr int kRowOperands = kFused ? 3 : 1;  // operand slots a row load can fill

  // The row offsets of the operands pass 1 loads (x; fused: residual, post), which is all visit_row_loads needs.
  SG_HD static Pass1Rows load_rows(const KernelArgs& a, std::int64_t row) {
    Pass1Rows r;
    r.x = row_off(a.x.rows, row);
    if constexpr (kFused) {
      r.residual = row_off(a.residual.rows, row);
      if (a.has_post) r.post = row_off(a.post.rows, row);
    }
    return r;
  }

  SG_HD static Pass1Rows pass1_rows(const KernelArgs& a, std::int64_t row) {
    Pass1Rows r = load_rows(a, row);
    if constexpr (kFused) r.residual_out = row_off(a.residual_out.rows, row);
    return r;
  }

  // The weight's cached chunks into st.wcache (for pass 2; only when the row cache is on).
  template <class Mem>
  SG_HD static void load_weight(const KernelArgs& a, Mem& m, int lane, State& st) {
    if (!a.cache_rows) return;
    SG_UNROLL
    for (int k = 0; k < kCached; ++k) {
      const std::int64_t col0 = chunk_col(a, lane, k);
      if (k >= a.chunks_per_thread || col0 >= a.hidden) break;
      S ws[kChunk] = {};
      load_raw(m, OperandId::kWeight, a.weight, a.weight.rows.offset, col0, a.weight.col_stride, chunk_len(a, col0),
               ws);
      std::memcpy(&st.wcache[k * kChunkWords], ws, sizeof ws);
    }
  }

  // The loads of the first kMaxCachedChunks chunks of a row, one call f(k, o, id, op, row_off, col0, n) per chunk
  // and operand: chunk k, operand slot o (RowLoads::at), the operand, its row offset, first column, valid elements.
  // load_row goes through here, and so do the GPU's staged copies (kernels/gpu/norm_gpu.hip copies these chunks
  // into shared memory ahead of use), so both address exactly the elements the CPU backend checks.
  template <class F>
  SG_HD static void visit_row_loads(const KernelArgs& a, std::int64_t row, int lane, F&& f) {
    const Pass1Rows r = load_rows(a, row);
    SG_UNROLL
    for (int k = 0; k < kCached; ++k) {
      const std::int64_t col0 = chunk_col(a, lane, k);
      if (k >= a.chunks_per_thread || col0 >= a.hidden) break;
      const int n = chunk_len(a, col0);
      visit_chunk_operands(a, r, [&](int o, OperandId id, const OperandAccess& op, std::int64_t row_off) {
        f(k, o, id, op, row_off, col0, n);
      });
    }
  }

  // Whether this lane's first kCached chunks are all whole chunks of the row (none past chunks_per_thread or past
  // the row's end), so that their loads need no test.
  SG_HD static bool cached_chunks_whole(const KernelArgs& a, int lane) {
    return a.chunks_per_thread >= kCached && chunk_col(a, lane, kCached - 1) + kChunk <= a.hidden;
  }

  // The loads of the first kCached chunks of one operand's row, every one a whole chunk (cached_chunks_whole):
  // strided columns element by element with no test anywhere between the loads, so that all kCached * kChunk of
  // them issue before any value is used (one memory round trip, where a test between chunks made it one a chunk:
  // docs/performance.md, stop 21); unit-stride columns through load_raw, as wide as each chunk's address allows.
  // The same elements as load_raw chunk by chunk.
  template <class Mem>
  SG_HD static void load_whole_chunks(const KernelArgs& a, Mem& m, int lane, OperandId id, const OperandAccess& op,
                                      std::int64_t row_off, std::int64_t col_stride, S (&s)[kCached][kChunk]) {
    if (col_stride == 1) {
      SG_UNROLL
      for (int k = 0; k < kCached; ++k) load_raw(m, id, op, row_off, chunk_col(a, lane, k), 1, kChunk, s[k]);
      return;
    }
    SG_UNROLL
    for (int k = 0; k < kCached; ++k) {
      load_elements<true>(m, id, static_cast<const S*>(op.base), row_off, chunk_col(a, lane, k), col_stride, kChunk,
                          s[k]);
    }
  }

  // Every load of the first kMaxCachedChunks chunks of a row (x, and the fused operands), nothing used yet. Scalar
  // programs whose cached chunks are all whole load them operand by operand (load_whole_chunks).
  template <class Mem>
  SG_HD static void load_row(const KernelArgs& a, Mem& m, std::int64_t row, int lane, RowLoads& L) {
    if constexpr (!kVector) {
      if (cached_chunks_whole(a, lane)) {
        const Pass1Rows r = load_rows(a, row);
        visit_chunk_operands(a, r, [&](int o, OperandId id, const OperandAccess& op, std::int64_t row_off) {
          load_whole_chunks(a, m, lane, id, op, row_off, op.col_stride, L.of(o));
        });
        return;
      }
    }
    visit_row_loads(a, row, lane,
                    [&](int k, int o, OperandId id, const OperandAccess& op, std::int64_t row_off, std::int64_t col0,
                        int n) { load_raw(m, id, op, row_off, col0, op.col_stride, n, L.at(o, k)); });
  }

  // The arithmetic of pass 1 on loaded chunks (fused: residual_out stored), the row cache filled, then the chunks
  // past kMaxCachedChunks (loaded and used one at a time), st.partial set.
  template <class Mem>
  SG_HD static void compute_row(const KernelArgs& a, Mem& m, std::int64_t row, int lane, RowLoads& L, State& st) {
    compute_row_fetched(a, m, row, lane, L, [](int) {}, st);
  }

  // compute_row, with fetch(k) called just before chunk k's values in L are used: the GPU's staged kernel fills
  // L chunk by chunk from shared memory there, so only one chunk's operands are live in registers at a time.
  //
  // Only the offsets used here are decoded: residual_out's (fused), and the loaded operands' only when chunks past
  // the cache are loaded here. The chunks of L are cached whether or not the row cache is on (without it, pass 2
  // never reads them): no select a chunk.
  //
  // kOnlyCached (the GPU's staged kernel, whose plans keep every chunk in the cache): leaves out the chunks past
  // kCached, which such a plan does not have, so that their loads are not part of that kernel's code.
  // @pre kOnlyCached implies a.chunks_per_thread <= kCached.
  template <bool kOnlyCached = false, class Mem, class Fetch>
  SG_HD static void compute_row_fetched(const KernelArgs& a, Mem& m, std::int64_t row, int lane, RowLoads& L,
                                        Fetch&& fetch, State& st) {
    Pass1Rows r;
    if (!kOnlyCached && a.chunks_per_thread > kCached) r = load_rows(a, row);
    if constexpr (kFused) r.residual_out = row_off(a.residual_out.rows, row);
    float sumsq = 0.f;
    SG_UNROLL
    for (int k = 0; k < kCached; ++k) {
      const std::int64_t col0 = chunk_col(a, lane, k);
      if (k >= a.chunks_per_thread || col0 >= a.hidden) break;
      const int n = kVector ? kChunk : chunk_len(a, col0);
      fetch(k);
      pass1_compute(a, m, r, col0, n, sumsq, L.x[k], L.r[k], L.p[k]);
      cache_put(st, k, L.x[k]);
    }
    for (int k = kCached; !kOnlyCached && k < a.chunks_per_thread; ++k) {
      const std::int64_t col0 = chunk_col(a, lane, k);
      if (col0 >= a.hidden) break;
      S xs[kChunk];
      pass1_chunk(a, m, r, col0, chunk_len(a, col0), sumsq, xs);
    }
    st.partial = sumsq;
  }

  template <class Mem>
  SG_HD static void pass1(const KernelArgs& a, Mem& m, std::int64_t row, int lane, State& st) {
    RowLoads L;
    load_row(a, m, row, lane, L);
    load_weight(a, m, lane, st);
    compute_row(a, m, row, lane, L, st);
  }

  SG_HD static float inv_rms(const KernelArgs& a, float total) {
    const float mean = div_rn(total, static_cast<float>(a.hidden));
    return div_rn(1.f, sqrt_rn(add_rn(mean, a.eps)));
  }

  // Pass 2 for one chunk whose pass-1 values are v: scale by inv, multiply by the weight, store out.
  template <class Mem>
  SG_HD static void pass2_chunk(const KernelArgs& a, Mem& m, std::int64_t out_off, std::int64_t col0, int n,
                                float inv, const float (&v)[kChunk]) {
    float w[kChunk];
    load_chunk(m, OperandId::kWeight, a.weight, a.weight.rows.offset, col0, a.weight.col_stride, n, w);
    pass2_chunk_w(a, m, out_off, col0, n, inv, v, w);
  }

  // The same, with the chunk's weight already loaded (converted exactly as load_chunk does).
  template <class Mem>
  SG_HD static void pass2_chunk_w(const KernelArgs& a, Mem& m, std::int64_t out_off, std::int64_t col0, int n,
                                  float inv, const float (&v)[kChunk], const float (&w)[kChunk]) {
    if constexpr (kVector) n = kChunk;  // the planner proved every vector chunk whole: no per-element predicate
    float y[kChunk];
    for (int j = 0; j < kChunk; ++j) y[j] = j < n ? mul_rn(mul_rn(v[j], inv), w[j]) : 0.f;
    store_chunk(m, OperandId::kOut, a.out, out_off, col0, n, y);
  }

  // Pass 2 reads the values back: from the register cache when pass 1 kept them, else from memory (fused:
  // residual_out, which pass 1 wrote; plain: x, through x_pass2_col_stride).
  template <class Mem>
  SG_HD static void pass2_load(const KernelArgs& a, Mem& m, std::int64_t src_off, std::int64_t col0, int n,
                               float (&v)[kChunk]) {
    if constexpr (kFused) {
      load_chunk(m, OperandId::kResidualOut, a.residual_out, src_off, col0, a.residual_out.col_stride, n, v);
    } else {
      load_chunk(m, OperandId::kX, a.x, src_off, col0, a.x_pass2_col_stride, n, v);
    }
  }

  template <class Mem>
  SG_HD static void pass2(const KernelArgs& a, Mem& m, std::int64_t row, int lane, float total, const State& st) {
    const float inv = inv_rms(a, total);
    const std::int64_t out_off = row_off(a.out.rows, row);
    if (a.cache_rows) {
      pass2_cached_chunks(a, m, lane, inv, out_off, st);
      return;
    }
    std::int64_t src_off = 0;
    if constexpr (kFused) {
      src_off = row_off(a.residual_out.rows, row);
    } else {
      src_off = row_off(a.x.rows, row);
    }
    for (int k = 0; k < a.chunks_per_thread; ++k) {
      const std::int64_t col0 = chunk_col(a, lane, k);
      if (col0 >= a.hidden) break;
      const int n = chunk_len(a, col0);
      float v[kChunk];
      pass2_load(a, m, src_off, col0, n, v);
      pass2_chunk(a, m, out_off, col0, n, inv, v);
    }
  }

  // Pass 2 of a row-cache plan: the values and the weight from the cache. The GPU's staged kernel (which serves
  // only such plans) calls it directly. @pre a.cache_rows.
  template <class Mem>
  SG_HD static void pass2_cached(const KernelArgs& a, Mem& m, std::int64_t row, int lane, float total,
                                 const State& st) {
    pass2_cached_chunks(a, m, lane, inv_rms(a, total), row_off(a.out.rows, row), st);
  }

  // The cached chunks of pass 2, with the row's scale and out's row offset.
  template <class Mem>
  SG_HD static void pass2_cached_chunks(const KernelArgs& a, Mem& m, int lane, float inv, std::int64_t out_off,
                                        const State& st) {
    SG_UNROLL
    for (int k = 0; k < kCached; ++k) {
      const std::int64_t col0 = chunk_col(a, lane, k);
      if (k >= a.chunks_per_thread || col0 >= a.hidden) break;
      const int n = kVector ? kChunk : chunk_len(a, col0);
      S xs[kChunk];
      cache_get(st, k, xs);
      S ws[kChunk];
      wcache_get(st, k, ws);
      float v[kChunk], w[kChunk];
      decode(xs, n, v);
      decode(ws, n, w);
      pass2_chunk_w(a, m, out_off, col0, n, inv, v, w);
    }
  }

  // Pass 2 of an uncached row (pass 2's memory path) with the loads of the first kCached chunks issued before any
  // of them is used, as load_row does for pass 1: each chunk's value (plain: x; fused: residual_out, which pass 1
  // wrote) and weight, as stored; then chunk by chunk pass2_chunk_w's arithmetic and store; chunks past kCached
  // one at a time, as pass2 does. The same elements, values and stores as pass2 without the cache, and every
  // chunk's loads before its own store (out may be x itself; no chunk reads another's elements). The GPU's
  // rows-across-warps kernel and its CPU emulation run it (column_rows plans: the row cache is off).
  template <class Mem>
  SG_HD static void pass2_batched(const KernelArgs& a, Mem& m, std::int64_t row, int lane, float total) {
    const float inv = inv_rms(a, total);
    const std::int64_t out_off = row_off(a.out.rows, row);
    const OperandAccess& src = kFused ? a.residual_out : a.x;
    const OperandId src_id = kFused ? OperandId::kResidualOut : OperandId::kX;
    const std::int64_t src_col_stride = kFused ? a.residual_out.col_stride : a.x_pass2_col_stride;
    const std::int64_t src_off = row_off(src.rows, row);
    S xs[kCached][kChunk] = {}, ws[kCached][kChunk] = {};
    if (!kVector && cached_chunks_whole(a, lane)) {  // as load_row: the values' loads in one run, then the weight's
      load_whole_chunks(a, m, lane, src_id, src, src_off, src_col_stride, xs);
      load_whole_chunks(a, m, lane, OperandId::kWeight, a.weight, a.weight.rows.offset, a.weight.col_stride, ws);
    } else {
      SG_UNROLL
      for (int k = 0; k < kCached; ++k) {
        const std::int64_t col0 = chunk_col(a, lane, k);
        if (k >= a.chunks_per_thread || col0 >= a.hidden) break;
        const int n = chunk_len(a, col0);
        load_raw(m, src_id, src, src_off, col0, src_col_stride, n, xs[k]);
        load_raw(m, OperandId::kWeight, a.weight, a.weight.rows.offset, col0, a.weight.col_stride, n, ws[k]);
      }
    }
    SG_UNROLL
    for (int k = 0; k < kCached; ++k) {
      const std::int64_t col0 = chunk_col(a, lane, k);
      if (k >= a.chunks_per_thread || col0 >= a.hidden) break;
      const int n = kVector ? kChunk : chunk_len(a, col0);
      float v[kChunk], w[kChunk];
      decode(xs[k], n, v);
      decode(ws[k], n, w);
      pass2_chunk_w(a, m, out_off, col0, n, inv, v, w);
    }
    for (int k = kCached; k < a.chunks_per_thread; ++k) {
      const std::int64_t col0 = chunk_col(a, lane, k);
      if (col0 >= a.hidden) break;
      const int n = chunk_len(a, col0);
      float v[kChunk];
      pass2_load(a, m, src_off, col0, n, v);
      pass2_chunk(a, m, out_off, col0, n, inv, v);
    }
  }
};

// Every row map a kernel decodes per row is RowMap::simple() for a.rows (the weight's is only read at its offset).
inline bool simple_rows(const KernelArgs& a) {
  for (const OperandAccess* op : {&a.x, &a.residual, &a.post, &a.out, &a.residual_out}) {
    if (!op->rows.simple(a.rows)) return false;
  }
  return true;
}

// The row reduction, stated once for the CPU backend and mirrored by the GPU kernel: within each aligned group of
// min(lanes, 32) partials a butterfly (v[i] += v[i ^ d] for d = g/2 .. 1, all lanes at once: what shuffle-xor
// does, and commutativity makes every lane hold the same value), then the group results summed in index order.
inline float reduce_row_emulated(float* partials, int lanes) {
  const int g = lanes < kReduceGroup ? lanes : kReduceGroup;
  float tmp[kReduceGroup];
  float total = 0.f;
  for (int base = 0; base < lanes; base += g) {
    float* v = partials + base;
    for (int d = g / 2; d >= 1; d /= 2) {
      for (int i = 0; i < g; ++i) tmp[i] = add_rn(v[i], v[i ^ d]);
      for (int i = 0; i < g; ++i) v[i] = tmp[i];
    }
    total = lanes <= kReduceGroup ? v[0] : add_rn(total, v[0]);
  }
  return total;
}

}  // namespace strideguard

namespace strideguard {

// Calls f.template operator()<RowProgram<...>>() for the program a plan selects: every (dtype, access, op)
// combination is instantiated once, in one place, with no branch that silently launches nothing.
//
// simple (simple_rows(args)): vector plans then run the kSimpleRows program. Scalar-access plans always run the
// general one: their kernel is not the staged one, whose code size the simple program is for.
template <class F>
decltype(auto) visit_program(DType dtype, bool vector, bool fused, bool simple, F&& f) {
  auto by_access = [&]<DType kD>() -> decltype(auto) {
    if (vector) {
      if (simple) {
        if (fused) return f.template operator()<RowProgram<kD, true, true, kMaxCachedChunks, true>>();
        return f.template operator()<RowProgram<kD, true, false, kMaxCachedChunks, true>>();
      }
      if (fused) return f.template operator()<RowProgram<kD, true, true>>();
      return f.template operator()<RowProgram<kD, true, false>>();
    }
    if (fused) return f.template operator()<RowProgram<kD, false, true>>();
    return f.template operator()<RowProgram<kD, false, false>>();
  };
  switch (dtype) {
    case DType::kF32: return by_access.template operator()<DType::kF32>();
    case DType::kF16: return by_access.template operator()<DType::kF16>();
    case DType::kBF16: break;
  }
  return by_access.template operator()<DType::kBF16>();
}

}  // namespace strideguard
