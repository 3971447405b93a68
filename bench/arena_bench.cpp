// Cost of the guards: whole cases per second through run_case on small generated cases, with the guarded arena
// (pooled mmap slots, PROT_NONE guards, fault catching), with a fresh guarded arena per case (what pooling saves),
// and with the unguarded arena (heap buffers, same placement and canaries). Baseline and guarded run in one binary.
#include <benchmark/benchmark.h>

#include <vector>

#include "harness/oracle.hpp"
#include "props/recipe.hpp"

namespace {

using namespace strideguard;

// 256 small valid cases from the props recipes (every family, dtype and operand layout), numel <= 1024.
const std::vector<Case>& small_cases() {
  static const std::vector<Case> cases = [] {
    std::vector<Case> v;
    props::BuildOptions o;
    o.max_elems = 1024;
    for (int i = 0; i < 256; ++i) {
      props::Recipe r;
      r.op = i % 2;
      r.dtype = (i / 2) % 3;
      r.x_family = (i / 6) % static_cast<int>(props::XFamily::kCount);
      if (r.x_family == static_cast<int>(props::XFamily::kHugeStride)) r.x_family = 0;  // sparse: not "small"
      r.hidden = i % 3;
      r.residual = (i / 7) % 6;
      r.out = (i / 11) % 6;
      r.seed = static_cast<std::uint64_t>(i);
      v.push_back(props::build_case(r, o));
    }
    return v;
  }();
  return cases;
}

void run_all(benchmark::State& state, HostArena& arena, bool check) {
  RunOptions ro;
  ro.check_accesses = check;
  std::size_t i = 0;
  for (auto _ : state) {
    const Verdict v = run_case(small_cases()[i++ % small_cases().size()], arena, ro);
    if (!v.ok()) state.SkipWithError("a case failed");
    benchmark::DoNotOptimize(v.kind);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Cases_GuardedPooled(benchmark::State& state) {
  HostArena arena(HostArena::Mode::kGuarded);
  run_all(state, arena, true);
}

void BM_Cases_Unguarded(benchmark::State& state) {
  HostArena arena(HostArena::Mode::kUnguarded);
  run_all(state, arena, true);
}

void BM_Cases_GuardedFreshArenaPerCase(benchmark::State& state) {
  std::size_t i = 0;
  for (auto _ : state) {
    HostArena arena(HostArena::Mode::kGuarded);
    const Verdict v = run_case(small_cases()[i++ % small_cases().size()], arena);
    benchmark::DoNotOptimize(v.kind);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Cases_GuardedNoEmulatorChecks(benchmark::State& state) {
  HostArena arena(HostArena::Mode::kGuarded);
  run_all(state, arena, false);
}

BENCHMARK(BM_Cases_Unguarded)->MinTime(1.0);
BENCHMARK(BM_Cases_GuardedPooled)->MinTime(1.0);
BENCHMARK(BM_Cases_GuardedNoEmulatorChecks)->MinTime(1.0);
BENCHMARK(BM_Cases_GuardedFreshArenaPerCase)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
