// The layout copy kernel, shared by the GPU benchmarks (bench/gpu_bench.hip: each case's yardstick;
// bench/copy_probe.hip: its load/store copy of a case's bytes).
#pragma once

#include "kernels/gpu/hip_compat.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "kernels/norm_kernel.hpp"

namespace strideguard::bench {

// The layout copy: the least work a case's data movement allows. Every 16-byte chunk of the case's inputs is read
// once through the case's own row layout (x: its view, e.g. a K slice's 2 KiB rows at a 12 KiB pitch; residual and
// post: dense), XOR-ed together, and written to every output (out; fused: residual_out too), dense: the same bytes,
// the same addresses and the same access pattern as the norm, with no reduction, no arithmetic and no barrier. Its
// time is a per-case yardstick of what the hardware allows (launch, ramp and tail included), which a 1 GiB copy
// cannot be for the small cases. Row r of x starts at chunk x_off + (r / heads) * pitch0 + (r % heads) * pitch1.
// The table's cases have powers of two for chunks per row and heads, decoded by shifts (x_chunk<false>); other
// layouts (gpu_bench --shape: e.g. hidden 3584, 40 heads) by a multiply and a shift each (x_chunk<true>, FastDiv),
// a separate instantiation, so the table's yardstick kernel is the code it was.

// r / d and r % d for 0 <= r < 2^32 and 1 <= d < 2^31 as a multiply and a shift (the method of RowMap in
// kernels/norm_kernel.hpp: Granlund & Montgomery 1994, fig. 4.1): q = (umulhi(r, magic) + r) >> shift.
struct FastDiv {
  std::uint32_t d = 1, magic = 1, shift = 0;
  static FastDiv make(std::int64_t divisor) {
    FastDiv f;
    f.d = static_cast<std::uint32_t>(divisor);
    f.shift = static_cast<std::uint32_t>(ceil_log2(divisor));
    f.magic = static_cast<std::uint32_t>(((std::uint64_t{1} << 32) * ((std::uint64_t{1} << f.shift) - f.d)) / f.d + 1);
    return f;
  }
  __host__ __device__ std::uint32_t div(std::uint32_t r) const {
    const auto hi = static_cast<std::uint32_t>((static_cast<std::uint64_t>(r) * magic) >> 32);
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(hi) + r) >> shift);
  }
};

struct LayoutCopyArgs {
  const uint4* in[3] = {};
  uint4* out[2] = {};
  int n_in = 1, n_out = 1;
  std::int64_t chunks = 0;  // rows x chunks per row
  int cpr_log2 = 0, heads_log2 = 0;  // x_chunk<false>
  FastDiv cpr, heads;               // x_chunk<true>: chunks < 2^31
  bool general = false;             // which x_chunk the kernel and the host check use
  std::int64_t x_off = 0, pitch0 = 0, pitch1 = 0;  // in chunks

  // Where chunk i (of the dense outputs) is in x, in chunks: the kernel's read and the host check's.
  template <bool kGeneral = false>
  __host__ __device__ std::int64_t x_chunk(std::int64_t i) const {
    if constexpr (kGeneral) {
      const auto i32 = static_cast<std::uint32_t>(i);
      const std::uint32_t r = cpr.div(i32), t = heads.div(r);
      return x_off + static_cast<std::int64_t>(t) * pitch0 + static_cast<std::int64_t>(r - t * heads.d) * pitch1 +
             static_cast<std::int64_t>(i32 - r * cpr.d);
    } else {
      const std::int64_t r = i >> cpr_log2;
      return x_off + (r >> heads_log2) * pitch0 + (r & ((std::int64_t{1} << heads_log2) - 1)) * pitch1 +
             (i & ((std::int64_t{1} << cpr_log2) - 1));
    }
  }
};

__host__ __device__ inline void xor_into(uint4& v, const uint4& w) {
  v.x ^= w.x;
  v.y ^= w.y;
  v.z ^= w.z;
  v.w ^= w.w;
}

// The two grids a layout copy of `chunks` chunks is timed with (the faster counts): one thread per four chunks
// (every chunk's load issued by the first wave that reaches it), and a persistent grid of 8 blocks a
// multiprocessor walking the chunks grid-stride.
inline std::array<std::int64_t, 2> layout_copy_grids(std::int64_t chunks, int multiprocessors) {
  return {(chunks + 1023) / 1024, std::int64_t{8} * multiprocessors};
}

template <int kIn, int kOut, bool kGeneral = false>
__global__ void __launch_bounds__(256) layout_copy(LayoutCopyArgs a) {
  constexpr int kUnroll = 4;  // four chunks a thread in flight per iteration
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i0 = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i0 < a.chunks;
       i0 += kUnroll * stride) {
    uint4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::int64_t i = i0 + u * stride;
      if (i >= a.chunks) break;
      v[u] = a.in[0][a.x_chunk<kGeneral>(i)];
#pragma unroll
      for (int k = 1; k < kIn; ++k) xor_into(v[u], a.in[k][i]);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::int64_t i = i0 + u * stride;
      if (i >= a.chunks) break;
#pragma unroll
      for (int k = 0; k < kOut; ++k) a.out[k][i] = v[u];
    }
  }
}

using LayoutCopyFn = void (*)(LayoutCopyArgs);
inline LayoutCopyFn layout_copy_kernel(int n_in, int n_out, bool general) {
  if (general) {
    if (n_in == 1 && n_out == 1) return layout_copy<1, 1, true>;
    if (n_in == 2 && n_out == 2) return layout_copy<2, 2, true>;
    if (n_in == 3 && n_out == 2) return layout_copy<3, 2, true>;
  }
  if (n_in == 1 && n_out == 1) return layout_copy<1, 1>;
  if (n_in == 2 && n_out == 2) return layout_copy<2, 2>;
  if (n_in == 3 && n_out == 2) return layout_copy<3, 2>;
  std::fprintf(stderr, "ERROR: layout copy: no kernel for %d inputs and %d outputs\n", n_in, n_out);
  std::exit(1);
}

// log2(v) for a power of two v; anything else is an error the benchmark cannot go on from (exit 1), naming `what`.
inline int log2_exact(std::int64_t v, const char* what) {
  const int l = ceil_log2(v);
  if (v <= 0 || (std::int64_t{1} << l) != v) {
    std::fprintf(stderr, "ERROR: layout copy: %s = %lld is not a power of two\n", what, static_cast<long long>(v));
    std::exit(1);
  }
  return l;
}

}  // namespace strideguard::bench
