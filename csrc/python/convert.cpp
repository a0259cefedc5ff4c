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
    throw tt::TypeError("unsupported dtype " + std::string(py::str(obj)) +
                        "; tinytorch supports float32, float64, int64 and bool");
  }
  char kind = d.kind();
  size_t size = d.itemsize();
  if (kind == 'f' && size == 4) return DType::Float32;
  if (kind == 'f' && size == 8) return DType::Float64;
  if (kind == 'i' && size == 8) return DType::Int64;
  if (kind == 'b') return DType::Bool;
  throw tt::TypeError("unsupported dtype " + std::string(py::str(obj)) +
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
    if (dtype.is_none() && arr.dtype().kind() != 'b') arr = np.attr("asarray")(arr, "float32");
  }
  char kind = arr.dtype().kind();
  if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f')
    throw tt::TypeError("Tensor: cannot make a tensor from numpy dtype " + std::string(py::str(arr.dtype())) +
                        "; pass numbers (float, int or bool)");
  DType want = dtype.is_none() ? default_dtype_for(arr) : dtype_from_py(dtype);
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

Tensor operand(const py::handle& obj, const Tensor& other) {
  if (py::isinstance<tt::TensorImpl>(obj)) return obj.cast<Tensor>();
  DType od = other.dtype();
  if (PyBool_Check(obj.ptr())) return tt::ops::scalar_tensor(obj.ptr() == Py_True ? 1.0 : 0.0, od);
  if (PyLong_Check(obj.ptr())) {
    double v = static_cast<double>(PyLong_AsLongLong(obj.ptr()));
    if (PyErr_Occurred()) {
      PyErr_Clear();
      v = PyLong_AsDouble(obj.ptr());
    }
    return tt::ops::scalar_tensor(v, od == DType::Bool ? DType::Int64 : od);
  }
  if (PyFloat_Check(obj.ptr()))
    return tt::ops::scalar_tensor(PyFloat_AS_DOUBLE(obj.ptr()), tt::is_floating(od) ? od : DType::Float32);
  if (py::isinstance<py::array>(obj)) return tensor_from_py(obj, py::none());
  if (PyNumber_Check(obj.ptr()) && !PySequence_Check(obj.ptr()))  // numpy scalars
    return tensor_from_py(py::module_::import("numpy").attr("asarray")(obj), py::none());
  if (PySequence_Check(obj.ptr())) return tensor_from_py(obj, py::none());
  throw py::type_error("unsupported operand type " + std::string(py::str(py::type::of(obj))) +
                       " for a tinytorch Tensor; use a Tensor, numpy array or Python number");
}

py::array to_numpy_view(const Tensor& t, const py::handle& owner) {
  std::vector<ssize_t> shape(t.shape().begin(), t.shape().end());
  std::vector<ssize_t> strides;
  const ssize_t item = static_cast<ssize_t>(tt::itemsize(t.dtype()));
  for (int64_t s : t.strides()) strides.push_back(s * item);
  return py::array(numpy_dtype(t.dtype()), shape, strides, t.raw_data(), owner);
}

std::vector<int64_t> axes_from_py(const py::handle& axis) {
  std::vector<int64_t> axes;
  if (axis.is_none()) return axes;
  if (PyLong_Check(axis.ptr())) return {axis.cast<int64_t>()};
  for (auto a : axis) axes.push_back(a.cast<int64_t>());
  if (axes.empty()) throw tt::ValueError("axis=() reduces nothing; pass None to reduce over all axes");
  return axes;
}

tt::Shape shape_from_args(const py::args& args) {
  tt::Shape s;
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) {
    for (auto d : args[0]) s.push_back(d.cast<int64_t>());
    return s;
  }
  for (auto d : args) s.push_back(d.cast<int64_t>());
  return s;
}

}  // namespace ttpy
