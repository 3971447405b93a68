// The emulated grid: bit-identical output across layouts and access widths, and every refused access reported.
#include "kernels/cpu_backend.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>

#include "harness/case_builder.hpp"
#include "harness/oracle.hpp"
#include "reference/reference.hpp"

namespace strideguard {
namespace {

// Same values (a function of the logical index) in a contiguous layout and in a strided one, through vector and
// scalar paths: the kernel's bits must agree exactly, which run_case cannot show, so this runs plans directly.
std::vector<std::uint16_t> run_direct(const Layout& x, std::int64_t storage, bool misalign, Op op) {
  const std::int64_t hidden = x.shape[x.rank - 1];
  const std::int64_t n = *numel(x);
  std::vector<std::uint16_t> xs(static_cast<std::size_t>(storage + 8)), ws(static_cast<std::size_t>(hidden + 8));
  std::vector<std::uint16_t> rs(static_cast<std::size_t>(n + 8)), ro(static_cast<std::size_t>(n + 8)), out(static_cast<std::size_t>(n + 8));
  const int shift = misalign ? 1 : 0;
  NormCall call;
  call.op = op;
  call.eps = 1e-5f;
  call[OperandId::kX] = {true, xs.data() + shift, DType::kBF16, x, storage};
  call[OperandId::kWeight] = {true, ws.data(), DType::kBF16, *make_layout({hidden}, {1}), hidden};
  const Layout dense = contiguous_like(x);
  call[OperandId::kOut] = {true, out.data(), DType::kBF16, dense, n};
  if (op == Op::kFusedAddRmsNorm) {
    call[OperandId::kResidual] = {true, rs.data(), DType::kBF16, dense, n};
    call[OperandId::kResidualOut] = {true, ro.data(), DType::kBF16, dense, n};
  }
  for (std::int64_t i = 0; i < n; ++i) {
    store_from_double(DType::kBF16, case_value(3, OperandId::kX, DType::kBF16, i),
                      &xs[static_cast<std::size_t>(index_at(x, i) + shift)]);
    store_from_double(DType::kBF16, case_value(3, OperandId::kResidual, DType::kBF16, i), &rs[static_cast<std::size_t>(i)]);
  }
  for (std::int64_t c = 0; c < hidden; ++c) {
    store_from_double(DType::kBF16, case_value(3, OperandId::kWeight, DType::kBF16, c), &ws[static_cast<std::size_t>(c)]);
  }
  const PlanResult p = plan(call);
  EXPECT_TRUE(p.ok()) << to_string(p.status);
  const CpuRunResult r = run_cpu(p.plan, storage_sizes(call));
  EXPECT_FALSE(r.violation) << describe(r.violation, storage_sizes(call));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// describe() on the extremes of a storage index: a bug model's stride of -2^63 puts an access at element -2^63
// (found by fuzz_case_cpu under UBSan: the distance was computed by negating it), and one near 2^63 - 1 ends past
// what int64 holds.
TEST(CpuBackend, DescribeStatesDistancesAtTheInt64Extremes) {
  std::array<std::int64_t, kNumOperands> sizes{};
  sizes[static_cast<int>(OperandId::kOut)] = 66;
  AccessViolation v;
  v.fault = AccessFault::kWriteOutOfBounds;
  v.operand = OperandId::kOut;
  v.element = std::numeric_limits<std::int64_t>::min();
  EXPECT_NE(describe(v, sizes).find("out element -9223372036854775808 (9223372036854775808 before the start of storage 66)"),
            std::string::npos)
      << describe(v, sizes);
  v.fault = AccessFault::kReadOutOfBounds;
  v.element = std::numeric_limits<std::int64_t>::max();
  v.width = 8;
  EXPECT_NE(describe(v, sizes).find("(9223372036854775749 past the end of storage 66), 8-wide access"),
            std::string::npos)
      << describe(v, sizes);
}

TEST(CpuBackend, SameValuesGiveBitIdenticalOutputInEveryLayout) {
  for (Op op : {Op::kRmsNorm, Op::kFusedAddRmsNorm}) {
    for (std::int64_t hidden : {128, 1000, 4096, 8192 + 8}) {
      const std::int64_t rows = 6;
      const Layout dense = *make_layout({rows, hidden}, {hidden, 1});
      const auto ref = run_direct(dense, rows * hidden, false, op);
      const Layout padded = *make_layout({rows, hidden}, {hidden + 8, 1});
      const Layout split = *make_layout({2, 3, hidden}, {3 * (hidden + 16), hidden + 16, 1});
      const Layout transposed = *make_layout({rows, hidden}, {1, rows});
      const Layout reversed = *make_layout({rows, hidden}, {-hidden, 1}, (rows - 1) * hidden);
      EXPECT_EQ(run_direct(padded, rows * (hidden + 8), false, op), ref) << hidden;
      EXPECT_EQ(run_direct(padded, rows * (hidden + 8), true, op), ref) << hidden << " misaligned (scalar)";
      EXPECT_EQ(run_direct(split, 6 * (hidden + 16), false, op), ref) << hidden;
      EXPECT_EQ(run_direct(transposed, rows * hidden, false, op), ref) << hidden;
      std::vector<std::uint16_t> rev = run_direct(reversed, rows * hidden, false, op);
      // reversed rows: row r of the view is storage row rows-1-r, but values follow the logical index, so equal.
      EXPECT_EQ(rev, ref) << hidden;
    }
  }
}

TEST(CpuBackend, VectorAndScalarPathsAgree) {
  const Layout x = *make_layout({5, 512}, {512, 1});
  const auto vec = run_direct(x, 5 * 512, false, Op::kRmsNorm);
  const auto sca = run_direct(x, 5 * 512, true, Op::kRmsNorm);  // offset by one element: scalar path
  EXPECT_EQ(vec, sca);
}

TEST(CpuBackend, ReportsFirstOutOfBoundsAccessWithOperandAndThread) {
  // The aiter-2d model on the seed q layout: pitch stride(0) over numel/size(1) rows runs off the storage.
  Case c = make_case(Op::kRmsNorm, DType::kBF16, *make_layout({64, 32, 128}, {6144, 128, 1}), 64 * 6144);
  c.policy = Policy::kAiter2d;
  HostArena arena;
  const Verdict v = run_case(c, arena);
  EXPECT_EQ(v.kind, VerdictKind::kOutOfBoundsRead) << describe(v);
  EXPECT_NE(v.detail.find("read out of bounds: x element"), std::string::npos) << v.detail;
  EXPECT_NE(v.detail.find("past the end of storage 393216"), std::string::npos) << v.detail;
  EXPECT_NE(v.detail.find("block"), std::string::npos);
}

TEST(CpuBackend, MisalignedVectorAccessIsReported) {
  Case c = make_case(Op::kRmsNorm, DType::kBF16, *make_layout({4, 128}, {128, 1}, 1), 4 * 128 + 1);
  c.policy = Policy::kVllmAlign;
  HostArena arena;
  const Verdict v = run_case(c, arena);
  EXPECT_EQ(v.kind, VerdictKind::kMisaligned) << describe(v);
  EXPECT_NE(v.detail.find("misaligned access: x element 1, 8-wide"), std::string::npos) << v.detail;
}

// Scalar programs (the plan could not prove 16-byte alignment) still move a whole chunk of a unit-stride row as
// wide as its address allows: 16, 8 or 4 bytes an access (RowProgram::piece_elems). Four rows of 512 at pitches
// whose rows are 8-, 4- and 2-byte aligned in turn, x's storage 64-byte aligned: the output is the dense layout's
// to the bit, every access passes the alignment check, and the loads counted are what those widths predict.
TEST(CpuBackend, ScalarProgramsMoveChunksAsWideAsTheirAddressesAllow) {
  for (DType dt : {DType::kBF16, DType::kF32}) {
    const std::int64_t rows = 4, hidden = 512, es = dtype_size(dt), ce = 16 / es, chunks = hidden / ce;
    struct Run {
      std::vector<std::uint8_t> out;
      std::int64_t loads = 0;
      bool vector = false;
    };
    auto run = [&](std::int64_t pitch) {
      alignas(64) static std::uint8_t xs[4 * 520 * 4];
      alignas(64) static std::uint8_t ws[512 * 4];
      std::vector<std::uint8_t> out(static_cast<std::size_t>(rows * hidden * es));
      const Layout x = *make_layout({rows, hidden}, {pitch, 1});
      NormCall call;
      call.op = Op::kRmsNorm;
      call.eps = 1e-6f;
      call[OperandId::kX] = {true, xs, dt, x, rows * pitch};
      call[OperandId::kWeight] = {true, ws, dt, *make_layout({hidden}, {1}), hidden};
      call[OperandId::kOut] = {true, out.data(), dt, contiguous_like(x), rows * hidden};
      for (std::int64_t i = 0; i < rows * hidden; ++i) {
        store_from_double(dt, case_value(7, OperandId::kX, dt, i), &xs[static_cast<std::size_t>(index_at(x, i) * es)]);
      }
      for (std::int64_t c = 0; c < hidden; ++c) {
        store_from_double(dt, case_value(7, OperandId::kWeight, dt, c), &ws[static_cast<std::size_t>(c * es)]);
      }
      const PlanResult p = plan(call);
      EXPECT_TRUE(p.ok()) << to_string(p.status);
      const CpuRunResult r = run_cpu(p.plan, storage_sizes(call));
      EXPECT_FALSE(r.violation) << describe(r.violation, storage_sizes(call));
      return Run{out, r.loads, p.plan.vector};
    };
    const Run dense = run(hidden);
    EXPECT_TRUE(dense.vector);
    // Row r starts at byte r * pitch * es: bf16 pitches 516, 514, 513 give rows aligned to 16/8/16/8, 16/4/8/4 and
    // 16/2/4/2 bytes; f32 pitches 514 and 513 give 16/8/16/8 and 16/4/8/4.
    auto pieces = [&](std::int64_t pitch) {
      std::int64_t total = 0;
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t b = r * pitch * es;
        total += chunks * (b % 16 == 0 ? 1 : b % 8 == 0 ? 2 : b % 4 == 0 ? 4 : ce);  // accesses a chunk
      }
      return total;
    };
    const std::vector<std::int64_t> pitches = dt == DType::kBF16 ? std::vector<std::int64_t>{516, 514, 513}
                                                                  : std::vector<std::int64_t>{514, 513};
    const Run first = run(pitches[0]);
    for (std::int64_t pitch : pitches) {
      const Run s = run(pitch);
      EXPECT_FALSE(s.vector) << pitch;
      EXPECT_EQ(s.out, dense.out) << to_string(dt) << " pitch " << pitch;
      // The weight's loads are the same in every run: the difference is x's pieces.
      EXPECT_EQ(s.loads - first.loads, pieces(pitch) - pieces(pitches[0])) << to_string(dt) << " pitch " << pitch;
    }
    // And fewer than one load an element of x (what the scalar program issued before).
    EXPECT_LT(run(pitches.back()).loads, rows * hidden) << to_string(dt);
  }
}

// The bytes out and residual_out get from plan(call) for x's layout, run as planned and run again after `vary`
// changed the plan or the run options; x's view values, weight, residual and post dense.
struct PlanRuns {
  Plan plan;                                  // as planned
  std::vector<std::uint8_t> planned, varied;  // out's bytes, then residual_out's
};
PlanRuns run_planned_and_varied(DType dt, Op op, bool post, const Layout& x, std::int64_t storage,
                                const std::function<void(Plan&, CpuRunOptions&)>& vary) {
  const std::int64_t hidden = x.shape[x.rank - 1];
  const std::int64_t n = *numel(x);
  const auto es = static_cast<std::size_t>(dtype_size(dt));
  std::vector<std::uint8_t> xs(static_cast<std::size_t>(storage) * es), ws(static_cast<std::size_t>(hidden) * es);
  std::vector<std::uint8_t> rs(static_cast<std::size_t>(n) * es), ps(rs.size()), out(rs.size()), ro(rs.size());
  const Layout dense = contiguous_like(x);
  NormCall call;
  call.op = op;
  call.eps = 1e-6f;
  call[OperandId::kX] = {true, xs.data(), dt, x, storage};
  call[OperandId::kWeight] = {true, ws.data(), dt, *make_layout({hidden}, {1}), hidden};
  call[OperandId::kOut] = {true, out.data(), dt, dense, n};
  if (op == Op::kFusedAddRmsNorm) {
    call[OperandId::kResidual] = {true, rs.data(), dt, dense, n};
    call[OperandId::kResidualOut] = {true, ro.data(), dt, dense, n};
    if (post) call[OperandId::kPostResidualAddition] = {true, ps.data(), dt, dense, n};
  }
  for (std::int64_t i = 0; i < n; ++i) {
    store_from_double(dt, case_value(5, OperandId::kX, dt, i), &xs[static_cast<std::size_t>(index_at(x, i)) * es]);
    store_from_double(dt, case_value(5, OperandId::kResidual, dt, i), &rs[static_cast<std::size_t>(i) * es]);
    store_from_double(dt, case_value(5, OperandId::kPostResidualAddition, dt, i), &ps[static_cast<std::size_t>(i) * es]);
  }
  for (std::int64_t c = 0; c < hidden; ++c) {
    store_from_double(dt, case_value(5, OperandId::kWeight, dt, c), &ws[static_cast<std::size_t>(c) * es]);
  }
  const PlanResult p = plan(call);
  EXPECT_TRUE(p.ok()) << to_string(p.status);
  PlanRuns runs;
  runs.plan = p.plan;
  for (bool varied : {false, true}) {
    std::fill(out.begin(), out.end(), std::uint8_t{0xab});
    std::fill(ro.begin(), ro.end(), std::uint8_t{0xab});
    Plan run = p.plan;
    CpuRunOptions o;
    if (varied) vary(run, o);
    const CpuRunResult r = run_cpu(run, storage_sizes(call), o);
    EXPECT_FALSE(r.violation) << describe(r.violation, storage_sizes(call));
    std::vector<std::uint8_t>& dst = varied ? runs.varied : runs.planned;
    dst = out;
    dst.insert(dst.end(), ro.begin(), ro.end());
  }
  return runs;
}

// Expects the two runs of r to have written the same bytes, and something.
void expect_same_bytes(const PlanRuns& r, const std::string& what) {
  const auto diff = std::mismatch(r.planned.begin(), r.planned.end(), r.varied.begin());
  EXPECT_TRUE(diff.first == r.planned.end()) << what << ": first different byte " << (diff.first - r.planned.begin());
  EXPECT_NE(std::count(r.planned.begin(), r.planned.end(), std::uint8_t{0xab}),
            static_cast<std::ptrdiff_t>(r.planned.size())) << what << ": nothing written";
}

// The @post of row_offset_simple at the level of a whole run: the kSimpleRows program writes the general program's
// bytes on the plans it serves, in every dtype and both ops (RowMap.SimpleDecodeAgreesWhereverItApplies checks
// the decode itself).
TEST(CpuBackend, SimpleRowsProgramWritesTheGeneralProgramsBytes) {
  struct Shape {
    Layout x;
    std::int64_t storage;
    bool simple;  // the plan is expected to run the kSimpleRows program
  };
  for (DType dt : {DType::kBF16, DType::kF16, DType::kF32}) {
    const std::int64_t chunk = 16 / dtype_size(dt);
    const std::vector<Shape> shapes = {
        {*make_layout({3, 4096}, {4096, 1}), 3 * 4096, true},                      // contiguous
        {*make_layout({3, 4096}, {5120, 1}), 3 * 5120, true},                      // row-padded
        {*make_layout({4, 32, 128}, {6144, 128, 1}), 4 * 6144, true},              // packed-QKV Q slice
        {*make_layout({4, 8, 128}, {6144, 128, 1}, 4096), 4 * 6144, true},         // K slice, at an offset
        {*make_layout({3, 125 * chunk}, {125 * chunk, 1}), 3 * 125 * chunk, true},  // a partial last lane
        {*make_layout({3, 2 * chunk}, {2 * chunk, 1}), 3 * 2 * chunk, true},       // fewer chunks than the cache
        {*make_layout({2, 3, 4, 64}, {2048, 640, 96, 1}), 2 * 2048, false},       // a 3-dim row map: general only
    };
    for (const Shape& sh : shapes) {
      for (Op op : {Op::kRmsNorm, Op::kFusedAddRmsNorm}) {
        for (bool post : {false, true}) {
          if (post && op == Op::kRmsNorm) continue;
          const PlanRuns r = run_planned_and_varied(dt, op, post, sh.x, sh.storage,
                                                    [](Plan&, CpuRunOptions& o) { o.general_program = true; });
          const std::string what = to_string(sh.x, dt) + " " + std::string(to_string(op)) + (post ? " post" : "");
          EXPECT_EQ(r.plan.vector && simple_rows(r.plan.args), sh.simple) << what;
          expect_same_bytes(r, what);
        }
      }
    }
  }
}

// What the GPU's wide-row kernel relies on (kernels/gpu/norm_gpu.hip, wide_chunks): plain rows of 5-8 chunks a
// thread, which the plan leaves uncached (pass 2 re-reads x), write the same bytes when every chunk and the weight
// are kept in an 8-chunk register cache instead (cache_rows set, as that launch sets it). Contiguous, padded and
// partial-last-chunk rows, every dtype. (Shown to fail with a 4-chunk cache in the option's place: chunks 5-8 of a
// row are then never written.)
TEST(CpuBackend, WideRowCacheWritesTheUncachedProgramsBytes) {
  for (DType dt : {DType::kBF16, DType::kF16, DType::kF32}) {
    const std::int64_t chunk = 16 / dtype_size(dt);
    const std::vector<std::pair<Layout, std::int64_t>> shapes = {
        {*make_layout({3, 1536 * chunk}, {1536 * chunk, 1}), 3 * 1536 * chunk},  // 6 chunks a thread
        {*make_layout({3, 2048 * chunk}, {2056 * chunk, 1}), 3 * 2056 * chunk},  // 8, padded rows
        {*make_layout({3, 1125 * chunk}, {1125 * chunk, 1}), 3 * 1125 * chunk},  // 5, the last past most lanes
    };
    for (const auto& [x, storage] : shapes) {
      const std::string what = to_string(x, dt);
      const PlanRuns r = run_planned_and_varied(dt, Op::kRmsNorm, false, x, storage, [](Plan& p, CpuRunOptions& o) {
        p.args.cache_rows = true;
        o.wide_cache = true;
      });
      EXPECT_FALSE(r.plan.args.cache_rows) << what;
      EXPECT_TRUE(r.plan.vector && simple_rows(r.plan.args)) << what;
      EXPECT_GE(r.plan.args.chunks_per_thread, 5) << what;
      EXPECT_LE(r.plan.args.chunks_per_thread, 8) << what;
      expect_same_bytes(r, what);
    }
  }
}

// What the GPU launch relies on when it runs a plan's rows in blocks of another size (kernels/gpu/norm_gpu.hip,
// launch_for: one-row blocks for small launches): a row's bytes depend on its lanes, not on how many rows share a
// block. Every block size that is a multiple of the lanes and of a warp (32) up to 256, against the planned one,
// on rows of 4 to 256 lanes, both ops, partial last row groups (3 rows).
TEST(CpuBackend, ThreadsPerBlockDoesNotChangeTheBytes) {
  int varied_runs = 0;
  for (DType dt : {DType::kBF16, DType::kF32}) {
    const std::vector<std::pair<Layout, std::int64_t>> shapes = {
        {*make_layout({3, 4096}, {4096, 1}), 3 * 4096},                  // 128 lanes (bf16), 256 (f32)
        {*make_layout({3, 2048}, {2560, 1}), 3 * 2560},                  // 64 lanes (bf16), padded rows
        {*make_layout({4, 32, 128}, {6144, 128, 1}), 4 * 6144},          // packed-QKV Q slice: 4 or 8 lanes
        {*make_layout({3, 1000}, {1000, 1}), 3 * 1000},                  // scalar access, a partial last lane
        {*make_layout({3, 3072}, {3072, 1}), 3 * 3072},                  // 3 chunks a lane (128 or 256 lanes)
        {*make_layout({5, 2600}, {2600, 1}), 5 * 2600},                  // the third chunk on some lanes only
    };
    for (const auto& [x, storage] : shapes) {
      for (Op op : {Op::kRmsNorm, Op::kFusedAddRmsNorm}) {
        for (bool post : {false, true}) {
          if (post && op == Op::kRmsNorm) continue;
          for (int threads = 32; threads <= 256; threads += 32) {
            const std::string what = to_string(x, dt) + " " + std::string(to_string(op)) + (post ? " post" : "") +
                                     " threads=" + std::to_string(threads);
            int lanes = 0, planned_threads = 0;
            const PlanRuns r = run_planned_and_varied(dt, op, post, x, storage, [&](Plan& p, CpuRunOptions&) {
              lanes = p.args.lanes;
              planned_threads = p.args.threads_per_block;
              if (threads % p.args.lanes != 0) return;
              p.args.threads_per_block = threads;
              p.grid_blocks = p.args.row_groups();
            });
            if (threads % lanes != 0 || threads == planned_threads) continue;
            ++varied_runs;
            expect_same_bytes(r, what);
          }
        }
      }
    }
  }
  EXPECT_GE(varied_runs, 60);  // the loop above varied the block size where it says it does
}

// Rows across warps (KernelArgs::column_rows: blocks of kColumnRows rows, a thread a row at lanes apart, pass 2
// re-reading memory through pass2_batched) write the bytes of the same plan run as rows along warps (the planned
// geometry's blocks, the row cache as choose_geometry allows): transposed views with partial row groups, partial
// last chunks, rows of 1 to 256 lanes and of more chunks a thread than the cache holds, a padded transposed pitch
// and a 2-dim row map; every dtype, both ops, with and without post. A 2-dim row map whose inner dim is shorter than a
// block's rows keeps rows along warps.
TEST(CpuBackend, ColumnRowsWriteTheBytesOfRowsAlongWarps) {
  struct Shape {
    Layout x;
    std::int64_t storage;
    bool column;  // the plan is expected to have rows across warps
  };
  const std::vector<Shape> shapes = {
      {*make_layout({70, 4096}, {1, 70}), 70 * 4096, true},                  // transposed, 3 row groups
      {*make_layout({40, 1000}, {1, 40}), 40 * 1000, true},                  // a partial last chunk
      {*make_layout({33, 24}, {1, 33}), 33 * 24, true},                      // 1 lane a row
      {*make_layout({40, 20000}, {1, 40}), 40 * 20000, true},                // more chunks a thread than cached
      {*make_layout({64, 2048}, {1, 70}), 2047 * 70 + 64, true},             // a padded transposed pitch
      {*make_layout({2, 40, 64}, {2560, 1, 40}), 2 * 2560, true},            // rows (2, 40):(2560, 1)
      {*make_layout({4, 4, 64}, {256, 1, 4}), 4 * 256, false},               // inner row dim of 4: along warps
  };
  for (DType dt : {DType::kBF16, DType::kF16, DType::kF32}) {
    for (const Shape& sh : shapes) {
      for (Op op : {Op::kRmsNorm, Op::kFusedAddRmsNorm}) {
        for (bool post : {false, true}) {
          if (post && op == Op::kRmsNorm) continue;
          const std::string what = to_string(sh.x, dt) + " " + std::string(to_string(op)) + (post ? " post" : "");
          const PlanRuns r = run_planned_and_varied(dt, op, post, sh.x, sh.storage, [&](Plan& p, CpuRunOptions&) {
            const Geometry g = choose_geometry(p.args.hidden, dtype_size(dt));
            p.args.column_rows = false;
            p.args.threads_per_block = g.threads_per_block;
            p.args.cache_rows = g.chunks_per_thread <= kMaxCachedChunks;
            p.grid_blocks = p.args.row_groups();
          });
          EXPECT_EQ(r.plan.args.column_rows, sh.column) << what;
          EXPECT_FALSE(r.plan.vector) << what;
          if (sh.column) {
            EXPECT_FALSE(r.plan.args.cache_rows) << what;
            EXPECT_EQ(r.plan.args.rows_per_block(), kColumnRows) << what;
            EXPECT_EQ(r.plan.grid_blocks, (r.plan.args.rows + kColumnRows - 1) / kColumnRows) << what;
            EXPECT_NE(describe_plan(r.plan).find("variant=rows-across-warps"), std::string::npos) << what;
          }
          expect_same_bytes(r, what);
        }
      }
    }
  }
}

TEST(CpuBackend, EmptyPlansLaunchNothing) {
  Case c = make_case(Op::kFusedAddRmsNorm, DType::kF32, *make_layout({0, 64}, {64, 1}), 0);
  HostArena arena;
  EXPECT_EQ(run_case(c, arena).kind, VerdictKind::kPass);
  const PlanResult p = plan(bind_case(c, arena).call);
  EXPECT_EQ(p.plan.grid_blocks, 0);
}

}  // namespace
}  // namespace strideguard

namespace strideguard {
namespace {

// Deterministic 64-bit pseudo-random numbers (xorshift) for the RowMap tests: next() is the next value.
struct XorShift64 {
  std::uint64_t state;
  std::uint64_t operator()() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
};

// A row map of two dims, (size0, size1):(stride0, stride1) at offset, division not prepared: a head slice of a
// packed projection is (tokens, heads):(pitch, head_dim).
RowMap two_dim_rows(std::int64_t size0, std::int64_t size1, std::int64_t stride0, std::int64_t stride1,
                    std::int64_t offset) {
  RowMap m;
  m.ndims = 2;
  m.size[0] = size0;
  m.size[1] = size1;
  m.stride[0] = stride0;
  m.stride[1] = stride1;
  m.offset = offset;
  return m;
}

// RowMap's multiply-and-shift division gives exactly the quotient a divider would: every divisor 1..4096 against
// row indices at the edges (0, d-1, d, multiples, 2^31-1, 2^32-1) and random ones, and random divisors up to
// 2^31 - 1. A wrong quotient here would send a kernel to the wrong row.
TEST(RowMap, MagicDivisionIsExact) {
  XorShift64 next{0x9e3779b97f4a7c15ull};
  auto check = [&](std::int64_t d) {
    RowMap m;
    m.ndims = 1;
    m.size[0] = d;
    m.prepare_division();
    ASSERT_NE(m.magic[0], 0u) << "divisor " << d;
    // The quotient and remainder row_offset uses (RowMap::split_fast), against the divider's.
    auto expect_exact = [&](std::uint64_t r) {
      std::int64_t q = -1, rem = -1;
      ASSERT_TRUE(m.split_fast(0, static_cast<std::int64_t>(r), q, rem)) << r << " / " << d;
      ASSERT_EQ(static_cast<std::uint64_t>(q), r / static_cast<std::uint64_t>(d)) << r << " / " << d;
      ASSERT_EQ(static_cast<std::uint64_t>(rem), r % static_cast<std::uint64_t>(d)) << r << " % " << d;
    };
    const std::uint64_t ud = static_cast<std::uint64_t>(d);
    for (std::uint64_t r : {std::uint64_t{0}, ud - 1, ud, ud + 1, 2 * ud - 1, 2 * ud, std::uint64_t{0x7fffffff},
                            std::uint64_t{0x80000000}, std::uint64_t{0xfffffffe}, std::uint64_t{0xffffffff}}) {
      if (r > 0xffffffffu) continue;
      expect_exact(r);
    }
    for (int i = 0; i < 200; ++i) expect_exact(static_cast<std::uint32_t>(next()));
  };
  for (std::int64_t d = 1; d <= 4096; ++d) check(d);
  for (int i = 0; i < 2000; ++i) check(1 + static_cast<std::int64_t>(next() % 0x7fffffffu));
  check(0x7fffffff);
}

// row_offset decodes multi-dimensional rows the same with and without the prepared division (rank-4 rows of
// odd sizes, rows past 2^32 take the 64-bit path in both).
TEST(RowMap, PreparedAndPlainDecodeAgree) {
  RowMap plain;
  plain.ndims = 3;
  const std::int64_t sizes[3] = {5, 7, 3};
  const std::int64_t strides[3] = {1000003, -97, 13};
  for (int k = 0; k < 3; ++k) {
    plain.size[k] = sizes[k];
    plain.stride[k] = strides[k];
  }
  plain.offset = 12345;
  RowMap fast = plain;
  fast.prepare_division();
  for (std::int64_t r = 0; r < 5 * 7 * 3; ++r) {
    ASSERT_EQ(fast.row_offset(r), plain.row_offset(r)) << r;
    const std::int64_t i0 = r / 21, i1 = (r / 3) % 7, i2 = r % 3;
    ASSERT_EQ(plain.row_offset(r), 12345 + i0 * strides[0] + i1 * strides[1] + i2 * strides[2]) << r;
  }
  // Two row dims (a head slice of a packed projection): the loop-free path.
  const RowMap two = two_dim_rows(2048, 32, 6144, 128, 4096);
  RowMap two_fast = two;
  two_fast.prepare_division();
  for (std::int64_t r = 0; r < 2048 * 32; ++r) {
    ASSERT_EQ(two_fast.row_offset(r), two.row_offset(r)) << r;
    ASSERT_EQ(two.row_offset(r), 4096 + (r / 32) * 6144 + (r % 32) * 128) << r;
  }
  RowMap big = plain;
  big.size[0] = std::int64_t{1} << 33;
  big.prepare_division();
  RowMap big_plain = big;
  for (int k = 0; k < 3; ++k) big_plain.magic[k] = 0;
  for (std::int64_t r : {std::int64_t{0}, std::int64_t{1} << 32, (std::int64_t{1} << 34) + 17}) {
    ASSERT_EQ(big.row_offset(r), big_plain.row_offset(r)) << r;
  }
}

// RowMap::simple / row_offset_simple (the kSimpleRows programs' decode): @post the same offset as row_offset on
// every row of every map simple() accepts; simple() refuses the maps that need the general loop.
TEST(RowMap, SimpleDecodeAgreesWhereverItApplies) {
  XorShift64 next{0x243f6a8885a308d3ull};
  auto expect_agree = [](const RowMap& m, std::int64_t rows, std::int64_t r) {
    ASSERT_TRUE(m.simple(rows));
    ASSERT_EQ(m.row_offset_simple(r), m.row_offset(r)) << "ndims " << m.ndims << " row " << r;
  };
  RowMap none;  // 0 dims: every row at the offset
  none.offset = 77;
  expect_agree(none, 5, 4);
  none.stride[0] = 3;  // 0 dims with a pitch: row_offset ignores it, row_offset_simple would not
  EXPECT_FALSE(none.simple(5));
  for (int i = 0; i < 300; ++i) {
    RowMap one;  // one pitch, any sign, rows up to 2^40
    one.ndims = 1;
    one.size[0] = 1 + static_cast<std::int64_t>(next() % (std::int64_t{1} << 40));
    one.stride[0] = static_cast<std::int64_t>(next() % 2000001) - 1000000;
    one.offset = static_cast<std::int64_t>(next() % 1000000);
    one.prepare_division();
    for (std::int64_t r : {std::int64_t{0}, one.size[0] - 1, static_cast<std::int64_t>(next() % one.size[0])}) {
      expect_agree(one, one.size[0], r);
    }
    // (tokens, heads) of odd and power-of-two head counts, negative pitches included
    const std::int64_t heads = 1 + static_cast<std::int64_t>(next() % (i % 2 == 0 ? 64 : 100000));
    const std::int64_t tokens = 1 + static_cast<std::int64_t>(next() % ((std::int64_t{1} << 32) / heads));
    const std::int64_t pitch = static_cast<std::int64_t>(next() % 2000001) - 1000000;
    const std::int64_t head_stride = static_cast<std::int64_t>(next() % 20001) - 10000;
    RowMap two = two_dim_rows(tokens, heads, pitch, head_stride, static_cast<std::int64_t>(next() % 1000000));
    two.prepare_division();
    const std::int64_t rows = two.size[0] * two.size[1];
    for (std::int64_t r : {std::int64_t{0}, rows - 1, two.size[1] - 1, two.size[1], static_cast<std::int64_t>(next() % rows)}) {
      if (r >= 0 && r < rows) expect_agree(two, rows, r);
    }
  }
  RowMap qkv = two_dim_rows(2048, 8, 6144, 128, 4096);  // the K slice of the packed projection, every row
  qkv.prepare_division();
  for (std::int64_t r = 0; r < 2048 * 8; ++r) expect_agree(qkv, 2048 * 8, r);
  // Refused: an unprepared division, more than 2^32 rows, 3 dims.
  RowMap unprepared = qkv;
  unprepared.magic[1] = 0;
  EXPECT_FALSE(unprepared.simple(2048 * 8));
  EXPECT_FALSE(qkv.simple((std::int64_t{1} << 32) + 1));
  RowMap three = qkv;
  three.ndims = 3;
  EXPECT_FALSE(three.simple(2048 * 8));
}

}  // namespace
}  // namespace strideguard
