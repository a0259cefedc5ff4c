// Conversions between Python objects and tensors, shared by the binding files.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "autograd/api.h"

namespace py = pybind11;

// Tensor is passed to and from Python as the TensorImpl it wraps.
namespace pybind11::detail {
template <>
struct type_caster<tt::Tensor> {
  PYBIND11_TYPE_CASTER(tt::Tensor, const_name("Tensor"));
  bool load(handle src, bool convert) {
    // None is not a Tensor: the holder caster would load it as a null pointer that
    // crashes the first kernel to touch it. Optional arguments are std::optional<Tensor>.
    if (src.is_none()) return false;
    make_caster<std::shared_ptr<tt::TensorImpl>> inner;
    if (!inner.load(src, convert)) return false;
    value = tt::Tensor(cast_op<std::shared_ptr<tt::TensorImpl>>(inner));
    return true;
  }
  static handle cast(const tt::Tensor& t, return_value_policy policy, handle parent) {
    if (!t.defined()) return none().release();
    return make_caster<std::shared_ptr<tt::TensorImpl>>::cast(t.impl, policy, parent);
  }
};
}  // namespace pybind11::detail

namespace ttpy {

using tt::DType;
using tt::Tensor;

// A conversion error raised where the called function's name is not known
// (turning an argument into a tensor or dtype). Every binding's shim
// (python/arg_errors.cpp) puts the name in front: "where: cannot make a tensor
// from str data; ...". It is a TypeError for Python.
struct ArgumentError : tt::TypeError {
  using tt::TypeError::TypeError;
};

DType dtype_from_py(const py::handle& obj);     // np.float32, "float32", float, tt.float32 ...
py::dtype numpy_dtype(DType d);
// Tensor from any Python data (scalar, nested list, ndarray, Tensor). dtype None =
// TinyTorch's default: float data -> float32, numpy int arrays -> int64, bool -> bool.
Tensor tensor_from_py(const py::handle& data, const py::handle& dtype, bool allow_zero_copy = true);
// An operand next to a tensor: Python scalars take the tensor's kind (float
// scalar with an int tensor gives float32), everything else goes through tensor_from_py.
// Integers that do not fit an integer tensor raise OverflowError (numpy does
// too) instead of wrapping.
Tensor operand(const py::handle& obj, const Tensor& other);
// True for what operand() accepts (tensor, number, array, numpy scalar,
// list/tuple); comparisons return NotImplemented for anything else, so
// `t == None` is False as in PyTorch.
bool is_operand(const py::handle& obj);
// Raises Python's OverflowError (the core has no such exception type).
[[noreturn]] void raise_overflow(const std::string& msg);
// An integer argument (int, numpy integer, anything with __index__) or a
// TypeError naming `op` and `what`; too-large values raise ValueError.
int64_t int_from_py(const py::handle& obj, const char* op, const char* what);
// A flag argument: True/False (or a numpy bool); anything else is a TypeError naming `op` and `what`
// (pybind's own caster would answer with an "Unable to cast" or signature dump).
bool bool_from_py(const py::handle& obj, const char* op, const char* what);
// numpy array viewing the tensor's memory; it keeps the storage (not the
// tensor, whose storage `.data = ...` may swap) alive.
py::array to_numpy_view(const Tensor& t);
// A Python object holding one reference to t's storage (base of every export).
py::object storage_owner(const Tensor& t);
// The buffer protocol (memoryview(t)), each export owning the storage it views.
int tensor_getbuffer(PyObject* self, Py_buffer* view, int flags);
void tensor_releasebuffer(PyObject* self, Py_buffer* view);
// axis=None|int|sequence (and the dim= alias) to a list of axes (empty = all)
std::vector<int64_t> axes_from_py(const py::handle& axis, const char* op = "reduction");
// f(2, 3) or f((2, 3)) or f([2, 3]); TypeError for non-integers
tt::Shape shape_from_args(const py::args& args, const char* op = "shape");
tt::Shape shape_from_py(const py::handle& shape, const char* op);  // int or sequence of ints

// ---- argument helpers the binding files share ----
Tensor as_tensor(const py::handle& obj);                 // a Tensor as it is; other data through tensor_from_py

// (kh, kw), (sh, sw), ... as the window ops take them from Python.
using Pair = std::pair<int64_t, int64_t>;
// The window of a 2-D op (conv2d, max_pool2d, im2col) over an (N, C, H, W) image: C, H and W are
// read from x, and stay 0 for another rank, which the op's own check then names.
inline tt::ops::Window2d image_window(const Tensor& x, Pair kernel, Pair stride, Pair padding) {
  tt::ops::Window2d g{0, 0, 0, kernel.first, kernel.second, stride.first, stride.second, padding.first, padding.second};
  if (x.dim() == 4) {
    g.C = x.shape()[1];
    g.H = x.shape()[2];
    g.W = x.shape()[3];
  }
  return g;
}
Tensor as_index(const py::handle& obj, const char* op);  // an int64 index tensor (TypeError for other dtypes)
std::vector<Tensor> tensor_list(const py::handle& seq, const char* op);  // a non-empty list/tuple of tensors
void check_no_out(const py::handle& out, const char* op);  // numpy's out= keyword: only None is accepted
Tensor with_dtype(const Tensor& t, const py::handle& dtype);  // numpy's dtype= keyword: compute in that dtype
inline DType dtype_or(const py::handle& dtype, DType fallback) {
  return dtype.is_none() ? fallback : dtype_from_py(dtype);
}
// Big kernels run without the GIL so other Python threads keep going.
template <class F>
Tensor maybe_nogil(int64_t work, F&& f) {
  if (work < (1 << 16)) return f();
  py::gil_scoped_release nogil;
  return f();
}

}  // namespace ttpy
