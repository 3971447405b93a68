// Layout algebra: construction, overflow-checked size and footprint, coalescing, overlap test, printing.
#include "kernels/layout.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace strideguard {

std::optional<Layout> make_layout(std::initializer_list<std::int64_t> shape,
                                  std::initializer_list<std::int64_t> stride, std::int64_t offset) {
  if (shape.size() != stride.size() || shape.size() > static_cast<std::size_t>(kMaxRank)) return std::nullopt;
  Layout l;
  l.rank = static_cast<int>(shape.size());
  std::copy(shape.begin(), shape.end(), l.shape.begin());
  std::copy(stride.begin(), stride.end(), l.stride.begin());
  l.offset = offset;
  return l;
}

Layout make_contiguous(std::initializer_list<std::int64_t> shape, std::int64_t offset) {
  Layout l;
  l.rank = static_cast<int>(std::min<std::size_t>(shape.size(), kMaxRank));
  std::copy_n(shape.begin(), l.rank, l.shape.begin());
  std::int64_t s = 1;
  for (int k = l.rank - 1; k >= 0; --k) {
    l.stride[k] = s;
    s *= std::max<std::int64_t>(l.shape[k], 1);
  }
  l.offset = offset;
  return l;
}

std::optional<std::int64_t> numel(const Layout& l) {
  for (int k = 0; k < l.rank; ++k) {
    if (l.shape[k] == 0) return 0;  // an empty view never overflows, whatever the other sizes
  }
  std::int64_t n = 1;
  for (int k = 0; k < l.rank; ++k) {
    if (mul_overflows(n, l.shape[k], &n)) return std::nullopt;
  }
  return n;
}

std::optional<Footprint> footprint(const Layout& l) {
  for (int k = 0; k < l.rank; ++k) {
    if (l.shape[k] == 0) return Footprint{};
  }
  std::int64_t lo = l.offset;
  std::int64_t hi = l.offset;
  for (int k = 0; k < l.rank; ++k) {
    std::int64_t reach = 0;
    if (mul_overflows(l.shape[k] - 1, l.stride[k], &reach)) return std::nullopt;
    if (reach < 0) {
      if (add_overflows(lo, reach, &lo)) return std::nullopt;
    } else {
      if (add_overflows(hi, reach, &hi)) return std::nullopt;
    }
  }
  return Footprint{lo, hi};
}

Layout coalesce(const Layout& l) {
  Layout out;
  for (int k = 0; k < l.rank; ++k) {
    if (l.shape[k] == 0) {
      out.rank = 1;
      out.shape[0] = 0;
      out.stride[0] = 1;
      out.offset = l.offset;
      return out;
    }
  }
  // Walk from the innermost dim outwards, keeping a stack of merged dims in reverse order.
  std::array<std::int64_t, kMaxRank> n{};
  std::array<std::int64_t, kMaxRank> s{};
  int r = 0;
  for (int k = l.rank - 1; k >= 0; --k) {
    if (l.shape[k] == 1) continue;
    if (r > 0) {
      std::int64_t chained = 0;
      if (!mul_overflows(n[r - 1], s[r - 1], &chained) && chained == l.stride[k]) {
        std::int64_t merged = 0;
        if (!mul_overflows(n[r - 1], l.shape[k], &merged)) {
          n[r - 1] = merged;
          continue;
        }
      }
    }
    n[r] = l.shape[k];
    s[r] = l.stride[k];
    ++r;
  }
  out.rank = r;
  for (int k = 0; k < r; ++k) {
    out.shape[k] = n[r - 1 - k];
    out.stride[k] = s[r - 1 - k];
  }
  out.offset = l.offset;
  return out;
}

Layout row_dims(const Layout& l) {
  Layout lead = l;
  lead.rank = l.rank > 0 ? l.rank - 1 : 0;
  return coalesce(lead);
}

bool may_self_overlap(const Layout& l) {
  std::pair<std::int64_t, std::int64_t> dims[kMaxRank] = {};  // (|stride|, shape)
  int r = 0;
  // An empty view addresses nothing, whatever its other dims' strides: decide that before any stride-0 early out.
  for (int k = 0; k < l.rank; ++k) {
    if (l.shape[k] == 0) return false;
  }
  for (int k = 0; k < l.rank; ++k) {
    if (l.shape[k] == 1) continue;
    if (l.stride[k] == 0) return true;
    dims[r++] = {std::llabs(l.stride[k]), l.shape[k]};
  }
  // Insertion sort: at most 8 dims (and std::sort trips a GCC 12 -Warray-bounds false positive here).
  for (int i = 1; i < r; ++i) {
    for (int j = i; j > 0 && dims[j] < dims[j - 1]; --j) std::swap(dims[j], dims[j - 1]);
  }
  std::int64_t span = 0;
  for (int k = 0; k < r; ++k) {
    if (dims[k].first <= span) return true;
    std::int64_t reach = 0;
    if (mul_overflows(dims[k].second - 1, dims[k].first, &reach) || add_overflows(span, reach, &span)) return true;
  }
  return false;
}

bool is_row_major_contiguous(const Layout& l) {
  std::int64_t expected = 1;
  for (int k = l.rank - 1; k >= 0; --k) {
    if (l.shape[k] == 0) return true;
    if (l.shape[k] == 1) continue;
    if (l.stride[k] != expected) return false;
    if (mul_overflows(expected, l.shape[k], &expected)) return false;
  }
  return true;
}

namespace {
void append_tuple(std::string& s, const std::array<std::int64_t, kMaxRank>& v, int rank) {
  s += '(';
  for (int k = 0; k < rank; ++k) {
    if (k) s += ',';
    s += std::to_string(v[k]);
  }
  s += ')';
}
}  // namespace

std::string to_string(const Layout& l) {
  std::string s = "shape=";
  append_tuple(s, l.shape, l.rank);
  s += " stride=";
  append_tuple(s, l.stride, l.rank);
  s += " offset=";
  s += std::to_string(l.offset);
  return s;
}

std::string to_string(const Layout& l, DType t) {
  std::string s = to_string(l);
  s += " dtype=";
  s += to_string(t);
  return s;
}

std::optional<std::array<std::int64_t, kMaxRank>> parse_int_tuple(std::string_view s, int* count) {
  std::array<std::int64_t, kMaxRank> v{};
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') return std::nullopt;
  s = s.substr(1, s.size() - 2);
  int n = 0;
  while (!s.empty()) {
    const std::size_t comma = s.find(',');
    const std::string_view item = s.substr(0, comma);
    if (n == kMaxRank) return std::nullopt;
    std::int64_t x = 0;
    const auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), x);
    if (ec != std::errc{} || ptr != item.data() + item.size() || item.empty()) return std::nullopt;
    v[n++] = x;
    if (comma == std::string_view::npos) break;
    s = s.substr(comma + 1);
  }
  *count = n;
  return v;
}

}  // namespace strideguard
