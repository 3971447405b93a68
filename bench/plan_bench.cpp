// plan_bench: the guarded planner's host cost per call on the seed layouts (target: under 1 microsecond), and the
// bug models' for comparison. Pointers are fake but aligned: plan() never dereferences them.
#include <benchmark/benchmark.h>

#include "kernels/plan.hpp"

namespace {

using namespace strideguard;

// A call on x with contiguous weight / out (and residual, residual_out, post for the fused op), bf16.
NormCall make_call(const Layout& x, std::int64_t x_storage, Op op, bool post) {
  NormCall c;
  c.op = op;
  const std::int64_t hidden = x.shape[x.rank - 1];
  const std::int64_t n = *numel(x);
  Layout dense = x;
  dense.offset = 0;
  std::int64_t s = 1;
  for (int k = x.rank - 1; k >= 0; --k) {
    dense.stride[k] = s;
    s *= x.shape[k];
  }
  // Distinct, 256-byte aligned, non-overlapping fake storages (as cudaMalloc would hand out).
  std::uintptr_t next = std::uintptr_t{1} << 40;
  auto storage = [&](std::int64_t elems) {
    void* p = reinterpret_cast<void*>(next);
    next += (static_cast<std::uintptr_t>(elems) * 2 + 4096) / 256 * 256;
    return p;
  };
  c[OperandId::kX] = {true, storage(x_storage), DType::kBF16, x, x_storage};
  c[OperandId::kWeight] = {true, storage(hidden), DType::kBF16, *make_layout({hidden}, {1}), hidden};
  c[OperandId::kOut] = {true, storage(n), DType::kBF16, dense, n};
  if (op == Op::kFusedAddRmsNorm) {
    c[OperandId::kResidual] = {true, storage(n), DType::kBF16, dense, n};
    c[OperandId::kResidualOut] = {true, storage(n), DType::kBF16, dense, n};
    if (post) c[OperandId::kPostResidualAddition] = {true, storage(n), DType::kBF16, dense, n};
  }
  return c;
}

void run(benchmark::State& state, const NormCall& call, Policy policy) {
  for (auto _ : state) {
    PlanResult r = plan(call, policy);
    benchmark::DoNotOptimize(r);
  }
  if (!plan(call, policy).ok()) state.SkipWithError("rejected");
}

const NormCall kContiguous = make_call(*make_layout({16384, 4096}, {4096, 1}), 16384 * 4096, Op::kRmsNorm, false);
const NormCall kQSlice = make_call(*make_layout({2048, 32, 128}, {6144, 128, 1}), 2048 * 6144, Op::kRmsNorm, false);
const NormCall kKSlice = make_call(*make_layout({2048, 8, 128}, {6144, 128, 1}, 4096), 2048 * 6144, Op::kRmsNorm, false);
const NormCall kPadded = make_call(*make_layout({16384, 4096}, {5120, 1}), 16384 * 5120, Op::kRmsNorm, false);
const NormCall kFused = make_call(*make_layout({16384, 4096}, {4096, 1}), 16384 * 4096, Op::kFusedAddRmsNorm, false);
const NormCall kFusedPost = make_call(*make_layout({16384, 4096}, {4096, 1}), 16384 * 4096, Op::kFusedAddRmsNorm, true);
const NormCall kFusedQ = make_call(*make_layout({2048, 32, 128}, {6144, 128, 1}), 2048 * 6144, Op::kFusedAddRmsNorm, true);
const NormCall kRank4 = make_call(*make_layout({4, 8, 16, 128}, {20000, 2400, 144, 1}), 4 * 20000, Op::kRmsNorm, false);

}  // namespace

BENCHMARK_CAPTURE(run, contiguous_16384x4096, kContiguous, Policy::kGuarded);
BENCHMARK_CAPTURE(run, qkv_q_slice_2048x32x128, kQSlice, Policy::kGuarded);
BENCHMARK_CAPTURE(run, qkv_k_slice_2048x8x128, kKSlice, Policy::kGuarded);
BENCHMARK_CAPTURE(run, row_padded_16384x4096, kPadded, Policy::kGuarded);
BENCHMARK_CAPTURE(run, fused_add_16384x4096, kFused, Policy::kGuarded);
BENCHMARK_CAPTURE(run, fused_add_post_16384x4096, kFusedPost, Policy::kGuarded);
BENCHMARK_CAPTURE(run, fused_add_post_q_slice, kFusedQ, Policy::kGuarded);
BENCHMARK_CAPTURE(run, rank4_padded, kRank4, Policy::kGuarded);
BENCHMARK_CAPTURE(run, bug_model_aiter_2d_q_slice, kQSlice, Policy::kAiter2d);

BENCHMARK_MAIN();
