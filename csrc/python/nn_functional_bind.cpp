// Neural-network functions with their own backward rule: dropout,
// layer_norm, the losses, and the window ops im2col/col2im that
// tinytorch.core.spatial builds convolution and pooling from.
#include "python/bindings.h"

namespace ttpy {

static void bind_windows(py::module_& m) {
  m.def("im2col", [](const py::handle& x, Pair kernel, Pair stride, Pair padding, double pad_value) {
    Tensor t = as_tensor(x);
    const tt::ops::Window2d g = image_window(t, kernel, stride, padding);
    tt::ops::check_window(g, t.shape(), "im2col");
    return tt::im2col(t, g, pad_value);
  }, py::arg("x"), py::arg("kernel_size"), py::arg("stride") = Pair{1, 1}, py::arg("padding") = Pair{0, 0},
     py::arg("pad_value") = 0.0);
  m.def("col2im", [](const py::handle& cols, Pair output_size, Pair kernel, Pair stride, Pair padding) {
    Tensor t = as_tensor(cols);
    int64_t kk = 0;  // checked: a (2**32, 2**32) kernel wrapped to 0 and divided by it
    if (t.dim() != 3 || kernel.first < 1 || kernel.second < 1 ||
        __builtin_mul_overflow(kernel.first, kernel.second, &kk) || t.shape()[1] % kk != 0)
      throw tt::ValueError("col2im: columns must be (batch, channels * kh * kw, positions) for kernel (" +
                           std::to_string(kernel.first) + ", " + std::to_string(kernel.second) + "), got shape " +
                           tt::shape_str(t.shape()));
    tt::ops::Window2d g{t.shape()[1] / kk, output_size.first, output_size.second, kernel.first, kernel.second,
                        stride.first, stride.second, padding.first, padding.second};
    return tt::col2im(t, g);
  }, py::arg("cols"), py::arg("output_size"), py::arg("kernel_size"), py::arg("stride") = Pair{1, 1},
     py::arg("padding") = Pair{0, 0});
}

static void bind_layers_and_losses(py::module_& m) {
  m.def("dropout", [](const Tensor& x, double p, bool training) { return tt::dropout(x, p, training); },
        py::arg("x"), py::arg("p") = 0.5, py::arg("training") = true);
  m.def("layer_norm", [](const Tensor& x, const Tensor& g, const Tensor& b, double eps) {
    return tt::layer_norm(x, g, b, eps);
  }, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("eps") = 1e-5);
  m.def("cross_entropy", [](const Tensor& logits, const py::handle& targets, int64_t ignore_index) {
    return tt::cross_entropy(logits, as_index(targets, "cross_entropy"), ignore_index);
  }, py::arg("logits"), py::arg("targets"), py::arg("ignore_index") = -100);
  m.def("mse_loss", [](const Tensor& p, const py::handle& t) { return tt::mse_loss(p, operand(t, p)); },
        py::arg("pred"), py::arg("target"));
  m.def("binary_cross_entropy", [](const Tensor& p, const py::handle& t) { return tt::bce_loss(p, operand(t, p)); },
        py::arg("pred"), py::arg("target"));
}

void bind_nn_functions(py::module_& m) {
  bind_windows(m);
  bind_layers_and_losses(m);
}

}  // namespace ttpy
