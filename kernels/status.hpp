// Status: one enumerator per validation rule of the guarded dispatcher; kernels and reference never throw.
#pragma once

#include <cstdint>
#include <string_view>

namespace strideguard {

#define SG_STATUS_LIST(X)                                                                                  \
  X(kOk, "ok")                                                                                             \
  X(kRankOutOfRange, "rank must be 1..8 for x (weight: exactly 1)")                                         \
  X(kNegativeSize, "every size must be >= 0")                                                              \
  X(kSizeOverflow, "number of elements overflows int64")                                                   \
  X(kFootprintOverflow, "offset + sum (size-1)*stride overflows int64")                                    \
  X(kStorageTooLarge, "storage element count must be >= 0 and its byte size must fit in int64")            \
  X(kOutOfStorage, "every addressed element must lie inside the storage [0, storage_elems)")               \
  X(kNullStorage, "storage pointer is null but the view addresses elements")                               \
  X(kDTypeMismatch, "dtype must equal x's dtype")                                                          \
  X(kWeightShape, "weight must be 1-D with length == hidden (x's last size)")                              \
  X(kRowTooLong,                                                                                           \
    "hidden (x's last size) must be at most (2^31 - 1) x 256 chunks of 16 bytes (the kernels' row limit)")  \
  X(kShapeMismatch, "shape must equal x's shape")                                                          \
  X(kMissingOperand, "operand is required by this op")                                                     \
  X(kUnexpectedOperand, "operand is not used by this op")                                                  \
  X(kBadEps, "eps must be finite and >= 0")                                                                \
  X(kWrittenViewOverlaps, "written view may address one element twice (stride 0 or overlapping dims)")     \
  X(kForbiddenAlias,                                                                                       \
    "written operand overlaps another operand; only out == x and residual_out == residual (same storage, " \
    "same layout) are allowed")

enum class Status : std::uint8_t {
#define SG_STATUS_ENUM(name, text) name,
  SG_STATUS_LIST(SG_STATUS_ENUM)
#undef SG_STATUS_ENUM
};

inline constexpr Status kAllStatuses[] = {
#define SG_STATUS_ALL(name, text) Status::name,
    SG_STATUS_LIST(SG_STATUS_ALL)
#undef SG_STATUS_ALL
};

// The enumerator's name without its k ("OutOfStorage"): stable, used in .case files and test names.
std::string_view to_string(Status s);
// The violated rule in words.
std::string_view describe(Status s);

}  // namespace strideguard
