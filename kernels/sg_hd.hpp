// Host/device portability: one macro for functions that run in kernels and on the CPU backend alike.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__HIPCC__) || defined(__CUDACC__)
#define SG_HD __host__ __device__ inline
#define SG_DEVICE_COMPILER 1
#else
// Without a GPU compiler the same index math compiles as ordinary inline C++ (as CuTe's CUTE_HOST_DEVICE does).
#define SG_HD inline
#define SG_DEVICE_COMPILER 0
#endif

#if defined(__HIP_DEVICE_COMPILE__) || defined(__CUDA_ARCH__)
#define SG_DEVICE_PASS 1
#else
#define SG_DEVICE_PASS 0
#endif

namespace strideguard {

// Correctly rounded fp32 arithmetic that the device compiler may not contract into FMA or replace with
// approximations. The CPU backend must produce bit-identical results, so every fp32 operation in a kernel goes
// through one of these (host builds also pass -ffp-contract=off, see cmake/strideguard_options.cmake).
SG_HD float add_rn(float a, float b) {
#if SG_DEVICE_PASS
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

SG_HD float mul_rn(float a, float b) {
#if SG_DEVICE_PASS
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

SG_HD float div_rn(float a, float b) {
#if SG_DEVICE_PASS
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

SG_HD float sqrt_rn(float a) {
#if SG_DEVICE_PASS
  return __fsqrt_rn(a);
#else
  return __builtin_sqrtf(a);
#endif
}

SG_HD std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

SG_HD float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

}  // namespace strideguard
