// Layout: a plain value (shape, stride, storage offset, in elements) and its algebra, kept apart from any pointer.
#pragma once

#include <array>
#include <initializer_list>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kernels/dtype.hpp"
#include "kernels/sg_hd.hpp"

namespace strideguard {

inline constexpr int kMaxRank = 8;

// A strided view: element i = (i_0, ..., i_{rank-1}) lives at storage index offset + sum_k i_k * stride[k].
// Strides may be negative or zero (as in DLPack and NumPy); nothing here is normalised.
struct Layout {
  int rank = 0;
  std::array<std::int64_t, kMaxRank> shape{};
  std::array<std::int64_t, kMaxRank> stride{};
  std::int64_t offset = 0;

  friend bool operator==(const Layout& a, const Layout& b) {
    if (a.rank != b.rank || a.offset != b.offset) return false;
    for (int k = 0; k < a.rank; ++k) {
      if (a.shape[k] != b.shape[k] || a.stride[k] != b.stride[k]) return false;
    }
    return true;
  }
};

// Builds a layout from brace lists: make_layout({2048,32,128}, {6144,128,1}, 4096).
// @pre shape.size() == stride.size() <= kMaxRank (checked: a violation returns std::nullopt).
std::optional<Layout> make_layout(std::initializer_list<std::int64_t> shape,
                                  std::initializer_list<std::int64_t> stride, std::int64_t offset = 0);

// Row-major contiguous layout of the given shape: make_contiguous({4,8}) is (4,8):(8,1).
Layout make_contiguous(std::initializer_list<std::int64_t> shape, std::int64_t offset = 0);

// Checked int64 arithmetic: std::nullopt on overflow. Every footprint computation goes through these.
inline bool mul_overflows(std::int64_t a, std::int64_t b, std::int64_t* out) { return __builtin_mul_overflow(a, b, out); }
inline bool add_overflows(std::int64_t a, std::int64_t b, std::int64_t* out) { return __builtin_add_overflow(a, b, out); }

// Number of elements: product of the shape (1 for rank 0).
// @pre every shape entry >= 0. @post std::nullopt exactly when the product overflows int64.
// Example: numel((2048,32,128):(6144,128,1)) == 8388608.
std::optional<std::int64_t> numel(const Layout& l);

// Smallest and largest storage index the view addresses (offset included). Empty views have no footprint.
struct Footprint {
  std::int64_t min = 0;
  std::int64_t max = -1;
  bool empty() const { return max < min; }
};

// @pre every shape entry >= 0.
// @post std::nullopt exactly when an intermediate of offset + sum (shape_k - 1) * stride_k overflows int64;
//       otherwise min/max equal the brute-force min/max of L(i) over all i (tested exhaustively on small layouts).
// Example: footprint((2048,8,128):(6144,128,1) offset 4096) == [4096, 12587007].
std::optional<Footprint> footprint(const Layout& l);

// Storage index of the element with row-major flat index i.
// @pre 0 <= i < numel(l) and footprint(l) exists (so nothing overflows).
SG_HD std::int64_t index_at(const Layout& l, std::int64_t i) {
  std::int64_t off = l.offset;
  for (int k = l.rank - 1; k >= 0; --k) {
    const std::int64_t n = l.shape[k];
    off += (i % n) * l.stride[k];
    i /= n;
  }
  return off;
}

// Merges dims whose strides chain (stride[k] == shape[k+1] * stride[k+1]) and drops size-1 dims whatever their
// stride. An empty view becomes (0):(1); a one-element view becomes rank 0.
// @post coalesce(L)(i) == L(i) for every flat index i, and rank(coalesce(L)) is minimal among chainings.
// Example: coalesce((32768,1,128):(128,4194304,1)) == (4194304):(1).
Layout coalesce(const Layout& l);

// The leading dims (all but the last) of l, coalesced: the row map a kernel decodes per row.
// Example: row_dims((2048,32,128):(6144,128,1)) == (2048,32):(6144,128); row_dims((16,4096):(4096,1)) == (16):(4096).
Layout row_dims(const Layout& l);

// True when the view may address one storage element twice. Conservative: after dropping size-1 dims and sorting
// by |stride|, each |stride| must exceed the span sum_{j<k} (shape_j - 1) * |stride_j| of the smaller dims; a view
// that fails this test may still be injective (e.g. (3,2):(2,3)), and is still reported.
// @pre footprint(l) exists. @post false implies brute-force injectivity (tested exhaustively on small layouts).
bool may_self_overlap(const Layout& l);

// True when l is row-major contiguous, ignoring size-1 dims (PyTorch's is_contiguous()).
bool is_row_major_contiguous(const Layout& l);

// "shape=(2048,32,128) stride=(6144,128,1) offset=4096 dtype=bf16": the one printed form of a view.
std::string to_string(const Layout& l, DType t);
// "shape=(2048,32,128) stride=(6144,128,1) offset=4096" (no dtype).
std::string to_string(const Layout& l);

// Parses "(a,b,c)" into a list of int64; "()" is empty; a trailing comma as in "(128,)" is accepted.
std::optional<std::array<std::int64_t, kMaxRank>> parse_int_tuple(std::string_view s, int* count);

}  // namespace strideguard
