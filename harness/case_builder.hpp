// Small helpers to assemble Cases in tests, generators and corpora (one way to build them, not three).
#pragma once

#include "harness/case.hpp"

namespace strideguard {

// Elements a storage needs to hold every element of l (footprint max + 1; 0 for an empty view).
// @pre footprint(l) exists and its min >= 0.
std::int64_t storage_needed(const Layout& l);

// Appends a storage and returns its index.
int add_storage(Case& c, std::int64_t elems, Placement placement = Placement::kLeading);

void set_operand(Case& c, OperandId id, const Layout& l, DType dtype, int storage);

// A valid case around x: x in its own storage of x_storage elements (storage_needed(x) when 0); weight (hidden)
// contiguous; out contiguous of x's shape; for the fused op residual and residual_out contiguous too, and
// post_residual_addition when with_post. Every operand in its own storage, leading placement.
Case make_case(Op op, DType dtype, const Layout& x, std::int64_t x_storage = 0, bool with_post = false);

// Layout of x's shape, row-major contiguous at offset 0. Where the shape's element count overflows int64 (invalid
// cases), the strides past that point saturate at INT64_MAX.
Layout contiguous_like(const Layout& x);

}  // namespace strideguard
