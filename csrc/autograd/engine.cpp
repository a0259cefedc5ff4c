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
// backward() runs that DAG in reverse without recursion (a chain of 100,000
// ops must not overflow any stack, Python's or C's). It is split into the
// steps below, one short function each, in the order run_backward (near
// the bottom of this file) calls them; PyTorch's engine is split the same way
// (compute_dependencies, evaluate_function, call_function).
//
//  1. Check arguments (check_arguments, make_graph_task): one seed per
//     output, no None among outputs or inputs, and every output and input
//     requires grad. For autograd.grad(outputs, inputs) it also records which
//     node slot each input's gradient will pass through, to capture it there.
//  2. Discover the graph (discover_graph): an explicit-stack depth-first
//     walk from the roots finds every reachable node. For
//     autograd.grad(outputs, inputs) the same walk, in post-order, marks the
//     nodes that lead to a requested input; only those run (nothing is
//     accumulated into leaves, and the rest of the graph is neither computed
//     nor released).
//  3. Count dependencies (count_dependencies): for every node that will run,
//     how many edges from other running nodes point at it, i.e. how many
//     gradients it will receive.
//  4. Seed (seed_roots): each root gets its seed gradient (ones when omitted,
//     allowed only for one-element outputs); roots with no dependencies are
//     queued.
//  5. Run a node with its hooks (evaluate_function, call_function): a node
//     becomes ready when every gradient it will ever receive has arrived.
//     Ready nodes run in decreasing creation order (a priority queue on
//     sequence_nr, as in PyTorch), which keeps memory low because the most
//     recent activations are released first. Before it runs, the tensor hooks
//     of its outputs may replace their gradients, and autograd.grad captures
//     the gradients of the requested inputs. Running it checks how many
//     gradients it returned and, in anomaly mode, that they are finite; the
//     profiler times exactly this apply.
//  6. Deliver outputs (deliver_outputs): each gradient the node returned is
//     summed into its consumer's input buffer (fan-out: a tensor used twice
//     gets the sum of both gradients); a consumer whose last gradient has
//     arrived is queued.
//
// backward(inputs=[...]) (backward_into) is autograd.grad's walk followed by
// one more step: each captured gradient is added into its input's .grad by
// the same AccumulateGrad a leaf uses, so the two never differ.
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

// What the engine knows about one reachable node during a backward call.
struct NodeState {
  int deps = 0;  // gradients still to arrive; -1 once queued
  bool visited = false;
  bool needed = false;  // runs in this call (always, unless autograd.grad prunes it)
  TensorList buffer;    // incoming gradients, one slot per forward output
};

// Everything one backward call shares between its steps (PyTorch's GraphTask).
struct GraphTask {
  bool retain_graph = false;
  bool accumulate_into_leaves = true;  // Tensor.backward; false for autograd.grad
  std::vector<Edge> root_edges;
  // autograd.grad(): where to capture each input's gradient. The edges are
  // kept so a leaf's lazily created AccumulateGrad stays alive meanwhile.
  std::vector<Edge> input_edges;
  std::unordered_map<Node*, std::vector<std::pair<uint32_t, size_t>>> captures;
  TensorList captured;
  std::unordered_map<Node*, NodeState> graph;
  std::vector<Node*> order;  // post-order: every node after all nodes it points to
  std::priority_queue<Node*, std::vector<Node*>, ReadyOrder> ready;
};

// Step 1 of the essay (check arguments), the part that needs no graph.
// Checked here, not only in the bindings, so no caller can make the steps
// below dereference a null tensor or read past the seeds.
void check_arguments(const TensorList& roots, const TensorList& seeds, const TensorList& inputs) {
  if (seeds.size() != roots.size())
    fail<ValueError>("backward: got ", seeds.size(), " gradients for ", roots.size(),
                     " outputs; pass one gradient (or None) per output");
  for (size_t i = 0; i < roots.size(); ++i)
    if (!roots[i].defined())
      fail<TypeError>("backward: output ", i, " is None, not a Tensor; pass only tensors as outputs");
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!inputs[i].defined())
      fail<TypeError>("autograd.grad: input ", i, " is None, not a Tensor; pass only tensors as inputs");
}

// Step 1 of the essay (check arguments), the part that needs each tensor's
// gradient edge: the root edges, and where autograd.grad captures each input.
void make_graph_task(GraphTask& task, const TensorList& roots, const TensorList& inputs, bool retain_graph) {
  task.retain_graph = retain_graph;
  task.root_edges.reserve(roots.size());
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& r = roots[i];
    if (!r.impl->requires_grad)
      fail<RuntimeError>("element ", i, " of tensors does not require grad and does not have a grad_fn: "
                         "call .requires_grad_() on the leaves you want gradients for before the forward pass");
    task.root_edges.push_back(gradient_edge(r));
  }
  task.captured.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].impl->requires_grad)
      fail<RuntimeError>("autograd.grad: input ", i, " does not require grad; set requires_grad=True on it");
    task.input_edges.push_back(gradient_edge(inputs[i]));
    task.captures[task.input_edges.back().fn.get()].push_back({task.input_edges.back().input_nr, i});
  }
  task.accumulate_into_leaves = inputs.empty();
}

// Step 2 of the essay, for one node the walk has finished (all nodes it
// points to are done): does it lead to a requested input?
void mark_needed(GraphTask& task, Node* done) {
  NodeState& ds = task.graph[done];
  if (task.accumulate_into_leaves || task.captures.count(done)) {
    ds.needed = true;
    return;
  }
  for (auto& c : done->next_edges)
    if (c.valid() && task.graph[c.fn.get()].needed) {
      ds.needed = true;
      return;
    }
}

// Step 2 of the essay (discover the graph): an explicit-stack depth-first
// walk, so a 100,000-op chain uses heap memory, not the C stack.
void discover_graph(GraphTask& task) {
  task.graph.reserve(64);
  std::vector<std::pair<Node*, size_t>> stack;  // (node, index of its next edge to visit)
  for (auto& e : task.root_edges) {
    NodeState& st = task.graph[e.fn.get()];
    if (st.visited) continue;
    st.visited = true;
    stack.push_back({e.fn.get(), 0});
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      if (next < n->next_edges.size()) {
        const Edge& c = n->next_edges[next++];
        if (!c.valid()) continue;
        NodeState& cs = task.graph[c.fn.get()];
        if (!cs.visited) {
          cs.visited = true;
          stack.push_back({c.fn.get(), 0});  // invalidates n/next: re-read at the top
        }
        continue;
      }
      Node* done = n;
      stack.pop_back();
      mark_needed(task, done);
      task.order.push_back(done);
    }
  }
}

// Step 3 of the essay (count dependencies): PyTorch's compute_dependencies.
void count_dependencies(GraphTask& task) {
  for (Node* n : task.order) {
    if (!task.graph[n].needed) continue;
    for (auto& c : n->next_edges)
      if (c.valid()) {
        NodeState& cs = task.graph[c.fn.get()];
        if (cs.needed) ++cs.deps;
      }
  }
}

// Steps 4 and 6 of the essay: sum one gradient into the buffer slot of the
// node `e` points at.
void add_to_buffer(NodeState& st, const Edge& e, const Tensor& g) {
  if (st.buffer.empty()) st.buffer.resize(e.fn->num_outputs());
  if (g.defined()) st.buffer[e.input_nr] = accumulate(st.buffer[e.input_nr], g);
}

// Step 4 of the essay (seed): the first gradients, then queue the roots that
// wait for nothing else.
void seed_roots(GraphTask& task, const TensorList& roots, const TensorList& seeds) {
  for (size_t i = 0; i < roots.size(); ++i) {
    NodeState& st = task.graph[task.root_edges[i].fn.get()];
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
    add_to_buffer(st, task.root_edges[i], seed);
  }
  for (auto& e : task.root_edges) {
    NodeState& st = task.graph[e.fn.get()];
    if (st.needed && st.deps == 0) {
      st.deps = -1;  // queued
      task.ready.push(e.fn.get());
    }
  }
}

// Step 5 of the essay (run a node with its hooks), the hooks: tensor hooks
// may replace the gradients before the node sees them.
void call_hooks(const GraphTask& task, Node* node, AccumulateGrad* sink, TensorList& grads) {
  // On a non-leaf they sit on its grad_fn (pre-hooks), on a leaf they belong
  // to the tensor its AccumulateGrad feeds. A hook may register or remove
  // hooks (even itself), which would reallocate the vector under the loop, so
  // iterate over a copy taken now: as in PyTorch, the hooks present when this
  // node starts are the ones that run, and a copy keeps each callable alive
  // while it runs.
  const std::vector<Node::PreHook> pre_hooks = node->pre_hooks;
  for (const auto& h : pre_hooks) {
    if (h.id < 0 && !task.accumulate_into_leaves) continue;  // retain_grad(): only for backward()
    Tensor& g = grads[h.output_nr];
    if (!g.defined()) continue;
    Tensor r = h.fn(g);
    if (r.defined()) g = r;
  }
  if (sink && sink->variable->meta && grads[0].defined()) {
    const auto leaf_hooks = sink->variable->meta->hooks;  // a copy, as above
    for (const auto& [id, hook] : leaf_hooks) {
      Tensor r = hook(grads[0]);
      if (r.defined()) grads[0] = r;
    }
  }
}

// Step 5 of the essay, anomaly mode: name the node whose output is not finite.
void check_finite(const Node* node, const TensorList& out) {
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i].defined() && has_nonfinite(out[i]))
      fail<RuntimeError>("Function '", node->name(), "' returned nan or inf values in its ", i, "th output.",
                         node->creation_trace.empty()
                             ? " (No creation trace: enable detect_anomaly() before the forward pass to see "
                               "where this op was created.)"
                             : "\nThe forward op was created at (most recent call last):\n",
                         node->creation_trace);
}

// Step 5 of the essay, the node itself (PyTorch's call_function): apply it,
// timed by the profiler, and check what it returned. A leaf's AccumulateGrad
// runs only for Tensor.backward; a node with no gradient at all is skipped.
TensorList call_function(const GraphTask& task, Node* node, AccumulateGrad* sink, TensorList grads) {
  const int64_t prof_start = prof::enabled() ? prof::now_ns() : 0;  // profiler: one flag test when off
  TensorList out;
  bool any_grad = false;
  for (auto& g : grads) any_grad = any_grad || g.defined();
  if (sink) {
    if (task.accumulate_into_leaves && any_grad) node->apply(std::move(grads));
  } else if (any_grad) {
    if (node->released && !node->saved_tensors.empty()) node->check_not_released();  // its saved tensors are gone
    out = node->apply(std::move(grads));
    if (out.size() != node->next_edges.size())
      fail<RuntimeError>(node->name(), " returned ", out.size(), " gradients but its forward op had ",
                         node->next_edges.size(), " inputs");
    if (AnomalyMode::is_enabled()) check_finite(node, out);
  }
  if (prof_start) prof::record(prof::Kind::Backward, node->name(), prof_start, prof::now_ns());
  return out;
}

// Step 6 of the essay (deliver outputs): each gradient to its consumer's
// buffer; a consumer that has now received everything is queued.
void deliver_outputs(GraphTask& task, Node* node, const TensorList& out) {
  for (size_t i = 0; i < node->next_edges.size(); ++i) {
    const Edge& e = node->next_edges[i];
    if (!e.valid()) continue;
    NodeState& st = task.graph[e.fn.get()];
    if (!st.needed) continue;
    if (i < out.size() && out[i].defined()) add_to_buffer(st, e, out[i]);
    if (--st.deps == 0) {
      st.deps = -1;
      task.ready.push(e.fn.get());
    }
  }
}

// Step 5 of the essay (run a node with its hooks), PyTorch's
// evaluate_function: hooks, autograd.grad's capture, the node, the release
// of its saved tensors (the paragraph after the steps), then step 6.
void evaluate_function(GraphTask& task, Node* node) {
  TensorList grads = std::move(task.graph[node].buffer);
  if (grads.empty()) grads.resize(node->num_outputs());
  auto* sink = dynamic_cast<AccumulateGrad*>(node);
  call_hooks(task, node, sink, grads);
  auto cap = task.captures.find(node);
  if (cap != task.captures.end())
    for (auto& [slot, idx] : cap->second) task.captured[idx] = accumulate(task.captured[idx], grads[slot]);
  TensorList out = call_function(task, node, sink, std::move(grads));
  if (!task.retain_graph) node->release_saved();
  deliver_outputs(task, node, out);
}

// autograd.grad without allow_unused: every requested input must have been
// reached by a gradient.
void check_inputs_used(const GraphTask& task) {
  for (size_t i = 0; i < task.captured.size(); ++i)
    if (!task.captured[i].defined())
      fail<RuntimeError>("autograd.grad: input ", i, " was not used to compute the outputs "
                         "(its gradient is undefined); pass allow_unused=True if this is expected");
}

}  // namespace

// The steps of the essay at the top of this file, in order.
TensorList run_backward(const TensorList& roots, const TensorList& seeds, bool retain_graph,
                        bool create_graph, const TensorList& inputs, bool allow_unused) {
  check_arguments(roots, seeds, inputs);
  GradModeGuard grad_mode(create_graph);
  GraphTask task;
  make_graph_task(task, roots, inputs, retain_graph);
  discover_graph(task);
  count_dependencies(task);
  seed_roots(task, roots, seeds);
  while (!task.ready.empty()) {
    Node* node = task.ready.top();
    task.ready.pop();
    evaluate_function(task, node);
  }
  if (!inputs.empty() && !allow_unused) check_inputs_used(task);
  return std::move(task.captured);
}

void backward_into(const TensorList& roots, const TensorList& seeds, bool retain_graph, bool create_graph,
                   const TensorList& inputs) {
  TensorList grads = run_backward(roots, seeds, retain_graph, create_graph, inputs, /*allow_unused=*/true);
  GradModeGuard grad_mode(create_graph);  // as inside run_backward: a create_graph .grad stays differentiable
  for (size_t i = 0; i < inputs.size(); ++i)
    if (grads[i].defined()) AccumulateGrad(inputs[i].impl).apply({std::move(grads[i])});
}

}  // namespace tt
