// Fuzz input -> Case: one structure-aware byte decoder shared by every fuzz target and by crash_to_case.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/case.hpp"

namespace strideguard::fuzz {

// How far a decoded case may reach. Whole-case targets execute every case, so their limits keep a case small
// enough for thousands of runs a second; the planner target executes nothing and takes the whole int64 range.
struct DecodeLimits {
  // numel of every view (rows * hidden), except single-row cases up to max_hidden. 4096 holds one token of the
  // seed's 32-head Q slice (32 x 128).
  std::int64_t max_view_elems = 4096;
  std::int64_t max_hidden = 16384;
  // Storages at most this many bytes are dense (memset, snapshot, compared byte by byte on every run).
  std::int64_t max_dense_bytes = std::int64_t{1} << 20;
  // Storages past HostArena::kSparseThreshold (64 MiB) are lazily committed: only the pages a view touches are
  // filled, but the arena still scans the slot's whole page table (mincore) once per case: about 30 ms per 2^32
  // bytes under ASan, and a grown corpus holds a few percent of such inputs, which halved a 60 s run's exec/s.
  // So the default keeps sparse storages at 2^28 bytes (the lazily committed path, rows 2^25+ elements apart);
  // $SG_FUZZ_MAX_SPARSE_BYTES=68719476736 (2^36) reaches 2^33+ element storages and 32-bit-overflowing offsets
  // (C9) for runs that can afford them. fuzz_planner covers the whole int64 range without allocating.
  std::int64_t max_sparse_bytes = std::int64_t{1} << 28;
  // Sizes, strides, offsets and storage sizes over the whole int64 range (overflow, negative sizes, storages
  // no host can map): only for targets that plan without running.
  bool wild = false;
};

// Whole-case targets (cpu, gpu); $SG_FUZZ_MAX_VIEW_ELEMS and $SG_FUZZ_MAX_SPARSE_BYTES override the defaults.
DecodeLimits case_limits();
DecodeLimits planner_limits();  // fuzz_planner: wild

// Decodes one Case from the provider (policy and backend are left at their defaults: the target sets them).
// Every input decodes to some Case; most are valid, some deliberately invalid (the dispatcher must reject those
// for the rule the reference names). The first byte picks the form:
//   < kExplicitBelow: explicit, every field literal (what case_to_bytes writes: seeds, regressions);
//   otherwise structured: a shape archetype (rows x hidden, packed-QKV heads, size-1 dims, high rank, empty),
//   then per operand a layout recipe (dense, row-padded pitch, QKV slice, transposed, [..., ::k], wild size-1
//   strides, negative, broadcast, huge sparse stride, raw), misaligned offsets, dtypes, and an aliasing scheme
//   (in-place forms, shared packed storage, forbidden overlaps).
inline constexpr std::uint8_t kExplicitBelow = 16;
Case decode_case(FuzzedDataProvider& in, const DecodeLimits& limits);
Case case_from_bytes(const std::uint8_t* data, std::size_t size, const DecodeLimits& limits);

// The explicit form of c: case_from_bytes(case_to_bytes(c)) == c for every Case whose policy and backend are the
// defaults (those are not encoded), with any limits.
std::vector<std::uint8_t> case_to_bytes(const Case& c);

// Whether a case is small enough for a whole-case target under `limits` and replayable (harness
// check_replayable). Cases outside are skipped, not run: the structured form rarely produces them.
bool within_budget(const Case& c, const DecodeLimits& limits, std::string* why = nullptr);

// The policy under test: $SG_POLICY, default guarded. An unknown name is a usage error (returns std::nullopt and
// sets *bad to the name).
std::optional<Policy> policy_from_env(std::string* bad);

}  // namespace strideguard::fuzz
