// Elementwise ops, each bound once as a tinytorch function and, where it has
// one, as a Tensor method: the unary ops of autograd/ops.def, gelu, clip,
// where, masked_fill, the binary arithmetic functions and matmul.
#include "python/bindings.h"

namespace ttpy {

using UO = tt::ops::UnaryOp;
using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

static void bind_unary(py::module_& m, TensorClass& cls) {
  // tinytorch.exp(x) and x.exp(), ... one pair per line of autograd/ops.def.
#define TT_UNARY_OP(NAME, OP, NODE, SAVES)                                                                   \
  m.def(#NAME, [](const py::handle& x) { return tt::apply_unary(UO::OP, as_tensor(x)); }, py::arg("x")); \
  cls.def(#NAME, [](const Tensor& a) { return tt::apply_unary(UO::OP, a); });
#include "autograd/ops.def"
#undef TT_UNARY_OP
}

static UO gelu_form(const std::string& approximate) {
  if (approximate != "tanh" && approximate != "none")
    throw tt::ValueError("gelu: approximate must be 'tanh' or 'none', got '" + approximate + "'");
  return approximate == "none" ? UO::GeluErf : UO::GeluTanh;
}

static void bind_gelu_and_clip(py::module_& m, TensorClass& cls) {
  m.def("gelu", [](const py::handle& x, const std::string& approximate) {
    return tt::apply_unary(gelu_form(approximate), as_tensor(x));
  }, py::arg("x"), py::arg("approximate") = "tanh");
  cls.def("gelu", [](const Tensor& a, const std::string& approximate) { return tt::apply_unary(gelu_form(approximate), a); },
          py::arg("approximate") = "tanh");
  m.def("clip", [](const py::handle& x, std::optional<double> lo, std::optional<double> hi) {
    return tt::clip(as_tensor(x), lo, hi);
  }, py::arg("x"), py::arg("min") = py::none(), py::arg("max") = py::none());
  cls.def("clip", [](const Tensor& a, std::optional<double> lo, std::optional<double> hi, const py::handle& out) {
    check_no_out(out, "clip");
    return tt::clip(a, lo, hi);
  }, py::arg("min") = py::none(), py::arg("max") = py::none(), py::kw_only(), py::arg("out") = py::none());
  cls.def("clamp", [](const Tensor& a, std::optional<double> lo, std::optional<double> hi) { return tt::clip(a, lo, hi); },
          py::arg("min") = py::none(), py::arg("max") = py::none());
}

static void bind_selection(py::module_& m, TensorClass& cls) {
  m.def("where", [](const py::handle& c, const py::handle& a, const py::handle& b) {
    Tensor tc = as_tensor(c);
    Tensor ta = py::isinstance<tt::TensorImpl>(a) ? a.cast<Tensor>() : Tensor();
    Tensor tb = py::isinstance<tt::TensorImpl>(b) ? b.cast<Tensor>() : Tensor();
    if (!ta.defined() && !tb.defined()) ta = as_tensor(a);  // two scalars: a decides the dtype
    if (!ta.defined()) ta = operand(a, tb);
    if (!tb.defined()) tb = operand(b, ta);
    return tt::where(tc, ta, tb);
  }, py::arg("cond"), py::arg("a"), py::arg("b"));
  m.def("masked_fill", [](const py::handle& x, const py::handle& mask, double v) {
    return tt::masked_fill(as_tensor(x), as_tensor(mask), v);
  }, py::arg("x"), py::arg("mask"), py::arg("value"));
  cls.def("masked_fill", [](const Tensor& a, const py::handle& mask, double v) {
    return tt::masked_fill(a, operand(mask, a), v);
  }, py::arg("mask"), py::arg("value"));
}

// tinytorch.add(a, b): either side may be a Python number or array, as with operators.
static void bind_binary(py::module_& m, TensorClass& cls) {
  auto bin = [&](const char* name, BinaryFn f, bool method) {
    m.def(name, [f](const py::handle& a, const py::handle& b) {
      if (py::isinstance<tt::TensorImpl>(a)) {
        Tensor ta = a.cast<Tensor>();
        return f(ta, operand(b, ta));
      }
      Tensor tb = as_tensor(b);
      return f(operand(a, tb), tb);
    }, py::arg("a"), py::arg("b"));
    if (method) cls.def(name, [f](const Tensor& a, const py::handle& b) { return f(a, operand(b, a)); }, py::arg("other"));
  };
  bin("add", &tt::add, false);
  bin("sub", &tt::sub, false);
  bin("mul", &tt::mul, false);
  bin("div", &tt::div, false);
  bin("pow", &tt::pow, false);
  bin("maximum", &tt::maximum, true);
  bin("minimum", &tt::minimum, true);
  m.def("matmul", [](const py::handle& a, const py::handle& b) {
    Tensor ta = as_tensor(a), tb = as_tensor(b);
    return maybe_nogil(ta.numel() * tb.numel(), [&] { return tt::matmul(ta, tb); });
  }, py::arg("a"), py::arg("b"));
  cls.def("matmul", [](const Tensor& a, const py::handle& b) { return tt::matmul(a, operand(b, a)); }, py::arg("other"));
}

void bind_elementwise(py::module_& m) {
  TensorClass cls = tensor_class(m);
  bind_unary(m, cls);
  bind_gelu_and_clip(m, cls);
  bind_selection(m, cls);
  bind_binary(m, cls);
}

}  // namespace ttpy
