// The guarded dispatcher's decision: plan() validates every operand of a NormCall and returns a Plan or a Status.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kernels/norm_call.hpp"
#include "kernels/norm_kernel.hpp"
#include "kernels/status.hpp"

namespace strideguard {

// Which dispatcher decides. kGuarded is the product; the others are faithful models of dispatchers that failed in
// real engines (see kernels/bug_models.cpp and docs/bug-models.md), kept so the suite proves it catches them.
#define SG_POLICY_LIST(X)                                                                                     \
  X(kGuarded, "guarded", "strideguard: validates every operand, zero-copy on every valid view")              \
  X(kAiter2d, "aiter-2d", "ROCm/aiter HIP rmsnorm: n = size(1), m = numel/n, row pitch = stride(0)")          \
  X(kSglang23974, "sglang-23974",                                                                             \
    "sglang PR #23974: non-2D inputs without residual copied to contiguous 2D; residual path passed through") \
  X(kVllm26192, "vllm-26192",                                                                                 \
    "vLLM before PR #26192: pitch = stride(-2) after an is_contiguous() test that ignores size-1 dims")      \
  X(kLightllm1467, "lightllm-1467", "LightLLM #1467: the normalising pass ignores the last-dim stride")       \
  X(kTrtllm14810, "trtllm-14810", "TensorRT-LLM PR #14810: input's row pitch reused for residual and outputs") \
  X(kVllmAlign, "vllm-align",                                                                                 \
    "vLLM vector path chosen from hidden % 8 alone: misaligned 16-byte accesses at storage offsets 1..7")

enum class Policy : std::uint8_t {
#define SG_POLICY_ENUM(name, cli, text) name,
  SG_POLICY_LIST(SG_POLICY_ENUM)
#undef SG_POLICY_ENUM
};

inline constexpr Policy kAllPolicies[] = {
#define SG_POLICY_ALL(name, cli, text) Policy::name,
    SG_POLICY_LIST(SG_POLICY_ALL)
#undef SG_POLICY_ALL
};

std::string_view to_string(Policy p);  // the --policy spelling
std::string_view describe(Policy p);
std::optional<Policy> parse_policy(std::string_view s);

struct Plan {
  Op op = Op::kRmsNorm;
  DType dtype = DType::kBF16;
  Policy policy = Policy::kGuarded;
  bool vector = false;           // 16-byte accesses (every operand aligned, unit column stride, hidden % chunk == 0)
  std::int64_t grid_blocks = 0;  // 0: nothing to launch (an empty view)
  std::int64_t temp_elems = 0;   // elements the dispatcher copied to temporaries; 0 means zero-copy
  KernelArgs args;
};

// Either a Plan (status == kOk) or the first violated rule and the operand that violates it.
struct PlanResult {
  Status status = Status::kOk;
  OperandId operand = OperandId::kX;
  Plan plan;
  bool ok() const { return status == Status::kOk; }
};

// Validates, in this order, and returns the first violation:
//   1. eps (kBadEps, reported on x);
//   2. each operand in the order x, weight, residual, post_residual_addition, out, residual_out: presence for
//      the op, then rank, sizes, element count, footprint overflow, storage size, footprint inside storage,
//      null storage, dtype == x's, shape (weight: (hidden); others: x's shape);
//   3. each written operand (out, residual_out): kWrittenViewOverlaps when may_self_overlap;
//   4. each written operand against every other operand, in the order above: kForbiddenAlias when their byte
//      footprints intersect, unless it is out over x or residual_out over residual with the same first-element
//      address, shape and strides (the supported in-place forms).
// On success the plan addresses every operand through its own coalesced row map and column stride (zero-copy for
// every valid layout) and uses 16-byte accesses only when vector_access_allowed().
// @post ok() implies every access the plan makes lies inside its operand's storage and the vector variant's
//       accesses are 16-byte aligned (checked by the CPU backend on every access, see props and kernels/tests).
// @post !ok() implies the reference validator rejects the call with the same Status and operand.
// @post ok() and a scalar plan whose x has adjacent rows and non-adjacent columns (column_rows_pay) imply
//       args.column_rows (rows across warps: blocks of kColumnRows rows, the row cache off), which writes the bytes
//       of the same plan in ordinary blocks (fuzz_planner checks the choice; CpuBackend.ColumnRows... the bytes).
[[nodiscard]] PlanResult plan(const NormCall& call, Policy policy = Policy::kGuarded);

// The named predicate behind the vector choice: base 16-byte aligned, unit column stride, every row stride and
// hidden a multiple of the 16-byte chunk, for every present operand.
[[nodiscard]] bool vector_access_allowed(const NormCall& call);

// "out: written view may address one element twice (...): shape=(4,4) stride=(0,1) offset=0 dtype=bf16 storage=16"
std::string describe_rejection(const NormCall& call, const PlanResult& r);

// One line: "variant=subwarp lanes=16 threads=256 access=vector rows=65536 hidden=128 grid=4096 copies=0".
std::string describe_plan(const Plan& p);

// Bug-model planners (kernels/bug_models.cpp); plan() calls these for every policy but kGuarded.
PlanResult plan_bug_model(const NormCall& call, Policy policy);

// Fills a plan's KernelArgs from a validated call exactly as the guarded dispatcher does (shared with bug models
// that fall back to the correct path, e.g. after a modelled copy).
Plan guarded_plan_for_valid_call(const NormCall& call);

}  // namespace strideguard
