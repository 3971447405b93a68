// libFuzzer target: plan() alone, on synthetic pointers (nothing is allocated, so sizes, strides and storages take
// the whole int64 range), every decision checked by brute force over offsets and alignment:
//   - plan's Status and operand == reference::validate's (the independent restatement of the rules);
//   - accepted => every element of every view lies in its storage (view corners, exact in 128-bit);
//   - accepted => the plan addresses each view element (row r, column c) exactly where the layout puts it, for
//     every operand, at sampled rows (all rows when few) and columns;
//   - accepted => the kernel's own per-thread code, run against a probe memory for sampled rows, touches
//     exactly each row's view elements (each written element once), inside storage, and every multi-element
//     (16-byte) access is 16-byte aligned;
//   - the guarded plan copies nothing.
// SG_POLICY picks the dispatcher (default guarded); bug models fail these checks by design.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz/case_from_bytes.hpp"
#include "kernels/norm_kernel.hpp"
#include "kernels/plan.hpp"
#include "reference/reference.hpp"

namespace strideguard::fuzz {
namespace {

__extension__ typedef __int128 i128;
using i64 = std::int64_t;

// Synthetic storages sit 2^44 bytes (16 TiB) apart, far beyond every storage a whole-case target maps, so two
// storages overlap only when a wild storage is larger than any real one.
constexpr std::uintptr_t kRegion = std::uintptr_t{1} << 44;
// Placement as HostArena does it: leading = page-aligned start; trailing = end flush against a page boundary.
// So a planner finding replays with the same alignment through bind_case and `props --case`.
constexpr std::uintptr_t kPage = 4096;
// Per input, at most this many row elements run through the kernel code against the probe, and this many
// (row, column) pairs go through the addressing check per operand: enough for every row of a small view and the
// sampled rows of a large one, while a planner run stays in the thousands of inputs a second.
constexpr i64 kProbeBudget = i64{1} << 11;
constexpr i64 kMappingBudget = i64{1} << 12;
constexpr i64 kAllRowsBelow = 64;

Policy g_policy = Policy::kGuarded;

struct Synthetic {
  NormCall call;
  std::string placement;  // "# storage 0 at 0x... leading" lines for the report
};

Synthetic synthetic_call(const Case& c, int null_storage) {
  Synthetic s;
  const std::vector<int> es = storage_elem_sizes(c);
  std::vector<void*> data(c.storages.size(), nullptr);
  std::vector<i64> bytes(c.storages.size(), -1);  // -1: the byte size overflows, the case's element count stands
  for (std::size_t i = 0; i < c.storages.size(); ++i) {
    i64 nbytes = 0;
    if (c.storages[i].elems >= 0 && !mul_overflows(c.storages[i].elems, es[i], &nbytes)) bytes[i] = nbytes;
    std::uintptr_t p = kRegion * (i + 1);
    if (c.storages[i].placement == Placement::kTrailing) {
      p += (kPage - static_cast<std::uintptr_t>(c.storages[i].elems) * static_cast<std::uintptr_t>(es[i]) % kPage) % kPage;
    }
    if (static_cast<int>(i) + 1 == null_storage) p = 0;
    data[i] = reinterpret_cast<void*>(p);
    char line[96];
    std::snprintf(line, sizeof line, "# storage %zu at %#llx (%s)\n", i, static_cast<unsigned long long>(p),
                  std::string(to_string(c.storages[i].placement)).c_str());
    s.placement += line;
  }
  s.call = call_for_case(c, data, bytes);  // as bind_case binds real buffers
  return s;
}

[[noreturn]] void fail(const Case& c, const Synthetic& s, const std::string& what) {
  std::fprintf(stderr, "ERROR: strideguard-fuzz: planner: policy=%s: %s\n%s%s", std::string(to_string(g_policy)).c_str(),
               what.c_str(), print_case(c).c_str(), s.placement.c_str());
  __builtin_trap();
}

// Storage index of view element `flat` (row-major), exact: an oracle independent of kernels/layout.hpp.
i128 view_index(const Layout& l, i128 flat) {
  i128 off = l.offset;
  for (int k = l.rank - 1; k >= 0; --k) {
    off += (flat % l.shape[k]) * l.stride[k];
    flat /= l.shape[k];
  }
  return off;
}

// Rows of x's view to check: all when few; otherwise the ends, each leading dim's first step (where an odd
// stride first misaligns), the corners of the leading box (where a view reaches its extremes), and a few picked
// by the input.
std::vector<i64> rows_to_check(const Layout& x, i64 rows, FuzzedDataProvider& in) {
  std::vector<i64> out;
  if (rows <= kAllRowsBelow) {
    for (i64 r = 0; r < rows; ++r) out.push_back(r);
    return out;
  }
  out = {0, 1, rows / 2, rows - 2, rows - 1};
  const int lead = x.rank - 1;
  std::vector<i128> step(static_cast<std::size_t>(std::max(lead, 0)), 1);
  for (int k = lead - 2; k >= 0; --k) step[k] = step[k + 1] * x.shape[k + 1];
  for (int k = 0; k < lead; ++k) {
    if (x.shape[k] > 1) out.push_back(static_cast<i64>(step[k]));
  }
  for (unsigned mask = 0; mask < (1u << lead); ++mask) {
    i128 r = 0;
    for (int k = 0; k < lead; ++k) {
      if (mask & (1u << k)) r += step[k] * (x.shape[k] - 1);
    }
    if (r < rows) out.push_back(static_cast<i64>(r));
  }
  for (int i = 0; i < 8 && in.remaining_bytes() > 0; ++i) out.push_back(in.ConsumeIntegralInRange<i64>(0, rows - 1));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Every element of every present view inside its storage: the extremes of an affine map over a box are at its
// corners, so min and max over the 2^rank corners are the view's exact footprint.
std::string view_outside_storage(const NormCall& call) {
  for (OperandId id : kAllOperands) {
    const TensorArg& t = call[id];
    if (!t.present || *numel(t.layout) == 0) continue;
    const Layout& l = t.layout;
    i128 lo = l.offset, hi = l.offset;
    for (int k = 0; k < l.rank; ++k) {
      const i128 reach = static_cast<i128>(l.shape[k] - 1) * l.stride[k];
      (reach < 0 ? lo : hi) += reach;
    }
    if (lo < 0 || hi >= t.storage_elems) {
      return std::string(to_string(id)) + ": accepted, but its view reaches storage element " +
             std::to_string(static_cast<long long>(lo < 0 ? lo : hi)) + " of " + std::to_string(t.storage_elems);
    }
  }
  return {};
}

const OperandAccess* access_of(const KernelArgs& a, OperandId id) {
  switch (id) {
    case OperandId::kX: return &a.x;
    case OperandId::kWeight: return &a.weight;
    case OperandId::kResidual: return &a.residual;
    case OperandId::kPostResidualAddition: return &a.post;
    case OperandId::kOut: return &a.out;
    case OperandId::kResidualOut: return &a.residual_out;
  }
  return nullptr;
}

struct Access {
  OperandId id;
  bool write;
  i64 index;
  int n;
};

// The memory the kernel code sees: records every access, refuses none, checks base, bounds and alignment.
class ProbeMem {
 public:
  ProbeMem(const NormCall& call, std::vector<Access>* log) : call_(call), log_(log) {}

  template <int N, class S>
  void load(OperandId id, const S* base, i64 index, S (&dst)[N]) {
    note(id, base, index, N, sizeof(S), false);
    std::memset(dst, 0, sizeof dst);
  }
  template <int N, class S>
  void store(OperandId id, S* base, i64 index, const S (&)[N]) {
    note(id, base, index, N, sizeof(S), true);
  }
  const std::string& error() const { return error_; }

 private:
  void note(OperandId id, const void* base, i64 index, int n, std::size_t es, bool write) {
    log_->push_back({id, write, index, n});
    if (!error_.empty()) return;
    const TensorArg& t = call_[id];
    const char* problem = nullptr;
    if (base != t.data) {
      problem = "base pointer is not the operand's storage";
    } else if (index < 0 || index > t.storage_elems - n) {
      problem = "outside its storage";
    } else if ((reinterpret_cast<std::uintptr_t>(base) + static_cast<std::uintptr_t>(index) * es) % (es * n) != 0) {
      problem = "misaligned for its width";
    }
    if (problem == nullptr) return;
    error_ = std::string(write ? "write of " : "read of ") + std::to_string(n) + " " + std::string(to_string(id)) +
             " element(s) at " + std::to_string(index) + " (" + std::to_string(es * n) + " bytes, storage of " +
             std::to_string(t.storage_elems) + "): " + problem;
  }
  const NormCall& call_;
  std::vector<Access>* log_;
  std::string error_;
};

std::string sorted_mismatch(std::vector<i64> got, std::vector<i64> want, bool as_set, const char* what) {
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  if (as_set) {
    got.erase(std::unique(got.begin(), got.end()), got.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
  }
  if (got == want) return {};
  std::string s = std::string(what) + ": touched " + std::to_string(got.size()) + " element(s), view has " +
                  std::to_string(want.size());
  for (std::size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
    const bool g = i < got.size(), w = i < want.size();
    if (g && w && got[i] == want[i]) continue;
    s += "; first difference: touched " + (g ? std::to_string(got[i]) : std::string("nothing")) + ", view " +
         (w ? std::to_string(want[i]) : std::string("nothing"));
    break;
  }
  return s;
}

// Runs the plan's kernel code for one row of every lane against the probe, then compares what it touched with
// the row's view elements per operand.
std::string probe_row(const Plan& p, const NormCall& call, i64 row) {
  const KernelArgs& a = p.args;
  std::vector<Access> log;
  ProbeMem mem(call, &log);
  const bool fused = p.op == Op::kFusedAddRmsNorm;
  visit_program(p.dtype, p.vector, fused, simple_rows(a), [&]<class Prog>() {
    std::vector<typename Prog::State> st(static_cast<std::size_t>(a.lanes));
    for (int lane = 0; lane < a.lanes; ++lane) Prog::pass1(a, mem, row, lane, st[lane]);
    for (int lane = 0; lane < a.lanes; ++lane) Prog::pass2(a, mem, row, lane, 1.f, st[lane]);
  });
  if (!mem.error().empty()) return "row " + std::to_string(row) + ": " + mem.error();
  const i64 hidden = a.hidden;
  for (OperandId id : kAllOperands) {
    std::vector<i64> reads, writes, view;
    for (const Access& acc : log) {
      if (acc.id != id) continue;
      for (int j = 0; j < acc.n; ++j) (acc.write ? writes : reads).push_back(acc.index + j);
    }
    const TensorArg& t = call[id];
    if (t.present) {
      for (i64 c = 0; c < hidden; ++c) {
        view.push_back(static_cast<i64>(id == OperandId::kWeight ? t.layout.offset + static_cast<i128>(c) * t.layout.stride[0]
                                                                 : view_index(t.layout, static_cast<i128>(row) * hidden + c)));
      }
    }
    const std::string name = "row " + std::to_string(row) + " " + std::string(to_string(id));
    std::string e;
    if (is_written(id)) {
      e = sorted_mismatch(writes, view, false, (name + " writes").c_str());
      // residual_out is read back by pass 2 when the row is not cached: only elements it wrote; out never.
      std::sort(writes.begin(), writes.end());
      for (i64 v : reads) {
        if (!e.empty()) break;
        if (id == OperandId::kOut) e = name + ": out is read (element " + std::to_string(v) + ")";
        if (!std::binary_search(writes.begin(), writes.end(), v)) {
          e = name + " reads element " + std::to_string(v) + ", which it did not write";
        }
      }
    } else {
      if (!writes.empty()) e = name + ": an input is written (element " + std::to_string(writes.front()) + ")";
      if (e.empty()) e = sorted_mismatch(reads, view, true, (name + " reads").c_str());
    }
    if (!e.empty()) return e;
  }
  return {};
}

std::string check_accepted(const Plan& p, const NormCall& call, FuzzedDataProvider& in) {
  if (std::string e = view_outside_storage(call); !e.empty()) return e;
  const TensorArg& x = call[OperandId::kX];
  const i64 hidden = x.layout.shape[x.layout.rank - 1];
  const i64 n = *numel(x.layout);
  const i64 rows = hidden == 0 ? 0 : n / hidden;
  const KernelArgs& a = p.args;
  if (a.hidden != hidden || a.rows != rows) {
    return "plan covers " + std::to_string(a.rows) + " rows of " + std::to_string(a.hidden) + ", the view has " +
           std::to_string(rows) + " of " + std::to_string(hidden);
  }
  // Whole rows a block, except for rows across warps (a block of kColumnRows rows at min(lanes, kColumnSlots) lane
  // slots, checked below).
  if (rows > 0 && (p.grid_blocks < 1 || a.lanes < 1 || (!a.column_rows && a.threads_per_block % a.lanes != 0))) {
    return "launch shape cannot cover the rows: grid=" + std::to_string(p.grid_blocks);
  }
  if (rows == 0 && p.grid_blocks != 0) return "empty view, but grid=" + std::to_string(p.grid_blocks);
  // Rows across warps (norm_kernel.hpp): exactly the guarded scalar plans whose x has adjacent rows and non-adjacent
  // columns, with the row cache off and blocks of kColumnRows rows.
  if (a.column_rows) {
    if (p.vector || a.cache_rows || !column_rows_pay(a)) {
      return std::string("rows across warps with ") + (p.vector ? "vector access" : a.cache_rows ? "the row cache on" :
                                                                                            "x's rows not adjacent");
    }
    const i64 want_threads = static_cast<i64>(kColumnRows) * std::min(a.lanes, kColumnSlots);
    if (a.threads_per_block != want_threads || (rows > 0 && p.grid_blocks != (rows + kColumnRows - 1) / kColumnRows)) {
      return "rows across warps: threads=" + std::to_string(a.threads_per_block) + " grid=" +
             std::to_string(p.grid_blocks) + " for " + std::to_string(rows) + " rows of " + std::to_string(a.lanes) +
             " lanes";
    }
  } else if (g_policy == Policy::kGuarded && rows > 0 && !p.vector && column_rows_pay(a)) {
    return "x's rows are adjacent and its columns not, but the plan keeps rows along warps";
  }
  if (g_policy == Policy::kGuarded && p.temp_elems != 0) return "guarded plan copies " + std::to_string(p.temp_elems) + " elements";
  if (rows == 0) return {};
  const std::vector<i64> check_rows = rows_to_check(x.layout, rows, in);
  // Plan addressing (row map + column stride) against the layout, per operand and column.
  std::vector<i64> cols;
  for (i64 c = 0; c < hidden && c < 128; ++c) cols.push_back(c);
  for (i64 c = std::max<i64>(hidden - 128, 128); c < hidden; ++c) cols.push_back(c);
  i64 mapping_budget = kMappingBudget;
  for (i64 r : check_rows) {
    if (mapping_budget <= 0) break;
    mapping_budget -= static_cast<i64>(cols.size());
    for (OperandId id : kAllOperands) {
      const TensorArg& t = call[id];
      if (!t.present) continue;
      const OperandAccess& o = *access_of(a, id);
      const i128 row_off = id == OperandId::kWeight ? o.rows.offset : o.rows.row_offset(r);
      for (i64 c : cols) {
        const i128 got = row_off + static_cast<i128>(c) * o.col_stride;
        const i128 want = id == OperandId::kWeight ? t.layout.offset + static_cast<i128>(c) * t.layout.stride[0]
                                                   : view_index(t.layout, static_cast<i128>(r) * hidden + c);
        if (got != want) {
          return std::string(to_string(id)) + "(row " + std::to_string(r) + ", column " + std::to_string(c) +
                 ") addressed at storage element " + std::to_string(static_cast<long long>(got)) + ", the view has it at " +
                 std::to_string(static_cast<long long>(want));
        }
      }
    }
  }
  if (!a.cache_rows && a.x_pass2_col_stride != a.x.col_stride) {
    return "pass 2 reads x with column stride " + std::to_string(a.x_pass2_col_stride) + ", pass 1 with " +
           std::to_string(a.x.col_stride);
  }
  // The kernel's own code against the probe, within a budget of row elements.
  i64 budget = kProbeBudget;
  for (i64 r : check_rows) {
    if (hidden > budget) break;
    budget -= hidden;
    if (std::string e = probe_row(p, call, r); !e.empty()) return e;
  }
  return {};
}

}  // namespace
}  // namespace strideguard::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace strideguard;
  std::string bad;
  const std::optional<Policy> p = fuzz::policy_from_env(&bad);
  if (!p) {
    std::fprintf(stderr, "ERROR: SG_POLICY=%s: unknown policy (see props --list)\n", bad.c_str());
    std::exit(2);
  }
  fuzz::g_policy = *p;
  std::fprintf(stderr, "INFO: strideguard-fuzz: planner policy=%s\n", std::string(to_string(*p)).c_str());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace strideguard;
  using namespace strideguard::fuzz;
  FuzzedDataProvider in(data, size);
  Case c = decode_case(in, planner_limits());
  c.policy = g_policy;
  // A null storage pointer (kNullStorage) is not expressible in a Case: the input picks one here, rarely.
  const int null_pick = in.ConsumeIntegralInRange<int>(0, 63);
  const Synthetic s = synthetic_call(c, null_pick <= kNumOperands ? null_pick : 0);
  const PlanResult r = plan(s.call, g_policy);
  const reference::Verdict ref = reference::validate(s.call);
  if (r.status != ref.status || (!r.ok() && r.operand != ref.operand)) {
    fail(c, s, "plan says " + std::string(to_string(r.operand)) + ": " + std::string(to_string(r.status)) +
                   ", reference says " + std::string(to_string(ref.operand)) + ": " + std::string(to_string(ref.status)));
  }
  if (!r.ok()) {
    (void)describe_rejection(s.call, r);  // the message path must hold for every rejection
    return 0;
  }
  (void)describe_plan(r.plan);
  if (const std::string e = check_accepted(r.plan, s.call, in); !e.empty()) fail(c, s, e);
  return 0;
}
