// Programmatic dependent launch (launch_norm's LaunchOptions::overlap_previous) changes when a norm kernel starts,
// never what it reads or writes: chains of calls, each reading the previous call's outputs, write the same bytes
// with and without it. A device source (nvcc -x cu) because the chains need their own device buffers and a kernel
// of their own before the first call.
#include "kernels/gpu/hip_compat.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernels/dtype.hpp"
#include "kernels/gpu/norm_gpu.hpp"
#include "kernels/plan.hpp"

namespace strideguard {
namespace {

// Writes p[i] = a non-zero value of dtype kD (+-[0.25, 2), a hash of i and seed) slowly: every element waits for
// `spin` dependent multiplies first. It lets a dependent kernel start at once (sg_launch_dependents), so a kernel
// launched after it with overlap_previous runs while most of p is still being written unless it waits. It asks for
// the multiprocessors' largest shared-memory carveout (GpuPdl::SetUp): a multiprocessor changes its split between
// L1 and shared memory only when idle, so at the default split (little shared memory for a kernel that uses none) a
// kernel with large stages could not start beside it, and the staged kernels would never overlap it (seen on the
// H200: with the wait removed, only the chains of small-stage and unstaged kernels wrote different bytes).
template <DType kD>
__global__ void slow_fill(typename DTypeTraits<kD>::Storage* p, std::int64_t n, std::uint64_t seed, int spin) {
  sg_launch_dependents();
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    std::uint64_t h = (static_cast<std::uint64_t>(i) + seed) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    float mag = 0.25f + static_cast<float>(h & 0xffffff) * (1.75f / 16777216.f);
    // A chain of dependent multiplies that starts from i, so the compiler can neither drop it nor hoist it out of
    // the loop (about 0.7 ms for 2^25 elements at spin 256 on the H200, stop 16 run 3).
    float slow = 1.f + static_cast<float>(i & 1);
    for (int k = 0; k < spin; ++k) slow = __fmul_rn(slow, 1.0000001f);
    mag = slow > 0.f ? mag : 0.f;  // always mag
    p[i] = DTypeTraits<kD>::from_f32((h >> 40) & 1 ? -mag : mag);
  }
}

// Counts the zero words of p[0, n) without waiting for any earlier kernel: what a kernel that skipped
// sg_grid_dependency_wait() would read.
__global__ void count_zero_words(const std::uint16_t* p, std::int64_t n, unsigned* zeros) {
  unsigned z = 0;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    z += p[i] == 0 ? 1u : 0u;
  }
  if (z != 0) atomicAdd(zeros, z);
}

class GpuPdl : public ::testing::Test {
 protected:
  void SetUp() override {
    int count = 0;
    if (hipGetDeviceCount(&count) != hipSuccess || count == 0) {
      (void)hipGetLastError();
      GTEST_SKIP() << "GPU tests skipped: no device";
    }
    hipDeviceProp_t prop;
    ASSERT_EQ(hipGetDeviceProperties(&prop, 0), hipSuccess);
    if (SG_HAVE_DEPENDENT_LAUNCH == 0 || prop.major < 9) {
      GTEST_SKIP() << "no programmatic dependent launch on " << prop.name << " (sm_90+ CUDA only)";
    }
    // Non-blocking: on a stream that synchronises with the legacy default stream, no launch overlapped its
    // predecessor on the H200 (this file's first device run), so the test would prove nothing there.
    ASSERT_EQ(hipStreamCreateWithFlags(&stream_, hipStreamNonBlocking), hipSuccess);
    for (const void* k : {reinterpret_cast<const void*>(slow_fill<DType::kF32>),
                          reinterpret_cast<const void*>(slow_fill<DType::kF16>),
                          reinterpret_cast<const void*>(slow_fill<DType::kBF16>)}) {
      ASSERT_EQ(hipFuncSetAttribute(k, hipFuncAttributePreferredSharedMemoryCarveout, 100), hipSuccess);
    }
    ASSERT_EQ(hipFuncSetAttribute(reinterpret_cast<const void*>(count_zero_words),
                                  hipFuncAttributeMaxDynamicSharedMemorySize, kLargeReaderSmem),
              hipSuccess);
  }
  // Dynamic shared memory of the large reader: more than the default carveout leaves, as much as a staged norm
  // kernel's two blocks a multiprocessor take when launched to overlap (overlap_smem).
  static constexpr int kLargeReaderSmem = 100 * 1024;
  void TearDown() override {
    for (void* p : owned_) (void)hipFree(p);
    if (stream_ != nullptr) (void)hipStreamDestroy(stream_);
  }
  void* alloc(std::size_t bytes) {
    void* p = nullptr;
    EXPECT_EQ(hipMalloc(&p, bytes), hipSuccess);
    owned_.push_back(p);
    return p;
  }
  void fill(DType t, void* p, std::int64_t n, std::uint64_t seed, int spin) {
    const dim3 grid(132), block(256);
    auto* half = static_cast<std::uint16_t*>(p);
    if (t == DType::kF32) {
      hipLaunchKernelGGL(slow_fill<DType::kF32>, grid, block, 0, stream_, static_cast<float*>(p), n, seed, spin);
    } else if (t == DType::kF16) {
      hipLaunchKernelGGL(slow_fill<DType::kF16>, grid, block, 0, stream_, half, n, seed, spin);
    } else {
      hipLaunchKernelGGL(slow_fill<DType::kBF16>, grid, block, 0, stream_, half, n, seed, spin);
    }
    EXPECT_EQ(hipGetLastError(), hipSuccess);
  }
  hipStream_t stream_ = nullptr;
  std::vector<void*> owned_;
};

// One chain: x0 slowly filled, then `calls` norm calls on one stream without a synchronisation in between, call k
// reading call k-1's out (and, fused, its residual_out as residual), each writing its own buffers. Returns every
// call's output bytes (out, then residual_out where fused), and the first call's launch settings in *launch.
struct Chain {
  Op op = Op::kRmsNorm;
  DType dtype = DType::kBF16;
  std::int64_t rows = 0, hidden = 0, pitch = 0;  // x0's layout: rows x hidden at a row pitch; the outputs dense
  bool post = false;
  int calls = 4;
};

class GpuPdlChains : public GpuPdl {
 protected:
  std::vector<std::vector<std::byte>> run(const Chain& ch, bool overlap, std::string* launch) {
    std::vector<std::vector<std::byte>> bytes;
    const std::size_t es = static_cast<std::size_t>(dtype_size(ch.dtype));
    const std::int64_t dense_n = ch.rows * ch.hidden;
    const std::int64_t x0_n = (ch.rows - 1) * ch.pitch + ch.hidden;
    const bool fused = ch.op == Op::kFusedAddRmsNorm;
    void* x0 = alloc(static_cast<std::size_t>(x0_n) * es);
    void* w = alloc(static_cast<std::size_t>(ch.hidden) * es);
    void* res0 = fused ? alloc(static_cast<std::size_t>(dense_n) * es) : nullptr;
    void* post = fused && ch.post ? alloc(static_cast<std::size_t>(dense_n) * es) : nullptr;
    std::vector<void*> outs, res_outs;
    for (int k = 0; k < ch.calls; ++k) {
      outs.push_back(alloc(static_cast<std::size_t>(dense_n) * es));
      if (fused) res_outs.push_back(alloc(static_cast<std::size_t>(dense_n) * es));
    }
    for (void* o : outs) EXPECT_EQ(hipMemset(o, 0, static_cast<std::size_t>(dense_n) * es), hipSuccess);
    for (void* o : res_outs) EXPECT_EQ(hipMemset(o, 0, static_cast<std::size_t>(dense_n) * es), hipSuccess);
    EXPECT_EQ(hipMemset(x0, 0, static_cast<std::size_t>(x0_n) * es), hipSuccess);
    fill(ch.dtype, w, ch.hidden, 7, 0);
    if (res0 != nullptr) fill(ch.dtype, res0, dense_n, 8, 0);
    if (post != nullptr) fill(ch.dtype, post, dense_n, 9, 0);
    EXPECT_EQ(hipDeviceSynchronize(), hipSuccess);

    const Layout x0_layout = *make_layout({ch.rows, ch.hidden}, {ch.pitch, 1});
    const Layout dense = *make_layout({ch.rows, ch.hidden}, {ch.hidden, 1});
    const Layout wl = *make_layout({ch.hidden}, {1});
    std::vector<Plan> plans;
    for (int k = 0; k < ch.calls; ++k) {
      NormCall c;
      c.op = ch.op;
      c[OperandId::kX] = {true, k == 0 ? x0 : outs[static_cast<std::size_t>(k - 1)], ch.dtype,
                          k == 0 ? x0_layout : dense, k == 0 ? x0_n : dense_n};
      c[OperandId::kWeight] = {true, w, ch.dtype, wl, ch.hidden};
      c[OperandId::kOut] = {true, outs[static_cast<std::size_t>(k)], ch.dtype, dense, dense_n};
      if (fused) {
        c[OperandId::kResidual] = {true, k == 0 ? res0 : res_outs[static_cast<std::size_t>(k - 1)], ch.dtype, dense,
                                   dense_n};
        c[OperandId::kResidualOut] = {true, res_outs[static_cast<std::size_t>(k)], ch.dtype, dense, dense_n};
        if (post != nullptr) c[OperandId::kPostResidualAddition] = {true, post, ch.dtype, dense, dense_n};
      }
      const PlanResult pr = plan(c);
      EXPECT_TRUE(pr.ok()) << describe_rejection(c, pr);
      if (!pr.ok()) return bytes;
      plans.push_back(pr.plan);
    }
    *launch = gpu::describe_launch(plans[0]);

    // x0 written slowly (about 100 us), then the chain, enqueued at once.
    fill(ch.dtype, x0, x0_n, 1, 256);
    gpu::LaunchOptions o;
    o.overlap_previous = overlap;
    for (const Plan& p : plans) {
      const int e = gpu::launch_norm(p, stream_, nullptr, o);
      EXPECT_EQ(e, 0) << gpu::error_text(e);
    }
    EXPECT_EQ(hipStreamSynchronize(stream_), hipSuccess);
    auto fetch = [&](void* p) {
      std::vector<std::byte> b(static_cast<std::size_t>(dense_n) * es);
      EXPECT_EQ(hipMemcpy(b.data(), p, b.size(), hipMemcpyDeviceToHost), hipSuccess);
      bytes.push_back(std::move(b));
    };
    for (int k = 0; k < ch.calls; ++k) {
      fetch(outs[static_cast<std::size_t>(k)]);
      if (fused) fetch(res_outs[static_cast<std::size_t>(k)]);
    }
    return bytes;
  }
};

// The rig has a race to lose: a kernel launched with overlap_previous right after slow_fill, which does not wait,
// reads words slow_fill has not written yet. If the device never started it early, the chain tests below would
// prove nothing, so this must hold for them to mean anything. The same read in stream order comes first: it also
// loads both kernels, since the first launch of a kernel in a process (lazy module loading) does not overlap (seen
// on the H200: this test's first version, whose first launch of the reader was the overlapping one, read no zero).
TEST_F(GpuPdl, AKernelThatDoesNotWaitReadsBytesNotYetWritten) {
  const std::int64_t n = std::int64_t{8192} * 4096;
  auto* x = static_cast<std::uint16_t*>(alloc(static_cast<std::size_t>(n) * 2));
  auto* zeros = static_cast<unsigned*>(alloc(sizeof(unsigned)));
  auto read_after_fill = [&](bool overlap, int smem) -> unsigned {
    unsigned counted = 0;
    EXPECT_EQ(hipMemset(x, 0, static_cast<std::size_t>(n) * 2), hipSuccess);
    EXPECT_EQ(hipMemset(zeros, 0, sizeof(unsigned)), hipSuccess);
    EXPECT_EQ(hipDeviceSynchronize(), hipSuccess);
    fill(DType::kBF16, x, n, 1, 256);
    EXPECT_EQ(sg_launch(count_zero_words, dim3(132), dim3(256), static_cast<std::size_t>(smem), stream_, overlap,
                        static_cast<const std::uint16_t*>(x), n, zeros),
              hipSuccess);
    EXPECT_EQ(hipStreamSynchronize(stream_), hipSuccess);
    EXPECT_EQ(hipMemcpy(&counted, zeros, sizeof counted, hipMemcpyDeviceToHost), hipSuccess);
    return counted;
  };
  // In stream order the reader sees every word written (slow_fill writes no zero word); launched to overlap, a
  // reader without shared memory and one with as much as the staged kernels' blocks both start early.
  for (const int smem : {0, kLargeReaderSmem}) {
    EXPECT_EQ(read_after_fill(false, smem), 0u) << smem << " bytes of shared memory";
    EXPECT_GT(read_after_fill(true, smem), 0u)
        << "the kernel launched with overlap_previous and " << smem
        << " bytes of shared memory did not start before slow_fill completed";
  }
}

// Chains through every kind of norm kernel: the bulk-copy staged kernel (large plain rows), one-row blocks with
// the L2 prefetch (small launch), fused rows with post (their own staged programs), and the unstaged kernel (rows
// at a pitch that is no 16-byte multiple). With overlap_previous every call starts before the one it reads from
// has finished; its wait makes it read that call's final bytes, so the chain writes what it writes in stream order.
TEST_F(GpuPdlChains, ChainsWriteTheSameBytesWithAndWithoutOverlap) {
  struct Expect {
    Chain chain;
    std::string launch;  // expected at the end of the first call's describe_launch()
  };
  const std::vector<Expect> chains = {
      {{Op::kRmsNorm, DType::kBF16, 8192, 4096, 4096, false, 4}, "stages=2 l2_prefetch=0 bulk_copy=1"},
      {{Op::kRmsNorm, DType::kBF16, 600, 4096, 4096, false, 6}, "block_threads=128 stages=2 l2_prefetch=1 bulk_copy=0"},
      {{Op::kFusedAddRmsNorm, DType::kF16, 4096, 4096, 4096, true, 4}, "l2_prefetch=0 bulk_copy=1"},
      {{Op::kRmsNorm, DType::kF32, 4096, 4100, 4101, false, 4}, "stages=0 l2_prefetch=0 bulk_copy=0"},
  };
  for (const Expect& e : chains) {
    std::string launch, launch_overlap;
    const auto ordered = run(e.chain, false, &launch);
    const auto overlapped = run(e.chain, true, &launch_overlap);
    ASSERT_GE(launch.size(), e.launch.size());
    EXPECT_EQ(launch.substr(launch.size() - e.launch.size()), e.launch) << launch;
    ASSERT_EQ(ordered.size(), overlapped.size());
    ASSERT_FALSE(ordered.empty());
    for (std::size_t i = 0; i < ordered.size(); ++i) {
      ASSERT_EQ(ordered[i].size(), overlapped[i].size());
      EXPECT_EQ(std::memcmp(ordered[i].data(), overlapped[i].data(), ordered[i].size()), 0)
          << "output " << i << " of the chain differs with overlap_previous; " << launch;
    }
    // Not a chain of zeros: the first call read x0's final values.
    const std::vector<std::byte> zero(ordered[0].size());
    EXPECT_NE(std::memcmp(ordered[0].data(), zero.data(), zero.size()), 0);
    for (void* p : owned_) (void)hipFree(p);
    owned_.clear();
  }
}

}  // namespace
}  // namespace strideguard
