// The layout-safety properties: each runs generated Cases through the oracle and asserts one aspect of the verdict.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness/oracle.hpp"
#include "props/recipe.hpp"

namespace strideguard::props {

struct PropsConfig {
  BuildOptions build;        // policy, backend, size cap
  bool stop_on_failure = false;
};

struct PropertyResult {
  std::string name;
  bool passed = true;
  bool skipped = false;          // e.g. a GPU-only property without a GPU backend
  std::string skip_reason;
  int tests_to_failure = 0;      // generated cases run before the first failure (or in all, when passing)
  std::optional<Case> counterexample;  // the shrunk failing case
  Verdict verdict;               // its verdict
  std::map<std::string, int> tags;  // bug-class tag -> cases (first-pass cases only, not shrink steps)
  double seconds = 0;            // wall time (reported in JUnit and detection summaries, never in plain output)
};

struct PropertyDef {
  const char* name;         // stable, used by --only and as RapidCheck's description (reproduce= is keyed by it)
  const char* description;
  bool needs_gpu;
};

const std::vector<PropertyDef>& all_properties();

// Runs one property through rc::check with the process's RC_PARAMS (set once by the CLI, before this).
PropertyResult run_property(const PropertyDef& p, const PropsConfig& config);

}  // namespace strideguard::props
