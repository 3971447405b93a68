#include "bench/bench_case.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace strideguard::bench {
namespace {

constexpr std::size_t kH200 = std::size_t{141} << 30;

// The error of a refused case; fails the test when the case is accepted.
std::string refusal(const std::string& shape, const std::string& stride, const std::string& offset = "",
                    bool fused = false, bool post = false, std::size_t mem = kH200) {
  const CustomCase c = custom_case(shape, stride, offset, fused, post, mem);
  EXPECT_FALSE(c.value.has_value()) << shape << " " << stride << " accepted";
  EXPECT_FALSE(c.error.empty());
  return c.error;
}

TEST(CustomCase, TheQSliceOfPackedQkv) {
  const CustomCase c = custom_case("(2048,32,128)", "(6144,128,1)", "", false, false, kH200);
  ASSERT_TRUE(c.value.has_value()) << c.error;
  EXPECT_TRUE(c.error.empty());
  EXPECT_EQ(c.value->name, "shape=(2048,32,128) stride=(6144,128,1) offset=0");
  EXPECT_EQ(c.value->op, Op::kRmsNorm);
  EXPECT_FALSE(c.value->post);
  // The largest index: 2047 * 6144 + 31 * 128 + 127.
  EXPECT_EQ(c.value->x_storage, 2047 * 6144 + 31 * 128 + 127 + 1);
}

TEST(CustomCase, TheKSliceKeepsItsOffsetAndFusedNamesTheOperation) {
  const CustomCase k = custom_case("(16384,8,128)", "(6144,128,1)", "4096", false, false, kH200);
  ASSERT_TRUE(k.value.has_value()) << k.error;
  EXPECT_EQ(k.value->x.offset, 4096);
  EXPECT_EQ(k.value->x_storage, 4096 + 16383 * 6144 + 7 * 128 + 127 + 1);
  const CustomCase f = custom_case("(2048,4096)", "(4096,1)", "", true, false, kH200);
  ASSERT_TRUE(f.value.has_value()) << f.error;
  EXPECT_EQ(f.value->op, Op::kFusedAddRmsNorm);
  EXPECT_EQ(f.value->name, "fused add shape=(2048,4096) stride=(4096,1) offset=0");
  const CustomCase p = custom_case("(2048,4096)", "(4096,1)", "0", true, true, kH200);
  ASSERT_TRUE(p.value.has_value()) << p.error;
  EXPECT_TRUE(p.value->post);
  EXPECT_EQ(p.value->name, "fused add+post shape=(2048,4096) stride=(4096,1) offset=0");
}

TEST(CustomCase, NegativeStridesNeedAnOffsetThatKeepsEveryIndexInStorage) {
  EXPECT_NE(refusal("(4,8)", "(-8,1)").find("below 0"), std::string::npos);
  const CustomCase c = custom_case("(4,8)", "(-8,1)", "24", false, false, kH200);
  ASSERT_TRUE(c.value.has_value()) << c.error;
  EXPECT_EQ(c.value->x_storage, 32);
}

TEST(CustomCase, EveryRuleIsRefusedNamingTheOption) {
  EXPECT_EQ(refusal("(4,8)", "").rfind("--shape and --stride", 0), 0u);
  EXPECT_EQ(refusal("", "(8,1)").rfind("--shape and --stride", 0), 0u);
  EXPECT_EQ(refusal("(4,x)", "(8,1)").rfind("--shape:", 0), 0u);
  EXPECT_EQ(refusal("(4,8)", "8,1").rfind("--stride:", 0), 0u);
  EXPECT_EQ(refusal("(4,8)", "(8)").rfind("--stride: shape and stride must have the same length", 0), 0u);
  EXPECT_NE(refusal("()", "()").find("at least one dim"), std::string::npos);
  EXPECT_NE(refusal("(4,-8)", "(8,1)").find("dim 1 is negative"), std::string::npos);
  EXPECT_NE(refusal("(0,8)", "(8,1)").find("empty view"), std::string::npos);
  EXPECT_NE(refusal("(4611686018427387904,4)", "(4,1)").find("element count overflows"), std::string::npos);
  EXPECT_NE(refusal("(4,8)", "(4611686018427387904,1)").find("overflow int64"), std::string::npos);
  EXPECT_EQ(refusal("(4,8)", "(8,1)", "1x").rfind("--offset: expected an int64", 0), 0u);
  EXPECT_EQ(refusal("(4,8)", "(8,1)", "", false, true).rfind("--post:", 0), 0u);
  // One set of 2^28 f32 elements (1 GiB), out as large: refused on a 4 GiB device, accepted on 16 GiB.
  const std::size_t gib = std::size_t{1} << 30;
  EXPECT_NE(refusal("(65536,4096)", "(4096,1)", "", false, false, 4 * gib).find("a quarter of the device"),
            std::string::npos);
  EXPECT_TRUE(custom_case("(65536,4096)", "(4096,1)", "", false, false, 16 * gib).value.has_value());
}

TEST(CsvField, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(csv_field("contiguous 2048x4096"), "contiguous 2048x4096");
  EXPECT_EQ(csv_field("shape=(4,8) stride=(8,1)"), "\"shape=(4,8) stride=(8,1)\"");
  EXPECT_EQ(csv_field("a\"b"), "\"a\"\"b\"");
}

}  // namespace
}  // namespace strideguard::bench
