// libFuzzer target: whole cases on the CPU backend (guard pages, emulator access checks, fp64 reference).
#include <cstddef>
#include <cstdint>

#include "fuzz/case_target.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  strideguard::fuzz::init_case_target(strideguard::Backend::kCpu);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return strideguard::fuzz::run_case_target(data, size);
}
