// How the engine works
// ====================
//
// Every differentiable op, when one of its inputs requires grad, creates a
// Node (its backward function) and points the output tensor at it
// (`grad_fn`). A Node holds one Edge per input of the forward op: the node
// that produced that input and which of that node's outputs it was. Leaves
// (tensors created by the user with requires_grad=True) end in an
// AccumulateGrad node that owns a reference to the leaf. So the graph is a
// DAG of Nodes pointing from outputs back towards the leaves; Python keeps
// it alive only through the output tensors.
//
// backward() runs that DAG in reverse in two passes, without recursion (a
// chain of 100,000 ops must not overflow any stack, Python's or C's):
//
//  1. Discovery: an explicit-stack walk from the roots counts, for every
//     reachable node, how many edges point at it (its dependencies).
//  2. Execution: a node becomes ready when every gradient it will ever
//     receive has arrived; arrivals for the same output slot are summed in
//     its input buffer (fan-out: a tensor used twice gets the sum of both
//     gradients). Ready nodes run in decreasing creation order (a priority
//     queue on sequence_nr, as in PyTorch), which keeps memory low because
//     the most recent activations are released first.
//
// After a node runs, its saved tensors are freed unless retain_graph; a
// second backward through it then raises a RuntimeError that says so. With
// create_graph, grad mode stays on while backward formulas run, so they are
// recorded as a new graph (every rule is written with differentiable ops),
// which is what makes double backward work. Otherwise grad mode is off and
// backward formulas cost only their kernels.
//
// Version counters: a node's saved tensors remember the storage version they
// had; an in-place write in between makes unpacking raise instead of
// silently producing a wrong gradient.
#include "autograd/engine.h"

#include <cmath>
#include <queue>
#include <unordered_map>

#include "autograd/api.h"
#include "autograd/grad_mode.h"
#include "ops/ops.h"

namespace tt {

namespace {

struct ReadyOrder {
  bool operator()(const Node* a, const Node* b) const { return a->sequence_nr < b->sequence_nr; }
};

bool has_nonfinite(const Tensor& g) {
  if (!is_floating(g.dtype())) return false;
  Tensor c = ops::contiguous(g);
  bool bad = false;
  dispatch_float(c.dtype(), "anomaly", [&](auto tag) {
    using T = decltype(tag);
    const T* p = c.data<T>();
    for (int64_t i = 0, n = c.numel(); i < n && !bad; ++i) bad = !std::isfinite(p[i]);
  });
  return bad;
}

// Gradient sum for one buffer slot: differentiable when building a graph.
Tensor accumulate(const Tensor& have, const Tensor& g) {
  if (!have.defined()) return g;
  return GradMode::is_enabled() ? tt::add(have, g) : ops::add(have, g);
}

}  // namespace

TensorList run_backward(const TensorList& roots, const TensorList& seeds, bool retain_graph,
                        bool create_graph, const TensorList& inputs, bool allow_unused) {
  GradModeGuard grad_mode(create_graph);

  // Root edges and their seeds.
  std::vector<Edge> root_edges;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    if (!r.impl->requires_grad)
      fail<RuntimeError>("element ", i, " of tensors does not require grad and does not have a grad_fn: "
                         "call .requires_grad_() on the leaves you want gradients for before the forward pass");
    root_edges.push_back(gradient_edge(r));
  }

  // autograd.grad(): where to capture each input's gradient.
  std::unordered_map<Node*, std::vector<std::pair<uint32_t, size_t>>> captures;
  TensorList captured(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].impl->requires_grad)
      fail<RuntimeError>("autograd.grad: input ", i, " does not require grad; set requires_grad=True on it");
    Edge e = gradient_edge(inputs[i]);
    captures[e.fn.get()].push_back({e.input_nr, i});
  }
  const bool accumulate_into_leaves = inputs.empty();

  // Pass 1: count dependencies with an explicit stack.
  std::unordered_map<Node*, int> deps;
  {
    std::vector<Node*> stack;
    std::unordered_map<Node*, bool> seen;
    for (auto& e : root_edges)
      if (!seen[e.fn.get()]) {
        seen[e.fn.get()] = true;
        stack.push_back(e.fn.get());
      }
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      for (auto& e : n->next_edges) {
        if (!e.valid()) continue;
        Node* m = e.fn.get();
        ++deps[m];
        if (!seen[m]) {
          seen[m] = true;
          stack.push_back(m);
        }
      }
    }
  }

  // Pass 2: execute in dependency order.
  std::unordered_map<Node*, TensorList> buffers;
  std::priority_queue<Node*, std::vector<Node*>, ReadyOrder> ready;
  auto deliver = [&](const Edge& e, const Tensor& g) {
    auto& buf = buffers[e.fn.get()];
    if (buf.empty()) buf.resize(e.fn->num_outputs());
    if (g.defined()) buf[e.input_nr] = accumulate(buf[e.input_nr], g);
  };
  for (size_t i = 0; i < roots.size(); ++i) {
    Tensor seed = seeds[i];
    if (!seed.defined()) seed = ops::full(roots[i].shape(), 1.0, roots[i].dtype());
    deliver(root_edges[i], seed);
  }
  for (auto& e : root_edges)
    if (deps[e.fn.get()] == 0) {
      deps[e.fn.get()] = -1;  // queued
      ready.push(e.fn.get());
    }

  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    TensorList grads = std::move(buffers[node]);
    buffers.erase(node);
    if (grads.empty()) grads.resize(node->num_outputs());

    for (auto& h : node->pre_hooks) {
      Tensor& g = grads[h.output_nr];
      if (!g.defined()) continue;
      Tensor r = h.fn(g);
      if (r.defined()) g = r;
    }
    auto cap = captures.find(node);
    if (cap != captures.end())
      for (auto& [slot, idx] : cap->second) captured[idx] = accumulate(captured[idx], grads[slot]);

    bool is_sink = dynamic_cast<AccumulateGrad*>(node) != nullptr;
    TensorList out;
    bool any_grad = false;
    for (auto& g : grads) any_grad = any_grad || g.defined();
    if (is_sink) {
      if (accumulate_into_leaves && any_grad) node->apply(std::move(grads));
    } else if (any_grad) {
      out = node->apply(std::move(grads));
      if (out.size() != node->next_edges.size())
        fail<RuntimeError>(node->name(), " returned ", out.size(), " gradients but its forward op had ",
                           node->next_edges.size(), " inputs");
      if (AnomalyMode::is_enabled())
        for (size_t i = 0; i < out.size(); ++i)
          if (out[i].defined() && has_nonfinite(out[i]))
            fail<RuntimeError>("Function '", node->name(), "' returned nan or inf values in its ", i,
                               "th output.",
                               node->creation_trace.empty() ? "" : "\nThe forward op was created at:\n",
                               node->creation_trace);
    }
    if (!retain_graph) node->release_saved();

    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.valid()) continue;
      if (i < out.size() && out[i].defined()) deliver(e, out[i]);
      int& d = deps[e.fn.get()];
      if (--d == 0) {
        d = -1;
        ready.push(e.fn.get());
      }
    }
  }

  if (!inputs.empty() && !allow_unused)
    for (size_t i = 0; i < captured.size(); ++i)
      if (!captured[i].defined())
        fail<RuntimeError>("autograd.grad: input ", i, " was not used to compute the outputs "
                           "(its gradient is undefined); pass allow_unused=True if this is expected");
  return captured;
}

}  // namespace tt
