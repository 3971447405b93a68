// Host-side entry to the GPU kernel (kernels/gpu/norm_gpu.hip): launch a Plan on a stream. Plain C++: no HIP or
// CUDA type leaks into the callers (the runner, the benchmark), so they compile with any host compiler.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernels/plan.hpp"

namespace strideguard::gpu {

// Blocks the launch uses for plan p: the row groups (of the launch's block size, see describe_launch), capped (the
// kernel walks row groups grid-stride, exactly as kernels/cpu_backend.cpp's emulate_grid does, so any grid size gives
// the same bits). 0 when nothing runs.
std::int64_t launch_blocks(const Plan& p);

// The launch settings for plan p, for benchmark tables and tests: "kernel=K per_sm=B launch_blocks=N
// block_threads=T stages=S l2_prefetch=0|1 bulk_copy=0|1" (K: the kernel program, one of unstaged, staged,
// staged-one-chunk, staged-wide8, staged-resident, staged-one-stage, rows-across-warps, staged-capped, described in
// kernels/gpu/norm_gpu.hip; B: the most staged blocks a multiprocessor the launch settings allow, 0 for no cap or an
// unstaged kernel; the grid is also capped by how many blocks are resident; T: the plan's
// threads_per_block, or its lanes where small launches run blocks of one row; stages 0: the unstaged kernel;
// l2_prefetch: whether the copies ask L2 for whole lines; bulk_copy: whether each row's stages are filled by bulk
// copies, one a row and chunk, instead of a copy a thread and chunk).
std::string describe_launch(const Plan& p);

// Multiprocessors of device 0, as the launch settings count them (1 if the runtime cannot say).
std::int64_t device_multiprocessors();

// How launch_norm enqueues a kernel (not what it computes: the bytes are the same either way).
struct LaunchOptions {
  // Programmatic dependent launch (CUDA, sm_90+; what FlashInfer's norm kernels take as `enable_pdl`): the kernel
  // may be scheduled while the kernel before it on the stream is still running, so its launch and block start-up
  // hide behind that kernel's last blocks. Every norm kernel waits (griddepcontrol.wait) for the previous kernel to
  // complete and its memory to be visible before its first global memory access, so what it reads and writes is
  // what stream order gives; the kernel after it may start early only if it too was launched so (the caller's
  // choice, and that kernel's duty to wait). No effect on HIP, which has no such launch, and below sm_90, nor on
  // plans with rows across warps (KernelArgs::column_rows), which were slower launched so (norm_gpu.hip).
  bool overlap_previous = false;
};

// Launches p's kernel on `stream` (a hipStream_t / cudaStream_t; nullptr is the default stream). When blocks_ran
// is a device pointer, every block adds 1 to it, so the caller can prove the kernel ran (a launch that silently
// does nothing, e.g. a runtime that failed to initialise, must fail a run). Returns hipSuccess (0) or the launch's
// hipError_t, as an int; the launch is asynchronous, errors inside the kernel show at the next synchronisation.
// @pre p came from plan() for operands that live in device memory.
// @post with options.overlap_previous, the bytes written are those of the same launch without it, also when p's
// inputs are the previous kernel's outputs (test GpuPdlChains.ChainsWriteTheSameBytesWithAndWithoutOverlap).
int launch_norm(const Plan& p, void* stream, unsigned* blocks_ran, const LaunchOptions& options = {});

// How many launches launch_norm has enqueued in this process, by kernel program (describe_launch's kernel=, every
// name present): for tests that must show which kernels their cases reach.
std::map<std::string, std::int64_t> launch_counts();

// A diagnostic build's per-block clock (compiled with -DSG_BLOCK_CLOCK, CUDA only; bench/gpu_bench --block-clock):
// for each of the first `blocks` blocks (at most 16384) of the last launch, the global timer (ns) when it started,
// when its first row group's data was in (staged kernels: its copies had landed; the unstaged kernel: pass 1 had
// used its loads), when it had finished its row groups, and its multiprocessor. Empty in other builds, and where the
// runtime cannot read them back.
struct BlockClock {
  std::uint64_t start_ns = 0;
  std::uint64_t first_data_ns = 0;
  std::uint64_t end_ns = 0;
  int multiprocessor = 0;
};
bool block_clock_built();
std::vector<BlockClock> block_clock(std::int64_t blocks);

// The runtime's name and text for an error code from launch_norm or any call in kernels/gpu/.
std::string error_text(int hip_error);

}  // namespace strideguard::gpu
