// The Tensor class as Python sees it: construction from Python data, numpy
// interop (zero-copy .data, __array__, buffer protocol), operators and the
// methods students call; its Python half (printing, iteration, advanced indexing) is python/tinytorch/core/tensor.py.
// No math here (that is csrc/ops and csrc/autograd): it parses Python arguments (data, indices, dtypes) and calls them.
#include <algorithm>
#include <limits>

#include "autograd/grad_mode.h"
#include "python/convert.h"
#include "python/hook_gc.h"

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
// An integer index; one beyond int64 can only be out of bounds.
static int64_t index_int(const py::handle& k) {
  py::object i = py::reinterpret_steal<py::object>(PyNumber_Index(k.ptr()));
  if (!i) throw py::error_already_set();
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow) throw tt::IndexError("index " + std::string(py::str(i)) + " is out of bounds (larger than any dimension)");
  return v;
}

// A slice bound; huge values clamp (like numpy: t[-10:2**70] is t[:]).
static int64_t slice_bound(PyObject* b) {
  if (!PyIndex_Check(b))
    throw tt::TypeError("slice indices must be integers or None, got " +
                        std::string(py::str(py::type::of(py::handle(b)).attr("__name__"))));
  Py_ssize_t v = PyNumber_AsSsize_t(b, nullptr);  // nullptr: clamp instead of raising
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

static bool parse_basic_index(const py::handle& key, std::vector<tt::views::IndexItem>& items) {
  auto one = [&](const py::handle& k) -> bool {
    tt::views::IndexItem it;
    if (PyBool_Check(k.ptr())) {
      return false;  // numpy: t[True] adds an axis of length 1, t[False] one of length 0 (advanced path)
    } else if (PyLong_Check(k.ptr())) {
      it.kind = tt::views::IndexItem::Int;
      it.index = index_int(k);
    } else if (PySlice_Check(k.ptr())) {
      auto sl = reinterpret_cast<PySliceObject*>(k.ptr());
      it.kind = tt::views::IndexItem::Slice;
      if (sl->step != Py_None) it.step = slice_bound(sl->step);
      if (it.step == 0) throw tt::ValueError("slice step cannot be zero");
      // -step must not overflow in the view arithmetic
      if (it.step == std::numeric_limits<int64_t>::min()) it.step = -std::numeric_limits<int64_t>::max();
      if (sl->start != Py_None) it.start = slice_bound(sl->start);
      if (sl->stop != Py_None) it.stop = slice_bound(sl->stop);
    } else if (k.is_none()) {
      it.kind = tt::views::IndexItem::NewAxis;
    } else if (k.ptr() == Py_Ellipsis) {
      it.kind = tt::views::IndexItem::Ellipsis;
    } else if (PyIndex_Check(k.ptr()) && !py::isinstance<py::array>(k) && !py::isinstance<TensorImpl>(k)) {
      if (PyObject_IsInstance(k.ptr(), py::module_::import("numpy").attr("bool_").ptr()) == 1)
        return false;  // np.True_ behaves like True
      it.kind = tt::views::IndexItem::Int;  // numpy integer scalars
      it.index = index_int(k);
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

// Refuses an in-place write autograd could not account for. In-place ops are
// not recorded, so writing into a tensor that is part of a graph (or with a
// source that is) would leave backward using the old graph: silently wrong
// gradients. Optimizers and initialisation run under no_grad(), which is allowed.
static void check_inplace(const Tensor& t, const char* op, const Tensor* src = nullptr) {
  if (!tt::GradMode::is_enabled()) return;
  if (t.requires_grad() && t.is_leaf())
    throw tt::RuntimeError(std::string(op) + ": a leaf tensor that requires grad is being modified in place; "
                           "do it under tinytorch.no_grad() (as optimizers do)");
  if (t.requires_grad() || (src && src->requires_grad()))
    throw tt::RuntimeError(std::string(op) + ": in-place ops are not recorded by autograd, and this " +
                           (t.requires_grad() ? "tensor" : "source") +
                           " is part of a graph, so gradients would be silently wrong; use an out-of-place op "
                           "(y = y + w, tinytorch.where(...)) or run it under tinytorch.no_grad()");
}

// The one-element value as a Python float/int/bool (for __float__ etc.).
static py::object scalar_value(const Tensor& t, const char* what) {
  if (t.numel() != 1)
    throw tt::ValueError(std::string(what) + ": only one-element tensors can be converted to a Python scalar, got shape " +
                         tt::shape_str(t.shape()) + "; reduce it first (.sum(), .item() on one element)");
  return tt::dispatch(t.dtype(), [&](auto tag) -> py::object {
    using T = decltype(tag);
    T v = *t.data<T>();
    if constexpr (std::is_same_v<T, uint8_t>) return py::bool_(v != 0);
    else if constexpr (std::is_same_v<T, int64_t>) return py::int_(v);
    else return py::float_(static_cast<double>(v));
  });
}

// t += x and friends: the same object and storage, with x broadcast into t's
// shape and numpy's same-kind rule (a float result cannot go into an int tensor).
// Inside a graph the write is recorded as PyTorch does: t takes over the
// history of the out-of-place result (like __setitem__ in core/tensor.py).
// Only t's history is rebased, so a write into memory another tensor shares
// (a view, or the base of one) is refused inside a graph: that tensor would
// keep a history that no longer matches its values.
static Tensor inplace_binary(BinaryFn f, const char* op, const Tensor& t, const py::handle& b) {
  Tensor o = operand(b, t);
  const bool tracked = tt::GradMode::is_enabled() && (t.requires_grad() || o.requires_grad());
  if (tracked && t.requires_grad() && t.is_leaf())
    throw tt::RuntimeError(std::string(op) + ": a leaf tensor that requires grad is being modified in place; "
                           "update parameters under tinytorch.no_grad() (with tt.no_grad(): w -= lr * w.grad)");
  if (tracked && t.impl->storage.use_count() > 1)
    throw tt::RuntimeError(std::string(op) + ": this tensor shares memory with another tensor (a view or its base, "
                           "or a saved output) and is part of a graph; autograd cannot record the in-place write "
                           "for both, so use the out-of-place form (y = y " + std::string(op).substr(0, 1) + " x)");
  // A graph that saved t's old value must not see the write: compute from a copy.
  Tensor lhs = tracked ? tt::add(t, tt::ops::scalar_tensor(0, t.dtype())) : t;
  Tensor result = f(lhs, o);
  if (result.shape() != t.shape())
    throw tt::ValueError(std::string(op) + ": operand of shape " + tt::shape_str(o.shape()) +
                         " cannot be broadcast into the tensor's shape " + tt::shape_str(t.shape()) +
                         " in place; use the out-of-place form (t = t op x)");
  auto rank = [](DType d) { return d == DType::Bool ? 0 : d == DType::Int64 ? 1 : 2; };
  if (rank(result.dtype()) > rank(t.dtype()))
    throw tt::TypeError(std::string(op) + ": the result has dtype " + tt::dtype_name(result.dtype()) +
                        ", which cannot be stored in place in a " + tt::dtype_name(t.dtype()) +
                        " tensor (numpy's same-kind rule); convert first (t = t.float()) or use t = t op x");
  if (result.dtype() != t.dtype()) result = tt::astype(result, t.dtype());
  tt::ops::copy_(t, tt::detach(result));  // bumps the version counter
  if (tracked) {
    Tensor target = t;  // a handle to the same tensor
    tt::set_history(target, result.grad_fn(), result.impl->meta->output_nr);
  }
  return t;
}

// Big kernels run without the GIL so other Python threads keep going.
template <class F>
static Tensor maybe_nogil(int64_t work, F&& f) {
  if (work < (1 << 16)) return f();
  py::gil_scoped_release nogil;
  return f();
}

static void check_no_out(const py::handle& out, const char* op) {
  if (!out.is_none())
    throw tt::TypeError(std::string(op) + ": out= is not supported by tinytorch; use the returned tensor "
                        "(y = t." + op + "(...)) instead");
}

// numpy's dtype= keyword: compute in that dtype.
static Tensor with_dtype(const Tensor& t, const py::handle& dtype) {
  return dtype.is_none() ? t : tt::astype(t, dtype_from_py(dtype));
}

static Tensor reduce_dispatch(const char* which, const Tensor& t, const py::handle& axis, bool keepdims) {
  auto axes = axes_from_py(axis, which);
  std::string w = which;
  if (w == "sum") return tt::sum(t, axes, keepdims);
  if (w == "mean") return tt::mean(t, axes, keepdims);
  if (w == "max") return tt::amax(t, axes, keepdims);
  if (w == "min") return tt::amin(t, axes, keepdims);
  if (w == "logsumexp") return tt::logsumexp(t, axes, keepdims);
  if (w == "prod") return tt::ops::reduce(tt::ops::ReduceOp::Prod, t, axes, keepdims);
  throw tt::ValueError("unknown reduction");
}

// `a + b` on tensors: Python calls the type's nb_add slot. With __add__ defined
// as a pybind11 method, that slot is Python's generic slot_nb_add, which looks
// __add__ / __radd__ up by name and calls through the method machinery: 40-60 ns
// of a 500 ns small add (perf). These slots call the same binary_op directly.
// The methods stay defined, for a.__add__(b) and for subclasses.
static PyTypeObject* g_tensor_type = nullptr;

template <BinaryFn F>
PyObject* number_slot(PyObject* a, PyObject* b) {
  try {
    if (PyObject_TypeCheck(a, g_tensor_type))
      return py::cast(binary_op(F, py::handle(a).cast<Tensor>(), py::handle(b), false)).release().ptr();
    if (PyObject_TypeCheck(b, g_tensor_type))  // reflected: 2.0 + t, np_array + t
      return py::cast(binary_op(F, py::handle(b).cast<Tensor>(), py::handle(a), true)).release().ptr();
    Py_RETURN_NOTIMPLEMENTED;
  } catch (...) {
    py::detail::try_translate_exceptions();  // the module's translators: ValueError, TypeError, ...
    return nullptr;
  }
}

void install_number_slots(const py::handle& cls) {
  g_tensor_type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  PyNumberMethods* nb = g_tensor_type->tp_as_number;  // the heap type's own table
  nb->nb_add = number_slot<&tt::add>;
  nb->nb_subtract = number_slot<&tt::sub>;
  nb->nb_multiply = number_slot<&tt::mul>;
  nb->nb_true_divide = number_slot<&tt::div>;
  PyType_Modified(g_tensor_type);
}

void bind_tensor(py::module_& m) {
  py::class_<TensorImpl, TensorPtr> cls(m, "Tensor", py::dynamic_attr(),
                                        py::custom_type_setup([](PyHeapTypeObject* heap_type) {
                                          // hooks referring back to their tensor: python/hook_gc.h
                                          heap_type->ht_type.tp_traverse = traverse_tensor;
                                          heap_type->ht_type.tp_clear = clear_tensor;
                                          // memoryview(t): exports own the storage (convert.h)
                                          heap_type->as_buffer.bf_getbuffer = tensor_getbuffer;
                                          heap_type->as_buffer.bf_releasebuffer = tensor_releasebuffer;
                                          heap_type->ht_type.tp_as_buffer = &heap_type->as_buffer;
                                        }));

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
      "data", [](py::object self) { return to_numpy_view(self.cast<Tensor>()); },
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
  cls.def("numpy", [](py::object self) { return to_numpy_view(self.cast<Tensor>()); },
          "A numpy array sharing this tensor's memory.");
  cls.def("__array__", [](py::object self, py::object dtype, py::object copy) {
    if (!copy.is_none() && !PyBool_Check(copy.ptr()))
      throw tt::TypeError("Tensor.__array__: copy must be True, False or None, got " +
                          std::string(py::str(py::type::of(copy).attr("__name__"))) + " " + std::string(py::repr(copy)));
    py::array a = to_numpy_view(self.cast<Tensor>());
    if (!dtype.is_none()) a = a.attr("astype")(dtype, py::arg("copy") = false);
    if (copy.ptr() == Py_True) a = a.attr("copy")();
    return a;
  }, py::arg("dtype") = py::none(), py::arg("copy") = py::none());
  cls.def("item", [](const Tensor& t) { return scalar_value(t, "item"); });

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
  install_number_slots(cls);  // after the methods: defining them resets the slots
  // Assigning Tensor.__sub__ from Python (tinytorch.course.overrides) puts the generic slot back;
  // restoring the method alone would leave it there, 20% slower on small ops (measured).
  m.def("_reinstall_number_slots", []() {
    install_number_slots(py::handle(reinterpret_cast<PyObject*>(g_tensor_type)));
  });
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
  cls.def("__invert__", [](const Tensor& a) { return tt::ops::bitwise_not(a); });
  // & | ^ on bool and int64 tensors (masks), numpy's semantics; never part of a graph.
  bin("__and__", "__rand__", &tt::ops::bitwise_and);
  bin("__or__", "__ror__", &tt::ops::bitwise_or);
  bin("__xor__", "__rxor__", &tt::ops::bitwise_xor);
  using BO = tt::ops::BinaryOp;
  auto cmp = [&](const char* name, BO op) {
    cls.def(name, [op](const Tensor& a, const py::handle& b) { return compare_op(op, a, b); }, py::is_operator());
  };
  // == and != against None, strings or other objects: NotImplemented, so
  // Python falls back to identity (t == None is False, t != None is True).
  for (auto [name, op] : {std::pair<const char*, BO>{"__eq__", BO::Eq}, {"__ne__", BO::Ne}})
    cls.def(name, [op = op](const Tensor& a, const py::handle& b) -> py::object {
      if (!is_operand(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
      return py::cast(compare_op(op, a, b));
    }, py::is_operator());
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
  // Without these Python would parse the buffer's raw bytes (int(t) of 2.5 gave garbage).
  cls.def("__float__", [](const Tensor& t) { return py::float_(scalar_value(t, "float()")); });
  cls.def("__int__", [](const Tensor& t) {
    py::object v = scalar_value(t, "int()");
    PyObject* i = PyNumber_Long(v.ptr());  // truncates floats; nan/inf raise as for Python floats
    if (!i) throw py::error_already_set();
    return py::reinterpret_steal<py::int_>(i);
  });
  cls.def("__index__", [](const Tensor& t) {
    if (t.dtype() != DType::Int64 || t.numel() != 1)
      throw tt::TypeError("only integer tensors of a single element can be converted to an index, got a " +
                          std::string(tt::dtype_name(t.dtype())) + " tensor of shape " + tt::shape_str(t.shape()));
    return py::int_(*t.data<int64_t>());
  });

  // ---- elementwise methods ----
  using UO = tt::ops::UnaryOp;
  auto un = [&](const char* name, UO op) { cls.def(name, [op](const Tensor& a) { return tt::apply_unary(op, a); }); };
  un("exp", UO::Exp); un("log", UO::Log); un("sqrt", UO::Sqrt); un("sin", UO::Sin); un("cos", UO::Cos);
  un("tanh", UO::Tanh); un("sigmoid", UO::Sigmoid); un("relu", UO::Relu); un("abs", UO::Abs); un("neg", UO::Neg);
  un("sign", UO::Sign);
  cls.def("gelu", [](const Tensor& a, const std::string& approximate) {
    if (approximate != "tanh" && approximate != "none")  // same rule as tinytorch.gelu
      throw tt::ValueError("gelu: approximate must be 'tanh' or 'none', got '" + approximate + "'");
    return tt::apply_unary(approximate == "none" ? UO::GeluErf : UO::GeluTanh, a);
  }, py::arg("approximate") = "tanh");
  cls.def("clip", [](const Tensor& a, std::optional<double> lo, std::optional<double> hi, const py::handle& out) {
    check_no_out(out, "clip");
    return tt::clip(a, lo, hi);
  }, py::arg("min") = py::none(), py::arg("max") = py::none(), py::kw_only(), py::arg("out") = py::none());
  cls.def("clamp", [](const Tensor& a, std::optional<double> lo, std::optional<double> hi) { return tt::clip(a, lo, hi); },
          py::arg("min") = py::none(), py::arg("max") = py::none());
  cls.def("masked_fill", [](const Tensor& a, const py::handle& mask, double v) {
    return tt::masked_fill(a, operand(mask, a), v);
  });
  cls.def("matmul", [](const Tensor& a, const py::handle& b) { return tt::matmul(a, operand(b, a)); });
  cls.def("maximum", [](const Tensor& a, const py::handle& b) { return tt::maximum(a, operand(b, a)); });
  cls.def("minimum", [](const Tensor& a, const py::handle& b) { return tt::minimum(a, operand(b, a)); });

  // ---- reductions (numpy names axis/keepdims; PyTorch's dim/keepdim accepted too) ----
  // numpy's functions call these methods with dtype= and out= keywords
  // (np.sum(t) is t.sum(axis=None, dtype=None, out=None)), so both are accepted:
  // dtype converts first, out must stay None.
  for (const char* name : {"sum", "mean", "max", "min", "logsumexp", "prod"}) {
    std::string n = name;
    cls.def(name, [n](const Tensor& t, py::object axis, const py::handle& keepdims_in, py::object dim,
                      py::object keepdim, const py::handle& dtype, const py::handle& out) {
      if (!dim.is_none()) axis = dim;
      bool keepdims = bool_from_py(keepdim.is_none() ? keepdims_in : keepdim, n.c_str(), "keepdims");
      check_no_out(out, n.c_str());
      return reduce_dispatch(n.c_str(), with_dtype(t, dtype), axis, keepdims);
    }, py::arg("axis") = py::none(), py::arg("keepdims") = false, py::kw_only(), py::arg("dim") = py::none(),
       py::arg("keepdim") = py::none(), py::arg("dtype") = py::none(), py::arg("out") = py::none());
  }
  for (const char* name : {"var", "std"}) {
    bool is_std = std::string(name) == "std";
    cls.def(name, [is_std](const Tensor& t, py::object axis, const py::handle& ddof_in, const py::handle& keepdims_in,
                           py::object dim, py::object keepdim, const py::handle& dtype, const py::handle& out) {
      if (!dim.is_none()) axis = dim;
      const char* op = is_std ? "std" : "var";
      bool keepdims = bool_from_py(keepdim.is_none() ? keepdims_in : keepdim, op, "keepdims");
      int64_t ddof = int_from_py(ddof_in, op, "ddof");
      check_no_out(out, op);
      auto axes = axes_from_py(axis, op);
      Tensor x = with_dtype(t, dtype);
      return is_std ? tt::std(x, axes, ddof, keepdims) : tt::var(x, axes, ddof, keepdims);
    }, py::arg("axis") = py::none(), py::arg("ddof") = 0, py::arg("keepdims") = false, py::kw_only(),
       py::arg("dim") = py::none(), py::arg("keepdim") = py::none(), py::arg("dtype") = py::none(),
       py::arg("out") = py::none());
  }
  for (const char* name : {"argmax", "argmin"}) {
    bool is_max = std::string(name) == "argmax";
    cls.def(name, [is_max](const Tensor& t, py::object axis, const py::handle& keepdims_in, py::object dim,
                           py::object keepdim, const py::handle& out) {
      const char* op = is_max ? "argmax" : "argmin";
      if (!dim.is_none()) axis = dim;
      bool keepdims = bool_from_py(keepdim.is_none() ? keepdims_in : keepdim, op, "keepdims");
      check_no_out(out, op);
      std::optional<int64_t> ax;
      if (!axis.is_none()) {
        if (PyTuple_Check(axis.ptr()) || PyList_Check(axis.ptr()))
          throw tt::TypeError(std::string(op) + ": axis must be a single int or None, got " +
                              std::string(py::repr(axis)) + "; flatten the axes first (reshape) to search several");
        ax = int_from_py(axis, op, "axis");
      }
      return is_max ? tt::ops::argmax(t, ax, keepdims) : tt::ops::argmin(t, ax, keepdims);
    }, py::arg("axis") = py::none(), py::arg("keepdims") = false, py::kw_only(), py::arg("dim") = py::none(),
       py::arg("keepdim") = py::none(), py::arg("out") = py::none());
  }
  cls.def("softmax", [](const Tensor& t, int64_t axis) { return tt::softmax(t, axis); }, py::arg("axis") = -1);
  cls.def("log_softmax", [](const Tensor& t, int64_t axis) { return tt::log_softmax(t, axis); }, py::arg("axis") = -1);

  // ---- views ----
  // np.reshape(t, shape) calls t.reshape(shape, order="C") (numpy 2 adds copy=None).
  cls.def("reshape", [](const Tensor& t, const py::args& args, const py::kwargs& kwargs) {
    for (auto kv : kwargs) {
      std::string k = py::str(kv.first);
      bool ok = (k == "order" && (kv.second.is_none() || py::str(kv.second).cast<std::string>() == "C")) ||
                (k == "copy" && kv.second.is_none());
      if (!ok)
        throw tt::TypeError("reshape: unsupported argument " + k + "=" + std::string(py::repr(kv.second)) +
                            " (tinytorch reshapes in row-major 'C' order)");
    }
    return tt::reshape(t, shape_from_args(args, "reshape"));
  });
  cls.def("view", [](const Tensor& t, const py::args& args) { return tt::reshape(t, shape_from_args(args, "view")); });
  cls.def("transpose", [](const Tensor& t, std::optional<int64_t> d0, std::optional<int64_t> d1) {
    if (!d0 && !d1) {
      // TinyTorch: no arguments swaps the last two axes; 0-D and 1-D come
      // back unchanged like numpy's .T (np.transpose(t) calls t.transpose(None)).
      if (t.dim() < 2) return tt::permute(t, t.dim() == 1 ? std::vector<int64_t>{0} : std::vector<int64_t>{});
      return tt::transpose(t, -2, -1);
    }
    if (!d0 || !d1) throw tt::ValueError("transpose: pass both dim0 and dim1, or neither to swap the last two axes");
    return tt::transpose(t, *d0, *d1);
  }, py::arg("dim0") = py::none(), py::arg("dim1") = py::none());
  cls.def("permute", [](const Tensor& t, const py::args& args) {
    tt::Shape dims = shape_from_args(args, "permute");
    return tt::permute(t, std::vector<int64_t>(dims.begin(), dims.end()));
  });
  cls.def_property_readonly("T", [](const Tensor& t) {
    std::vector<int64_t> dims;
    for (int64_t i = t.dim() - 1; i >= 0; --i) dims.push_back(i);
    return tt::permute(t, dims);
  });
  cls.def("expand", [](const Tensor& t, const py::args& args) { return tt::expand(t, shape_from_args(args, "expand")); });
  cls.def("broadcast_to", [](const Tensor& t, const py::args& args) {
    return tt::expand(t, shape_from_args(args, "broadcast_to"));
  });
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

  // ---- in place (not recorded: for optimizers and initialisation, under no_grad; see check_inplace) ----
  cls.def("fill_", [](const Tensor& t, double v) { check_inplace(t, "fill_"); tt::ops::fill_(t, v); return t; });
  cls.def("zero_", [](const Tensor& t) { check_inplace(t, "zero_"); tt::ops::fill_(t, 0); return t; });
  cls.def("copy_", [](const Tensor& t, const py::handle& src) {
    Tensor s = operand(src, t);
    check_inplace(t, "copy_", &s);
    tt::ops::copy_(t, s);
    return t;
  });
  cls.def("add_", [](const Tensor& t, const py::handle& other, double alpha) {
    Tensor o = operand(other, t);
    check_inplace(t, "add_", &o);
    tt::ops::add_(t, o, alpha);
    return t;
  }, py::arg("other"), py::arg("alpha") = 1.0);
  // Without these, `w -= lr * g` would rebind w to a new tensor and lose the parameter.
  cls.def("__iadd__", [](const Tensor& t, const py::handle& b) { return inplace_binary(&tt::add, "+=", t, b); }, py::is_operator());
  cls.def("__isub__", [](const Tensor& t, const py::handle& b) { return inplace_binary(&tt::sub, "-=", t, b); }, py::is_operator());
  cls.def("__imul__", [](const Tensor& t, const py::handle& b) { return inplace_binary(&tt::mul, "*=", t, b); }, py::is_operator());
  cls.def("__itruediv__", [](const Tensor& t, const py::handle& b) { return inplace_binary(&tt::div, "/=", t, b); }, py::is_operator());
  cls.def("__iand__", [](const Tensor& t, const py::handle& b) { return inplace_binary(&tt::ops::bitwise_and, "&=", t, b); }, py::is_operator());
  cls.def("__ior__", [](const Tensor& t, const py::handle& b) { return inplace_binary(&tt::ops::bitwise_or, "|=", t, b); }, py::is_operator());
  cls.def("__ixor__", [](const Tensor& t, const py::handle& b) { return inplace_binary(&tt::ops::bitwise_xor, "^=", t, b); }, py::is_operator());
  cls.def("_bump_version", [](const Tensor& t) { t.bump_version(); });
}

}  // namespace ttpy
