// The autograd graph. Each differentiable op that sees an input requiring
// grad creates a Node: the backward function of that op. A Node knows, for
// each of its differentiable inputs, the Edge to follow (the node that
// produced that input and which of its outputs it was). Leaves end in an
// AccumulateGrad sink that adds the arriving gradient to `tensor.grad`.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tt {

struct Node;
struct SavedTensor;
using TensorList = std::vector<Tensor>;

struct Edge {
  std::shared_ptr<Node> fn;
  uint32_t input_nr = 0;  // which output of `fn` (which input slot of its gradient buffer)
  bool valid() const { return static_cast<bool>(fn); }
};

struct Node : std::enable_shared_from_this<Node> {
  std::vector<Edge> next_edges;  // one per input of the forward op, in order
  uint64_t sequence_nr;          // creation order: later nodes run first
  bool released = false;         // saved tensors freed after a backward without retain_graph
  std::string creation_trace;    // where the forward op ran (anomaly mode only)
  // Hooks registered on a non-leaf output tensor: run on the gradient of that
  // output before apply(). (output_nr, hook id, fn)
  struct PreHook { uint32_t output_nr; int id; TensorHook fn; };
  std::vector<PreHook> pre_hooks;

  Node();
  // Frees the graph behind this node without recursion (a 1,000,000-op chain
  // would otherwise overflow the C stack through nested shared_ptr releases).
  virtual ~Node();
  virtual std::string name() const = 0;
  virtual uint32_t num_outputs() const { return 1; }
  // grads[i] is the gradient w.r.t. forward output i (may be undefined: zero).
  // Returns one gradient per next_edge (undefined where an input needs none).
  virtual TensorList apply(TensorList&& grads) = 0;
  // The tensors this node saved for its backward (each SavedTensor member
  // declared `SavedTensor a{this};` registers itself here).
  std::vector<SavedTensor*> saved_tensors;
  // Frees the saved tensors after a backward without retain_graph; the engine
  // then refuses to run this node again (check_not_released).
  virtual void release_saved();
  void check_not_released() const;
};

// Sink for a leaf: accumulates into leaf.grad (running the leaf's hooks first).
struct AccumulateGrad : Node {
  TensorPtr variable;
  explicit AccumulateGrad(TensorPtr v) : variable(std::move(v)) {}
  std::string name() const override { return "AccumulateGrad"; }
  TensorList apply(TensorList&& grads) override;
  void release_saved() override {}  // never holds saved state
};

// A tensor an op kept for its backward, with the version it had at the time,
// so an in-place change in between is caught instead of giving a wrong gradient.
struct SavedTensor {
  Tensor data;
  uint64_t version = 0;
  bool is_output = false;  // saved its own output: stored detached to avoid a reference cycle
  uint32_t output_nr = 0;

  SavedTensor() = default;
  // A node's member: registers with `owner`, which frees it in release_saved().
  explicit SavedTensor(Node* owner);
  SavedTensor(const Tensor& t, bool output = false);
  // Returns the tensor (re-linked to `self` when it is the node's own output,
  // so double backward sees it as a function of the inputs).
  Tensor unpack(const Node& self) const;
  void reset() { data = Tensor(); }
};

// ---- helpers used by every differentiable op ----
bool needs_grad(const Tensor& t);  // GradMode on and t.requires_grad
Edge gradient_edge(const Tensor& t);  // undefined Edge when t does not require grad
// The one rule for which tensors may require gradients (floating-point ones),
// and that only leaves may stop requiring them. `op` is the name the user
// called (Tensor, zeros, requires_grad, ...), for the message.
void set_requires_grad(const Tensor& t, bool requires_grad, const char* op);
// Connects `out` to `node` as its output number `output_nr`.
void set_history(Tensor& out, const std::shared_ptr<Node>& node, uint32_t output_nr = 0);
// Creation trace hook: the Python glue installs a function returning the
// current Python stack, used in anomaly mode.
extern std::string (*g_capture_trace)();

}  // namespace tt
