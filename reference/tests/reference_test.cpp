// The fp64 reference on hand-computed values, and the tolerance derivation's numbers.
#include "reference/reference.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/layout.hpp"

namespace strideguard::reference {
namespace {

TEST(Reference, RmsNormOnHandValuesThroughATransposedView) {
  // x logical (2,2) = [[3,4],[0,2]] stored transposed: storage [3,0,4,2], stride (1,2).
  float xs[4] = {3, 0, 4, 2}, w[2] = {1, 2}, out[4] = {};
  NormCall call;
  call.op = Op::kRmsNorm;
  call.eps = 0;
  call[OperandId::kX] = {true, xs, DType::kF32, *make_layout({2, 2}, {1, 2}), 4};
  call[OperandId::kWeight] = {true, w, DType::kF32, *make_layout({2}, {1}), 2};
  call[OperandId::kOut] = {true, out, DType::kF32, *make_layout({2, 2}, {2, 1}), 4};
  ASSERT_EQ(validate(call).status, Status::kOk);
  const Outputs o = compute(call);
  ASSERT_EQ(o.out.size(), 4u);           // @post: one output per element of x
  EXPECT_TRUE(o.residual_out.empty());  // rms_norm has no residual_out
  const double r0 = std::sqrt((9.0 + 16.0) / 2), r1 = std::sqrt(4.0 / 2);
  EXPECT_DOUBLE_EQ(o.out[0], 3 / r0 * 1);
  EXPECT_DOUBLE_EQ(o.out[1], 4 / r0 * 2);
  EXPECT_DOUBLE_EQ(o.out[2], 0.0);
  EXPECT_DOUBLE_EQ(o.out[3], 2 / r1 * 2);
}

TEST(Reference, FusedAddRoundsTheSumsToTheDtype) {
  // bf16: 1 + 2^-9 is not representable; residual + post rounds first (sglang's `residual + post`), then x + r'.
  std::uint16_t x[1], r[1], p[1], w[1], out[1], ro[1];
  store_from_double(DType::kBF16, 1.0, x);
  store_from_double(DType::kBF16, std::ldexp(1.0, -9), r);
  store_from_double(DType::kBF16, std::ldexp(1.0, -9), p);
  store_from_double(DType::kBF16, 1.0, w);
  NormCall call;
  call.op = Op::kFusedAddRmsNorm;
  const Layout one = *make_layout({1, 1}, {1, 1});
  call[OperandId::kX] = {true, x, DType::kBF16, one, 1};
  call[OperandId::kResidual] = {true, r, DType::kBF16, one, 1};
  call[OperandId::kPostResidualAddition] = {true, p, DType::kBF16, one, 1};
  call[OperandId::kWeight] = {true, w, DType::kBF16, *make_layout({1}, {1}), 1};
  call[OperandId::kOut] = {true, out, DType::kBF16, one, 1};
  call[OperandId::kResidualOut] = {true, ro, DType::kBF16, one, 1};
  const Outputs o = compute(call);
  ASSERT_EQ(o.residual_out.size(), o.out.size());
  // r' = 2^-8 exactly; 1 + 2^-8 is a tie between 1 and 1 + 2^-7: even is 1.
  EXPECT_EQ(o.residual_out[0], 1.0);
}

TEST(Reference, ToleranceFollowsTheDerivation) {
  // 16-bit outputs: the fp32 error is far below half an ulp, so at most one rounding flip, at any hidden size.
  for (std::int64_t h : {1, 7, 128, 4096, 5125, 16384, 65536}) {
    EXPECT_EQ(out_tolerance_ulps(DType::kBF16, h), 1) << h;
    EXPECT_EQ(out_tolerance_ulps(DType::kF16, h), 1) << h;
  }
  // f32 head: 8 lanes of 4 chunks of 4: h = 1 + 2 + 3 + 3 = 9, (9 + 2) / 2 + 6 = 11.5, + 1
  EXPECT_EQ(out_tolerance_ulps(DType::kF32, 128), 12);
  // f32 4096: 256 lanes of 4 chunks: h = 1 + 2 + 3 + 5 + 7 = 18, (18 + 2) / 2 + 6 = 16, + 1
  EXPECT_EQ(out_tolerance_ulps(DType::kF32, 4096), 17);
  EXPECT_LE(out_tolerance_ulps(DType::kF32, 65536), 160);  // 64 chunks a lane: about 1e-5 relative
  EXPECT_GT(out_tolerance_abs(2.0), 0.0);
}

}  // namespace
}  // namespace strideguard::reference
