// A gtest fixture for GPU tests: registers the GPU backend once per suite with the options MakeOptions gives, and
// skips every test with the reason when no device is usable ("GPU tests skipped: no device: ...").
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "harness/arena.hpp"
#include "kernels/gpu/gpu_backend.hpp"

namespace strideguard::gpu_tests {

template <GpuBackendOptions (*MakeOptions)()>
class GpuFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const GpuBackendOptions o = MakeOptions();
    registered_ = register_gpu_backend(o, &why_);
  }
  void SetUp() override {
    if (!registered_) GTEST_SKIP() << "GPU tests skipped: no device: " << why_;
  }
  static inline bool registered_ = false;
  static inline std::string why_;
  HostArena arena_;
};

}  // namespace strideguard::gpu_tests
