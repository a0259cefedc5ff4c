// Views and shape methods: reshape/view, transpose, permute, .T, expand,
// squeeze, unsqueeze, flatten. The views share storage (core/views.cpp);
// their backward nodes are in autograd/backward.h.
#include "python/bindings.h"

namespace ttpy {

// np.reshape(t, shape) calls t.reshape(shape, order="C") (numpy 2 adds copy=None).
static Tensor reshape_method(const Tensor& t, const py::args& args, const py::kwargs& kwargs) {
  for (auto kv : kwargs) {
    std::string k = py::str(kv.first);
    bool ok = (k == "order" && (kv.second.is_none() || py::str(kv.second).cast<std::string>() == "C")) ||
              (k == "copy" && kv.second.is_none());
    if (!ok)
      throw tt::TypeError("reshape: unsupported argument " + k + "=" + std::string(py::repr(kv.second)) +
                          " (tinytorch reshapes in row-major 'C' order)");
  }
  return tt::reshape(t, shape_from_args(args, "reshape"));
}

static Tensor transpose_method(const Tensor& t, std::optional<int64_t> d0, std::optional<int64_t> d1) {
  if (!d0 && !d1) {
    // TinyTorch: no arguments swaps the last two axes; 0-D and 1-D come
    // back unchanged like numpy's .T (np.transpose(t) calls t.transpose(None)).
    if (t.dim() < 2) return tt::permute(t, t.dim() == 1 ? std::vector<int64_t>{0} : std::vector<int64_t>{});
    return tt::transpose(t, -2, -1);
  }
  if (!d0 || !d1) throw tt::ValueError("transpose: pass both dim0 and dim1, or neither to swap the last two axes");
  return tt::transpose(t, *d0, *d1);
}

void bind_views(py::module_& m) {
  TensorClass cls = tensor_class(m);
  cls.def("reshape", &reshape_method);
  cls.def("view", [](const Tensor& t, const py::args& args) { return tt::reshape(t, shape_from_args(args, "view")); });
  cls.def("transpose", &transpose_method, py::arg("dim0") = py::none(), py::arg("dim1") = py::none());
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
}

}  // namespace ttpy
