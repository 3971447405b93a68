// Recipe -> Case. Every family builds a valid call when Recipe::invalid == 0 (the builder falls back to a plainer
// choice when two genes would combine into a forbidden alias); a mutation then breaks exactly one rule.
#include "props/recipe.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include "harness/case_builder.hpp"

namespace strideguard::props {
namespace {

template <class T, std::size_t N>
T pick(const std::array<T, N>& list, int gene) {
  return list[static_cast<std::size_t>(gene) % N];
}

// First entries are the plainest: shrinking drives every gene to 0.
constexpr std::array<std::int64_t, 15> kHidden = {64, 128, 4096, 1, 7, 8, 111, 256, 769, 3584, 3585, 5125, 16384, 2, 1000};
constexpr std::array<std::int64_t, 7> kHeads = {2, 32, 4, 8, 1, 5, 28};
constexpr std::array<std::int64_t, 5> kKvHeads = {1, 8, 2, 4, 3};
constexpr std::array<std::int64_t, 8> kHeadDim = {64, 128, 256, 80, 96, 112, 8, 7};
constexpr std::array<std::int64_t, 7> kPad = {1, 2, 4, 8, 16, 64, 3};
constexpr std::array<float, 5> kEps = {1e-6f, 1e-5f, 0.f, 1e-2f, 1.f};
constexpr std::array<DType, 3> kDTypes = {DType::kBF16, DType::kF16, DType::kF32};

Layout dense(const Layout& shape_of) { return contiguous_like(shape_of); }

// Row-major, but the innermost leading dim has pitch H + pad.
Layout padded(const Layout& x, std::int64_t pad) {
  Layout l = contiguous_like(x);
  if (l.rank < 2) return l;
  const int r = l.rank;
  l.stride[r - 2] = x.shape[r - 1] + pad;
  for (int k = r - 3; k >= 0; --k) l.stride[k] = l.stride[k + 1] * std::max<std::int64_t>(x.shape[k + 1], 1);
  return l;
}

Layout column_major(const Layout& x) {
  Layout l = x;
  l.offset = 0;
  std::int64_t s = 1;
  for (int k = 0; k < x.rank; ++k) {
    l.stride[k] = s;
    s *= std::max<std::int64_t>(x.shape[k], 1);
  }
  return l;
}

Layout reversed_rows(const Layout& x, bool allowed) {
  Layout l = contiguous_like(x);
  if (!allowed || l.rank < 2 || l.shape[0] == 0) return l;
  l.offset = (l.shape[0] - 1) * l.stride[0];
  l.stride[0] = -l.stride[0];
  return l;
}

Layout broadcast_rows(const Layout& x) {
  Layout l = x;
  l.offset = 0;
  for (int k = 0; k + 1 < l.rank; ++k) l.stride[k] = 0;
  l.stride[l.rank - 1] = 1;
  return l;
}

struct Builder {
  const Recipe& r;
  const BuildOptions& o;
  Case c;
  DType t = DType::kBF16;
  std::int64_t slack = 0;

  int storage_for(const Layout& l) { return add_storage(c, storage_needed(l) + slack, placement(c.storages.size())); }
  // Gene 0 places every storage flush against its leading guard (a page-aligned base, as allocators give).
  Placement placement(std::size_t i) const {
    if (r.placement < 256) return Placement::kLeading;
    return ((r.placement - 256) >> (i % 8)) & 1 ? Placement::kTrailing : Placement::kLeading;
  }
  void own(OperandId id, const Layout& l) { set_operand(c, id, l, t, storage_for(l)); }
  void share(OperandId id, OperandId with) {
    c[id] = c[with];
  }
};

Layout make_x(const Recipe& r, const BuildOptions& o, std::int64_t* storage_elems) {
  auto fam = static_cast<XFamily>(r.x_family % static_cast<int>(XFamily::kCount));
  if (fam == XFamily::kNegative && o.engine_calls_only) fam = XFamily::kContiguous;
  std::int64_t T = 1 + r.tokens;
  const std::int64_t pad = pick(kPad, r.pad);
  auto cap_rows = [&](std::int64_t row_elems) { T = std::max<std::int64_t>(1, std::min(T, o.max_elems / std::max<std::int64_t>(row_elems, 1))); };
  Layout x;
  *storage_elems = -1;  // -1: storage_needed(x)
  switch (fam) {
    case XFamily::kPackedQ:
    case XFamily::kPackedK:
    case XFamily::kPackedV: {
      const std::int64_t hq = pick(kHeads, r.heads), hkv = pick(kKvHeads, r.kv_heads), d = pick(kHeadDim, r.head_dim);
      const std::int64_t w = (hq + 2 * hkv) * d;
      const std::int64_t heads = fam == XFamily::kPackedQ ? hq : hkv;
      cap_rows(heads * d);
      const std::int64_t off = fam == XFamily::kPackedQ ? 0 : fam == XFamily::kPackedK ? hq * d : (hq + hkv) * d;
      x = *make_layout({T, heads, d}, {w, d, 1}, off);
      *storage_elems = T * w;  // the whole packed projection: K/V around a Q view are canaries to protect
      break;
    }
    case XFamily::kRowPadded: {
      const std::int64_t h = pick(kHidden, r.hidden);
      cap_rows(h + pad);
      x = *make_layout({T, h}, {h + pad, 1});
      break;
    }
    case XFamily::kSize1OddStride: {
      const std::int64_t h = pick(kHidden, r.hidden);
      cap_rows(h);
      const std::array<std::int64_t, 6> odd = {4194304, 3, 0, -5, 1, T * h * 7};
      x = *make_layout({T, 1, h}, {h, pick(odd, r.variant), 1});
      break;
    }
    case XFamily::kTransposed: {
      const std::int64_t h = pick(kHidden, r.hidden);
      cap_rows(h);
      x = *make_layout({T, h}, {1, T});
      break;
    }
    case XFamily::kEveryOther: {
      const std::int64_t h = pick(kHidden, r.hidden);
      cap_rows(2 * h);
      x = *make_layout({T, h}, {2 * h, 2});
      break;
    }
    case XFamily::kNegative: {
      const std::int64_t h = pick(kHidden, r.hidden);
      cap_rows(h);
      x = r.variant % 2 == 0 ? *make_layout({T, h}, {-h, 1}, (T - 1) * h) : *make_layout({T, h}, {h, -1}, h - 1);
      break;
    }
    case XFamily::kBroadcastRows: {
      const std::int64_t h = pick(kHidden, r.hidden);
      cap_rows(h);
      x = *make_layout({T, h}, {0, 1});
      break;
    }
    case XFamily::kSplitRank4: {
      const std::int64_t h = pick(kHidden, r.hidden);
      const std::int64_t a = 1 + r.variant % 3, b = 1 + (r.variant / 3) % 3;
      cap_rows(a * b * h);
      const std::int64_t cdim = std::max<std::int64_t>(1, T / (a * b) + 1);
      const std::int64_t s2 = h + pad, s1 = cdim * s2 + 8 * (1 + r.variant % 2), s0 = b * s1 + 3;
      x = (r.variant / 9) % 2 == 0 ? *make_layout({a, b, cdim, h}, {s0, s1, s2, 1})
                                   : *make_layout({a, b, cdim, h}, {s1, s0 * a, s2, 1});  // leading dims permuted
      break;
    }
    case XFamily::kHugeStride: {
      const std::int64_t h = pick(kHidden, r.hidden) % 512 + 1;  // few elements, huge distances
      const std::int64_t rows = 2 + r.tokens % 2;
      x = *make_layout({rows, h}, {(std::int64_t{1} << 32) + pad, 1});
      break;
    }
    case XFamily::kRank1:
      x = *make_layout({pick(kHidden, r.hidden)}, {1});
      break;
    case XFamily::kContiguous:
    case XFamily::kCount: {
      const std::int64_t h = pick(kHidden, r.hidden);
      cap_rows(h);
      x = *make_layout({T, h}, {h, 1});
      break;
    }
  }
  return x;
}

void mutate(Builder& b, Invalid kind) {
  Case& c = b.c;
  OperandSpec& x = c[OperandId::kX];
  const bool fused = c.op == Op::kFusedAddRmsNorm;
  switch (kind) {
    case Invalid::kNone:
    case Invalid::kCount: return;
    case Invalid::kWeightLength: {
      OperandSpec& w = c[OperandId::kWeight];
      w.layout.shape[0] += 1;
      c.storages[w.storage].elems += std::max<std::int64_t>(std::llabs(w.layout.stride[0]), 1);
      return;
    }
    case Invalid::kOutShape: {
      OperandSpec& out = c[OperandId::kOut];
      out.layout.shape[0] += 1;
      out.layout = contiguous_like(out.layout);
      c.storages[out.storage].elems = storage_needed(out.layout);
      return;
    }
    case Invalid::kStorageShort:
      c.storages[x.storage].elems = std::max<std::int64_t>(0, storage_needed(x.layout) - 1);
      return;
    case Invalid::kNegativeOffset: {
      const auto fp = footprint(x.layout);
      if (fp && !fp->empty()) x.layout.offset -= fp->min + 1;
      return;
    }
    case Invalid::kOutStrideZero: {
      OperandSpec& out = c[OperandId::kOut];
      for (int k = 0; k < out.layout.rank; ++k) {
        if (out.layout.shape[k] > 1) {
          out.layout.stride[k] = 0;
          return;
        }
      }
      return;
    }
    case Invalid::kOutOverlapsX: {
      OperandSpec& out = c[OperandId::kOut];
      out = x;
      out.layout.offset += 1;
      c.storages[x.storage].elems += 1;
      return;
    }
    case Invalid::kDTypeMismatch:
      c[OperandId::kWeight].dtype = x.dtype == DType::kF32 ? DType::kBF16 : DType::kF32;
      return;
    case Invalid::kBadEps:
      c.eps = b.r.variant % 2 ? std::numeric_limits<float>::quiet_NaN() : -1e-6f;
      return;
    case Invalid::kMissingResidualOut:
      c[fused ? OperandId::kResidualOut : OperandId::kOut].present = false;
      return;
    case Invalid::kUnexpectedResidual:
      if (!fused) {
        c[OperandId::kResidual] = c[OperandId::kOut];
        c[OperandId::kResidual].storage = add_storage(c, c.storages[c[OperandId::kOut].storage].elems);
      } else {
        c.op = Op::kRmsNorm;  // a fused call's operands handed to rms_norm
      }
      return;
    case Invalid::kFootprintOverflow:
      x.layout.shape[0] = std::max<std::int64_t>(x.layout.shape[0], 3);
      x.layout.stride[0] = std::int64_t{1} << 62;
      return;
    case Invalid::kSizeOverflow:
      x.layout.shape[0] = std::int64_t{1} << 62;
      x.layout.stride[0] = 0;
      if (x.layout.rank >= 2) {
        x.layout.shape[x.layout.rank - 2] = std::int64_t{1} << 40;
        x.layout.stride[x.layout.rank - 2] = 0;
      }
      return;
    case Invalid::kNegativeSize:
      x.layout.shape[0] = -1 - b.r.variant % 3;
      return;
    case Invalid::kResidualOutOverX:
      if (fused) {
        c[OperandId::kResidualOut] = x;
      } else {
        c[OperandId::kOut] = x;
        c[OperandId::kOut].layout.shape[0] = x.layout.shape[0];
        if (x.layout.rank >= 1 && x.layout.stride[0] != 0) {  // same elements, other view: not in place
          c[OperandId::kOut].layout.offset += (x.layout.shape[0] - 1) * x.layout.stride[0];
          c[OperandId::kOut].layout.stride[0] = -x.layout.stride[0];
        }
      }
      return;
    case Invalid::kRank0:
      x.layout.rank = 0;
      return;
    case Invalid::kRowTooLong:  // a row repeating one element, longer than the kernels' row limit in every dtype
      x.layout.shape[x.layout.rank - 1] = std::int64_t{1} << 43;
      x.layout.stride[x.layout.rank - 1] = 0;
      return;
  }
}

}  // namespace

Case build_case(const Recipe& recipe, const BuildOptions& o) {
  // A "plain" recipe keeps every secondary perturbation off (dense weight, no extra offsets, leading placement,
  // flush storages), so the vector variant is drawn often; shrinking moves towards plain.
  Recipe r = recipe;
  if (r.plain % 5 < 2) {
    r.weight = 0;
    r.misalign = 0;
    r.misalign_other = 40;
    r.placement = 0;
    r.slack = 0;
  }
  Builder b{r, o, {}, pick(kDTypes, r.dtype), r.slack % 3};
  Case& c = b.c;
  c.op = r.op % 2 ? Op::kFusedAddRmsNorm : Op::kRmsNorm;
  c.eps = pick(kEps, r.eps);
  c.seed = r.seed;
  c.backend = o.backend;
  c.policy = o.policy;
  const bool fused = c.op == Op::kFusedAddRmsNorm;
  const DType t = b.t;

  // x (its storage may be a whole packed projection).
  std::int64_t x_storage = -1;
  Layout x = make_x(r, o, &x_storage);
  const std::int64_t x_shift = r.misalign >= 8 ? r.misalign % 8 : 0;
  x.offset += x_shift;
  const std::int64_t need = storage_needed(x);
  set_operand(c, OperandId::kX, x, t, add_storage(c, std::max(need, x_storage + x_shift) + b.slack, b.placement(0)));
  const std::int64_t h = x.shape[x.rank - 1];
  const bool x_writable = !may_self_overlap(x);

  // weight
  {
    const int fam = o.engine_calls_only ? 0 : r.weight % 3;
    const std::int64_t ws = fam == 1 ? 2 : fam == 2 ? 0 : 1;
    b.own(OperandId::kWeight, *make_layout({h}, {ws}));
  }
  // residual (read-only: may alias x)
  const int res_fam = fused ? r.residual % 6 : 0;
  const int out_fam_raw = r.out % 6;
  const bool out_in_place = out_fam_raw == 1 && x_writable;
  if (fused) {
    switch (res_fam) {
      case 1: set_operand(c, OperandId::kResidual, x, t, add_storage(c, c.storages[0].elems, b.placement(c.storages.size()))); break;
      case 2: b.own(OperandId::kResidual, padded(x, pick(kPad, r.pad))); break;
      case 3: b.own(OperandId::kResidual, column_major(x)); break;
      case 4:
        if (!out_in_place) {
          b.share(OperandId::kResidual, OperandId::kX);
          break;
        }
        [[fallthrough]];
      case 5: b.own(OperandId::kResidual, reversed_rows(x, !o.engine_calls_only)); break;
      default: b.own(OperandId::kResidual, dense(x)); break;
    }
    const int post_fam = r.post % 4;
    if (post_fam == 1) b.own(OperandId::kPostResidualAddition, dense(x));
    if (post_fam == 2) b.own(OperandId::kPostResidualAddition, c[OperandId::kResidual].layout);
    if (post_fam == 3) b.own(OperandId::kPostResidualAddition, broadcast_rows(x));
  }
  // out
  switch (out_in_place ? 1 : (out_fam_raw == 1 ? 0 : out_fam_raw)) {
    case 1: b.share(OperandId::kOut, OperandId::kX); break;
    case 2: b.own(OperandId::kOut, padded(x, pick(kPad, r.pad + 1))); break;
    case 3: b.own(OperandId::kOut, column_major(x)); break;
    case 4:
      if (x_writable) {  // x's own layout (gaps, packed neighbours) in a storage of its own: writes must stay in it
        set_operand(c, OperandId::kOut, x, t, add_storage(c, c.storages[0].elems, b.placement(c.storages.size())));
        break;
      }
      [[fallthrough]];
    case 5: b.own(OperandId::kOut, reversed_rows(x, !o.engine_calls_only)); break;
    default: b.own(OperandId::kOut, dense(x)); break;
  }
  if (fused) {
    const bool residual_is_own = res_fam != 4 || out_in_place;
    const bool residual_writable = !may_self_overlap(c[OperandId::kResidual].layout);
    switch (r.residual_out % 4) {
      case 1:
        if (residual_is_own && residual_writable) {
          b.share(OperandId::kResidualOut, OperandId::kResidual);
          break;
        }
        [[fallthrough]];
      case 2:
        if (x_writable) {
          set_operand(c, OperandId::kResidualOut, x, t, add_storage(c, c.storages[0].elems, b.placement(c.storages.size())));
          break;
        }
        [[fallthrough]];
      case 3: b.own(OperandId::kResidualOut, padded(x, pick(kPad, r.pad + 2))); break;
      default: b.own(OperandId::kResidualOut, dense(x)); break;
    }
  }
  // A misaligned offset on one other operand (not on an in-place alias, which must stay x's exact view).
  {
    const std::array<OperandId, 5> who = {OperandId::kWeight, OperandId::kOut, OperandId::kResidual,
                                          OperandId::kResidualOut, OperandId::kPostResidualAddition};
    const OperandId id = pick(who, r.misalign_other / 8);
    const std::int64_t m = r.misalign_other < 40 ? r.misalign_other % 8 : 0;  // 40..79: aligned
    OperandSpec& op = c[id];
    bool shared = false;
    for (OperandId other : kAllOperands) {
      if (other != id && c[other].present && c[other].storage == op.storage) shared = true;
    }
    if (op.present && m && !shared) {
      op.layout.offset += m;
      c.storages[op.storage].elems += m;
    }
  }
  mutate(b, static_cast<Invalid>(r.invalid % static_cast<int>(Invalid::kCount)));
  return c;
}

std::vector<std::string> classify(const Case& c) {
  std::vector<std::string> tags;
  const OperandSpec& x = c[OperandId::kX];
  auto add = [&](const char* t) {
    if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.emplace_back(t);
  };
  if (x.layout.rank < 1) return {"invalid x rank"};
  const std::int64_t h = x.layout.shape[x.layout.rank - 1];
  const int es = dtype_size(x.dtype);
  const int chunk = 16 / es;
  for (OperandId id : kAllOperands) {
    const OperandSpec& o = c[id];
    if (!o.present || o.layout.rank < 1) continue;
    const Layout& l = o.layout;
    if (l.stride[l.rank - 1] != 1 && l.shape[l.rank - 1] > 1) add("C1 last-dim stride != 1");
    if (id != OperandId::kWeight) {
      const Layout rows = row_dims(l);
      if (rows.rank >= 2 || (rows.rank == 1 && rows.stride[0] != h)) add("C2 rows not one dense pitch");
      for (int k = 0; k + 1 < l.rank; ++k) {
        if (l.shape[k] == 1 && l.stride[k] != contiguous_like(l).stride[k]) add("C3 size-1 dim with odd stride");
        // Residues first: invalid cases carry strides near 2^62 that would overflow a product.
        if (l.shape[k] > 1 && (l.stride[k] % 16) * es % 16 != 0) add("C5 pitch not a multiple of 16 bytes");
        if (l.stride[k] < 0) add("negative stride");
        if (l.stride[k] == 0 && l.shape[k] > 1) add("stride 0");
      }
    }
    const std::int64_t bytes_mod16 = (c.storages[o.storage].elems % 16) * es % 16;
    const bool base_aligned = c.storages[o.storage].placement == Placement::kLeading || bytes_mod16 == 0;
    if (!base_aligned || (l.offset % 16) * es % 16 != 0) add("C4 misaligned base");
    const auto fp = footprint(l);
    if (fp && !fp->empty() && fp->max >= (std::int64_t{1} << 31)) add("C9 offsets past 2^31");
    if (l.rank >= 4) add("rank >= 4");
  }
  if (h % chunk != 0 || h < 8 || h >= 16384) add("C6 hidden odd, tiny or huge");
  const std::int64_t lane_span = 32 * chunk;
  if (h % lane_span == 1 || h % lane_span == lane_span - 1 || h % chunk == 1 || h % chunk == chunk - 1) {
    add("C11 hidden at a chunk/lane boundary +-1");
  }
  if (c.op == Op::kFusedAddRmsNorm && c[OperandId::kResidual].present &&
      !(c[OperandId::kResidual].layout == x.layout)) {
    add("C7 residual layout differs from x");
  }
  if (c.op == Op::kFusedAddRmsNorm && c[OperandId::kPostResidualAddition].present) add("post_residual_addition");
  if (c[OperandId::kOut].present && c[OperandId::kOut].storage == x.storage) add("C8 out in place or in x's storage");
  if (c[OperandId::kOut].present && !is_row_major_contiguous(c[OperandId::kOut].layout)) add("C8 out not contiguous");
  for (OperandId a : kAllOperands) {
    for (OperandId b : kAllOperands) {
      if (a < b && c[a].present && c[b].present && c[a].storage == c[b].storage) add("C10 operands share a storage");
    }
  }
  const Layout& xl = x.layout;
  if (xl.rank == 3 && c.storages[x.storage].elems > *numel(xl) && xl.stride[0] > xl.shape[1] * xl.shape[2]) {
    add("packed QKV slice");
  }
  return tags;
}

}  // namespace strideguard::props
