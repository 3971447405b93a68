// Each detector of the oracle fires on a planted fault, and stays quiet on a huge-stride layout spanning 16 GiB.
#include "harness/oracle.hpp"

#include <gtest/gtest.h>

#include "harness/case_builder.hpp"

namespace strideguard {
namespace {

Verdict run_planted(const Case& c, std::function<void(Plan&)> plant, bool check_accesses = true) {
  static HostArena arena;
  RunOptions ro;
  ro.check_accesses = check_accesses;
  ro.tamper = [&](PlanResult& pr, const NormCall&) { plant(pr.plan); };
  return run_case(c, arena, ro);
}

Case contiguous_case(Placement x_place, Placement out_place) {
  Case c = make_case(Op::kRmsNorm, DType::kBF16, *make_layout({4, 64}, {64, 1}));
  c.storages[c[OperandId::kX].storage].placement = x_place;
  c.storages[c[OperandId::kOut].storage].placement = out_place;
  return c;
}

// x shifted by one element (scalar accesses): the last row's last read is one element past the storage's end.
void read_one_past_end(Plan& p) {
  p.args.x.rows.offset += 1;
  p.vector = false;
}
void write_one_before_start(Plan& p) { p.args.out.rows.offset -= 1; }

TEST(Oracle, ReadOnePastTheEnd) {
  for (Placement place : {Placement::kTrailing, Placement::kLeading}) {
    const Case c = contiguous_case(place, Placement::kLeading);
    // The emulator's bounds check, whatever the placement.
    Verdict v = run_planted(c, read_one_past_end);
    EXPECT_EQ(v.kind, VerdictKind::kOutOfBoundsRead) << describe(v);
    EXPECT_NE(v.detail.find("x element 256 (1 past the end of storage 256)"), std::string::npos) << v.detail;
  }
  // Without the emulator's checks: the trailing guard page faults on the first byte...
  Verdict v = run_planted(contiguous_case(Placement::kTrailing, Placement::kLeading), read_one_past_end, false);
  EXPECT_EQ(v.kind, VerdictKind::kOutOfBoundsRead) << describe(v);
  EXPECT_NE(v.detail.find("guard page access 1 byte(s) past the end of storage 0 (x)"), std::string::npos) << v.detail;
#if !defined(SG_ASAN)
  // ...and behind a leading placement the slack's NaN canary poisons the row, which the reference catches.
  v = run_planted(contiguous_case(Placement::kLeading, Placement::kLeading), read_one_past_end, false);
  EXPECT_EQ(v.kind, VerdictKind::kMismatch) << describe(v);
#else
  // Under ASan the slack is poisoned: the same read is reported by ASan itself.
  EXPECT_DEATH(run_planted(contiguous_case(Placement::kLeading, Placement::kLeading), read_one_past_end, false),
               "use-after-poison|AddressSanitizer");
#endif
}

TEST(Oracle, WriteOneElementBeforeTheStart) {
  Verdict v = run_planted(contiguous_case(Placement::kLeading, Placement::kTrailing), write_one_before_start);
  EXPECT_EQ(v.kind, VerdictKind::kOutOfBoundsWrite) << describe(v);
  EXPECT_NE(v.detail.find("out element -1 (1 before the start"), std::string::npos) << v.detail;
  v = run_planted(contiguous_case(Placement::kLeading, Placement::kLeading), write_one_before_start, false);
  EXPECT_EQ(v.kind, VerdictKind::kOutOfBoundsWrite) << describe(v);
  EXPECT_NE(v.detail.find("guard page write 2 byte(s) before the start of storage 2 (out)"), std::string::npos) << v.detail;
#if !defined(SG_ASAN)
  v = run_planted(contiguous_case(Placement::kLeading, Placement::kTrailing), write_one_before_start, false);
  EXPECT_EQ(v.kind, VerdictKind::kWriteOutsideView) << describe(v);
  EXPECT_NE(v.detail.find("canary overwritten in the slack around storage 2 (out)"), std::string::npos) << v.detail;
#endif
}

TEST(Oracle, WriteIntoTheGapBetweenPaddedRows) {
  Case c = make_case(Op::kRmsNorm, DType::kF16, *make_layout({4, 60}, {64, 1}), 4 * 64);
  c[OperandId::kOut] = c[OperandId::kX];  // in place on a row-padded view: the 4-element gaps belong to nobody
  const Verdict v = run_planted(c, [](Plan& p) { p.args.out.rows.offset += 2; });
  EXPECT_EQ(v.kind, VerdictKind::kWriteOutsideView) << describe(v);
  EXPECT_NE(v.detail.find("in no view but changed"), std::string::npos) << v.detail;
}

TEST(Oracle, WriteToKWhenNormalisingTheQSliceOfPackedQkv) {
  // q: (T,32,128):(6144,128,1) in place; K and V of the packed projection are not operands of this call.
  Case c = make_case(Op::kRmsNorm, DType::kBF16, *make_layout({4, 32, 128}, {6144, 128, 1}), 4 * 6144);
  c[OperandId::kOut] = c[OperandId::kX];
  const Verdict v = run_planted(c, [](Plan& p) { p.args.out.rows.offset += 128; });  // head 31 lands on K's head 0
  EXPECT_EQ(v.kind, VerdictKind::kWriteOutsideView) << describe(v);
  EXPECT_NE(v.detail.find("storage 0 (x, out) element 4096 is in no view"), std::string::npos) << v.detail;
}

TEST(Oracle, ModifiedInputIsReported) {
  Case c = make_case(Op::kFusedAddRmsNorm, DType::kF32, *make_layout({4, 64}, {64, 1}));
  const Verdict v = run_planted(c, [](Plan& p) { p.args.residual_out = p.args.residual; });  // writes into residual
  EXPECT_EQ(v.kind, VerdictKind::kInputModified) << describe(v);
  EXPECT_NE(v.detail.find("(residual) changed"), std::string::npos) << v.detail;
}

TEST(Oracle, AcceptingAnInvalidCaseIsReported) {
  Case c = make_case(Op::kRmsNorm, DType::kBF16, *make_layout({4, 64}, {64, 1}));
  c[OperandId::kOut].layout.stride[0] = 0;  // written view addresses each row's elements 4 times
  static HostArena arena;
  RunOptions ro;
  ro.tamper = [](PlanResult& pr, const NormCall& call) {
    pr.status = Status::kOk;
    pr.plan = guarded_plan_for_valid_call(call);
  };
  const Verdict v = run_case(c, arena, ro);
  EXPECT_EQ(v.kind, VerdictKind::kInvalidAccepted) << describe(v);
  EXPECT_NE(v.detail.find("out: WrittenViewOverlaps"), std::string::npos) << v.detail;
}

TEST(Oracle, RejectingAValidCaseIsReported) {
  const Case c = make_case(Op::kRmsNorm, DType::kBF16, *make_layout({4, 64}, {64, 1}));
  static HostArena arena;
  RunOptions ro;
  ro.tamper = [](PlanResult& pr, const NormCall&) {
    pr.status = Status::kOutOfStorage;
    pr.operand = OperandId::kX;
  };
  const Verdict v = run_case(c, arena, ro);
  EXPECT_EQ(v.kind, VerdictKind::kUnjustifiedRejection) << describe(v);
  ro.tamper = [](PlanResult& pr, const NormCall&) { pr.operand = OperandId::kWeight; };
  Case bad = c;
  bad[OperandId::kX].layout.offset = 1;  // out of storage on x; the planted planner blames the weight
  EXPECT_EQ(run_case(bad, arena, ro).kind, VerdictKind::kWrongRejection);
}

TEST(Oracle, UnwrittenOutputIsReported) {
  const Case c = make_case(Op::kRmsNorm, DType::kBF16, *make_layout({4, 64}, {64, 1}));
  const Verdict v = run_planted(c, [](Plan& p) { p.args.rows -= 1; p.grid_blocks = p.args.row_groups(); });
  EXPECT_EQ(v.kind, VerdictKind::kUnwritten) << describe(v);
  EXPECT_NE(v.detail.find("out(3,0)"), std::string::npos) << v.detail;
}

TEST(Oracle, NoFalseAlarmOnAHugeStrideLayoutSpanning16GiB) {
  // x and out: 3 rows 2^32 + 8 elements apart: a footprint of 2^33 + 80 bf16 elements (16 GiB of virtual storage).
  Case c = make_case(Op::kFusedAddRmsNorm, DType::kBF16, *make_layout({3, 64}, {(std::int64_t{1} << 32) + 8, 1}));
  const std::int64_t storage = c.storages[c[OperandId::kX].storage].elems;
  ASSERT_GT(storage * 2, std::int64_t{8} << 30);
  set_operand(c, OperandId::kOut, c[OperandId::kX].layout, DType::kBF16, add_storage(c, storage, Placement::kTrailing));
  static HostArena arena;
  const Verdict v = run_case(c, arena);
  EXPECT_EQ(v.kind, VerdictKind::kPass) << describe(v);
}

}  // namespace
}  // namespace strideguard
