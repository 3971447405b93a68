// gpu_cases: the GPU backend's acceptance driver for device runs. Generated cases through run_case on the GPU,
// GPU == CPU byte for byte, and every bug model caught with the run going on. Honors SG_GPU_MODE.
//   gpu_cases [--cases N] [--seed S] [--mode all|run|compare|bugs]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "harness/oracle.hpp"
#include "kernels/gpu/gpu_backend.hpp"
#include "kernels/gpu/tests/gpu_cases.hpp"

using namespace strideguard;

namespace {

int usage(const char* msg) {
  std::fprintf(stderr, "ERROR: %s\nusage: gpu_cases [--cases N] [--seed S] [--mode all|run|compare|bugs]\n", msg);
  return 2;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t cases = 1000;
  std::uint64_t seed = 1;
  std::string mode = "all";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage(("missing value after " + a).c_str());
    if (a == "--cases") {
      cases = std::strtoll(argv[++i], nullptr, 10);
    } else if (a == "--seed") {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--mode") {
      mode = argv[++i];
    } else {
      return usage(("unknown flag " + a).c_str());
    }
  }
  if (mode != "all" && mode != "run" && mode != "compare" && mode != "bugs") return usage("bad --mode");
  std::printf("INFO: seed %llu, %lld cases, mode %s\n", static_cast<unsigned long long>(seed),
              static_cast<long long>(cases), mode.c_str());
  std::string why;
  if (!register_gpu_backend(&why)) {
    std::printf("GPU tests skipped: no device: %s\n", why.c_str());
    return 0;
  }
  std::printf("INFO: device %s\n", gpu_backend_description().c_str());
  HostArena arena;
  int failures = 0;
  if (mode == "all" || mode == "run") {
    const auto t0 = std::chrono::steady_clock::now();
    std::int64_t pass = 0, rejected = 0;
    for (std::int64_t i = 0; i < cases; ++i) {
      const Case c = gpu_tests::generated_case(seed, i);
      const Verdict v = run_case(c, arena);
      if (v.kind == VerdictKind::kPass) ++pass;
      if (v.kind == VerdictKind::kRejected) ++rejected;
      if (!v.ok()) {
        ++failures;
        std::printf("FAIL: run case %lld\n%s%s\n", static_cast<long long>(i), print_case(c).c_str(), describe(v).c_str());
        if (failures > 5) break;
      }
    }
    std::printf("run: %lld pass, %lld rejected (correctly), %d failed, %.1f cases/s\n", static_cast<long long>(pass),
                static_cast<long long>(rejected), failures, static_cast<double>(cases) / seconds_since(t0));
  }
  if (mode == "all" || mode == "compare") {
    const auto t0 = std::chrono::steady_clock::now();
    int diffs = 0;
    for (std::int64_t i = 0; i < cases; ++i) {
      const Case c = gpu_tests::generated_case(seed + 1000003, i);
      // Odd cases start from inputs with NaN, inf, huge and subnormal values among them.
      const auto inputs = i % 2 ? gpu_tests::Inputs::kWithSpecials : gpu_tests::Inputs::kCaseValues;
      const std::string d = gpu_tests::compare_gpu_cpu(c, arena, inputs);
      if (!d.empty()) {
        ++diffs;
        std::printf("FAIL: compare case %lld\n%s%s\n", static_cast<long long>(i), print_case(c).c_str(), d.c_str());
        if (diffs > 5) break;
      }
    }
    failures += diffs;
    std::printf("compare: %lld cases (odd ones with special values), GPU and CPU bytes identical in %lld, %.1f cases/s\n",
                static_cast<long long>(cases), static_cast<long long>(cases - diffs),
                static_cast<double>(cases) / seconds_since(t0));
  }
  if (mode == "all" || mode == "bugs") {
    for (Policy p : kAllPolicies) {
      if (p == Policy::kGuarded) continue;
      const Case c = gpu_tests::bug_trigger(p);
      const Verdict bad = run_case(c, arena);
      const Verdict after = run_case(gpu_tests::generated_case(seed, 0), arena);
      const bool caught = !bad.ok();
      if (!caught || !after.ok()) ++failures;
      std::string first = describe(bad);
      std::printf("bug model %-13s %s: %s\n  next case: %s\n", std::string(to_string(p)).c_str(),
                  caught ? "CAUGHT" : "MISSED", first.c_str(), std::string(to_string(after.kind)).c_str());
    }
  }
  const GpuBackendStats s = gpu_backend_stats();
  std::printf("stats: %lld device cases, %lld device faults, %lld worker starts\n", static_cast<long long>(s.cases),
              static_cast<long long>(s.device_faults), static_cast<long long>(s.worker_starts));
  std::printf("%s\n", failures == 0 ? "OK" : "FAILED");
  return failures == 0 ? 0 : 1;
}
