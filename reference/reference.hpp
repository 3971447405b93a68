// The fp64 reference: RMSNorm and fused-add RMSNorm read straight through the strided views, plus an independent
// validator of the dispatcher's rules. Obviously correct beats fast: no coalescing, no row maps, no vectors.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/norm_call.hpp"
#include "kernels/status.hpp"

namespace strideguard::reference {

// Outputs in x's row-major element order, as exact doubles.
struct Outputs {
  std::vector<double> out;           // unrounded: compare after rounding to the output dtype
  std::vector<double> residual_out;  // already rounded to the dtype (the kernel stores the rounded sum)
};

// @pre validate(call).status == kOk.
// For each row (x's leading index, row-major) and column c:
//   fused: r' = round(residual + post) if post is given, else residual; s = round(x + r'); residual_out = s
//   out = v / sqrt(mean_c(v^2) + eps) * weight[c], v = s (fused) or x, all in fp64.
// @post out.size() == residual_out.size() (fused) == numel(x).
Outputs compute(const NormCall& call);

// The element index (in storage) of operand `t` for x-order flat index i, computed from its own layout.
std::int64_t element_index(const TensorArg& t, std::int64_t flat);

struct Verdict {
  Status status = Status::kOk;
  OperandId operand = OperandId::kX;
};

// The dispatcher's rules restated independently: footprints in 128-bit arithmetic (and by enumeration for small
// views), overlaps by enumeration where feasible. Same rule order as plan() (see kernels/plan.hpp).
// @post validate(call).status == kOk exactly when the call is valid under the documented rules.
Verdict validate(const NormCall& call);

// Tolerance, in output-dtype ulps, between the kernel's rounded output and round(reference out). Derivation in
// reference.cpp: the fp32 kernel's relative error bound, scaled to the output dtype's ulp, plus one for rounding.
std::int64_t out_tolerance_ulps(DType dtype, std::int64_t hidden);

// Absolute slack for results in or near the fp32 subnormal range, where relative bounds do not hold.
double out_tolerance_abs(double weight_magnitude);

}  // namespace strideguard::reference
