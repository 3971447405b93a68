// Recipes build the documented families, valid when invalid == 0, and classify into the bug classes.
#include "props/recipe.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "harness/oracle.hpp"
#include "reference/reference.hpp"

namespace strideguard::props {
namespace {

// A deterministic walk over the genes: every family, dtype and operand layout appears within a few hundred i.
Recipe sweep_recipe(int i) {
  Recipe r;
  r.op = i % 2;
  r.dtype = (i / 2) % 3;
  r.x_family = (i / 6) % static_cast<int>(XFamily::kCount);
  r.hidden = i % 15;
  r.variant = i % 18;
  r.weight = i % 3;
  r.residual = (i / 7) % 6;
  r.post = (i / 5) % 4;
  r.out = (i / 11) % 6;
  r.residual_out = (i / 13) % 4;
  r.misalign_other = (i * 7) % 40;
  r.placement = i;
  r.seed = static_cast<std::uint64_t>(i);
  return r;
}

TEST(Recipe, ZeroRecipeIsAPlainContiguousCase) {
  const Case c = build_case(Recipe{}, {});
  EXPECT_EQ(c.op, Op::kRmsNorm);
  EXPECT_EQ(to_string(c[OperandId::kX].layout, c[OperandId::kX].dtype), "shape=(1,64) stride=(64,1) offset=0 dtype=bf16");
}

TEST(Recipe, PackedKSliceSitsInTheWholeProjection) {
  Recipe r;
  r.x_family = static_cast<int>(XFamily::kPackedK);
  r.heads = 1;     // 32
  r.kv_heads = 1;  // 8
  r.head_dim = 1;  // 128
  r.tokens = 3;
  const Case c = build_case(r, {});
  EXPECT_EQ(to_string(c[OperandId::kX].layout), "shape=(4,8,128) stride=(6144,128,1) offset=4096");
  EXPECT_EQ(c.storages[c[OperandId::kX].storage].elems, 4 * 6144);
}

// Every valid recipe over a sweep of genes builds a case the reference validator accepts; every mutation is
// judged identically by the planner and the validator (run_case's rejection checks).
TEST(Recipe, SweepIsValidAndMutationsAreJudgedAlike) {
  HostArena arena;
  int rejected = 0;
  for (int i = 0; i < 3000; ++i) {
    Recipe r = sweep_recipe(i);
    r.misalign = i % 8;  // this sweep also keeps x's offset at 0 and varies slack and rows
    r.slack = i % 3;
    r.tokens = i % 5;
    BuildOptions o;
    o.max_elems = 4096;
    const Case c = build_case(r, o);
    const Verdict v = run_case(c, arena);
    ASSERT_EQ(v.kind, VerdictKind::kPass) << print_case(c) << describe(v);
    r.invalid = 1 + i % (static_cast<int>(Invalid::kCount) - 1);
    const Case bad = build_case(r, o);
    const Verdict vb = run_case(bad, arena);
    ASSERT_TRUE(vb.ok()) << print_case(bad) << describe(vb);
    rejected += vb.kind == VerdictKind::kRejected;
  }
  EXPECT_GT(rejected, 2500);  // almost every mutation does break a rule
}

// The .case form is lossless for every generated Case, valid or invalid (eps NaN, negative sizes, 2^62 strides):
// print(parse(text)) == text and parse(print(c)) == c.
TEST(Recipe, EveryGeneratedCaseRoundTripsThroughItsText) {
  for (int i = 0; i < 20000; ++i) {
    Recipe r = sweep_recipe(i);
    r.misalign = i % 16;
    r.misalign_other = (i * 7) % 80;
    r.placement = (i * 13) % 512;
    r.eps = i % 5;
    r.plain = (i / 23) % 5;
    r.invalid = (i / 29) % static_cast<int>(Invalid::kCount);
    r.seed = static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ull;
    BuildOptions o;
    o.max_elems = 512;
    o.policy = kAllPolicies[i % 7];
    const Case c = build_case(r, o);
    const std::string text = print_case(c);
    const ParseResult p = parse_case(text);
    ASSERT_TRUE(p.value) << text << describe(p.error);
    ASSERT_EQ(print_case(*p.value), text);
    if (!std::isnan(c.eps)) {
      ASSERT_EQ(*p.value, c) << text;  // (NaN != NaN, so a NaN eps compares by its printed form above)
    }
  }
}

TEST(Recipe, ClassifyNamesTheBugClasses) {
  Recipe r;
  r.x_family = static_cast<int>(XFamily::kSize1OddStride);
  EXPECT_NE(std::string(::testing::PrintToString(classify(build_case(r, {})))).find("C3"), std::string::npos);
  r.x_family = static_cast<int>(XFamily::kHugeStride);
  const auto tags = classify(build_case(r, {}));
  EXPECT_NE(std::find(tags.begin(), tags.end(), "C9 offsets past 2^31"), tags.end());
}

}  // namespace
}  // namespace strideguard::props
