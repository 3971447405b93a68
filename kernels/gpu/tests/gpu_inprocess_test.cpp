// The GPU backend in poison mode (in-process, mapped NaN redzones): an overrun breaks a canary instead of the
// context, so the same process keeps running cases. Its own binary: a process that has used the GPU cannot fork
// a worker that uses it too.
#include "kernels/gpu/gpu_backend.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <iterator>
#include <map>
#include <random>
#include <string>

#include "harness/case_builder.hpp"
#include "harness/oracle.hpp"
#include "kernels/gpu/norm_gpu.hpp"
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

// The launch variants (norm_gpu.hip launch_for) go where they were measured to help, and write the CPU backend's
// bytes: small launches (few row groups a block) get blocks of one row for 128-lane rows and the L2 prefetch on
// every staged launch; large launches of rows wider than a warp get bulk copies where the rows are plain or fused
// with post_residual_addition; large fused launches without post get neither, narrow 16-bit rows with many row
// groups one block with deeper stages and the prefetch; plain rows of 5-8 chunks a thread (which the plan leaves
// uncached) run the staged kernels with an 8-chunk cache, plain rows of 9-16 chunks and fused rows of 5-8 the
// staged kernel that keeps the row in its stage, fused rows of 9-16 the one-stage kernel. In-process: the launch
// settings ask the device how many blocks fit. Transposed views run rows across warps. Small launches of 64-lane
// bf16 rows that only a 64-register instantiation fits whole run that one (staged-capped).
TEST_F(GpuPoison, LaunchVariantsGoWhereMeasuredAndWriteTheCpuBytes) {
  struct Expect {
    Case c;
    std::string kernel;  // describe_launch()'s kernel=
    std::string launch;  // expected at the end of describe_launch()
    int per_sm = -1;     // describe_launch()'s per_sm= where >= 0
  };
  const Layout rows4096 = *make_layout({600, 4096}, {4096, 1});
  const std::int64_t fit = 16 * gpu::device_multiprocessors();  // 16 one-row blocks of 64 threads a multiprocessor
  const std::string fit_blocks = "launch_blocks=" + std::to_string(fit);
  // 6000 rows: more than 8 row groups a block on any GPU of up to 187 multiprocessors at 2 blocks each (fused
  // 16-bit rows: 1 block each, up to 375).
  const Layout many4096 = *make_layout({6000, 4096}, {4096, 1});
  const std::vector<Expect> expects = {
      // 128-lane rows (16-bit, 4096): one-row blocks, plain and fused with post.
      {make_case(Op::kRmsNorm, DType::kBF16, rows4096),
       "staged", "block_threads=128 stages=2 l2_prefetch=1 bulk_copy=0"},
      {make_case(Op::kFusedAddRmsNorm, DType::kF16, rows4096, 0, true),
       "staged", "block_threads=128 stages=2 l2_prefetch=1 bulk_copy=0"},
      // 64-lane rows (16-bit, 2048, padded pitch): one-row blocks of 64 threads (stop 20), two 8 KiB stages; fused
      // f32 ones (1024) keep the plan's 256-thread blocks, as does a packed-QKV K slice (4 lanes); with the prefetch.
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({300, 2048}, {2560, 1}), 300 * 2560),
       "staged", "block_threads=64 stages=2 l2_prefetch=1 bulk_copy=0"},
      {make_case(Op::kFusedAddRmsNorm, DType::kF32, *make_layout({300, 1024}, {1024, 1})),
       "staged", "block_threads=256 stages=2 l2_prefetch=1 bulk_copy=0"},
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({64, 8, 128}, {6144, 128, 1}, 4096), 64 * 6144),
       "staged", "block_threads=256 stages=2 l2_prefetch=1 bulk_copy=0"},
      // One-row launches of 64-lane plain bf16 rows (2048 at a padded pitch, 1536) run the staged kernel at the lower
      // register bound (staged-capped: 16 blocks of 64 threads fit a multiprocessor, where the usual bound's 76-77
      // registers fit 12) exactly where that alone makes every row's block resident at once: 16 rows a
      // multiprocessor, not one more (two waves either way); never fused rows, nor f32 ones (1024: no gain
      // measured, no such kernel), stop 23.
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({fit, 2048}, {2560, 1}), fit * 2560),
       "staged-capped", fit_blocks + " block_threads=64 stages=2 l2_prefetch=1 bulk_copy=0", 16},
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({fit, 1536}, {1536, 1})),
       "staged-capped", fit_blocks + " block_threads=64 stages=2 l2_prefetch=1 bulk_copy=0", 16},
      {make_case(Op::kRmsNorm, DType::kF32, *make_layout({fit, 1024}, {1024, 1})),
       "staged", "block_threads=64 stages=2 l2_prefetch=1 bulk_copy=0"},
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({fit + 1, 1536}, {1536, 1})),
       "staged", "block_threads=64 stages=2 l2_prefetch=1 bulk_copy=0"},
      {make_case(Op::kFusedAddRmsNorm, DType::kBF16, *make_layout({fit, 1536}, {1536, 1})),
       "staged", "block_threads=64 stages=2 l2_prefetch=1 bulk_copy=0"},
      // Small launches of plain 16-bit 128-lane rows of 2-3 chunks a lane (2560: 2.5) run as many one-row blocks as
      // fit (per_sm=0), stop 23; fused ones keep four.
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({600, 2560}, {2560, 1})),
       "staged", "block_threads=128 stages=2 l2_prefetch=1 bulk_copy=0", 0},
      {make_case(Op::kFusedAddRmsNorm, DType::kBF16, *make_layout({600, 2560}, {2560, 1})),
       "staged", "block_threads=128 stages=2 l2_prefetch=1 bulk_copy=0", 4},
      // Large launches: plain rows and fused rows with post_residual_addition get bulk copies, fused rows without
      // it keep a copy a thread.
      {make_case(Op::kRmsNorm, DType::kBF16, many4096),
       "staged", "block_threads=256 stages=2 l2_prefetch=0 bulk_copy=1"},
      {make_case(Op::kFusedAddRmsNorm, DType::kBF16, many4096, 0, true),
       "staged", "block_threads=256 stages=2 l2_prefetch=0 bulk_copy=1"},
      {make_case(Op::kFusedAddRmsNorm, DType::kF16, many4096),
       "staged", "block_threads=256 stages=2 l2_prefetch=0 bulk_copy=0"},
      // Large launches of narrow 16-bit rows (at most a warp) with many row groups: one block a multiprocessor with
      // 48 KiB of stages, and the prefetch (a packed-QKV K slice; contiguous 512-element rows). 20000 tokens and
      // 30000 rows: at least 12 row groups a multiprocessor and more than 8 a block on up to 156 multiprocessors.
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({20000, 8, 128}, {6144, 128, 1}, 4096), 20000 * 6144),
       "staged", "block_threads=256 stages=3 l2_prefetch=1 bulk_copy=0"},
      {make_case(Op::kRmsNorm, DType::kF16, *make_layout({30000, 512}, {512, 1})),
       "staged", "block_threads=256 stages=3 l2_prefetch=1 bulk_copy=0"},
      // Large launches of 16-bit rows wider than a warp with 3 chunks a lane or fewer: three blocks a
      // multiprocessor (plain: bf16 2560, 128 lanes of 2.5 chunks; f16 asks for three too, but its programs' 95-96
      // registers (nvcc, sm_90) fit two, which then get three 12 KiB stages, the 40 KiB budget for rows whose
      // three blocks do not fit), two for fused rows whose last chunk slot is partly empty (2304: 2.25), one for fused
      // rows of exactly 3 (3072); f32 rows keep two (3072: 256 lanes of 3). 12000 and 6000 rows: more than 8 row
      // groups a block on up to 249 multiprocessors at 3 blocks, 187 at 2, 374 at 1, 374 at 2 for f32.
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({12000, 2560}, {2560, 1})),
       "staged", "block_threads=256 stages=2 l2_prefetch=0 bulk_copy=1", 3},
      {make_case(Op::kRmsNorm, DType::kF16, *make_layout({12000, 2560}, {2560, 1})),
       "staged", "block_threads=256 stages=3 l2_prefetch=0 bulk_copy=1", 3},
      {make_case(Op::kFusedAddRmsNorm, DType::kBF16, *make_layout({6000, 2304}, {2304, 1})),
       "staged", "block_threads=256 stages=2 l2_prefetch=0 bulk_copy=0", 2},
      {make_case(Op::kFusedAddRmsNorm, DType::kBF16, *make_layout({6000, 3072}, {3072, 1})),
       "staged", "block_threads=256 stages=2 l2_prefetch=0 bulk_copy=0", 1},
      {make_case(Op::kRmsNorm, DType::kF32, *make_layout({6000, 3072}, {3072, 1})),
       "staged", "block_threads=256 stages=2 l2_prefetch=0 bulk_copy=1", 2},
      // Wide rows (256 lanes of 5-8 chunks): 12288 bf16 (6 chunks a thread), 9000 bf16 (5, the last one past the
      // row for most lanes), f32 8192 at a padded pitch (8), f32 6000 (6); staged, small and large (one block a
      // multiprocessor: 3000 and 2000 rows are more than 8 row groups a block on up to 249 multiprocessors), bulk
      // copies in large launches of f32 rows only; fused wide rows staged too (stage-resident), without post small
      // and with post large (1100 rows: more than 8 row groups a block at one block a multiprocessor on up to 137
      // multiprocessors).
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({40, 12288}, {12288, 1})),
       "staged-wide8", "block_threads=256 stages=2 l2_prefetch=1 bulk_copy=0"},
      {make_case(Op::kRmsNorm, DType::kF32, *make_layout({24, 8192}, {8196, 1}), 24 * 8196),
       "staged-wide8", "block_threads=256 stages=2 l2_prefetch=1 bulk_copy=0"},
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({3000, 9000}, {9000, 1})),
       "staged-wide8", "block_threads=256 stages=2 l2_prefetch=0 bulk_copy=0"},
      {make_case(Op::kRmsNorm, DType::kF32, *make_layout({2000, 6000}, {6000, 1})),
       "staged-wide8", "block_threads=256 stages=2 l2_prefetch=0 bulk_copy=1"},
      {make_case(Op::kFusedAddRmsNorm, DType::kBF16, *make_layout({40, 12288}, {12288, 1})),
       "staged-resident", "block_threads=256 stages=2 l2_prefetch=1 bulk_copy=0"},
      {make_case(Op::kFusedAddRmsNorm, DType::kF16, *make_layout({1100, 16384}, {16384, 1}), 0, true),
       "staged-resident", "block_threads=256 stages=2 l2_prefetch=0 bulk_copy=0"},
      // Fused rows of 9-16 chunks: one stage, refilled after pass 1. f32 16384 with post (16 chunks, 192 KiB) small,
      // bf16 20000 (10 chunks, the last past the row for most lanes) large.
      {make_case(Op::kFusedAddRmsNorm, DType::kF32, *make_layout({20, 16384}, {16384, 1}), 0, true),
       "staged-one-stage", "block_threads=256 stages=1 l2_prefetch=1 bulk_copy=0"},
      {make_case(Op::kFusedAddRmsNorm, DType::kBF16, *make_layout({1100, 20000}, {20000, 1})),
       "staged-one-stage", "block_threads=256 stages=1 l2_prefetch=0 bulk_copy=0"},
      // Rows resident in their stage: bf16 20000 (10 chunks a thread), f32 16384 (16), small and large (1100 rows:
      // more than 8 row groups a block at one block a multiprocessor on up to 137 multiprocessors).
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({20, 20000}, {20000, 1})),
       "staged-resident", "block_threads=256 stages=2 l2_prefetch=1 bulk_copy=0"},
      {make_case(Op::kRmsNorm, DType::kF32, *make_layout({1100, 16384}, {16384, 1})),
       "staged-resident", "block_threads=256 stages=2 l2_prefetch=0 bulk_copy=0"},
      // Transposed views (x's rows adjacent, its columns a storage row apart): rows across warps, blocks of 8
      // rows at min(lanes, 32) lane slots. bf16 4096 (128 lanes; 600 rows: 75 row groups), fused f32 1000 with post
      // (64 lanes, a partial last chunk), f16 24 (1 lane: 8 threads a block; 70 rows: a partial last row group),
      // bf16 20000 (10 chunks a thread, past the cached ones).
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({600, 4096}, {1, 600})),
       "rows-across-warps", "launch_blocks=75 block_threads=256 stages=0 l2_prefetch=0 bulk_copy=0"},
      {make_case(Op::kFusedAddRmsNorm, DType::kF32, *make_layout({100, 1000}, {1, 100}), 0, true),
       "rows-across-warps", "launch_blocks=13 block_threads=256 stages=0 l2_prefetch=0 bulk_copy=0"},
      {make_case(Op::kRmsNorm, DType::kF16, *make_layout({70, 24}, {1, 70})),
       "rows-across-warps", "launch_blocks=9 block_threads=8 stages=0 l2_prefetch=0 bulk_copy=0"},
      {make_case(Op::kRmsNorm, DType::kBF16, *make_layout({40, 20000}, {1, 40})),
       "rows-across-warps", "launch_blocks=5 block_threads=256 stages=0 l2_prefetch=0 bulk_copy=0"},
  };
  for (const Expect& e : expects) {
    HostArena host;
    const PlanResult p = plan(bind_case(e.c, host).call);
    ASSERT_TRUE(p.ok()) << print_case(e.c);
    const std::string launch = gpu::describe_launch(p.plan);
    EXPECT_EQ(launch.rfind("kernel=" + e.kernel + " ", 0), 0u) << launch << "\n" << print_case(e.c);
    ASSERT_GE(launch.size(), e.launch.size());
    EXPECT_EQ(launch.substr(launch.size() - e.launch.size()), e.launch) << launch << "\n" << print_case(e.c);
    if (e.per_sm >= 0) {
      EXPECT_NE(launch.find(" per_sm=" + std::to_string(e.per_sm) + " "), std::string::npos) << launch;
    }
    EXPECT_EQ(gpu_tests::compare_gpu_cpu(e.c, arena_), "") << launch << "\n" << print_case(e.c);
  }
}

// The generated cases' wide rows (gpu_cases.cpp: hidden 12288, 16384, 32768 at any of its layouts, placements and
// in-place forms) reach every wide-row kernel, and each writes the CPU backend's bytes: what the launch test above
// pins for a few contiguous shapes, over random layouts (padded and misaligned rows, packed-QKV-like offsets, padded
// residuals, out over x). The launches are counted by kernel program in this process (gpu::launch_counts).
TEST_F(GpuPoison, GeneratedWideRowsReachEveryWideKernelAndWriteTheCpuBytes) {
  const std::map<std::string, std::int64_t> before = gpu::launch_counts();
  int wide = 0;
  for (std::int64_t i = 0; wide < 120 && i < 4000; ++i) {
    const Case c = gpu_tests::generated_case(21, i);
    const Layout& x = c[OperandId::kX].layout;
    if (x.shape[x.rank - 1] <= 8192) continue;
    ++wide;
    const auto inputs = wide % 2 ? gpu_tests::Inputs::kWithSpecials : gpu_tests::Inputs::kCaseValues;
    ASSERT_EQ(gpu_tests::compare_gpu_cpu(c, arena_, inputs), "") << "case " << i << "\n" << print_case(c);
  }
  EXPECT_EQ(wide, 120);
  const std::map<std::string, std::int64_t> after = gpu::launch_counts();
  std::string tally;
  for (const auto& [k, n] : after) tally += " " + k + "=" + std::to_string(n - before.at(k));
  std::printf("%d generated wide-row cases (GPU and CPU runs each), launches by kernel:%s\n", wide, tally.c_str());
  for (const char* k : {"staged-wide8", "staged-resident", "staged-one-stage", "unstaged"}) {
    EXPECT_GT(after.at(k) - before.at(k), 0) << "no generated wide row ran kernel " << k;
  }
}

// Transposed views (x's rows adjacent in storage, its columns not) run rows across warps (norm_gpu.hip,
// norm_kernel_columns) and write the CPU backend's bytes: random tokens (partial row groups), hidden from 1 to
// 20000 (1 to 256 lanes, partial last chunks, more chunks a thread than the programs cache), every dtype and op,
// plain transposes, padded ones and a batch of transposes (a 2-dim row map), out over x, specials among the inputs.
// The launches are counted by kernel program in this process (gpu::launch_counts).
TEST_F(GpuPoison, TransposedViewsRunRowsAcrossWarpsAndWriteTheCpuBytes) {
  const std::map<std::string, std::int64_t> before = gpu::launch_counts();
  std::mt19937_64 g(21);
  const std::int64_t hiddens[] = {1, 7, 24, 128, 1000, 4096, 5120, 20000};
  int column = 0;
  for (int i = 0; i < 48; ++i) {
    const DType dt = kAllDTypes[g() % 3];
    const Op op = g() % 2 ? Op::kFusedAddRmsNorm : Op::kRmsNorm;
    const bool post = op == Op::kFusedAddRmsNorm && g() % 2;
    const std::int64_t hidden = hiddens[g() % std::size(hiddens)];
    const std::int64_t t = 16 + static_cast<std::int64_t>(g() % (hidden > 4096 ? 40 : 300));
    Layout x;
    switch (g() % 3) {
      case 0: x = *make_layout({t, hidden}, {1, t}); break;
      case 1: x = *make_layout({t, hidden}, {1, t + 5}, 3); break;  // padded, at an offset
      default: x = *make_layout({2, t, hidden}, {t * hidden, 1, t}); break;
    }
    Case c = make_case(op, dt, x, 0, post);
    c.seed = g();
    c.backend = Backend::kGpu;
    if (g() % 4 == 0) c[OperandId::kOut] = c[OperandId::kX];
    HostArena host;
    const PlanResult p = plan(bind_case(c, host).call);
    ASSERT_TRUE(p.ok()) << print_case(c);
    column += p.plan.args.column_rows ? 1 : 0;
    const auto inputs = i % 2 ? gpu_tests::Inputs::kWithSpecials : gpu_tests::Inputs::kCaseValues;
    ASSERT_EQ(gpu_tests::compare_gpu_cpu(c, arena_, inputs), "") << gpu::describe_launch(p.plan) << "\n"
                                                                  << print_case(c);
  }
  const std::map<std::string, std::int64_t> after = gpu::launch_counts();
  EXPECT_EQ(column, 48);  // every case's plan: hidden 1 too (its one column's stride is not 1)
  EXPECT_EQ(after.at("rows-across-warps") - before.at("rows-across-warps"), column);
}

}  // namespace
}  // namespace strideguard
