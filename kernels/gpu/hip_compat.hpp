// HIP names on both vendors: <hip/hip_runtime.h> under hipcc; under nvcc, the few HIP names strideguard uses,
// mapped onto the CUDA runtime and driver APIs (Debian's HIP 5.2 NVIDIA headers do not compile against CUDA 13).
//
// Everything in kernels/gpu/ is written against the HIP spelling; this header is the only place that knows CUDA.
// It maps exactly what the code uses, nothing speculative: add a name here when the code starts using it.
#pragma once

#include <cstdint>

#if defined(__HIPCC__) || defined(__HIP_PLATFORM_AMD__)

#include <hip/hip_runtime.h>

#define SG_GPU_PLATFORM "hip"
// HIP passes kernel arguments in the kernarg segment already: a reference to a parameter costs nothing.
#define SG_GRID_CONSTANT

// Width-limited butterfly exchange within groups of `width` lanes (AMD wavefronts are 64 lanes; 32-lane groups
// are what the reduction order in kernels/norm_kernel.hpp is stated in).
__device__ inline float sg_shfl_xor(float v, int lane_mask, int width) { return __shfl_xor(v, lane_mask, width); }

// Staged copies (see the CUDA side): no asynchronous global-to-shared copy here, so a copy is a plain 16-byte load
// and store, complete when it returns; commit and wait have nothing to do. Same results, without the overlap.
__device__ inline void sg_copy_async16(void* smem, const void* gmem, bool /*l2_prefetch: no such hint here*/) {
  *static_cast<uint4*>(smem) = *static_cast<const uint4*>(gmem);
}
__device__ inline void sg_copy_commit() {}
__device__ inline void sg_copy_wait(int) {}

// Bulk copies (see the CUDA side): none here. The launch code never picks the bulk kernel when this is 0, so these
// are never called; they exist so that the kernel template compiles on both vendors.
#define SG_HAVE_BULK_COPY 0
__device__ inline void sg_bar_init(std::uint64_t*, unsigned) { __builtin_trap(); }
__device__ inline void sg_bar_arrive_expect(std::uint64_t*, unsigned) { __builtin_trap(); }
__device__ inline void sg_bulk_copy(void*, const void*, unsigned, std::uint64_t*) { __builtin_trap(); }
__device__ inline void sg_bar_wait(std::uint64_t*, unsigned) { __builtin_trap(); }
__device__ inline void sg_fence_proxy_async() {}
__device__ inline void sg_bulk_store(void*, const void*, unsigned) { __builtin_trap(); }
__device__ inline void sg_bulk_store_commit() { __builtin_trap(); }
template <int N>
__device__ inline void sg_bulk_store_wait_read() { __builtin_trap(); }
__device__ inline void sg_bulk_store_wait_all() { __builtin_trap(); }

// Programmatic dependent launch (see the CUDA side): none here. A launch asked to overlap the previous kernel is an
// ordinary launch, so the waits have nothing to wait for; stream order alone orders the kernels.
#define SG_HAVE_DEPENDENT_LAUNCH 0
__device__ inline void sg_grid_dependency_wait() {}
__device__ inline void sg_launch_dependents() {}
template <class... Params, class... Args>
inline hipError_t sg_launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, hipStream_t stream,
                            bool /*overlap_previous: no such launch here*/, Args... args) {
  hipLaunchKernelGGL(kernel, grid, block, smem, stream, args...);
  return hipGetLastError();
}

// The most shared memory one block may use (HIP 5.2 has no opt-in limit above the per-block one).
inline std::size_t sg_max_block_shared(const hipDeviceProp_t& prop) { return prop.sharedMemPerBlock; }

#elif defined(__CUDACC__)

#include <cuda.h>
#include <cuda_runtime.h>

#define SG_GPU_PLATFORM "cuda"
// Without __grid_constant__, taking a reference to a by-value kernel parameter (the kernel hands `const
// KernelArgs&` to the per-thread code) copies the ~900-byte argument block to every thread's stack.
#define SG_GRID_CONSTANT __grid_constant__

// CUDA removed the mask-less shuffles on sm_70+; every lane of the warp takes part in ours (the kernel never
// exits a lane early), so the full mask is exact.
__device__ inline float sg_shfl_xor(float v, int lane_mask, int width) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask, width);
}

// Staged copies: sg_copy_async16 starts a 16-byte copy from global to shared memory (both 16-byte aligned) that
// completes in the background (cp.async, sm_80+; .cg: cached in L2 only, the data is streamed); sg_copy_commit
// closes the group of copies this thread started since the last commit; sg_copy_wait(n) waits until at most n of
// this thread's groups are still in flight. A thread sees its own completed copies without a barrier.
// l2_prefetch: the copy asks L2 to fetch the whole 128-byte line around it (.L2::128B, a hint: it never faults and
// never changes what is copied; the line lies within the page of the bytes copied, so within a mapped allocation).
__device__ inline void sg_copy_async16(void* smem, const void* gmem, bool l2_prefetch) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  if (l2_prefetch) {
    asm volatile("cp.async.cg.shared.global.L2::128B [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
  } else {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
  }
}
__device__ inline void sg_copy_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ inline void sg_copy_wait_n() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}
// The group count is an immediate in the instruction: a run-time n picks one of them (n >= 7 waits for 7).
__device__ inline void sg_copy_wait(int n) {
  switch (n) {
    case 0: sg_copy_wait_n<0>(); break;
    case 1: sg_copy_wait_n<1>(); break;
    case 2: sg_copy_wait_n<2>(); break;
    case 3: sg_copy_wait_n<3>(); break;
    case 4: sg_copy_wait_n<4>(); break;
    case 5: sg_copy_wait_n<5>(); break;
    case 6: sg_copy_wait_n<6>(); break;
    default: sg_copy_wait_n<7>(); break;
  }
}

// Bulk copies (sm_90+: the tensor memory accelerator's cp.async.bulk): one thread starts a copy of `bytes` (a
// multiple of 16, both addresses 16-byte aligned) from global to shared memory, and the copy counts its bytes
// against mbarrier `bar` in shared memory as they land. sg_bar_init(bar, count): a barrier whose phase completes
// after `count` arrivals and every byte announced to it (one thread; a __syncthreads before anyone else uses it);
// sg_bar_arrive_expect(bar, bytes): one arrival that also announces `bytes` of copies to wait for;
// sg_bar_wait(bar, parity): until the phase of that parity has completed, after which its copies' bytes are visible
// to the waiting thread. sg_fence_proxy_async: orders this thread's earlier shared-memory reads before later bulk
// copies into the same bytes (generic and async proxies; a barrier then carries the order to the issuing thread).
#define SG_HAVE_BULK_COPY 1
__device__ inline unsigned sg_smem_addr(const void* p) { return static_cast<unsigned>(__cvta_generic_to_shared(p)); }
__device__ inline void sg_bar_init(std::uint64_t* bar, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(sg_smem_addr(bar)), "r"(count) : "memory");
}
__device__ inline void sg_bar_arrive_expect(std::uint64_t* bar, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(sg_smem_addr(bar)), "r"(bytes)
               : "memory");
}
__device__ inline void sg_bulk_copy(void* smem, const void* gmem, unsigned bytes, std::uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   sg_smem_addr(smem)),
               "l"(gmem), "r"(bytes), "r"(sg_smem_addr(bar))
               : "memory");
}
__device__ inline void sg_bar_wait(std::uint64_t* bar, unsigned parity) {
  unsigned done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(sg_smem_addr(bar)), "r"(parity)
        : "memory");
  } while (done == 0);
}
__device__ inline void sg_fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
// Bulk copies the other way (bench/copy_probe.hip): sg_bulk_store starts a copy of `bytes` (a multiple of 16, both
// addresses 16-byte aligned) from shared to global memory in this thread's current bulk group; sg_bulk_store_commit
// closes the group; sg_bulk_store_wait_read<N>() waits until at most N of this thread's groups still read their
// shared memory (the older ones' bytes may be overwritten); sg_bulk_store_wait_all() until every group's writes
// are done.
__device__ inline void sg_bulk_store(void* gmem, const void* smem, unsigned bytes) {
  asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;\n" ::"l"(gmem), "r"(sg_smem_addr(smem)),
               "r"(bytes)
               : "memory");
}
__device__ inline void sg_bulk_store_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
template <int N>
__device__ inline void sg_bulk_store_wait_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}
__device__ inline void sg_bulk_store_wait_all() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }

// Programmatic dependent launch (sm_90+). A kernel launched with overlap_previous (sg_launch below) may start while
// the kernel before it on the stream is still running; sg_grid_dependency_wait() (griddepcontrol.wait) then holds
// the thread until every such prerequisite grid has completed and its memory is visible, so a kernel that calls it
// before its first global memory access sees exactly what stream order would show it. Without the launch attribute
// it returns at once. sg_launch_dependents() (griddepcontrol.launch_dependents) lets the next kernel, if it was
// launched so, be scheduled once every block of this one has called it or exited; it is a scheduling hint only
// and orders no memory (the next kernel's own wait does). Both are nothing below sm_90.
#define SG_HAVE_DEPENDENT_LAUNCH 1
__device__ inline void sg_grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ inline void sg_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// --- runtime API: same shapes, CUDA names ---------------------------------------------------------------------
using hipError_t = cudaError_t;
using hipStream_t = cudaStream_t;
using hipEvent_t = cudaEvent_t;
using hipDeviceProp_t = cudaDeviceProp;
inline constexpr hipError_t hipSuccess = cudaSuccess;
inline constexpr hipError_t hipErrorIllegalAddress = cudaErrorIllegalAddress;
inline constexpr hipError_t hipErrorNoDevice = cudaErrorNoDevice;
inline constexpr cudaMemcpyKind hipMemcpyHostToDevice = cudaMemcpyHostToDevice;
inline constexpr cudaMemcpyKind hipMemcpyDeviceToHost = cudaMemcpyDeviceToHost;
inline constexpr cudaMemcpyKind hipMemcpyDeviceToDevice = cudaMemcpyDeviceToDevice;

#define hipGetErrorString cudaGetErrorString
#define hipGetErrorName cudaGetErrorName
#define hipGetLastError cudaGetLastError
#define hipPeekAtLastError cudaPeekAtLastError
#define hipGetDeviceCount cudaGetDeviceCount
#define hipSetDevice cudaSetDevice
#define hipGetDeviceProperties cudaGetDeviceProperties
#define hipDeviceSynchronize cudaDeviceSynchronize
#define hipStreamSynchronize cudaStreamSynchronize
#define hipMalloc cudaMalloc
#define hipFree cudaFree
#define hipMemcpy cudaMemcpy
#define hipMemcpyAsync cudaMemcpyAsync
#define hipMemcpy2DAsync cudaMemcpy2DAsync
#define hipMemcpyFromSymbol cudaMemcpyFromSymbol
#define HIP_SYMBOL(symbol) symbol
#define hipMemset cudaMemset
#define hipMemsetAsync cudaMemsetAsync
#define hipEventCreate cudaEventCreate
#define hipEventDestroy cudaEventDestroy
#define hipEventRecord cudaEventRecord
#define hipEventSynchronize cudaEventSynchronize
#define hipEventElapsedTime cudaEventElapsedTime
#define hipDriverGetVersion cudaDriverGetVersion
#define hipRuntimeGetVersion cudaRuntimeGetVersion
// The most shared memory one block may use once its kernel opts in (cudaFuncAttributeMaxDynamicSharedMemorySize).
inline std::size_t sg_max_block_shared(const hipDeviceProp_t& prop) { return prop.sharedMemPerBlockOptin; }
// Graphs (the benchmark times launches captured into a graph, so host launch cost stays out of the numbers).
using hipGraph_t = cudaGraph_t;
using hipGraphExec_t = cudaGraphExec_t;
inline constexpr cudaStreamCaptureMode hipStreamCaptureModeThreadLocal = cudaStreamCaptureModeThreadLocal;
#define hipStreamCreate cudaStreamCreate
#define hipStreamCreateWithFlags cudaStreamCreateWithFlags
#define hipStreamNonBlocking cudaStreamNonBlocking
#define hipStreamDestroy cudaStreamDestroy
#define hipStreamBeginCapture cudaStreamBeginCapture
#define hipStreamEndCapture cudaStreamEndCapture
#define hipGraphDestroy cudaGraphDestroy
#define hipGraphExecDestroy cudaGraphExecDestroy
#define hipGraphLaunch cudaGraphLaunch
inline hipError_t hipGraphInstantiate(hipGraphExec_t* exec, hipGraph_t graph, void*, char*, std::size_t) {
  return cudaGraphInstantiate(exec, graph, 0);
}
#define hipFuncSetAttribute cudaFuncSetAttribute
#define hipFuncGetAttributes cudaFuncGetAttributes
using hipFuncAttributes = cudaFuncAttributes;
#define hipFuncAttributeMaxDynamicSharedMemorySize cudaFuncAttributeMaxDynamicSharedMemorySize
#define hipFuncAttributePreferredSharedMemoryCarveout cudaFuncAttributePreferredSharedMemoryCarveout
#define hipOccupancyMaxActiveBlocksPerMultiprocessor cudaOccupancyMaxActiveBlocksPerMultiprocessor

// hipLaunchKernelGGL(kernel, grid, block, shared_bytes, stream, args...): the HIP launch spelling.
#define hipLaunchKernelGGL(kernel, grid, block, shared_bytes, stream, ...) \
  kernel<<<(grid), (block), (shared_bytes), (stream)>>>(__VA_ARGS__)

// sg_launch: a launch that reports its error; overlap_previous launches it with programmatic stream serialization
// (the kernel may start before the previous kernel on `stream` completes: it must call sg_grid_dependency_wait()
// before touching global memory). Captured into a graph, the attribute becomes a programmatic edge.
template <class... Params, class... Args>
inline hipError_t sg_launch(void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem, hipStream_t stream,
                            bool overlap_previous, Args... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attr[1] = {};
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attr;
  config.numAttrs = overlap_previous ? 1 : 0;
  return cudaLaunchKernelEx(&config, kernel, static_cast<Params>(args)...);
}

// --- virtual memory management: HIP's runtime-level names over the CUDA driver API ------------------------------
// The driver functions are looked up through the runtime (cudaGetDriverEntryPointByVersion) instead of linking
// libcuda: a binary that links libcuda.so.1 does not even load on a machine without the NVIDIA driver, and the GPU
// tests must start there to say "GPU tests skipped: no device". CUresult and cudaError_t share their numeric codes
// for every error these calls return (out of memory, invalid value, not supported), so hipGetErrorString() of the
// converted code names the right error.
using hipMemGenericAllocationHandle_t = CUmemGenericAllocationHandle;
using hipMemAllocationProp = CUmemAllocationProp;
using hipMemAccessDesc = CUmemAccessDesc;
inline constexpr CUmemAllocationType hipMemAllocationTypePinned = CU_MEM_ALLOCATION_TYPE_PINNED;
inline constexpr CUmemLocationType hipMemLocationTypeDevice = CU_MEM_LOCATION_TYPE_DEVICE;
inline constexpr CUmemAccess_flags hipMemAccessFlagsProtReadWrite = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
inline constexpr CUmemAllocationGranularity_flags hipMemAllocationGranularityMinimum = CU_MEM_ALLOC_GRANULARITY_MINIMUM;

// The driver entry point `name` with the ABI of CUDA 12.0 (these calls have not changed since 10.2); nullptr when
// the driver lacks it.
template <class Fn>
inline Fn sg_driver_entry(const char* name) {
  void* p = nullptr;
  cudaDriverEntryPointQueryResult found = cudaDriverEntryPointSymbolNotFound;
  if (cudaGetDriverEntryPointByVersion(name, &p, 12000, cudaEnableDefault, &found) != cudaSuccess ||
      found != cudaDriverEntryPointSuccess) {
    return nullptr;
  }
  return reinterpret_cast<Fn>(p);
}

// Calls driver function `name` (looked up once) and converts its CUresult; a missing entry point reads as
// "not supported".
#define SG_DRIVER_CALL(name, ...)                                                   \
  [&]() -> hipError_t {                                                             \
    static const auto fn = sg_driver_entry<decltype(&::name)>(#name);               \
    if (fn == nullptr) return cudaErrorNotSupported;                                \
    return static_cast<hipError_t>(fn(__VA_ARGS__));                                \
  }()

inline hipError_t hipMemGetAllocationGranularity(std::size_t* granularity, const hipMemAllocationProp* prop,
                                                 CUmemAllocationGranularity_flags option) {
  return SG_DRIVER_CALL(cuMemGetAllocationGranularity, granularity, prop, option);
}
inline hipError_t hipMemAddressReserve(void** ptr, std::size_t size, std::size_t alignment, void* addr,
                                       unsigned long long flags) {
  CUdeviceptr p = 0;
  const hipError_t r = SG_DRIVER_CALL(cuMemAddressReserve, &p, size, alignment, reinterpret_cast<CUdeviceptr>(addr), flags);
  *ptr = reinterpret_cast<void*>(p);
  return r;
}
inline hipError_t hipMemAddressFree(void* ptr, std::size_t size) {
  return SG_DRIVER_CALL(cuMemAddressFree, reinterpret_cast<CUdeviceptr>(ptr), size);
}
inline hipError_t hipMemCreate(hipMemGenericAllocationHandle_t* handle, std::size_t size,
                               const hipMemAllocationProp* prop, unsigned long long flags) {
  return SG_DRIVER_CALL(cuMemCreate, handle, size, prop, flags);
}
inline hipError_t hipMemRelease(hipMemGenericAllocationHandle_t handle) { return SG_DRIVER_CALL(cuMemRelease, handle); }
inline hipError_t hipMemMap(void* ptr, std::size_t size, std::size_t offset, hipMemGenericAllocationHandle_t handle,
                            unsigned long long flags) {
  return SG_DRIVER_CALL(cuMemMap, reinterpret_cast<CUdeviceptr>(ptr), size, offset, handle, flags);
}
inline hipError_t hipMemUnmap(void* ptr, std::size_t size) {
  return SG_DRIVER_CALL(cuMemUnmap, reinterpret_cast<CUdeviceptr>(ptr), size);
}
inline hipError_t hipMemSetAccess(void* ptr, std::size_t size, const hipMemAccessDesc* desc, std::size_t count) {
  return SG_DRIVER_CALL(cuMemSetAccess, reinterpret_cast<CUdeviceptr>(ptr), size, desc, count);
}

#else
#error "kernels/gpu/hip_compat.hpp is for device compilers only (hipcc, or nvcc -x cu)"
#endif
