// CPU backend: runs a Plan's kernel as an emulated grid, executing the kernels' own per-thread code and checking
// every access against its operand's storage bounds and the alignment a GPU demands of that access width.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/norm_call.hpp"
#include "kernels/plan.hpp"

namespace strideguard {

enum class AccessFault : std::uint8_t { kNone, kReadOutOfBounds, kWriteOutOfBounds, kMisaligned };

std::string_view to_string(AccessFault f);

// The first access the emulated grid refused, named the way a GPU fault report would be.
struct AccessViolation {
  AccessFault fault = AccessFault::kNone;
  OperandId operand = OperandId::kX;
  std::int64_t element = 0;  // storage index of the access's first element
  int width = 1;             // elements in the access (chunk for 16-byte accesses)
  std::int64_t block = 0;
  int thread = 0;
  explicit operator bool() const { return fault != AccessFault::kNone; }
};

// "read out of bounds: x element 12587008 (1 past the end of storage 12587008), 1-wide access, block 3 thread 17"
std::string describe(const AccessViolation& v, const std::array<std::int64_t, kNumOperands>& storage_elems);

struct WriteRecord {
  OperandId operand;
  std::int64_t element;
};

struct CpuRunOptions {
  // false: raw accesses, no bounds or alignment checks: lets guard pages and canaries, not the emulator, catch a
  // bad plan (used to test those detectors and to measure the checker's cost).
  bool check_accesses = true;
  std::vector<WriteRecord>* writes = nullptr;  // when set, every stored element is appended
  // true: the general RowProgram even where the simple-rows one applies (visit_program): for the test that the
  // two write the same bytes.
  bool general_program = false;
  // true: plain vector rows of the simple-rows kind run the program with a kWideCachedChunks register cache, as the
  // GPU's wide-row kernel does where the plan has no cache (kernels/gpu/norm_gpu.hip, wide_chunks); the caller sets
  // the plan's cache_rows as that launch does. For the test that it writes the plan's bytes.
  // @pre the plan's chunks_per_thread <= kWideCachedChunks.
  bool wide_cache = false;
};

struct CpuRunResult {
  AccessViolation violation;  // the grid stops at the first one, as a faulting GPU context would
  std::int64_t loads = 0;     // accesses issued (a 16-byte access counts once)
  std::int64_t stores = 0;
};

// Executes plan p. storage_elems[id] bounds every access to operand id (from the call the plan was made for).
// @pre p came from plan() (any policy) for a call whose pointers are live for storage_elems elements.
// @post with check_accesses, no access outside [0, storage_elems) is performed; the first refused one is reported.
CpuRunResult run_cpu(const Plan& p, const std::array<std::int64_t, kNumOperands>& storage_elems,
                     const CpuRunOptions& options = {});

std::array<std::int64_t, kNumOperands> storage_sizes(const NormCall& call);

}  // namespace strideguard
