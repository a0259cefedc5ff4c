// The Tensor class as Python sees it: construction from Python data, its
// geometry, numpy interop (zero-copy .data, __array__, buffer protocol) and
// dtype conversions. The other methods are bound by topic in the *_bind.cpp
// files listed in python/bindings.h; the methods written in Python (printing,
// iteration, hooks, backward) are in python/tinytorch/core/tensor.py.
#include <algorithm>

#include "autograd/grad_mode.h"
#include "python/bindings.h"
#include "python/hook_gc.h"

namespace ttpy {

using tt::TensorImpl;

TensorClass tensor_class(py::module_& m) { return py::reinterpret_borrow<TensorClass>(m.attr("Tensor")); }

static TensorClass define_class(py::module_& m) {
  TensorClass cls(m, "Tensor", py::dynamic_attr(), py::custom_type_setup([](PyHeapTypeObject* heap_type) {
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
            if (requires_grad) tt::set_requires_grad(t, true, "Tensor");
            return t.impl;
          }),
          py::arg("data"), py::arg("requires_grad") = false, py::arg("dtype") = py::none(),
          "Tensor(data, requires_grad=False, dtype=None).\n\n"
          "data may be a Python scalar, nested list, numpy array or Tensor. A numpy array whose\n"
          "dtype already matches and that is writable and aligned is shared without a copy\n"
          "(writes through either are seen by both); anything else is copied. A Tensor is\n"
          "shared as a detached view. Float data defaults to float32 (as in TinyTorch), integer\n"
          "numpy arrays to int64, bool to bool; Python int/float lists become float32.");
  return cls;
}

static void bind_geometry(TensorClass& cls) {
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
}

// t.data = array: replace the contents (TinyTorch code assigns new arrays to .data).
// Float data keeps the tensor's float dtype; other data its own default.
static void replace_data(const Tensor& t, const py::handle& value) {
  bool float_data = py::isinstance<py::array>(value) ? py::reinterpret_borrow<py::array>(value).dtype().kind() == 'f'
                                                     : !py::isinstance<TensorImpl>(value);
  Tensor src = tensor_from_py(value, float_data && tt::is_floating(t.dtype()) ? py::object(numpy_dtype(t.dtype()))
                                                                              : py::object(py::none()));
  // Like PyTorch's .data, the swap is invisible to autograd: keep the version.
  uint64_t version = t.version();
  t.impl->storage = src.impl->storage;
  t.impl->storage->version = std::max(t.impl->storage->version, version);
  t.impl->shape = src.shape();
  t.impl->strides = src.strides();
  t.impl->offset = src.offset();
  t.impl->dtype = src.dtype();
}

// The one-element value as a Python float/int/bool (item(), float(t), int(t)).
py::object scalar_value(const Tensor& t, const char* what) {
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

static void bind_numpy_interop(TensorClass& cls) {
  cls.def_property("data", [](py::object self) { return to_numpy_view(self.cast<Tensor>()); }, &replace_data);
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
}

static void bind_conversions(TensorClass& cls) {
  cls.def("astype", [](const Tensor& t, const py::handle& dtype) { return tt::astype(t, dtype_from_py(dtype)); },
          py::arg("dtype"));
  cls.def("float", [](const Tensor& t) { return tt::astype(t, DType::Float32); });
  cls.def("double", [](const Tensor& t) { return tt::astype(t, DType::Float64); });
  cls.def("long", [](const Tensor& t) { return tt::astype(t, DType::Int64); });
  cls.def("bool", [](const Tensor& t) { return tt::astype(t, DType::Bool); });
  cls.def("clone", [](const Tensor& t) {
    // Inside a graph the copy is recorded (t + 0, an AddBackward), as PyTorch's clone is differentiable.
    if (tt::needs_grad(t)) return tt::add(t, tt::ops::scalar_tensor(0, t.dtype()));
    return tt::ops::clone(t);
  });
  cls.def("contiguous", [](const Tensor& t) { return tt::contiguous(t); });
  cls.def("detach", [](const Tensor& t) { return tt::detach(t); });
}

void bind_tensor(py::module_& m) {
  TensorClass cls = define_class(m);
  bind_geometry(cls);
  bind_numpy_interop(cls);
  bind_conversions(cls);
}

}  // namespace ttpy
