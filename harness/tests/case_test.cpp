// .case text form: lossless round trip and parse errors that name the line and the field.
#include "harness/case.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "harness/case_builder.hpp"

namespace strideguard {
namespace {

TEST(CaseText, PrintsTheDocumentedForm) {
  Case c = make_case(Op::kFusedAddRmsNorm, DType::kBF16, *make_layout({2048, 8, 128}, {6144, 128, 1}, 4096), 2048 * 6144);
  c.seed = 7;
  const std::string text = print_case(c);
  EXPECT_NE(text.find("x: shape=(2048,8,128) stride=(6144,128,1) offset=4096 dtype=bf16 storage=0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("storage 0 elems=12582912 place=leading\n"), std::string::npos) << text;
  EXPECT_NE(text.find("eps 1e-06\n"), std::string::npos) << text;
  const ParseResult r = parse_case(text);
  ASSERT_TRUE(r.value) << describe(r.error);
  EXPECT_EQ(*r.value, c);
  EXPECT_EQ(print_case(*r.value), text);
}

TEST(CaseText, ErrorsNameLineAndField) {
  const std::string good = print_case(make_case(Op::kRmsNorm, DType::kF16, *make_layout({4, 8}, {8, 1})));
  auto error_of = [](const std::string& text) {
    const ParseResult r = parse_case(text);
    EXPECT_FALSE(r.value);
    return describe(r.error);
  };
  EXPECT_EQ(error_of("nonsense\n"), "line 1: field 'header': expected 'strideguard-case 1' as the first line");
  std::string bad = good;
  bad.replace(bad.find("stride=(8,1)"), 12, "stride=(8,)x");
  EXPECT_NE(error_of(bad).find("field 'stride'"), std::string::npos) << error_of(bad);
  bad = good;
  bad.replace(bad.find("op rms_norm"), 11, "op layer_norm");
  EXPECT_EQ(error_of(bad), "line 2: field 'op': expected rms_norm or fused_add_rms_norm");
  bad = good;
  bad.replace(bad.find("dtype=f16"), 9, "dtype=f64");
  EXPECT_NE(error_of(bad).find("line 10: field 'dtype'"), std::string::npos) << error_of(bad);
  bad = good + "out: shape=(4,8) stride=(8,1) offset=0 dtype=f16 storage=2\n";
  EXPECT_NE(error_of(bad).find("field 'out': operand given twice"), std::string::npos) << error_of(bad);
  bad = good;
  bad.replace(bad.find("storage=2"), 9, "storage=9");
  EXPECT_NE(error_of(bad).find("field 'out': refers to storage 9"), std::string::npos) << error_of(bad);
  EXPECT_NE(error_of(good + "colour blue\n").find("field 'colour': unknown field"), std::string::npos);
}

TEST(CaseText, CommentsAndBlankLinesAreIgnored) {
  const Case c = make_case(Op::kRmsNorm, DType::kF32, *make_layout({3, 5}, {1, 3}));
  const ParseResult r = parse_case("# a regression\n\n" + print_case(c) + "\n# end\n");
  ASSERT_TRUE(r.value) << describe(r.error);
  EXPECT_EQ(*r.value, c);
}

// contiguous_like: row-major strides, and saturation instead of signed overflow where the element count does not fit
// int64 (props classifies such invalid cases; UBSan found the overflow when the row-limit mutation was added).
TEST(CaseBuilder, ContiguousLikeSaturatesPastInt64) {
  const Layout dense = contiguous_like(*make_layout({2, 3, 4}, {100, 1, 7}, 5));
  EXPECT_EQ(dense.offset, 0);
  EXPECT_EQ(dense.stride[0], 12);
  EXPECT_EQ(dense.stride[1], 4);
  EXPECT_EQ(dense.stride[2], 1);
  Layout huge;
  huge.rank = 4;
  huge.shape = {std::int64_t{1} << 62, 1, std::int64_t{1} << 40, std::int64_t{1} << 14};
  huge.stride = {0, 0, 0, 1};
  const Layout h = contiguous_like(huge);
  EXPECT_EQ(h.stride[3], 1);
  EXPECT_EQ(h.stride[2], std::int64_t{1} << 14);
  EXPECT_EQ(h.stride[1], std::int64_t{1} << 54);
  EXPECT_EQ(h.stride[0], std::int64_t{1} << 54);
  EXPECT_EQ(contiguous_like([] {
              Layout l;
              l.rank = 3;
              l.shape = {3, std::int64_t{1} << 62, std::int64_t{1} << 40};
              l.stride = {0, 0, 1};
              return l;
            }()).stride[0],
            std::numeric_limits<std::int64_t>::max());
}

}  // namespace
}  // namespace strideguard
