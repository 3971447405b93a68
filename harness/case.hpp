// Case: everything needed to replay one call, and nothing else, with one lossless text form (.case files).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/arena.hpp"
#include "kernels/norm_call.hpp"
#include "kernels/plan.hpp"

namespace strideguard {

enum class Backend : std::uint8_t { kCpu, kGpu };
std::string_view to_string(Backend b);  // "cpu" | "gpu"
std::optional<Backend> parse_backend(std::string_view s);

// One storage buffer; several operands may live in it (that is how aliasing is expressed).
struct StorageSpec {
  std::int64_t elems = 0;  // in elements of the dtype of the operands that use it
  Placement placement = Placement::kTrailing;
  friend bool operator==(const StorageSpec&, const StorageSpec&) = default;
};

struct OperandSpec {
  bool present = false;
  Layout layout;
  DType dtype = DType::kBF16;
  int storage = 0;  // index into Case::storages
  // Absent operands compare equal whatever their stale fields: the .case form does not print them.
  friend bool operator==(const OperandSpec& a, const OperandSpec& b) {
    if (a.present != b.present) return false;
    return !a.present || (a.layout == b.layout && a.dtype == b.dtype && a.storage == b.storage);
  }
};

struct Case {
  Op op = Op::kRmsNorm;
  float eps = 1e-6f;
  std::uint64_t seed = 1;  // value seed: every element's value is a function of (seed, operand, index)
  Backend backend = Backend::kCpu;
  Policy policy = Policy::kGuarded;
  std::array<OperandSpec, kNumOperands> operands{};
  std::vector<StorageSpec> storages;

  OperandSpec& operator[](OperandId id) { return operands[static_cast<int>(id)]; }
  const OperandSpec& operator[](OperandId id) const { return operands[static_cast<int>(id)]; }
  friend bool operator==(const Case&, const Case&) = default;
};

// The .case text form. Example:
//   strideguard-case 1
//   op fused_add_rms_norm
//   eps 1e-06
//   seed 7
//   backend cpu
//   policy guarded
//   storage 0 elems=12582912 place=trailing
//   storage 1 elems=128 place=leading
//   x: shape=(2048,32,128) stride=(6144,128,1) offset=0 dtype=bf16 storage=0
//   weight: shape=(128) stride=(1) offset=0 dtype=bf16 storage=1
//   ...
// Lines starting with '#' and blank lines are ignored. print(parse(text)) == text for every printed Case.
std::string print_case(const Case& c);

struct ParseError {
  int line = 0;        // 1-based
  std::string field;   // the field that failed ("shape", "storage", "op", ...)
  std::string message;
};
std::string describe(const ParseError& e);  // "line 9: field 'stride': expected (a,b,...) of int64, got '(1,'"

struct ParseResult {
  std::optional<Case> value;
  ParseError error;
};
ParseResult parse_case(std::string_view text);

// Bytes per element of each storage: the largest dtype among the operands that name it (1 for a storage no
// operand names; an operand naming a storage that does not exist is skipped).
std::vector<int> storage_elem_sizes(const Case& c);

// The NormCall a Case describes, with storage i at data[i]. storage_bytes[i] >= 0: the storage's size in bytes,
// and an operand's storage_elems is that over the operand's own element size (a storage shared by dtypes holds
// bytes / element size of each); < 0: the storage has no byte size here (it overflows, or is not mapped), and
// storage_elems is the case's element count as given, for the dispatcher to judge. An operand naming a storage
// that does not exist gets no data pointer and no elements. Used by bind_case (real buffers) and the planner
// fuzzer (synthetic addresses).
NormCall call_for_case(const Case& c, const std::vector<void*>& data, const std::vector<std::int64_t>& storage_bytes);

// Case-level sanity for replay (storages referenced exist, sizes representable on this host). Not the
// dispatcher's rules: a Case may describe an invalid call on purpose.
std::optional<std::string> check_replayable(const Case& c);

}  // namespace strideguard
