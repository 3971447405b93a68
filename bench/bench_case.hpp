// A case of gpu_bench (bench/gpu_bench.hip): x's layout and the operation, from the table's list or from the command
// line (--shape/--stride/--offset/--fused/--post). Host code, so the command line's rules are tested without a GPU
// (bench/tests/bench_case_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "kernels/layout.hpp"
#include "kernels/norm_call.hpp"

namespace strideguard::bench {

struct BenchCase {
  std::string name;
  Op op = Op::kRmsNorm;
  bool post = false;
  Layout x;
  std::int64_t x_storage = 0;  // elements of x's storage (the whole packed QKV projection for slices)
};

// The case of --shape/--stride/--offset/--fused/--post, or why there is none: a message naming the option and the
// rule it breaks. offset_s may be empty (offset 0).
// total_mem_bytes: the device's memory; a case whose one set of operands (x's storage, out, and the fused operands,
// in f32) needs more than a quarter of it is refused (the benchmark rotates at least two sets, and the copy ceiling
// takes 2 GiB).
// @post value exactly when error is empty; value's x is the parsed layout, x_storage = its largest storage index + 1,
//       name = "[fused add |fused add+post ]" + to_string(x). Refused: shape/stride missing, unparsable or of
//       different lengths, rank 0, a negative dim, an empty view, an element count or storage index that overflows
//       int64, a storage index below 0, --post without --fused, too large for total_mem_bytes.
struct CustomCase {
  std::optional<BenchCase> value;
  std::string error;
};
CustomCase custom_case(const std::string& shape_s, const std::string& stride_s, const std::string& offset_s, bool fused,
                       bool post, std::size_t total_mem_bytes);

// "shape=(4096,4096) stride=(4096,1)" holds commas: a CSV field quoted (RFC 4180) when it has a comma or a quote.
std::string csv_field(const std::string& s);

}  // namespace strideguard::bench
