// run_case: Case -> guarded storages -> plan -> backend -> reference, canaries, footprint -> Verdict.
#include "harness/oracle.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "reference/reference.hpp"

namespace strideguard {

std::string_view to_string(VerdictKind k) {
  switch (k) {
#define SG_VERDICT_NAME(name, text) \
  case VerdictKind::name: return std::string_view(#name).substr(1);
    SG_VERDICT_LIST(SG_VERDICT_NAME)
#undef SG_VERDICT_NAME
  }
  return "?";
}

std::string_view describe(VerdictKind k) {
  switch (k) {
#define SG_VERDICT_TEXT(name, text) \
  case VerdictKind::name: return text;
    SG_VERDICT_LIST(SG_VERDICT_TEXT)
#undef SG_VERDICT_TEXT
  }
  return "?";
}

std::optional<VerdictKind> parse_verdict_kind(std::string_view s) {
#define SG_VERDICT_PARSE(name, text) \
  if (s == std::string_view(#name).substr(1)) return VerdictKind::name;
  SG_VERDICT_LIST(SG_VERDICT_PARSE)
#undef SG_VERDICT_PARSE
  return std::nullopt;
}

FailureClass classify(VerdictKind k) {
  switch (k) {
    case VerdictKind::kPass:
    case VerdictKind::kRejected: return FailureClass::kNone;
    case VerdictKind::kOutOfBoundsRead:
    case VerdictKind::kOutOfBoundsWrite:
    case VerdictKind::kMisaligned:
    case VerdictKind::kWriteOutsideView:
    case VerdictKind::kDeviceFault: return FailureClass::kFault;
    case VerdictKind::kUnjustifiedRejection:
    case VerdictKind::kWrongRejection:
    case VerdictKind::kInvalidAccepted:
    case VerdictKind::kBackendUnavailable: return FailureClass::kRejection;
    default: return FailureClass::kWrongOutput;
  }
}

std::string_view to_string(FailureClass c) {
  switch (c) {
    case FailureClass::kNone: return "none";
    case FailureClass::kFault: return "fault";
    case FailureClass::kWrongOutput: return "wrong-output";
    case FailureClass::kRejection: return "rejection";
  }
  return "?";
}

std::string describe(const Verdict& v) {
  std::string s = fmt::format("{}: {}", to_string(v.kind), describe(v.kind));
  if (!v.detail.empty()) s += "\n  " + v.detail;
  if (!v.plan.empty()) s += "\n  plan: " + v.plan;
  return s;
}

namespace {
GpuRunner& gpu_runner() {
  static GpuRunner r;
  return r;
}

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::string multi_index(const Layout& l, std::int64_t flat) {
  std::string s = "(";
  std::int64_t idx[kMaxRank] = {};
  for (int k = l.rank - 1; k >= 0; --k) {
    idx[k] = l.shape[k] ? flat % l.shape[k] : 0;
    flat = l.shape[k] ? flat / l.shape[k] : 0;
  }
  for (int k = 0; k < l.rank; ++k) s += (k ? "," : "") + std::to_string(idx[k]);
  return s + ")";
}

std::string show(DType t, double v) { return fmt::format("{} ({})", v, to_string(t)); }

// Which operands' views address each element of one storage: bit (1 << operand). Dense storages use a flat
// array (one byte an element); sparse ones a hash map over the addressed elements only.
class RoleMap {
 public:
  RoleMap(std::int64_t elems, bool sparse) : sparse_(sparse) {
    if (!sparse) dense_.assign(static_cast<std::size_t>(elems), 0);
  }
  void add(std::int64_t e, OperandId id) {
    const auto bit = static_cast<std::uint8_t>(1u << static_cast<int>(id));
    if (sparse_) {
      map_[e] |= bit;
    } else {
      dense_[static_cast<std::size_t>(e)] |= bit;
    }
  }
  std::uint8_t get(std::int64_t e) const {
    if (!sparse_) return e >= 0 && e < static_cast<std::int64_t>(dense_.size()) ? dense_[static_cast<std::size_t>(e)] : 0;
    const auto it = map_.find(e);
    return it == map_.end() ? 0 : it->second;
  }

 private:
  bool sparse_;
  std::vector<std::uint8_t> dense_;
  std::unordered_map<std::int64_t, std::uint8_t> map_;
};

}  // namespace

void set_gpu_runner(GpuRunner runner) { gpu_runner() = std::move(runner); }
bool gpu_runner_available() { return static_cast<bool>(gpu_runner()); }

double case_value(std::uint64_t seed, OperandId id, DType dtype, std::int64_t i) {
  const std::uint64_t h = splitmix(seed ^ splitmix(static_cast<std::uint64_t>(id) * 0x100000001b3ull +
                                                   static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ull));
  const int cls = static_cast<int>(h % 100);
  const int r = static_cast<int>((h >> 41) & 0xff);
  const bool f16 = dtype == DType::kF16;
  int e = 0;
  if (id == OperandId::kWeight) {
    e = r % 4 - 2;  // weights around 1: [2^-2, 2^2)
  } else if (cls < 2) {
    return 0.0;
  } else if (cls < 7) {  // tiny: f16 subnormals; 2^-40.. elsewhere (squares stay normal in fp32)
    e = f16 ? -20 + r % 5 : -40 + r % 10;
  } else if (cls < 12) {  // large: squares overflow f16 (> 65504) and stress the fp32 sum
    e = f16 ? 8 + r % 8 : 20 + r % 20;
  } else {
    e = r % 8 - 4;
  }
  // An fp32 with exponent e and 23 random mantissa bits, rounded to the dtype by the exact encoders (integer
  // arithmetic only, subnormals included): the result is exactly representable in the dtype.
  const std::uint32_t sign = static_cast<std::uint32_t>((h >> 40) & 1) << 31;
  const float f = bits_float(sign | (static_cast<std::uint32_t>(e + 127) << 23) | static_cast<std::uint32_t>((h >> 8) & 0x7fffff));
  switch (dtype) {
    case DType::kF32: return f;
    case DType::kF16: return f16_bits_to_f32(f32_to_f16_bits(f));
    case DType::kBF16: return bf16_bits_to_f32(f32_to_bf16_bits(f));
  }
  return f;
}

BoundCase bind_case(const Case& c, HostArena& arena) {
  arena.release_all();
  BoundCase b;
  b.elem_size = storage_elem_sizes(c);
  std::byte* unmapped = arena.acquire(0, Placement::kTrailing, "unmapped storage").data;  // next byte is a guard
  std::vector<void*> data(c.storages.size(), unmapped);
  std::vector<std::int64_t> bytes(c.storages.size(), -1);  // -1: not mapped, the case's element count stands
  for (std::size_t i = 0; i < c.storages.size(); ++i) {
    std::string name = fmt::format("storage {} (", i);
    bool first = true;
    for (OperandId id : kAllOperands) {
      if (c[id].present && c[id].storage == static_cast<int>(i)) {
        name += (first ? "" : ", ") + std::string(to_string(id));
        first = false;
      }
    }
    name += ")";
    std::int64_t nbytes = 0;
    const bool mappable = c.storages[i].elems >= 0 && !mul_overflows(c.storages[i].elems, b.elem_size[i], &nbytes) &&
                          nbytes <= kMaxMappedBytes;
    if (!mappable) {
      b.buffers.push_back(nullptr);  // element count kept as given: the dispatcher judges it
      continue;
    }
    HostArena::Buffer& buf = arena.acquire(static_cast<std::size_t>(nbytes), c.storages[i].placement, name);
    b.buffers.push_back(&buf);
    data[i] = buf.data;
    bytes[i] = nbytes;
  }
  b.call = call_for_case(c, data, bytes);
  return b;
}

ElementIndex prepare_storages(const Case& c, const BoundCase& b, HostArena& arena) {
  const NormCall& call = b.call;
  const std::int64_t n = *numel(call[OperandId::kX].layout);
  ElementIndex where;
  // Each view element's storage index, computed once (index_at's divisions are the oracle's largest cost).
  for (OperandId id : kAllOperands) {
    if (!c[id].present) continue;
    const TensorArg& t = call[id];
    const std::int64_t cnt = id == OperandId::kWeight ? t.layout.shape[0] : n;
    const int es = dtype_size(t.dtype);
    std::vector<std::int64_t>& w = where[static_cast<int>(id)];
    w.resize(static_cast<std::size_t>(cnt));
    for (std::int64_t i = 0; i < cnt; ++i) {
      w[static_cast<std::size_t>(i)] = reference::element_index(t, i);
      arena.materialize(*b.buffers[c[id].storage], static_cast<std::size_t>(w[static_cast<std::size_t>(i)]) * es, es);
    }
  }
  for (OperandId id : {OperandId::kOut, OperandId::kResidualOut}) {
    const TensorArg& t = call[id];
    for (std::int64_t e : where[static_cast<int>(id)]) {
      std::memset(static_cast<std::byte*>(t.data) + e * dtype_size(t.dtype), kPoisonByte, dtype_size(t.dtype));
    }
  }
  for (OperandId id : {OperandId::kX, OperandId::kWeight, OperandId::kResidual, OperandId::kPostResidualAddition}) {
    const TensorArg& t = call[id];
    const std::vector<std::int64_t>& w = where[static_cast<int>(id)];
    for (std::size_t i = 0; i < w.size(); ++i) {
      store_from_double(t.dtype, case_value(c.seed, id, t.dtype, static_cast<std::int64_t>(i)),
                        static_cast<std::byte*>(t.data) + w[i] * dtype_size(t.dtype));
    }
  }
  return where;
}

Verdict run_case(const Case& c, HostArena& arena, const RunOptions& options) {
  Verdict v;
  auto fail = [&](VerdictKind k, std::string detail) {
    v.kind = k;
    v.detail = std::move(detail);
    return v;
  };

  // 1. Storages in guarded memory; operands point at their storage's element 0.
  BoundCase bound = bind_case(c, arena);
  const NormCall& call = bound.call;
  const std::vector<int>& elem_size = bound.elem_size;
  const std::vector<HostArena::Buffer*>& bufs = bound.buffers;

  // 2. Decide, and check the decision against the independent validator.
  const reference::Verdict ref = reference::validate(call);
  PlanResult pr = plan(call, c.policy);
  if (options.tamper) options.tamper(pr, call);
  if (!pr.ok()) {
    v.plan = "rejected: " + describe_rejection(call, pr);
    if (ref.status == Status::kOk) return fail(VerdictKind::kUnjustifiedRejection, v.plan);
    if (ref.status != pr.status || ref.operand != pr.operand) {
      return fail(VerdictKind::kWrongRejection,
                  fmt::format("reference says {}: {}", to_string(ref.operand), to_string(ref.status)));
    }
    v.kind = VerdictKind::kRejected;
    return v;
  }
  v.plan = describe_plan(pr.plan);
  if (ref.status != Status::kOk) {
    return fail(VerdictKind::kInvalidAccepted, fmt::format("reference rejects it: {}: {} ({})", to_string(ref.operand),
                                                          to_string(ref.status), describe(ref.status)));
  }
  for (std::size_t i = 0; i < bufs.size(); ++i) {
    if (bufs[i] == nullptr) {
      return fail(VerdictKind::kBackendUnavailable,
                  fmt::format("storage {} ({} elements) is too large to map on this host", i, c.storages[i].elems));
    }
  }
  if (c.backend == Backend::kGpu && !gpu_runner_available()) {
    return fail(VerdictKind::kBackendUnavailable, "this build has no GPU backend (configure with -DSG_GPU=ON)");
  }

  // 3. Storage contents (poisoned outputs, deterministic inputs), and the roles of every view element, per
  // storage: bit (1 << operand) set when that operand's view addresses it.
  const std::int64_t n = *numel(call[OperandId::kX].layout);
  const ElementIndex where = prepare_storages(c, bound, arena);
  auto element = [&](OperandId id, std::int64_t i) { return where[static_cast<int>(id)][static_cast<std::size_t>(i)]; };
  std::vector<RoleMap> roles;
  for (std::size_t s = 0; s < c.storages.size(); ++s) {
    roles.emplace_back(static_cast<std::int64_t>(bufs[s]->bytes) / elem_size[s], bufs[s]->sparse);
  }
  for (OperandId id : kAllOperands) {
    for (std::int64_t e : where[static_cast<int>(id)]) roles[c[id].storage].add(e, id);
  }
  std::vector<std::vector<std::byte>> snapshot(c.storages.size());
  for (std::size_t s = 0; s < c.storages.size(); ++s) {
    for (auto [lo, hi] : arena.materialized_ranges(*bufs[s])) {
      snapshot[s].insert(snapshot[s].end(), bufs[s]->data + lo, bufs[s]->data + hi);
    }
  }
  const reference::Outputs expected = reference::compute(call);

  // 5. Run.
  std::vector<WriteRecord> writes;
  writes.reserve(static_cast<std::size_t>(2 * n));  // out and residual_out, each element once
  CpuRunResult cpu;
  std::string device_error;
  const auto sizes = storage_sizes(call);
  std::optional<GuardFault> guard;
  if (c.backend == Backend::kCpu) {
    CpuRunOptions ro;
    ro.check_accesses = options.check_accesses;
    ro.writes = &writes;
    guard = arena.catch_guard_faults([&] { cpu = run_cpu(pr.plan, sizes, ro); });
  } else {
    device_error = gpu_runner()(call, c);
  }
  if (guard) {
    return fail(guard->is_write ? VerdictKind::kOutOfBoundsWrite : VerdictKind::kOutOfBoundsRead, describe(*guard));
  }
  if (cpu.violation) {
    const VerdictKind k = cpu.violation.fault == AccessFault::kMisaligned      ? VerdictKind::kMisaligned
                          : cpu.violation.fault == AccessFault::kWriteOutOfBounds ? VerdictKind::kOutOfBoundsWrite
                                                                                  : VerdictKind::kOutOfBoundsRead;
    return fail(k, describe(cpu.violation, sizes));
  }
  if (!device_error.empty()) return fail(VerdictKind::kDeviceFault, device_error);

  // 6. Every byte outside the written views is as it was: slack canaries, gaps, other views, inputs.
  for (std::size_t s = 0; s < c.storages.size(); ++s) {
    const HostArena::Buffer& b = *bufs[s];
    if (!arena.slack_intact(b)) return fail(VerdictKind::kWriteOutsideView, "canary overwritten in the slack around " + b.name);
    if (!arena.untouched_outside_materialized(b)) {
      return fail(VerdictKind::kWriteOutsideView, "a page of " + b.name + " outside every view was written");
    }
    const int es = elem_size[s] ? elem_size[s] : 1;
    std::size_t snap = 0;
    for (auto [lo, hi] : arena.materialized_ranges(b)) {
      for (std::size_t byte = lo; byte < hi; ++byte, ++snap) {
        if (b.data[byte] == snapshot[s][snap]) continue;
        const std::int64_t e = static_cast<std::int64_t>(byte) / es;
        const std::uint8_t role = roles[s].get(e);
        constexpr std::uint8_t kWrittenMask = (1u << static_cast<int>(OperandId::kOut)) |
                                              (1u << static_cast<int>(OperandId::kResidualOut));
        if (role & kWrittenMask) continue;
        if (role) {
          std::string who;
          for (OperandId id : kAllOperands) {
            if (role & (1u << static_cast<int>(id))) who += (who.empty() ? "" : ",") + std::string(to_string(id));
          }
          return fail(VerdictKind::kInputModified, fmt::format("{} element {} ({}) changed", b.name, e, who));
        }
        return fail(VerdictKind::kWriteOutsideView,
                    fmt::format("{} element {} is in no view but changed (byte {})", b.name, e, byte));
      }
    }
  }
  // Writes the emulator logged must land in the writing operand's own view.
  for (const WriteRecord& w : writes) {
    if (!(roles[c[w.operand].storage].get(w.element) & (1u << static_cast<int>(w.operand)))) {
      return fail(VerdictKind::kWriteOutsideView,
                  fmt::format("{} wrote storage element {}, outside its view", to_string(w.operand), w.element));
    }
  }

  // 7. Outputs against the reference.
  const DType dt = call[OperandId::kX].dtype;
  const std::int64_t hidden = call[OperandId::kX].layout.shape[call[OperandId::kX].layout.rank - 1];
  const std::int64_t tol = reference::out_tolerance_ulps(dt, hidden);
  for (OperandId id : {OperandId::kResidualOut, OperandId::kOut}) {
    if (!c[id].present) continue;
    const TensorArg& t = call[id];
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t e = element(id, i);
      const auto* p = static_cast<const std::byte*>(t.data) + e * dtype_size(dt);
      const double got = load_as_double(dt, p);
      const bool is_out = id == OperandId::kOut;
      const double want = is_out ? round_to_dtype(dt, expected.out[i]) : expected.residual_out[i];
      bool ok = false;
      if (std::isnan(want) || std::isnan(got)) {
        ok = std::isnan(want) && std::isnan(got);
      } else if (!is_out) {
        ok = got == want;
      } else {
        const std::int64_t ulps = std::llabs(ordered_bits(dt, got) - ordered_bits(dt, want));
        const TensorArg& w = call[OperandId::kWeight];
        const double wmag = std::fabs(load_as_double(
            dt, static_cast<const std::byte*>(w.data) + (w.layout.offset + (i % hidden) * w.layout.stride[0]) * dtype_size(dt)));
        ok = ulps <= tol || std::fabs(got - expected.out[i]) <= reference::out_tolerance_abs(wmag);
      }
      if (ok) continue;
      bool poison = true;
      for (int j = 0; j < dtype_size(dt); ++j) poison = poison && p[j] == std::byte{kPoisonByte};
      return fail(poison ? VerdictKind::kUnwritten : VerdictKind::kMismatch,
                  fmt::format("{}{} (storage element {}): got {}, expected {}{}", to_string(id),
                              multi_index(t.layout, i), e, show(dt, got), show(dt, want),
                              is_out ? fmt::format(" within {} ulp", tol) : std::string(" exactly")));
    }
  }
  if (options.require_zero_copy && pr.plan.temp_elems > 0) {
    return fail(VerdictKind::kNotZeroCopy, fmt::format("{} elements copied to temporaries", pr.plan.temp_elems));
  }
  if (options.capture) {
    for (OperandId id : {OperandId::kOut, OperandId::kResidualOut}) {
      std::vector<std::uint32_t>& dst = id == OperandId::kOut ? options.capture->out : options.capture->residual_out;
      dst.clear();
      if (!c[id].present) continue;
      const TensorArg& t = call[id];
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint32_t bits = 0;
        std::memcpy(&bits, static_cast<const std::byte*>(t.data) + element(id, i) * dtype_size(dt),
                    dtype_size(dt));
        dst.push_back(bits);
      }
    }
  }
  return v;
}

}  // namespace strideguard
