// Cases for the GPU tests and the gpu_cases driver: a deterministic spread of valid layouts (the families props
// draws from), one trigger per bug model, and a byte-for-byte comparison of the GPU and CPU backends.
#pragma once

#include <cstdint>
#include <string>

#include "harness/case.hpp"
#include "harness/oracle.hpp"

namespace strideguard::gpu_tests {

// Case number `index` of the stream `seed`: every dtype and op, post_residual_addition, in-place forms, element
// offsets 0..7, both placements, slack, and x from: contiguous, packed-QKV Q/K slices, row-padded, size-1 dim with
// an odd stride, transposed, every other column, reversed rows, broadcast rows, rank 4 with padding, and a huge
// row stride (a sparse storage past 2^33 elements). Valid by construction (the dispatcher may still reject a few,
// e.g. a written view that overlaps; the caller treats a correct rejection as a pass).
Case generated_case(std::uint64_t seed, std::int64_t index);

// A small case on which the dispatcher modelled by `policy` misbehaves (faults, or writes wrong output).
// @pre policy != Policy::kGuarded.
Case bug_trigger(Policy policy);

// Which inputs compare_gpu_cpu starts from.
enum class Inputs {
  kCaseValues,  // exactly run_case's (finite values: case_value)
  // run_case's, then about one input element in eleven (x, weight, residual, post) replaced by a special of the
  // dtype drawn from one class per case (c.seed % 4): NaNs of several payloads and signs; infinities; the
  // largest finite value (squares overflow fp32); subnormals and -0. Mixed with finite values they make NaN,
  // inf and 0 outputs, NaN residual sums, and exercise every NaN-canonicalising path of both backends.
  kWithSpecials,
};

// Runs c on the CPU backend and on the GPU from identical inputs (filled as run_case fills them, see Inputs) and
// compares every meaningful byte of every storage: outputs, untouched inputs, slack canaries. "" when all agree,
// or the case was correctly rejected; else the first difference.
// @pre the GPU backend is registered; c.policy == Policy::kGuarded.
std::string compare_gpu_cpu(const Case& c, HostArena& arena, Inputs inputs = Inputs::kCaseValues);

}  // namespace strideguard::gpu_tests
