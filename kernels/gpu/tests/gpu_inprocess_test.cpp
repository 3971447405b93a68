// The GPU backend in poison mode (in-process, mapped NaN redzones): an overrun breaks a canary instead of the
// context, so the same process keeps running cases. Its own binary: a process that has used the GPU cannot fork
// a worker that uses it too.
#include "kernels/gpu/gpu_backend.hpp"

#include <gtest/gtest.h>

#include "harness/case_builder.hpp"
#include "harness/oracle.hpp"
#include "kernels/gpu/tests/gpu_cases.hpp"
#include "kernels/gpu/tests/gpu_fixture.hpp"

namespace strideguard {
namespace {

// In-process with mapped NaN redzones: an overrun breaks a canary instead of the context.
GpuBackendOptions poison_options() {
  GpuBackendOptions o;
  o.isolation = GpuIsolation::kInProcess;
  o.redzone = gpu::Redzone::kPoison;
  return o;
}
class GpuPoison : public gpu_tests::GpuFixture<poison_options> {};

TEST_F(GpuPoison, OverrunBreaksACanaryAndTheProcessKeepsRunning) {
  Case c = make_case(Op::kRmsNorm, DType::kBF16, *make_layout({2, 64}, {65, 1}));
  c.policy = Policy::kTrtllm14810;
  c.backend = Backend::kGpu;
  for (StorageSpec& s : c.storages) s.placement = Placement::kTrailing;
  const Verdict v = run_case(c, arena_);
  EXPECT_EQ(v.kind, VerdictKind::kDeviceFault) << describe(v);
  EXPECT_NE(v.detail.find("canary overwritten 1 byte(s) past the end of storage 2 (out), placed trailing"),
            std::string::npos)
      << v.detail;
  for (std::int64_t i = 0; i < 100; ++i) {
    const Case g = gpu_tests::generated_case(21, i);
    const Verdict ok = run_case(g, arena_);
    ASSERT_TRUE(ok.ok()) << print_case(g) << describe(ok);
  }
}

TEST_F(GpuPoison, GpuAndCpuWriteIdenticalBytes) {
  for (std::int64_t i = 0; i < 200; ++i) {
    const Case c = gpu_tests::generated_case(22, i);
    ASSERT_EQ(gpu_tests::compare_gpu_cpu(c, arena_), "") << print_case(c);
  }
}

}  // namespace
}  // namespace strideguard
