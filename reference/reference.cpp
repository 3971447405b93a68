// fp64 reference and independent rule validator. Reads every element through its own layout; no shortcuts.
#include "reference/reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/layout.hpp"
#include "kernels/norm_kernel.hpp"

namespace strideguard::reference {
namespace {

__extension__ typedef __int128 i128;  // exact footprints: no int64 intermediate can overflow
constexpr i128 kI64Max = std::numeric_limits<std::int64_t>::max();
constexpr i128 kI64Min = std::numeric_limits<std::int64_t>::min();

bool fits(i128 v) { return v >= kI64Min && v <= kI64Max; }

double read(const TensorArg& t, std::int64_t index) {
  const auto* p = static_cast<const unsigned char*>(t.data) + index * dtype_size(t.dtype);
  return load_as_double(t.dtype, p);
}

struct Span {
  bool overflow = false;
  bool empty = false;
  i128 lo = 0, hi = 0;
};

// Footprint in exact 128-bit arithmetic. Each (n-1)*stride term must itself fit in int64 (the rule as
// documented); the sums are then monotone, so only the final values need checking.
Span span_of(const Layout& l) {
  Span s;
  for (int k = 0; k < l.rank; ++k) {
    if (l.shape[k] == 0) s.empty = true;
  }
  if (s.empty) return s;
  s.lo = s.hi = l.offset;
  for (int k = 0; k < l.rank; ++k) {
    const i128 term = static_cast<i128>(l.shape[k] - 1) * l.stride[k];
    if (!fits(term)) s.overflow = true;
    (term < 0 ? s.lo : s.hi) += term;
  }
  if (!fits(s.lo) || !fits(s.hi)) s.overflow = true;
  return s;
}

bool numel_overflows(const Layout& l) {
  i128 n = 1;
  for (int k = 0; k < l.rank; ++k) {
    if (l.shape[k] == 0) return false;
  }
  for (int k = 0; k < l.rank; ++k) {
    n *= l.shape[k];
    if (n > kI64Max) return true;
  }
  return false;
}

constexpr std::int64_t kEnumerateLimit = 1 << 10;

// True when enumerating the view finds an element addressed twice (views up to kEnumerateLimit elements).
bool has_duplicate_offsets(const Layout& l, std::int64_t n) {
  std::vector<std::int64_t> offs(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) offs[static_cast<std::size_t>(i)] = index_at(l, i);
  std::sort(offs.begin(), offs.end());
  return std::adjacent_find(offs.begin(), offs.end()) != offs.end();
}

// The documented conservative rule, restated: dims of size > 1 sorted by |stride| must each step past the
// reach of all smaller ones; a zero stride on such a dim always fails.
bool fails_dominance(const Layout& l) {
  std::vector<std::pair<i128, i128>> dims;
  for (int k = 0; k < l.rank; ++k) {
    if (l.shape[k] == 0) return false;
    if (l.shape[k] > 1) dims.emplace_back(l.stride[k] < 0 ? -static_cast<i128>(l.stride[k]) : l.stride[k], l.shape[k]);
  }
  std::sort(dims.begin(), dims.end());
  i128 reach = 0;
  for (const auto& [s, n] : dims) {
    if (s <= reach) return true;
    reach += (n - 1) * s;
  }
  return false;
}

bool written_view_overlaps(const Layout& l) {
  if (fails_dominance(l)) return true;  // the rule: conservative, so no enumeration can overturn it
  // The rule says "injective": small views are enumerated to check that independently, so a flaw in the rule
  // shows up as an accepted-invalid verdict instead of passing silently (the layout tests prove it exhaustively).
  const i128 n = numel_overflows(l) ? kI64Max : static_cast<i128>(*numel(l));
  return n <= kEnumerateLimit && has_duplicate_offsets(l, static_cast<std::int64_t>(n));
}

struct Bytes {
  bool empty = true;
  i128 lo = 0, hi = 0;  // [lo, hi)
};

Bytes bytes_of(const TensorArg& t) {
  const Span s = span_of(t.layout);
  if (s.empty) return {};
  const i128 base = static_cast<i128>(reinterpret_cast<std::uintptr_t>(t.data));
  const int es = dtype_size(t.dtype);
  return {false, base + s.lo * es, base + (s.hi + 1) * es};
}

bool same_elements(const TensorArg& a, const TensorArg& b) {
  if (a.layout.rank != b.layout.rank) return false;
  for (int k = 0; k < a.layout.rank; ++k) {
    if (a.layout.shape[k] != b.layout.shape[k] || a.layout.stride[k] != b.layout.stride[k]) return false;
  }
  const i128 fa = static_cast<i128>(reinterpret_cast<std::uintptr_t>(a.data)) + static_cast<i128>(a.layout.offset) * dtype_size(a.dtype);
  const i128 fb = static_cast<i128>(reinterpret_cast<std::uintptr_t>(b.data)) + static_cast<i128>(b.layout.offset) * dtype_size(b.dtype);
  return fa == fb;
}

Status structure(const NormCall& call, OperandId id) {
  const TensorArg& t = call[id];
  const TensorArg& x = call[OperandId::kX];
  const Layout& l = t.layout;
  if (id == OperandId::kWeight ? l.rank != 1 : (l.rank < 1 || l.rank > kMaxRank)) return Status::kRankOutOfRange;
  if (std::any_of(l.shape.begin(), l.shape.begin() + l.rank, [](std::int64_t n) { return n < 0; })) {
    return Status::kNegativeSize;
  }
  if (numel_overflows(l)) return Status::kSizeOverflow;
  const Span s = span_of(l);
  if (s.overflow) return Status::kFootprintOverflow;
  if (t.storage_elems < 0 || static_cast<i128>(t.storage_elems) * dtype_size(t.dtype) > kI64Max) {
    return Status::kStorageTooLarge;
  }
  if (!s.empty && (s.lo < 0 || s.hi >= t.storage_elems)) return Status::kOutOfStorage;
  if (!s.empty && t.data == nullptr) return Status::kNullStorage;
  // The kernels' row limit, in bytes: (2^31 - 1) chunks of 16 bytes for each of 256 lanes.
  if (id == OperandId::kX && static_cast<i128>(l.shape[l.rank - 1]) * dtype_size(t.dtype) > i128{2147483647} * 256 * 16) {
    return Status::kRowTooLong;
  }
  if (id != OperandId::kX && t.dtype != x.dtype) return Status::kDTypeMismatch;
  const std::int64_t hidden = x.layout.shape[x.layout.rank - 1];
  if (id == OperandId::kWeight) return l.shape[0] == hidden ? Status::kOk : Status::kWeightShape;
  if (id != OperandId::kX &&
      (l.rank != x.layout.rank || !std::equal(l.shape.begin(), l.shape.begin() + l.rank, x.layout.shape.begin()))) {
    return Status::kShapeMismatch;
  }
  return Status::kOk;
}

}  // namespace

std::int64_t element_index(const TensorArg& t, std::int64_t flat) { return index_at(t.layout, flat); }

Verdict validate(const NormCall& call) {
  if (!std::isfinite(call.eps) || call.eps < 0) return {Status::kBadEps, OperandId::kX};
  const bool fused = call.op == Op::kFusedAddRmsNorm;
  for (OperandId id : kAllOperands) {
    const bool needed = id == OperandId::kX || id == OperandId::kWeight || id == OperandId::kOut ||
                        (fused && (id == OperandId::kResidual || id == OperandId::kResidualOut));
    const bool optional = fused && id == OperandId::kPostResidualAddition;
    if (!call[id].present) {
      if (needed) return {Status::kMissingOperand, id};
      continue;
    }
    if (!needed && !optional) return {Status::kUnexpectedOperand, id};
    if (const Status s = structure(call, id); s != Status::kOk) return {s, id};
  }
  for (OperandId w : {OperandId::kOut, OperandId::kResidualOut}) {
    if (call[w].present && written_view_overlaps(call[w].layout)) return {Status::kWrittenViewOverlaps, w};
  }
  for (OperandId w : {OperandId::kOut, OperandId::kResidualOut}) {
    if (!call[w].present) continue;
    const Bytes bw = bytes_of(call[w]);
    for (OperandId o : kAllOperands) {
      if (o == w || !call[o].present) continue;
      const Bytes bo = bytes_of(call[o]);
      if (bw.empty || bo.empty || bw.hi <= bo.lo || bo.hi <= bw.lo) continue;
      const bool in_place_pair = (w == OperandId::kOut && o == OperandId::kX) ||
                                 (w == OperandId::kResidualOut && o == OperandId::kResidual);
      if (in_place_pair && same_elements(call[w], call[o])) continue;
      return {Status::kForbiddenAlias, w};
    }
  }
  return {};
}

Outputs compute(const NormCall& call) {
  const TensorArg& x = call[OperandId::kX];
  const TensorArg& w = call[OperandId::kWeight];
  const bool fused = call.op == Op::kFusedAddRmsNorm;
  const bool has_post = fused && call[OperandId::kPostResidualAddition].present;
  const DType t = x.dtype;
  const std::int64_t n = *numel(x.layout);
  const std::int64_t hidden = x.layout.shape[x.layout.rank - 1];
  Outputs o;
  o.out.resize(static_cast<std::size_t>(n));
  if (fused) o.residual_out.resize(static_cast<std::size_t>(n));
  if (hidden == 0) return o;
  std::vector<double> v(static_cast<std::size_t>(hidden));
  for (std::int64_t row = 0; row * hidden < n; ++row) {
    double sumsq = 0;
    for (std::int64_t c = 0; c < hidden; ++c) {
      const std::int64_t i = row * hidden + c;
      double s = read(x, element_index(x, i));
      if (fused) {
        double r = read(call[OperandId::kResidual], element_index(call[OperandId::kResidual], i));
        if (has_post) {
          const TensorArg& p = call[OperandId::kPostResidualAddition];
          r = round_to_dtype(t, r + read(p, element_index(p, i)));
        }
        s = round_to_dtype(t, s + r);
        o.residual_out[static_cast<std::size_t>(i)] = s;
      }
      v[static_cast<std::size_t>(c)] = s;
      sumsq += s * s;
    }
    const double rms = std::sqrt(sumsq / static_cast<double>(hidden) + static_cast<double>(call.eps));
    for (std::int64_t c = 0; c < hidden; ++c) {
      const double wc = read(w, w.layout.offset + c * w.layout.stride[0]);
      o.out[static_cast<std::size_t>(row * hidden + c)] = v[static_cast<std::size_t>(c)] / rms * wc;
    }
  }
  return o;
}

// The kernel (norm_kernel.hpp) computes in fp32 with unit roundoff u = 2^-24. The sum of squares is a summation
// tree whose height h (the most roundings any one term goes through) follows from the launch geometry, which
// depends on hidden and dtype only:
//   each square rounded once (1); within a chunk a pairwise tree (log2 chunk); the chunk sums of a lane added in
//   order (chunks_per_thread - 1; the first addition is to +0, exact, and not counted); the lanes' partials by a
//   butterfly (log2 of min(lanes, 32)), then the 32-lane group sums in order (lanes / 32 - 1, when lanes > 32).
// All terms are non-negative, so the relative error of the sum is at most h u (Higham, Accuracy and Stability,
// section 4.2, for any summation tree of height h). Then / hidden and + eps (two roundings), sqrt (halves the
// relative error, adds u), 1/x, * v, * w: six more. Hence |y_kernel - y| <= eps_rel |y| with
// eps_rel = ((h + 2) / 2 + 6) u. Both results are then rounded to the output dtype with p explicit mantissa bits;
// for |y| in [2^e, 2^(e+1)) one ulp is 2^(e-p) >= |y| 2^-(p+1), so they differ by at most
// floor(eps_rel 2^(p+1)) + 1 ulps. For 16-bit outputs this is 1 ulp; for f32, 12 at hidden 128, 17 at 4096.
std::int64_t out_tolerance_ulps(DType dtype, std::int64_t hidden) {
  const Geometry g = choose_geometry(hidden, dtype_size(dtype));
  const std::int64_t group = g.lanes < kReduceGroup ? g.lanes : kReduceGroup;
  const double h = 1.0 + ceil_log2(chunk_elems(dtype_size(dtype))) + (g.chunks_per_thread - 1) + ceil_log2(group) +
                   (g.lanes > kReduceGroup ? g.lanes / kReduceGroup - 1 : 0);
  const double u = std::ldexp(1.0, -24);
  const double eps_rel = ((h + 2.0) / 2.0 + 6.0) * u;
  return static_cast<std::int64_t>(std::floor(eps_rel * std::ldexp(1.0, dtype_mantissa_bits(dtype) + 1))) + 1;
}

// Near underflow the relative bound fails: v * inv may land in fp32's subnormal range with an absolute error of
// half of 2^-149, which * w scales by |w|. Four such roundings at most.
double out_tolerance_abs(double weight_magnitude) { return 4.0 * (1.0 + weight_magnitude) * std::ldexp(1.0, -149); }

}  // namespace strideguard::reference
