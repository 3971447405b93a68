// A main for fuzz targets built without libFuzzer (g++, or clang without SG_FUZZ): replays files and directories
// (recursively, in sorted order) through LLVMFuzzerTestOneInput, so every corpus is an ordinary regression test.
// libFuzzer-style flags (-runs=0, -seed=1, ...) are accepted and ignored, so one command line serves both builds.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

bool read_file(const fs::path& p, std::vector<std::uint8_t>* out) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<fs::path> inputs;
  bool any_path = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "-help" || arg == "--help") {
      std::printf("usage: %s [-libfuzzer_flag=value ...] FILE_OR_DIR...\n"
                  "Replays each file (directories recursively) through the fuzz target once.\n",
                  argv[0]);
      return 0;
    }
    if (!arg.empty() && arg[0] == '-') continue;  // a libFuzzer flag: meaningless for a replay
    any_path = true;
    std::error_code ec;
    const fs::path p(arg);
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::recursive_directory_iterator(p, ec)) {
        if (e.is_regular_file()) found.push_back(e.path());
      }
      std::sort(found.begin(), found.end());
      inputs.insert(inputs.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(p, ec)) {
      inputs.push_back(p);
    } else {
      std::fprintf(stderr, "ERROR: %s: no such file or directory\n", arg.c_str());
      return 2;
    }
  }
  if (!any_path) {
    std::fprintf(stderr, "ERROR: no input given\nusage: %s [-libfuzzer_flag=value ...] FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  std::size_t skipped = 0;
  std::vector<std::uint8_t> bytes;
  for (const fs::path& p : inputs) {
    if (!read_file(p, &bytes)) {
      std::fprintf(stderr, "ERROR: %s: cannot read\n", p.c_str());
      return 2;
    }
    std::fprintf(stderr, "INFO: running %s (%zu bytes)\n", p.c_str(), bytes.size());
    // A copy sized exactly, so an overread past the input is an overread past the allocation (as in libFuzzer).
    const std::vector<std::uint8_t> exact(bytes.begin(), bytes.end());
    if (LLVMFuzzerTestOneInput(exact.data(), exact.size()) == -1) ++skipped;
  }
  std::fprintf(stderr, "INFO: replayed %zu input(s), %zu outside the size budget (skipped)\n", inputs.size(), skipped);
  return 0;
}
