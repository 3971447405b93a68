// props: the property suite and the reproduction tool. `props --seed N` reproduces any run exactly; on failure it
// writes the shrunk Case to a .case file and prints the one-line replay command.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "harness/case.hpp"
#include "harness/oracle.hpp"
#include "props/properties.hpp"

#if defined(SG_HAVE_GPU)
#include "kernels/gpu/gpu_backend.hpp"
#endif

namespace {

using namespace strideguard;
using namespace strideguard::props;

constexpr int kUsage = 2;

struct Options {
  std::uint64_t seed = 0;
  bool seed_given = false;
  int tests = 100;
  int max_size = 100;
  std::int64_t max_elems = std::int64_t{1} << 15;
  std::string only;
  bool list = false;
  std::string backend = "cpu";
  std::string policy = "guarded";
  std::string case_file;
  std::string junit;
  std::string failure_dir = ".";
  std::string expect_failure;
  bool stop_on_failure = false;
  bool detect_line = false;
};

std::string xml_escape(std::string_view s) {
  std::string o;
  for (char ch : s) {
    switch (ch) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += ch;
    }
  }
  return o;
}

std::string replay_flags(const Options& o, const std::string& only) {
  std::string s = fmt::format("props --seed {} --tests {} --max-size {} --policy {} --backend {}", o.seed, o.tests,
                              o.max_size, o.policy, o.backend);
  if (o.max_elems != (std::int64_t{1} << 15)) s += fmt::format(" --max-elems {}", o.max_elems);
  if (!only.empty()) s += " --only " + only;
  return s;
}

bool class_matches(const std::string& expected, FailureClass got) {
  return expected == "any" ? got != FailureClass::kNone : expected == to_string(got);
}

int replay_case(const Options& o, bool policy_given, bool backend_given) {
  std::ifstream in(o.case_file);
  if (!in) {
    std::fprintf(stderr, "ERROR: --case %s: cannot open the file\n", o.case_file.c_str());
    return kUsage;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  ParseResult pr = parse_case(ss.str());
  if (!pr.value) {
    std::fprintf(stderr, "ERROR: --case %s: %s\n", o.case_file.c_str(), describe(pr.error).c_str());
    return kUsage;
  }
  Case c = *pr.value;
  if (policy_given) c.policy = *parse_policy(o.policy);
  if (backend_given) c.backend = *parse_backend(o.backend);
  if (auto why = check_replayable(c)) {
    std::fprintf(stderr, "ERROR: --case %s: %s\n", o.case_file.c_str(), why->c_str());
    return kUsage;
  }
  // A regression file may state what it must do: "# expect: pass" (default) or "# expect: fault|wrong-output|...".
  std::string expect = o.expect_failure;
  if (expect.empty()) {
    const std::string text = ss.str();
    const std::size_t at = text.find("# expect: ");
    if (at != std::string::npos) {
      expect = text.substr(at + 10, text.find('\n', at) - at - 10);
      if (expect == "pass") expect.clear();
    }
  }
  HostArena arena;
  const Verdict v = run_case(c, arena);
  std::cout << print_case(c) << "verdict: " << describe(v) << "\n";
  if (!expect.empty()) {
    const bool ok = class_matches(expect, classify(v.kind));
    std::cout << (ok ? "INFO: expected failure observed (" + expect + ")\n"
                     : "ERROR: expected a failure of class " + expect + "\n");
    return ok ? 0 : 1;
  }
  return v.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"strideguard props: RapidCheck properties of the guarded RMSNorm dispatcher over generated layouts"};
  app.option_defaults()->always_capture_default();
  auto* seed_opt = app.add_option("--seed", o.seed, "RapidCheck seed; the same seed reproduces the same run");
  app.add_option("--tests", o.tests, "successful tests per property")->check(CLI::Range(1, 1000000));
  app.add_option("--max-size", o.max_size, "RapidCheck max_size (<= 100: Debian's snapshot misbehaves above)")
      ->check(CLI::Range(0, 100));
  app.add_option("--max-elems", o.max_elems, "element cap of a generated case")->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 26));
  app.add_option("--only", o.only, "run only this property (see --list)");
  app.add_flag("--list", o.list, "list properties and policies, then exit");
  auto* backend_opt = app.add_option("--backend", o.backend, "cpu | gpu")->check(CLI::IsMember({"cpu", "gpu"}));
  std::vector<std::string> policies;
  for (Policy p : kAllPolicies) policies.emplace_back(to_string(p));
  auto* policy_opt = app.add_option("--policy", o.policy, "dispatcher under test: guarded, or a bug model")
                         ->check(CLI::IsMember(policies));
  app.add_option("--case", o.case_file, "replay one .case file and print its verdict");
  app.add_option("--junit", o.junit, "write JUnit XML results to this file");
  app.add_option("--failure-dir", o.failure_dir, "directory for shrunk failing cases");
  app.add_option("--expect-failure", o.expect_failure, "exit 0 only if a property fails with this class")
      ->check(CLI::IsMember({"fault", "wrong-output", "rejection", "any"}));
  app.add_flag("--stop-on-failure", o.stop_on_failure, "stop after the first failing property");
  app.add_flag("--detect-line", o.detect_line, "print one machine-readable DETECT line at the end");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr, "ERROR: %s\nRun with --help for usage.\n", e.what());
    return kUsage;
  }
  if (o.list) {
    std::cout << "properties:\n";
    for (const PropertyDef& p : all_properties()) std::cout << fmt::format("  {:32} {}\n", p.name, p.description);
    std::cout << "policies:\n";
    for (Policy p : kAllPolicies) std::cout << fmt::format("  {:32} {}\n", to_string(p), describe(p));
    return 0;
  }
  if (!o.only.empty()) {
    bool known = false;
    for (const PropertyDef& p : all_properties()) known = known || o.only == p.name;
    if (!known) {
      std::fprintf(stderr, "ERROR: --only %s: no such property (see --list)\n", o.only.c_str());
      return kUsage;
    }
  }
  if (o.backend == "gpu") {
#if defined(SG_HAVE_GPU)
    std::string why;
    if (!register_gpu_backend(&why)) {
      std::fprintf(stderr, "ERROR: --backend gpu: %s\n", why.c_str());
      return kUsage;
    }
#else
    std::fprintf(stderr, "ERROR: --backend gpu: this build has no GPU backend (configure with --preset gpu)\n");
    return kUsage;
#endif
  }
  if (!o.case_file.empty()) return replay_case(o, policy_opt->count() > 0, backend_opt->count() > 0);

  if (seed_opt->count() == 0) o.seed = std::random_device{}() % 1000000007u;
  std::cout << "seed: " << o.seed << "\n";
  std::cout << fmt::format("props: tests={} max_size={} max_elems={} policy={} backend={}\n", o.tests, o.max_size,
                           o.max_elems, o.policy, o.backend)
            << std::flush;
  // RapidCheck reads RC_PARAMS once, at its first check: set it before anything runs.
  const std::string params = fmt::format("seed={} max_success={} max_size={} verbose_progress=0 verbose_shrinking=0",
                                         o.seed, o.tests, o.max_size);
  setenv("RC_PARAMS", params.c_str(), 1);

  PropsConfig cfg;
  cfg.build.policy = *parse_policy(o.policy);
  cfg.build.backend = *parse_backend(o.backend);
  cfg.build.max_elems = o.max_elems;
  cfg.build.engine_calls_only = cfg.build.policy != Policy::kGuarded;
  std::vector<PropertyResult> results;
  for (const PropertyDef& p : all_properties()) {
    if (!o.only.empty() && o.only != p.name) continue;
    PropertyResult r = run_property(p, cfg);
    std::cout << std::flush;
    if (r.skipped) {
      std::cout << fmt::format("SKIPPED {}: {}\n", r.name, r.skip_reason);
    } else if (r.passed) {
      std::cout << fmt::format("PASSED {} ({} cases)\n", r.name, r.tests_to_failure);
    } else {
      const std::string file = fmt::format("{}/props-{}-{}-seed{}.case", o.failure_dir, r.name, o.policy, o.seed);
      std::cout << fmt::format("FAILED {} after {} cases\n", r.name, r.tests_to_failure);
      if (r.counterexample) {
        std::cout << "shrunk case:\n" << print_case(*r.counterexample) << "verdict: " << describe(r.verdict) << "\n";
        std::ofstream out(file);
        out << "# property: " << r.name << "\n# verdict: " << to_string(r.verdict.kind) << "\n# replay: "
            << replay_flags(o, r.name) << "\n" << print_case(*r.counterexample);
        std::cout << "written: " << file << "\n";
        std::cout << "replay: props --case " << file << "\n";
      }
      std::cout << "replay: " << replay_flags(o, r.name) << "\n";
    }
    if (!r.tags.empty() && (r.passed || r.skipped)) {
      std::cout << "  classes:";
      for (const auto& [tag, n] : r.tags) std::cout << fmt::format(" [{}: {}]", tag, n);
      std::cout << "\n";
    }
    results.push_back(std::move(r));
    if (o.stop_on_failure && !results.back().passed) break;
  }
  int failed = 0, skipped = 0;
  for (const PropertyResult& r : results) {
    failed += r.passed ? 0 : 1;
    skipped += r.skipped ? 1 : 0;
  }
  std::cout << fmt::format("{} passed, {} failed, {} skipped\n", results.size() - failed - skipped, failed, skipped);

  if (!o.junit.empty()) {
    std::ofstream j(o.junit);
    j << fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"props\" tests=\"{}\" failures=\"{}\">\n",
                     results.size(), failed);
    for (const PropertyResult& r : results) {
      j << fmt::format("  <testcase classname=\"props.{}\" name=\"{}\" time=\"{:.3f}\">", o.policy, r.name, r.seconds);
      if (r.skipped) j << "<skipped message=\"" << xml_escape(r.skip_reason) << "\"/>";
      if (!r.passed) {
        j << "<failure message=\"" << xml_escape(std::string(to_string(r.verdict.kind))) << "\">"
          << xml_escape(r.counterexample ? print_case(*r.counterexample) + describe(r.verdict) : "") << "</failure>";
      }
      j << "</testcase>\n";
    }
    j << "</testsuite>\n";
  }
  const PropertyResult* first_fail = nullptr;
  for (const PropertyResult& r : results) {
    if (!r.passed && !first_fail) first_fail = &r;
  }
  if (o.detect_line) {
    if (first_fail && first_fail->counterexample) {
      // Wall time to detection: every property run before the failing one, and its own run with shrinking.
      double to_detection = 0;
      for (const PropertyResult& r : results) {
        to_detection += r.seconds;
        if (&r == first_fail) break;
      }
      const Case& c = *first_fail->counterexample;
      const Layout& x = c[OperandId::kX].layout;
      std::cout << fmt::format(
          "DETECT policy={} seed={} detected=yes property={} tests={} seconds={:.3f} kind={} class={} rank={} "
          "numel={} residual={} last_stride={}\n",
          o.policy, o.seed, first_fail->name, first_fail->tests_to_failure, to_detection,
          to_string(first_fail->verdict.kind), to_string(classify(first_fail->verdict.kind)), x.rank,
          x.rank > 0 ? *numel(x) : 0, c[OperandId::kResidual].present ? "yes" : "no",
          x.rank > 0 ? x.stride[x.rank - 1] : 0);
    } else {
      double secs = 0;
      int tests = 0;
      for (const PropertyResult& r : results) {
        secs += r.seconds;
        tests += r.tests_to_failure;
      }
      std::cout << fmt::format("DETECT policy={} seed={} detected=no tests={} seconds={:.3f}\n", o.policy, o.seed, tests, secs);
    }
  }
  if (!o.expect_failure.empty()) {
    const bool ok = first_fail && class_matches(o.expect_failure, classify(first_fail->verdict.kind));
    std::cout << (ok ? "INFO: expected failure observed\n"
                     : fmt::format("ERROR: expected a failure of class {}, {}\n", o.expect_failure,
                                   first_fail ? "got " + std::string(to_string(classify(first_fail->verdict.kind))) : "none failed"));
    return ok ? 0 : 1;
  }
  return failed ? 1 : 0;
}
