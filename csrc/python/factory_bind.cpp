// Factories: zeros, ones, empty, full, *_like, arange, linspace, eye and the
// random ones. They accept requires_grad= (as in PyTorch) and dtype=.
#include "python/bindings.h"

namespace ttpy {

static Tensor with_grad(Tensor t, bool requires_grad, const char* op) {
  if (requires_grad) tt::set_requires_grad(t, true, op);
  return t;
}

// The shape, validated under the name the user called (not the kernel's, "full").
static tt::Shape checked_shape(const py::args& args, const char* op) {
  tt::Shape s = shape_from_args(args, op);
  tt::check_shape(s, op);
  return s;
}

// f(*shape, dtype=None, requires_grad=False) for a kernel make(shape, dtype).
template <class Make>
static void shaped(py::module_& m, const char* name, Make make) {
  m.def(name, [name, make](const py::args& shape, const py::handle& dtype, bool requires_grad) {
    return with_grad(make(checked_shape(shape, name), dtype_or(dtype, DType::Float32)), requires_grad, name);
  }, py::kw_only(), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
}

static void bind_filled(py::module_& m) {
  shaped(m, "zeros", [](const tt::Shape& s, DType d) { return tt::ops::full(s, 0.0, d); });
  shaped(m, "ones", [](const tt::Shape& s, DType d) { return tt::ops::full(s, 1.0, d); });
  shaped(m, "empty", [](const tt::Shape& s, DType d) { return Tensor::empty(s, d); });
  m.def("full", [](const py::handle& shape, double v, const py::handle& dtype, bool requires_grad) {
    return with_grad(tt::ops::full(shape_from_py(shape, "full"), v, dtype_or(dtype, DType::Float32)), requires_grad,
                     "full");
  }, py::arg("shape"), py::arg("fill_value"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("zeros_like", [](const Tensor& t, const py::handle& dtype, bool requires_grad) {
    return with_grad(tt::ops::full(t.shape(), 0.0, dtype_or(dtype, t.dtype())), requires_grad, "zeros_like");
  }, py::arg("t"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("ones_like", [](const Tensor& t, const py::handle& dtype, bool requires_grad) {
    return with_grad(tt::ops::full(t.shape(), 1.0, dtype_or(dtype, t.dtype())), requires_grad, "ones_like");
  }, py::arg("t"), py::arg("dtype") = py::none(), py::arg("requires_grad") = false);
  m.def("full_like", [](const Tensor& t, double v, const py::handle& dtype) {
    return tt::ops::full(t.shape(), v, dtype_or(dtype, t.dtype()));
  }, py::arg("t"), py::arg("fill_value"), py::arg("dtype") = py::none());
}

// arange's bounds: any real number; Python or numpy ints (without a dtype) give int64, like numpy.
static bool is_int_arg(const py::handle& v) {
  return v.is_none() || (!PyFloat_Check(v.ptr()) && !py::isinstance<py::array>(v) && PyIndex_Check(v.ptr()));
}
static double number_arg(const py::handle& v, const char* what) {
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
}

static void bind_ranges(py::module_& m) {
  m.def("arange", [](const py::handle& start, const py::handle& stop, const py::handle& step, const py::handle& dtype) {
    DType fallback = is_int_arg(start) && is_int_arg(stop) && is_int_arg(step) ? DType::Int64 : DType::Float32;
    double lo = number_arg(start, "start"), hi, st = step.is_none() ? 1.0 : number_arg(step, "step");
    if (stop.is_none()) {
      hi = lo;
      lo = 0;
    } else {
      hi = number_arg(stop, "stop");
    }
    return tt::ops::arange(lo, hi, st, dtype_or(dtype, fallback));
  }, py::arg("start"), py::arg("stop") = py::none(), py::arg("step") = py::none(), py::arg("dtype") = py::none());
  m.def("linspace", [](double a, double b, int64_t n, const py::handle& dtype) {
    return tt::ops::linspace(a, b, n, dtype_or(dtype, DType::Float32));
  }, py::arg("start"), py::arg("stop"), py::arg("num") = 50, py::arg("dtype") = py::none());
  m.def("eye", [](int64_t n, std::optional<int64_t> mm, const py::handle& dtype) {
    return tt::ops::eye(n, mm, dtype_or(dtype, DType::Float32));
  }, py::arg("n"), py::arg("m") = py::none(), py::arg("dtype") = py::none());
}

static void bind_random(py::module_& m) {
  m.def("manual_seed", [](uint64_t s) { tt::ops::manual_seed(s); }, py::arg("seed"));
  shaped(m, "rand", [](const tt::Shape& s, DType d) { return tt::ops::rand(s, d); });
  shaped(m, "randn", [](const tt::Shape& s, DType d) { return tt::ops::randn(s, d); });
  // numpy's randint(low, high=None, size=None) and PyTorch's randint(high, size)
  // / randint(low, high, size): a tuple or list in the second place is the size.
  m.def("randint", [](const py::handle& low, py::object high, py::object size) {
    if (size.is_none() && (PyTuple_Check(high.ptr()) || PyList_Check(high.ptr()))) {
      size = high;
      high = py::none();
    }
    int64_t lo = int_from_py(low, "randint", "low"), hi;
    if (high.is_none()) {
      hi = lo;
      lo = 0;
    } else {
      hi = int_from_py(high, "randint", "high");
    }
    tt::Shape s = size.is_none() ? tt::Shape{} : shape_from_py(size, "randint");
    return tt::ops::randint(lo, hi, s);
  }, py::arg("low"), py::arg("high") = py::none(), py::arg("size") = py::none());
}

void bind_factories(py::module_& m) {
  bind_filled(m);
  bind_ranges(m);
  bind_random(m);
}

}  // namespace ttpy
