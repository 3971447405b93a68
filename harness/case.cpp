// .case printing and parsing. Floats print in fmt's shortest round-trip form, so parse(print(c)) == c.
#include "harness/case.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace strideguard {

std::string_view to_string(Backend b) { return b == Backend::kCpu ? "cpu" : "gpu"; }

std::optional<Backend> parse_backend(std::string_view s) {
  if (s == "cpu") return Backend::kCpu;
  if (s == "gpu") return Backend::kGpu;
  return std::nullopt;
}

std::string print_case(const Case& c) {
  std::string s = "strideguard-case 1\n";
  s += fmt::format("op {}\neps {}\nseed {}\nbackend {}\npolicy {}\n", to_string(c.op), c.eps, c.seed,
                   to_string(c.backend), to_string(c.policy));
  for (std::size_t i = 0; i < c.storages.size(); ++i) {
    s += fmt::format("storage {} elems={} place={}\n", i, c.storages[i].elems, to_string(c.storages[i].placement));
  }
  for (OperandId id : kAllOperands) {
    const OperandSpec& o = c[id];
    if (!o.present) continue;
    s += fmt::format("{}: {} storage={}\n", to_string(id), to_string(o.layout, o.dtype), o.storage);
  }
  return s;
}

std::string describe(const ParseError& e) {
  return fmt::format("line {}: field '{}': {}", e.line, e.field, e.message);
}

namespace {

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    const std::size_t j = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > j) out.push_back(line.substr(j, i - j));
  }
  return out;
}

template <class T>
bool parse_int(std::string_view s, T* v) {
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc{} && p == s.data() + s.size() && !s.empty();
}

// Splits "key=value"; false when the key differs.
bool key_value(std::string_view tok, std::string_view key, std::string_view* value) {
  if (tok.size() <= key.size() || tok.substr(0, key.size()) != key || tok[key.size()] != '=') return false;
  *value = tok.substr(key.size() + 1);
  return true;
}

}  // namespace

ParseResult parse_case(std::string_view text) {
  ParseResult r;
  Case c;
  int lineno = 0;
  bool header = false;
  auto fail = [&](std::string field, std::string msg) {
    r.value.reset();
    r.error = {lineno, std::move(field), std::move(msg)};
    return r;
  };
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++lineno;
    const auto tok = split_ws(line);
    if (tok.empty() || tok[0].front() == '#') continue;
    if (!header) {
      if (tok.size() != 2 || tok[0] != "strideguard-case" || tok[1] != "1") {
        return fail("header", "expected 'strideguard-case 1' as the first line");
      }
      header = true;
      continue;
    }
    const std::string_view key = tok[0];
    if (key == "op") {
      if (tok.size() != 2 || !parse_op(tok[1])) return fail("op", "expected rms_norm or fused_add_rms_norm");
      c.op = *parse_op(tok[1]);
    } else if (key == "eps") {
      if (tok.size() != 2) return fail("eps", "expected one number");
      const std::string s(tok[1]);
      char* end = nullptr;
      const float e = std::strtof(s.c_str(), &end);
      if (end != s.c_str() + s.size()) return fail("eps", "expected a number, got '" + s + "'");
      c.eps = e;  // any float, NaN and inf included: the dispatcher decides whether it is valid
    } else if (key == "seed") {
      if (tok.size() != 2 || !parse_int(tok[1], &c.seed)) return fail("seed", "expected an unsigned 64-bit integer");
    } else if (key == "backend") {
      if (tok.size() != 2 || !parse_backend(tok[1])) return fail("backend", "expected cpu or gpu");
      c.backend = *parse_backend(tok[1]);
    } else if (key == "policy") {
      if (tok.size() != 2 || !parse_policy(tok[1])) return fail("policy", "unknown policy (see props --list)");
      c.policy = *parse_policy(tok[1]);
    } else if (key == "storage") {
      std::size_t idx = 0;
      std::string_view v;
      if (tok.size() != 4 || !parse_int(tok[1], &idx)) return fail("storage", "expected 'storage N elems=E place=P'");
      if (idx != c.storages.size()) return fail("storage", "storages must be numbered 0, 1, ... in order");
      StorageSpec st;
      if (!key_value(tok[2], "elems", &v) || !parse_int(v, &st.elems)) return fail("elems", "expected elems=<int64>");
      if (!key_value(tok[3], "place", &v) || !parse_placement(v)) return fail("place", "expected place=trailing|leading");
      st.placement = *parse_placement(v);
      c.storages.push_back(st);
    } else if (key.back() == ':' && parse_operand(key.substr(0, key.size() - 1))) {
      const OperandId id = *parse_operand(key.substr(0, key.size() - 1));
      OperandSpec& o = c[id];
      if (o.present) return fail(std::string(key.substr(0, key.size() - 1)), "operand given twice");
      if (tok.size() != 6) return fail("operand", "expected 'NAME: shape=(..) stride=(..) offset=N dtype=T storage=S'");
      std::string_view v;
      int ns = 0, nt = 0;
      if (!key_value(tok[1], "shape", &v)) return fail("shape", "expected shape=(...)");
      const auto shape = parse_int_tuple(v, &ns);
      if (!shape) return fail("shape", "expected (a,b,...) of at most 8 int64, got '" + std::string(v) + "'");
      if (!key_value(tok[2], "stride", &v)) return fail("stride", "expected stride=(...)");
      const auto stride = parse_int_tuple(v, &nt);
      if (!stride) return fail("stride", "expected (a,b,...) of at most 8 int64, got '" + std::string(v) + "'");
      if (ns != nt) return fail("stride", "shape and stride must have the same length");
      o.layout.rank = ns;
      o.layout.shape = *shape;
      o.layout.stride = *stride;
      if (!key_value(tok[3], "offset", &v) || !parse_int(v, &o.layout.offset)) return fail("offset", "expected offset=<int64>");
      if (!key_value(tok[4], "dtype", &v) || !parse_dtype(v)) return fail("dtype", "expected dtype=f32|f16|bf16");
      o.dtype = *parse_dtype(v);
      if (!key_value(tok[5], "storage", &v) || !parse_int(v, &o.storage)) return fail("storage", "expected storage=<index>");
      o.present = true;
    } else {
      return fail(std::string(key), "unknown field");
    }
  }
  if (!header) return fail("header", "empty input: expected 'strideguard-case 1'");
  for (OperandId id : kAllOperands) {
    if (c[id].present && (c[id].storage < 0 || static_cast<std::size_t>(c[id].storage) >= c.storages.size())) {
      lineno = 0;
      return fail(std::string(to_string(id)), "refers to storage " + std::to_string(c[id].storage) + ", which is not declared");
    }
  }
  r.value = c;
  return r;
}

std::vector<int> storage_elem_sizes(const Case& c) {
  std::vector<int> es(c.storages.size(), 1);
  for (OperandId id : kAllOperands) {
    const OperandSpec& o = c[id];
    if (o.present && o.storage >= 0 && static_cast<std::size_t>(o.storage) < es.size()) {
      es[static_cast<std::size_t>(o.storage)] = std::max(es[static_cast<std::size_t>(o.storage)], dtype_size(o.dtype));
    }
  }
  return es;
}

NormCall call_for_case(const Case& c, const std::vector<void*>& data, const std::vector<std::int64_t>& storage_bytes) {
  NormCall call;
  call.op = c.op;
  call.eps = c.eps;
  for (OperandId id : kAllOperands) {
    const OperandSpec& o = c[id];
    if (!o.present) continue;
    TensorArg& t = call[id];
    t.present = true;
    t.dtype = o.dtype;
    t.layout = o.layout;
    if (o.storage < 0 || static_cast<std::size_t>(o.storage) >= c.storages.size()) continue;  // no storage at all
    const auto i = static_cast<std::size_t>(o.storage);
    t.data = data[i];
    t.storage_elems = storage_bytes[i] >= 0 ? storage_bytes[i] / dtype_size(o.dtype) : c.storages[i].elems;
  }
  return call;
}

std::optional<std::string> check_replayable(const Case& c) {
  for (OperandId id : kAllOperands) {
    const OperandSpec& o = c[id];
    if (!o.present) continue;
    if (o.storage < 0 || static_cast<std::size_t>(o.storage) >= c.storages.size()) {
      return fmt::format("{}: storage {} is not declared", to_string(id), o.storage);
    }
  }
  for (std::size_t i = 0; i < c.storages.size(); ++i) {
    // 2^40 elements (a few TiB of virtual space at most) is far past every real storage and every generator.
    if (c.storages[i].elems < 0 || c.storages[i].elems > (std::int64_t{1} << 40)) {
      return fmt::format("storage {}: elems={} is outside [0, 2^40], which this host cannot map", i, c.storages[i].elems);
    }
  }
  return std::nullopt;
}

}  // namespace strideguard
