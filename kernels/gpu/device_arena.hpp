// Guarded device memory: every storage sits flush against an unmapped (or NaN-poisoned) granule of a reserved
// virtual range, slack holds canaries, reservations are pooled. The device twin of harness/arena.hpp.
//
// Plain C++ interface (implementation: device_arena.hip), so the runner compiles with the host compiler.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "harness/arena.hpp"

namespace strideguard::gpu {

// What lies around a buffer. kGuard: nothing is mapped there, so the first byte past the data faults the context
// (sticky: the process must be replaced, see gpu_backend.hpp). kPoison: mapped granules filled with 0xff, which
// is NaN in every dtype, so a stray read poisons the output and a stray write breaks a canary, and the context
// survives (in-process runs, compute-sanitizer runs).
enum class Redzone : std::uint8_t { kGuard, kPoison };
std::string_view to_string(Redzone r);  // "guard" | "poison"

// A byte range [lo, hi).
struct ByteSpan {
  std::size_t lo = 0, hi = 0;
};

class DeviceArena {
 public:
  struct Buffer {
    std::byte* data = nullptr;  // device address of the storage's byte 0
    std::size_t bytes = 0;
    Placement placement = Placement::kTrailing;
    std::string name;
  };

  // Selects `device`, creates its context and learns the mapping granularity. nullptr and a reason on failure.
  static std::unique_ptr<DeviceArena> open(int device, Redzone redzone, std::string* why_not);
  ~DeviceArena();
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;

  // Storages above this size are sparse, as on the host (HostArena::kSparseThreshold): only the granules that
  // hold `live` bytes get physical memory, so a storage of 2^33 elements costs what its views touch.
  static constexpr std::size_t kSparseThreshold = HostArena::kSparseThreshold;
  // Physical memory a sparse storage may map, all its touched granules together.
  static constexpr std::size_t kSparseBudget = std::size_t{16} << 30;

  // A buffer of exactly `bytes`, flush against the guard on the placement side, its mapped bytes all canaries.
  // `live` (sorted, disjoint, relative to data) are the bytes the caller will fill: everything else that is mapped
  // is slack, checked by check_slack(). The device address has the same residue modulo 16 as the host arena's
  // buffer of the same size and placement, so a plan makes the same vector decision on both.
  // nullptr and an error on failure. Valid until release_all().
  Buffer* acquire(std::size_t bytes, Placement placement, const std::vector<ByteSpan>& live, std::string name,
                  std::string* error);

  // "" when every slack byte of every live buffer is still a canary; else the first changed byte, named:
  // "canary overwritten 3 byte(s) past the end of storage 2 (out), placed leading". An API failure goes to *error.
  std::string check_slack(std::string* error);

  // Returns every buffer to the pool; sparse storages give their physical memory and reservation back.
  void release_all();

  std::size_t granularity() const { return granularity_; }
  std::size_t reservations() const { return reservations_; }  // VMM reservations made so far (pooling works: small)
  Redzone redzone() const { return redzone_; }

 private:
  struct Slot;
  DeviceArena() = default;
  Slot* take_dense_slot(std::size_t data_granules, std::string* error);
  bool map_range(Slot& s, std::byte* at, std::size_t bytes, std::string* error);

  std::vector<std::unique_ptr<Slot>> slots_;
  struct Live;
  std::vector<std::unique_ptr<Live>> live_;
  std::size_t granularity_ = 0;
  std::size_t reservations_ = 0;
  int device_ = 0;
  Redzone redzone_ = Redzone::kGuard;
  void* scratch_ = nullptr;  // device memory for check_slack's range table and results
  std::size_t scratch_bytes_ = 0;
};

}  // namespace strideguard::gpu
