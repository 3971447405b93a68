// DeviceSession: a Case's storages through guarded device memory and the kernel, every return code checked.
#include "kernels/gpu/hip_compat.hpp"

#include "kernels/gpu/device_session.hpp"
#include "kernels/gpu/norm_gpu.hpp"
#include "kernels/plan.hpp"

namespace strideguard::gpu {

std::unique_ptr<DeviceSession> DeviceSession::open(Redzone redzone, std::string* why_not) {
  int count = 0;
  if (hipError_t e = hipGetDeviceCount(&count); e != hipSuccess || count == 0) {
    *why_not = e != hipSuccess ? "no usable GPU: " + error_text(e) : "no GPU device found";
    return nullptr;
  }
  std::unique_ptr<DeviceSession> s(new DeviceSession());
  s->arena_ = DeviceArena::open(0, redzone, why_not);
  if (!s->arena_) return nullptr;
  hipDeviceProp_t prop;
  if (hipError_t e = hipGetDeviceProperties(&prop, 0); e != hipSuccess) {
    *why_not = "hipGetDeviceProperties: " + error_text(e);
    return nullptr;
  }
  s->name_ = std::string(prop.name) + " (" SG_GPU_PLATFORM ", " + std::to_string(prop.multiProcessorCount) +
             " multiprocessors, redzone " + std::string(to_string(redzone)) + ")";
  void* p = nullptr;
  if (hipError_t e = hipMalloc(&p, sizeof(unsigned)); e != hipSuccess) {
    *why_not = "hipMalloc: " + error_text(e);
    return nullptr;
  }
  s->blocks_ran_ = static_cast<unsigned*>(p);
  return s;
}

DeviceSession::~DeviceSession() {
  if (blocks_ran_ != nullptr) (void)hipFree(blocks_ran_);
}

DeviceRun DeviceSession::run(const Case& c, std::vector<StorageIo>& io) {
  DeviceRun r;
  auto failed = [&](DeviceOutcome o, std::string m) {
    r.outcome = o;
    r.message = std::move(m);
    return r;
  };
  arena_->release_all();
  std::vector<DeviceArena::Buffer*> bufs(io.size(), nullptr);
  for (std::size_t i = 0; i < io.size(); ++i) {
    if (!io[i].used) continue;
    std::string error;
    bufs[i] = arena_->acquire(io[i].bytes, io[i].placement, io[i].spans, io[i].name, &error);
    if (bufs[i] == nullptr) return failed(DeviceOutcome::kFailed, "device memory for " + io[i].name + ": " + error);
    std::size_t at = 0;
    for (const ByteSpan& sp : io[i].spans) {
      const std::size_t n = sp.hi - sp.lo;
      if (hipError_t e = hipMemcpy(bufs[i]->data + sp.lo, io[i].data.data() + at, n, hipMemcpyHostToDevice);
          e != hipSuccess) {
        return failed(DeviceOutcome::kContextLost, "copy to device: " + error_text(e));
      }
      at += n;
    }
  }

  // The device call: the host call's layouts over device storages of the same sizes.
  NormCall call;
  call.op = c.op;
  call.eps = c.eps;
  for (OperandId id : kAllOperands) {
    const OperandSpec& o = c[id];
    if (!o.present) continue;
    TensorArg& t = call[id];
    t.present = true;
    t.data = bufs[o.storage]->data;
    t.dtype = o.dtype;
    t.layout = o.layout;
    t.storage_elems = static_cast<std::int64_t>(io[o.storage].bytes) / dtype_size(o.dtype);
  }
  const PlanResult pr = plan(call, c.policy);
  if (!pr.ok()) {
    return failed(DeviceOutcome::kFailed,
                  "the dispatcher rejected the device call it accepted on the host: " + describe_rejection(call, pr));
  }

  const std::int64_t blocks = launch_blocks(pr.plan);
  if (hipError_t e = hipMemset(blocks_ran_, 0, sizeof(unsigned)); e != hipSuccess) {
    return failed(DeviceOutcome::kContextLost, "hipMemset: " + error_text(e));
  }
  if (const int e = launch_norm(pr.plan, nullptr, blocks_ran_); e != 0) {
    return failed(DeviceOutcome::kContextLost, "kernel launch failed: " + error_text(e) + "; plan: " + describe_plan(pr.plan));
  }
  if (hipError_t e = hipDeviceSynchronize(); e != hipSuccess) {
    return failed(DeviceOutcome::kContextLost, "device fault: " + error_text(e) + "; plan: " + describe_plan(pr.plan));
  }
  unsigned ran = 0;
  if (hipError_t e = hipMemcpy(&ran, blocks_ran_, sizeof ran, hipMemcpyDeviceToHost); e != hipSuccess) {
    return failed(DeviceOutcome::kContextLost, "copy from device: " + error_text(e));
  }
  // Every launched block adds one; the counter wraps only past 2^32 blocks, which launch_blocks() never reaches.
  if (static_cast<std::int64_t>(ran) != blocks) {
    return failed(DeviceOutcome::kFailed, "the kernel ran " + std::to_string(ran) + " of " + std::to_string(blocks) +
                                              " launched blocks (a launch that did nothing is a failure)");
  }
  std::string error;
  const std::string broken = arena_->check_slack(&error);
  if (!error.empty()) return failed(DeviceOutcome::kContextLost, error);
  if (!broken.empty()) return failed(DeviceOutcome::kFailed, broken + "; plan: " + describe_plan(pr.plan));

  for (std::size_t i = 0; i < io.size(); ++i) {
    if (!io[i].used) continue;
    std::size_t at = 0;
    for (const ByteSpan& sp : io[i].spans) {
      const std::size_t n = sp.hi - sp.lo;
      if (hipError_t e = hipMemcpy(io[i].data.data() + at, bufs[i]->data + sp.lo, n, hipMemcpyDeviceToHost);
          e != hipSuccess) {
        return failed(DeviceOutcome::kContextLost, "copy from device: " + error_text(e));
      }
      at += n;
    }
  }
  return r;
}

}  // namespace strideguard::gpu
