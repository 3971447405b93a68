// gpu_bench: the guarded kernels' time and bandwidth on the layouts of issue 8, next to a device-to-device copy
// measured in the same run. CUDA events, warm-up, median of batches, inputs rotated across sets larger than L2,
// random non-zero data. Writes CSV (for bench/torch_bench.py, which adds PyTorch's times) and a table.
//   gpu_bench [--csv FILE] [--quick] [--only SUBSTRING] [--dtype bf16|f16|f32] [--stream-launches]
//   gpu_bench --shape (A,B,..) --stride (S,T,..) [--offset N] [--fused [--post]] [--csv FILE] [--dtype ..]
// Calls are timed as replays of a captured graph (GPU time only); --stream-launches times plain launches from the
// host instead (the method of kernel versions up to v7).
// --only / --dtype run the cases whose name contains SUBSTRING / of one dtype (for profilers such as ncu).
// --shape / --stride / --offset time one x layout of your own instead of the table's cases (its storage: the
// smallest that holds the view; out, and for --fused residual, residual_out and with --post post_residual_addition,
// contiguous), measured and reported as the table's cases are: e.g. a model's hidden size, or the same bytes at
// other row widths (docs/performance.md, stop 20).
// Per case also the guard's host cost a call (plan() and the launch decision), next to the host cost of enqueueing a
// launch of an empty kernel with the same parameters, measured once a run.
#include "kernels/gpu/hip_compat.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_case.hpp"
#include "bench/gpu_timing.hpp"
#include "bench/layout_copy.hpp"
#include "harness/case_builder.hpp"
#include "kernels/cpu_backend.hpp"
#include "kernels/gpu/norm_gpu.hpp"
#include "kernels/plan.hpp"

using namespace strideguard;
using namespace strideguard::bench;

namespace {

// Non-zero values in +-[0.25, 2): a hash of the index, so every set and every element differ.
template <DType kD>
__global__ void fill_random(typename DTypeTraits<kD>::Storage* p, std::int64_t n, std::uint64_t seed) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    std::uint64_t h = (static_cast<std::uint64_t>(i) + seed) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    const float mag = 0.25f + static_cast<float>(h & 0xffffff) * (1.75f / 16777216.f);
    p[i] = DTypeTraits<kD>::from_f32((h >> 40) & 1 ? -mag : mag);
  }
}

void fill(DType t, void* p, std::int64_t n, std::uint64_t seed) {
  const dim3 grid(1024), block(256);
  switch (t) {
    case DType::kF32: hipLaunchKernelGGL(fill_random<DType::kF32>, grid, block, 0, nullptr, static_cast<float*>(p), n, seed); break;
    case DType::kF16: hipLaunchKernelGGL(fill_random<DType::kF16>, grid, block, 0, nullptr, static_cast<std::uint16_t*>(p), n, seed); break;
    case DType::kBF16: hipLaunchKernelGGL(fill_random<DType::kBF16>, grid, block, 0, nullptr, static_cast<std::uint16_t*>(p), n, seed); break;
  }
  SG_CHECK(hipGetLastError());
}

// One input/output set on the device.
struct Set {
  NormCall call;
  std::vector<void*> owned;
};

void* device_alloc(std::size_t bytes, Set& s) {
  void* p = nullptr;
  SG_CHECK(hipMalloc(&p, std::max<std::size_t>(bytes, 16)));
  s.owned.push_back(p);
  return p;
}

Set make_set(const BenchCase& bc, DType t, std::uint64_t seed) {
  Set s;
  const int es = dtype_size(t);
  const std::int64_t hidden = bc.x.shape[bc.x.rank - 1];
  const std::int64_t n = *numel(bc.x);
  const Layout dense = contiguous_like(bc.x);
  NormCall& c = s.call;
  c.op = bc.op;
  c.eps = 1e-6f;
  auto operand = [&](OperandId id, const Layout& l, std::int64_t elems, bool input) {
    void* p = device_alloc(static_cast<std::size_t>(elems) * es, s);
    if (input) fill(t, p, elems, seed * 16 + static_cast<std::uint64_t>(id));
    c[id] = {true, p, t, l, elems};
  };
  operand(OperandId::kX, bc.x, bc.x_storage, true);
  Layout w;
  w.rank = 1;
  w.shape[0] = hidden;
  w.stride[0] = 1;
  operand(OperandId::kWeight, w, hidden, true);
  operand(OperandId::kOut, dense, n, false);
  if (bc.op == Op::kFusedAddRmsNorm) {
    operand(OperandId::kResidual, dense, n, true);
    operand(OperandId::kResidualOut, dense, n, false);
    if (bc.post) operand(OperandId::kPostResidualAddition, dense, n, true);
  }
  return s;
}

// Bytes the work must move: each input element read once, each output written once.
double bytes_moved(const BenchCase& bc, DType t) {
  const double n = static_cast<double>(*numel(bc.x)), es = dtype_size(t);
  const double hidden = static_cast<double>(bc.x.shape[bc.x.rank - 1]);
  double b = 2 * n * es + hidden * es;  // x in, out out, weight in
  if (bc.op == Op::kFusedAddRmsNorm) b += (bc.post ? 3 : 2) * n * es;  // residual in, residual_out out, post in
  return b;
}

// Host cost of the guard, per call (no GPU time in it): nanoseconds of host time per call of f, the median of 15
// rounds of `calls` calls after a warm-up round. f returns a value the rounds accumulate, so no call is optimised away.
template <class F>
double host_ns_per_call(int calls, F&& f) {
  std::int64_t sink = 0;
  for (int i = 0; i < calls; ++i) sink += f();
  std::vector<double> ns;
  for (int round = 0; round < 15; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) sink += f();
    const auto t1 = std::chrono::steady_clock::now();
    ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / calls);
  }
  static volatile std::int64_t keep = 0;
  keep = keep + sink;
  std::sort(ns.begin(), ns.end());
  return ns[ns.size() / 2];
}

// The yardstick for that host cost: enqueueing one launch of a kernel that does nothing, with the same parameters
// as the norm kernels (the ~900-byte KernelArgs): what any launch costs the host, before a guard adds anything.
__global__ void empty_kernel(SG_GRID_CONSTANT const KernelArgs, std::int64_t, int, unsigned*) {}

// Host microseconds to enqueue one such launch: the median over 30 batches of 64 launches (each batch then waits
// for the device, outside the timing, so the launch queue never fills).
double bare_launch_us() {
  const KernelArgs a{};
  std::vector<double> us;
  for (int batch = 0; batch < 31; ++batch) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 64; ++i) hipLaunchKernelGGL(empty_kernel, dim3(1), dim3(32), 0, nullptr, a, 0, 0, nullptr);
    const auto t1 = std::chrono::steady_clock::now();
    SG_CHECK(hipGetLastError());
    SG_CHECK(hipDeviceSynchronize());
    if (batch > 0) us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / 64);  // 0: warm-up
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

// A device-to-device copy moving the same bytes as a case (need / 2 read, need / 2 written), timed the way the
// case was (graph replays or host launches), rotating through nsets source/destination pairs as the case rotates
// its sets: what a copy achieves at this size, launch and ramp included. The 1 GiB ceiling is the asymptote; for
// the 2048-token cases (8-70 MB) a copy's own fixed cost is a visible part of its time.
double same_size_copy_ms(double need, int nsets, bool graphs) {
  const auto half = static_cast<std::size_t>(need / 2 + 255) / 256 * 256;
  std::vector<void*> src(static_cast<std::size_t>(nsets)), dst(static_cast<std::size_t>(nsets));
  for (int k = 0; k < nsets; ++k) {
    SG_CHECK(hipMalloc(&src[static_cast<std::size_t>(k)], half));
    SG_CHECK(hipMalloc(&dst[static_cast<std::size_t>(k)], half));
    SG_CHECK(hipMemset(src[static_cast<std::size_t>(k)], 0x3c, half));
  }
  auto copy = [&](int k, hipStream_t st) {
    SG_CHECK(hipMemcpyAsync(dst[static_cast<std::size_t>(k)], src[static_cast<std::size_t>(k)], half,
                            hipMemcpyDeviceToDevice, st));
  };
  const double ms = graphs ? median_graph_ms(nsets, copy) : median_ms(nsets, [&](int k) { copy(k, nullptr); });
  SG_CHECK(hipDeviceSynchronize());
  for (int k = 0; k < nsets; ++k) {
    SG_CHECK(hipFree(src[static_cast<std::size_t>(k)]));
    SG_CHECK(hipFree(dst[static_cast<std::size_t>(k)]));
  }
  return ms;
}

// The layout copy's arguments for one set: x through its view, the other operands dense. std::nullopt, with the
// reason in *why, for a layout it cannot copy as 16-byte chunks of rows (gpu_bench --shape only; every table case
// can be): x of rank other than 2 or 3 or with a column stride other than 1, rows, offset or pitches that are not
// whole chunks, or 2^31 chunks or more where chunks per row or heads are not powers of two.
std::optional<LayoutCopyArgs> layout_copy_args(const Set& s, int es, std::string* why) {
  const NormCall& c = s.call;
  const Layout& x = c[OperandId::kX].layout;
  const std::int64_t per_chunk = 16 / es;
  auto fail = [&](std::string w) {
    *why = std::move(w);
    return std::nullopt;
  };
  if (x.rank < 2 || x.rank > 3 || x.stride[x.rank - 1] != 1) {
    return fail("x is not of rank 2 or 3 with unit column stride");
  }
  const std::int64_t hidden = x.shape[x.rank - 1];
  const std::int64_t heads = x.rank == 3 ? x.shape[1] : 1;
  for (const std::int64_t v : {hidden, x.offset, x.stride[0], x.rank == 3 ? x.stride[1] : 0}) {
    if (v % per_chunk != 0) return fail("x's rows, offset or pitches are not whole 16-byte chunks");
  }
  LayoutCopyArgs a;
  const std::int64_t cpr = hidden / per_chunk;
  a.chunks = *numel(x) / per_chunk;
  a.x_off = x.offset / per_chunk;
  a.pitch0 = x.stride[0] / per_chunk;
  a.pitch1 = x.rank == 3 ? x.stride[1] / per_chunk : 0;
  const bool pow2 = (cpr & (cpr - 1)) == 0 && (heads & (heads - 1)) == 0;
  if (pow2) {
    a.cpr_log2 = ceil_log2(cpr);
    a.heads_log2 = ceil_log2(heads);
  } else {
    if (a.chunks >= (std::int64_t{1} << 31)) return fail("2^31 chunks or more, with rows or heads not powers of two");
    a.general = true;
    a.cpr = FastDiv::make(cpr);
    a.heads = FastDiv::make(heads);
  }
  a.in[0] = static_cast<const uint4*>(c[OperandId::kX].data);
  a.out[0] = static_cast<uint4*>(c[OperandId::kOut].data);
  if (c.op == Op::kFusedAddRmsNorm) {
    a.in[a.n_in++] = static_cast<const uint4*>(c[OperandId::kResidual].data);
    if (c[OperandId::kPostResidualAddition].present) {
      a.in[a.n_in++] = static_cast<const uint4*>(c[OperandId::kPostResidualAddition].data);
    }
    a.out[a.n_out++] = static_cast<uint4*>(c[OperandId::kResidualOut].data);
  }
  return a;
}

// The layout copy's time per call over `sets` (rotated and timed as the case was), the faster of
// layout_copy_grids. @pre layout_copy_args holds for every set.
double layout_copy_ms(const std::vector<LayoutCopyArgs>& args, int multiprocessors, bool graphs) {
  const LayoutCopyFn k = layout_copy_kernel(args[0].n_in, args[0].n_out, args[0].general);
  const auto nsets = static_cast<int>(args.size());
  double best = 0;
  for (const std::int64_t blocks : layout_copy_grids(args[0].chunks, multiprocessors)) {
    auto copy = [&](int i, hipStream_t st) {
      hipLaunchKernelGGL(k, dim3(static_cast<unsigned>(blocks)), dim3(256), 0, st, args[static_cast<std::size_t>(i)]);
      SG_CHECK(hipGetLastError());
    };
    const double ms = graphs ? median_graph_ms(nsets, copy) : median_ms(nsets, [&](int i) { copy(i, nullptr); });
    if (best == 0 || ms < best) best = ms;
  }
  SG_CHECK(hipDeviceSynchronize());
  return best;
}

// Checks the layout copy against the host: every output chunk the XOR of the inputs' chunks (set 0, after a run),
// x's chunk found from x's layout by plain division, not by the kernel's x_chunk.
bool layout_copy_correct(const Set& s, const LayoutCopyArgs& a, int es) {
  const NormCall& c = s.call;
  const Layout& x = c[OperandId::kX].layout;
  const std::int64_t per_chunk = 16 / es, cpr = x.shape[x.rank - 1] / per_chunk, heads = x.rank == 3 ? x.shape[1] : 1;
  const auto x_chunk = [&](std::int64_t i) {
    const std::int64_t r = i / cpr;
    return (x.offset + (r / heads) * x.stride[0] + (x.rank == 3 ? (r % heads) * x.stride[1] : 0)) / per_chunk + i % cpr;
  };
  auto fetch = [&](OperandId id) {
    std::vector<uint4> h(static_cast<std::size_t>(c[id].storage_elems * es / 16));
    SG_CHECK(hipMemcpy(h.data(), c[id].data, h.size() * 16, hipMemcpyDeviceToHost));
    return h;
  };
  std::vector<std::vector<uint4>> in{fetch(OperandId::kX)};
  if (a.n_in > 1) in.push_back(fetch(OperandId::kResidual));
  if (a.n_in > 2) in.push_back(fetch(OperandId::kPostResidualAddition));
  std::vector<std::vector<uint4>> out{fetch(OperandId::kOut)};
  if (a.n_out > 1) out.push_back(fetch(OperandId::kResidualOut));
  for (std::int64_t i = 0; i < a.chunks; ++i) {
    uint4 v = in[0][static_cast<std::size_t>(x_chunk(i))];
    for (std::size_t k = 1; k < in.size(); ++k) xor_into(v, in[k][static_cast<std::size_t>(i)]);
    for (const auto& o : out) {
      const uint4 got = o[static_cast<std::size_t>(i)];
      if (got.x != v.x || got.y != v.y || got.z != v.z || got.w != v.w) return false;
    }
  }
  return true;
}

// The GPU's bytes of out (and residual_out) against the CPU backend's run of the same plan on host copies.
bool matches_cpu(const Set& s, DType t) {
  NormCall host = s.call;
  std::vector<std::vector<std::byte>> mem;
  for (OperandId id : kAllOperands) {
    if (!s.call[id].present) continue;
    const std::size_t bytes = static_cast<std::size_t>(s.call[id].storage_elems) * dtype_size(t);
    mem.emplace_back(bytes + 16);
    // 16-byte aligned host copies: the same vector decision as the device buffers (cudaMalloc is 256-aligned).
    auto* p = reinterpret_cast<std::byte*>((reinterpret_cast<std::uintptr_t>(mem.back().data()) + 15) / 16 * 16);
    SG_CHECK(hipMemcpy(p, s.call[id].data, bytes, hipMemcpyDeviceToHost));
    host[id].data = p;
  }
  // Reset the outputs the CPU writes, so equal bytes mean the CPU computed them too.
  for (OperandId id : {OperandId::kOut, OperandId::kResidualOut}) {
    if (host[id].present) std::memset(host[id].data, 0x5a, static_cast<std::size_t>(host[id].storage_elems) * dtype_size(t));
  }
  const PlanResult pr = plan(host);
  CpuRunOptions o;
  o.check_accesses = false;  // speed: the props and tests check accesses
  (void)run_cpu(pr.plan, storage_sizes(host), o);
  for (OperandId id : {OperandId::kOut, OperandId::kResidualOut}) {
    if (!host[id].present) continue;
    const std::size_t bytes = static_cast<std::size_t>(host[id].storage_elems) * dtype_size(t);
    std::vector<std::byte> dev(bytes);
    SG_CHECK(hipMemcpy(dev.data(), s.call[id].data, bytes, hipMemcpyDeviceToHost));
    if (std::memcmp(dev.data(), host[id].data, bytes) != 0) return false;
  }
  return true;
}

std::vector<BenchCase> cases(bool quick) {
  std::vector<BenchCase> v;
  auto add = [&](std::string name, Op op, bool post, Layout x, std::int64_t storage) {
    v.push_back({std::move(name), op, post, x, storage});
  };
  const std::vector<std::int64_t> tokens = quick ? std::vector<std::int64_t>{16384} : std::vector<std::int64_t>{2048, 16384};
  for (std::int64_t t : tokens) {
    for (std::int64_t h : {4096, 8192}) {
      add("contiguous " + std::to_string(t) + "x" + std::to_string(h), Op::kRmsNorm, false,
          *make_layout({t, h}, {h, 1}), t * h);
    }
  }
  for (std::int64_t t : tokens) {  // packed QKV, 32 q heads and 8 kv heads of 128: pitch (32 + 2 * 8) * 128
    add("qkv Q slice " + std::to_string(t) + "x32x128", Op::kRmsNorm, false,
        *make_layout({t, 32, 128}, {6144, 128, 1}), t * 6144);
    add("qkv K slice " + std::to_string(t) + "x8x128", Op::kRmsNorm, false,
        *make_layout({t, 8, 128}, {6144, 128, 1}, 4096), t * 6144);
  }
  add("row-padded 16384x4096 pitch 5120", Op::kRmsNorm, false, *make_layout({16384, 4096}, {5120, 1}), 16384 * 5120);
  // Wide rows (hidden 16384, e.g. Llama 3 405B): 8 chunks a thread in 16-bit, past the plan's register cache.
  add("contiguous 4096x16384", Op::kRmsNorm, false, *make_layout({4096, 16384}, {16384, 1}), 4096 * 16384);
  // The same rows through fused add (every layer of such a model): 8 chunks a thread and three row operands.
  add("fused add 4096x16384", Op::kFusedAddRmsNorm, false, *make_layout({4096, 16384}, {16384, 1}), 4096 * 16384);
  for (std::int64_t t : tokens) {
    add("fused add " + std::to_string(t) + "x4096", Op::kFusedAddRmsNorm, false, *make_layout({t, 4096}, {4096, 1}), t * 4096);
    add("fused add+post " + std::to_string(t) + "x4096", Op::kFusedAddRmsNorm, true, *make_layout({t, 4096}, {4096, 1}),
        t * 4096);
  }
  return v;
}

// --block-clock: three more launches of the case, each alone in stream order (launch(k) enqueues set k's call),
// and each one's per-block clock (gpu::block_clock) as DIR/<case>_<dtype>_<n>.csv, times in ns from the launch's
// first block start (bench/block_clock.py summarises them).
template <class Launch>
void write_block_clocks(const std::string& dir, const std::string& name, DType t, Launch&& launch, int nsets,
                        std::int64_t blocks) {
  for (int n = 0; n < 3; ++n) {
    launch(n % nsets);
    SG_CHECK(hipDeviceSynchronize());
    const std::vector<gpu::BlockClock> v = gpu::block_clock(blocks);
    std::string file = name + "_" + std::string(to_string(t)) + "_" + std::to_string(n) + ".csv";
    std::replace(file.begin(), file.end(), ' ', '_');
    file = dir + "/" + file;
    FILE* f = std::fopen(file.c_str(), "w");
    if (f == nullptr || v.empty()) {
      std::fprintf(stderr, "ERROR: --block-clock: cannot write %s, or no clock read back\n", file.c_str());
      std::exit(1);
    }
    std::uint64_t t0 = v[0].start_ns;
    for (const gpu::BlockClock& c : v) t0 = std::min(t0, c.start_ns);
    std::fprintf(f, "block,multiprocessor,start_ns,first_data_ns,end_ns\n");
    for (std::size_t b = 0; b < v.size(); ++b) {
      std::fprintf(f, "%zu,%d,%llu,%llu,%llu\n", b, v[b].multiprocessor,
                   static_cast<unsigned long long>(v[b].start_ns - t0),
                   static_cast<unsigned long long>(v[b].first_data_ns - t0),
                   static_cast<unsigned long long>(v[b].end_ns - t0));
    }
    std::fclose(f);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string csv_path, only, only_dtype, clock_dir, shape_s, stride_s, offset_s;
  bool quick = false, graphs = true, fused = false, post = false;
  const char* usage =
      "usage: gpu_bench [--csv FILE] [--quick] [--only SUBSTRING] [--dtype bf16|f16|f32] [--stream-launches]\n"
      "                 [--block-clock DIR]  (a build with -DSG_BLOCK_CLOCK: per-block times, DIR/<case>_<dtype>_<n>.csv)\n"
      "                 [--shape (A,B,..) --stride (S,T,..) [--offset N] [--fused [--post]]]  (one x layout of your\n"
      "                 own instead of the table's cases)\n";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--csv" && i + 1 < argc) {
      csv_path = argv[++i];
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--stream-launches") {
      graphs = false;
    } else if (a == "--block-clock" && i + 1 < argc) {
      clock_dir = argv[++i];
      if (!gpu::block_clock_built()) {
        std::fprintf(stderr, "ERROR: --block-clock: this gpu_bench was built without -DSG_BLOCK_CLOCK\n%s", usage);
        return 2;
      }
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a == "--shape" && i + 1 < argc) {
      shape_s = argv[++i];
    } else if (a == "--stride" && i + 1 < argc) {
      stride_s = argv[++i];
    } else if (a == "--offset" && i + 1 < argc) {
      offset_s = argv[++i];
    } else if (a == "--fused") {
      fused = true;
    } else if (a == "--post") {
      post = true;
    } else if (a == "--dtype" && i + 1 < argc) {
      only_dtype = argv[++i];
      if (!parse_dtype(only_dtype)) {
        std::fprintf(stderr, "ERROR: --dtype: expected bf16, f16 or f32, got '%s'\n%s", only_dtype.c_str(), usage);
        return 2;
      }
    } else {
      std::fprintf(stderr, "ERROR: unknown or incomplete argument %s\n%s", a.c_str(), usage);
      return 2;
    }
  }
  const bool custom = !shape_s.empty() || !stride_s.empty() || !offset_s.empty() || fused || post;
  if (custom && (quick || !only.empty())) {
    std::fprintf(stderr, "ERROR: --shape replaces the table's cases: not with --quick or --only\n%s", usage);
    return 2;
  }
  // Usage errors in the layout are found without a device (the total memory is checked once one is there).
  if (custom) {
    const CustomCase cc =
        custom_case(shape_s, stride_s, offset_s, fused, post, std::numeric_limits<std::size_t>::max());
    if (!cc.value) {
      std::fprintf(stderr, "ERROR: %s\n%s", cc.error.c_str(), usage);
      return 2;
    }
  }
  int count = 0;
  if (hipGetDeviceCount(&count) != hipSuccess || count == 0) {
    std::printf("GPU benchmark skipped: no device\n");
    return 0;
  }
  hipDeviceProp_t prop;
  SG_CHECK(hipGetDeviceProperties(&prop, 0));
  std::vector<BenchCase> run_cases;
  if (custom) {
    const CustomCase cc = custom_case(shape_s, stride_s, offset_s, fused, post, prop.totalGlobalMem);
    if (!cc.value) {
      std::fprintf(stderr, "ERROR: %s\n%s", cc.error.c_str(), usage);
      return 2;
    }
    run_cases.push_back(*cc.value);
  } else {
    run_cases = cases(quick);
  }
  const double l2 = static_cast<double>(prop.l2CacheSize);
  std::printf("device: %s, %d multiprocessors, L2 %.0f MB\n", prop.name, prop.multiProcessorCount, l2 / 1e6);

  // Copy ceiling: a 1 GiB device-to-device copy, bytes read plus bytes written.
  const std::size_t copy_bytes = std::size_t{1} << 30;
  void *src = nullptr, *dst = nullptr;
  SG_CHECK(hipMalloc(&src, copy_bytes));
  SG_CHECK(hipMalloc(&dst, copy_bytes));
  SG_CHECK(hipMemset(src, 0x3c, copy_bytes));
  const double copy_ms = median_ms(1, [&](int) { SG_CHECK(hipMemcpyAsync(dst, src, copy_bytes, hipMemcpyDeviceToDevice, nullptr)); }, 10, 3);
  const double memcpy_gbs = 2.0 * copy_bytes / (copy_ms * 1e-3) / 1e9;
  // The same 1 GiB through the layout-copy kernel (2^26 rows of one chunk, one chunk apart): the ceiling is the
  // faster of the two copies.
  LayoutCopyArgs big;
  big.in[0] = static_cast<const uint4*>(src);
  big.out[0] = static_cast<uint4*>(dst);
  big.chunks = static_cast<std::int64_t>(copy_bytes / 16);
  big.pitch0 = 1;
  double kernel_ms = 0;
  for (const std::int64_t blocks : layout_copy_grids(big.chunks, prop.multiProcessorCount)) {
    const double ms = median_ms(1, [&](int) {
      hipLaunchKernelGGL((layout_copy<1, 1>), dim3(static_cast<unsigned>(blocks)), dim3(256), 0, nullptr, big);
      SG_CHECK(hipGetLastError());
    }, 10, 3);
    if (kernel_ms == 0 || ms < kernel_ms) kernel_ms = ms;
  }
  const double kernel_gbs = 2.0 * copy_bytes / (kernel_ms * 1e-3) / 1e9;
  const double copy_gbs = std::max(memcpy_gbs, kernel_gbs);
  SG_CHECK(hipFree(src));
  SG_CHECK(hipFree(dst));
  std::printf("copy ceiling: %.0f GB/s (1 GiB device-to-device, read + write: cudaMemcpyAsync %.0f GB/s, copy kernel "
              "%.0f GB/s)\n", copy_gbs, memcpy_gbs, kernel_gbs);

  const double launch_us = bare_launch_us();
  std::printf("host: enqueueing a launch of an empty kernel with the norm kernels' parameters: %.2f us\n", launch_us);

  FILE* csv = csv_path.empty() ? nullptr : std::fopen(csv_path.c_str(), "w");
  if (!csv_path.empty() && csv == nullptr) {
    std::fprintf(stderr, "ERROR: cannot write %s\n", csv_path.c_str());
    return 1;
  }
  if (csv) std::fprintf(csv, "case,dtype,us,bytes,gbs,copy_gbs,of_copy,plan,cpu_match,copy_same_us,layout_copy_us,plan_ns,"
                        "decide_ns,bare_launch_us,overlap_us\n");
  std::printf("%-34s %-5s %9s %9s %8s %7s %9s %9s %9s  %s\n", "case", "dtype", "us", "MB", "GB/s", "of copy", "of same",
              "of layout", "overlap", "plan");
  int failures = 0;
  for (const BenchCase& bc : run_cases) {
    if (bc.name.find(only) == std::string::npos) continue;
    for (DType t : {DType::kBF16, DType::kF16, DType::kF32}) {
      if (!only_dtype.empty() && to_string(t) != only_dtype) continue;
      const double need = bytes_moved(bc, t);
      // Enough sets that one round of them is over 3x the L2: every call reads its inputs from memory.
      const int nsets = std::max(2, std::min(24, static_cast<int>(3 * l2 / need) + 1));
      std::vector<Set> sets;
      for (int k = 0; k < nsets; ++k) sets.push_back(make_set(bc, t, static_cast<std::uint64_t>(k) + 1));
      std::vector<Plan> plans;
      for (const Set& s : sets) {
        const PlanResult pr = plan(s.call);
        if (!pr.ok()) {  // the table's cases never are: a layout of --shape may be (a usage error)
          std::fprintf(stderr, "ERROR: %s rejected: %s\n", bc.name.c_str(), describe_rejection(s.call, pr).c_str());
          return custom ? 2 : 1;
        }
        plans.push_back(pr.plan);
      }
      // The guard's host cost per call: plan() (validation and the kernel contract) and the launch decision
      // (launch_blocks runs what launch_norm runs before it enqueues).
      const double plan_ns = host_ns_per_call(2000, [&] { return plan(sets[0].call).plan.grid_blocks; });
      const double decide_ns = host_ns_per_call(2000, [&] { return gpu::launch_blocks(plans[0]); });
      gpu::LaunchOptions overlap;
      overlap.overlap_previous = true;
      auto launch_with = [&](const gpu::LaunchOptions& o) {
        return [&plans, o](int k, hipStream_t st) {
          const int e = gpu::launch_norm(plans[static_cast<std::size_t>(k)], st, nullptr, o);
          if (e != 0) {
            std::fprintf(stderr, "ERROR: launch failed: %s\n", gpu::error_text(e).c_str());
            std::exit(1);
          }
        };
      };
      auto time_calls = [&](auto launch) {
        return graphs ? median_graph_ms(nsets, launch) : median_ms(nsets, [&](int k) { launch(k, nullptr); });
      };
      const double ms = time_calls(launch_with({}));
      // The same calls, each launched to overlap the one before it (programmatic dependent launch), last: the
      // GPU == CPU check below reads what these launches wrote.
      const double overlap_ms = time_calls(launch_with(overlap));
      SG_CHECK(hipDeviceSynchronize());
      if (!clock_dir.empty()) write_block_clocks(clock_dir, bc.name, t, [&](int k) { launch_with({})(k, nullptr); },
                                                 nsets, gpu::launch_blocks(plans[0]));
      const bool small = *numel(bc.x) <= 2048 * 8192;
      const bool match = small ? matches_cpu(sets[0], t) : true;
      if (!match) ++failures;
      const double gbs = need / (ms * 1e-3) / 1e9;
      const std::string p = describe_plan(plans[0]) + " " + gpu::describe_launch(plans[0]);
      // The layout copy, where the layout allows one (every table case does; a --shape layout may not: then "-").
      std::vector<LayoutCopyArgs> copy_args;
      std::string no_copy;
      for (const Set& s : sets) {
        if (const auto a = layout_copy_args(s, dtype_size(t), &no_copy)) copy_args.push_back(*a);
      }
      double layout_ms = 0;  // 0: not measured
      if (copy_args.size() == sets.size()) {
        layout_ms = layout_copy_ms(copy_args, prop.multiProcessorCount, graphs);
        if (!layout_copy_correct(sets[0], copy_args[0], dtype_size(t))) {
          std::fprintf(stderr, "ERROR: %s %s: the layout copy wrote wrong bytes\n", bc.name.c_str(),
                       std::string(to_string(t)).c_str());
          return 1;
        }
      } else if (!custom) {
        std::fprintf(stderr, "ERROR: %s: no layout copy: %s\n", bc.name.c_str(), no_copy.c_str());
        return 1;
      } else {
        std::printf("note: %s: no layout copy (%s)\n", bc.name.c_str(), no_copy.c_str());
      }
      for (Set& s : sets) {
        for (void* q : s.owned) SG_CHECK(hipFree(q));
      }
      const double same_ms = same_size_copy_ms(need, nsets, graphs);
      char of_layout[16] = "        -", layout_us[32] = "";  // not measured: "-" in the table, empty in the CSV
      if (layout_ms > 0) {
        std::snprintf(of_layout, sizeof of_layout, "%8.1f%%", 100 * layout_ms / ms);
        std::snprintf(layout_us, sizeof layout_us, "%.3f", layout_ms * 1e3);
      }
      std::printf("%-34s %-5s %9.1f %9.1f %8.0f %6.1f%% %8.1f%% %s %9.1f  %s%s host plan %.0f ns, decide %.0f ns\n",
                  bc.name.c_str(), std::string(to_string(t)).c_str(), ms * 1e3, need / 1e6, gbs, 100 * gbs / copy_gbs,
                  100 * same_ms / ms, of_layout, overlap_ms * 1e3, p.c_str(),
                  small ? (match ? " [GPU==CPU]" : " [GPU!=CPU]") : "", plan_ns, decide_ns);
      if (csv) {
        std::fprintf(csv, "%s,%s,%.3f,%.0f,%.1f,%.1f,%.4f,%s,%s,%.3f,%s,%.1f,%.1f,%.3f,%.3f\n", csv_field(bc.name).c_str(),
                     std::string(to_string(t)).c_str(), ms * 1e3, need, gbs, copy_gbs, gbs / copy_gbs, csv_field(p).c_str(),
                     small ? (match ? "yes" : "NO") : "not checked", same_ms * 1e3, layout_us, plan_ns, decide_ns,
                     launch_us, overlap_ms * 1e3);
      }
    }
  }
  if (csv) std::fclose(csv);
  if (failures) std::printf("ERROR: %d case(s) where the GPU's bytes differ from the CPU backend's\n", failures);
  return failures ? 1 : 0;
}
