// crash_to_case: turns fuzz inputs into readable .case files (and back), so every crash becomes a regression that
// `props --case FILE` replays, and every .case can seed the fuzzers.
//   crash_to_case [--target case|planner] [--policy P] [--backend cpu|gpu] INPUT...   .case text on stdout
//   crash_to_case --encode FILE.case OUTPUT                                         explicit-form fuzz input
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/case_from_bytes.hpp"

namespace {

using namespace strideguard;

constexpr const char* kUsage =
    "usage: crash_to_case [--target case|planner] [--policy P] [--backend cpu|gpu] INPUT...\n"
    "       crash_to_case --encode FILE.case OUTPUT\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "ERROR: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

bool read_all(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

int encode(const std::string& in_path, const std::string& out_path) {
  std::string text;
  if (!read_all(in_path, &text)) return usage_error(in_path + ": cannot read");
  const ParseResult r = parse_case(text);
  if (!r.value) {
    std::fprintf(stderr, "ERROR: %s: %s\n", in_path.c_str(), describe(r.error).c_str());
    return 1;
  }
  const std::vector<std::uint8_t> bytes = fuzz::case_to_bytes(*r.value);
  // Policy and backend are run settings of a fuzz target, not part of its input.
  Case back = fuzz::case_from_bytes(bytes.data(), bytes.size(), fuzz::case_limits());
  back.policy = r.value->policy;
  back.backend = r.value->backend;
  if (!(back == *r.value)) {
    std::fprintf(stderr, "ERROR: %s: the encoding does not decode to the same case\n", in_path.c_str());
    return 1;
  }
  std::ofstream f(out_path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) return usage_error(out_path + ": cannot write");
  std::fprintf(stderr, "INFO: %s -> %s (%zu bytes)\n", in_path.c_str(), out_path.c_str(), bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("no input given");
  if (args[0] == "-h" || args[0] == "--help") {
    std::printf("%s", kUsage);
    return 0;
  }
  if (args[0] == "--encode") {
    if (args.size() != 3) return usage_error("--encode takes FILE.case OUTPUT");
    return encode(args[1], args[2]);
  }
  std::string target = "case";
  std::string bad;
  std::optional<Policy> policy = fuzz::policy_from_env(&bad);
  if (!policy) return usage_error("SG_POLICY=" + bad + ": unknown policy");
  Backend backend = Backend::kCpu;
  std::vector<std::string> inputs;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* v) {
      if (i + 1 >= args.size()) return false;
      *v = args[++i];
      return true;
    };
    std::string v;
    if (a == "--target") {
      if (!value(&v) || (v != "case" && v != "planner")) return usage_error("--target takes case or planner");
      target = v;
    } else if (a == "--policy") {
      if (!value(&v) || !parse_policy(v)) return usage_error("--policy takes a policy name (see props --list)");
      policy = parse_policy(v);
    } else if (a == "--backend") {
      if (!value(&v) || !parse_backend(v)) return usage_error("--backend takes cpu or gpu");
      backend = *parse_backend(v);
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("unknown option " + a);
    } else {
      inputs.push_back(a);
    }
  }
  if (inputs.empty()) return usage_error("no input given");
  const fuzz::DecodeLimits limits = target == "planner" ? fuzz::planner_limits() : fuzz::case_limits();
  for (const std::string& path : inputs) {
    std::string bytes;
    if (!read_all(path, &bytes)) return usage_error(path + ": cannot read");
    FuzzedDataProvider in(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    Case c = fuzz::decode_case(in, limits);
    c.policy = *policy;
    c.backend = backend;
    std::printf("# from %s (fuzz target %s)\n", path.c_str(), target.c_str());
    if (target == "planner") {
      const int null_pick = in.ConsumeIntegralInRange<int>(0, 63);
      if (null_pick >= 1 && null_pick <= static_cast<int>(c.storages.size())) {
        std::printf("# planner input: storage %d was passed as a null pointer (not expressible here)\n", null_pick - 1);
      }
    }
    std::string why;
    if (!fuzz::within_budget(c, fuzz::case_limits(), &why)) std::printf("# note: outside the whole-case budget: %s\n", why.c_str());
    std::printf("# replay: props --case THIS_FILE\n%s", print_case(c).c_str());
  }
  return 0;
}
