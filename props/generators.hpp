// RapidCheck generators of Recipes. Every gene is uniform over its range whatever RapidCheck's size (Debian's
// 2021 gen::inRange collapses to its minimum at small sizes) and shrinks towards 0, the plainest choice; size only
// scales the number of rows. No mapcat: genes are independent, so each shrinks on its own.
#pragma once

#include <rapidcheck.h>

#include <cstdint>
#include <ostream>

#include "props/recipe.hpp"

namespace strideguard::props {

// Uniform in [0, n), shrinking towards 0.
inline rc::Gen<int> gene(int n) {
  return rc::Gen<int>([n](const rc::Random& random, int) {
    const int v = static_cast<int>(rc::Random(random).next() % static_cast<std::uint64_t>(n));
    return rc::shrinkable::shrinkRecur(v, [](int x) { return rc::shrink::towards<int>(x, 0); });
  });
}

// Uniform in [0, 1 + max * size / 100): rows grow over a run, starting from a single row.
inline rc::Gen<int> sized_gene(int max) {
  return rc::Gen<int>([max](const rc::Random& random, int size) {
    const int hi = 1 + max * std::min(size, 100) / 100;
    const int v = static_cast<int>(rc::Random(random).next() % static_cast<std::uint64_t>(hi));
    return rc::shrinkable::shrinkRecur(v, [](int x) { return rc::shrink::towards<int>(x, 0); });
  });
}

// A recipe for a valid call (invalid == 0), covering every layout family and operand family.
inline rc::Gen<Recipe> valid_recipe() {
  using rc::gen::set;
  return rc::gen::build<Recipe>(
      set(&Recipe::op, gene(2)), set(&Recipe::dtype, gene(3)), set(&Recipe::x_family, gene(static_cast<int>(XFamily::kCount))),
      set(&Recipe::tokens, sized_gene(24)), set(&Recipe::hidden, gene(15)), set(&Recipe::heads, gene(7)),
      set(&Recipe::kv_heads, gene(5)), set(&Recipe::head_dim, gene(8)), set(&Recipe::pad, gene(7)),
      set(&Recipe::variant, gene(18)), set(&Recipe::weight, gene(3)), set(&Recipe::residual, gene(6)),
      set(&Recipe::post, gene(4)), set(&Recipe::out, gene(6)), set(&Recipe::residual_out, gene(4)),
      set(&Recipe::misalign, gene(16)), set(&Recipe::misalign_other, gene(80)), set(&Recipe::placement, gene(1 << 9)),
      set(&Recipe::slack, gene(3)), set(&Recipe::eps, gene(5)), set(&Recipe::plain, gene(5)),
      set(&Recipe::seed, rc::gen::cast<std::uint64_t>(gene(1 << 30))));
}

// Valid or invalid: about half the recipes carry one mutation that breaks exactly one rule.
inline rc::Gen<Recipe> any_recipe() {
  return rc::gen::map(rc::gen::pair(valid_recipe(), gene(2 * static_cast<int>(Invalid::kCount))),
                      [](const std::pair<Recipe, int>& p) {
                        Recipe r = p.first;
                        r.invalid = p.second < static_cast<int>(Invalid::kCount) ? 0 : p.second - static_cast<int>(Invalid::kCount);
                        return r;
                      });
}

// RapidCheck prints counterexamples through showValue: a Recipe shows as the Case it builds.
void showValue(const Recipe& r, std::ostream& os);

}  // namespace strideguard::props
