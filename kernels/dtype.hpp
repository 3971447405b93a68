// Storage dtypes (float32, float16, bfloat16) and their exact, round-to-nearest-even conversions to and from fp32.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "kernels/sg_hd.hpp"

namespace strideguard {

enum class DType : std::uint8_t { kF32, kF16, kBF16 };

inline constexpr DType kAllDTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

SG_HD constexpr int dtype_size(DType t) { return t == DType::kF32 ? 4 : 2; }

// Explicit mantissa bits (without the implicit one): the unit in the last place of x in [1,2) is 2^-bits.
SG_HD constexpr int dtype_mantissa_bits(DType t) {
  return t == DType::kF32 ? 23 : t == DType::kF16 ? 10 : 7;
}

// "f32" | "f16" | "bf16"; the spelling used in every printed layout and in .case files.
std::string_view to_string(DType t);
std::optional<DType> parse_dtype(std::string_view s);

// bfloat16: the high half of an fp32. Round to nearest even on the dropped 16 bits; NaN stays a quiet NaN.
SG_HD std::uint16_t f32_to_bf16_bits(float f) {
  std::uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

SG_HD float bf16_bits_to_f32(std::uint16_t h) { return bits_float(static_cast<std::uint32_t>(h) << 16); }

// IEEE binary16, round to nearest even, with subnormals and overflow to infinity.
SG_HD std::uint16_t f32_to_f16_bits(float f) {
  std::uint32_t x = float_bits(f);
  const auto sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return static_cast<std::uint16_t>(sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u));
  // 65520 = 65504 + half an ulp: it and everything above round to infinity (65504's mantissa is odd).
  if (x >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);
  // 2^-25 is half the smallest subnormal: it and everything below round to (even) zero.
  if (x <= 0x33000000u) return sign;
  const std::uint32_t e = x >> 23;
  const std::uint32_t m = (x & 0x7fffffu) | 0x800000u;
  if (e < 113) {  // below 2^-14: a binary16 subnormal, quantum 2^-24
    const std::uint32_t s = 126 - e;  // 14..24
    std::uint32_t h = m >> s;
    const std::uint32_t rem = m & ((1u << s) - 1u);
    const std::uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<std::uint16_t>(sign | h);
  }
  std::uint32_t h = ((e - 112) << 10) | ((m & 0x7fffffu) >> 13);
  const std::uint32_t rem = m & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is the right answer
  return static_cast<std::uint16_t>(sign | h);
}

SG_HD float f16_bits_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t e = (h >> 10) & 0x1fu;
  const std::uint32_t m = h & 0x3ffu;
  if (e == 0) {
    const float v = static_cast<float>(m) * 5.9604644775390625e-8f;  // m * 2^-24, exact
    return bits_float(float_bits(v) | sign);
  }
  if (e == 31) return bits_float(sign | 0x7f800000u | (m << 13));
  return bits_float(sign | ((e + 112) << 23) | (m << 13));
}

// Compile-time dtype traits for the kernels: Storage is the element's in-memory type.
template <DType T>
struct DTypeTraits;

template <>
struct DTypeTraits<DType::kF32> {
  using Storage = float;
  SG_HD static float to_f32(Storage v) { return v; }
  SG_HD static Storage from_f32(float v) { return v; }
};

template <>
struct DTypeTraits<DType::kF16> {
  using Storage = std::uint16_t;
  SG_HD static float to_f32(Storage v) { return f16_bits_to_f32(v); }
  SG_HD static Storage from_f32(float v) { return f32_to_f16_bits(v); }
};

template <>
struct DTypeTraits<DType::kBF16> {
  using Storage = std::uint16_t;
  SG_HD static float to_f32(Storage v) { return bf16_bits_to_f32(v); }
  SG_HD static Storage from_f32(float v) { return f32_to_bf16_bits(v); }
};

// Host helpers on raw element bytes (little-endian storage as on every supported device).
double load_as_double(DType t, const void* element);
void store_from_double(DType t, double value_exactly_representable, void* element);

// Rounds a double to the nearest value of dtype t (ties to even, subnormals, overflow to +-inf), in one step:
// going through fp32 first would round twice.
double round_to_dtype(DType t, double v);

// Monotone integer image of a dtype value: adjacent representable values differ by 1, +0 and -0 coincide, and
// +-inf sit one step past +-max. Used to count ulps between two values of one dtype; NaN has no image.
std::int64_t ordered_bits(DType t, double exactly_representable_value);

}  // namespace strideguard
