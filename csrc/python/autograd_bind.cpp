// Autograd from Python: the graph's node types (so type(t.grad_fn).__name__
// is "AddBackward"), a tensor's grad state and hooks, the engine call behind
// backward()/grad(), grad modes, and custom Python Functions whose backward
// the C++ engine calls (PyFunctionNode).
#include "autograd/backward.h"
#include "autograd/conv.h"
#include "autograd/engine.h"
#include "autograd/fused_backward.h"
#include "autograd/grad_mode.h"
#include "python/bindings.h"
#include "python/hook_gc.h"

namespace ttpy {

using tt::Node;


static tt::TensorHook python_hook(std::shared_ptr<GilObject> holder) {
  return [holder](const Tensor& g) -> Tensor {
    py::gil_scoped_acquire gil;
    py::object r = holder->obj(py::cast(g));
    if (r.is_none()) return Tensor();
    Tensor out = py::isinstance<tt::TensorImpl>(r) ? r.cast<Tensor>() : tensor_from_py(r, numpy_dtype(g.dtype()));
    if (out.shape() != g.shape())
      throw tt::ValueError("hook returned a gradient of shape " + tt::shape_str(out.shape()) +
                           " for a tensor whose gradient has shape " + tt::shape_str(g.shape()));
    return out;
  };
}

// Backward of a user's tinytorch.autograd.Function: calls cls.backward(ctx, *grads).
struct PyFunctionNode : Node {
  std::shared_ptr<GilObject> backward_fn, ctx;
  std::string fn_name;
  std::vector<tt::Shape> out_shapes;
  std::vector<DType> out_dtypes;
  std::vector<int> arg_to_edge;      // for each forward argument: its edge index, or -1 (non-tensor)
  std::vector<tt::Shape> in_shapes;  // per edge

  std::string name() const override { return fn_name; }
  // "Square" for the node "SquareBackward": the user's class, for messages.
  std::string class_name() const {
    const std::string suffix = "Backward";
    bool has = fn_name.size() > suffix.size() && fn_name.compare(fn_name.size() - suffix.size(), suffix.size(), suffix) == 0;
    return has ? fn_name.substr(0, fn_name.size() - suffix.size()) : fn_name;
  }
  uint32_t num_outputs() const override { return static_cast<uint32_t>(out_shapes.size()); }

  tt::TensorList apply(tt::TensorList&& grads) override {
    check_not_released();
    py::gil_scoped_acquire gil;
    py::tuple args(grads.size() + 1);
    args[0] = ctx->obj;
    for (size_t i = 0; i < grads.size(); ++i) {
      Tensor g = grads[i].defined() ? grads[i] : tt::ops::full(out_shapes[i], 0.0, out_dtypes[i]);
      args[i + 1] = py::cast(g);
    }
    // While backward runs, ctx._node lets ctx.saved_tensors re-link saved
    // outputs to this node (for double backward); never kept longer, since
    // node -> ctx -> node would be a cycle Python's collector cannot see.
    py::object self = py::cast(std::static_pointer_cast<Node>(std::const_pointer_cast<Node>(shared_from_this())));
    py::object result;
    ctx->obj.attr("_node") = self;
    try {
      result = backward_fn->obj(*args);
    } catch (...) {
      ctx->obj.attr("_node") = py::none();
      throw;
    }
    ctx->obj.attr("_node") = py::none();
    py::tuple res = py::isinstance<py::tuple>(result) ? py::reinterpret_borrow<py::tuple>(result)
                                                      : py::make_tuple(result);
    // Extra trailing Nones are accepted, as PyTorch does (handy when forward
    // has optional arguments); anything else must match forward's arguments.
    size_t n_res = res.size();
    while (n_res > arg_to_edge.size() && res[n_res - 1].is_none()) --n_res;
    if (n_res != arg_to_edge.size())
      throw tt::RuntimeError(fn_name + ": backward returned " + std::to_string(res.size()) +
                             " gradients, but forward took " + std::to_string(arg_to_edge.size()) +
                             " arguments; return one gradient per forward argument (None for non-tensors)");
    tt::TensorList out(next_edges.size());
    for (size_t i = 0; i < n_res; ++i) {
      int e = arg_to_edge[i];
      py::handle r = res[i];
      if (r.is_none() || e < 0) continue;
      // A Tensor, or array-like numbers (ndarray, list, scalar); a str or
      // other object would otherwise fail deep in the conversion, unnamed.
      bool numeric = py::isinstance<tt::TensorImpl>(r) || py::isinstance<py::array>(r) ||
                     py::isinstance<py::list>(r) || py::isinstance<py::tuple>(r) ||
                     py::isinstance<py::float_>(r) || py::isinstance<py::int_>(r);
      if (!numeric)
        throw tt::TypeError(class_name() + ".backward returned a " +
                            py::str(py::type::handle_of(r).attr("__name__")).cast<std::string>() +
                            " as gradient " + std::to_string(i) + "; return a Tensor (or None) for each forward "
                            "argument");
      Tensor g = py::isinstance<tt::TensorImpl>(r) ? r.cast<Tensor>() : tensor_from_py(r, py::none());
      if (g.shape() != in_shapes[e])
        throw tt::RuntimeError(fn_name + ": backward returned a gradient of shape " + tt::shape_str(g.shape()) +
                               " for argument " + std::to_string(i) + ", which has shape " +
                               tt::shape_str(in_shapes[e]) + "; return a gradient of the argument's shape");
      out[e] = g;
    }
    return out;
  }
  void release_saved() override {
    py::gil_scoped_acquire gil;
    if (ctx && py::hasattr(ctx->obj, "_release")) ctx->obj.attr("_release")();
    released = true;
  }
};

PyObject* function_node_ctx(const tt::Node* n) {
  auto* f = dynamic_cast<const PyFunctionNode*>(n);
  return f && f->ctx && f->ctx.use_count() == 1 && f->ctx->obj ? f->ctx->obj.ptr() : nullptr;
}

void clear_function_node_ctx(tt::Node* n) {
  if (auto* f = dynamic_cast<PyFunctionNode*>(n); f && f->ctx) f->ctx->obj = py::none();
}

static py::object get_grad(const Tensor& t) {
  if (!t.impl->meta || !t.impl->meta->grad) return py::none();
  return py::cast(Tensor(t.impl->meta->grad));
}

// t.grad = g: a Tensor or array of t's shape and dtype.
static void set_grad(const Tensor& t, const py::handle& value) {
  if (value.is_none()) {
    if (t.impl->meta) t.impl->meta->grad.reset();
    return;
  }
  Tensor g = py::isinstance<tt::TensorImpl>(value) ? value.cast<Tensor>()
                                                   : tensor_from_py(value, numpy_dtype(t.dtype()), false);
  if (g.shape() != t.shape())
    throw tt::ValueError("grad: assigned gradient has shape " + tt::shape_str(g.shape()) +
                         " but the tensor has shape " + tt::shape_str(t.shape()));
  if (g.dtype() != t.dtype())
    throw tt::TypeError(std::string("grad: assigned grad has data of a different type (") +
                        tt::dtype_name(g.dtype()) + ") than the tensor (" + tt::dtype_name(t.dtype()) +
                        "); convert it first, e.g. g.astype(" + tt::dtype_name(t.dtype()) + ")");
  // Backward adds into .grad in place: an expanded (stride-0) view would
  // add every contribution into the one shared element, so a
  // non-contiguous gradient is stored as a contiguous copy.
  if (!g.is_contiguous()) g = tt::ops::contiguous(g);
  t.impl->autograd().grad = g.impl;
}

static std::string capture_python_trace() {
  py::gil_scoped_acquire gil;
  try {
    py::object lines = py::module_::import("traceback").attr("format_stack")();
    std::string out;
    for (auto l : lines) out += l.cast<std::string>();
    return out;
  } catch (...) {
    return "";
  }
}

template <class T, class Base>
static void node_type(py::module_& m, const char* name) {
  py::class_<T, Base, std::shared_ptr<T>>(m, name);
}

// The Python classes of the graph's nodes (type(y.grad_fn).__name__ ==
// "MulBackward"), one per node of autograd/ops.def, and _C._unary_ops: the
// (function, node) pairs of its unary lines, for tests/core/test_op_table.py.
static void bind_node_types(py::module_& m) {
  py::class_<Node, std::shared_ptr<Node>>(m, "Node")
      .def("name", &Node::name)
      .def_property_readonly("next_functions", [](const Node& n) {
        py::tuple t(n.next_edges.size());
        for (size_t i = 0; i < n.next_edges.size(); ++i) {
          const auto& e = n.next_edges[i];
          t[i] = py::make_tuple(e.fn ? py::cast(e.fn) : py::none(), e.input_nr);
        }
        return t;
      })
      // Read-only views for tinytorch.viz.draw_graph: the engine runs ready
      // nodes in decreasing sequence_nr, and `released` says whether a
      // backward without retain_graph has freed the saved tensors.
      .def_property_readonly("_sequence_nr", [](const Node& n) { return n.sequence_nr; })
      .def_property_readonly("_released", [](const Node& n) { return n.released; })
      .def("__repr__", [](const Node& n) { return "<" + n.name() + ">"; });
  py::class_<tt::AccumulateGrad, Node, std::shared_ptr<tt::AccumulateGrad>>(m, "AccumulateGrad")
      .def_property_readonly("variable", [](const tt::AccumulateGrad& a) { return a.variable; });
  py::class_<PyFunctionNode, Node, std::shared_ptr<PyFunctionNode>>(m, "PyFunctionBackward");
  py::list unary_ops;
#define TT_UNARY_OP(NAME, OP, NODE, SAVES)             \
  node_type<tt::NODE, Node>(m, #NODE);                \
  unary_ops.append(py::make_tuple(#NAME, #NODE));
#define TT_NODE_CLASS(NODE, BASE) node_type<tt::NODE, tt::BASE>(m, #NODE);
#include "autograd/ops.def"
#undef TT_NODE_CLASS
#undef TT_UNARY_OP
  m.attr("_unary_ops") = py::tuple(unary_ops);
}

// A tensor's autograd state: requires_grad, grad, grad_fn, is_leaf, hooks.
static void bind_grad_state(py::module_& m) {
  TensorClass cls = tensor_class(m);
  cls.def_property(
      "requires_grad", [](const tt::TensorImpl& t) { return t.requires_grad; },
      [](const Tensor& t, bool v) { tt::set_requires_grad(t, v, "requires_grad"); });
  cls.def("requires_grad_", [](const Tensor& t, bool v) {
    tt::set_requires_grad(t, v, "requires_grad_");
    return t;
  }, py::arg("requires_grad") = true);
  cls.def_property_readonly("grad_fn", [](const Tensor& t) { return t.grad_fn(); });
  cls.def_property_readonly("_grad_fn", [](const Tensor& t) { return t.grad_fn(); });
  cls.def_property_readonly("is_leaf", [](const Tensor& t) { return t.is_leaf(); });
  cls.def_property("grad", &get_grad, &set_grad);
  cls.def("retain_grad", [](const Tensor& t) { tt::retain_grad(t); });
  cls.def_property_readonly("retains_grad", [](const Tensor& t) { return t.impl->meta && t.impl->meta->retains_grad; });
  m.def("_register_hook", [](const Tensor& t, py::object fn) {
    if (!PyCallable_Check(fn.ptr()))
      throw tt::TypeError("register_hook: hook must be callable (a function taking the gradient), got " +
                          py::str(py::type::handle_of(fn).attr("__name__")).cast<std::string>());
    auto holder = std::make_shared<GilObject>(std::move(fn));
    int id = tt::register_hook(t, python_hook(holder));
    record_hook(t, id, holder);  // so the collector can free a closure that refers to t (python/hook_gc.h)
    return id;
  }, "Registers fn on t's gradient; fn lives as long as t's graph.");
  m.def("_remove_hook", [](const Tensor& t, int id) {
    forget_hook(t, id);
    tt::remove_hook(t, id);
  });
}

// The engine (autograd/engine.cpp) and its modes.
static void bind_engine(py::module_& m) {
  m.def("_run_backward", [](const std::vector<Tensor>& roots, const std::vector<std::optional<Tensor>>& seeds,
                            bool retain_graph, bool create_graph, const std::vector<Tensor>& inputs, bool allow_unused) {
    tt::TensorList s;
    for (auto& x : seeds) s.push_back(x ? *x : Tensor());
    tt::TensorList r;
    {
      py::gil_scoped_release nogil;
      r = tt::run_backward(roots, s, retain_graph, create_graph, inputs, allow_unused);
    }
    std::vector<std::optional<Tensor>> out;
    for (auto& t : r) out.push_back(t.defined() ? std::optional<Tensor>(t) : std::nullopt);
    return out;
  });
  m.def("_backward_into", [](const std::vector<Tensor>& roots, const std::vector<std::optional<Tensor>>& seeds,
                             bool retain_graph, bool create_graph, const std::vector<Tensor>& inputs) {
    tt::TensorList s;
    for (auto& x : seeds) s.push_back(x ? *x : Tensor());
    py::gil_scoped_release nogil;
    tt::backward_into(roots, s, retain_graph, create_graph, inputs);
  });
  m.def("is_grad_enabled", &tt::GradMode::is_enabled);
  m.def("_set_grad_enabled", &tt::GradMode::set_enabled);
  m.def("_is_anomaly_enabled", &tt::AnomalyMode::is_enabled);
  m.def("_set_anomaly_enabled", &tt::AnomalyMode::set_enabled);
}

// Custom Python Functions (tinytorch.autograd.Function) inside the graph.
static void bind_custom_functions(py::module_& m) {
  // Connects the outputs of a custom Function to a PyFunctionNode.
  m.def("_record_function", [](py::object backward_fn, py::object ctx, const std::string& name, py::sequence args,
                               std::vector<Tensor> outputs) {
    auto node = std::make_shared<PyFunctionNode>();
    node->backward_fn = std::make_shared<GilObject>(backward_fn);
    node->ctx = std::make_shared<GilObject>(ctx);
    node->fn_name = name;
    for (auto a : args) {
      if (py::isinstance<tt::TensorImpl>(a)) {
        Tensor t = a.cast<Tensor>();
        node->arg_to_edge.push_back(static_cast<int>(node->next_edges.size()));
        node->next_edges.push_back(tt::gradient_edge(t));
        node->in_shapes.push_back(t.shape());
      } else {
        node->arg_to_edge.push_back(-1);
      }
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      node->out_shapes.push_back(outputs[i].shape());
      node->out_dtypes.push_back(outputs[i].dtype());
      // Integer/bool outputs (indices, masks) are not differentiable.
      if (tt::is_floating(outputs[i].dtype())) tt::set_history(outputs[i], node, static_cast<uint32_t>(i));
    }
    return std::static_pointer_cast<Node>(node);
  });
  // A saved output of a custom Function, stored detached, as a function of
  // its inputs again (grad_fn = the Function's node), for double backward.
  m.def("_relink_output", [](const Tensor& t, const std::shared_ptr<Node>& node, uint32_t output_nr) {
    if (!node) throw tt::TypeError("_relink_output: expected a Node, got None");
    Tensor v = Tensor::view_of(t, t.shape(), t.strides(), t.offset());
    tt::set_history(v, node, output_nr);
    return v;
  });
  // After an in-place write recorded as `updated` (t[key] = v inside a graph), `t` takes updated's place.
  m.def("_rebase_history", [](Tensor t, const Tensor& updated) {
    if (!updated.requires_grad() || !updated.grad_fn())
      throw tt::RuntimeError("_rebase_history: the updated tensor has no graph to take over");
    tt::set_history(t, updated.grad_fn(), updated.impl->meta->output_nr);
  });
}

void bind_autograd(py::module_& m) {
  tt::g_capture_trace = &capture_python_trace;
  bind_node_types(m);
  bind_grad_state(m);
  bind_engine(m);
  bind_custom_functions(m);
}

// Pure shape/stride helpers, exposed so they can be tested directly.
void bind_shape_helpers(py::module_& m) {
  auto s = m.def_submodule("_shape", "shape and stride arithmetic of csrc/core/shape.h");
  s.def("broadcast_shapes", [](const tt::Shape& a, const tt::Shape& b) { return tt::broadcast_shapes(a, b, "broadcast_shapes"); });
  s.def("contiguous_strides", &tt::contiguous_strides);
  s.def("is_contiguous", &tt::is_contiguous);
  s.def("normalize_dim", [](int64_t d, int64_t n) { return tt::normalize_dim(d, n, "normalize_dim"); });
  s.def("broadcast_strides", &tt::broadcast_strides);
  s.def("infer_reshape", [](const tt::Shape& req, int64_t total) { return tt::infer_reshape(req, total, {total}); });
  s.def("view_strides", &tt::view_strides);
  s.def("normalize_axes", [](const std::vector<int64_t>& a, int64_t n) { return tt::normalize_axes(a, n, "normalize_axes"); });
}

}  // namespace ttpy
