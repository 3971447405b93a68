// The byte decoder: a structured form that builds the layouts real engines hand to norm kernels (and the ones
// that broke them, see shared/context/bug-classes.md C1..C11), and an explicit form that encodes any Case.
#include "fuzz/case_from_bytes.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "harness/case_builder.hpp"

namespace strideguard::fuzz {
namespace {

using i64 = std::int64_t;
constexpr i64 kI64Max = std::numeric_limits<i64>::max();
constexpr i64 kI64Min = std::numeric_limits<i64>::min();

i64 sat_mul(i64 a, i64 b) {
  i64 r = 0;
  if (!__builtin_mul_overflow(a, b, &r)) return r;
  return (a < 0) != (b < 0) ? kI64Min : kI64Max;
}

i64 sat_add(i64 a, i64 b) {
  i64 r = 0;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b < 0 ? kI64Min : kI64Max;
}

i64 sat_sub(i64 a, i64 b) {
  i64 r = 0;
  if (!__builtin_sub_overflow(a, b, &r)) return r;
  return b > 0 ? kI64Min : kI64Max;
}

// Hidden sizes from bug-classes.md C6/C11: tiny, odd, around the 8-element vector and the 32-lane warp, the
// head dims 64..256, model widths and their +1 neighbours (3584/3585), and huge rows.
// The first entry of each table is what an exhausted input decodes to (FuzzedDataProvider returns the minimum),
// so the short inputs a fuzzer starts from already make multi-row, head-sized views.
constexpr i64 kHidden[] = {64,  1,   2,   3,   4,   7,   8,    15,   16,   17,   31,   32,   33,   63,   65,
                           80,  96,  111, 112, 127, 128,  129,  192,  256,  264,  512,  769,  1024, 1536, 2048,
                           3584, 3585, 4096, 5120, 5125, 8192, 16384, 65536};
// Head counts of real models (Qwen3: 32 q / 8 kv heads) and odd ones.
constexpr i64 kHeads[] = {8, 1, 2, 3, 4, 5, 7, 12, 14, 16, 28, 32, 40, 64};
constexpr i64 kTokens[] = {4, 1, 2, 3, 5, 7, 8, 16};
// Planner-only sizes: the seed's 2048 tokens, 32768-token prefill, and counts near the 32-bit and int64 edges.
constexpr i64 kWildSizes[] = {2048, 32768, i64{1} << 20, (i64{1} << 31) - 1, i64{1} << 31, i64{1} << 32,
                              i64{1} << 40, kI64Max, -1, kI64Min};
// Strides a size-1 dim may carry: PyTorch calls (T,1,D):(D,s,1) contiguous for any s (C3); vLLM #26192's
// example uses 4194304 = 32768 * 128.
constexpr i64 kSize1Strides[] = {0,        1,        -1,       3,        4194304, i64{1} << 31, i64{1} << 33,
                                 -(i64{1} << 33), kI64Max, kI64Min};
// Huge leading strides (C9): past 2^31 elements, past 2^32, and 2^33+ with sparse storage behind them.
constexpr i64 kHugeStrides[] = {(i64{1} << 31) - 1, i64{1} << 31, (i64{1} << 31) + 64, i64{1} << 32,
                                (i64{1} << 32) + 1, i64{1} << 33, (i64{1} << 33) + 128};
constexpr i64 kPads[] = {1, 2, 3, 4, 8, 16, 64};
constexpr float kEps[] = {1e-6f, 1e-5f, 0.f, 1e-12f, 1.f, 0.1f, 3.4028235e38f, 1e-45f};

struct Shape {
  int rank = 0;
  std::array<i64, kMaxRank> n{};
  i64 hidden() const { return rank ? n[rank - 1] : 1; }
};

i64 leading_product(const Shape& s) {
  i64 p = 1;
  for (int k = 0; k + 1 < s.rank; ++k) p = sat_mul(p, std::max<i64>(s.n[k], 0));
  return p;
}

i64 pick_hidden(FuzzedDataProvider& in, const DecodeLimits& lim) {
  const int how = in.ConsumeIntegralInRange<int>(0, 15);
  if (lim.wild && how == 15) return in.ConsumeIntegral<i64>();
  if (how >= 12) return in.ConsumeIntegralInRange<i64>(0, 300);
  return in.PickValueInArray(kHidden);
}

i64 pick_heads(FuzzedDataProvider& in, const DecodeLimits& lim) {
  if (lim.wild && in.ConsumeIntegralInRange<int>(0, 7) == 0) return in.PickValueInArray(kWildSizes);
  return in.PickValueInArray(kHeads);
}

i64 pick_tokens(FuzzedDataProvider& in, const DecodeLimits& lim) {
  if (lim.wild && in.ConsumeIntegralInRange<int>(0, 7) == 0) return in.PickValueInArray(kWildSizes);
  return in.PickValueInArray(kTokens);
}

// x's shape. Archetypes: rows x hidden; (T,H,D) heads (packed QKV slices); 1-D; (B,T,H,D); (T,1,D); high rank
// with size-1 dims; an empty dim; rank 0 (invalid).
Shape decode_shape(FuzzedDataProvider& in, const DecodeLimits& lim) {
  Shape s;
  const int kind = in.ConsumeIntegralInRange<int>(0, 15);
  const i64 d = pick_hidden(in, lim);
  const i64 t = pick_tokens(in, lim);
  const i64 h = pick_heads(in, lim);
  auto set = [&](std::initializer_list<i64> v) {
    s.rank = static_cast<int>(v.size());
    std::copy(v.begin(), v.end(), s.n.begin());
  };
  switch (kind) {
    case 0: case 1: case 2: set({t, d}); break;
    case 3: case 4: case 5: case 6: set({t, h, d}); break;
    case 7: set({d}); break;
    case 8: set({in.ConsumeIntegralInRange<i64>(1, 3), t, h, d}); break;
    case 9: case 10: set({t, 1, d}); break;
    case 11: {  // rank 5..8, mostly size-1 dims, T and H somewhere among them
      s.rank = in.ConsumeIntegralInRange<int>(5, kMaxRank);
      for (int k = 0; k + 1 < s.rank; ++k) s.n[k] = 1;
      s.n[in.ConsumeIntegralInRange<int>(0, s.rank - 2)] = t;
      s.n[in.ConsumeIntegralInRange<int>(0, s.rank - 2)] = h;
      s.n[s.rank - 1] = d;
      break;
    }
    case 12: set({t, h, 1, d}); break;
    case 13: {  // an empty view somewhere: (0,D), (T,0,D), (T,0)
      const int which = in.ConsumeIntegralInRange<int>(0, 2);
      if (which == 0) set({0, d});
      if (which == 1) set({t, 0, d});
      if (which == 2) set({t, 0});
      break;
    }
    case 14: set({1, d}); break;
    default:
      if (in.ConsumeBool()) {
        s.rank = 0;  // invalid: norm over the last dim needs one
      } else {
        set({t, d});
      }
  }
  if (lim.wild) return s;
  // Fit the budget: a row longer than max_view_elems runs alone; otherwise halve the largest leading dim.
  if (s.rank > 0) {
    i64& hid = s.n[s.rank - 1];
    hid = std::min(hid, lim.max_hidden);
    if (hid > lim.max_view_elems) {
      for (int k = 0; k + 1 < s.rank; ++k) s.n[k] = std::min<i64>(s.n[k], 1);
    }
    while (hid > 0 && sat_mul(leading_product(s), hid) > lim.max_view_elems && leading_product(s) > 1) {
      int big = 0;
      for (int k = 0; k + 1 < s.rank; ++k) {
        if (s.n[k] > s.n[big]) big = k;
      }
      s.n[big] /= 2;
    }
  }
  return s;
}

// Row-major strides of shape s, size-0/1 dims counted as 1 (PyTorch's convention).
void set_dense(Layout& l) {
  i64 st = 1;
  for (int k = l.rank - 1; k >= 0; --k) {
    l.stride[k] = st;
    st = sat_mul(st, std::max<i64>(l.shape[k], 1));
  }
}

// Strides of dims [0, from] recomputed outward so each dim steps over the one inside it.
void chain_outward(Layout& l, int from) {
  for (int k = from; k >= 0; --k) l.stride[k] = sat_mul(l.stride[k + 1], std::max<i64>(l.shape[k + 1], 1));
}

enum class Recipe : std::uint8_t {
  kDense, kPadded, kPacked, kPermuted, kStepped, kNegative, kBroadcast, kHugeStride, kRaw, kLikeX
};

Recipe pick_recipe(FuzzedDataProvider& in, bool is_x) {
  const int r = in.ConsumeIntegralInRange<int>(0, 15);
  if (r <= 3) return Recipe::kDense;
  if (r <= 5) return Recipe::kPadded;
  if (r <= 7) return Recipe::kPacked;
  if (r == 8) return Recipe::kPermuted;
  if (r == 9) return Recipe::kStepped;
  if (r == 10) return Recipe::kNegative;
  if (r == 11) return Recipe::kBroadcast;
  // Huge strides cost a sparse mapping per case (see DecodeLimits::max_sparse_bytes): rare, but reachable.
  if (r == 12) return in.ConsumeIntegralInRange<int>(0, 15) == 0 ? Recipe::kHugeStride : Recipe::kDense;
  if (r == 13) return Recipe::kRaw;
  return is_x ? Recipe::kDense : Recipe::kLikeX;
}

// One operand's layout over shape s.
Layout decode_layout(FuzzedDataProvider& in, const DecodeLimits& lim, const Shape& s, const Layout* x) {
  Layout l;
  l.rank = s.rank;
  l.shape = s.n;
  set_dense(l);
  if (l.rank == 0) return l;
  const int r = l.rank;
  const i64 d = l.shape[r - 1];
  switch (pick_recipe(in, x == nullptr)) {
    case Recipe::kDense: break;
    case Recipe::kPadded: {  // (T,h):(h+k,1): a row-padded pitch (C2, C5)
      const i64 pad = in.ConsumeBool() ? in.PickValueInArray(kPads) : std::max<i64>(d, 1);
      if (r >= 2) {
        l.stride[r - 2] = sat_add(std::max<i64>(d, 1), pad);
        chain_outward(l, r - 3);
      }
      break;
    }
    case Recipe::kPacked: {  // a Q/K/V slice of a packed projection: (T,H,D):((H+e)*D,D,1) at head offset
      if (r >= 3) {
        const i64 heads = std::max<i64>(l.shape[r - 2], 1);
        const int e_kind = in.ConsumeIntegralInRange<int>(0, 3);
        const i64 extra = e_kind == 0 ? sat_mul(2, heads) : e_kind == 1 ? heads : e_kind == 2 ? 16 : in.PickValueInArray(kHeads);
        l.stride[r - 2] = std::max<i64>(d, 1);
        l.stride[r - 3] = sat_mul(sat_add(heads, extra), std::max<i64>(d, 1));
        chain_outward(l, r - 4);
        l.offset = sat_mul(in.ConsumeIntegralInRange<i64>(0, extra), std::max<i64>(d, 1));
      } else if (r == 2) {  // (T,h):(W,1) slice of a wider packed row
        const i64 extra = sat_mul(std::max<i64>(d, 1), in.ConsumeIntegralInRange<i64>(1, 2));
        l.stride[0] = sat_add(std::max<i64>(d, 1), extra);
        l.offset = in.ConsumeIntegralInRange<i64>(0, extra);
      } else {
        l.offset = in.ConsumeIntegralInRange<i64>(0, 64);
      }
      break;
    }
    case Recipe::kPermuted: {  // transposes and channels-last: the hidden dim need not be innermost (C1)
      std::array<int, kMaxRank> order{};
      for (int k = 0; k < r; ++k) order[k] = k;
      for (int k = r - 1; k > 0; --k) std::swap(order[k], order[in.ConsumeIntegralInRange<int>(0, k)]);
      i64 st = 1;
      for (int k = r - 1; k >= 0; --k) {
        l.stride[order[k]] = st;
        st = sat_mul(st, std::max<i64>(l.shape[order[k]], 1));
      }
      break;
    }
    case Recipe::kStepped: {  // x[..., ::k] or x[::k]: strides scaled from one dim outward
      const i64 step = in.ConsumeIntegralInRange<i64>(2, 4);
      const int from = in.ConsumeIntegralInRange<int>(0, r - 1);
      for (int k = 0; k <= from; ++k) l.stride[k] = sat_mul(l.stride[k], step);
      break;
    }
    case Recipe::kNegative: {  // flipped dims (DLPack/NumPy allow negative strides); offset keeps it in bounds
      if (in.ConsumeBool() && r >= 2) {
        l.stride[r - 2] = sat_add(std::max<i64>(d, 1), in.PickValueInArray(kPads));
        chain_outward(l, r - 3);
      }
      for (int k = 0; k < r; ++k) {
        if (!in.ConsumeBool()) continue;
        l.offset = sat_add(l.offset, sat_mul(std::max<i64>(l.shape[k], 1) - 1, l.stride[k]));
        l.stride[k] = sat_sub(0, l.stride[k]);
      }
      break;
    }
    case Recipe::kBroadcast: {  // stride 0: fine for inputs, overlapping for outputs (C10)
      for (int k = 0; k < r; ++k) {
        if (in.ConsumeBool()) l.stride[k] = 0;
      }
      break;
    }
    case Recipe::kHugeStride: {  // outermost non-trivial dim steps 2^31..2^33+ elements (C9)
      int k = 0;
      while (k + 1 < r && l.shape[k] <= 1) ++k;
      if (k + 1 < r || r == 1) {
        i64 stride = in.PickValueInArray(kHugeStrides);
        // Within the sparse budget (4-byte elements assumed): the largest stride that still fits, so the case runs
        // through the lazily committed path instead of being skipped.
        if (!lim.wild) {
          const i64 fit = sat_sub(lim.max_sparse_bytes / 4 / std::max<i64>(sat_sub(l.shape[k], 1), 1),
                                  sat_mul(std::max<i64>(d, 1), 2));
          if (stride > fit && fit > 0) stride = fit / 8 * 8;
        }
        l.stride[k] = stride;
      }
      break;
    }
    case Recipe::kRaw: {
      for (int k = 0; k < r; ++k) {
        l.stride[k] = lim.wild && in.ConsumeBool() ? in.ConsumeIntegral<i64>() : in.ConsumeIntegralInRange<i64>(-48, 48);
      }
      l.offset = lim.wild && in.ConsumeBool() ? in.ConsumeIntegral<i64>() : in.ConsumeIntegralInRange<i64>(0, 64);
      break;
    }
    case Recipe::kLikeX:  // torch.empty_like keeps a dense permuted input's strides
      if (x != nullptr && x->rank == r) {
        l.stride = x->stride;
        l.offset = x->offset;
      }
      break;
  }
  // Wild strides on size-1 dims: they address nothing and must change nothing (C3).
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
    for (int k = 0; k < r; ++k) {
      if (l.shape[k] == 1) l.stride[k] = in.PickValueInArray(kSize1Strides);
    }
  }
  // Misaligned storage offset of 1..7 elements (C4).
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) l.offset = sat_add(l.offset, in.ConsumeIntegralInRange<i64>(1, 7));
  return l;
}

// 1-D weight of length hidden: contiguous, strided, reversed, broadcast, misaligned.
Layout decode_weight(FuzzedDataProvider& in, i64 hidden) {
  Layout w;
  w.rank = 1;
  w.shape[0] = hidden;
  w.stride[0] = 1;
  const int kind = in.ConsumeIntegralInRange<int>(0, 15);
  if (kind == 12) w.stride[0] = 2;
  if (kind == 13) {
    w.stride[0] = -1;
    w.offset = std::max<i64>(hidden, 1) - 1;
  }
  if (kind == 14) w.stride[0] = 0;
  if (kind == 15) w.offset = in.ConsumeIntegralInRange<i64>(1, 7);
  return w;
}

float decode_eps(FuzzedDataProvider& in) {
  const int k = in.ConsumeIntegralInRange<int>(0, 31);
  if (k < 20) return 1e-6f;
  if (k == 31) return std::bit_cast<float>(in.ConsumeIntegral<std::uint32_t>());  // NaN, inf, negative: invalid
  return in.PickValueInArray(kEps);
}

// footprint() and numel() require sizes >= 0; a decoded layout may have negative ones on purpose (kNegativeSize).
bool sizes_are_valid(const Layout& l) {
  for (int k = 0; k < l.rank; ++k) {
    if (l.shape[k] < 0) return false;
  }
  return true;
}

std::optional<Footprint> checked_footprint(const Layout& l) {
  if (!sizes_are_valid(l)) return std::nullopt;
  return footprint(l);
}

// Elements a storage must hold for l (0 for an empty view; int64 max when the footprint overflows).
i64 need_of(const Layout& l) {
  if (!sizes_are_valid(l)) return 0;
  const std::optional<Footprint> fp = footprint(l);
  if (!fp) return kI64Max;
  if (fp->empty()) return 0;
  return fp->max < 0 ? 0 : sat_add(fp->max, 1);
}

// Storage sizes from the operands that live in each storage, then slack (or too little: kOutOfStorage).
void size_storages(FuzzedDataProvider& in, const DecodeLimits& lim, Case& c) {
  for (std::size_t s = 0; s < c.storages.size(); ++s) {
    i64 need = 0;
    int es = 1;
    for (OperandId id : kAllOperands) {
      if (c[id].present && c[id].storage == static_cast<int>(s)) {
        need = std::max(need, need_of(c[id].layout));
        es = std::max(es, dtype_size(c[id].dtype));
      }
    }
    const int slack = in.ConsumeIntegralInRange<int>(0, 15);
    i64 elems = need;
    if (slack >= 9 && slack <= 11) elems = sat_add(need, in.ConsumeIntegralInRange<i64>(1, 16));
    if (slack == 12) elems = sat_add(need, 8);
    if (slack == 13) elems = sat_add(need, in.ConsumeIntegralInRange<i64>(0, 4096));
    if (slack == 14 && need > 0) elems = need - in.ConsumeIntegralInRange<i64>(1, std::min<i64>(need, 4));
    if (slack == 15 && lim.wild) elems = in.ConsumeIntegral<i64>();
    // Sparse storages are pooled by exact page count, so round them to a power of two: a long run then reuses
    // a handful of lazily committed slots instead of mapping a new one per size.
    const i64 bytes = sat_mul(elems, es);
    if (!lim.wild && bytes > static_cast<i64>(HostArena::kSparseThreshold)) {
      i64 p = static_cast<i64>(HostArena::kSparseThreshold) / es;
      while (p < elems && p <= kI64Max / 2) p *= 2;
      elems = p;
    }
    c.storages[s].elems = elems;
    c.storages[s].placement = in.ConsumeBool() ? Placement::kLeading : Placement::kTrailing;
  }
}

// Who shares storage with whom, and how.
void decode_aliasing(FuzzedDataProvider& in, Case& c) {
  const bool fused = c.op == Op::kFusedAddRmsNorm;
  auto in_place = [&](OperandId w, OperandId src) {
    if (!c[w].present || !c[src].present) return;
    c[w].layout = c[src].layout;
    c[w].storage = c[src].storage;
    c[w].dtype = c[src].dtype;
  };
  const int scheme = in.ConsumeIntegralInRange<int>(0, 15);
  if (scheme <= 7) return;
  if (scheme == 8) return in_place(OperandId::kOut, OperandId::kX);
  if (scheme == 9) return in_place(fused ? OperandId::kResidualOut : OperandId::kOut, fused ? OperandId::kResidual : OperandId::kX);
  if (scheme == 10) {
    in_place(OperandId::kOut, OperandId::kX);
    in_place(OperandId::kResidualOut, OperandId::kResidual);
    return;
  }
  // Operand y moves into operand z's storage, shifted: onto z (shift 0), one hidden row over (a neighbouring
  // head of a packed buffer), just past z's footprint (disjoint), or a few elements over (partial overlap).
  const OperandId y = in.PickValueInArray(kAllOperands);
  const OperandId z = in.PickValueInArray(kAllOperands);
  if (y == z || !c[y].present || !c[z].present) return;
  const Layout zl = c[z].layout;
  if (scheme == 15 && c[y].layout.rank == zl.rank) c[y].layout = zl;  // same view: residual_out over x, ...
  c[y].storage = c[z].storage;
  c[y].dtype = c[z].dtype;
  Layout& yl = c[y].layout;
  const i64 hidden = zl.rank ? zl.shape[zl.rank - 1] : 1;
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: yl.offset = zl.offset; break;
    case 1: yl.offset = sat_add(zl.offset, hidden); break;
    case 2: {  // y's lowest element right after z's highest: disjoint, valid even for written operands
      const std::optional<Footprint> fy = checked_footprint(yl);
      if (fy && !fy->empty()) yl.offset = sat_add(sat_sub(yl.offset, fy->min), need_of(zl));
      break;
    }
    default: yl.offset = sat_add(zl.offset, in.ConsumeIntegralInRange<i64>(1, 8)); break;
  }
}

Case decode_structured(FuzzedDataProvider& in, const DecodeLimits& lim) {
  Case c;
  c.op = in.ConsumeBool() ? Op::kFusedAddRmsNorm : Op::kRmsNorm;
  const DType dt = in.PickValueInArray(kAllDTypes);
  c.eps = decode_eps(in);
  c.seed = in.ConsumeIntegral<std::uint16_t>();
  const Shape s = decode_shape(in, lim);
  const bool fused = c.op == Op::kFusedAddRmsNorm;
  // Which operands are present: the op's own, sometimes post_residual_addition, rarely one missing or extra.
  std::array<bool, kNumOperands> present{};
  present[static_cast<int>(OperandId::kX)] = true;
  present[static_cast<int>(OperandId::kWeight)] = true;
  present[static_cast<int>(OperandId::kOut)] = true;
  present[static_cast<int>(OperandId::kResidual)] = fused;
  present[static_cast<int>(OperandId::kResidualOut)] = fused;
  present[static_cast<int>(OperandId::kPostResidualAddition)] = fused && in.ConsumeIntegralInRange<int>(0, 2) == 0;
  if (in.ConsumeIntegralInRange<int>(0, 31) == 0) {
    const int flip = in.ConsumeIntegralInRange<int>(0, kNumOperands - 1);
    present[flip] = !present[flip];
  }
  const Layout* x = nullptr;
  for (OperandId id : kAllOperands) {
    if (!present[static_cast<int>(id)]) continue;
    Layout l = id == OperandId::kWeight ? decode_weight(in, s.hidden()) : decode_layout(in, lim, s, x);
    DType t = dt;
    if (in.ConsumeIntegralInRange<int>(0, 31) == 0) {  // invalid on purpose: another dtype or shape
      if (in.ConsumeBool()) {
        t = in.PickValueInArray(kAllDTypes);
      } else if (l.rank > 0) {
        i64& n = l.shape[in.ConsumeIntegralInRange<int>(0, l.rank - 1)];
        n = sat_add(n, 1);
      } else {
        l.rank = 1;
      }
    }
    set_operand(c, id, l, t, add_storage(c, 0));
    if (id == OperandId::kX) x = &c[OperandId::kX].layout;
  }
  decode_aliasing(in, c);
  // Drop storages no operand uses any more (an aliased operand left its own behind), renumbering the rest.
  std::vector<int> renumber(c.storages.size(), -1);
  std::vector<StorageSpec> used;
  for (OperandId id : kAllOperands) {
    if (!c[id].present) continue;
    int& r = renumber[c[id].storage];
    if (r < 0) {
      r = static_cast<int>(used.size());
      used.push_back({});
    }
    c[id].storage = r;
  }
  c.storages = used;
  size_storages(in, lim, c);
  return c;
}

Case decode_explicit(FuzzedDataProvider& in) {
  Case c;
  c.op = in.ConsumeBool() ? Op::kFusedAddRmsNorm : Op::kRmsNorm;
  c.eps = std::bit_cast<float>(in.ConsumeIntegral<std::uint32_t>());
  c.seed = in.ConsumeIntegral<std::uint64_t>();
  const int nst = in.ConsumeIntegralInRange<int>(0, kNumOperands);
  for (int s = 0; s < nst; ++s) {
    StorageSpec st;
    st.elems = in.ConsumeIntegral<i64>();
    st.placement = in.ConsumeBool() ? Placement::kLeading : Placement::kTrailing;
    c.storages.push_back(st);
  }
  for (OperandId id : kAllOperands) {
    OperandSpec& o = c[id];
    o.present = in.ConsumeBool();
    if (!o.present) continue;
    o.layout.rank = in.ConsumeIntegralInRange<int>(0, kMaxRank);
    for (int k = 0; k < o.layout.rank; ++k) {
      o.layout.shape[k] = in.ConsumeIntegral<i64>();
      o.layout.stride[k] = in.ConsumeIntegral<i64>();
    }
    o.layout.offset = in.ConsumeIntegral<i64>();
    o.dtype = kAllDTypes[in.ConsumeIntegralInRange<int>(0, 2)];
    o.storage = in.ConsumeIntegralInRange<int>(0, std::max(nst - 1, 0));
  }
  // An operand needs a declared storage for the Case to print and parse; an empty one keeps the case as close to
  // the input as possible (the planner then judges the empty storage).
  for (OperandId id : kAllOperands) {
    if (c[id].present && c.storages.empty()) c.storages.push_back({});
  }
  return c;
}

// Mirrors FuzzedDataProvider::ConsumeIntegralInRange: a value v in [min, max] is read as the (v - min) held in
// the fewest bytes that cover max - min, most significant byte first, from the end of the input backwards.
class ReverseWriter {
 public:
  void put(std::uint64_t v_minus_min, std::uint64_t range) {
    int n = 0;
    for (int off = 0; off < 64 && (range >> off) > 0; off += 8) ++n;
    for (int i = n - 1; i >= 0; --i) rev_.push_back(static_cast<std::uint8_t>(v_minus_min >> (8 * i)));
  }
  void put_bool(bool b) { put(b ? 1 : 0, 255); }
  void put_i64(i64 v) { put(static_cast<std::uint64_t>(v) - static_cast<std::uint64_t>(kI64Min), ~std::uint64_t{0}); }
  void put_u64(std::uint64_t v) { put(v, ~std::uint64_t{0}); }
  void put_range(i64 v, i64 min, i64 max) {
    put(static_cast<std::uint64_t>(v) - static_cast<std::uint64_t>(min), static_cast<std::uint64_t>(max) - static_cast<std::uint64_t>(min));
  }
  std::vector<std::uint8_t> bytes() const { return {rev_.rbegin(), rev_.rend()}; }

 private:
  std::vector<std::uint8_t> rev_;  // in consumption order; the input is its reverse
};

}  // namespace

namespace {
// A non-negative integer from the environment, or `fallback` when unset; anything else is a usage error.
i64 env_count(const char* name, i64 fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long long n = std::strtoll(v, &end, 0);
  if (*end != '\0' || n < 1) {
    std::fprintf(stderr, "ERROR: %s=%s: expected a positive count\n", name, v);
    std::exit(2);
  }
  return n;
}
}  // namespace

DecodeLimits case_limits() {
  DecodeLimits l;
  l.max_view_elems = env_count("SG_FUZZ_MAX_VIEW_ELEMS", l.max_view_elems);
  l.max_sparse_bytes = env_count("SG_FUZZ_MAX_SPARSE_BYTES", l.max_sparse_bytes);
  return l;
}

DecodeLimits planner_limits() {
  DecodeLimits l;
  l.wild = true;
  l.max_view_elems = kI64Max;
  l.max_hidden = kI64Max;
  return l;
}

Case decode_case(FuzzedDataProvider& in, const DecodeLimits& limits) {
  if (in.ConsumeIntegral<std::uint8_t>() < kExplicitBelow) return decode_explicit(in);
  return decode_structured(in, limits);
}

Case case_from_bytes(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits) {
  FuzzedDataProvider in(data, size);
  return decode_case(in, limits);
}

std::vector<std::uint8_t> case_to_bytes(const Case& c) {
  ReverseWriter w;
  w.put(0, 255);  // explicit form
  w.put_bool(c.op == Op::kFusedAddRmsNorm);
  w.put(std::bit_cast<std::uint32_t>(c.eps), 0xffffffffu);
  w.put_u64(c.seed);
  w.put_range(static_cast<i64>(c.storages.size()), 0, kNumOperands);
  for (const StorageSpec& st : c.storages) {
    w.put_i64(st.elems);
    w.put_bool(st.placement == Placement::kLeading);
  }
  const int nst = static_cast<int>(c.storages.size());
  for (OperandId id : kAllOperands) {
    const OperandSpec& o = c[id];
    w.put_bool(o.present);
    if (!o.present) continue;
    w.put_range(o.layout.rank, 0, kMaxRank);
    for (int k = 0; k < o.layout.rank; ++k) {
      w.put_i64(o.layout.shape[k]);
      w.put_i64(o.layout.stride[k]);
    }
    w.put_i64(o.layout.offset);
    w.put_range(static_cast<int>(o.dtype), 0, 2);
    w.put_range(o.storage, 0, std::max(nst - 1, 0));
  }
  return w.bytes();
}

bool within_budget(const Case& c, const DecodeLimits& limits, std::string* why) {
  auto no = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  if (const auto e = check_replayable(c)) return no(*e);
  for (OperandId id : kAllOperands) {
    const OperandSpec& o = c[id];
    if (!o.present) continue;
    if (!sizes_are_valid(o.layout)) continue;  // rejected before anything runs
    const std::optional<i64> n = numel(o.layout);
    if (!n) return no(std::string(to_string(id)) + ": element count overflows");
    const i64 hidden = o.layout.rank ? o.layout.shape[o.layout.rank - 1] : 1;
    const bool single_row = *n == hidden && hidden <= limits.max_hidden;
    if (*n > limits.max_view_elems && !single_row) return no(std::string(to_string(id)) + ": view too large");
  }
  std::vector<int> es(c.storages.size(), 1);
  for (OperandId id : kAllOperands) {
    if (c[id].present) es[c[id].storage] = std::max(es[c[id].storage], dtype_size(c[id].dtype));
  }
  for (std::size_t s = 0; s < c.storages.size(); ++s) {
    const i64 bytes = sat_mul(c.storages[s].elems, es[s]);
    const bool dense_ok = bytes <= limits.max_dense_bytes;
    const bool sparse_ok = bytes > static_cast<i64>(HostArena::kSparseThreshold) && bytes <= limits.max_sparse_bytes;
    if (!dense_ok && !sparse_ok) return no("storage " + std::to_string(s) + ": " + std::to_string(bytes) + " bytes");
  }
  return true;
}

std::optional<Policy> policy_from_env(std::string* bad) {
  const char* p = std::getenv("SG_POLICY");
  if (p == nullptr || *p == '\0') return Policy::kGuarded;
  if (auto policy = parse_policy(p)) return policy;
  *bad = p;
  return std::nullopt;
}

}  // namespace strideguard::fuzz
