// NormCall: the operands of one RMSNorm / fused-add RMSNorm call, exactly as a framework hands them over.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "kernels/dtype.hpp"
#include "kernels/layout.hpp"

namespace strideguard {

enum class Op : std::uint8_t { kRmsNorm, kFusedAddRmsNorm };

std::string_view to_string(Op op);  // "rms_norm" | "fused_add_rms_norm"
std::optional<Op> parse_op(std::string_view s);

enum class OperandId : std::uint8_t { kX, kWeight, kResidual, kPostResidualAddition, kOut, kResidualOut };
inline constexpr int kNumOperands = 6;
inline constexpr OperandId kAllOperands[] = {OperandId::kX,   OperandId::kWeight, OperandId::kResidual,
                                             OperandId::kPostResidualAddition, OperandId::kOut,
                                             OperandId::kResidualOut};

std::string_view to_string(OperandId id);  // "x", "weight", "residual", "post_residual_addition", "out", ...
std::optional<OperandId> parse_operand(std::string_view s);
constexpr bool is_written(OperandId id) { return id == OperandId::kOut || id == OperandId::kResidualOut; }

// One operand: a view into a storage of storage_elems elements that starts at data (the storage's element 0, not
// the view's first element, so that the storage offset stays visible, as in DLPack's byte_offset).
struct TensorArg {
  bool present = false;
  void* data = nullptr;
  DType dtype = DType::kBF16;
  Layout layout;
  std::int64_t storage_elems = 0;
};

// out = RMSNorm(x) * weight                                    (op = rms_norm)
// residual_out = x + (residual [+ post_residual_addition]);    (op = fused_add_rms_norm; the inner sum is rounded
// out = RMSNorm(residual_out) * weight                          to the dtype first, as sglang's `residual + post`)
struct NormCall {
  Op op = Op::kRmsNorm;
  float eps = 1e-6f;
  std::array<TensorArg, kNumOperands> args{};

  TensorArg& operator[](OperandId id) { return args[static_cast<int>(id)]; }
  const TensorArg& operator[](OperandId id) const { return args[static_cast<int>(id)]; }
};

// "x: shape=(...) stride=(...) offset=N dtype=bf16 storage=M": one operand, printed the one way.
std::string to_string(OperandId id, const TensorArg& t);

}  // namespace strideguard
