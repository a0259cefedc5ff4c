// Module-level functions: tinytorch.exp(x), tinytorch.matmul(a, b), factories...
#include "autograd/grad_mode.h"
#include "core/views.h"
#include "ops/nn_kernels.h"
#include "python/convert.h"

namespace ttpy {

static Tensor as_tensor(const py::handle& obj) {
  if (py::isinstance<tt::TensorImpl>(obj)) return obj.cast<Tensor>();
  return tensor_from_py(obj, py::none());
}

static Tensor as_index(const py::handle& obj, const char* op) {
  Tensor t = py::isinstance<tt::TensorImpl>(obj) ? obj.cast<Tensor>() : tensor_from_py(obj, py::dtype::of<int64_t>());
  if (t.dtype() != DType::Int64)
    throw tt::TypeError(std::string(op) + ": index must be an int64 tensor, got " + tt::dtype_name(t.dtype()) +
                        "; convert it with .long()");
  return t;
}

static std::vector<Tensor> tensor_list(const py::handle& seq, const char* op) {
  if (py::isinstance<tt::TensorImpl>(seq) || !(PyList_Check(seq.ptr()) || PyTuple_Check(seq.ptr())))
    throw tt::TypeError(std::string(op) + ": expected a list or tuple of tensors, got " +
                        std::string(py::str(py::type::of(seq).attr("__name__"))) + "; e.g. tt." + op + "([a, b])");
  std::vector<Tensor> ts;
  for (auto item : seq) {
    try {
      ts.push_back(as_tensor(item));
    } catch (const tt::TypeError& e) {  // "Tensor: cannot make a tensor from NoneType": name the op and the item
      throw tt::TypeError(std::string(op) + ": item " + std::to_string(ts.size()) + " is not a tensor (" + e.what() +
                          ")");
    }
  }
  if (ts.empty()) throw tt::ValueError(std::string(op) + ": expected a non-empty list of tensors");
  return ts;
}

// Factories accept requires_grad=, as in PyTorch.
static Tensor with_grad(Tensor t, bool requires_grad) {
  if (requires_grad) {
    if (!tt::is_floating(t.dtype()))
      throw tt::TypeError(std::string("only floating-point tensors can require gradients, got ") + tt::dtype_name(t.dtype()));
    t.impl->requires_grad = true;
  }
  return t;
}

// The shape, validated under the name the user called (not the kernel's, "full").
static tt::Shape checked_shape(const py::args& args, const char* op) {
  tt::Shape s = shape_from_args(args, op);
  tt::check_shape(s, op);
  return s;
}

static DType dtype_or(const py::handle& dtype, DType fallback) {
  return dtype.is_none() ? fallback : dtype_from_py(dtype);
}

void bind_ops(py::module_& m) {
  using UO = tt::ops::UnaryOp;
  auto un = [&](const char* name, UO op) {
    m.def(name, [op](const py::handle& x) { return tt::apply_unary(op, as_tensor(x)); });
  };
  un("exp", UO::Exp); un("log", UO::Log); un("sqrt", UO::Sqrt); un("sin", UO::Sin); un("cos", UO::Cos);
  un("tanh", UO::Tanh); un("sigmoid", UO::Sigmoid); un("relu", UO::Relu); un("abs", UO::Abs); un("neg", UO::Neg);
  un("sign", UO::Sign); un("erf", UO::Erf);
  m.def("gelu", [](const py::handle& x, const std::string& approximate) {
    if (approximate != "tanh" && approximate != "none")
      throw tt::ValueError("gelu: approximate must be 'tanh' or 'none', got '" + approximate + "'");
    return tt::apply_unary(approximate == "none" ? UO::GeluErf : UO::GeluTanh, as_tensor(x));
  }, py::arg("x"), py::arg("approximate") = "tanh");

  auto bin = [&](const char* name, Tensor (*f)(const Tensor&, const Tensor&)) {
    m.def(name, [f](const py::handle& a, const py::handle& b) {
      if (py::isinstance<tt::TensorImpl>(a)) { Tensor ta = a.cast<Tensor>(); return f(ta, operand(b, ta)); }
      Tensor tb = as_tensor(b);
      return f(operand(a, tb), tb);
    });
  };
  bin("add", &tt::add); bin("sub", &tt::sub); bin("mul", &tt::mul); bin("div", &tt::div); bin("pow", &tt::pow);
  bin("maximum", &tt::maximum); bin("minimum", &tt::minimum);
  m.def("matmul", [](const py::handle& a, const py::handle& b) {
    Tensor ta = as_tensor(a), tb = as_tensor(b);
    if (ta.numel() * tb.numel() < (1 << 16)) return tt::matmul(ta, tb);
    py::gil_scoped_release nogil;
    return tt::matmul(ta, tb);
  });
  m.def("clip", [](const py::handle& x, std::optional<double> lo, std::optional<double> hi) {
    return tt::clip(as_tensor(x), lo, hi);
  }, py::arg("x"), py::arg("min") = py::none(), py::arg("max") = py::none());
  m.def("where", [](const py::handle& c, const py::handle& a, const py::handle& b) {
    Tensor tc = as_tensor(c);
    Tensor ta = py::isinstance<tt::TensorImpl>(a) ? a.cast<Tensor>() : Tensor();
    Tensor tb = py::isinstance<tt::TensorImpl>(b) ? b.cast<Tensor>() : Tensor();
    if (!ta.defined() && !tb.defined()) { ta = as_tensor(a); }
    if (!ta.defined()) ta = operand(a, tb);
    if (!tb.defined()) tb = operand(b, ta);
    return tt::where(tc, ta, tb);
  });
  m.def("masked_fill", [](const py::handle& x, const py::handle& mask, double v) {
    Tensor t = as_tensor(x);
    return tt::masked_fill(t, as_tensor(mask), v);
  });

  // reductions and normalisations
  m.def("softmax", [](const py::handle& x, int64_t axis) { return tt::softmax(as_tensor(x), axis); },
        py::arg("x"), py::arg("axis") = -1);
  m.def("log_softmax", [](const py::handle& x, int64_t axis) { return tt::log_softmax(as_tensor(x), axis); },
        py::arg("x"), py::arg("axis") = -1);
  m.def("logsumexp", [](const py::handle& x, const py::handle& axis, bool keepdims) {
    return tt::logsumexp(as_tensor(x), axes_from_py(axis), keepdims);
  }, py::arg("x"), py::arg("axis") = py::none(), py::arg("keepdims") = false);
  m.def("_sum_to", [](const Tensor& g, const std::vector<int64_t>& shape) { return tt::sum_to(g, shape); });

  // spatial windows: tinytorch.core.spatial builds convolution and pooling from these and matmul
  using Pair = std::pair<int64_t, int64_t>;
  m.def("im2col", [](const py::handle& x, Pair kernel, Pair stride, Pair padding, double pad_value) {
    Tensor t = as_tensor(x);
    tt::ops::Window2d g{0, 0, 0, kernel.first, kernel.second, stride.first, stride.second, padding.first,
                        padding.second};
    if (t.dim() == 4) {
      g.C = t.shape()[1];
      g.H = t.shape()[2];
      g.W = t.shape()[3];
    }
    tt::ops::check_window(g, t.shape(), "im2col");
    return tt::im2col(t, g, pad_value);
  }, py::arg("x"), py::arg("kernel_size"), py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0},
     py::arg("pad_value") = 0.0);
  m.def("col2im", [](const py::handle& cols, Pair output_size, Pair kernel, Pair stride, Pair padding) {
    Tensor t = as_tensor(cols);
    int64_t kk = 0;  // checked: a (2**32, 2**32) kernel wrapped to 0 and divided by it
    if (t.dim() != 3 || kernel.first < 1 || kernel.second < 1 ||
        __builtin_mul_overflow(kernel.first, kernel.second, &kk) || t.shape()[1] % kk != 0)
      throw tt::ValueError("col2im: columns must be (batch, channels * kh * kw, positions) for kernel (" +
                           std::to_string(kernel.first) + ", " + std::to_string(kernel.second) + "), got shape " +
                           tt::shape_str(t.shape()));
    tt::ops::Window2d g{t.shape()[1] / kk, output_size.first, output_size.second, kernel.first, kernel.second,
                        stride.first, stride.second, padding.first, padding.second};
    return tt::col2im(t, g);
  }, py::arg("cols"), py::arg("output_size"), py::arg("kernel_size"), py::arg("stride") = Pair{1, 1},
     py::arg("padding") = Pair{0, 0});

  // indexing
  // Arguments arrive as Python objects and are converted here, so a wrong type gets a message
  // naming the function and the argument rather than pybind's signature dump.
  m.def("gather", [](const py::handle& x, const py::handle& dim, const py::handle& idx) {
    return tt::gather(as_tensor(x), int_from_py(dim, "gather", "dim"), as_index(idx, "gather"));
  }, py::arg("x"), py::arg("dim"), py::arg("index"));
  m.def("index_select", [](const py::handle& x, const py::handle& dim, const py::handle& idx) {
    return tt::index_select(as_tensor(x), int_from_py(dim, "index_select", "dim"), as_index(idx, "index_select"));
  }, py::arg("x"), py::arg("dim"), py::arg("index"));
  m.def("take", [](const py::handle& x, const py::handle& idx) { return tt::take(as_tensor(x), as_index(idx, "take")); },
        py::arg("x"), py::arg("index"));
  m.def("index_add", [](const py::handle& x, const py::handle& dim, const py::handle& idx, const py::handle& src) {
    return tt::index_add(as_tensor(x), int_from_py(dim, "index_add", "dim"), as_index(idx, "index_add"),
                         as_tensor(src));
  }, py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("src"));
  m.def("scatter_add", [](const py::handle& x, const py::handle& dim, const py::handle& idx, const py::handle& src) {
    return tt::scatter_add(as_tensor(x), int_from_py(dim, "scatter_add", "dim"), as_index(idx, "scatter_add"),
                           as_tensor(src));
  }, py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("src"));
  m.def("embedding", [](const Tensor& weight, const py::handle& idx) {
    return tt::embedding(weight, as_index(idx, "embedding"));
  });
  m.def("cat", [](const py::handle& ts, int64_t axis) { return tt::cat(tensor_list(ts, "cat"), axis); },
        py::arg("tensors"), py::arg("axis") = 0);
  m.def("stack", [](const py::handle& ts, int64_t axis) { return tt::stack(tensor_list(ts, "stack"), axis); },
        py::arg("tensors"), py::arg("axis") = 0);
  m.def("one_hot", [](const py::handle& idx, int64_t n) { return tt::ops::one_hot(as_index(idx, "one_hot"), n); },
        py::arg("index"), py::arg("num_classes") = -1);
  m.def("nonzero", [](const py::handle& x) { return tt::ops::nonzero(as_tensor(x)); });
  m.def("_index_basic_scatter", [](const Tensor& g, const std::vector<int64_t>& shape) {
    return tt::index_scatter(g, shape, {});
  });

  // neural-network functions
  m.def("dropout", [](const Tensor& x, double p, bool training) { return tt::dropout(x, p, training); },
        py::arg("x"), py::arg("p") = 0.5, py::arg("training") = true);
  m.def("layer_norm", [](const Tensor& x, const Tensor& g, const Tensor& b, double eps) {
    return tt::layer_norm(x, g, b, eps);
  }, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("eps") = 1e-5);
  m.def("cross_entropy", [](const Tensor& logits, const py::handle& targets, int64_t ignore_index) {
    return tt::cross_entropy(logits, as_index(targets, "cross_entropy"), ignore_index);
  }, py::arg("logits"), py::arg("targets"), py::arg("ignore_index") = -100);
  m.def("mse_loss", [](const Tensor& p, const py::handle& t) { return tt::mse_loss(p, operand(t, p)); });
  m.def("binary_cross_entropy", [](const Tensor& p, const py::handle& t) { return tt::bce_loss(p, operand(t, p)); });

  // factories
  m.def("zeros", [](const py::args& shape, const py::handle& dtype, bool requires_grad) {
    return with_grad(tt::ops::full(checked_shape(shape, "zeros"), 0.0, dtype_or(dtype, DType::Float32)), requires_grad);
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("ones", [](const py::args& shape, const py::handle& dtype, bool requires_grad) {
    return with_grad(tt::ops::full(checked_shape(shape, "ones"), 1.0, dtype_or(dtype, DType::Float32)), requires_grad);
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("empty", [](const py::args& shape, const py::handle& dtype, bool requires_grad) {
    return with_grad(Tensor::empty(checked_shape(shape, "empty"), dtype_or(dtype, DType::Float32)), requires_grad);
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("full", [](const py::handle& shape, double v, const py::handle& dtype, bool requires_grad) {
    return with_grad(tt::ops::full(shape_from_py(shape, "full"), v, dtype_or(dtype, DType::Float32)), requires_grad);
  }, py::arg("shape"), py::arg("fill_value"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("zeros_like", [](const Tensor& t, const py::handle& dtype, bool requires_grad) {
    return with_grad(tt::ops::full(t.shape(), 0.0, dtype_or(dtype, t.dtype())), requires_grad);
  }, py::arg("t"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("ones_like", [](const Tensor& t, const py::handle& dtype, bool requires_grad) {
    return with_grad(tt::ops::full(t.shape(), 1.0, dtype_or(dtype, t.dtype())), requires_grad);
  }, py::arg("t"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("full_like", [](const Tensor& t, double v, const py::handle& dtype) {
    return tt::ops::full(t.shape(), v, dtype_or(dtype, t.dtype()));
  }, py::arg("t"), py::arg("fill_value"), py::arg("dtype") = py::none());
  // Integer arguments (Python or numpy ints) without a dtype give int64, like numpy.
  m.def("arange", [](const py::handle& start, const py::handle& stop, const py::handle& step, const py::handle& dtype) {
    auto is_int = [](const py::handle& v) {
      return v.is_none() || (!PyFloat_Check(v.ptr()) && !py::isinstance<py::array>(v) && PyIndex_Check(v.ptr()));
    };
    auto num = [](const py::handle& v, const char* what) {
      if (PyFloat_Check(v.ptr())) return PyFloat_AS_DOUBLE(v.ptr());
      PyObject* f = PyNumber_Float(v.ptr());
      if (!f) {
        PyErr_Clear();
        throw tt::TypeError(std::string("arange: ") + what + " must be a number, got " +
                            std::string(py::str(py::type::of(v).attr("__name__"))));
      }
      double d = PyFloat_AS_DOUBLE(f);
      Py_DECREF(f);
      return d;
    };
    DType fallback = is_int(start) && is_int(stop) && is_int(step) ? DType::Int64 : DType::Float32;
    double lo = num(start, "start"), hi, st = step.is_none() ? 1.0 : num(step, "step");
    if (stop.is_none()) { hi = lo; lo = 0; } else { hi = num(stop, "stop"); }
    return tt::ops::arange(lo, hi, st, dtype_or(dtype, fallback));
  }, py::arg("start"), py::arg("stop") = py::none(), py::arg("step") = py::none(), py::arg("dtype") = py::none());
  m.def("linspace", [](double a, double b, int64_t n, const py::handle& dtype) {
    return tt::ops::linspace(a, b, n, dtype_or(dtype, DType::Float32));
  }, py::arg("start"), py::arg("stop"), py::arg("num") = 50, py::arg("dtype") = py::none());
  m.def("eye", [](int64_t n, std::optional<int64_t> mm, const py::handle& dtype) {
    return tt::ops::eye(n, mm, dtype_or(dtype, DType::Float32));
  }, py::arg("n"), py::arg("m") = py::none(), py::arg("dtype") = py::none());
  m.def("manual_seed", [](uint64_t s) { tt::ops::manual_seed(s); });
  m.def("rand", [](const py::args& shape, const py::handle& dtype, bool requires_grad) {
    return with_grad(tt::ops::rand(checked_shape(shape, "rand"), dtype_or(dtype, DType::Float32)), requires_grad);
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("randn", [](const py::args& shape, const py::handle& dtype, bool requires_grad) {
    return with_grad(tt::ops::randn(checked_shape(shape, "randn"), dtype_or(dtype, DType::Float32)), requires_grad);
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  // numpy's randint(low, high=None, size=None) and PyTorch's randint(high, size)
  // / randint(low, high, size): a tuple or list in the second place is the size.
  m.def("randint", [](const py::handle& low, py::object high, py::object size) {
    if (size.is_none() && (PyTuple_Check(high.ptr()) || PyList_Check(high.ptr()))) {
      size = high;
      high = py::none();
    }
    int64_t lo = int_from_py(low, "randint", "low"), hi;
    if (high.is_none()) { hi = lo; lo = 0; } else { hi = int_from_py(high, "randint", "high"); }
    tt::Shape s = size.is_none() ? tt::Shape{} : shape_from_py(size, "randint");
    return tt::ops::randint(lo, hi, s);
  }, py::arg("low"), py::arg("high") = py::none(), py::arg("size") = py::none());
}

}  // namespace ttpy
