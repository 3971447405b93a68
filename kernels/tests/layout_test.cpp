// Layout laws, checked exhaustively on every small layout: each @post in layout.hpp has its test here.
#include "kernels/layout.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <vector>

namespace strideguard {
namespace {

// Calls f on every layout of rank 0..3 with sizes 0..3, strides -3..3 and offset 5 (about 23k layouts).
void for_small_layouts(const std::function<void(const Layout&)>& f) {
  Layout l;
  l.offset = 5;
  std::function<void(int)> rec = [&](int k) {
    if (k == l.rank) {
      f(l);
      return;
    }
    for (std::int64_t n = 0; n <= 3; ++n) {
      for (std::int64_t s = -3; s <= 3; ++s) {
        l.shape[k] = n;
        l.stride[k] = s;
        rec(k + 1);
      }
    }
  };
  for (int r = 0; r <= 3; ++r) {
    l.rank = r;
    rec(0);
  }
}

std::int64_t brute_numel(const Layout& l) {
  std::int64_t n = 1;
  for (int k = 0; k < l.rank; ++k) n *= l.shape[k];
  return n;
}

TEST(Layout, CoalescePreservesEveryIndex) {
  for_small_layouts([](const Layout& l) {
    const Layout c = coalesce(l);
    const std::int64_t n = brute_numel(l);
    ASSERT_EQ(*numel(c), n) << to_string(l);
    for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(index_at(c, i), index_at(l, i)) << to_string(l) << " i=" << i;
    for (int k = 0; k < c.rank; ++k) ASSERT_NE(c.shape[k], 1) << to_string(c);
    // Minimal: no two neighbours of the result still chain (they would have been merged).
    for (int k = 0; k + 1 < c.rank; ++k) ASSERT_NE(c.stride[k], c.shape[k + 1] * c.stride[k + 1]) << to_string(c);
  });
}

// numel and footprint report overflow exactly when exact (128-bit) arithmetic leaves int64.
TEST(Layout, OverflowReportedExactlyWhenExactArithmeticOverflows) {
  __extension__ typedef __int128 i128;
  const i128 lo = INT64_MIN, hi = INT64_MAX;
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 11;
  };
  const std::int64_t magnitudes[] = {0, 1, 3, 1000, std::int64_t{1} << 20, std::int64_t{1} << 31, std::int64_t{1} << 40,
                                     std::int64_t{1} << 62, INT64_MAX};
  for (int t = 0; t < 200000; ++t) {
    Layout l;
    l.rank = 1 + static_cast<int>(next() % 4);
    for (int k = 0; k < l.rank; ++k) {
      l.shape[k] = magnitudes[next() % 9] / (1 + static_cast<std::int64_t>(next() % 3));
      const std::int64_t m = magnitudes[next() % 9] / (1 + static_cast<std::int64_t>(next() % 5));
      l.stride[k] = next() % 2 ? m : -m;
    }
    l.offset = static_cast<std::int64_t>(next() % 3) - 1;
    i128 n = 1;
    bool n_over = false, has_zero = false;
    for (int k = 0; k < l.rank; ++k) has_zero = has_zero || l.shape[k] == 0;
    for (int k = 0; k < l.rank && !has_zero; ++k) {
      n *= l.shape[k];
      if (n > hi) n_over = true, n = hi;  // saturate: stays "overflowed"
    }
    ASSERT_EQ(!numel(l).has_value(), n_over) << to_string(l);
    bool f_over = false;
    i128 a = l.offset, b = l.offset;
    for (int k = 0; k < l.rank && !has_zero; ++k) {
      const i128 reach = static_cast<i128>(l.shape[k] - 1) * l.stride[k];
      if (reach < lo || reach > hi) f_over = true;
      (reach < 0 ? a : b) += reach;
    }
    if (!has_zero && (a < lo || b > hi)) f_over = true;
    ASSERT_EQ(!footprint(l).has_value(), f_over) << to_string(l);
  }
}

TEST(Layout, FootprintEqualsBruteForce) {
  for_small_layouts([](const Layout& l) {
    const auto fp = footprint(l);
    ASSERT_TRUE(fp);
    const std::int64_t n = brute_numel(l);
    if (n == 0) {
      ASSERT_TRUE(fp->empty());
      return;
    }
    std::int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (std::int64_t i = 0; i < n; ++i) {
      lo = std::min(lo, index_at(l, i));
      hi = std::max(hi, index_at(l, i));
    }
    ASSERT_EQ(fp->min, lo) << to_string(l);
    ASSERT_EQ(fp->max, hi) << to_string(l);
  });
}

TEST(Layout, NoSelfOverlapReportedImpliesInjective) {
  int conservative = 0;
  for_small_layouts([&](const Layout& l) {
    const std::int64_t n = brute_numel(l);
    std::set<std::int64_t> seen;
    for (std::int64_t i = 0; i < n; ++i) seen.insert(index_at(l, i));
    const bool injective = static_cast<std::int64_t>(seen.size()) == n;
    if (!may_self_overlap(l)) {
      ASSERT_TRUE(injective) << to_string(l);
    }
    if (!injective) {
      ASSERT_TRUE(may_self_overlap(l)) << to_string(l);
    }
    if (n == 0) {
      ASSERT_FALSE(may_self_overlap(l)) << "an empty view addresses nothing: " << to_string(l);
    }
    if (injective && may_self_overlap(l)) ++conservative;
  });
  EXPECT_GT(conservative, 0);  // the documented conservatism exists, e.g. (3,2):(2,3)
  EXPECT_TRUE(may_self_overlap(*make_layout({3, 2}, {2, 3})));
}

TEST(Layout, RowMajorContiguousIgnoresSize1Strides) {
  EXPECT_TRUE(is_row_major_contiguous(*make_layout({32768, 1, 128}, {128, 4194304, 1})));
  EXPECT_FALSE(is_row_major_contiguous(*make_layout({2048, 32, 128}, {6144, 128, 1})));
  EXPECT_TRUE(is_row_major_contiguous(make_contiguous({4, 8})));
  EXPECT_FALSE(is_row_major_contiguous(*make_layout({4, 8}, {1, 4})));
}

TEST(Layout, SeedExamples) {
  const Layout q = *make_layout({2048, 32, 128}, {6144, 128, 1});
  const Layout k = *make_layout({2048, 8, 128}, {6144, 128, 1}, 4096);
  EXPECT_EQ(*numel(q), 8388608);
  EXPECT_EQ(footprint(k)->min, 4096);
  EXPECT_EQ(footprint(k)->max, 4096 + 2047 * 6144 + 7 * 128 + 127);
  EXPECT_EQ(row_dims(q), *make_layout({2048, 32}, {6144, 128}));
  EXPECT_EQ(coalesce(*make_layout({32768, 1, 128}, {128, 4194304, 1})), *make_layout({4194304}, {1}));
  EXPECT_EQ(row_dims(*make_layout({16, 4096}, {4096, 1})), *make_layout({16}, {4096}));
  EXPECT_EQ(to_string(k, DType::kBF16), "shape=(2048,8,128) stride=(6144,128,1) offset=4096 dtype=bf16");
}

TEST(Layout, OverflowIsDetected) {
  const std::int64_t big = std::int64_t{1} << 62;
  EXPECT_FALSE(numel(*make_layout({big, 4}, {1, 1})));
  EXPECT_EQ(*numel(*make_layout({big, 4, 0}, {1, 1, 1})), 0);  // empty never overflows
  EXPECT_FALSE(footprint(*make_layout({3, 2}, {big, 1})));
  EXPECT_FALSE(footprint(*make_layout({2}, {1}, INT64_MAX)));
  EXPECT_TRUE(footprint(*make_layout({2}, {-1}, INT64_MAX)));
  EXPECT_FALSE(make_layout({1, 2}, {1}));
}

TEST(Layout, TupleParsing) {
  int n = 0;
  auto t = parse_int_tuple("(2048,32,128)", &n);
  ASSERT_TRUE(t);
  EXPECT_EQ(n, 3);
  EXPECT_EQ((*t)[2], 128);
  EXPECT_TRUE(parse_int_tuple("()", &n));
  EXPECT_EQ(n, 0);
  EXPECT_TRUE(parse_int_tuple("(128,)", &n));
  EXPECT_EQ(n, 1);
  EXPECT_FALSE(parse_int_tuple("(1,,2)", &n));
  EXPECT_FALSE(parse_int_tuple("(1,2,3,4,5,6,7,8,9)", &n));
  EXPECT_FALSE(parse_int_tuple("1,2", &n));
  EXPECT_FALSE(parse_int_tuple("(99999999999999999999)", &n));
}

}  // namespace
}  // namespace strideguard
