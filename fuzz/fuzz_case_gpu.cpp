// libFuzzer target: whole cases on the GPU backend (guarded device buffers), same decoder and oracle as the CPU
// target. Built only with SG_GPU=ON; on a machine without a usable GPU it exits 77 (ctest: skipped).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/case_target.hpp"

#if __has_include("kernels/gpu/gpu_backend.hpp")
#include "kernels/gpu/gpu_backend.hpp"
#define SG_FUZZ_HAS_GPU_BACKEND 1
#endif

// Declared here too so the using-directive below compiles whichever namespace the backend chose.
namespace strideguard::gpu {}

namespace {
// 77 is ctest's conventional "skipped" code (SKIP_RETURN_CODE in fuzz/CMakeLists.txt).
constexpr int kSkipped = 77;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
#if defined(SG_FUZZ_HAS_GPU_BACKEND)
  using namespace strideguard;
  using namespace strideguard::gpu;  // the backend may live in either namespace; both are searched
  std::string why;
  if (!register_gpu_backend(&why)) {
    std::fprintf(stderr, "WARNING: fuzz_case_gpu: GPU backend unavailable: %s; skipping\n", why.c_str());
    std::exit(kSkipped);
  }
#else
  std::fprintf(stderr, "WARNING: fuzz_case_gpu: built without kernels/gpu/gpu_backend.hpp; skipping\n");
  std::exit(kSkipped);
#endif
  strideguard::fuzz::init_case_target(strideguard::Backend::kGpu);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return strideguard::fuzz::run_case_target(data, size);
}
