// Names of ops and operands, and the one printed form of an operand.
#include "kernels/norm_call.hpp"

namespace strideguard {

std::string_view to_string(Op op) { return op == Op::kRmsNorm ? "rms_norm" : "fused_add_rms_norm"; }

std::optional<Op> parse_op(std::string_view s) {
  if (s == "rms_norm") return Op::kRmsNorm;
  if (s == "fused_add_rms_norm") return Op::kFusedAddRmsNorm;
  return std::nullopt;
}

std::string_view to_string(OperandId id) {
  switch (id) {
    case OperandId::kX: return "x";
    case OperandId::kWeight: return "weight";
    case OperandId::kResidual: return "residual";
    case OperandId::kPostResidualAddition: return "post_residual_addition";
    case OperandId::kOut: return "out";
    case OperandId::kResidualOut: return "residual_out";
  }
  return "?";
}

std::optional<OperandId> parse_operand(std::string_view s) {
  for (OperandId id : kAllOperands) {
    if (to_string(id) == s) return id;
  }
  return std::nullopt;
}

std::string to_string(OperandId id, const TensorArg& t) {
  std::string s(to_string(id));
  s += ": ";
  s += to_string(t.layout, t.dtype);
  s += " storage=" + std::to_string(t.storage_elems);
  return s;
}

}  // namespace strideguard
