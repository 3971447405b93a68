// One Case on the device: storages into guarded device buffers, re-plan with device pointers, launch, prove the
// kernel ran, check canaries, storages back. Runs inside the worker process or in-process (gpu_backend.cpp).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "harness/case.hpp"
#include "kernels/gpu/device_arena.hpp"

namespace strideguard::gpu {

// One storage's bytes in transit. Only `spans` (relative to the storage's byte 0) carry meaning: all of it for a
// dense storage, the pages the views touch for a sparse one (the host arena commits nothing else).
struct StorageIo {
  bool used = false;  // some operand lives in it
  std::size_t bytes = 0;
  Placement placement = Placement::kTrailing;
  std::string name;
  std::vector<ByteSpan> spans;
  std::vector<std::byte> data;  // the spans' bytes, concatenated: inputs going in, device results coming back
};

enum class DeviceOutcome : std::uint8_t {
  kOk,           // ran; io holds the device's bytes
  kFailed,       // the case failed on the device (canary, blocks that never ran, re-plan); the context is fine
  kContextLost,  // a device fault or any error after launch: the context is unusable, replace the process
};

struct DeviceRun {
  DeviceOutcome outcome = DeviceOutcome::kOk;
  std::string message;  // "" on kOk
};

class DeviceSession {
 public:
  static std::unique_ptr<DeviceSession> open(Redzone redzone, std::string* why_not);
  ~DeviceSession();

  DeviceRun run(const Case& c, std::vector<StorageIo>& io);

  const std::string& device_name() const { return name_; }
  DeviceArena& arena() { return *arena_; }

 private:
  DeviceSession() = default;
  std::unique_ptr<DeviceArena> arena_;
  std::string name_;
  unsigned* blocks_ran_ = nullptr;  // device counter every block of a launch increments
};

}  // namespace strideguard::gpu
