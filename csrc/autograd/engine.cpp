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
//  1. Discovery: an explicit-stack depth-first walk from the roots finds
//     every reachable node and counts how many edges point at it (its
//     dependencies). For autograd.grad(outputs, inputs) the same walk, in
//     post-order, marks the nodes that lead to a requested input; only those
//     run (nothing is accumulated into leaves, and the rest of the graph is
//     neither computed nor released).
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
#include "core/profiler.h"
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
  if (!g.defined()) return have;
  return GradMode::is_enabled() ? tt::add(have, g) : ops::add(have, g);
}

}  // namespace

TensorList run_backward(const TensorList& roots, const TensorList& seeds, bool retain_graph,
                        bool create_graph, const TensorList& inputs, bool allow_unused) {
  // Checked here, not only in the bindings, so no caller can make the loops
  // below dereference a null tensor or read past the seeds.
  if (seeds.size() != roots.size())
    fail<ValueError>("backward: got ", seeds.size(), " gradients for ", roots.size(),
                     " outputs; pass one gradient (or None) per output");
  for (size_t i = 0; i < roots.size(); ++i)
    if (!roots[i].defined())
      fail<TypeError>("backward: output ", i, " is None, not a Tensor; pass only tensors as outputs");
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined())
      fail<TypeError>("autograd.grad: input ", i, " is None, not a Tensor; pass only tensors as inputs");
  GradModeGuard grad_mode(create_graph);

  // Root edges and their seeds.
  std::vector<Edge> root_edges;
  root_edges.reserve(roots.size());
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    if (!r.impl->requires_grad)
      fail<RuntimeError>("element ", i, " of tensors does not require grad and does not have a grad_fn: "
                         "call .requires_grad_() on the leaves you want gradients for before the forward pass");
    root_edges.push_back(gradient_edge(r));
  }

  // autograd.grad(): where to capture each input's gradient. The edges are
  // kept so a leaf's lazily created AccumulateGrad stays alive meanwhile.
  std::vector<Edge> input_edges;
  std::unordered_map<Node*, std::vector<std::pair<uint32_t, size_t>>> captures;
  TensorList captured(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].impl->requires_grad)
      fail<RuntimeError>("autograd.grad: input ", i, " does not require grad; set requires_grad=True on it");
    input_edges.push_back(gradient_edge(inputs[i]));
    captures[input_edges.back().fn.get()].push_back({input_edges.back().input_nr, i});
  }
  const bool accumulate_into_leaves = inputs.empty();

  // Pass 1: an explicit-stack depth-first walk finds every reachable node;
  // in post-order it also marks which nodes lead to a requested input
  // (autograd.grad runs only those, as PyTorch does). Then count, for every
  // node that will run, how many gradients it will receive.
  struct State {
    int deps = 0;
    bool visited = false;
    bool needed = false;
    TensorList buffer;  // incoming gradients, one slot per forward output
  };
  std::unordered_map<Node*, State> graph;
  graph.reserve(64);
  std::vector<Node*> order;  // post-order: every node after all nodes it points to
  {
    std::vector<std::pair<Node*, size_t>> stack;
    for (auto& e : root_edges) {
      State& st = graph[e.fn.get()];
      if (st.visited) continue;
      st.visited = true;
      stack.push_back({e.fn.get(), 0});
      while (!stack.empty()) {
        auto& [n, next] = stack.back();
        if (next < n->next_edges.size()) {
          const Edge& c = n->next_edges[next++];
          if (!c.valid()) continue;
          State& cs = graph[c.fn.get()];
          if (!cs.visited) {
            cs.visited = true;
            stack.push_back({c.fn.get(), 0});  // invalidates n/next: re-read at the top
          }
          continue;
        }
        Node* done = n;
        stack.pop_back();
        State& ds = graph[done];
        if (accumulate_into_leaves || captures.count(done)) {
          ds.needed = true;
        } else {
          for (auto& c : done->next_edges)
            if (c.valid() && graph[c.fn.get()].needed) {
              ds.needed = true;
              break;
            }
        }
        order.push_back(done);
      }
    }
    for (Node* n : order) {
      if (!graph[n].needed) continue;
      for (auto& c : n->next_edges)
        if (c.valid()) {
          State& cs = graph[c.fn.get()];
          if (cs.needed) ++cs.deps;
        }
    }
  }

  // Pass 2: execute in dependency order.
  std::priority_queue<Node*, std::vector<Node*>, ReadyOrder> ready;
  auto deliver = [&](State& st, const Edge& e, const Tensor& g) {
    if (st.buffer.empty()) st.buffer.resize(e.fn->num_outputs());
    if (g.defined()) st.buffer[e.input_nr] = accumulate(st.buffer[e.input_nr], g);
  };
  for (size_t i = 0; i < roots.size(); ++i) {
    State& st = graph[root_edges[i].fn.get()];
    if (!st.needed) continue;
    Tensor seed = seeds[i];
    if (!seed.defined()) {
      if (roots[i].numel() != 1)
        fail<RuntimeError>("grad can be implicitly created only for scalar outputs, but element ", i,
                           " of tensors has shape ", shape_str(roots[i].shape()),
                           "; pass gradient= (a tensor of that shape) to backward()");
      seed = ops::full(roots[i].shape(), 1.0, roots[i].dtype());
    } else if (seed.shape() != roots[i].shape()) {
      fail<ValueError>("backward: gradient has shape ", shape_str(seed.shape()), " but the output has shape ",
                       shape_str(roots[i].shape()), "; the seed gradient must match the output's shape");
    } else if (seed.dtype() != roots[i].dtype()) {
      seed = astype(seed, roots[i].dtype());
    }
    deliver(st, root_edges[i], seed);
  }
  for (auto& e : root_edges) {
    State& st = graph[e.fn.get()];
    if (st.needed && st.deps == 0) {
      st.deps = -1;  // queued
      ready.push(e.fn.get());
    }
  }

  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    TensorList grads = std::move(graph[node].buffer);
    if (grads.empty()) grads.resize(node->num_outputs());

    // Tensor hooks: on a non-leaf they sit on its grad_fn (pre-hooks), on a
    // leaf they belong to the tensor its AccumulateGrad feeds. A hook may
    // register or remove hooks (even itself), which would reallocate the
    // vector under the loop, so iterate over a copy taken now: as in PyTorch,
    // the hooks present when this node starts are the ones that run, and a
    // copy keeps each callable alive while it runs.
    const std::vector<Node::PreHook> pre_hooks = node->pre_hooks;
    for (const auto& h : pre_hooks) {
      if (h.id < 0 && !accumulate_into_leaves) continue;  // retain_grad(): only for backward()
      Tensor& g = grads[h.output_nr];
      if (!g.defined()) continue;
      Tensor r = h.fn(g);
      if (r.defined()) g = r;
    }
    auto* sink = dynamic_cast<AccumulateGrad*>(node);
    if (sink && sink->variable->meta && grads[0].defined()) {
      const auto leaf_hooks = sink->variable->meta->hooks;  // a copy, as above
      for (const auto& [id, hook] : leaf_hooks) {
        Tensor r = hook(grads[0]);
        if (r.defined()) grads[0] = r;
      }
    }
    auto cap = captures.find(node);
    if (cap != captures.end())
      for (auto& [slot, idx] : cap->second) captured[idx] = accumulate(captured[idx], grads[slot]);

    const int64_t prof_start = prof::enabled() ? prof::now_ns() : 0;  // profiler: one flag test when off
    TensorList out;
    bool any_grad = false;
    for (auto& g : grads) any_grad = any_grad || g.defined();
    if (sink) {
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
                               node->creation_trace.empty()
                                   ? " (No creation trace: enable detect_anomaly() before the forward pass to see "
                                     "where this op was created.)"
                                   : "\nThe forward op was created at (most recent call last):\n",
                               node->creation_trace);
    }
    if (prof_start) prof::record(prof::Kind::Backward, node->name(), prof_start, prof::now_ns());
    if (!retain_graph) node->release_saved();

    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.valid()) continue;
      State& st = graph[e.fn.get()];
      if (!st.needed) continue;
      if (i < out.size() && out[i].defined()) deliver(st, e, out[i]);
      if (--st.deps == 0) {
        st.deps = -1;
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
