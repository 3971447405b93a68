// Guarded host arena: mmap'd slots [guard][data pages][guard], pooled by size class; SIGSEGV/SIGBUS on a guard
// page is turned into a GuardFault through siglongjmp while catch_guard_faults() is running.
#include "harness/arena.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#if defined(SG_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace strideguard {

std::string_view to_string(Placement p) { return p == Placement::kTrailing ? "trailing" : "leading"; }

std::optional<Placement> parse_placement(std::string_view s) {
  if (s == "trailing") return Placement::kTrailing;
  if (s == "leading") return Placement::kLeading;
  return std::nullopt;
}

std::string describe(const GuardFault& f) {
  std::string s = f.is_write ? "guard page write " : "guard page access ";
  s += std::to_string(f.distance);
  s += f.after_end ? " byte(s) past the end of " : " byte(s) before the start of ";
  s += f.buffer;
  return s;
}

std::size_t HostArena::page_size() {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

struct HostArena::Slot {
  std::byte* map = nullptr;  // [map, map + page) guard, then data_pages, then a guard page
  std::size_t data_pages = 0;
  bool sparse = false;
  bool in_use = false;
  std::set<std::size_t> materialized;  // sparse slots: data page indices holding canaries
  std::byte* data_begin() const { return map + page_size(); }
  std::byte* data_end() const { return data_begin() + data_pages * page_size(); }
};

namespace {

// What the signal handler may read: the live buffers' guard geometry (no allocation inside the handler).
struct LiveRegion {
  const HostArena* owner = nullptr;
  const std::byte* lo_guard = nullptr;  // [lo_guard, lo_guard + page)
  const std::byte* hi_guard = nullptr;
  const std::byte* data = nullptr;
  std::size_t bytes = 0;
  const std::string* name = nullptr;
};

std::vector<LiveRegion> g_regions;
sigjmp_buf* g_jump = nullptr;
GuardFault g_fault;
struct sigaction g_old_segv, g_old_bus;

void on_fault(int sig, siginfo_t* info, void* uctx) {
  const auto* addr = static_cast<const std::byte*>(info->si_addr);
  const std::size_t page = HostArena::page_size();
  for (const LiveRegion& r : g_regions) {
    const bool low = addr >= r.lo_guard && addr < r.lo_guard + page;
    const bool high = addr >= r.hi_guard && addr < r.hi_guard + page;
    if (!(low || high) || g_jump == nullptr) continue;
    g_fault.buffer = *r.name;  // std::string copy: acceptable here, the process state is ours
    g_fault.after_end = addr >= r.data + r.bytes;
    g_fault.distance = g_fault.after_end ? static_cast<std::int64_t>(addr - (r.data + r.bytes)) + 1
                                         : static_cast<std::int64_t>(r.data - addr);
#if defined(__x86_64__)
    g_fault.is_write = (static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#endif
    siglongjmp(*g_jump, 1);
  }
  // Not ours: restore the previous disposition and let the fault happen again under it.
  sigaction(sig, sig == SIGSEGV ? &g_old_segv : &g_old_bus, nullptr);
}

}  // namespace

HostArena::HostArena(Mode mode) : mode_(mode) {}

HostArena::~HostArena() {
  release_all();
  for (auto& s : slots_) {
    if (mode_ == Mode::kGuarded) {
      munmap(s->map, (s->data_pages + 2) * page_size());
    } else {
      std::free(s->map);
    }
  }
}

HostArena::Slot* HostArena::take_slot(std::size_t data_pages, bool sparse) {
  for (auto& s : slots_) {
    if (!s->in_use && s->sparse == sparse && s->data_pages == data_pages) {
      s->in_use = true;
      return s.get();
    }
  }
  auto s = std::make_unique<Slot>();
  const std::size_t total = (data_pages + 2) * page_size();
  if (mode_ == Mode::kUnguarded) {  // same geometry, ordinary heap memory, nothing protected
    s->map = static_cast<std::byte*>(std::aligned_alloc(page_size(), total));
    if (s->map == nullptr) {
      std::fprintf(stderr, "ERROR: arena: allocation of %zu bytes failed\n", total);
      std::abort();
    }
    s->data_pages = data_pages;
    s->sparse = sparse;
    s->in_use = true;
    slots_.push_back(std::move(s));
    return slots_.back().get();
  }
  void* m = mmap(nullptr, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ++mmap_calls_;
  if (m == MAP_FAILED) {
    std::fprintf(stderr, "ERROR: arena: mmap of %zu bytes failed: %s\n", total, std::strerror(errno));
    std::abort();
  }
  s->map = static_cast<std::byte*>(m);
  s->data_pages = data_pages;
  s->sparse = sparse;
  s->in_use = true;
  if (mprotect(s->data_begin(), data_pages * page_size(), PROT_READ | PROT_WRITE) != 0) {
    std::fprintf(stderr, "ERROR: arena: mprotect failed: %s\n", std::strerror(errno));
    std::abort();
  }
  slots_.push_back(std::move(s));
  return slots_.back().get();
}

HostArena::Buffer& HostArena::acquire(std::size_t bytes, Placement placement, std::string name) {
  const std::size_t page = page_size();
  const bool sparse = bytes > kSparseThreshold && mode_ == Mode::kGuarded;
  std::size_t pages = std::max<std::size_t>(1, (bytes + page - 1) / page);
  if (!sparse) {  // size classes: powers of two pages, so slots are reused across cases of similar size
    std::size_t c = 1;
    while (c < pages) c *= 2;
    pages = c;
  }
  Slot* s = take_slot(pages, sparse);
  auto b = std::make_unique<Buffer>();
  b->bytes = bytes;
  b->placement = placement;
  b->sparse = sparse;
  b->name = std::move(name);
  b->data = placement == Placement::kLeading ? s->data_begin() : s->data_end() - bytes;
  if (sparse) {
    s->materialized.clear();
    materialize(*b, 0, std::min<std::size_t>(bytes, 1));
    if (bytes > 0) materialize(*b, bytes - 1, 1);
  } else {
    std::memset(s->data_begin(), kCanaryByte, pages * page);
  }
#if defined(SG_ASAN)
  // Beside the guard pages, ASan watches the slack: any touch of it is reported with a stack trace.
  ASAN_POISON_MEMORY_REGION(s->data_begin(), static_cast<std::size_t>(b->data - s->data_begin()));
  ASAN_POISON_MEMORY_REGION(b->data + bytes, static_cast<std::size_t>(s->data_end() - (b->data + bytes)));
#endif
  if (mode_ == Mode::kGuarded) g_regions.push_back({this, s->map, s->data_end(), b->data, bytes, &b->name});
  live_.push_back(std::move(b));
  return *live_.back();
}

HostArena::Slot* HostArena::slot_of(const Buffer& b) const {
  for (auto& s : slots_) {
    if (s->in_use && b.data >= s->data_begin() && b.data <= s->data_end()) return s.get();
  }
  return nullptr;
}

void HostArena::materialize(Buffer& b, std::size_t offset, std::size_t len) {
  if (!b.sparse || len == 0) return;
  Slot* s = slot_of(b);
  const std::size_t page = page_size();
  const std::size_t first = static_cast<std::size_t>(b.data + offset - s->data_begin()) / page;
  const std::size_t last = static_cast<std::size_t>(b.data + offset + len - 1 - s->data_begin()) / page;
  for (std::size_t p = first; p <= last; ++p) {
    if (s->materialized.insert(p).second) std::memset(s->data_begin() + p * page, kCanaryByte, page);
  }
}

std::vector<std::pair<std::size_t, std::size_t>> HostArena::materialized_ranges(const Buffer& b) const {
  if (!b.sparse) return {{0, b.bytes}};
  const Slot* s = slot_of(b);
  const std::size_t page = page_size();
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t p : s->materialized) {
    const std::byte* lo = std::max(s->data_begin() + p * page, b.data);
    const std::byte* hi = std::min(s->data_begin() + (p + 1) * page, b.data + b.bytes);
    if (lo >= hi) continue;
    const auto begin = static_cast<std::size_t>(lo - b.data);
    const auto end = static_cast<std::size_t>(hi - b.data);
    if (!out.empty() && out.back().second == begin) {
      out.back().second = end;
    } else {
      out.emplace_back(begin, end);
    }
  }
  return out;
}

bool HostArena::untouched_outside_materialized(const Buffer& b) const {
  if (!b.sparse || mode_ == Mode::kUnguarded) return true;
  const Slot* s = slot_of(b);
  std::vector<unsigned char> resident(s->data_pages);
  if (mincore(s->data_begin(), s->data_pages * page_size(), resident.data()) != 0) return false;
  // Millions of pages for a 16 GiB storage, almost none resident: skip eight at a time.
  const std::size_t n = s->data_pages;
  std::size_t p = 0;
  for (; p + 8 <= n; p += 8) {
    std::uint64_t word;
    std::memcpy(&word, resident.data() + p, 8);
    if ((word & 0x0101010101010101ull) == 0) continue;
    for (std::size_t q = p; q < p + 8; ++q) {
      if ((resident[q] & 1) && !s->materialized.count(q)) return false;
    }
  }
  for (; p < n; ++p) {
    if ((resident[p] & 1) && !s->materialized.count(p)) return false;
  }
  return true;
}

bool HostArena::slack_intact(const Buffer& b) const {
  const Slot* s = slot_of(b);
  // Dense: the whole slot is slack outside the buffer. Sparse: only the buffer's first and last pages are.
  const std::size_t page = page_size();
  const std::byte* lo = s->data_begin();
  const std::byte* hi = b.data + b.bytes;
  const std::byte* hi_end = s->data_end();
  if (b.sparse) {
    lo = s->data_begin() + static_cast<std::size_t>(b.data - s->data_begin()) / page * page;
    hi_end = s->data_begin() + (static_cast<std::size_t>(hi - s->data_begin()) + page - 1) / page * page;
  }
#if defined(SG_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(lo, static_cast<std::size_t>(b.data - lo));
  ASAN_UNPOISON_MEMORY_REGION(hi, static_cast<std::size_t>(hi_end - hi));
#endif
  const std::byte* data = b.data;
  const bool ok = std::all_of(lo, data, [](std::byte c) { return c == std::byte{kCanaryByte}; }) &&
                  std::all_of(hi, hi_end, [](std::byte c) { return c == std::byte{kCanaryByte}; });
#if defined(SG_ASAN)
  ASAN_POISON_MEMORY_REGION(lo, static_cast<std::size_t>(b.data - lo));
  ASAN_POISON_MEMORY_REGION(hi, static_cast<std::size_t>(hi_end - hi));
#endif
  return ok;
}

void HostArena::release_all() {
#if defined(SG_ASAN)
  // Unpoison exactly the slack that acquire() poisoned (not the whole slot: a 16 GiB sparse slot would cost 2 GiB of
  // shadow writes).
  for (const auto& b : live_) {
    if (Slot* s = slot_of(*b)) {
      ASAN_UNPOISON_MEMORY_REGION(s->data_begin(), static_cast<std::size_t>(b->data - s->data_begin()));
      ASAN_UNPOISON_MEMORY_REGION(b->data + b->bytes, static_cast<std::size_t>(s->data_end() - (b->data + b->bytes)));
    }
  }
#endif
  for (auto& s : slots_) {
    if (!s->in_use) continue;
    s->in_use = false;
    if (s->sparse && mode_ == Mode::kGuarded) {  // give the touched pages back so residency means "touched by this case" next time
      madvise(s->data_begin(), s->data_pages * page_size(), MADV_DONTNEED);
      s->materialized.clear();
    }
  }
  live_.clear();
  std::erase_if(g_regions, [this](const LiveRegion& r) { return r.owner == this; });
}

std::size_t HostArena::pooled_slots() const { return slots_.size(); }

std::optional<GuardFault> HostArena::run_guarded(void (*fn)(void*), void* ctx) {
  struct sigaction sa {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_old_segv);
  sigaction(SIGBUS, &sa, &g_old_bus);
  sigjmp_buf jump;
  std::optional<GuardFault> fault;
  if (sigsetjmp(jump, 1) == 0) {
    g_jump = &jump;
    fn(ctx);
  } else {
    fault = g_fault;
  }
  g_jump = nullptr;
  sigaction(SIGSEGV, &g_old_segv, nullptr);
  sigaction(SIGBUS, &g_old_bus, nullptr);
  return fault;
}

}  // namespace strideguard
