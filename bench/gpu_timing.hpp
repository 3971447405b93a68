// Timing and error checks shared by the GPU benchmarks (bench/gpu_bench.hip, bench/copy_probe.hip): CUDA/HIP
// events around batches of calls, the median batch, and the same with the calls captured into a graph.
#pragma once

#include "kernels/gpu/hip_compat.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kernels/gpu/norm_gpu.hpp"

namespace strideguard::bench {

// Runs a runtime call; on an error, prints it with the call's text and exits 1.
#define SG_CHECK(expr)                                                                             \
  do {                                                                                             \
    const hipError_t e_ = (expr);                                                                  \
    if (e_ != hipSuccess) {                                                                        \
      std::fprintf(stderr, "ERROR: %s failed: %s (%s:%d)\n", #expr, ::strideguard::gpu::error_text(e_).c_str(), \
                   __FILE__, __LINE__);                                                            \
      std::exit(1);                                                                                \
    }                                                                                              \
  } while (0)

// Median over `batches` of (event time around run_batch() on `stream`) / calls_per_batch, in milliseconds.
template <class Batch>
double median_batch_ms(hipStream_t stream, int batches, int calls_per_batch, Batch&& run_batch) {
  hipEvent_t a, b;
  SG_CHECK(hipEventCreate(&a));
  SG_CHECK(hipEventCreate(&b));
  std::vector<double> ms;
  for (int k = 0; k < batches; ++k) {
    SG_CHECK(hipEventRecord(a, stream));
    run_batch();
    SG_CHECK(hipEventRecord(b, stream));
    SG_CHECK(hipEventSynchronize(b));
    float t = 0;
    SG_CHECK(hipEventElapsedTime(&t, a, b));
    ms.push_back(t / calls_per_batch);
  }
  SG_CHECK(hipEventDestroy(a));
  SG_CHECK(hipEventDestroy(b));
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Median milliseconds per call of f(set) over `batches` batches of `reps` calls, rotating through sets.
template <class F>
double median_ms(int nsets, F&& f, int batches = 30, int reps = 10) {
  int next = 0;
  for (int i = 0; i < 3 * nsets + 10; ++i) f(next++ % nsets);  // warm-up: module load, first touch, clocks
  SG_CHECK(hipDeviceSynchronize());
  return median_batch_ms(nullptr, batches, reps, [&] {
    for (int r = 0; r < reps; ++r) f(next++ % nsets);
  });
}

// The same with the calls captured into a graph (one graph of max(10, nsets) calls, rotating through the sets,
// replayed per batch): the GPU's time alone, without the host's launch cost between calls, which for the small
// (2048-token) cases is close to the kernel's own time. f(k, stream) launches on `stream`.
template <class F>
double median_graph_ms(int nsets, F&& f, int batches = 30) {
  const int reps = std::max(10, nsets);
  hipStream_t st;
  SG_CHECK(hipStreamCreate(&st));
  for (int i = 0; i < 3 * nsets + 10; ++i) f(i % nsets, st);  // warm-up: module load, first touch, clocks
  SG_CHECK(hipStreamSynchronize(st));
  hipGraph_t graph;
  hipGraphExec_t exec;
  SG_CHECK(hipStreamBeginCapture(st, hipStreamCaptureModeThreadLocal));
  for (int r = 0; r < reps; ++r) f(r % nsets, st);
  SG_CHECK(hipStreamEndCapture(st, &graph));
  SG_CHECK(hipGraphInstantiate(&exec, graph, nullptr, nullptr, 0));
  for (int i = 0; i < 3; ++i) SG_CHECK(hipGraphLaunch(exec, st));
  SG_CHECK(hipStreamSynchronize(st));
  const double ms = median_batch_ms(st, batches, reps, [&] { SG_CHECK(hipGraphLaunch(exec, st)); });
  SG_CHECK(hipGraphExecDestroy(exec));
  SG_CHECK(hipGraphDestroy(graph));
  SG_CHECK(hipStreamDestroy(st));
  return ms;
}

}  // namespace strideguard::bench
