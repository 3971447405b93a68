// Case assembly helpers.
#include "harness/case_builder.hpp"

#include <limits>

#include "kernels/layout.hpp"

namespace strideguard {

std::int64_t storage_needed(const Layout& l) {
  const Footprint fp = *footprint(l);
  return fp.empty() ? 0 : fp.max + 1;
}

int add_storage(Case& c, std::int64_t elems, Placement placement) {
  c.storages.push_back({elems, placement});
  return static_cast<int>(c.storages.size()) - 1;
}

void set_operand(Case& c, OperandId id, const Layout& l, DType dtype, int storage) {
  OperandSpec& o = c[id];
  o.present = true;
  o.layout = l;
  o.dtype = dtype;
  o.storage = storage;
}

Layout contiguous_like(const Layout& x) {
  Layout l = x;
  l.offset = 0;
  std::int64_t s = 1;
  for (int k = x.rank - 1; k >= 0; --k) {
    l.stride[k] = s;
    // Invalid cases (props' size-overflow and row-limit mutations) have shapes whose product int64 cannot hold: the
    // strides saturate there instead of overflowing (they are only classified, never run).
    if (mul_overflows(s, x.shape[k] > 0 ? x.shape[k] : 1, &s)) s = std::numeric_limits<std::int64_t>::max();
  }
  return l;
}

Case make_case(Op op, DType dtype, const Layout& x, std::int64_t x_storage, bool with_post) {
  Case c;
  c.op = op;
  set_operand(c, OperandId::kX, x, dtype, add_storage(c, x_storage ? x_storage : storage_needed(x)));
  Layout w;
  w.rank = 1;
  w.shape[0] = x.rank ? x.shape[x.rank - 1] : 1;
  w.stride[0] = 1;
  set_operand(c, OperandId::kWeight, w, dtype, add_storage(c, w.shape[0]));
  const Layout dense = contiguous_like(x);
  auto add_dense = [&](OperandId id) { set_operand(c, id, dense, dtype, add_storage(c, storage_needed(dense))); };
  add_dense(OperandId::kOut);
  if (op == Op::kFusedAddRmsNorm) {
    add_dense(OperandId::kResidual);
    add_dense(OperandId::kResidualOut);
    if (with_post) add_dense(OperandId::kPostResidualAddition);
  }
  return c;
}

}  // namespace strideguard
