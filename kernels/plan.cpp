// The guarded dispatcher: validation in one place, then a zero-copy plan through per-operand row maps.
#include "kernels/plan.hpp"

#include <algorithm>
#include <cstdlib>

namespace strideguard {

std::string_view to_string(Policy p) {
  switch (p) {
#define SG_POLICY_NAME(name, cli, text) \
  case Policy::name: return cli;
    SG_POLICY_LIST(SG_POLICY_NAME)
#undef SG_POLICY_NAME
  }
  return "?";
}

std::string_view describe(Policy p) {
  switch (p) {
#define SG_POLICY_TEXT(name, cli, text) \
  case Policy::name: return text;
    SG_POLICY_LIST(SG_POLICY_TEXT)
#undef SG_POLICY_TEXT
  }
  return "?";
}

std::optional<Policy> parse_policy(std::string_view s) {
  for (Policy p : kAllPolicies) {
    if (to_string(p) == s) return p;
  }
  return std::nullopt;
}

namespace {

bool required(Op op, OperandId id) {
  switch (id) {
    case OperandId::kX:
    case OperandId::kWeight:
    case OperandId::kOut: return true;
    case OperandId::kResidual:
    case OperandId::kResidualOut: return op == Op::kFusedAddRmsNorm;
    case OperandId::kPostResidualAddition: return false;
  }
  return false;
}

bool allowed(Op op, OperandId id) {
  return required(op, id) || (op == Op::kFusedAddRmsNorm && id == OperandId::kPostResidualAddition);
}

// Byte range [lo, hi) of the elements a view addresses; empty when the view is.
struct ByteRange {
  std::uintptr_t lo = 0, hi = 0;
  bool empty() const { return hi <= lo; }
};

ByteRange byte_range(const TensorArg& t) {
  const Footprint fp = *footprint(t.layout);  // validated before use
  if (fp.empty()) return {};
  const auto base = reinterpret_cast<std::uintptr_t>(t.data);
  const auto es = static_cast<std::uintptr_t>(dtype_size(t.dtype));
  return {base + static_cast<std::uintptr_t>(fp.min) * es, base + static_cast<std::uintptr_t>(fp.max + 1) * es};
}

std::uintptr_t first_element_address(const TensorArg& t) {
  return reinterpret_cast<std::uintptr_t>(t.data) +
         static_cast<std::uintptr_t>(t.layout.offset) * static_cast<std::uintptr_t>(dtype_size(t.dtype));
}

bool same_view(const TensorArg& a, const TensorArg& b) {
  if (first_element_address(a) != first_element_address(b) || a.layout.rank != b.layout.rank) return false;
  for (int k = 0; k < a.layout.rank; ++k) {
    if (a.layout.shape[k] != b.layout.shape[k] || a.layout.stride[k] != b.layout.stride[k]) return false;
  }
  return true;
}

Status check_structure(const NormCall& call, OperandId id) {
  const TensorArg& t = call[id];
  const TensorArg& x = call[OperandId::kX];
  const Layout& l = t.layout;
  const bool is_weight = id == OperandId::kWeight;
  if (l.rank < 1 || l.rank > kMaxRank) return Status::kRankOutOfRange;
  if (is_weight && l.rank != 1) return Status::kRankOutOfRange;
  for (int k = 0; k < l.rank; ++k) {
    if (l.shape[k] < 0) return Status::kNegativeSize;
  }
  if (!numel(l)) return Status::kSizeOverflow;
  const std::optional<Footprint> fp = footprint(l);
  if (!fp) return Status::kFootprintOverflow;
  std::int64_t storage_bytes = 0;
  if (t.storage_elems < 0 || mul_overflows(t.storage_elems, dtype_size(t.dtype), &storage_bytes)) {
    return Status::kStorageTooLarge;
  }
  if (!fp->empty() && (fp->min < 0 || fp->max >= t.storage_elems)) return Status::kOutOfStorage;
  if (!fp->empty() && t.data == nullptr) return Status::kNullStorage;
  if (id == OperandId::kX && l.shape[l.rank - 1] > max_hidden(dtype_size(t.dtype))) return Status::kRowTooLong;
  if (id != OperandId::kX && t.dtype != x.dtype) return Status::kDTypeMismatch;
  if (is_weight) {
    if (l.shape[0] != x.layout.shape[x.layout.rank - 1]) return Status::kWeightShape;
  } else if (id != OperandId::kX) {
    if (l.rank != x.layout.rank) return Status::kShapeMismatch;
    for (int k = 0; k < l.rank; ++k) {
      if (l.shape[k] != x.layout.shape[k]) return Status::kShapeMismatch;
    }
  }
  return Status::kOk;
}

OperandAccess access_for(const TensorArg& t) {
  OperandAccess a;
  a.base = t.data;
  const Layout& l = t.layout;
  a.col_stride = l.stride[l.rank - 1];
  const Layout rows = row_dims(l);
  a.rows.ndims = rows.rank;
  for (int k = 0; k < rows.rank; ++k) {
    a.rows.size[k] = rows.shape[k];
    a.rows.stride[k] = rows.stride[k];
  }
  a.rows.offset = l.offset;
  a.rows.prepare_division();
  return a;
}

}  // namespace

bool vector_access_allowed(const NormCall& call) {
  const TensorArg& x = call[OperandId::kX];
  const std::int64_t hidden = x.layout.shape[x.layout.rank - 1];
  const int chunk = chunk_elems(dtype_size(x.dtype));
  if (hidden % chunk != 0) return false;
  for (OperandId id : kAllOperands) {
    const TensorArg& t = call[id];
    if (!t.present) continue;
    const Layout& l = t.layout;
    const bool base_is_aligned = first_element_address(t) % 16 == 0;
    const bool columns_are_unit_stride = l.stride[l.rank - 1] == 1;
    bool pitches_are_multiple_of_chunk = true;
    for (int k = 0; k + 1 < l.rank; ++k) {
      if (l.shape[k] != 1 && l.stride[k] % chunk != 0) pitches_are_multiple_of_chunk = false;
    }
    if (!(base_is_aligned && columns_are_unit_stride && pitches_are_multiple_of_chunk)) return false;
  }
  return true;
}

Plan guarded_plan_for_valid_call(const NormCall& call) {
  const TensorArg& x = call[OperandId::kX];
  Plan p;
  p.op = call.op;
  p.dtype = x.dtype;
  p.policy = Policy::kGuarded;
  KernelArgs& a = p.args;
  a.hidden = x.layout.shape[x.layout.rank - 1];
  a.rows = a.hidden == 0 ? 0 : *numel(x.layout) / a.hidden;
  a.eps = call.eps;
  a.x = access_for(x);
  a.weight.base = call[OperandId::kWeight].data;
  a.weight.rows.offset = call[OperandId::kWeight].layout.offset;
  a.weight.col_stride = call[OperandId::kWeight].layout.stride[0];
  a.out = access_for(call[OperandId::kOut]);
  if (call.op == Op::kFusedAddRmsNorm) {
    a.residual = access_for(call[OperandId::kResidual]);
    a.residual_out = access_for(call[OperandId::kResidualOut]);
    a.has_post = call[OperandId::kPostResidualAddition].present;
    if (a.has_post) a.post = access_for(call[OperandId::kPostResidualAddition]);
  }
  a.x_pass2_col_stride = a.x.col_stride;
  const Geometry g = choose_geometry(a.hidden, dtype_size(x.dtype));
  a.lanes = g.lanes;
  a.threads_per_block = g.threads_per_block;
  a.chunks_per_thread = g.chunks_per_thread;
  a.cache_rows = g.chunks_per_thread <= kMaxCachedChunks;
  p.vector = a.rows > 0 && vector_access_allowed(call);
  if (!p.vector && column_rows_pay(a)) {  // rows across warps (norm_kernel.hpp): pass 2 reads memory again
    a.column_rows = true;
    a.threads_per_block = kColumnRows * std::min(a.lanes, kColumnSlots);
    a.cache_rows = false;
  }
  p.grid_blocks = a.rows > 0 ? a.row_groups() : 0;
  return p;
}

PlanResult plan(const NormCall& call, Policy policy) {
  if (policy != Policy::kGuarded) return plan_bug_model(call, policy);
  PlanResult r;
  auto reject = [&](Status s, OperandId id) {
    r.status = s;
    r.operand = id;
    return r;
  };
  if (!(call.eps >= 0.f && call.eps <= 3.4028235e38f)) return reject(Status::kBadEps, OperandId::kX);
  for (OperandId id : kAllOperands) {
    const TensorArg& t = call[id];
    if (!t.present) {
      if (required(call.op, id)) return reject(Status::kMissingOperand, id);
      continue;
    }
    if (!allowed(call.op, id)) return reject(Status::kUnexpectedOperand, id);
    if (const Status s = check_structure(call, id); s != Status::kOk) return reject(s, id);
  }
  for (OperandId id : {OperandId::kOut, OperandId::kResidualOut}) {
    if (call[id].present && may_self_overlap(call[id].layout)) return reject(Status::kWrittenViewOverlaps, id);
  }
  for (OperandId w : {OperandId::kOut, OperandId::kResidualOut}) {
    if (!call[w].present) continue;
    const ByteRange wr = byte_range(call[w]);
    if (wr.empty()) continue;
    for (OperandId o : kAllOperands) {
      if (o == w || !call[o].present) continue;
      const ByteRange orr = byte_range(call[o]);
      if (orr.empty() || wr.hi <= orr.lo || orr.hi <= wr.lo) continue;
      const bool in_place = (w == OperandId::kOut && o == OperandId::kX) ||
                            (w == OperandId::kResidualOut && o == OperandId::kResidual);
      if (in_place && same_view(call[w], call[o])) continue;
      return reject(Status::kForbiddenAlias, w);
    }
  }
  r.plan = guarded_plan_for_valid_call(call);
  return r;
}

std::string describe_rejection(const NormCall& call, const PlanResult& r) {
  std::string s(to_string(r.operand));
  s += ": ";
  s += describe(r.status);
  s += " [";
  s += to_string(r.status);
  s += "]";
  const TensorArg& t = call[r.operand];
  if (t.present) {
    s += ": ";
    s += to_string(t.layout, t.dtype);
    s += " storage=" + std::to_string(t.storage_elems);
  } else if (r.status == Status::kMissingOperand) {
    s += ": not given";
  }
  if (r.status == Status::kBadEps) s += ": eps=" + std::to_string(call.eps);
  return s;
}

std::string describe_plan(const Plan& p) {
  const KernelArgs& a = p.args;
  std::string s = "policy=";
  s += to_string(p.policy);
  s += a.column_rows                   ? " variant=rows-across-warps"  // kColumnRows rows a block (norm_kernel.hpp)
       : a.lanes == a.threads_per_block ? " variant=block-per-row"
       : a.lanes <= kReduceGroup        ? " variant=subwarp-per-row"
                                        : " variant=multi-warp-rows";  // 32 < lanes < threads: several rows a block
  s += " lanes=" + std::to_string(a.lanes) + " threads=" + std::to_string(a.threads_per_block);
  s += p.vector ? " access=vector16" : " access=scalar";
  s += " rows=" + std::to_string(a.rows) + " hidden=" + std::to_string(a.hidden);
  s += " grid=" + std::to_string(p.grid_blocks) + " copies=" + std::to_string(p.temp_elems);
  return s;
}

}  // namespace strideguard
