// Guarded device memory through virtual memory management: reserve [guard][data granules][guard], map physical
// memory on the data granules only (kGuard) or on all of them (kPoison), place the buffer flush against one side.
#include "kernels/gpu/hip_compat.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels/gpu/device_arena.hpp"
#include "kernels/gpu/norm_gpu.hpp"

namespace strideguard::gpu {

std::string_view to_string(Redzone r) { return r == Redzone::kGuard ? "guard" : "poison"; }

namespace {

// One range check_slack() verifies: [p, p + n) must be all canary bytes.
struct SlackRange {
  const unsigned char* p;
  unsigned long long n;
};

// Writes, per range, the offset of the first byte that is not a canary (or leaves ULLONG_MAX).
__global__ void find_broken_canary(const SlackRange* ranges, unsigned long long* first_bad) {
  const SlackRange r = ranges[blockIdx.y];
  const unsigned long long step = static_cast<unsigned long long>(gridDim.x) * blockDim.x;
  for (unsigned long long i = static_cast<unsigned long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < r.n;
       i += step) {
    if (r.p[i] != kCanaryByte) {
      atomicMin(&first_bad[blockIdx.y], i);
      return;  // later bytes of this thread can only be larger offsets
    }
  }
}

std::string api_error(const char* what, hipError_t e) { return std::string(what) + ": " + error_text(e); }

std::size_t round_up(std::size_t v, std::size_t g) { return (v + g - 1) / g * g; }

}  // namespace

struct DeviceArena::Slot {
  std::byte* va = nullptr;  // reservation: [va, va + g) guard, data granules, guard
  std::size_t va_bytes = 0;
  std::size_t data_granules = 0;
  bool sparse = false;
  bool in_use = false;
  struct Mapping {
    std::byte* at;
    std::size_t bytes;
    hipMemGenericAllocationHandle_t handle;
  };
  std::vector<Mapping> maps;
};

// A buffer handed out, with the mapped ranges (absolute) that are not its live bytes: the slack.
struct DeviceArena::Live {
  Buffer buffer;
  Slot* slot = nullptr;
  std::vector<ByteSpan> slack;  // absolute device addresses, as integers
};

std::unique_ptr<DeviceArena> DeviceArena::open(int device, Redzone redzone, std::string* why_not) {
  std::unique_ptr<DeviceArena> a(new DeviceArena());
  a->device_ = device;
  a->redzone_ = redzone;
  if (hipError_t e = hipSetDevice(device); e != hipSuccess) {
    *why_not = api_error("hipSetDevice", e);
    return nullptr;
  }
  // Creates the primary context, which the virtual-memory calls below need.
  if (hipError_t e = hipFree(nullptr); e != hipSuccess) {
    *why_not = api_error("context creation (hipFree(nullptr))", e);
    return nullptr;
  }
  hipMemAllocationProp prop;
  std::memset(&prop, 0, sizeof prop);
  prop.type = hipMemAllocationTypePinned;
  prop.location.type = hipMemLocationTypeDevice;
  prop.location.id = device;
  if (hipError_t e = hipMemGetAllocationGranularity(&a->granularity_, &prop, hipMemAllocationGranularityMinimum);
      e != hipSuccess || a->granularity_ == 0) {
    *why_not = api_error("hipMemGetAllocationGranularity (virtual memory management unsupported?)", e);
    return nullptr;
  }
  return a;
}

DeviceArena::~DeviceArena() {
  release_all();
  for (auto& s : slots_) {
    for (const auto& m : s->maps) {
      (void)hipMemUnmap(m.at, m.bytes);
      (void)hipMemRelease(m.handle);
    }
    (void)hipMemAddressFree(s->va, s->va_bytes);
  }
  if (scratch_ != nullptr) (void)hipFree(scratch_);
}

bool DeviceArena::map_range(Slot& s, std::byte* at, std::size_t bytes, std::string* error) {
  hipMemAllocationProp prop;
  std::memset(&prop, 0, sizeof prop);
  prop.type = hipMemAllocationTypePinned;
  prop.location.type = hipMemLocationTypeDevice;
  prop.location.id = device_;
  hipMemGenericAllocationHandle_t h{};
  if (hipError_t e = hipMemCreate(&h, bytes, &prop, 0); e != hipSuccess) {
    *error = api_error("hipMemCreate", e) + " (" + std::to_string(bytes) + " bytes)";
    return false;
  }
  if (hipError_t e = hipMemMap(at, bytes, 0, h, 0); e != hipSuccess) {
    (void)hipMemRelease(h);
    *error = api_error("hipMemMap", e);
    return false;
  }
  hipMemAccessDesc access;
  std::memset(&access, 0, sizeof access);
  access.location.type = hipMemLocationTypeDevice;
  access.location.id = device_;
  access.flags = hipMemAccessFlagsProtReadWrite;
  if (hipError_t e = hipMemSetAccess(at, bytes, &access, 1); e != hipSuccess) {
    (void)hipMemUnmap(at, bytes);
    (void)hipMemRelease(h);
    *error = api_error("hipMemSetAccess", e);
    return false;
  }
  s.maps.push_back({at, bytes, h});
  return true;
}

DeviceArena::Slot* DeviceArena::take_dense_slot(std::size_t data_granules, std::string* error) {
  for (auto& s : slots_) {
    if (!s->in_use && !s->sparse && s->data_granules == data_granules) {
      s->in_use = true;
      return s.get();
    }
  }
  auto s = std::make_unique<Slot>();
  const std::size_t g = granularity_;
  s->data_granules = data_granules;
  s->va_bytes = (data_granules + 2) * g;
  void* va = nullptr;
  if (hipError_t e = hipMemAddressReserve(&va, s->va_bytes, g, nullptr, 0); e != hipSuccess) {
    *error = api_error("hipMemAddressReserve", e) + " (" + std::to_string(s->va_bytes) + " bytes)";
    return nullptr;
  }
  ++reservations_;
  s->va = static_cast<std::byte*>(va);
  const bool ok = redzone_ == Redzone::kGuard ? map_range(*s, s->va + g, data_granules * g, error)
                                              : map_range(*s, s->va, s->va_bytes, error);
  if (!ok) {
    (void)hipMemAddressFree(va, s->va_bytes);
    return nullptr;
  }
  s->in_use = true;
  slots_.push_back(std::move(s));
  return slots_.back().get();
}

DeviceArena::Buffer* DeviceArena::acquire(std::size_t bytes, Placement placement, const std::vector<ByteSpan>& live,
                                          std::string name, std::string* error) {
  const std::size_t g = granularity_;
  const bool sparse = bytes > kSparseThreshold;
  std::size_t granules = std::max<std::size_t>(1, round_up(bytes, g) / g);
  Slot* s = nullptr;
  if (!sparse) {
    std::size_t c = 1;  // power-of-two size classes, as the host arena: slots are reused across cases
    while (c < granules) c *= 2;
    s = take_dense_slot(c, error);
    if (s == nullptr) return nullptr;
    granules = c;
  }
  auto l = std::make_unique<Live>();
  if (sparse) {
    auto owned = std::make_unique<Slot>();
    owned->sparse = true;
    owned->data_granules = granules;
    owned->va_bytes = (granules + 2) * g;
    void* va = nullptr;
    if (hipError_t e = hipMemAddressReserve(&va, owned->va_bytes, g, nullptr, 0); e != hipSuccess) {
      *error = api_error("hipMemAddressReserve", e) + " (sparse storage of " + std::to_string(bytes) + " bytes)";
      return nullptr;
    }
    ++reservations_;
    owned->va = static_cast<std::byte*>(va);
    owned->in_use = true;
    slots_.push_back(std::move(owned));
    s = slots_.back().get();
  }
  l->slot = s;
  std::byte* const data_begin = s->va + g;
  std::byte* const data_end = data_begin + s->data_granules * g;
  Buffer& b = l->buffer;
  b.bytes = bytes;
  b.placement = placement;
  b.name = std::move(name);
  b.data = placement == Placement::kLeading ? data_begin : data_end - bytes;

  // Mapped ranges (absolute): dense slots are mapped once for good; sparse ones get the granules of the live
  // bytes (plus both guard granules in poison mode), coalesced into runs, each run one physical allocation.
  std::vector<ByteSpan> mapped;
  const auto base = reinterpret_cast<std::uintptr_t>(s->va);
  if (!sparse) {
    if (redzone_ == Redzone::kGuard) {
      mapped.push_back({base + g, base + g + s->data_granules * g});
    } else {
      mapped.push_back({base, base + s->va_bytes});
    }
  } else {
    std::vector<ByteSpan> runs;
    auto add_granules = [&](std::size_t lo, std::size_t hi) {  // absolute, hi exclusive
      const std::size_t glo = (lo - base) / g * g + base;
      const std::size_t ghi = round_up(hi - base, g) + base;
      if (!runs.empty() && glo <= runs.back().hi) {
        runs.back().hi = std::max(runs.back().hi, ghi);
      } else {
        runs.push_back({glo, ghi});
      }
    };
    const auto d = reinterpret_cast<std::uintptr_t>(b.data);
    if (redzone_ == Redzone::kPoison) add_granules(base, base + g);
    for (const ByteSpan& sp : live) {
      if (sp.hi > sp.lo) add_granules(d + sp.lo, d + sp.hi);
    }
    if (redzone_ == Redzone::kPoison) add_granules(base + s->va_bytes - g, base + s->va_bytes);
    std::size_t total = 0;
    for (const ByteSpan& r : runs) total += r.hi - r.lo;
    if (total > kSparseBudget) {
      *error = "sparse storage " + b.name + " touches " + std::to_string(total >> 20) + " MiB of granules, over the " +
               std::to_string(kSparseBudget >> 20) + " MiB device budget";
      return nullptr;
    }
    for (const ByteSpan& r : runs) {
      if (!map_range(*s, reinterpret_cast<std::byte*>(r.lo), r.hi - r.lo, error)) return nullptr;
    }
    mapped = runs;
  }
  // Canaries on every mapped byte, then slack = mapped minus live.
  for (const ByteSpan& m : mapped) {
    if (hipError_t e = hipMemset(reinterpret_cast<void*>(m.lo), kCanaryByte, m.hi - m.lo); e != hipSuccess) {
      *error = api_error("hipMemset (canaries)", e);
      return nullptr;
    }
  }
  const auto d = reinterpret_cast<std::uintptr_t>(b.data);
  for (const ByteSpan& m : mapped) {
    std::size_t cur = m.lo;
    for (const ByteSpan& sp : live) {
      const std::size_t lo = std::max(d + sp.lo, m.lo), hi = std::min(d + sp.hi, m.hi);
      if (lo >= hi) continue;
      if (lo > cur) l->slack.push_back({cur, lo});
      cur = std::max(cur, hi);
    }
    if (cur < m.hi) l->slack.push_back({cur, m.hi});
  }
  live_.push_back(std::move(l));
  return &live_.back()->buffer;
}

std::string DeviceArena::check_slack(std::string* error) {
  std::vector<SlackRange> ranges;
  std::vector<const Live*> owner;
  for (const auto& l : live_) {
    for (const ByteSpan& s : l->slack) {
      ranges.push_back({reinterpret_cast<const unsigned char*>(s.lo), s.hi - s.lo});
      owner.push_back(l.get());
    }
  }
  if (ranges.empty()) return "";
  // A launch's y dimension is at most 65535: the table is checked in pieces.
  constexpr std::size_t kPiece = 65535;
  const std::size_t need = std::min(ranges.size(), kPiece) * (sizeof(SlackRange) + sizeof(unsigned long long));
  if (need > scratch_bytes_) {
    if (scratch_ != nullptr) (void)hipFree(scratch_);
    scratch_ = nullptr;
    scratch_bytes_ = 0;
    if (hipError_t e = hipMalloc(&scratch_, need); e != hipSuccess) {
      *error = api_error("hipMalloc (canary check)", e);
      return "";
    }
    scratch_bytes_ = need;
  }
  for (std::size_t first = 0; first < ranges.size(); first += kPiece) {
    const std::size_t n = std::min(kPiece, ranges.size() - first);
    auto* table = static_cast<SlackRange*>(scratch_);
    auto* bad = reinterpret_cast<unsigned long long*>(static_cast<char*>(scratch_) + n * sizeof(SlackRange));
    std::vector<unsigned long long> host_bad(n);
    hipError_t e = hipMemcpy(table, ranges.data() + first, n * sizeof(SlackRange), hipMemcpyHostToDevice);
    if (e == hipSuccess) e = hipMemset(bad, 0xff, n * sizeof(unsigned long long));
    if (e == hipSuccess) {
      hipLaunchKernelGGL(find_broken_canary, dim3(64, static_cast<unsigned>(n)), dim3(256), 0, nullptr, table, bad);
      e = hipGetLastError();
    }
    if (e == hipSuccess) e = hipMemcpy(host_bad.data(), bad, n * sizeof(unsigned long long), hipMemcpyDeviceToHost);
    if (e != hipSuccess) {
      *error = api_error("canary check", e);
      return "";
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (host_bad[i] == std::numeric_limits<unsigned long long>::max()) continue;
      const Live& l = *owner[first + i];
      const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(ranges[first + i].p) + host_bad[i];
      const auto d = reinterpret_cast<std::uintptr_t>(l.buffer.data);
      std::string where;
      if (at >= d + l.buffer.bytes) {
        where = std::to_string(at - (d + l.buffer.bytes) + 1) + " byte(s) past the end of ";
      } else if (at < d) {
        where = std::to_string(d - at) + " byte(s) before the start of ";
      } else {
        where = "byte " + std::to_string(at - d) + " (outside every view) of ";
      }
      return "device canary overwritten " + where + l.buffer.name + ", placed " +
             std::string(strideguard::to_string(l.buffer.placement));
    }
  }
  return "";
}

void DeviceArena::release_all() {
  for (const auto& l : live_) l->slot->in_use = false;
  live_.clear();
  // Sparse reservations are per case: their physical memory is what the case touched, nothing to pool.
  for (auto it = slots_.begin(); it != slots_.end();) {
    Slot& s = **it;
    if (!s.sparse) {
      ++it;
      continue;
    }
    for (const auto& m : s.maps) {
      (void)hipMemUnmap(m.at, m.bytes);
      (void)hipMemRelease(m.handle);
    }
    (void)hipMemAddressFree(s.va, s.va_bytes);
    it = slots_.erase(it);
  }
}

}  // namespace strideguard::gpu
