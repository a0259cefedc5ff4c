// Reductions and normalisations, each bound once as a Tensor method and as a
// tinytorch function: sum, mean, max, min, prod, logsumexp, var, std, argmax,
// argmin, softmax, log_softmax. numpy's names axis/keepdims and PyTorch's
// dim/keepdim are both accepted; numpy's functions call the methods with
// dtype= and out= (np.sum(t) is t.sum(axis=None, dtype=None, out=None)), so
// dtype converts first and out must stay None.
#include "python/bindings.h"

namespace ttpy {

using AxesReduction = Tensor (*)(const Tensor&, const std::vector<int64_t>&, bool);

// PyTorch's dim=/keepdim= spellings win over numpy's axis=/keepdims= when given.
static bool keepdims_of(const py::handle& keepdims, const py::handle& keepdim, const char* op) {
  return bool_from_py(keepdim.is_none() ? keepdims : keepdim, op, "keepdims");
}
static py::handle axis_of(const py::handle& axis, const py::handle& dim) { return dim.is_none() ? axis : dim; }

// Binds `name` as method and function: f(x, axis=None, keepdims=False, *, dim, keepdim, dtype, out).
static void bind_axes_reduction(py::module_& m, TensorClass& cls, const char* name, AxesReduction f) {
  auto run = [name, f](const Tensor& t, const py::handle& axis, const py::handle& keepdims, const py::handle& dim,
                       const py::handle& keepdim, const py::handle& dtype, const py::handle& out) {
    bool keep = keepdims_of(keepdims, keepdim, name);
    check_no_out(out, name);
    return f(with_dtype(t, dtype), axes_from_py(axis_of(axis, dim), name), keep);
  };
  cls.def(name, run, py::arg("axis") = py::none(), py::arg("keepdims") = false, py::kw_only(),
          py::arg("dim") = py::none(), py::arg("keepdim") = py::none(), py::arg("dtype") = py::none(),
          py::arg("out") = py::none());
  m.def(name, [run](const py::handle& x, const py::handle& axis, const py::handle& keepdims, const py::handle& dim,
                    const py::handle& keepdim, const py::handle& dtype, const py::handle& out) {
    return run(as_tensor(x), axis, keepdims, dim, keepdim, dtype, out);
  }, py::arg("x"), py::arg("axis") = py::none(), py::arg("keepdims") = false, py::kw_only(),
     py::arg("dim") = py::none(), py::arg("keepdim") = py::none(), py::arg("dtype") = py::none(),
     py::arg("out") = py::none());
}

// var and std: numpy's ddof (default 0) between axis and keepdims.
static void bind_spread(py::module_& m, TensorClass& cls, const char* name, bool is_std) {
  auto run = [name, is_std](const Tensor& t, const py::handle& axis, const py::handle& ddof_in,
                            const py::handle& keepdims, const py::handle& dim, const py::handle& keepdim,
                            const py::handle& dtype, const py::handle& out) {
    bool keep = keepdims_of(keepdims, keepdim, name);
    int64_t ddof = int_from_py(ddof_in, name, "ddof");
    check_no_out(out, name);
    auto axes = axes_from_py(axis_of(axis, dim), name);
    Tensor x = with_dtype(t, dtype);
    return is_std ? tt::std(x, axes, ddof, keep) : tt::var(x, axes, ddof, keep);
  };
  cls.def(name, run, py::arg("axis") = py::none(), py::arg("ddof") = 0, py::arg("keepdims") = false, py::kw_only(),
          py::arg("dim") = py::none(), py::arg("keepdim") = py::none(), py::arg("dtype") = py::none(),
          py::arg("out") = py::none());
  m.def(name, [run](const py::handle& x, const py::handle& axis, const py::handle& ddof, const py::handle& keepdims,
                    const py::handle& dim, const py::handle& keepdim, const py::handle& dtype, const py::handle& out) {
    return run(as_tensor(x), axis, ddof, keepdims, dim, keepdim, dtype, out);
  }, py::arg("x"), py::arg("axis") = py::none(), py::arg("ddof") = 0, py::arg("keepdims") = false, py::kw_only(),
     py::arg("dim") = py::none(), py::arg("keepdim") = py::none(), py::arg("dtype") = py::none(),
     py::arg("out") = py::none());
}

// argmax/argmin: one axis or None (all elements); never differentiable.
static void bind_arg_extremum(py::module_& m, TensorClass& cls, const char* name, bool is_max) {
  auto run = [name, is_max](const Tensor& t, const py::handle& axis_in, const py::handle& keepdims,
                            const py::handle& dim, const py::handle& keepdim, const py::handle& out) {
    py::handle axis = axis_of(axis_in, dim);
    bool keep = keepdims_of(keepdims, keepdim, name);
    check_no_out(out, name);
    std::optional<int64_t> ax;
    if (!axis.is_none()) {
      if (PyTuple_Check(axis.ptr()) || PyList_Check(axis.ptr()))
        throw tt::TypeError(std::string(name) + ": axis must be a single int or None, got " +
                            std::string(py::repr(axis)) + "; flatten the axes first (reshape) to search several");
      ax = int_from_py(axis, name, "axis");
    }
    return is_max ? tt::ops::argmax(t, ax, keep) : tt::ops::argmin(t, ax, keep);
  };
  cls.def(name, run, py::arg("axis") = py::none(), py::arg("keepdims") = false, py::kw_only(),
          py::arg("dim") = py::none(), py::arg("keepdim") = py::none(), py::arg("out") = py::none());
  m.def(name, [run](const py::handle& x, const py::handle& axis, const py::handle& keepdims, const py::handle& dim,
                    const py::handle& keepdim, const py::handle& out) {
    return run(as_tensor(x), axis, keepdims, dim, keepdim, out);
  }, py::arg("x"), py::arg("axis") = py::none(), py::arg("keepdims") = false, py::kw_only(),
     py::arg("dim") = py::none(), py::arg("keepdim") = py::none(), py::arg("out") = py::none());
}

static void bind_softmax(py::module_& m, TensorClass& cls) {
  m.def("softmax", [](const py::handle& x, int64_t axis) { return tt::softmax(as_tensor(x), axis); },
        py::arg("x"), py::arg("axis") = -1);
  cls.def("softmax", [](const Tensor& t, int64_t axis) { return tt::softmax(t, axis); }, py::arg("axis") = -1);
  m.def("log_softmax", [](const py::handle& x, int64_t axis) { return tt::log_softmax(as_tensor(x), axis); },
        py::arg("x"), py::arg("axis") = -1);
  cls.def("log_softmax", [](const Tensor& t, int64_t axis) { return tt::log_softmax(t, axis); }, py::arg("axis") = -1);
  m.def("_sum_to", [](const Tensor& g, const std::vector<int64_t>& shape) { return tt::sum_to(g, shape); });
}

void bind_reductions(py::module_& m) {
  TensorClass cls = tensor_class(m);
  bind_axes_reduction(m, cls, "sum", &tt::sum);
  bind_axes_reduction(m, cls, "mean", &tt::mean);
  bind_axes_reduction(m, cls, "max", &tt::amax);
  bind_axes_reduction(m, cls, "min", &tt::amin);
  bind_axes_reduction(m, cls, "prod", &tt::prod);  // differentiable: ProdBackward (autograd/backward.h)
  bind_axes_reduction(m, cls, "logsumexp", &tt::logsumexp);
  bind_spread(m, cls, "var", false);
  bind_spread(m, cls, "std", true);
  bind_arg_extremum(m, cls, "argmax", true);
  bind_arg_extremum(m, cls, "argmin", false);
  bind_softmax(m, cls);
}

}  // namespace ttpy
