// The emulated grid: bit-identical output across layouts and access widths, and every refused access reported.
#include "kernels/cpu_backend.hpp"

#include <gtest/gtest.h>

#include <cstring>

#include "harness/case_builder.hpp"
#include "harness/oracle.hpp"
#include "reference/reference.hpp"

namespace strideguard {
namespace {

// Same values (a function of the logical index) in a contiguous layout and in a strided one, through vector and
// scalar paths: the kernel's bits must agree exactly, which run_case cannot show, so this runs plans directly.
std::vector<std::uint16_t> run_direct(const Layout& x, std::int64_t storage, bool misalign, Op op) {
  const std::int64_t hidden = x.shape[x.rank - 1];
  const std::int64_t n = *numel(x);
  std::vector<std::uint16_t> xs(static_cast<std::size_t>(storage + 8)), ws(static_cast<std::size_t>(hidden + 8));
  std::vector<std::uint16_t> rs(static_cast<std::size_t>(n + 8)), ro(static_cast<std::size_t>(n + 8)), out(static_cast<std::size_t>(n + 8));
  const int shift = misalign ? 1 : 0;
  NormCall call;
  call.op = op;
  call.eps = 1e-5f;
  call[OperandId::kX] = {true, xs.data() + shift, DType::kBF16, x, storage};
  call[OperandId::kWeight] = {true, ws.data(), DType::kBF16, *make_layout({hidden}, {1}), hidden};
  const Layout dense = contiguous_like(x);
  call[OperandId::kOut] = {true, out.data(), DType::kBF16, dense, n};
  if (op == Op::kFusedAddRmsNorm) {
    call[OperandId::kResidual] = {true, rs.data(), DType::kBF16, dense, n};
    call[OperandId::kResidualOut] = {true, ro.data(), DType::kBF16, dense, n};
  }
  for (std::int64_t i = 0; i < n; ++i) {
    store_from_double(DType::kBF16, case_value(3, OperandId::kX, DType::kBF16, i),
                      &xs[static_cast<std::size_t>(index_at(x, i) + shift)]);
    store_from_double(DType::kBF16, case_value(3, OperandId::kResidual, DType::kBF16, i), &rs[static_cast<std::size_t>(i)]);
  }
  for (std::int64_t c = 0; c < hidden; ++c) {
    store_from_double(DType::kBF16, case_value(3, OperandId::kWeight, DType::kBF16, c), &ws[static_cast<std::size_t>(c)]);
  }
  const PlanResult p = plan(call);
  EXPECT_TRUE(p.ok()) << to_string(p.status);
  const CpuRunResult r = run_cpu(p.plan, storage_sizes(call));
  EXPECT_FALSE(r.violation) << describe(r.violation, storage_sizes(call));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

TEST(CpuBackend, SameValuesGiveBitIdenticalOutputInEveryLayout) {
  for (Op op : {Op::kRmsNorm, Op::kFusedAddRmsNorm}) {
    for (std::int64_t hidden : {128, 1000, 4096, 8192 + 8}) {
      const std::int64_t rows = 6;
      const Layout dense = *make_layout({rows, hidden}, {hidden, 1});
      const auto ref = run_direct(dense, rows * hidden, false, op);
      const Layout padded = *make_layout({rows, hidden}, {hidden + 8, 1});
      const Layout split = *make_layout({2, 3, hidden}, {3 * (hidden + 16), hidden + 16, 1});
      const Layout transposed = *make_layout({rows, hidden}, {1, rows});
      const Layout reversed = *make_layout({rows, hidden}, {-hidden, 1}, (rows - 1) * hidden);
      EXPECT_EQ(run_direct(padded, rows * (hidden + 8), false, op), ref) << hidden;
      EXPECT_EQ(run_direct(padded, rows * (hidden + 8), true, op), ref) << hidden << " misaligned (scalar)";
      EXPECT_EQ(run_direct(split, 6 * (hidden + 16), false, op), ref) << hidden;
      EXPECT_EQ(run_direct(transposed, rows * hidden, false, op), ref) << hidden;
      std::vector<std::uint16_t> rev = run_direct(reversed, rows * hidden, false, op);
      // reversed rows: row r of the view is storage row rows-1-r, but values follow the logical index, so equal.
      EXPECT_EQ(rev, ref) << hidden;
    }
  }
}

TEST(CpuBackend, VectorAndScalarPathsAgree) {
  const Layout x = *make_layout({5, 512}, {512, 1});
  const auto vec = run_direct(x, 5 * 512, false, Op::kRmsNorm);
  const auto sca = run_direct(x, 5 * 512, true, Op::kRmsNorm);  // offset by one element: scalar path
  EXPECT_EQ(vec, sca);
}

TEST(CpuBackend, ReportsFirstOutOfBoundsAccessWithOperandAndThread) {
  // The aiter-2d model on the seed q layout: pitch stride(0) over numel/size(1) rows runs off the storage.
  Case c = make_case(Op::kRmsNorm, DType::kBF16, *make_layout({64, 32, 128}, {6144, 128, 1}), 64 * 6144);
  c.policy = Policy::kAiter2d;
  HostArena arena;
  const Verdict v = run_case(c, arena);
  EXPECT_EQ(v.kind, VerdictKind::kOutOfBoundsRead) << describe(v);
  EXPECT_NE(v.detail.find("read out of bounds: x element"), std::string::npos) << v.detail;
  EXPECT_NE(v.detail.find("past the end of storage 393216"), std::string::npos) << v.detail;
  EXPECT_NE(v.detail.find("block"), std::string::npos);
}

TEST(CpuBackend, MisalignedVectorAccessIsReported) {
  Case c = make_case(Op::kRmsNorm, DType::kBF16, *make_layout({4, 128}, {128, 1}, 1), 4 * 128 + 1);
  c.policy = Policy::kVllmAlign;
  HostArena arena;
  const Verdict v = run_case(c, arena);
  EXPECT_EQ(v.kind, VerdictKind::kMisaligned) << describe(v);
  EXPECT_NE(v.detail.find("misaligned access: x element 1, 8-wide"), std::string::npos) << v.detail;
}

TEST(CpuBackend, EmptyPlansLaunchNothing) {
  Case c = make_case(Op::kFusedAddRmsNorm, DType::kF32, *make_layout({0, 64}, {64, 1}), 0);
  HostArena arena;
  EXPECT_EQ(run_case(c, arena).kind, VerdictKind::kPass);
  const PlanResult p = plan(bind_case(c, arena).call);
  EXPECT_EQ(p.plan.grid_blocks, 0);
}

}  // namespace
}  // namespace strideguard
