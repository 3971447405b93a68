// Checks the @post of every dtype conversion: exactness, round-to-nearest-even, subnormals, overflow, NaN.
#include "kernels/dtype.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

namespace strideguard {
namespace {

TEST(DType, NamesRoundTrip) {
  for (DType t : kAllDTypes) EXPECT_EQ(parse_dtype(to_string(t)), t);
  EXPECT_FALSE(parse_dtype("fp8"));
}

// Every f16 bit pattern decodes exactly and encodes back to itself (NaNs stay NaN).
TEST(DType, F16AllPatternsRoundTrip) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_bits_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_bits_to_f32(f32_to_f16_bits(f))));
      continue;
    }
    EXPECT_EQ(f32_to_f16_bits(f), h) << std::hex << h;
    EXPECT_EQ(round_to_dtype(DType::kF16, f), f);
  }
}

TEST(DType, Bf16AllPatternsRoundTrip) {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    const float f = bf16_bits_to_f32(static_cast<std::uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_bf16_bits(f), h) << std::hex << h;
    EXPECT_EQ(round_to_dtype(DType::kBF16, f), f);
  }
}

// The fp32 encoders agree with the single-step double rounding on random floats of every magnitude, and on every
// midpoint between adjacent 16-bit values (where ties-to-even decides).
TEST(DType, EncodersAreRoundToNearestEven) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000000; ++i) {
    const float f = bits_float(static_cast<std::uint32_t>(rng()));
    if (std::isnan(f)) continue;
    ASSERT_EQ(static_cast<double>(f16_bits_to_f32(f32_to_f16_bits(f))), round_to_dtype(DType::kF16, f)) << f;
    ASSERT_EQ(static_cast<double>(bf16_bits_to_f32(f32_to_bf16_bits(f))), round_to_dtype(DType::kBF16, f)) << f;
  }
  for (std::uint32_t h = 0; h < 0x7bff; ++h) {  // positive finite f16 below max
    const double lo = f16_bits_to_f32(static_cast<std::uint16_t>(h));
    const double hi = f16_bits_to_f32(static_cast<std::uint16_t>(h + 1));
    const auto mid = static_cast<float>((lo + hi) / 2);  // exact in fp32
    const std::uint16_t even = (h & 1) ? static_cast<std::uint16_t>(h + 1) : static_cast<std::uint16_t>(h);
    ASSERT_EQ(f32_to_f16_bits(mid), even) << std::hex << h;
  }
}

TEST(DType, OverflowAndSubnormalEdges) {
  EXPECT_EQ(f32_to_f16_bits(65504.f), 0x7bff);
  EXPECT_EQ(f32_to_f16_bits(65519.f), 0x7bff);
  EXPECT_EQ(f32_to_f16_bits(65520.f), 0x7c00);  // tie to even: rounds to infinity
  EXPECT_EQ(f32_to_f16_bits(-1e9f), 0xfc00);
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.f, -24)), 0x0001);
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.f, -25)), 0x0000);  // tie to even zero
  EXPECT_EQ(f32_to_f16_bits(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_bf16_bits(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_TRUE(std::isinf(round_to_dtype(DType::kF16, 65520.0)));
  EXPECT_EQ(round_to_dtype(DType::kF16, 65519.99), 65504.0);
  EXPECT_EQ(round_to_dtype(DType::kF32, 1.0 + std::ldexp(1.0, -24)), 1.0);  // tie to even
  EXPECT_EQ(round_to_dtype(DType::kBF16, 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30)), 1.0 + std::ldexp(1.0, -7));
}

// Double rounding through fp32 would be wrong here; round_to_dtype rounds once.
TEST(DType, RoundToDtypeIsSingleStep) {
  const double just_above_tie = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40);  // rounds down in fp32 to the tie
  EXPECT_EQ(round_to_dtype(DType::kBF16, just_above_tie), 1.0 + std::ldexp(1.0, -7));
  EXPECT_EQ(static_cast<double>(bf16_bits_to_f32(f32_to_bf16_bits(static_cast<float>(just_above_tie)))), 1.0);
}

TEST(DType, OrderedBitsCountUlps) {
  EXPECT_EQ(ordered_bits(DType::kBF16, 1.0) + 1, ordered_bits(DType::kBF16, 1.0078125));
  EXPECT_EQ(ordered_bits(DType::kF16, 0.0), ordered_bits(DType::kF16, -0.0));
  EXPECT_EQ(ordered_bits(DType::kF16, -std::ldexp(1.0, -24)) + 2, ordered_bits(DType::kF16, std::ldexp(1.0, -24)));
  EXPECT_EQ(ordered_bits(DType::kF16, 65504.0) + 1, ordered_bits(DType::kF16, INFINITY));
}

}  // namespace
}  // namespace strideguard
