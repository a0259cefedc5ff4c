// Python's operators on tensors: + - * / ** @ (with Python scalars on either
// side), comparisons, & | ^ ~, bool()/float()/int(), and the in-place
// operators and methods (t += x, fill_, copy_, add_).
#include "autograd/grad_mode.h"
#include "python/bindings.h"

namespace ttpy {

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

static Tensor binary_op(BinaryFn f, const Tensor& a, const py::handle& b, bool reflected) {
  Tensor o = operand(b, a);
  return reflected ? f(o, a) : f(a, o);
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

static void install_number_slots(const py::handle& cls) {
  g_tensor_type = reinterpret_cast<PyTypeObject*>(cls.ptr());
  PyNumberMethods* nb = g_tensor_type->tp_as_number;  // the heap type's own table
  nb->nb_add = number_slot<&tt::add>;
  nb->nb_subtract = number_slot<&tt::sub>;
  nb->nb_multiply = number_slot<&tt::mul>;
  nb->nb_true_divide = number_slot<&tt::div>;
  PyType_Modified(g_tensor_type);
}

static void bind_arithmetic(py::module_& m, TensorClass& cls) {
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
  cls.def("__abs__", [](const Tensor& a) { return tt::abs(a); });
  cls.def("__invert__", [](const Tensor& a) { return tt::ops::bitwise_not(a); });
  // & | ^ on bool and int64 tensors (masks), numpy's semantics; never part of a graph.
  bin("__and__", "__rand__", &tt::ops::bitwise_and);
  bin("__or__", "__ror__", &tt::ops::bitwise_or);
  bin("__xor__", "__rxor__", &tt::ops::bitwise_xor);
}

static void bind_comparisons(TensorClass& cls) {
  using BO = tt::ops::BinaryOp;
  auto cmp = [&](const char* name, BO op) {
    cls.def(name, [op](const Tensor& a, const py::handle& b) { return tt::compare(op, a, operand(b, a)); },
            py::is_operator());
  };
  // == and != against None, strings or other objects: NotImplemented, so
  // Python falls back to identity (t == None is False, t != None is True).
  for (auto [name, op] : {std::pair<const char*, BO>{"__eq__", BO::Eq}, {"__ne__", BO::Ne}})
    cls.def(name, [op = op](const Tensor& a, const py::handle& b) -> py::object {
      if (!is_operand(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
      return py::cast(tt::compare(op, a, operand(b, a)));
    }, py::is_operator());
  cmp("__lt__", BO::Lt);
  cmp("__le__", BO::Le);
  cmp("__gt__", BO::Gt);
  cmp("__ge__", BO::Ge);
  cls.attr("__hash__") = py::none();
  cls.def("__hash__", [](const tt::TensorImpl& t) { return reinterpret_cast<intptr_t>(&t); });
}

static void bind_python_scalars(TensorClass& cls) {
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
}

// Refuses an in-place write autograd could not account for. In-place ops are
// not recorded, so writing into a tensor that is part of a graph (or with a
// source that is) would leave backward using the old graph: silently wrong
// gradients. Optimizers and initialisation run under no_grad(), which is allowed.
void check_inplace(const Tensor& t, const char* op, const Tensor* src) {
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

// t += x and friends: the same object and storage, with x broadcast into t's
// shape and numpy's same-kind rule (a float result cannot go into an int tensor).
// Inside a graph the write is recorded as PyTorch does: t takes over the
// history of the out-of-place result (like t[key] = v, core/tensor.py's __setitem__).
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

static void bind_inplace(TensorClass& cls) {
  // Not recorded: for optimizers and initialisation, under no_grad (see check_inplace).
  cls.def("fill_", [](const Tensor& t, double v) { check_inplace(t, "fill_"); tt::ops::fill_(t, v); return t; },
          py::arg("value"));
  // numpy's ndarray.fill(value): the same, returning None.
  cls.def("fill", [](const Tensor& t, double v) { check_inplace(t, "fill"); tt::ops::fill_(t, v); },
          py::arg("value"));
  cls.def("zero_", [](const Tensor& t) { check_inplace(t, "zero_"); tt::ops::fill_(t, 0); return t; });
  cls.def("copy_", [](const Tensor& t, const py::handle& src) {
    Tensor s = operand(src, t);
    check_inplace(t, "copy_", &s);
    tt::ops::copy_(t, s);
    return t;
  }, py::arg("src"));
  cls.def("add_", [](const Tensor& t, const py::handle& other, double alpha) {
    Tensor o = operand(other, t);
    check_inplace(t, "add_", &o);
    tt::ops::add_(t, o, alpha);
    return t;
  }, py::arg("other"), py::arg("alpha") = 1.0);
  // Without these, `w -= lr * g` would rebind w to a new tensor and lose the parameter.
  auto iop = [&](const char* name, const char* op, BinaryFn f) {
    cls.def(name, [op, f](const Tensor& t, const py::handle& b) { return inplace_binary(f, op, t, b); },
            py::is_operator());
  };
  iop("__iadd__", "+=", &tt::add);
  iop("__isub__", "-=", &tt::sub);
  iop("__imul__", "*=", &tt::mul);
  iop("__itruediv__", "/=", &tt::div);
  iop("__iand__", "&=", &tt::ops::bitwise_and);
  iop("__ior__", "|=", &tt::ops::bitwise_or);
  iop("__ixor__", "^=", &tt::ops::bitwise_xor);
  cls.def("_bump_version", [](const Tensor& t) { t.bump_version(); });
}

void bind_operators(py::module_& m) {
  TensorClass cls = tensor_class(m);
  bind_arithmetic(m, cls);
  bind_comparisons(cls);
  bind_python_scalars(cls);
  bind_inplace(cls);
}

}  // namespace ttpy
