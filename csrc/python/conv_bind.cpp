// tinytorch._C.conv2d and max_pool2d: the fused convolution and max pooling (csrc/ops/conv.cpp,
// csrc/ops/pool.cpp; nodes in csrc/autograd/conv.h).
// tinytorch.core.spatial validates the arguments first and calls this unless a course
// override is active; the C++ side checks them again, so a direct call cannot crash.
#include "autograd/conv.h"
#include "autograd/grad_mode.h"
#include "python/convert.h"

namespace ttpy {

void bind_conv(py::module_& m) {
  m.def("conv2d", [](const Tensor& x, const Tensor& w, std::optional<Tensor> b, Pair stride, Pair padding) {
    if (w.dim() != 4)
      throw tt::ValueError("conv2d: weight must be 4-D (out_channels, in_channels, kh, kw), got shape " +
                           tt::shape_str(w.shape()));
    const tt::ops::Window2d g = image_window(x, {w.shape()[2], w.shape()[3]}, stride, padding);
    const Tensor bias = b ? *b : Tensor();
    if (tt::AnomalyMode::is_enabled()) return tt::conv2d(x, w, bias, g);  // the node records the Python stack
    py::gil_scoped_release nogil;
    return tt::conv2d(x, w, bias, g);
  }, py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("stride") = Pair{1, 1},
     py::arg("padding") = Pair{0, 0},
     "Fused 2-D convolution (no dilation or groups): x (N, C, H, W), weight (O, C, kh, kw), bias (O,) or None.");

  m.def("max_pool2d", [](const Tensor& x, Pair kernel, Pair stride, Pair padding) {
    const tt::ops::Window2d g = image_window(x, kernel, stride, padding);
    if (tt::AnomalyMode::is_enabled()) return tt::max_pool2d(x, g);
    py::gil_scoped_release nogil;
    return tt::max_pool2d(x, g);
  }, py::arg("x"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding") = Pair{0, 0},
     "Fused 2-D max pooling: the max over each window of each channel; ties share the gradient equally.");
}

}  // namespace ttpy
