// Generated cases, bug-model triggers and the GPU-versus-CPU byte comparison.
#include "kernels/gpu/tests/gpu_cases.hpp"

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "harness/case_builder.hpp"
#include "kernels/cpu_backend.hpp"
#include "kernels/gpu/gpu_backend.hpp"
#include "reference/reference.hpp"

namespace strideguard::gpu_tests {
namespace {

Layout L(std::initializer_list<std::int64_t> shape, std::initializer_list<std::int64_t> stride, std::int64_t off = 0) {
  return *make_layout(shape, stride, off);
}

template <class T, std::size_t N>
T pick(std::mt19937_64& g, const T (&v)[N]) {
  return v[g() % N];
}

}  // namespace

Case generated_case(std::uint64_t seed, std::int64_t index) {
  std::mt19937_64 g(seed * 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(index));
  const DType dtype = kAllDTypes[g() % 3];
  const Op op = g() % 2 ? Op::kFusedAddRmsNorm : Op::kRmsNorm;
  const bool with_post = op == Op::kFusedAddRmsNorm && g() % 2;
  // Hidden sizes: odd (scalar path only), chunk multiples, head dims, model widths, and the wide rows that the GPU
  // runs on its wide-row kernels (16-bit 12288 and 16384: the 8-chunk register cache, or fused the stage-resident
  // kernel; 32768, f32 12288 and 16384: plain rows stage-resident, fused rows the one-stage kernel), at most 16 rows
  // of them so that the CPU's side of the comparison stays quick.
  const std::int64_t hiddens[] = {1,    2,    7,    8,    24,   64,   96,    128,   200,  256,
                                  1000, 1024, 2048, 4096, 5120, 8192, 12288, 16384, 32768};
  std::int64_t hidden = pick(g, hiddens);
  std::int64_t tokens =
      g() % 8 == 0 ? 1 + static_cast<std::int64_t>(g() % 300) : 1 + static_cast<std::int64_t>(g() % 12);
  if (hidden > 8192) tokens = std::min<std::int64_t>(tokens, 16);
  const std::int64_t misalign = g() % 3 == 0 ? static_cast<std::int64_t>(g() % 8) : 0;
  Layout x;
  std::int64_t extra_storage = 0;
  const int family = static_cast<int>(g() % 11);
  switch (family) {
    case 0: x = L({tokens, hidden}, {hidden, 1}); break;
    case 1:
    case 2: {  // packed QKV: Q (offset 0) or K (offset Hq D), row pitch (Hq + 2 Hkv) D
      const std::int64_t dims[] = {64, 128, 256};
      const std::int64_t hq_list[] = {1, 2, 4, 8, 32};
      const std::int64_t hkv_list[] = {1, 2, 8};
      const std::int64_t head_dim = pick(g, dims), hq = pick(g, hq_list), hkv = pick(g, hkv_list);
      const std::int64_t pitch = (hq + 2 * hkv) * head_dim;
      hidden = head_dim;
      x = family == 1 ? L({tokens, hq, head_dim}, {pitch, head_dim, 1})
                      : L({tokens, hkv, head_dim}, {pitch, head_dim, 1}, hq * head_dim);
      extra_storage = pitch - (family == 1 ? hq : hq + hkv) * head_dim;  // the rest of the last packed row
      break;
    }
    case 3: {
      const std::int64_t pads[] = {1, 3, 8, 64};
      x = L({tokens, hidden}, {hidden + pick(g, pads), 1});
      break;
    }
    case 4: x = L({tokens, 1, hidden}, {hidden, 7 * hidden + 3, 1}); break;
    case 5: x = L({tokens, hidden}, {1, tokens}); break;
    case 6: x = L({tokens, hidden}, {2 * hidden, 2}); break;
    case 7: x = L({tokens, hidden}, {-hidden, 1}, (tokens - 1) * hidden); break;
    case 8: x = L({tokens, hidden}, {0, 1}); break;
    case 9: {
      const std::int64_t a = 1 + static_cast<std::int64_t>(g() % 3), b = 1 + static_cast<std::int64_t>(g() % 3);
      const std::int64_t c = 1 + static_cast<std::int64_t>(g() % 4);
      x = L({a, b, c, hidden}, {b * (c * (hidden + 8) + 16) + 5, c * (hidden + 8) + 16, hidden + 8, 1});
      break;
    }
    default: {  // a row pitch past 2^32 elements: footprint past 2^33, a sparse storage on host and device
      const std::int64_t t = 1 + static_cast<std::int64_t>(g() % 3);
      hidden = std::min<std::int64_t>(hidden, 256);
      x = L({t, hidden}, {(std::int64_t{1} << 32) + 8, 1});
      break;
    }
  }
  x.offset += misalign;
  Case c = make_case(op, dtype, x, storage_needed(x) + extra_storage + static_cast<std::int64_t>(g() % 5), with_post);
  c.seed = g();
  c.eps = g() % 2 ? 1e-6f : 1e-5f;
  c.backend = Backend::kGpu;
  for (StorageSpec& s : c.storages) {
    s.placement = g() % 2 ? Placement::kLeading : Placement::kTrailing;
    if (s.placement == Placement::kTrailing && g() % 2) s.elems += static_cast<std::int64_t>(g() % 9);
  }
  // In-place forms: out over x (an injective x only), residual_out over residual.
  if (family != 8 && g() % 4 == 0) c[OperandId::kOut] = c[OperandId::kX];
  if (op == Op::kFusedAddRmsNorm && g() % 4 == 0) c[OperandId::kResidualOut] = c[OperandId::kResidual];
  // Residual with padded rows, out with an element offset (misaligned against the vector path).
  if (op == Op::kFusedAddRmsNorm && g() % 3 == 0) {
    const Layout dense = contiguous_like(x);
    Layout padded = dense;
    if (dense.rank >= 2) padded.stride[dense.rank - 2] = hidden + 8;
    for (int k = dense.rank - 3; k >= 0; --k) padded.stride[k] = padded.stride[k + 1] * dense.shape[k + 1];
    set_operand(c, OperandId::kResidual, padded, dtype, add_storage(c, storage_needed(padded), Placement::kTrailing));
    if (c[OperandId::kResidualOut].storage == c[OperandId::kResidual].storage) c[OperandId::kResidualOut] = c[OperandId::kResidual];
  }
  return c;
}

Case bug_trigger(Policy policy) {
  Case c;
  switch (policy) {
    case Policy::kGuarded:
    case Policy::kAiter2d:  // K slice of packed QKV: rows = numel / size(1) at the slice's pitch run far past
      c = make_case(Op::kRmsNorm, DType::kBF16, L({4, 8, 128}, {6144, 128, 1}, 4096), 4 * 6144);
      break;
    case Policy::kSglang23974:  // the open residual path: a 3D Q slice with a residual goes straight to aiter
      c = make_case(Op::kFusedAddRmsNorm, DType::kBF16, L({4, 8, 128}, {6144, 128, 1}), 4 * 6144);
      break;
    case Policy::kVllm26192:  // a size-1 dim with an odd stride passes is_contiguous(); stride(-2) is the pitch
      c = make_case(Op::kRmsNorm, DType::kF16, L({6, 1, 256}, {256, 7 * 256 + 3, 1}));
      break;
    case Policy::kLightllm1467:  // transposed 2D: the normalising pass ignores the column stride
      c = make_case(Op::kRmsNorm, DType::kF32, L({16, 64}, {1, 16}));
      break;
    case Policy::kTrtllm14810:  // x's padded pitch reused for the contiguous residual and outputs
      c = make_case(Op::kFusedAddRmsNorm, DType::kBF16, L({8, 512}, {520, 1}));
      break;
    case Policy::kVllmAlign:  // a storage offset of one element: 16-byte accesses 2 bytes off alignment
      c = make_case(Op::kRmsNorm, DType::kBF16, L({8, 256}, {256, 1}, 1));
      break;
  }
  // Trailing: an overrun hits the unmapped guard on its first byte. The misalignment model wants x's storage
  // 16-byte aligned (leading), so that its one-element offset is what misaligns the accesses.
  for (StorageSpec& s : c.storages) s.placement = policy == Policy::kVllmAlign ? Placement::kLeading : Placement::kTrailing;
  c.policy = policy;
  c.backend = Backend::kGpu;
  c.seed = 7;
  return c;
}

namespace {

// The special values of one class (Inputs::kWithSpecials), as bit patterns of the dtype.
std::vector<std::uint32_t> specials(DType t, int cls) {
  const bool f32 = t == DType::kF32, f16 = t == DType::kF16;
  switch (cls) {
    case 0:  // NaNs: quiet, signalling payload, negative, all ones
      if (f32) return {0x7fc00000u, 0x7f800001u, 0xffc00000u, 0xffffffffu, 0x7fa5a5a5u};
      if (f16) return {0x7e00u, 0x7c01u, 0xfe00u, 0xffffu, 0x7d55u};
      return {0x7fc0u, 0x7f81u, 0xffc0u, 0xffffu, 0x7fa5u};
    case 1:  // infinities
      if (f32) return {0x7f800000u, 0xff800000u};
      if (f16) return {0x7c00u, 0xfc00u};
      return {0x7f80u, 0xff80u};
    case 2:  // the largest finite values
      if (f32) return {0x7f7fffffu, 0xff7fffffu};
      if (f16) return {0x7bffu, 0xfbffu};
      return {0x7f7fu, 0xff7fu};
    default:  // the smallest subnormals, -0
      if (f32) return {0x00000001u, 0x80000001u, 0x80000000u, 0x007fffffu};
      if (f16) return {0x0001u, 0x8001u, 0x8000u, 0x03ffu};
      return {0x0001u, 0x8001u, 0x8000u, 0x007fu};
  }
}

// Replaces about one input view element in eleven with a special value (Inputs::kWithSpecials).
void sprinkle_specials(const Case& c, const NormCall& call, const ElementIndex& idx) {
  std::mt19937_64 g(c.seed ^ 0x5bd1e995u);
  const int cls = static_cast<int>(c.seed % 4);
  for (OperandId id : {OperandId::kX, OperandId::kWeight, OperandId::kResidual, OperandId::kPostResidualAddition}) {
    const TensorArg& t = call[id];
    if (!t.present || t.data == nullptr) continue;
    const std::vector<std::uint32_t> vals = specials(t.dtype, cls);
    const int size = dtype_size(t.dtype);
    for (std::int64_t e : idx[static_cast<int>(id)]) {
      if (g() % 11 != 0) continue;
      const std::uint32_t bits = vals[g() % vals.size()];
      std::memcpy(static_cast<std::byte*>(t.data) + e * size, &bits, static_cast<std::size_t>(size));  // little-endian
    }
  }
}

}  // namespace

std::string compare_gpu_cpu(const Case& c, HostArena& arena, Inputs inputs) {
  BoundCase b = bind_case(c, arena);
  const NormCall& call = b.call;
  for (HostArena::Buffer* buf : b.buffers) {
    if (buf == nullptr) return "";  // too large for this host: run_case reports it, nothing to compare
  }
  const PlanResult pr = plan(call, c.policy);
  if (!pr.ok()) return "";
  // The same starting contents as run_case (then, on request, the specials).
  const ElementIndex idx = prepare_storages(c, b, arena);
  if (inputs == Inputs::kWithSpecials) sprinkle_specials(c, call, idx);
  auto snapshot = [&] {
    std::vector<std::vector<std::byte>> s(b.buffers.size());
    for (std::size_t k = 0; k < b.buffers.size(); ++k) {
      for (auto [lo, hi] : arena.materialized_ranges(*b.buffers[k])) {
        s[k].insert(s[k].end(), b.buffers[k]->data + lo, b.buffers[k]->data + hi);
      }
    }
    return s;
  };
  auto restore = [&](const std::vector<std::vector<std::byte>>& s) {
    for (std::size_t k = 0; k < b.buffers.size(); ++k) {
      std::size_t at = 0;
      for (auto [lo, hi] : arena.materialized_ranges(*b.buffers[k])) {
        std::memcpy(b.buffers[k]->data + lo, s[k].data() + at, hi - lo);
        at += hi - lo;
      }
    }
  };
  const auto before = snapshot();
  const CpuRunResult cpu = run_cpu(pr.plan, storage_sizes(call));
  if (cpu.violation) return "CPU backend: " + describe(cpu.violation, storage_sizes(call));
  const auto on_cpu = snapshot();
  restore(before);
  const std::string err = run_on_gpu(call, c);
  if (!err.empty()) return "GPU backend: " + err;
  const auto on_gpu = snapshot();
  for (std::size_t k = 0; k < on_cpu.size(); ++k) {
    for (std::size_t i = 0; i < on_cpu[k].size(); ++i) {
      if (on_cpu[k][i] != on_gpu[k][i]) {
        return b.buffers[k]->name + ": meaningful byte " + std::to_string(i) + " differs: cpu " +
               std::to_string(static_cast<int>(on_cpu[k][i])) + ", gpu " + std::to_string(static_cast<int>(on_gpu[k][i])) +
               "; plan: " + describe_plan(pr.plan);
      }
    }
  }
  return "";
}

}  // namespace strideguard::gpu_tests
