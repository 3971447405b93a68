// The emulated grid: blocks and threads run serially; the kernel's one barrier (between pass 1 and the row
// reduction) is the boundary between two loops over the block's threads.
#include "kernels/cpu_backend.hpp"

#include <cstring>

#include "kernels/norm_kernel.hpp"

namespace strideguard {

std::string_view to_string(AccessFault f) {
  switch (f) {
    case AccessFault::kNone: return "none";
    case AccessFault::kReadOutOfBounds: return "read out of bounds";
    case AccessFault::kWriteOutOfBounds: return "write out of bounds";
    case AccessFault::kMisaligned: return "misaligned access";
  }
  return "?";
}

std::string describe(const AccessViolation& v, const std::array<std::int64_t, kNumOperands>& storage_elems) {
  std::string s(to_string(v.fault));
  s += ": ";
  s += to_string(v.operand);
  s += " element " + std::to_string(v.element);
  const std::int64_t n = storage_elems[static_cast<int>(v.operand)];
  if (v.fault != AccessFault::kMisaligned) {
    // The distances in unsigned arithmetic: a bug model's index can be any int64 (a stride of -2^63 gives
    // element -2^63, whose negation int64 cannot hold), and a past-the-end element + width can pass 2^63 - 1.
    const auto e = static_cast<std::uint64_t>(v.element);
    if (v.element < 0) {
      s += " (" + std::to_string(std::uint64_t{0} - e) + " before the start";
    } else {
      s += " (" + std::to_string(e + static_cast<std::uint64_t>(v.width) - static_cast<std::uint64_t>(n)) + " past the end";
    }
    s += " of storage " + std::to_string(n) + ")";
  }
  s += ", " + std::to_string(v.width) + "-wide access, block " + std::to_string(v.block) + " thread " +
       std::to_string(v.thread);
  return s;
}

std::array<std::int64_t, kNumOperands> storage_sizes(const NormCall& call) {
  std::array<std::int64_t, kNumOperands> n{};
  for (OperandId id : kAllOperands) n[static_cast<int>(id)] = call[id].present ? call[id].storage_elems : 0;
  return n;
}

namespace {

// The memory accessor the CPU backend hands to the kernel code.
class CheckedMem {
 public:
  CheckedMem(const std::array<std::int64_t, kNumOperands>& bounds, const CpuRunOptions& options)
      : bounds_(bounds), options_(options) {}

  void at(std::int64_t block, int thread) {
    block_ = block;
    thread_ = thread;
  }
  const CpuRunResult& result() const { return result_; }
  bool faulted() const { return static_cast<bool>(result_.violation); }

  template <int N, class S>
  void load(OperandId id, const S* base, std::int64_t index, S (&dst)[N]) {
    ++result_.loads;
    if (!allow(id, base, index, N, /*write=*/false)) {
      std::memset(dst, 0xff, sizeof dst);  // NaN in every dtype: a refused load never looks like data
      return;
    }
    std::memcpy(dst, base + index, sizeof dst);
  }

  template <int N, class S>
  void store(OperandId id, S* base, std::int64_t index, const S (&src)[N]) {
    ++result_.stores;
    if (!allow(id, base, index, N, /*write=*/true)) return;
    std::memcpy(base + index, src, sizeof src);
    if (options_.writes) {
      for (int j = 0; j < N; ++j) options_.writes->push_back({id, index + j});
    }
  }

 private:
  template <class S>
  bool allow(OperandId id, const S* base, std::int64_t index, int n, bool write) {
    if (faulted()) return false;
    if (!options_.check_accesses) return true;
    const std::int64_t limit = bounds_[static_cast<int>(id)];
    AccessFault f = AccessFault::kNone;
    if (index < 0 || index > limit - n) {
      f = write ? AccessFault::kWriteOutOfBounds : AccessFault::kReadOutOfBounds;
    } else {
      const auto addr = reinterpret_cast<std::uintptr_t>(base) + static_cast<std::uintptr_t>(index) * sizeof(S);
      if (addr % (sizeof(S) * static_cast<std::size_t>(n)) != 0) f = AccessFault::kMisaligned;
    }
    if (f == AccessFault::kNone) return true;
    result_.violation = {f, id, index, n, block_, thread_};
    return false;
  }

  const std::array<std::int64_t, kNumOperands>& bounds_;
  const CpuRunOptions& options_;
  CpuRunResult result_;
  std::int64_t block_ = 0;
  int thread_ = 0;
};

template <class Prog>
void emulate_grid(const Plan& p, CheckedMem& m) {
  const KernelArgs& a = p.args;
  const int threads = a.threads_per_block;
  const int lanes = a.lanes;
  const int rows_per_block = a.rows_per_block();
  // Scratch lives past the call: a guard-page fault leaves this function through siglongjmp (see
  // HostArena::catch_guard_faults), which skips destructors, so nothing here may own memory.
  thread_local std::vector<typename Prog::State> state;
  thread_local std::vector<float> partials;
  thread_local std::vector<float> totals;
  state.resize(static_cast<std::size_t>(threads));
  partials.resize(static_cast<std::size_t>(threads));
  totals.resize(static_cast<std::size_t>(rows_per_block));
  const std::int64_t groups = a.row_groups();
  for (std::int64_t block = 0; block < p.grid_blocks; ++block) {
    for (std::int64_t group = block; group < groups; group += p.grid_blocks) {
      for (int t = 0; t < threads; ++t) {  // pass 1, every thread up to the barrier
        const std::int64_t row = group * rows_per_block + t / lanes;
        m.at(block, t);
        state[t].partial = 0.f;
        if (row < a.rows) Prog::pass1(a, m, row, t % lanes, state[t]);
        partials[t] = state[t].partial;
        if (m.faulted()) return;
      }
      for (int r = 0; r < rows_per_block; ++r) totals[r] = reduce_row_emulated(&partials[r * lanes], lanes);
      for (int t = 0; t < threads; ++t) {  // pass 2, after the barrier
        const std::int64_t row = group * rows_per_block + t / lanes;
        m.at(block, t);
        if (row < a.rows) Prog::pass2(a, m, row, t % lanes, totals[t / lanes], state[t]);
        if (m.faulted()) return;
      }
    }
  }
}

// The GPU's rows-across-warps grid (column_rows plans, norm_kernel.hpp): block b walks row groups of kColumnRows
// rows grid-stride; thread t is row t % kColumnRows of the group and runs lanes t / kColumnRows, + slots, ... one
// after another (slots = threads / kColumnRows), pass 1 then (after the barrier) pass2_batched; each row's partials
// reduced in reduce_row_emulated's order, as the GPU kernel reduces them.
template <class Prog>
void emulate_column_grid(const Plan& p, CheckedMem& m) {
  const KernelArgs& a = p.args;
  const int threads = a.threads_per_block;
  const int slots = threads / kColumnRows;
  const int lanes = a.lanes;
  thread_local std::vector<float> partials;  // [row of the group][lane]; scratch past the call, as emulate_grid's
  thread_local std::vector<float> totals;
  partials.resize(static_cast<std::size_t>(kColumnRows) * static_cast<std::size_t>(lanes));
  totals.resize(static_cast<std::size_t>(kColumnRows));
  const std::int64_t groups = a.row_groups();
  for (std::int64_t block = 0; block < p.grid_blocks; ++block) {
    for (std::int64_t group = block; group < groups; group += p.grid_blocks) {
      for (int t = 0; t < threads; ++t) {
        const int r = t % kColumnRows;
        const std::int64_t row = group * kColumnRows + r;
        m.at(block, t);
        for (int lane = t / kColumnRows; lane < lanes; lane += slots) {
          typename Prog::State st;
          st.partial = 0.f;
          if (row < a.rows) Prog::pass1(a, m, row, lane, st);
          partials[static_cast<std::size_t>(r) * lanes + lane] = st.partial;
          if (m.faulted()) return;
        }
      }
      for (int r = 0; r < kColumnRows; ++r) {
        totals[r] = reduce_row_emulated(&partials[static_cast<std::size_t>(r) * lanes], lanes);
      }
      for (int t = 0; t < threads; ++t) {
        const int r = t % kColumnRows;
        const std::int64_t row = group * kColumnRows + r;
        m.at(block, t);
        for (int lane = t / kColumnRows; lane < lanes && row < a.rows; lane += slots) {
          Prog::pass2_batched(a, m, row, lane, totals[r]);
          if (m.faulted()) return;
        }
      }
    }
  }
}

}  // namespace

CpuRunResult run_cpu(const Plan& p, const std::array<std::int64_t, kNumOperands>& storage_elems,
                     const CpuRunOptions& options) {
  CheckedMem m(storage_elems, options);
  if (p.grid_blocks > 0) {
    const bool simple = !options.general_program && simple_rows(p.args);
    visit_program(p.dtype, p.vector, p.op == Op::kFusedAddRmsNorm, simple, [&]<class Prog>() {
      if constexpr (Prog::kIsVector && Prog::kSimple && Prog::kRowOperands == 1) {
        if (options.wide_cache) return emulate_grid<typename Prog::template WithCached<kWideCachedChunks>>(p, m);
      }
      if (p.args.column_rows) return emulate_column_grid<Prog>(p, m);
      emulate_grid<Prog>(p, m);
    });
  }
  return m.result();
}

}  // namespace strideguard
