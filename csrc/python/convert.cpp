#include "python/convert.h"

#include <cstring>

namespace ttpy {

DType dtype_from_py(const py::handle& obj) {
  if (obj.is_none()) return DType::Float32;
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyFloat_Type)) return DType::Float32;
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyLong_Type)) return DType::Int64;
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyBool_Type)) return DType::Bool;
  py::dtype d;
  try {
    d = py::dtype::from_args(py::reinterpret_borrow<py::object>(obj));
  } catch (py::error_already_set&) {
    throw ArgumentError("unsupported dtype " + std::string(py::str(obj)) +
                        "; tinytorch supports float32, float64, int64 and bool");
  }
  char kind = d.kind();
  size_t size = d.itemsize();
  if (kind == 'f' && size == 4) return DType::Float32;
  if (kind == 'f' && size == 8) return DType::Float64;
  if (kind == 'i' && size == 8) return DType::Int64;
  if (kind == 'b') return DType::Bool;
  throw ArgumentError("unsupported dtype " + std::string(py::str(obj)) +
                      "; tinytorch supports float32, float64, int64 and bool (convert with .astype first)");
}

py::dtype numpy_dtype(DType d) {
  switch (d) {
    case DType::Bool: return py::dtype::of<bool>();
    case DType::Int64: return py::dtype::of<int64_t>();
    case DType::Float32: return py::dtype::of<float>();
    case DType::Float64: return py::dtype::of<double>();
  }
  return py::dtype::of<float>();
}

static void release_pyobject(void* ctx, char*) {
  py::gil_scoped_acquire gil;
  Py_DECREF(reinterpret_cast<PyObject*>(ctx));
}

[[noreturn]] void raise_overflow(const std::string& msg) {
  PyErr_SetString(PyExc_OverflowError, msg.c_str());
  throw py::error_already_set();
}

// numpy happily turns None into nan, strings into floats and drops the
// imaginary part of complex numbers; only numbers (and bools) make tensors.
// Object arrays are checked element by element: they also come from ints too
// big for int64, which are fine for float tensors.
static void check_element_types(const py::handle& data, const py::array& arr) {
  char kind = arr.dtype().kind();
  auto refuse = [&](const py::handle& bad) {
    throw ArgumentError("cannot make a tensor from " + std::string(py::str(py::type::of(bad).attr("__name__"))) +
                        " data" + (bad.ptr() == data.ptr() ? "" : " (found inside " +
                        std::string(py::str(py::type::of(data).attr("__name__"))) + ")") +
                        "; pass numbers (float, int or bool), nested lists of them or a numpy array");
  };
  if (kind == 'b' || kind == 'i' || kind == 'u' || kind == 'f') return;
  if (kind != 'O') refuse(arr.size() > 0 ? py::object(arr.attr("flat")[py::int_(0)]) : py::object(py::str("")));
  py::object np = py::module_::import("numpy");
  py::tuple numeric = py::make_tuple(np.attr("integer"), np.attr("floating"), np.attr("bool_"));
  for (auto item : arr.attr("ravel")()) {
    PyObject* o = item.ptr();
    if (PyLong_Check(o) || PyFloat_Check(o) || PyObject_IsInstance(o, numeric.ptr()) == 1) continue;
    refuse(item);
  }
}

// Default dtype for data without an explicit one.
static DType default_dtype_for(const py::array& a) {
  char kind = a.dtype().kind();
  if (kind == 'b') return DType::Bool;
  if (kind == 'i' || kind == 'u') return DType::Int64;
  return DType::Float32;  // float16/32/64 all default to float32, as in TinyTorch
}

Tensor tensor_from_py(const py::handle& data, const py::handle& dtype, bool allow_zero_copy) {
  if (py::isinstance<tt::TensorImpl>(data)) {
    Tensor t = data.cast<Tensor>();
    Tensor v = tt::detach(t);
    if (!dtype.is_none()) v = tt::ops::astype(v, dtype_from_py(dtype));
    return v;
  }
  py::array arr;
  if (py::isinstance<py::array>(data)) {
    arr = py::reinterpret_borrow<py::array>(data);
  } else {
    // Python scalars and (nested) lists: ints and floats become float32 by
    // default, as in TinyTorch; bools stay bool.
    py::object np = py::module_::import("numpy");
    arr = np.attr("asarray")(data);
    check_element_types(data, arr);
    if (dtype.is_none() && arr.dtype().kind() != 'b') arr = np.attr("asarray")(arr, "float32");
    // ints beyond int64 give object arrays; numpy's own conversion raises OverflowError for int dtypes
    else if (arr.dtype().kind() == 'O') arr = np.attr("asarray")(arr, numpy_dtype(dtype_from_py(dtype)));
  }
  char kind = arr.dtype().kind();
  if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f')
    throw ArgumentError("cannot make a tensor from numpy dtype " + std::string(py::str(arr.dtype())) +
                        "; pass numbers (float, int or bool)");
  DType want = dtype.is_none() ? default_dtype_for(arr) : dtype_from_py(dtype);
  // uint64 values above 2**63-1 would wrap to negative int64s.
  if (kind == 'u' && arr.itemsize() == 8 && want == DType::Int64 && arr.size() > 0 &&
      py::int_(arr.attr("max")()).cast<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    raise_overflow("Tensor: uint64 value " + std::string(py::str(arr.attr("max")())) +
                   " does not fit in int64; convert to float first");
  py::dtype np_want = numpy_dtype(want);
  bool same_dtype = arr.dtype().is(np_want) || arr.dtype().equal(np_want);
  const auto flags = arr.flags();
  bool writable = flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  bool aligned = flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  bool positive_strides = true;
  const ssize_t item = arr.itemsize();
  for (ssize_t i = 0; i < arr.ndim(); ++i)
    if (arr.strides(i) < 0 || arr.strides(i) % item != 0) positive_strides = false;
  if (!(allow_zero_copy && same_dtype && writable && aligned && positive_strides)) {
    py::object np = py::module_::import("numpy");
    arr = np.attr("array")(arr, np_want, py::arg("copy") = true, py::arg("order") = "C");
  }
  // Share the array's memory: the storage keeps a reference to it.
  auto impl = std::make_shared<tt::TensorImpl>();
  auto storage = std::make_shared<tt::Storage>();
  storage->data = static_cast<char*>(arr.mutable_data());
  storage->nbytes = static_cast<size_t>(arr.nbytes());
  PyObject* owner = arr.ptr();
  Py_INCREF(owner);
  storage->ctx = owner;
  storage->deleter = release_pyobject;
  impl->storage = std::move(storage);
  impl->dtype = want;
  for (ssize_t i = 0; i < arr.ndim(); ++i) {
    impl->shape.push_back(arr.shape(i));
    impl->strides.push_back(arr.strides(i) / static_cast<ssize_t>(tt::itemsize(want)));
  }
  return Tensor(std::move(impl));
}

bool is_operand(const py::handle& obj) {
  PyObject* o = obj.ptr();
  if (PyUnicode_Check(o) || PyBytes_Check(o) || o == Py_None) return false;
  return py::isinstance<tt::TensorImpl>(obj) || PyBool_Check(o) || PyLong_Check(o) || PyFloat_Check(o) ||
         py::isinstance<py::array>(obj) || PySequence_Check(o) ||
         py::isinstance(obj, py::module_::import("numpy").attr("generic"));
}

// A Python int next to a tensor. Integer tensors keep it exact (a double
// would round values above 2**53) and refuse values outside int64; float
// tensors take its float value.
static Tensor int_operand(const py::handle& obj, DType od) {
  if (tt::is_floating(od)) {
    double v = PyLong_AsDouble(obj.ptr());  // OverflowError only beyond ~1e308
    if (v == -1.0 && PyErr_Occurred()) throw py::error_already_set();
    return tt::ops::scalar_tensor(v, od);
  }
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
  if (overflow)
    raise_overflow("Python int " + std::string(py::str(obj)) + " is out of bounds for an int64 tensor "
                   "(-2**63 to 2**63-1); convert the tensor to float first (t.double())");
  Tensor out = Tensor::empty({}, DType::Int64);
  *out.data<int64_t>() = v;
  return out;
}

Tensor operand(const py::handle& obj, const Tensor& other) {
  if (py::isinstance<tt::TensorImpl>(obj)) return obj.cast<Tensor>();
  DType od = other.dtype();
  if (PyBool_Check(obj.ptr())) return tt::ops::scalar_tensor(obj.ptr() == Py_True ? 1.0 : 0.0, od);
  if (PyLong_Check(obj.ptr())) return int_operand(obj, od);
  if (PyFloat_Check(obj.ptr()))
    return tt::ops::scalar_tensor(PyFloat_AS_DOUBLE(obj.ptr()), tt::is_floating(od) ? od : DType::Float32);
  if (!is_operand(obj))
    throw ArgumentError("unsupported operand type " + std::string(py::str(py::type::of(obj))) +
                         " for a tinytorch Tensor; use a Tensor, numpy array or Python number");
  py::array arr = py::module_::import("numpy").attr("asarray")(obj);
  // Unsigned numpy integers (np.uint64(2**64-1)) next to a float tensor are
  // taken as floats, like a big Python int; next to an int tensor they must fit int64.
  if (arr.dtype().kind() == 'u' && tt::is_floating(od)) return tensor_from_py(arr, numpy_dtype(od));
  // A numpy float array next to a float tensor takes the tensor's dtype straight from its own values:
  // going through the float32 default first would silently round float64 data (targets of a float64 loss).
  if (arr.dtype().kind() == 'f' && tt::is_floating(od)) return tensor_from_py(arr, numpy_dtype(od));
  return tensor_from_py(PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr()) ? obj : py::handle(arr), py::none());
}

int64_t int_from_py(const py::handle& obj, const char* op, const char* what) {
  if (PyFloat_Check(obj.ptr()) || !PyIndex_Check(obj.ptr()))
    throw tt::TypeError(std::string(op) + ": " + what + " must be an integer, got " +
                        std::string(py::str(py::type::of(obj).attr("__name__"))) + " " + std::string(py::repr(obj)));
  py::object i = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
  if (!i) throw py::error_already_set();
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow)
    throw tt::ValueError(std::string(op) + ": " + what + " " + std::string(py::str(i)) + " is too large (limit 2**63-1)");
  return v;
}

// Exports own the storage, not the tensor: `t.data = other` swaps the
// tensor's storage, and a view kept alive only through the tensor would then
// read freed memory. The capsule holds one reference to the storage itself.
py::object storage_owner(const Tensor& t) {
  auto* keep = new std::shared_ptr<tt::Storage>(t.impl->storage);
  return py::capsule(keep, [](void* p) { delete static_cast<std::shared_ptr<tt::Storage>*>(p); });
}

bool bool_from_py(const py::handle& obj, const char* op, const char* what) {
  if (PyBool_Check(obj.ptr())) return obj.ptr() == Py_True;
  if (py::isinstance(obj, py::module_::import("numpy").attr("bool_"))) return PyObject_IsTrue(obj.ptr()) == 1;
  throw tt::TypeError(std::string(op) + ": " + what + " must be True or False, got " +
                      std::string(py::str(py::type::of(obj).attr("__name__"))) + " " + std::string(py::repr(obj)));
}

py::array to_numpy_view(const Tensor& t) {
  std::vector<ssize_t> shape(t.shape().begin(), t.shape().end());
  std::vector<ssize_t> strides;
  const ssize_t item = static_cast<ssize_t>(tt::itemsize(t.dtype()));
  for (int64_t s : t.strides()) strides.push_back(s * item);
  return py::array(numpy_dtype(t.dtype()), shape, strides, t.raw_data(), storage_owner(t));
}

namespace {
// What a Py_buffer export keeps alive until it is released: the storage and
// the shape/stride arrays the view points at.
struct BufferExport {
  std::shared_ptr<tt::Storage> storage;
  std::vector<Py_ssize_t> shape, strides;
  std::string format;
};
}  // namespace

int tensor_getbuffer(PyObject* self, Py_buffer* view, int flags) {
  if (!view) {
    PyErr_SetString(PyExc_BufferError, "Tensor: no buffer view given");
    return -1;
  }
  view->obj = nullptr;
  Tensor t;
  try {
    t = py::handle(self).cast<Tensor>();
  } catch (...) {
    PyErr_SetString(PyExc_BufferError, "Tensor: this object holds no tensor");
    return -1;
  }
  const bool contiguous = t.is_contiguous();
  if ((flags & PyBUF_STRIDES) != PyBUF_STRIDES && !contiguous) {
    PyErr_SetString(PyExc_BufferError,
                    "Tensor: the consumer asked for a contiguous buffer but this tensor is a strided view; "
                    "call .contiguous() first");
    return -1;
  }
  auto* e = new BufferExport{t.impl->storage, {}, {}, {}};
  const Py_ssize_t item = static_cast<Py_ssize_t>(tt::itemsize(t.dtype()));
  Py_ssize_t len = item;
  for (int64_t d : t.shape()) {
    e->shape.push_back(d);
    len *= d;
  }
  for (int64_t st : t.strides()) e->strides.push_back(st * item);
  switch (t.dtype()) {
    case DType::Float32: e->format = py::format_descriptor<float>::format(); break;
    case DType::Float64: e->format = py::format_descriptor<double>::format(); break;
    case DType::Int64: e->format = py::format_descriptor<int64_t>::format(); break;
    case DType::Bool: e->format = "?"; break;
  }
  view->buf = t.raw_data();
  view->len = len;
  view->itemsize = item;
  view->readonly = 0;
  view->internal = e;
  view->format = (flags & PyBUF_FORMAT) == PyBUF_FORMAT ? const_cast<char*>(e->format.c_str()) : nullptr;
  view->ndim = (flags & PyBUF_ND) == PyBUF_ND ? static_cast<int>(e->shape.size()) : 1;
  view->shape = (flags & PyBUF_ND) == PyBUF_ND ? e->shape.data() : nullptr;
  view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? e->strides.data() : nullptr;
  view->suboffsets = nullptr;
  view->obj = self;
  Py_INCREF(self);
  return 0;
}

void tensor_releasebuffer(PyObject*, Py_buffer* view) { delete static_cast<BufferExport*>(view->internal); }

// An int-like argument, not a tensor or array with several elements.
static bool is_single_int(const py::handle& obj) {
  if (py::isinstance<tt::TensorImpl>(obj)) return obj.cast<Tensor>().dim() == 0;
  return !py::isinstance<py::array>(obj) && !PyFloat_Check(obj.ptr()) && PyIndex_Check(obj.ptr());
}

std::vector<int64_t> axes_from_py(const py::handle& axis, const char* op) {
  std::vector<int64_t> axes;
  if (axis.is_none()) return axes;
  if (is_single_int(axis)) return {int_from_py(axis, op, "axis")};
  if (!PyTuple_Check(axis.ptr()) && !PyList_Check(axis.ptr()))
    throw tt::TypeError(std::string(op) + ": axis must be None, an int or a tuple of ints, got " +
                        std::string(py::str(py::type::of(axis).attr("__name__"))) + " " + std::string(py::repr(axis)));
  for (auto a : axis) axes.push_back(int_from_py(a, op, "axis"));
  if (axes.empty()) throw tt::ValueError("axis=() reduces nothing; pass None to reduce over all axes");
  return axes;
}

tt::Shape shape_from_py(const py::handle& shape, const char* op) {
  if (is_single_int(shape)) return {int_from_py(shape, op, "a dimension")};
  if (!PyTuple_Check(shape.ptr()) && !PyList_Check(shape.ptr()) && !py::isinstance<py::array>(shape) &&
      !py::isinstance<tt::TensorImpl>(shape))
    throw tt::TypeError(std::string(op) + ": the shape must be ints or a tuple/list of ints, got " +
                        std::string(py::str(py::type::of(shape).attr("__name__"))) + " " + std::string(py::repr(shape)));
  tt::Shape s;
  for (auto d : shape) s.push_back(int_from_py(d, op, "a dimension"));
  return s;
}

tt::Shape shape_from_args(const py::args& args, const char* op) {
  if (args.size() == 1) return shape_from_py(args[0], op);
  tt::Shape s;
  for (auto d : args) s.push_back(int_from_py(d, op, "a dimension"));
  return s;
}

}  // namespace ttpy

namespace ttpy {

Tensor as_tensor(const py::handle& obj) {
  if (py::isinstance<tt::TensorImpl>(obj)) return obj.cast<Tensor>();
  return tensor_from_py(obj, py::none());
}

Tensor as_index(const py::handle& obj, const char* op) {
  Tensor t = py::isinstance<tt::TensorImpl>(obj) ? obj.cast<Tensor>() : tensor_from_py(obj, py::dtype::of<int64_t>());
  if (t.dtype() != DType::Int64)
    throw tt::TypeError(std::string(op) + ": index must be an int64 tensor, got " + tt::dtype_name(t.dtype()) +
                        "; convert it with .long()");
  return t;
}

std::vector<Tensor> tensor_list(const py::handle& seq, const char* op) {
  if (py::isinstance<tt::TensorImpl>(seq) || !(PyList_Check(seq.ptr()) || PyTuple_Check(seq.ptr())))
    throw tt::TypeError(std::string(op) + ": expected a list or tuple of tensors, got " +
                        std::string(py::str(py::type::of(seq).attr("__name__"))) + "; e.g. tt." + op + "([a, b])");
  std::vector<Tensor> ts;
  for (auto item : seq) {
    try {
      ts.push_back(as_tensor(item));
    } catch (const tt::TypeError& e) {  // "cannot make a tensor from NoneType": name the op and the item
      throw tt::TypeError(std::string(op) + ": item " + std::to_string(ts.size()) + " is not a tensor (" + e.what() +
                          ")");
    }
  }
  if (ts.empty()) throw tt::ValueError(std::string(op) + ": expected a non-empty list of tensors");
  return ts;
}

void check_no_out(const py::handle& out, const char* op) {
  if (!out.is_none())
    throw tt::TypeError(std::string(op) + ": out= is not supported by tinytorch; use the returned tensor "
                        "(y = t." + op + "(...)) instead");
}

Tensor with_dtype(const Tensor& t, const py::handle& dtype) {
  return dtype.is_none() ? t : tt::astype(t, dtype_from_py(dtype));
}

}  // namespace ttpy
