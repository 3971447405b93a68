// Recipe: a handful of small integers ("genes") that build one Case. Generators draw genes independently and
// shrink each towards 0, and gene 0 is always the plainest choice, so a shrunk Recipe is a small, readable Case.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/case.hpp"

namespace strideguard::props {

// The layout families of x (see ../shared/context/bug-classes.md for the codes they exercise).
enum class XFamily : int {
  kContiguous = 0,   // (T,H):(H,1)
  kPackedQ,          // (T,Hq,D):(W,D,1), W = (Hq + 2 Hkv) D               C2
  kPackedK,          // (T,Hkv,D):(W,D,1) at offset Hq D                    C2
  kPackedV,          // (T,Hkv,D):(W,D,1) at offset (Hq + Hkv) D            C2
  kRowPadded,        // (T,H):(H+p,1)                                       C2 C5
  kSize1OddStride,   // (T,1,H):(H,s,1), s anything                          C3
  kTransposed,       // (T,H):(1,T)                                         C1
  kEveryOther,       // (T,H):(2H,2)  ([..., ::2])                          C1
  kNegative,         // reversed rows or reversed columns
  kBroadcastRows,    // (T,H):(0,1)   stride 0 on a read operand
  kSplitRank4,       // (a,b,c,H) with padded, non-chaining strides          C2
  kHugeStride,       // (T,H):(2^32+p,1): footprint past 2^33 elements      C9
  kRank1,            // (H):(1)
  kCount
};

struct Recipe {
  int op = 0;           // 0 rms_norm, 1 fused_add_rms_norm
  int dtype = 0;        // 0 bf16, 1 f16, 2 f32
  int x_family = 0;     // XFamily
  int tokens = 0;       // rows gene (T = 1 + tokens, capped so a case stays small)
  int hidden = 0;       // index into the hidden-size list (families without heads)
  int heads = 0;        // Hq index
  int kv_heads = 0;     // Hkv index
  int head_dim = 0;     // D index
  int pad = 0;          // row padding index
  int variant = 0;      // family-specific sub-choice (size-1 stride, which dim is negative, split sizes)
  int weight = 0;       // weight layout: dense, stride 2, stride 0
  int residual = 0;     // residual layout family (fused)
  int post = 0;         // post_residual_addition family (fused)
  int out = 0;          // out layout family
  int residual_out = 0; // residual_out layout family (fused)
  // Half of each of the next three genes' range keeps every base 16-byte aligned, so the vector variant is
  // exercised as often as the misaligned scalar fallback.
  int misalign = 0;        // 8..15: element offset 0..7 added to x; below 8: none
  int misalign_other = 0;  // below 40: offset v % 8 on the operand v / 8; 40..79: none
  int placement = 0;       // 256..511: bit i of (v - 256) places storage i trailing; below 256: all leading
  int slack = 0;        // extra elements after every storage's last needed element (0: flush)
  int eps = 0;          // index into the eps list
  int plain = 0;        // below 2 (of 5): weight dense, no extra offsets, leading placement, flush storages
  int invalid = 0;      // 0: valid; otherwise one of the Invalid mutations
  std::uint64_t seed = 1;
};

// Mutations that make a case invalid in one specific way (planner soundness).
enum class Invalid : int {
  kNone = 0, kWeightLength, kOutShape, kStorageShort, kNegativeOffset, kOutStrideZero, kOutOverlapsX,
  kDTypeMismatch, kBadEps, kMissingResidualOut, kUnexpectedResidual, kFootprintOverflow, kSizeOverflow,
  kNegativeSize, kResidualOutOverX, kRank0, kRowTooLong, kCount
};

struct BuildOptions {
  std::int64_t max_elems = std::int64_t{1} << 15;  // numel cap for generated cases (keeps a case ~1 ms on CPU)
  Policy policy = Policy::kGuarded;
  Backend backend = Backend::kCpu;
  // True for the bug-model policies: generate only what the engines they come from can hand over. PyTorch has no
  // negative strides (those families fall back to non-negative neighbours) and the weight is the module's own
  // contiguous parameter. The guarded policy gets everything.
  bool engine_calls_only = false;
};

// Deterministic: the same Recipe and options always give the same Case.
Case build_case(const Recipe& r, const BuildOptions& options);

// Bug-class tags of a built case (computed from the layouts, not the genes), e.g. "C3 size-1 dim odd stride".
std::vector<std::string> classify(const Case& c);

}  // namespace strideguard::props
