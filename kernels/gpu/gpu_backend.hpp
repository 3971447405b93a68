// The GPU backend as the harness sees it: a GpuRunner (harness/oracle.hpp) that runs each Case on the device in
// guarded memory, in a worker process that a device fault may kill without taking the caller's run with it.
#pragma once

#include <cstdint>
#include <string>

#include "harness/case.hpp"
#include "kernels/gpu/device_arena.hpp"
#include "kernels/norm_call.hpp"

namespace strideguard {

enum class GpuIsolation : std::uint8_t {
  kWorker,     // a forked worker process owns the device; a fault kills it and the next case gets a fresh one
  kInProcess,  // this process owns the device: a fault (kGuard) leaves it unusable for the rest of the run
};

struct GpuBackendOptions {
  GpuIsolation isolation = GpuIsolation::kWorker;
  gpu::Redzone redzone = gpu::Redzone::kGuard;
  int timeout_s = 120;  // a worker that answers nothing for this long is killed and the case fails
};

// Options from the environment: SG_GPU_MODE = "isolated" (default: worker + unmapped guards), "poison"
// (in-process + NaN-filled mapped redzones: never faults, for compute-sanitizer and long in-process runs) or
// "inprocess" (in-process + unmapped guards). false and a reason for any other value.
bool gpu_options_from_env(GpuBackendOptions* o, std::string* why_not);

// Starts the backend (worker mode: forks the worker, which opens the device; this process never initialises the
// GPU runtime, so a worker can be forked again after a fault) and registers it with set_gpu_runner(). Returns
// false with a clear reason when there is no device, no driver or no virtual-memory support.
// @pre in worker mode, this process has not used the GPU runtime (a forked child cannot use a parent's context).
bool register_gpu_backend(std::string* why_not);
bool register_gpu_backend(const GpuBackendOptions& options, std::string* why_not);

// The registered runner itself (what run_case calls for Backend::kGpu): mirrors the host storages of `host_call`
// to the device, runs, and leaves the device's bytes in the host storages. "" on success, else the failure
// (device fault with operand and placement where known, canary, kernel that did not run).
// @pre register_gpu_backend() returned true.
std::string run_on_gpu(const NormCall& host_call, const Case& c);

// "NVIDIA H100 80GB HBM3 (cuda, 132 multiprocessors, redzone guard), isolation worker"; "" before registration.
std::string gpu_backend_description();

struct GpuBackendStats {
  std::int64_t cases = 0;
  std::int64_t device_faults = 0;    // cases that lost the context (each one replaced the worker)
  std::int64_t worker_starts = 0;
};
GpuBackendStats gpu_backend_stats();

}  // namespace strideguard
