// The oracle: materialises a Case in guarded memory, runs it through the dispatcher on a backend, and turns what
// happened into one Verdict (pass, or the first failure with its kind and the first offending element).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>
#include <optional>
#include <string>
#include <string_view>

#include "harness/arena.hpp"
#include "harness/case.hpp"
#include "kernels/cpu_backend.hpp"

namespace strideguard {

#define SG_VERDICT_LIST(X)                                                                      \
  X(kPass, "pass")                                                                              \
  X(kRejected, "rejected as invalid (correctly)")                                               \
  X(kMismatch, "output differs from the fp64 reference beyond tolerance")                       \
  X(kOutOfBoundsRead, "read outside the operand's storage")                                     \
  X(kOutOfBoundsWrite, "write outside the operand's storage")                                   \
  X(kMisaligned, "misaligned vector access")                                                    \
  X(kWriteOutsideView, "write to storage outside the written views")                            \
  X(kInputModified, "an input element changed")                                                 \
  X(kUnwritten, "an output element was never written")                                          \
  X(kDeviceFault, "device fault")                                                               \
  X(kUnjustifiedRejection, "valid case rejected")                                               \
  X(kWrongRejection, "invalid case rejected for the wrong rule or operand")                     \
  X(kInvalidAccepted, "invalid case accepted")                                                  \
  X(kNotZeroCopy, "the dispatcher copied an operand to a temporary")                            \
  X(kBackendUnavailable, "backend not available")

enum class VerdictKind : std::uint8_t {
#define SG_VERDICT_ENUM(name, text) name,
  SG_VERDICT_LIST(SG_VERDICT_ENUM)
#undef SG_VERDICT_ENUM
};

std::string_view to_string(VerdictKind k);  // "Mismatch", "OutOfBoundsRead", ...
std::string_view describe(VerdictKind k);
std::optional<VerdictKind> parse_verdict_kind(std::string_view s);

// Failure kinds in the three classes the bug-model acceptance speaks of.
enum class FailureClass : std::uint8_t { kNone, kFault, kWrongOutput, kRejection };
FailureClass classify(VerdictKind k);
std::string_view to_string(FailureClass c);  // "none" | "fault" | "wrong-output" | "rejection"

struct Verdict {
  VerdictKind kind = VerdictKind::kPass;
  std::string detail;          // first offending element, values, operand, block/thread where known
  std::string plan;            // describe_plan() of what ran, or the rejection
  bool ok() const { return kind == VerdictKind::kPass || kind == VerdictKind::kRejected; }
};
std::string describe(const Verdict& v);

// How a case runs. The GPU backend is plugged in by the GPU build (kernels/gpu/); absent, gpu cases report
// kBackendUnavailable.
// Output bits of a passing run in x's logical (row-major) order: what layout-invariance properties compare.
struct CaseOutputs {
  std::vector<std::uint32_t> out;
  std::vector<std::uint32_t> residual_out;
};

struct RunOptions {
  bool check_accesses = true;     // CPU backend: emulator checks (false: only guard pages and canaries)
  bool require_zero_copy = false; // fail with kNotZeroCopy when the plan copied an operand
  CaseOutputs* capture = nullptr; // filled when the verdict is kPass
  // Planted bugs for the harness's own tests: called on the dispatcher's decision before it is judged and run,
  // so a test can prove each detector fires (as libFuzzer's own tests plant bugs).
  std::function<void(PlanResult&, const NormCall&)> tamper;
};

// A device runner: mirrors the call's host storages into guarded device buffers (same placement), plans the call
// again with the device pointers (alignment may differ), runs it, and copies the storages back into the host
// buffers. Returns an empty string on success, or the device fault (which the oracle reports as kDeviceFault).
using GpuRunner = std::function<std::string(const NormCall& host_call, const Case& c)>;
void set_gpu_runner(GpuRunner runner);
bool gpu_runner_available();

// A Case's storages placed in the arena and its NormCall pointing into them. Storages too large to map here
// (over kMaxMappedBytes, or whose byte size overflows) get a non-null pointer to an inaccessible page, so the
// dispatcher can still judge the call; such a call is never run.
struct BoundCase {
  NormCall call;
  std::vector<HostArena::Buffer*> buffers;  // nullptr for an unmapped storage
  std::vector<int> elem_size;               // bytes per element of each storage (largest dtype using it)
};
inline constexpr std::int64_t kMaxMappedBytes = std::int64_t{1} << 44;
BoundCase bind_case(const Case& c, HostArena& arena);

// Each operand's storage element for every logical element (x's row-major order; the weight's own order).
using ElementIndex = std::array<std::vector<std::int64_t>, kNumOperands>;

// The storage contents every backend starts from: materialises the pages of every view element, poisons the
// written views, then fills the input views with case_value (in-place inputs overwrite their output's poison).
// @pre every storage of b is mapped. Returns the element indices it computed, for the caller to reuse.
ElementIndex prepare_storages(const Case& c, const BoundCase& b, HostArena& arena);

// Runs one case end to end. The arena is reused across calls (pooled slots: no mmap per case).
Verdict run_case(const Case& c, HostArena& arena, const RunOptions& options = {});

// Deterministic input value of element i of operand id under seed: never all zeros, both signs, tiny values (f16
// subnormals), large ones (whose square overflows f16), exact in the dtype. A function of the logical index only,
// so the same values appear in every layout.
double case_value(std::uint64_t seed, OperandId id, DType dtype, std::int64_t i);

}  // namespace strideguard
