// Guarded host memory: every storage sits flush against a PROT_NONE page, slack holds canaries, slots are pooled,
// huge storages are lazily committed, and a fault handler names the operand that was overrun and by how much.
#pragma once

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strideguard {

enum class Placement : std::uint8_t { kTrailing, kLeading };  // flush against the guard after / before the data
std::string_view to_string(Placement p);                      // "trailing" | "leading"
std::optional<Placement> parse_placement(std::string_view s);

inline constexpr unsigned char kCanaryByte = 0xff;  // NaN in f32, f16 and bf16: a read of slack poisons the result
inline constexpr unsigned char kPoisonByte = 0x5a;  // finite in every dtype: unwritten outputs never match

// What the fault handler saw: a touch of a guard page next to a live buffer.
struct GuardFault {
  std::string buffer;      // the buffer's name (the storage and the operands that live in it)
  bool after_end = true;   // false: before the start
  std::int64_t distance = 0;  // bytes past the end (>= 1) or before the start (>= 1)
  bool is_write = false;   // best effort (x86-64 page-fault error code)
};
std::string describe(const GuardFault& f);

class HostArena {
 public:
  struct Buffer {
    std::byte* data = nullptr;  // bytes usable: [data, data + bytes)
    std::size_t bytes = 0;
    Placement placement = Placement::kTrailing;
    bool sparse = false;  // lazily committed: only pages that were materialize()d hold canaries
    std::string name;
  };

  // kGuarded: mmap'd slots with PROT_NONE guard pages (the product). kUnguarded: plain heap buffers with the same
  // placement and canaries but no guard pages and no fault catching; it exists to measure what the guards cost.
  enum class Mode : std::uint8_t { kGuarded, kUnguarded };

  explicit HostArena(Mode mode = Mode::kGuarded);
  ~HostArena();
  HostArena(const HostArena&) = delete;
  HostArena& operator=(const HostArena&) = delete;

  // Storages above this size are lazily committed: canaries are written only on the pages a view touches.
  static constexpr std::size_t kSparseThreshold = std::size_t{64} << 20;

  // A buffer of exactly `bytes`, flush against a guard page on the placement side. Dense buffers are filled with
  // canaries (slack included); sparse ones only on their first and last page. Valid until release_all().
  Buffer& acquire(std::size_t bytes, Placement placement, std::string name);

  // Fills the pages of [offset, offset + len) with canaries (sparse buffers; no-op on dense ones).
  void materialize(Buffer& b, std::size_t offset, std::size_t len);
  // True when page-granular residency shows no page of b written outside the materialized pages.
  bool untouched_outside_materialized(const Buffer& b) const;
  // The byte ranges of b that hold meaningful bytes (all of it when dense): what oracles snapshot and compare.
  std::vector<std::pair<std::size_t, std::size_t>> materialized_ranges(const Buffer& b) const;

  // True when every slack byte (inside the buffer's pages, outside [data, data + bytes)) is still a canary.
  bool slack_intact(const Buffer& b) const;

  // Returns every buffer to the pool (no munmap: the next case reuses the slots).
  void release_all();

  std::size_t pooled_slots() const;
  std::size_t mmap_calls() const { return mmap_calls_; }

  // Runs f(); a touch of any guard page during f becomes a GuardFault instead of a crash. f must not own
  // resources that need destructors (the handler returns through siglongjmp).
  template <class F>
  std::optional<GuardFault> catch_guard_faults(F&& f);

  static std::size_t page_size();

 private:
  struct Slot;
  Slot* take_slot(std::size_t data_pages, bool sparse);
  Slot* slot_of(const Buffer& b) const;
  std::optional<GuardFault> run_guarded(void (*fn)(void*), void* ctx);

  Mode mode_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::unique_ptr<Buffer>> live_;
  std::size_t mmap_calls_ = 0;
};

template <class F>
std::optional<GuardFault> HostArena::catch_guard_faults(F&& f) {
  auto thunk = [](void* ctx) { (*static_cast<F*>(ctx))(); };
  return run_guarded(thunk, static_cast<void*>(&f));
}

}  // namespace strideguard
