// Whole-case fuzz target body: bytes -> Case -> run_case -> Verdict; a failing Verdict is a crash with a report.
#include "fuzz/case_target.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz/case_from_bytes.hpp"
#include "harness/oracle.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SG_FUZZ_HAS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SG_FUZZ_HAS_ASAN 1
#endif
#if defined(SG_FUZZ_HAS_ASAN)
#include <sanitizer/asan_interface.h>
#endif

namespace strideguard::fuzz {
namespace {

struct Settings {
  Backend backend = Backend::kCpu;
  Policy policy = Policy::kGuarded;
  RunOptions options;
  DecodeLimits limits = case_limits();
};

Settings& settings() {
  static Settings s;
  return s;
}

// The case being run, kept so that a sanitizer report (a crash in the harness itself, not a Verdict) can still
// name the input in .case form.
Case& current_case() {
  static Case c;
  return c;
}

bool env_flag(const char* name, bool fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  const std::string s(v);
  if (s == "1") return true;
  if (s == "0") return false;
  std::fprintf(stderr, "ERROR: %s=%s: expected 0 or 1\n", name, v);
  std::exit(2);
}

#if defined(SG_FUZZ_HAS_ASAN)
void print_current_case_on_asan_report(const char*) {
  std::fprintf(stderr, "ERROR: strideguard-fuzz: sanitizer report while running this case:\n%s",
               print_case(current_case()).c_str());
}
#endif

}  // namespace

void init_case_target(Backend backend) {
  Settings& s = settings();
  s.backend = backend;
  std::string bad;
  const std::optional<Policy> p = policy_from_env(&bad);
  if (!p) {
    std::string names;
    for (Policy q : kAllPolicies) names += (names.empty() ? "" : ", ") + std::string(to_string(q));
    std::fprintf(stderr, "ERROR: SG_POLICY=%s: unknown policy; one of: %s\n", bad.c_str(), names.c_str());
    std::exit(2);
  }
  s.policy = *p;
  s.options.require_zero_copy = env_flag("SG_REQUIRE_ZERO_COPY", s.policy == Policy::kGuarded);
  s.options.check_accesses = env_flag("SG_CHECK_ACCESSES", true);
  std::fprintf(stderr, "INFO: strideguard-fuzz: backend=%s policy=%s require_zero_copy=%d check_accesses=%d "
               "max_view_elems=%lld\n", std::string(to_string(backend)).c_str(), std::string(to_string(s.policy)).c_str(),
               s.options.require_zero_copy ? 1 : 0, s.options.check_accesses ? 1 : 0,
               static_cast<long long>(s.limits.max_view_elems));
#if defined(SG_FUZZ_HAS_ASAN)
  __asan_set_error_report_callback(print_current_case_on_asan_report);
#endif
}

int run_case_target(const std::uint8_t* data, std::size_t size) {
  const Settings& s = settings();
  Case& c = current_case();
  c = case_from_bytes(data, size, s.limits);
  c.policy = s.policy;
  c.backend = s.backend;
  if (!within_budget(c, s.limits)) return -1;
  static HostArena arena;  // pooled slots: one mmap per size class for the whole run
  const Verdict v = run_case(c, arena, s.options);
  // Back to the pool now rather than at the next bind_case: a run then frees what it allocated, and libFuzzer's
  // leak heuristic (more mallocs than frees in one run) is not triggered on every input.
  arena.release_all();
  if (v.ok()) return 0;
  const OperandSpec& x = c[OperandId::kX];
  bool sizes_ok = x.present;
  for (int k = 0; k < x.layout.rank; ++k) sizes_ok = sizes_ok && x.layout.shape[k] >= 0;
  const std::optional<std::int64_t> n = sizes_ok ? numel(x.layout) : std::nullopt;  // numel needs sizes >= 0
  std::fprintf(stderr,
               "ERROR: strideguard-fuzz: verdict=%s class=%s policy=%s op=%s x_rank=%d x_numel=%lld\n%s%s\n"
               "INFO: replay: save the lines from 'strideguard-case 1' on as FILE.case and run: props --case FILE.case\n"
               "INFO: or convert the saved input: crash_to_case --policy %s CRASH_FILE > FILE.case\n",
               std::string(to_string(v.kind)).c_str(), std::string(to_string(classify(v.kind))).c_str(),
               std::string(to_string(c.policy)).c_str(), std::string(to_string(c.op)).c_str(),
               x.present ? x.layout.rank : -1, static_cast<long long>(n.value_or(-1)), print_case(c).c_str(),
               describe(v).c_str(), std::string(to_string(c.policy)).c_str());
  __builtin_trap();
}

}  // namespace strideguard::fuzz
