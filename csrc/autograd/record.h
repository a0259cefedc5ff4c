// The one recording step every differentiable op shares (differentiable.cpp,
// fused_ops.cpp, conv.cpp): after the forward kernel has produced `out`,
//
//   return record<MulBackward>(out, {&a, &b}, [&](MulBackward& n) { n.a = SavedTensor(a); ... });
//
// When grad mode is on and an input requires grad, it makes node N with one
// edge per input (in order; an undefined or non-requiring input gets an
// invalid edge, so the rule sees `next_edges[i].valid()` as "input i wants a
// gradient"), makes it `out`'s grad_fn, and then lets `save(node)` store what
// the rule needs. Saving comes after set_history, so a saved output knows
// which output of the node it is. The formulas stay in the rules (backward.h,
// fused_backward.h, conv.h); only this bookkeeping is shared.
#pragma once
#include <initializer_list>
#include <memory>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"

namespace tt {

namespace record_detail {

template <class Inputs>
bool any_needs(const Inputs& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t->defined() && t->impl->requires_grad) return true;
  return false;
}

template <class N, class Inputs, class Save>
Tensor record(Tensor out, const Inputs& inputs, Save&& save) {
  if (!any_needs(inputs)) return out;
  auto n = std::make_shared<N>();
  n->next_edges.reserve(inputs.size());
  for (const Tensor* t : inputs) n->next_edges.push_back(gradient_edge(*t));
  set_history(out, n);
  save(*n);
  return out;
}

}  // namespace record_detail

// True when grad mode is on and one of the inputs requires grad: whether an op records at all.
inline bool any_needs(std::initializer_list<const Tensor*> inputs) { return record_detail::any_needs(inputs); }

template <class N, class Save>
Tensor record(Tensor out, std::initializer_list<const Tensor*> inputs, Save&& save) {
  return record_detail::record<N>(std::move(out), inputs, std::forward<Save>(save));
}
template <class N>
Tensor record(Tensor out, std::initializer_list<const Tensor*> inputs) {
  return record<N>(std::move(out), inputs, [](N&) {});
}
// For ops with a variable number of inputs (the packed Q/K/V Linear: x, w_0.., b_0..).
template <class N, class Save>
Tensor record(Tensor out, const std::vector<const Tensor*>& inputs, Save&& save) {
  return record_detail::record<N>(std::move(out), inputs, std::forward<Save>(save));
}

}  // namespace tt
