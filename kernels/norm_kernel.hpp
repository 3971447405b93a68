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
inline constexpr int kMaxCachedChunks = 4;  // chunks a thread keeps in registers between the passes

// Where row r of one operand starts: offset + sum_k idx_k(r) * stride[k], with idx decoded row-major from sizes.
// ndims == 0: every row starts at offset (a weight, or a single row); ndims == 1: a single pitch.
struct RowMap {
  int ndims = 0;
  std::int64_t size[kMaxRowDims] = {};
  std::int64_t stride[kMaxRowDims] = {};
  std::int64_t offset = 0;

  SG_HD std::int64_t row_offset(std::int64_t r) const {
    std::int64_t off = offset;
    if (ndims == 1) return off + r * stride[0];  // the common case: one pitch, no division
    for (int k = ndims - 1; k >= 0; --k) {
      const std::int64_t n = size[k];
      off += (r % n) * stride[k];
      r /= n;
    }
    return off;
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
  // Column stride used when pass 2 reads x again; equals x.col_stride on every correct plan (the lightllm-1467
  // bug model sets 1 here to reproduce a kernel whose second pass forgot the stride).
  std::int64_t x_pass2_col_stride = 1;

  SG_HD int rows_per_block() const { return threads_per_block / lanes; }
  SG_HD std::int64_t row_groups() const { return (rows + rows_per_block() - 1) / rows_per_block(); }
};

// Launch geometry: a function of hidden and element size only (see the file comment for why).
struct Geometry {
  int lanes = 1;
  int threads_per_block = 1;
  int chunks_per_thread = 1;
};

SG_HD constexpr int chunk_elems(int elem_size) { return 16 / elem_size; }

inline Geometry choose_geometry(std::int64_t hidden, int elem_size) {
  const std::int64_t chunks = (hidden + chunk_elems(elem_size) - 1) / chunk_elems(elem_size);
  Geometry g;
  std::int64_t lanes = 1;
  // Short rows (up to 32 chunks: head_dim 128..256 in 16-bit) get a power-of-two sub-warp each, 256 threads a
  // block; longer rows get a whole block, as many threads as chunks up to kMaxThreads.
  const std::int64_t cap = chunks <= kReduceGroup ? kReduceGroup : kMaxThreads;
  while (lanes < chunks && lanes < cap) lanes *= 2;
  g.lanes = static_cast<int>(lanes);
  g.threads_per_block = chunks <= kReduceGroup ? 256 : g.lanes;
  if (g.threads_per_block < g.lanes) g.threads_per_block = g.lanes;
  g.chunks_per_thread = static_cast<int>((chunks + lanes - 1) / lanes);
  if (g.chunks_per_thread < 1) g.chunks_per_thread = 1;
  return g;
}

// Per-thread program. Mem is the memory accessor: raw pointers on the GPU, checked accesses on the CPU backend.
// Mem::load<N>(id, base, elem_index, dst) / Mem::store<N>(...) move N consecutive elements (N = kChunk: one
// 16-byte access; N = 1: one element).
template <DType kDType, bool kVector, bool kFused>
struct RowProgram {
  using Traits = DTypeTraits<kDType>;
  using S = typename Traits::Storage;
  static constexpr int kChunk = chunk_elems(sizeof(S));
  static constexpr int kAccess = kVector ? kChunk : 1;

  struct State {
    float cache[kMaxCachedChunks * kChunk];
    float partial;
  };

  // Loads the n valid elements of one chunk starting at column col0 into v (as fp32).
  template <class Mem>
  SG_HD static void load_chunk(Mem& m, OperandId id, const OperandAccess& op, std::int64_t row_off,
                               std::int64_t col0, std::int64_t col_stride, int n, float (&v)[kChunk]) {
    S* base = static_cast<S*>(op.base);
    if constexpr (kVector) {
      S tmp[kChunk];
      m.template load<kChunk>(id, base, row_off + col0, tmp);
      for (int j = 0; j < kChunk; ++j) v[j] = Traits::to_f32(tmp[j]);
    } else {
      for (int j = 0; j < n; ++j) {
        S tmp[1];
        m.template load<1>(id, base, row_off + (col0 + j) * col_stride, tmp);
        v[j] = Traits::to_f32(tmp[0]);
      }
    }
  }

  template <class Mem>
  SG_HD static void store_chunk(Mem& m, OperandId id, const OperandAccess& op, std::int64_t row_off,
                                std::int64_t col0, int n, const float (&v)[kChunk]) {
    S* base = static_cast<S*>(op.base);
    if constexpr (kVector) {
      S tmp[kChunk];
      for (int j = 0; j < kChunk; ++j) tmp[j] = Traits::from_f32(v[j]);
      m.template store<kChunk>(id, base, row_off + col0, tmp);
    } else {
      for (int j = 0; j < n; ++j) {
        S tmp[1] = {Traits::from_f32(v[j])};
        m.template store<1>(id, base, row_off + (col0 + j) * op.col_stride, tmp);
      }
    }
  }

  SG_HD static float round_trip(float v) { return Traits::to_f32(Traits::from_f32(v)); }

  template <class Mem>
  SG_HD static void pass1(const KernelArgs& a, Mem& m, std::int64_t row, int lane, State& st) {
    float sumsq = 0.f;
    const std::int64_t x_off = a.x.rows.row_offset(row);
    std::int64_t r_off = 0, p_off = 0, ro_off = 0;
    if constexpr (kFused) {
      r_off = a.residual.rows.row_offset(row);
      ro_off = a.residual_out.rows.row_offset(row);
      if (a.has_post) p_off = a.post.rows.row_offset(row);
    }
    for (int k = 0; k < a.chunks_per_thread; ++k) {
      const std::int64_t col0 = (static_cast<std::int64_t>(lane) + static_cast<std::int64_t>(k) * a.lanes) * kChunk;
      if (col0 >= a.hidden) break;
      const int n = a.hidden - col0 < kChunk ? static_cast<int>(a.hidden - col0) : kChunk;
      float v[kChunk];
      load_chunk(m, OperandId::kX, a.x, x_off, col0, a.x.col_stride, n, v);
      if constexpr (kFused) {
        float r[kChunk];
        load_chunk(m, OperandId::kResidual, a.residual, r_off, col0, a.residual.col_stride, n, r);
        if (a.has_post) {
          float p[kChunk];
          load_chunk(m, OperandId::kPostResidualAddition, a.post, p_off, col0, a.post.col_stride, n, p);
          for (int j = 0; j < n; ++j) r[j] = round_trip(add_rn(r[j], p[j]));
        }
        for (int j = 0; j < n; ++j) v[j] = round_trip(add_rn(v[j], r[j]));
        store_chunk(m, OperandId::kResidualOut, a.residual_out, ro_off, col0, n, v);
      }
      for (int j = 0; j < n; ++j) sumsq = add_rn(sumsq, mul_rn(v[j], v[j]));
      if (a.cache_rows && k < kMaxCachedChunks) {
        for (int j = 0; j < kChunk; ++j) st.cache[k * kChunk + j] = j < n ? v[j] : 0.f;
      }
    }
    st.partial = sumsq;
  }

  SG_HD static float inv_rms(const KernelArgs& a, float total) {
    const float mean = div_rn(total, static_cast<float>(a.hidden));
    return div_rn(1.f, sqrt_rn(add_rn(mean, a.eps)));
  }

  template <class Mem>
  SG_HD static void pass2(const KernelArgs& a, Mem& m, std::int64_t row, int lane, float total, const State& st) {
    const float inv = inv_rms(a, total);
    const std::int64_t out_off = a.out.rows.row_offset(row);
    const std::int64_t w_off = a.weight.rows.offset;
    std::int64_t src_off = 0;
    if constexpr (kFused) {
      src_off = a.residual_out.rows.row_offset(row);
    } else {
      src_off = a.x.rows.row_offset(row);
    }
    for (int k = 0; k < a.chunks_per_thread; ++k) {
      const std::int64_t col0 = (static_cast<std::int64_t>(lane) + static_cast<std::int64_t>(k) * a.lanes) * kChunk;
      if (col0 >= a.hidden) break;
      const int n = a.hidden - col0 < kChunk ? static_cast<int>(a.hidden - col0) : kChunk;
      float v[kChunk];
      if (a.cache_rows && k < kMaxCachedChunks) {
        for (int j = 0; j < kChunk; ++j) v[j] = st.cache[k * kChunk + j];
      } else if constexpr (kFused) {
        load_chunk(m, OperandId::kResidualOut, a.residual_out, src_off, col0, a.residual_out.col_stride, n, v);
      } else {
        load_chunk(m, OperandId::kX, a.x, src_off, col0, a.x_pass2_col_stride, n, v);
      }
      float w[kChunk];
      load_chunk(m, OperandId::kWeight, a.weight, w_off, col0, a.weight.col_stride, n, w);
      float y[kChunk];
      for (int j = 0; j < kChunk; ++j) y[j] = j < n ? mul_rn(mul_rn(v[j], inv), w[j]) : 0.f;
      store_chunk(m, OperandId::kOut, a.out, out_off, col0, n, y);
    }
  }
};

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
template <class F>
decltype(auto) visit_program(DType dtype, bool vector, bool fused, F&& f) {
  auto by_access = [&]<DType kD>() -> decltype(auto) {
    if (vector) {
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
