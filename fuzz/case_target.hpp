// The body shared by the whole-case fuzz targets (cpu, gpu): decode, run_case, and on any failing Verdict print
// the Case in .case form and trap, so libFuzzer saves the input and a human gets a replayable file.
#pragma once

#include <cstddef>
#include <cstdint>

#include "harness/case.hpp"

namespace strideguard::fuzz {

// Reads the environment once and prints what runs:
//   SG_POLICY              the dispatcher under test (default guarded; see `props --list`)
//   SG_REQUIRE_ZERO_COPY   1: a plan that copies to a temporary fails (default: 1 for guarded, 0 for bug models,
//                          whose modelled copies are the real engines' behaviour, not the bug under test)
//   SG_CHECK_ACCESSES      0: the CPU emulator stops checking bounds and alignment, leaving guard pages, canaries
//                          and ASan to catch a bad plan (default 1)
// A bad value is a usage error: ERROR: on stderr, exit 2.
void init_case_target(Backend backend);

// Runs one input. Returns 0, or -1 for an input outside the size budget (libFuzzer then keeps it out of the
// corpus). A failing Verdict prints the report and calls __builtin_trap().
int run_case_target(const std::uint8_t* data, std::size_t size);

}  // namespace strideguard::fuzz
