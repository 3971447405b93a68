// Faithful models of dispatchers that failed in real engines. Each takes a call the guarded validator accepts and
// builds the launch the real code would have made, so the suite can prove it catches the real failure.
// Sources and triggers: docs/bug-models.md. Invalid calls get the guarded rejection: the point of a model is what
// it does to valid views.
#include <cstdlib>

#include "kernels/plan.hpp"

namespace strideguard {
namespace {

std::int64_t hidden_of(const Layout& l) { return l.shape[l.rank - 1]; }

// A plain 2D addressing: row r at offset + r * pitch, column c at + c (unit stride assumed).
OperandAccess flat_rows(const TensorArg& t, std::int64_t rows, std::int64_t pitch) {
  OperandAccess a;
  a.base = t.data;
  a.rows.ndims = 1;
  a.rows.size[0] = rows > 0 ? rows : 1;
  a.rows.stride[0] = pitch;
  a.rows.offset = t.layout.offset;
  a.col_stride = 1;
  return a;
}

void set_geometry(Plan& p, std::int64_t rows, std::int64_t hidden) {
  KernelArgs& a = p.args;
  a.rows = hidden == 0 ? 0 : rows;
  a.hidden = hidden;
  const Geometry g = choose_geometry(hidden, dtype_size(p.dtype));
  a.lanes = g.lanes;
  a.threads_per_block = g.threads_per_block;
  a.chunks_per_thread = g.chunks_per_thread;
  a.cache_rows = g.chunks_per_thread <= kMaxCachedChunks;
  p.grid_blocks = a.rows > 0 ? a.row_groups() : 0;
}

// ROCm/aiter HIP rmsnorm host code: n = x.size(1), m = numel / n, every 2D operand addressed with its own
// stride(0) as the pitch and unit column stride; weight read contiguously. Right for 2D row-major views only.
Plan aiter_2d(const NormCall& call) {
  const TensorArg& x = call[OperandId::kX];
  Plan p = guarded_plan_for_valid_call(call);
  p.policy = Policy::kAiter2d;
  p.vector = false;
  const Layout& l = x.layout;
  const std::int64_t n = l.rank >= 2 ? l.shape[1] : l.shape[0];
  const std::int64_t m = n == 0 ? 0 : *numel(l) / n;
  auto pitch0 = [](const TensorArg& t) { return t.layout.rank >= 2 ? t.layout.stride[0] : 0; };
  KernelArgs& a = p.args;
  a.x = flat_rows(x, m, pitch0(x));
  a.out = flat_rows(call[OperandId::kOut], m, pitch0(call[OperandId::kOut]));
  a.weight.col_stride = 1;
  if (call.op == Op::kFusedAddRmsNorm) {
    a.residual = flat_rows(call[OperandId::kResidual], m, pitch0(call[OperandId::kResidual]));
    a.residual_out = flat_rows(call[OperandId::kResidualOut], m, pitch0(call[OperandId::kResidualOut]));
    if (a.has_post) a.post = flat_rows(call[OperandId::kPostResidualAddition], m, pitch0(call[OperandId::kPostResidualAddition]));
  }
  a.x_pass2_col_stride = 1;
  set_geometry(p, m, n);
  return p;
}

// sglang PR #23974, RMSNorm.forward_aiter: without residual, a non-2D or non-contiguous x is copied to contiguous
// 2D first (correct, at the cost of a copy); with a residual only a 2D non-contiguous x is copied, and the views
// go straight to aiter's fused kernel (the open path).
Plan sglang_23974(const NormCall& call) {
  const TensorArg& x = call[OperandId::kX];
  const bool needs_reshape = x.layout.rank != 2 && call.op == Op::kRmsNorm;
  const bool copies = needs_reshape || (x.layout.rank == 2 && !is_row_major_contiguous(x.layout));
  if (call.op == Op::kRmsNorm) {
    if (!copies) {
      Plan p = aiter_2d(call);
      p.policy = Policy::kSglang23974;
      return p;
    }
    Plan p = guarded_plan_for_valid_call(call);  // the copy makes aiter's 2D assumption true
    p.policy = Policy::kSglang23974;
    p.temp_elems = *numel(x.layout);
    return p;
  }
  Plan p = aiter_2d(call);
  p.policy = Policy::kSglang23974;
  if (copies) {  // x.contiguous(): x itself is then addressed correctly, the other operands are not
    const Plan good = guarded_plan_for_valid_call(call);
    p.args.x = good.args.x;
    p.args.x_pass2_col_stride = good.args.x.col_stride;
    p.temp_elems = *numel(x.layout);
  }
  return p;
}

// vLLM rms_norm before PR #26192: x.is_contiguous() (which ignores size-1 dims) decides whether to copy; then
// num_tokens = numel / hidden rows at pitch input.stride(-2). Outputs are addressed the same way with their own
// stride(-2); the fused kernel assumes residual contiguous (pitch hidden).
Plan vllm_26192(const NormCall& call) {
  const TensorArg& x = call[OperandId::kX];
  Plan p = guarded_plan_for_valid_call(call);
  p.policy = Policy::kVllm26192;
  p.vector = false;
  const std::int64_t hidden = hidden_of(x.layout);
  const std::int64_t rows = p.args.rows;
  auto pitch_m2 = [](const TensorArg& t) { return t.layout.rank >= 2 ? t.layout.stride[t.layout.rank - 2] : 0; };
  KernelArgs& a = p.args;
  if (is_row_major_contiguous(x.layout)) {
    a.x = flat_rows(x, rows, pitch_m2(x));
    a.x_pass2_col_stride = 1;
  } else {
    p.temp_elems = *numel(x.layout);  // input.contiguous(): x correct from here on
  }
  a.out = flat_rows(call[OperandId::kOut], rows, pitch_m2(call[OperandId::kOut]));
  if (call.op == Op::kFusedAddRmsNorm) {
    a.residual = flat_rows(call[OperandId::kResidual], rows, hidden);
    a.residual_out = flat_rows(call[OperandId::kResidualOut], rows, hidden);
    if (a.has_post) a.post = flat_rows(call[OperandId::kPostResidualAddition], rows, hidden);
  }
  return p;
}

// LightLLM #1467: the variance pass loads X + cols * x_stride1, the normalising pass X + cols. Rows are right
// (view(-1, N) on a viewable input), the store honours the output stride; no access leaves the storage of a 2D
// transpose, the output is silently wrong.
Plan lightllm_1467(const NormCall& call) {
  Plan p = guarded_plan_for_valid_call(call);
  p.policy = Policy::kLightllm1467;
  if (call.op == Op::kRmsNorm) {
    p.vector = false;
    p.args.cache_rows = false;  // Triton re-loads X in the second pass
    p.args.x_pass2_col_stride = 1;
  }
  return p;
}

// TensorRT-LLM PR #14810 (AutoDeploy add_rms_norm): row_stride taken from hidden_states and reused for residual,
// out and residual_out; only stride(-1) == 1 is checked.
Plan trtllm_14810(const NormCall& call) {
  Plan p = guarded_plan_for_valid_call(call);
  p.policy = Policy::kTrtllm14810;
  p.vector = false;
  KernelArgs& a = p.args;
  auto reuse_x_rows = [&](OperandAccess& o) {
    const std::int64_t own_offset = o.rows.offset;
    o.rows = a.x.rows;
    o.rows.offset = own_offset;
  };
  reuse_x_rows(a.out);
  if (call.op == Op::kFusedAddRmsNorm) {
    reuse_x_rows(a.residual);
    reuse_x_rows(a.residual_out);
    if (a.has_post) reuse_x_rows(a.post);
  }
  return p;
}

// vLLM's vectorised path chosen from hidden % 8 (and unit strides) alone: a storage offset of 1..7 elements or an
// odd pitch then issues misaligned 16-byte accesses ("CUDA error: misaligned address").
Plan vllm_align(const NormCall& call) {
  Plan p = guarded_plan_for_valid_call(call);
  p.policy = Policy::kVllmAlign;
  const TensorArg& x = call[OperandId::kX];
  bool unit = true;
  for (OperandId id : kAllOperands) {
    if (call[id].present && call[id].layout.stride[call[id].layout.rank - 1] != 1) unit = false;
  }
  p.vector = p.args.rows > 0 && unit && hidden_of(x.layout) % chunk_elems(dtype_size(x.dtype)) == 0;
  return p;
}

}  // namespace

PlanResult plan_bug_model(const NormCall& call, Policy policy) {
  PlanResult r = plan(call, Policy::kGuarded);
  if (!r.ok()) return r;
  switch (policy) {
    case Policy::kGuarded: break;
    case Policy::kAiter2d: r.plan = aiter_2d(call); break;
    case Policy::kSglang23974: r.plan = sglang_23974(call); break;
    case Policy::kVllm26192: r.plan = vllm_26192(call); break;
    case Policy::kLightllm1467: r.plan = lightllm_1467(call); break;
    case Policy::kTrtllm14810: r.plan = trtllm_14810(call); break;
    case Policy::kVllmAlign: r.plan = vllm_align(call); break;
  }
  return r;
}

}  // namespace strideguard
