// The guarded arena: faults on the first byte past either end, canaries in the slack, pooled slots, lazily
// committed huge storages.
#include "harness/arena.hpp"

#include <gtest/gtest.h>

#include <cstring>

namespace strideguard {
namespace {

// A read the optimiser must perform.
std::byte touch(const std::byte* p) { return *static_cast<const volatile std::byte*>(p); }

TEST(Arena, TrailingPlacementFaultsOnTheFirstBytePastTheEnd) {
  HostArena arena;
  HostArena::Buffer& b = arena.acquire(1000, Placement::kTrailing, "storage 0 (x)");
  EXPECT_EQ(touch(b.data + 999), std::byte{kCanaryByte});  // last byte is inside
  const auto f = arena.catch_guard_faults([&] { (void)touch(b.data + 1000); });
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->after_end);
  EXPECT_EQ(f->distance, 1);
  EXPECT_FALSE(f->is_write);
  EXPECT_EQ(describe(*f), "guard page access 1 byte(s) past the end of storage 0 (x)");
}

TEST(Arena, LeadingPlacementFaultsOnTheFirstByteBeforeTheStart) {
  HostArena arena;
  HostArena::Buffer& b = arena.acquire(64, Placement::kLeading, "storage 1 (out)");
  const auto f = arena.catch_guard_faults([&] { *static_cast<volatile std::byte*>(b.data - 2) = std::byte{1}; });
  ASSERT_TRUE(f);
  EXPECT_FALSE(f->after_end);
  EXPECT_EQ(f->distance, 2);
  EXPECT_TRUE(f->is_write);
}

TEST(Arena, SlackCanariesCatchAWriteThatMissesTheGuard) {
  HostArena arena;
  HostArena::Buffer& b = arena.acquire(64, Placement::kLeading, "s");
  EXPECT_TRUE(arena.slack_intact(b));
#if !defined(SG_ASAN)  // under ASan the slack is poisoned instead: the write below would be reported by ASan
  b.data[64] = std::byte{0};
  EXPECT_FALSE(arena.slack_intact(b));
#endif
}

TEST(Arena, SlotsArePooledSoACaseCostsNoMmap) {
  HostArena arena;
  for (int i = 0; i < 3; ++i) {
    arena.acquire(5000, Placement::kTrailing, "a");
    arena.acquire(100, Placement::kLeading, "b");
    arena.release_all();
  }
  const std::size_t after_warmup = arena.mmap_calls();
  for (int i = 0; i < 100; ++i) {
    arena.acquire(7000, Placement::kLeading, "a");  // same size class as 5000 (two pages)
    arena.acquire(64, Placement::kTrailing, "b");
    arena.release_all();
  }
  EXPECT_EQ(arena.mmap_calls(), after_warmup);
  EXPECT_EQ(arena.pooled_slots(), 2u);
}

TEST(Arena, HugeStoragesAreLazilyCommitted) {
  HostArena arena;
  const std::size_t bytes = std::size_t{1} << 34;  // 16 GiB of virtual storage
  HostArena::Buffer& b = arena.acquire(bytes, Placement::kTrailing, "huge");
  ASSERT_TRUE(b.sparse);
  arena.materialize(b, std::size_t{1} << 33, 2);
  EXPECT_EQ(b.data[std::size_t{1} << 33], std::byte{kCanaryByte});
  EXPECT_TRUE(arena.untouched_outside_materialized(b));
  EXPECT_EQ(arena.materialized_ranges(b).size(), 3u);  // first page, the one touched, last page
  b.data[std::size_t{1} << 32] = std::byte{7};          // a write outside every materialised page
  EXPECT_FALSE(arena.untouched_outside_materialized(b));
  const auto f = arena.catch_guard_faults([&] { (void)touch(b.data + bytes); });
  ASSERT_TRUE(f);
  EXPECT_EQ(f->distance, 1);
}

TEST(Arena, UnguardedModeKeepsPlacementAndCanaries) {
  HostArena arena(HostArena::Mode::kUnguarded);
  HostArena::Buffer& b = arena.acquire(100, Placement::kTrailing, "u");
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data + 100) % HostArena::page_size(), 0u);
  EXPECT_TRUE(arena.slack_intact(b));
}

}  // namespace
}  // namespace strideguard
