// The Tensor class as Python sees it: construction from Python data, numpy
// interop (zero-copy .data, __array__, buffer protocol), operators and the
// methods students call. Pure glue: all math is in csrc/ops and csrc/autograd.
#include <algorithm>

#include "autograd/grad_mode.h"
#include "python/convert.h"

namespace ttpy {

using tt::TensorImpl;
using tt::TensorPtr;
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

// Python fallbacks for integer-array / mask indexing. Deliberately leaked:
// a static py::object would be released after the interpreter shuts down.
static py::object& g_advanced_getitem = *new py::object(py::none());
static py::object& g_advanced_setitem = *new py::object(py::none());

// Parses a basic index (ints, slices, None, Ellipsis, or a tuple of those);
// returns false when the key needs advanced indexing.
static bool parse_basic_index(const py::handle& key, std::vector<tt::views::IndexItem>& items) {
  auto one = [&](const py::handle& k) -> bool {
    tt::views::IndexItem it;
    if (PyLong_Check(k.ptr()) && !PyBool_Check(k.ptr())) {
      it.kind = tt::views::IndexItem::Int;
      it.index = k.cast<int64_t>();
    } else if (PySlice_Check(k.ptr())) {
      auto sl = reinterpret_cast<PySliceObject*>(k.ptr());
      it.kind = tt::views::IndexItem::Slice;
      if (sl->start != Py_None) it.start = py::handle(sl->start).cast<int64_t>();
      if (sl->stop != Py_None) it.stop = py::handle(sl->stop).cast<int64_t>();
      if (sl->step != Py_None) it.step = py::handle(sl->step).cast<int64_t>();
      if (it.step == 0) throw tt::ValueError("slice step cannot be zero");
    } else if (k.is_none()) {
      it.kind = tt::views::IndexItem::NewAxis;
    } else if (k.ptr() == Py_Ellipsis) {
      it.kind = tt::views::IndexItem::Ellipsis;
    } else if (PyIndex_Check(k.ptr()) && !py::isinstance<py::array>(k) && !py::isinstance<TensorImpl>(k)) {
      it.kind = tt::views::IndexItem::Int;  // numpy integer scalars
      it.index = py::int_(py::reinterpret_borrow<py::object>(k)).cast<int64_t>();
    } else {
      return false;
    }
    items.push_back(it);
    return true;
  };
  if (PyTuple_Check(key.ptr())) {
    for (auto k : key)
      if (!one(k)) return false;
    return true;
  }
  return one(key);
}

static Tensor binary_op(BinaryFn f, const Tensor& a, const py::handle& b, bool reflected) {
  Tensor o = operand(b, a);
  return reflected ? f(o, a) : f(a, o);
}

static Tensor compare_op(tt::ops::BinaryOp op, const Tensor& a, const py::handle& b) {
  return tt::compare(op, a, operand(b, a));
}

// Big kernels run without the GIL so other Python threads keep going.
template <class F>
static Tensor maybe_nogil(int64_t work, F&& f) {
  if (work < (1 << 16)) return f();
  py::gil_scoped_release nogil;
  return f();
}

static Tensor reduce_dispatch(const char* which, const Tensor& t, const py::handle& axis, bool keepdims) {
  auto axes = axes_from_py(axis);
  std::string w = which;
  if (w == "sum") return tt::sum(t, axes, keepdims);
  if (w == "mean") return tt::mean(t, axes, keepdims);
  if (w == "max") return tt::amax(t, axes, keepdims);
  if (w == "min") return tt::amin(t, axes, keepdims);
  if (w == "logsumexp") return tt::logsumexp(t, axes, keepdims);
  if (w == "prod") return tt::ops::reduce(tt::ops::ReduceOp::Prod, t, axes, keepdims);
  throw tt::ValueError("unknown reduction");
}

void bind_tensor(py::module_& m) {
  py::class_<TensorImpl, TensorPtr> cls(m, "Tensor", py::buffer_protocol(), py::dynamic_attr());

  cls.def(py::init([](const py::handle& data, bool requires_grad, const py::handle& dtype) {
            Tensor t = tensor_from_py(data, dtype);
            if (requires_grad) {
              if (!tt::is_floating(t.dtype()))
                throw tt::TypeError(std::string("Tensor: only floating-point tensors can require gradients, got ") +
                                    tt::dtype_name(t.dtype()) + "; pass dtype=np.float32");
              t.impl->requires_grad = true;
            }
            return t.impl;
          }),
          py::arg("data"), py::arg("requires_grad") = false, py::arg("dtype") = py::none(),
          "Tensor(data, requires_grad=False, dtype=None).\n\n"
          "data may be a Python scalar, nested list, numpy array or Tensor. A numpy array whose\n"
          "dtype already matches and that is writable and aligned is shared without a copy\n"
          "(writes through either are seen by both); anything else is copied. A Tensor is\n"
          "shared as a detached view. Float data defaults to float32 (as in TinyTorch), integer\n"
          "numpy arrays to int64, bool to bool; Python int/float lists become float32.");

  // ---- geometry and dtype ----
  cls.def_property_readonly("shape", [](const TensorImpl& t) {
    py::tuple s(t.shape.size());
    for (size_t i = 0; i < t.shape.size(); ++i) s[i] = py::int_(t.shape[i]);
    return s;
  });
  cls.def_property_readonly("_strides", [](const TensorImpl& t) { return t.strides; });
  cls.def_property_readonly("_offset", [](const TensorImpl& t) { return t.offset; });
  cls.def_property_readonly("dtype", [](const TensorImpl& t) { return numpy_dtype(t.dtype); });
  cls.def_property_readonly("ndim", [](const TensorImpl& t) { return t.shape.size(); });
  cls.def_property_readonly("_numel", [](const TensorImpl& t) { return tt::numel(t.shape); });
  cls.def_property_readonly("_version", [](const TensorImpl& t) { return t.storage->version; });
  cls.def("is_contiguous", [](const Tensor& t) { return t.is_contiguous(); });
  cls.def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()); });

  // ---- numpy interop ----
  cls.def_property(
      "data", [](py::object self) { return to_numpy_view(self.cast<Tensor>(), self); },
      [](const Tensor& t, const py::handle& value) {
        // Replace the contents (TinyTorch code assigns new arrays to .data).
        // Float data keeps the tensor's float dtype; other data its own default.
        bool float_data = py::isinstance<py::array>(value)
                              ? py::reinterpret_borrow<py::array>(value).dtype().kind() == 'f'
                              : !py::isinstance<TensorImpl>(value);
        Tensor src = tensor_from_py(value, float_data && tt::is_floating(t.dtype())
                                               ? py::object(numpy_dtype(t.dtype())) : py::object(py::none()));
        // Like PyTorch's .data, the swap is invisible to autograd: keep the version.
        uint64_t version = t.version();
        t.impl->storage = src.impl->storage;
        t.impl->storage->version = std::max(t.impl->storage->version, version);
        t.impl->shape = src.shape();
        t.impl->strides = src.strides();
        t.impl->offset = src.offset();
        t.impl->dtype = src.dtype();
      });
  cls.def("numpy", [](py::object self) { return to_numpy_view(self.cast<Tensor>(), self); },
          "A numpy array sharing this tensor's memory.");
  cls.def("__array__", [](py::object self, py::object dtype, py::object copy) {
    py::array a = to_numpy_view(self.cast<Tensor>(), self);
    if (!dtype.is_none()) a = a.attr("astype")(dtype, py::arg("copy") = false);
    if (!copy.is_none() && copy.cast<bool>()) a = a.attr("copy")();
    return a;
  }, py::arg("dtype") = py::none(), py::arg("copy") = py::none());
  cls.def_buffer([](TensorImpl& impl) {
    Tensor t(std::shared_ptr<TensorImpl>(std::shared_ptr<TensorImpl>{}, &impl));
    const ssize_t item = static_cast<ssize_t>(tt::itemsize(impl.dtype));
    std::vector<ssize_t> shape(impl.shape.begin(), impl.shape.end()), strides;
    for (int64_t s : impl.strides) strides.push_back(s * item);
    std::string fmt = impl.dtype == DType::Float32   ? py::format_descriptor<float>::format()
                      : impl.dtype == DType::Float64 ? py::format_descriptor<double>::format()
                      : impl.dtype == DType::Int64   ? py::format_descriptor<int64_t>::format()
                                                     : std::string("?");
    return py::buffer_info(t.raw_data(), item, fmt, static_cast<ssize_t>(shape.size()), shape, strides);
  });
  cls.def("item", [](const Tensor& t) -> py::object {
    if (t.numel() != 1)
      throw tt::ValueError("item: only one-element tensors can be converted to a Python scalar, got shape " +
                           tt::shape_str(t.shape()));
    return tt::dispatch(t.dtype(), [&](auto tag) -> py::object {
      using T = decltype(tag);
      T v = *t.data<T>();
      if constexpr (std::is_same_v<T, uint8_t>) return py::bool_(v != 0);
      else if constexpr (std::is_same_v<T, int64_t>) return py::int_(v);
      else return py::float_(static_cast<double>(v));
    });
  });

  // ---- conversions ----
  cls.def("astype", [](const Tensor& t, const py::handle& dtype) { return tt::astype(t, dtype_from_py(dtype)); });
  cls.def("float", [](const Tensor& t) { return tt::astype(t, DType::Float32); });
  cls.def("double", [](const Tensor& t) { return tt::astype(t, DType::Float64); });
  cls.def("long", [](const Tensor& t) { return tt::astype(t, DType::Int64); });
  cls.def("bool", [](const Tensor& t) { return tt::astype(t, DType::Bool); });
  cls.def("clone", [](const Tensor& t) {
    Tensor c = tt::ops::clone(t);
    if (tt::needs_grad(t)) return tt::add(t, tt::ops::scalar_tensor(0, t.dtype()));
    return c;
  });
  cls.def("contiguous", [](const Tensor& t) { return tt::contiguous(t); });
  cls.def("detach", [](const Tensor& t) { return tt::detach(t); });

  // ---- arithmetic operators (Python scalars on either side) ----
  auto bin = [&](const char* name, const char* rname, BinaryFn f) {
    cls.def(name, [f](const Tensor& a, const py::handle& b) { return binary_op(f, a, b, false); }, py::is_operator());
    if (rname)
      cls.def(rname, [f](const Tensor& a, const py::handle& b) { return binary_op(f, a, b, true); }, py::is_operator());
  };
  bin("__add__", "__radd__", &tt::add);
  bin("__sub__", "__rsub__", &tt::sub);
  bin("__mul__", "__rmul__", &tt::mul);
  bin("__truediv__", "__rtruediv__", &tt::div);
  bin("__pow__", "__rpow__", &tt::pow);
  cls.def("__matmul__", [](const Tensor& a, const py::handle& b) {
    Tensor o = operand(b, a);
    return maybe_nogil(a.numel() * o.numel(), [&] { return tt::matmul(a, o); });
  }, py::is_operator());
  cls.def("__rmatmul__", [](const Tensor& a, const py::handle& b) { return tt::matmul(operand(b, a), a); },
          py::is_operator());
  cls.def("__neg__", [](const Tensor& a) { return tt::neg(a); });
  cls.def("__pos__", [](const Tensor& a) { return a; });
  cls.def("__abs__", [](const Tensor& a) { return tt::apply_unary(tt::ops::UnaryOp::Abs, a); });
  cls.def("__invert__", [](const Tensor& a) { return tt::ops::unary(tt::ops::UnaryOp::LogicalNot, a); });
  using BO = tt::ops::BinaryOp;
  auto cmp = [&](const char* name, BO op) {
    cls.def(name, [op](const Tensor& a, const py::handle& b) { return compare_op(op, a, b); }, py::is_operator());
  };
  cmp("__eq__", BO::Eq);
  cmp("__ne__", BO::Ne);
  cmp("__lt__", BO::Lt);
  cmp("__le__", BO::Le);
  cmp("__gt__", BO::Gt);
  cmp("__ge__", BO::Ge);
  cls.attr("__hash__") = py::none();
  cls.def("__hash__", [](const TensorImpl& t) { return reinterpret_cast<intptr_t>(&t); });
  cls.def("__bool__", [](const Tensor& t) {
    if (t.numel() != 1)
      throw tt::ValueError("the truth value of a tensor with " + std::to_string(t.numel()) +
                           " elements is ambiguous; use .any() or .all()");
    return tt::ops::astype(t, DType::Bool).data<uint8_t>()[0] != 0;
  });

  // ---- elementwise methods ----
  using UO = tt::ops::UnaryOp;
  auto un = [&](const char* name, UO op) { cls.def(name, [op](const Tensor& a) { return tt::apply_unary(op, a); }); };
  un("exp", UO::Exp); un("log", UO::Log); un("sqrt", UO::Sqrt); un("sin", UO::Sin); un("cos", UO::Cos);
  un("tanh", UO::Tanh); un("sigmoid", UO::Sigmoid); un("relu", UO::Relu); un("abs", UO::Abs); un("neg", UO::Neg);
  un("sign", UO::Sign);
  cls.def("gelu", [](const Tensor& a, const std::string& approximate) {
    return tt::apply_unary(approximate == "none" ? UO::GeluErf : UO::GeluTanh, a);
  }, py::arg("approximate") = "tanh");
  cls.def("clip", [](const Tensor& a, std::optional<double> lo, std::optional<double> hi) { return tt::clip(a, lo, hi); },
          py::arg("min") = py::none(), py::arg("max") = py::none());
  cls.def("clamp", [](const Tensor& a, std::optional<double> lo, std::optional<double> hi) { return tt::clip(a, lo, hi); },
          py::arg("min") = py::none(), py::arg("max") = py::none());
  cls.def("masked_fill", [](const Tensor& a, const py::handle& mask, double v) {
    return tt::masked_fill(a, operand(mask, a), v);
  });
  cls.def("matmul", [](const Tensor& a, const py::handle& b) { return tt::matmul(a, operand(b, a)); });
  cls.def("maximum", [](const Tensor& a, const py::handle& b) { return tt::maximum(a, operand(b, a)); });
  cls.def("minimum", [](const Tensor& a, const py::handle& b) { return tt::minimum(a, operand(b, a)); });

  // ---- reductions (numpy names axis/keepdims; PyTorch's dim/keepdim accepted too) ----
  for (const char* name : {"sum", "mean", "max", "min", "logsumexp", "prod"}) {
    std::string n = name;
    cls.def(name, [n](const Tensor& t, py::object axis, bool keepdims, py::object dim, py::object keepdim) {
      if (!dim.is_none()) axis = dim;
      if (!keepdim.is_none()) keepdims = keepdim.cast<bool>();
      return reduce_dispatch(n.c_str(), t, axis, keepdims);
    }, py::arg("axis") = py::none(), py::arg("keepdims") = false, py::kw_only(), py::arg("dim") = py::none(),
       py::arg("keepdim") = py::none());
  }
  for (const char* name : {"var", "std"}) {
    bool is_std = std::string(name) == "std";
    cls.def(name, [is_std](const Tensor& t, py::object axis, int64_t ddof, bool keepdims, py::object dim, py::object keepdim) {
      if (!dim.is_none()) axis = dim;
      if (!keepdim.is_none()) keepdims = keepdim.cast<bool>();
      auto axes = axes_from_py(axis);
      return is_std ? tt::std(t, axes, ddof, keepdims) : tt::var(t, axes, ddof, keepdims);
    }, py::arg("axis") = py::none(), py::arg("ddof") = 0, py::arg("keepdims") = false, py::kw_only(),
       py::arg("dim") = py::none(), py::arg("keepdim") = py::none());
  }
  for (const char* name : {"argmax", "argmin"}) {
    bool is_max = std::string(name) == "argmax";
    cls.def(name, [is_max](const Tensor& t, py::object axis, bool keepdims, py::object dim, py::object keepdim) {
      if (!dim.is_none()) axis = dim;
      if (!keepdim.is_none()) keepdims = keepdim.cast<bool>();
      std::optional<int64_t> ax;
      if (!axis.is_none()) ax = axis.cast<int64_t>();
      return is_max ? tt::ops::argmax(t, ax, keepdims) : tt::ops::argmin(t, ax, keepdims);
    }, py::arg("axis") = py::none(), py::arg("keepdims") = false, py::kw_only(), py::arg("dim") = py::none(),
       py::arg("keepdim") = py::none());
  }
  cls.def("softmax", [](const Tensor& t, int64_t axis) { return tt::softmax(t, axis); }, py::arg("axis") = -1);
  cls.def("log_softmax", [](const Tensor& t, int64_t axis) { return tt::log_softmax(t, axis); }, py::arg("axis") = -1);

  // ---- views ----
  auto reshape = [](const Tensor& t, const py::args& args) { return tt::reshape(t, shape_from_args(args)); };
  cls.def("reshape", reshape);
  cls.def("view", reshape);
  cls.def("transpose", [](const Tensor& t, std::optional<int64_t> d0, std::optional<int64_t> d1) {
    if (!d0 && !d1) return tt::transpose(t, -2, -1);  // TinyTorch: no arguments swaps the last two axes
    if (!d0 || !d1) throw tt::ValueError("transpose: pass both dim0 and dim1, or neither to swap the last two axes");
    return tt::transpose(t, *d0, *d1);
  }, py::arg("dim0") = py::none(), py::arg("dim1") = py::none());
  cls.def("permute", [](const Tensor& t, const py::args& args) {
    tt::Shape dims = shape_from_args(args);
    return tt::permute(t, std::vector<int64_t>(dims.begin(), dims.end()));
  });
  cls.def_property_readonly("T", [](const Tensor& t) {
    std::vector<int64_t> dims;
    for (int64_t i = t.dim() - 1; i >= 0; --i) dims.push_back(i);
    return tt::permute(t, dims);
  });
  cls.def("expand", [](const Tensor& t, const py::args& args) { return tt::expand(t, shape_from_args(args)); });
  cls.def("broadcast_to", [](const Tensor& t, const py::args& args) { return tt::expand(t, shape_from_args(args)); });
  cls.def("squeeze", [](const Tensor& t, std::optional<int64_t> dim) { return tt::squeeze(t, dim); },
          py::arg("dim") = py::none());
  cls.def("unsqueeze", [](const Tensor& t, int64_t dim) { return tt::unsqueeze(t, dim); }, py::arg("dim"));
  cls.def("flatten", [](const Tensor& t, int64_t s, int64_t e) { return tt::flatten(t, s, e); },
          py::arg("start_dim") = 0, py::arg("end_dim") = -1);

  cls.def("__getitem__", [](const Tensor& t, const py::handle& key) -> py::object {
    std::vector<tt::views::IndexItem> items;
    if (parse_basic_index(key, items)) return py::cast(tt::index_view(t, items));
    if (g_advanced_getitem.is_none()) throw tt::IndexError("unsupported index");
    return g_advanced_getitem(py::cast(t), key);
  });
  cls.def("__setitem__", [](const Tensor& t, const py::handle& key, const py::handle& value) {
    if (t.requires_grad() && t.is_leaf() && tt::GradMode::is_enabled())
      throw tt::RuntimeError("__setitem__: a leaf tensor that requires grad is being modified in place; "
                             "do it under tinytorch.no_grad() or write through .data");
    std::vector<tt::views::IndexItem> items;
    if (parse_basic_index(key, items)) {
      Tensor view = tt::views::index(t, items);
      tt::ops::copy_(view, operand(value, t));
      return;
    }
    if (g_advanced_setitem.is_none()) throw tt::IndexError("unsupported index");
    g_advanced_setitem(py::cast(t), key, value);
    t.bump_version();
  });
  m.def("_set_advanced_indexing", [](py::object get, py::object set) {
    g_advanced_getitem = get;
    g_advanced_setitem = set;
  });

  // ---- in place (not recorded: for optimizers and initialisation, under no_grad) ----
  auto check_inplace = [](const Tensor& t, const char* op) {
    if (t.requires_grad() && t.is_leaf() && tt::GradMode::is_enabled())
      throw tt::RuntimeError(std::string(op) + ": a leaf tensor that requires grad is being modified in place; "
                             "do it under tinytorch.no_grad() (as optimizers do)");
  };
  cls.def("fill_", [check_inplace](const Tensor& t, double v) { check_inplace(t, "fill_"); tt::ops::fill_(t, v); return t; });
  cls.def("zero_", [check_inplace](const Tensor& t) { check_inplace(t, "zero_"); tt::ops::fill_(t, 0); return t; });
  cls.def("copy_", [check_inplace](const Tensor& t, const py::handle& src) {
    check_inplace(t, "copy_");
    tt::ops::copy_(t, operand(src, t));
    return t;
  });
  cls.def("add_", [check_inplace](const Tensor& t, const py::handle& other, double alpha) {
    check_inplace(t, "add_");
    tt::ops::add_(t, operand(other, t), alpha);
    return t;
  }, py::arg("other"), py::arg("alpha") = 1.0);
  cls.def("_bump_version", [](const Tensor& t) { t.bump_version(); });
}

}  // namespace ttpy
