#include "autograd/node.h"

#include <atomic>

#include "autograd/api.h"
#include "autograd/grad_mode.h"
#include "core/profiler.h"
#include "ops/ops.h"

namespace tt {

static thread_local bool t_grad_enabled = true;
static std::atomic<bool> g_anomaly{false};
bool GradMode::is_enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool e) { t_grad_enabled = e; }
bool AnomalyMode::is_enabled() { return g_anomaly.load(std::memory_order_relaxed); }
void AnomalyMode::set_enabled(bool e) { g_anomaly.store(e); }

std::string (*g_capture_trace)() = nullptr;

static std::atomic<uint64_t> g_next_sequence_nr{0};

Node::Node() : sequence_nr(g_next_sequence_nr++) {
  if (AnomalyMode::is_enabled() && g_capture_trace) creation_trace = g_capture_trace();
}

// Deleting the last reference to a chain's head would release its parent
// inside its destructor, and so on down the chain: one C stack frame per
// node. Instead, each destructor hands the parents it was the last owner of
// to a per-thread queue, and only the outermost destructor drains it.
Node::~Node() {
  static thread_local bool t_draining = false;
  static thread_local std::vector<std::shared_ptr<Node>> t_orphans;
  for (auto& e : next_edges)
    if (e.fn && e.fn.use_count() == 1) t_orphans.push_back(std::move(e.fn));
  if (t_draining) return;
  t_draining = true;
  while (!t_orphans.empty()) {
    std::shared_ptr<Node> n = std::move(t_orphans.back());
    t_orphans.pop_back();
    n.reset();  // its destructor queues its own parents instead of recursing
  }
  t_draining = false;
}

void Node::check_not_released() const {
  if (released)
    fail<RuntimeError>("Trying to backward through the graph a second time (", name(),
                       "): its saved tensors were already freed after the first backward. "
                       "Specify retain_graph=True on the first backward() call if you need to "
                       "backward through the graph again.");
}

void Node::release_saved() {
  for (SavedTensor* s : saved_tensors) s->reset();
  released = true;
}

SavedTensor::SavedTensor(Node* owner) { owner->saved_tensors.push_back(this); }

SavedTensor::SavedTensor(const Tensor& t, bool output) : version(t.defined() ? t.version() : 0), is_output(output) {
  if (!t.defined()) return;
  if (output) {
    // Keep only the memory, not the autograd link back to the node that
    // saves it (that would be a reference cycle: node -> output -> node).
    data = Tensor::view_of(t, t.shape(), t.strides(), t.offset());
    output_nr = t.impl->meta ? t.impl->meta->output_nr : 0;
  } else {
    data = t;
  }
}

Tensor SavedTensor::unpack(const Node& self) const {
  if (!data.defined()) self.check_not_released();
  if (data.version() != version)
    fail<RuntimeError>("one of the tensors needed for gradient computation has been modified by an "
                       "in-place operation: a tensor of shape ", shape_str(data.shape()),
                       " saved by ", self.name(), " is at version ", data.version(),
                       "; expected version ", version,
                       " instead. Avoid modifying it in place (use out-of-place ops, or .clone() it "
                       "before the in-place change).");
  if (!is_output || !GradMode::is_enabled()) return data;
  // Double backward needs the output as a function of the inputs again.
  Tensor t = Tensor::view_of(data, data.shape(), data.strides(), data.offset());
  t.impl->requires_grad = true;
  auto& m = t.impl->autograd();
  m.grad_fn = std::const_pointer_cast<Node>(self.shared_from_this());
  m.output_nr = output_nr;
  return t;
}

bool needs_grad(const Tensor& t) { return t.defined() && t.impl->requires_grad && GradMode::is_enabled(); }

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.impl->requires_grad) return {};
  auto& m = t.impl->autograd();
  if (m.grad_fn) return {m.grad_fn, m.output_nr};
  auto acc = m.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl);
    m.grad_accumulator = acc;
  }
  return {acc, 0};
}

void set_requires_grad(const Tensor& t, bool requires_grad, const char* op) {
  if (requires_grad && !is_floating(t.dtype()))
    fail<TypeError>(op, ": only floating-point tensors can require gradients, got ", dtype_name(t.dtype()),
                    "; make it a float tensor first (dtype=tinytorch.float32, or .float())");
  if (!requires_grad && !t.is_leaf())
    fail<RuntimeError>(op, ": you can only change requires_grad of leaf tensors; "
                           "use .detach() to get a tensor that does not require grad");
  t.impl->requires_grad = requires_grad;
}

void set_history(Tensor& out, const std::shared_ptr<Node>& node, uint32_t output_nr) {
  out.impl->requires_grad = true;
  auto& m = out.impl->autograd();
  m.grad_fn = node;
  m.output_nr = output_nr;
  // Every recorded forward op passes here once (output 0): the profiler's forward count.
  if (prof::enabled() && output_nr == 0) {
    const int64_t t = prof::now_ns();
    prof::record(prof::Kind::Forward, node->name(), t, t);
  }
}

TensorList AccumulateGrad::apply(TensorList&& grads) {
  // (The leaf's hooks already ran in the engine, so autograd.grad sees them too.)
  Tensor g = std::move(grads[0]);
  if (!g.defined()) return {};
  if (g.shape() != variable->shape)
    fail<RuntimeError>("AccumulateGrad: gradient of shape ", shape_str(g.shape()),
                       " does not match the leaf's shape ", shape_str(variable->shape));
  auto& m = variable->autograd();
  if (GradMode::is_enabled()) {
    // create_graph: the gradient stays part of a graph, so no in-place update;
    // a gradient someone else can see (a user's seed) is copied, not aliased.
    g = astype(g, variable->dtype);
    if (!m.grad) m.grad = g.impl.use_count() == 1 ? g.impl : tt::add(g, scalar_like(0, g)).impl;
    else m.grad = tt::add(Tensor(m.grad), g).impl;
  } else if (!m.grad) {
    // Take ownership when nobody else can see this gradient; otherwise copy.
    m.grad = (g.impl.use_count() == 1 && g.is_contiguous() && g.dtype() == variable->dtype && !g.impl->meta)
                 ? g.impl
                 : ops::astype(ops::clone(g), variable->dtype).impl;
  } else {
    Tensor have(m.grad);
    Tensor add = g.dtype() == have.dtype() ? g : ops::astype(g, have.dtype());
    if (have.requires_grad())  // a gradient recorded by create_graph: do not write into its graph
      m.grad = ops::add(have, add).impl;
    else
      ops::add_(have, add);
  }
  return {};
}

}  // namespace tt
