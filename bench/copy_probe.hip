// copy_probe: what moving the benchmark cases' bytes costs on this GPU, by each means there is, so that issue 8's
// "% of the copy ceiling" targets can be told apart into what a kernel can reach and what it cannot.
//   copy_probe [--quick]
// Two questions (docs/performance.md, "What an SM copy reaches"):
//  1. Engine: does cudaMemcpyAsync (and cudaMemcpy2DAsync) device to device run on the multiprocessors, as a
//     kernel, or on a copy engine? A "hog" kernel fills every multiprocessor's warp slots and spins for ~2 ms; a
//     copy then issued on another stream finishes long before the hog if it does not need a multiprocessor, or
//     after it if it does. A copy kernel issued the same way is the control (it must wait).
//  2. Sizes and layouts: the time of a copy of each benchmark case's read bytes (the destination dense, as out is),
//     contiguous or through the case's strided source layout (packed-QKV Q and K slices: 8 KiB or 2 KiB runs at a
//     12 KiB pitch), by cudaMemcpy(2D)Async, by a load/store copy kernel (a thread per four 16-byte chunks, and a
//     persistent 8 blocks a multiprocessor: gpu_bench's layout copy) and by bulk copies (cp.async.bulk global ->
//     shared -> global, one thread a block issuing, a ring of stages; sm_90). Graph replays, sets rotated past
//     3x L2, medians of 30 batches, every destination checked against its source.
#include "kernels/gpu/hip_compat.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "bench/gpu_timing.hpp"
#include "bench/layout_copy.hpp"

using namespace strideguard;
using namespace strideguard::bench;

namespace {

// A source of `rows` runs of run_chunks 16-byte chunks, pitch_chunks apart; the destination is the runs back to
// back (chunk i of the destination is source chunk (i / run) * pitch + i % run). Contiguous: pitch == run.
struct CopyLayout {
  const char* name;
  std::int64_t rows, run_chunks, pitch_chunks;
  std::int64_t chunks() const { return rows * run_chunks; }
  std::int64_t src_chunks() const { return (rows - 1) * pitch_chunks + run_chunks; }
  double read_bytes() const { return 16.0 * static_cast<double>(chunks()); }
  // The layout copy's arguments for copying src to dst (one input, one output, the runs as rows of one head).
  LayoutCopyArgs copy_args(const void* src, void* dst) const;
};

LayoutCopyArgs CopyLayout::copy_args(const void* src, void* dst) const {
  LayoutCopyArgs a;
  a.in[0] = static_cast<const uint4*>(src);
  a.out[0] = static_cast<uint4*>(dst);
  a.chunks = chunks();
  a.cpr_log2 = log2_exact(run_chunks, "run chunks");
  a.pitch0 = pitch_chunks;
  return a;
}

__global__ void fill_words(std::uint32_t* p, std::int64_t n, std::uint32_t seed) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    std::uint32_t h = static_cast<std::uint32_t>(i) * 0x9e3779b1u + seed;
    h ^= h >> 15;
    p[i] = h * 0x85ebca6bu;
  }
}

// Counts destination chunks that differ from their source chunk (atomically into *bad).
__global__ void count_mismatches(LayoutCopyArgs c, unsigned long long* bad) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < c.chunks;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const uint4 a = c.in[0][c.x_chunk(i)], b = c.out[0][i];
    if (a.x != b.x || a.y != b.y || a.z != b.z || a.w != b.w) atomicAdd(bad, 1ull);
  }
}

// The bulk copy: tiles of rows_per_tile runs (whole runs, so that a tile is one dense range of the destination),
// walked grid-stride by one thread a block through a ring of `stages` tiles in shared memory: each tile's runs
// are bulk-copied in (an mbarrier counts the bytes), then the tile is bulk-copied out in one piece; a stage is
// refilled once the store that read it has finished reading (one store behind, so that a store and the next
// loads are in flight together).
constexpr int kMaxRing = 16;
struct BulkArgs {
  const char* src = nullptr;
  char* dst = nullptr;
  std::int64_t tiles = 0;
  int rows_per_tile = 1, run_bytes = 16, stages = 2;
  std::int64_t pitch_bytes = 16;
};

__global__ void __launch_bounds__(32) bulk_copy(BulkArgs a) {
  extern __shared__ uint4 ring[];
  __shared__ std::uint64_t full[kMaxRing];
  if (threadIdx.x != 0) return;
  const int tile_bytes = a.rows_per_tile * a.run_bytes;
  auto stage_at = [&](int s) { return reinterpret_cast<char*>(ring) + static_cast<std::int64_t>(s) * tile_bytes; };
  for (int s = 0; s < a.stages; ++s) sg_bar_init(&full[s], 1);
  sg_fence_proxy_async();
  const std::int64_t first = blockIdx.x, step = gridDim.x;
  if (first >= a.tiles) return;
  const std::int64_t mine = (a.tiles - first + step - 1) / step;  // tiles of this block
  auto load = [&](std::int64_t k, int s) {  // this block's k-th tile into stage s
    const std::int64_t tile = first + k * step;
    sg_bar_arrive_expect(&full[s], static_cast<unsigned>(tile_bytes));
    for (int r = 0; r < a.rows_per_tile; ++r) {
      const std::int64_t row = tile * a.rows_per_tile + r;
      sg_bulk_copy(stage_at(s) + static_cast<std::int64_t>(r) * a.run_bytes, a.src + row * a.pitch_bytes,
                   static_cast<unsigned>(a.run_bytes), &full[s]);
    }
  };
  for (int k = 0; k < a.stages && k < mine; ++k) load(k, k);
  for (std::int64_t k = 0; k < mine; ++k) {
    const int s = static_cast<int>(k % a.stages);
    sg_bar_wait(&full[s], static_cast<unsigned>((k / a.stages) & 1));
    sg_fence_proxy_async();
    sg_bulk_store(a.dst + (first + k * step) * tile_bytes, stage_at(s), static_cast<unsigned>(tile_bytes));
    sg_bulk_store_commit();
    if (k >= 1 && k - 1 + a.stages < mine) {
      sg_bulk_store_wait_read<1>();  // tile k-1's store has read its stage
      load(k - 1 + a.stages, static_cast<int>((k - 1) % a.stages));
    }
  }
  sg_bulk_store_wait_all();
}

// Spins for `cycles` clock cycles; launched to fill every warp slot of every multiprocessor.
__global__ void hog(long long cycles) {
  const long long t0 = clock64();
  while (clock64() - t0 < cycles) {
  }
}

struct Buffers {
  std::vector<uint4*> src, dst;
};

Buffers alloc_sets(const CopyLayout& l, int sets) {
  Buffers b;
  for (int k = 0; k < sets; ++k) {
    uint4 *s = nullptr, *d = nullptr;
    SG_CHECK(hipMalloc(&s, static_cast<std::size_t>(l.src_chunks()) * 16));
    SG_CHECK(hipMalloc(&d, static_cast<std::size_t>(l.chunks()) * 16));
    hipLaunchKernelGGL(fill_words, dim3(1024), dim3(256), 0, nullptr, reinterpret_cast<std::uint32_t*>(s),
                       l.src_chunks() * 4, static_cast<std::uint32_t>(k + 1));
    SG_CHECK(hipGetLastError());
    b.src.push_back(s);
    b.dst.push_back(d);
  }
  SG_CHECK(hipDeviceSynchronize());
  return b;
}

void free_sets(Buffers& b) {
  for (auto* p : b.src) SG_CHECK(hipFree(p));
  for (auto* p : b.dst) SG_CHECK(hipFree(p));
  b = {};
}

// Destination chunks of set k that differ from the source (after clearing the destinations and running one call).
template <class Call>
unsigned long long mismatches(const CopyLayout& l, Buffers& b, Call&& call) {
  unsigned long long* bad = nullptr;
  SG_CHECK(hipMalloc(&bad, sizeof *bad));
  SG_CHECK(hipMemset(bad, 0, sizeof *bad));
  SG_CHECK(hipMemset(b.dst[0], 0, static_cast<std::size_t>(l.chunks()) * 16));
  call(0, static_cast<hipStream_t>(nullptr));
  SG_CHECK(hipGetLastError());
  hipLaunchKernelGGL(count_mismatches, dim3(1024), dim3(256), 0, nullptr, l.copy_args(b.src[0], b.dst[0]), bad);
  SG_CHECK(hipGetLastError());
  unsigned long long n = 0;
  SG_CHECK(hipMemcpy(&n, bad, sizeof n, hipMemcpyDeviceToHost));
  SG_CHECK(hipFree(bad));
  return n;
}

struct Method {
  std::string name;
  bool ok = true;  // false: not applicable to this layout
};

struct Probe {
  hipDeviceProp_t prop{};
  double ceiling_gbs = 0;  // the first layout's (the 1 GiB contiguous copy's) fastest means
  struct Line {
    std::string text;  // the row up to its GB/s
    double gbs;
    bool ok;
  };
  std::vector<Line> lines;
  bool quick = false;
  int failures = 0;

  // Bulk-copy settings: tile bytes, stages, blocks a multiprocessor.
  struct BulkShape {
    int tile_kib, stages, per_sm;
  };

  // Times every means on layout l and prints a row each; returns the best GB/s.
  double row(const CopyLayout& l) {
    const double need = 2 * l.read_bytes();  // read + write
    const int sets = static_cast<int>(std::max(2.0, 3.0 * static_cast<double>(prop.l2CacheSize) / need + 1));
    Buffers b = alloc_sets(l, sets);
    const bool contiguous = l.run_chunks == l.pitch_chunks;
    double best = 0;
    auto report = [&](const std::string& how, double ms, unsigned long long bad) {
      const double gbs = need / (ms * 1e-3) / 1e9;
      best = std::max(best, gbs);
      char text[256];
      std::snprintf(text, sizeof text, "| %s | %.1f | %s | %.2f | %.0f |", l.name, l.read_bytes() / (1 << 20),
                    how.c_str(), ms * 1e3, gbs);
      lines.push_back({text, gbs, bad == 0});
      if (bad != 0) ++failures;
    };
    auto time = [&](const std::string& how, auto&& call) {
      const unsigned long long bad = mismatches(l, b, call);
      report(how, median_graph_ms(sets, call), bad);
    };
    // cudaMemcpy(2D)Async.
    if (contiguous) {
      auto memcpy = [&](int k, hipStream_t st) {
        SG_CHECK(hipMemcpyAsync(b.dst[static_cast<std::size_t>(k)], b.src[static_cast<std::size_t>(k)],
                                static_cast<std::size_t>(l.chunks()) * 16, hipMemcpyDeviceToDevice, st));
      };
      time("memcpy (graph)", memcpy);
      // The same calls launched from the host one after another (how gpu_bench measures the 1 GiB ceiling).
      report("memcpy (stream launches)", median_ms(sets, [&](int k) { memcpy(k, nullptr); }), 0);
    } else {
      time("memcpy2D", [&](int k, hipStream_t st) {
        SG_CHECK(hipMemcpy2DAsync(b.dst[static_cast<std::size_t>(k)], static_cast<std::size_t>(l.run_chunks) * 16,
                                  b.src[static_cast<std::size_t>(k)], static_cast<std::size_t>(l.pitch_chunks) * 16,
                                  static_cast<std::size_t>(l.run_chunks) * 16, static_cast<std::size_t>(l.rows),
                                  hipMemcpyDeviceToDevice, st));
      });
    }
    // The load/store copy: a thread per four chunks, and persistent grids.
    const std::array<std::int64_t, 2> lsu = layout_copy_grids(l.chunks(), prop.multiProcessorCount);
    std::vector<std::pair<std::string, std::int64_t>> grids = {{"lsu 4 chunks/thread", lsu[0]},
                                                               {"lsu 8 blocks/SM", lsu[1]}};
    if (!quick) grids.push_back({"lsu 4 blocks/SM", 4LL * prop.multiProcessorCount});
    for (const auto& [how, blocks] : grids) {
      time(how, [&](int k, hipStream_t st) {
        hipLaunchKernelGGL((layout_copy<1, 1>), dim3(static_cast<unsigned>(blocks)), dim3(256), 0, st,
                           l.copy_args(b.src[static_cast<std::size_t>(k)], b.dst[static_cast<std::size_t>(k)]));
      });
    }
#if SG_HAVE_BULK_COPY
    std::vector<BulkShape> shapes = {{16, 4, 2}, {32, 4, 1}, {8, 8, 2}};
    if (!quick) shapes.insert(shapes.end(), {{16, 2, 4}, {32, 6, 1}, {4, 8, 4}});
    for (const BulkShape& sh : shapes) {
      const std::int64_t run_bytes = l.run_chunks * 16;
      const std::int64_t tile_bytes = std::int64_t{sh.tile_kib} * 1024;
      if (tile_bytes < run_bytes || tile_bytes % run_bytes != 0 || l.rows % (tile_bytes / run_bytes) != 0) continue;
      BulkArgs a;
      a.rows_per_tile = static_cast<int>(tile_bytes / run_bytes);
      a.run_bytes = static_cast<int>(run_bytes);
      a.pitch_bytes = l.pitch_chunks * 16;
      a.stages = sh.stages;
      a.tiles = l.rows / a.rows_per_tile;
      const std::size_t smem = static_cast<std::size_t>(tile_bytes) * static_cast<std::size_t>(sh.stages);
      SG_CHECK(hipFuncSetAttribute(reinterpret_cast<const void*>(bulk_copy),
                                   hipFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
      int fit = 0;
      SG_CHECK(hipOccupancyMaxActiveBlocksPerMultiprocessor(&fit, bulk_copy, 32, smem));
      if (fit < sh.per_sm) continue;
      const std::int64_t blocks = std::min<std::int64_t>(a.tiles, std::int64_t{sh.per_sm} * prop.multiProcessorCount);
      char how[96];
      std::snprintf(how, sizeof how, "bulk %d KiB x %d stages, %d blocks/SM", sh.tile_kib, sh.stages, sh.per_sm);
      time(how, [&](int k, hipStream_t st) {
        BulkArgs ak = a;
        ak.src = reinterpret_cast<const char*>(b.src[static_cast<std::size_t>(k)]);
        ak.dst = reinterpret_cast<char*>(b.dst[static_cast<std::size_t>(k)]);
        hipLaunchKernelGGL(bulk_copy, dim3(static_cast<unsigned>(blocks)), dim3(32), smem, st, ak);
      });
    }
#endif
    free_sets(b);
    if (ceiling_gbs == 0) ceiling_gbs = best;
    return best;
  }

  // Question 1: the copy issued while a hog kernel holds every warp slot. Prints the hog's time, the copy's own
  // time alone, and the copy's time from its issue to its end with the hog running.
  void engine() {
    const CopyLayout l{"contiguous 32 MiB", 2048, 1024, 1024};
    const CopyLayout strided{"K-like 2 KiB runs at 12 KiB", 16384, 128, 768};
    int per_sm = 0;
    SG_CHECK(hipOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, hog, 1024, 0));
    std::printf("hog: %d blocks of 1024 threads a multiprocessor (%d threads a multiprocessor at most)\n", per_sm,
                prop.maxThreadsPerMultiProcessor);
    hipStream_t sa, sb;
    SG_CHECK(hipStreamCreateWithFlags(&sa, hipStreamNonBlocking));
    SG_CHECK(hipStreamCreateWithFlags(&sb, hipStreamNonBlocking));
    hipEvent_t a0, a1, b0, b1;
    for (hipEvent_t* e : {&a0, &a1, &b0, &b1}) SG_CHECK(hipEventCreate(e));
    const long long cycles = 4000000;  // ~2 ms at 2 GHz (the hog's time is printed)
    std::printf("| what | alone us | hog us | issued during the hog: issue to end us | ended before the hog |\n");
    std::printf("| --- | ---: | ---: | ---: | --- |\n");
    auto probe = [&](const char* what, const CopyLayout& lay, auto&& call) {
      Buffers b = alloc_sets(lay, 1);
      for (int i = 0; i < 3; ++i) call(b, sb);  // warm-up (module load)
      SG_CHECK(hipStreamSynchronize(sb));
      SG_CHECK(hipEventRecord(b0, sb));
      call(b, sb);
      SG_CHECK(hipEventRecord(b1, sb));
      SG_CHECK(hipEventSynchronize(b1));
      float alone = 0;
      SG_CHECK(hipEventElapsedTime(&alone, b0, b1));
      SG_CHECK(hipEventRecord(a0, sa));
      hipLaunchKernelGGL(hog, dim3(static_cast<unsigned>(per_sm * prop.multiProcessorCount)), dim3(1024), 0, sa,
                         cycles);
      SG_CHECK(hipGetLastError());
      SG_CHECK(hipEventRecord(a1, sa));
      std::this_thread::sleep_for(std::chrono::microseconds(300));  // the hog's blocks are resident by then
      SG_CHECK(hipEventRecord(b0, sb));
      call(b, sb);
      SG_CHECK(hipEventRecord(b1, sb));
      SG_CHECK(hipDeviceSynchronize());
      float hog_ms = 0, during = 0, start_to_b1 = 0;
      SG_CHECK(hipEventElapsedTime(&hog_ms, a0, a1));
      SG_CHECK(hipEventElapsedTime(&during, b0, b1));
      SG_CHECK(hipEventElapsedTime(&start_to_b1, a0, b1));
      std::printf("| %s | %.1f | %.1f | %.1f | %s |\n", what, alone * 1e3, hog_ms * 1e3, during * 1e3,
                  start_to_b1 < hog_ms ? "yes" : "no");
      free_sets(b);
    };
    const std::size_t bytes = static_cast<std::size_t>(l.chunks()) * 16;
    probe("cudaMemcpyAsync 32 MiB", l, [&](Buffers& b, hipStream_t st) {
      SG_CHECK(hipMemcpyAsync(b.dst[0], b.src[0], bytes, hipMemcpyDeviceToDevice, st));
    });
    // The same copy as a graph's memcpy node (how gpu_bench times its same-size copies), launched as a graph.
    {
      Buffers g = alloc_sets(l, 1);
      hipGraph_t graph;
      hipGraphExec_t exec;
      SG_CHECK(hipStreamBeginCapture(sb, hipStreamCaptureModeThreadLocal));
      SG_CHECK(hipMemcpyAsync(g.dst[0], g.src[0], bytes, hipMemcpyDeviceToDevice, sb));
      SG_CHECK(hipStreamEndCapture(sb, &graph));
      SG_CHECK(hipGraphInstantiate(&exec, graph, nullptr, nullptr, 0));
      probe("cudaMemcpyAsync 32 MiB, a graph's memcpy node", l,
            [&](Buffers&, hipStream_t st) { SG_CHECK(hipGraphLaunch(exec, st)); });
      SG_CHECK(hipGraphExecDestroy(exec));
      SG_CHECK(hipGraphDestroy(graph));
      free_sets(g);
    }
    probe("cudaMemcpy2DAsync K-like 32 MiB", strided, [&](Buffers& b, hipStream_t st) {
      SG_CHECK(hipMemcpy2DAsync(b.dst[0], 2048, b.src[0], 12288, 2048, 16384, hipMemcpyDeviceToDevice, st));
    });
    probe("lsu copy kernel 32 MiB (control)", l, [&](Buffers& b, hipStream_t st) {
      hipLaunchKernelGGL((layout_copy<1, 1>), dim3(static_cast<unsigned>(8 * prop.multiProcessorCount)), dim3(256), 0,
                         st, l.copy_args(b.src[0], b.dst[0]));
      SG_CHECK(hipGetLastError());
    });
    for (hipEvent_t e : {a0, a1, b0, b1}) SG_CHECK(hipEventDestroy(e));
    SG_CHECK(hipStreamDestroy(sa));
    SG_CHECK(hipStreamDestroy(sb));
  }
};

}  // namespace

int main(int argc, char** argv) {
  Probe p;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      p.quick = true;
    } else {
      std::fprintf(stderr, "ERROR: unknown argument %s\nusage: copy_probe [--quick]\n", a.c_str());
      return 2;
    }
  }
  int count = 0;
  if (hipGetDeviceCount(&count) != hipSuccess || count == 0) {
    std::printf("copy probe skipped: no device\n");
    return 0;
  }
  SG_CHECK(hipGetDeviceProperties(&p.prop, 0));
  std::printf("device: %s, %d multiprocessors, L2 %.0f MB\n\n", p.prop.name, p.prop.multiProcessorCount,
              static_cast<double>(p.prop.l2CacheSize) / 1e6);
  std::printf("## 1. Which engine runs a device-to-device cudaMemcpy\n");
  p.engine();
  std::printf("\n## 2. Copies of the benchmark cases' read bytes\n");
  std::printf("(GB/s counts read + write; the ceiling is the fastest copy of the first layout, 1 GiB)\n");
  std::printf("| layout | read MiB | means | us | GB/s | %% of ceiling | dst == src |\n");
  std::printf("| --- | ---: | --- | ---: | ---: | ---: | --- |\n");
  // The 16-bit cases of issue 8 (rows of a 16 KiB run where the source is contiguous: the same addresses either
  // way); f32 cases move twice the bytes of their 16-bit twins, which the larger sizes cover.
  const CopyLayout layouts[] = {
      {"ceiling: contiguous 1 GiB", 32768, 1024, 1024},        // the 1 GiB copy (512 MiB each way)
      {"contiguous 2048x4096 16-bit", 1024, 1024, 1024},        // 16 MiB
      {"contiguous 2048x8192 16-bit", 2048, 1024, 1024},        // 32 MiB; also fused add 2048x4096 (2 x 16)
      {"fused add+post 2048x4096 16-bit", 2560, 1024, 1024},    // 40 MiB read (x, residual, post), as one copy
      {"contiguous 16384x4096 16-bit", 8192, 1024, 1024},       // 128 MiB
      {"qkv Q slice 2048x32x128 16-bit", 2048, 512, 768},       // 8 KiB runs at 12 KiB
      {"qkv K slice 2048x8x128 16-bit", 2048, 128, 768},        // 2 KiB runs at 12 KiB
      {"qkv Q slice 16384x32x128 16-bit", 16384, 512, 768},
      {"qkv K slice 16384x8x128 16-bit", 16384, 128, 768},
  };
  for (const CopyLayout& l : layouts) p.row(l);
  for (const auto& line : p.lines) {
    std::printf("%s %.1f%% | %s |\n", line.text.c_str(), 100 * line.gbs / p.ceiling_gbs, line.ok ? "yes" : "NO");
  }
  if (p.failures != 0) {
    std::fprintf(stderr, "ERROR: %d copies wrote bytes that differ from their source\n", p.failures);
    return 1;
  }
  return 0;
}
