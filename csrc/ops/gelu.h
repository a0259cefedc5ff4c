// The constants of GELU's tanh approximation,
//   gelu(x) = 0.5 x (1 + tanh(k (x + c x^3))),  k = sqrt(2 / pi),  c = 0.044715,
// written once for the elementwise kernel (ops/elementwise.cpp), the fused
// Linear + GELU kernel (ops/linear_kernels.cpp) and the derivative both
// backward rules use (autograd/fused_ops.cpp, gelu_tanh_derivative).
#pragma once

namespace tt::ops {

constexpr double kGeluK = 0.7978845608028654;  // sqrt(2 / pi)
constexpr double kGeluC = 0.044715;

}  // namespace tt::ops
