// Host-side dtype helpers: names, exact loads and stores, single-step rounding from double, ulp ordering.
#include "kernels/dtype.hpp"

#include <cmath>
#include <limits>

namespace strideguard {

std::string_view to_string(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view s) {
  for (DType t : kAllDTypes) {
    if (to_string(t) == s) return t;
  }
  return std::nullopt;
}

double load_as_double(DType t, const void* element) {
  switch (t) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, element, 4);
      return f;
    }
    case DType::kF16: {
      std::uint16_t h;
      std::memcpy(&h, element, 2);
      return f16_bits_to_f32(h);
    }
    case DType::kBF16: {
      std::uint16_t h;
      std::memcpy(&h, element, 2);
      return bf16_bits_to_f32(h);
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

void store_from_double(DType t, double v, void* element) {
  // v is representable in t, so the conversion to fp32 is exact and the fp32 encoders do not round.
  const auto f = static_cast<float>(v);
  switch (t) {
    case DType::kF32: std::memcpy(element, &f, 4); return;
    case DType::kF16: {
      const std::uint16_t h = f32_to_f16_bits(f);
      std::memcpy(element, &h, 2);
      return;
    }
    case DType::kBF16: {
      const std::uint16_t h = f32_to_bf16_bits(f);
      std::memcpy(element, &h, 2);
      return;
    }
  }
}

namespace {
struct FormatParams {
  int mantissa_bits;  // explicit bits
  int min_exponent;   // exponent of the smallest normal
  double max_finite;
};

FormatParams params(DType t) {
  switch (t) {
    case DType::kF32: return {23, -126, static_cast<double>(std::numeric_limits<float>::max())};
    case DType::kF16: return {10, -14, 65504.0};
    case DType::kBF16: return {7, -126, 0x1.fep127};
  }
  return {23, -126, 0};
}
}  // namespace

double round_to_dtype(DType t, double v) {
  if (!std::isfinite(v) || v == 0.0) return v;
  const FormatParams p = params(t);
  int e = 0;
  std::frexp(v, &e);  // v = f * 2^e, |f| in [0.5, 1): the leading bit has weight 2^(e-1)
  const int lead = e - 1;
  const int quantum_exp = (lead < p.min_exponent ? p.min_exponent : lead) - p.mantissa_bits;
  // Scaling by a power of two is exact, and nearbyint rounds ties to even in the default rounding mode.
  const double r = std::ldexp(std::nearbyint(std::ldexp(v, -quantum_exp)), quantum_exp);
  if (std::fabs(r) > p.max_finite) return std::copysign(std::numeric_limits<double>::infinity(), v);
  return r;
}

std::int64_t ordered_bits(DType t, double v) {
  std::int64_t mag = 0;
  const double a = std::fabs(v);
  switch (t) {
    case DType::kF32: mag = float_bits(static_cast<float>(a)); break;
    case DType::kF16: mag = f32_to_f16_bits(static_cast<float>(a)); break;
    case DType::kBF16: mag = f32_to_bf16_bits(static_cast<float>(a)); break;
  }
  return std::signbit(v) ? -mag : mag;
}

}  // namespace strideguard
