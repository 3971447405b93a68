#include "bench/bench_case.hpp"

#include <charconv>
#include <utility>

namespace strideguard::bench {

CustomCase custom_case(const std::string& shape_s, const std::string& stride_s, const std::string& offset_s, bool fused,
                       bool post, std::size_t total_mem_bytes) {
  CustomCase r;
  auto fail = [&](std::string e) {
    r.error = std::move(e);
    return r;
  };
  if (shape_s.empty() || stride_s.empty()) return fail("--shape and --stride go together");
  if (post && !fused) return fail("--post: post_residual_addition is an operand of fused add; give --fused too");
  int ns = 0, nt = 0;
  const auto shape = parse_int_tuple(shape_s, &ns);
  if (!shape) return fail("--shape: expected (a,b,...) of at most 8 int64, got '" + shape_s + "'");
  const auto stride = parse_int_tuple(stride_s, &nt);
  if (!stride) return fail("--stride: expected (a,b,...) of at most 8 int64, got '" + stride_s + "'");
  if (ns != nt) return fail("--stride: shape and stride must have the same length");
  if (ns == 0) return fail("--shape: x needs at least one dim (its last is the normalised row)");
  Layout x;
  x.rank = ns;
  x.shape = *shape;
  x.stride = *stride;
  if (!offset_s.empty()) {
    const auto [ptr, ec] = std::from_chars(offset_s.data(), offset_s.data() + offset_s.size(), x.offset);
    if (ec != std::errc{} || ptr != offset_s.data() + offset_s.size()) {
      return fail("--offset: expected an int64, got '" + offset_s + "'");
    }
  }
  for (int k = 0; k < ns; ++k) {
    if (x.shape[k] < 0) return fail("--shape: x " + to_string(x) + ": dim " + std::to_string(k) + " is negative");
  }
  const auto n = numel(x);
  if (!n) return fail("--shape: x " + to_string(x) + ": the element count overflows int64");
  if (*n == 0) return fail("--shape: x " + to_string(x) + ": an empty view has nothing to time");
  const auto fp = footprint(x);
  if (!fp) return fail("x " + to_string(x) + ": its storage indices overflow int64");
  if (fp->min < 0) {
    return fail("--offset: x " + to_string(x) + " addresses storage index " + std::to_string(fp->min) +
                ", below 0: raise the offset");
  }
  // The largest dtype's bytes of one set: x's storage, out, and the fused operands (each as large as x's elements).
  const double elems = static_cast<double>(fp->max) + 1 + static_cast<double>(*n) * (fused ? (post ? 4 : 3) : 1);
  if (elems * 4 > static_cast<double>(total_mem_bytes) / 4) {
    return fail("x " + to_string(x) + ": one set of operands (" + std::to_string(static_cast<long long>(elems * 4 / 1e6)) +
                " MB in f32) exceeds a quarter of the device's memory");
  }
  BenchCase bc;
  bc.op = fused ? Op::kFusedAddRmsNorm : Op::kRmsNorm;
  bc.post = post;
  bc.name = std::string(fused ? (post ? "fused add+post " : "fused add ") : "") + to_string(x);
  bc.x = x;
  bc.x_storage = fp->max + 1;
  r.value = bc;
  return r;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

}  // namespace strideguard::bench
