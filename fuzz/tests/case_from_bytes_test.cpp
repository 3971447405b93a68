// The byte decoder: explicit form round-trips any Case; structured form is deterministic, lossless through the
// .case text, mostly inside the whole-case budget, and reaches the layouts the bug classes need.
#include "fuzz/case_from_bytes.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <set>

#include "harness/case_builder.hpp"

namespace strideguard::fuzz {
namespace {

std::vector<std::uint8_t> random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::vector<std::uint8_t> b(n);
  for (auto& v : b) v = static_cast<std::uint8_t>(rng());
  return b;
}

Case decode(const std::vector<std::uint8_t>& b, const DecodeLimits& l = case_limits()) {
  return case_from_bytes(b.data(), b.size(), l);
}

TEST(CaseFromBytes, ExplicitFormRoundTripsSeedLayouts) {
  std::vector<Case> cases = {
      make_case(Op::kRmsNorm, DType::kBF16, *make_layout({2048, 32, 128}, {6144, 128, 1}), 2048 * 6144),
      make_case(Op::kFusedAddRmsNorm, DType::kF16, *make_layout({2048, 8, 128}, {6144, 128, 1}, 4096), 2048 * 6144,
                true),
      make_case(Op::kRmsNorm, DType::kF32, *make_layout({32768, 1, 128}, {128, 4194304, 1})),
      make_case(Op::kRmsNorm, DType::kBF16, *make_layout({4, 7}, {1, -4}, 24)),
  };
  Case odd = cases[0];
  odd.eps = -0.f;
  odd.seed = ~std::uint64_t{0};
  odd.storages[0].elems = std::numeric_limits<std::int64_t>::min();
  odd.storages[1].placement = Placement::kTrailing;
  odd[OperandId::kOut].layout.offset = std::numeric_limits<std::int64_t>::max();
  cases.push_back(odd);
  cases.push_back(Case{});  // nothing present, no storage
  for (const Case& c : cases) {
    const std::vector<std::uint8_t> b = case_to_bytes(c);
    EXPECT_EQ(decode(b), c) << print_case(c);
    EXPECT_EQ(decode(b, planner_limits()), c) << "limits do not affect the explicit form";
  }
}

TEST(CaseFromBytes, EveryInputDecodesDeterministicallyAndPrintsLosslessly) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 3000; ++i) {
    const auto b = random_bytes(rng, rng() % 160);
    for (const DecodeLimits& l : {case_limits(), planner_limits()}) {
      // Compared as text: a NaN eps (an invalid case the decoder produces on purpose) is never == itself.
      const std::string text = print_case(decode(b, l));
      EXPECT_EQ(print_case(decode(b, l)), text);
      const ParseResult r = parse_case(text);
      ASSERT_TRUE(r.value) << describe(r.error) << "\n" << text;
      EXPECT_EQ(print_case(*r.value), text);
    }
  }
}

// Random bytes mostly land in the structured form; nearly all of it must fit the whole-case budget, or the CPU
// target spends its time skipping inputs.
TEST(CaseFromBytes, StructuredCasesFitTheBudget) {
  std::mt19937_64 rng(2);
  int structured = 0, fits = 0;
  for (int i = 0; i < 5000; ++i) {
    auto b = random_bytes(rng, 64 + rng() % 64);
    b.back() = static_cast<std::uint8_t>(kExplicitBelow + rng() % (256 - kExplicitBelow));  // first byte consumed
    const Case c = decode(b);
    ++structured;
    std::string why;
    if (within_budget(c, case_limits(), &why)) ++fits;
  }
  EXPECT_GE(fits, structured * 95 / 100) << fits << " of " << structured;
}

// The structured form reaches each layout class of shared/context/bug-classes.md from random bytes.
TEST(CaseFromBytes, StructuredFormReachesTheBugClasses) {
  std::mt19937_64 rng(3);
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    auto b = random_bytes(rng, 96);
    b.back() = 0xff;
    const Case c = decode(b);
    const OperandSpec& x = c[OperandId::kX];
    if (!x.present || x.layout.rank == 0) continue;
    const Layout& l = x.layout;
    const int r = l.rank;
    if (l.stride[r - 1] != 1 && l.shape[r - 1] > 1) seen.insert("C1 non-unit last stride");
    std::int64_t heads_span = 0;
    if (r >= 3 && l.shape[r - 2] > 1 && !__builtin_mul_overflow(l.shape[r - 2], l.stride[r - 2], &heads_span) &&
        l.stride[r - 3] > heads_span) {
      seen.insert("C2 packed heads");
    }
    for (int k = 0; k < r; ++k) {
      if (l.shape[k] == 1 && l.stride[k] >= (std::int64_t{1} << 22)) seen.insert("C3 size-1 huge stride");
      if (l.shape[k] > 1 && l.stride[k] < 0) seen.insert("negative stride");
      if (l.shape[k] > 1 && l.stride[k] == 0) seen.insert("broadcast");
      // Rows 2^25+ elements apart: lazily committed storage within the default sparse budget (2^28 bytes).
      if (l.shape[k] > 1 && l.stride[k] >= (std::int64_t{1} << 25)) seen.insert("sparse rows");
    }
    if (l.offset % 8 != 0) seen.insert("C4 misaligned offset");
    if (r >= 2 && l.stride[r - 1] == 1 && l.shape[r - 2] > 1 && l.stride[r - 2] > l.shape[r - 1]) seen.insert("C5 padded pitch");
    if (c.op == Op::kFusedAddRmsNorm && c[OperandId::kResidual].present &&
        c[OperandId::kResidual].layout.stride != l.stride) {
      seen.insert("C7 residual in another layout");
    }
    if (c[OperandId::kOut].present && c[OperandId::kOut].storage == x.storage) {
      seen.insert(c[OperandId::kOut].layout == l ? "in-place out" : "C10 out shares x's storage");
    }
  }
  for (const char* want : {"C1 non-unit last stride", "C2 packed heads", "C3 size-1 huge stride", "negative stride",
                           "broadcast", "sparse rows", "C4 misaligned offset", "C5 padded pitch",
                           "C7 residual in another layout", "in-place out", "C10 out shares x's storage"}) {
    EXPECT_TRUE(seen.count(want)) << want;
  }
}

// Without a budget (the planner target) the same recipes reach strides past 2^31 elements (C9).
TEST(CaseFromBytes, PlannerLimitsReachStridesPast32Bits) {
  std::mt19937_64 rng(4);
  bool seen = false;
  for (int i = 0; i < 20000 && !seen; ++i) {
    auto b = random_bytes(rng, 96);
    b.back() = 0xff;
    const Case c = decode(b, planner_limits());
    const Layout& l = c[OperandId::kX].layout;
    for (int k = 0; k < l.rank; ++k) seen = seen || (l.shape[k] > 1 && l.stride[k] >= (std::int64_t{1} << 31));
  }
  EXPECT_TRUE(seen);
}

TEST(CaseFromBytes, PolicyComesFromTheEnvironment) {
  std::string bad;
  unsetenv("SG_POLICY");
  EXPECT_EQ(policy_from_env(&bad), Policy::kGuarded);
  setenv("SG_POLICY", "vllm-26192", 1);
  EXPECT_EQ(policy_from_env(&bad), Policy::kVllm26192);
  setenv("SG_POLICY", "nonsense", 1);
  EXPECT_FALSE(policy_from_env(&bad));
  EXPECT_EQ(bad, "nonsense");
  unsetenv("SG_POLICY");
}

}  // namespace
}  // namespace strideguard::fuzz
