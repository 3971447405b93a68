// The GPU backend in its default mode (worker process, unmapped guards): generated cases pass, GPU and CPU write
// the same bytes, every bug model is caught and the run goes on, one element past the end faults.
#include "kernels/gpu/gpu_backend.hpp"

#include <gtest/gtest.h>

#include "harness/case_builder.hpp"
#include "harness/oracle.hpp"
#include "kernels/gpu/tests/gpu_cases.hpp"
#include "kernels/gpu/tests/gpu_fixture.hpp"

namespace strideguard {
namespace {

// Worker + guards whatever SG_GPU_MODE says: these tests are about faults.
GpuBackendOptions worker_options() { return {}; }
class Gpu : public gpu_tests::GpuFixture<worker_options> {};

TEST_F(Gpu, GeneratedCasesPassOnTheGpu) {
  for (std::int64_t i = 0; i < 300; ++i) {
    const Case c = gpu_tests::generated_case(11, i);
    const Verdict v = run_case(c, arena_);
    ASSERT_TRUE(v.ok()) << "case " << i << "\n" << print_case(c) << describe(v);
  }
}

TEST_F(Gpu, GpuAndCpuWriteIdenticalBytes) {
  for (std::int64_t i = 0; i < 300; ++i) {
    const Case c = gpu_tests::generated_case(12, i);
    const std::string diff = gpu_tests::compare_gpu_cpu(c, arena_);
    ASSERT_EQ(diff, "") << "case " << i << "\n" << print_case(c);
  }
}

// NaN, inf, the largest finite values, subnormals and -0 among the inputs: the NaN-canonicalising paths (packed
// 16-bit conversions on the device, element by element on the CPU) write the same bytes.
TEST_F(Gpu, GpuAndCpuWriteIdenticalBytesOnSpecialValues) {
  for (std::int64_t i = 0; i < 300; ++i) {
    const Case c = gpu_tests::generated_case(13, i);
    const std::string diff = gpu_tests::compare_gpu_cpu(c, arena_, gpu_tests::Inputs::kWithSpecials);
    ASSERT_EQ(diff, "") << "case " << i << " (with specials)\n" << print_case(c);
  }
}

TEST_F(Gpu, EveryBugModelIsCaughtAndTheRunContinues) {
  for (Policy p : kAllPolicies) {
    if (p == Policy::kGuarded) continue;
    const Verdict bad = run_case(gpu_tests::bug_trigger(p), arena_);
    EXPECT_FALSE(bad.ok()) << to_string(p) << " was not caught on the GPU";
    // The run survives whatever the bug did to the device: a valid case right after it passes.
    const Verdict good = run_case(gpu_tests::generated_case(13, static_cast<std::int64_t>(p)), arena_);
    EXPECT_TRUE(good.ok()) << "after " << to_string(p) << ": " << describe(good);
  }
}

// TensorRT-LLM's bug model addresses out with x's padded pitch: with 2 rows of 64 at pitch 65, the last element
// goes exactly one past the end of out's storage, which sits flush against an unmapped granule.
Case one_past_the_end(Placement out_placement) {
  Case c = make_case(Op::kRmsNorm, DType::kBF16, *make_layout({2, 64}, {65, 1}));
  c.policy = Policy::kTrtllm14810;
  c.backend = Backend::kGpu;
  c.storages[static_cast<std::size_t>(c[OperandId::kOut].storage)].placement = out_placement;
  return c;
}

TEST_F(Gpu, OneElementPastTheEndFaultsAndNamesTheOperand) {
  const std::int64_t faults = gpu_backend_stats().device_faults;
  const Verdict v = run_case(one_past_the_end(Placement::kTrailing), arena_);
  EXPECT_EQ(v.kind, VerdictKind::kDeviceFault) << describe(v);
  EXPECT_NE(v.detail.find("Illegal"), std::string::npos) << v.detail;
  EXPECT_NE(v.detail.find("out element 128 (1 past the end"), std::string::npos) << v.detail;
  EXPECT_NE(v.detail.find("placed trailing"), std::string::npos) << v.detail;
  EXPECT_EQ(gpu_backend_stats().device_faults, faults + 1);
  EXPECT_TRUE(run_case(gpu_tests::generated_case(14, 0), arena_).ok());
}

TEST_F(Gpu, OneElementPastTheEndOfALeadingBufferBreaksACanary) {
  const Verdict v = run_case(one_past_the_end(Placement::kLeading), arena_);
  EXPECT_EQ(v.kind, VerdictKind::kDeviceFault) << describe(v);
  EXPECT_NE(v.detail.find("canary overwritten 1 byte(s) past the end of storage 2 (out)"), std::string::npos)
      << v.detail;
}

}  // namespace
}  // namespace strideguard
