// GELU's tanh approximation, written once:
//   gelu(u)  = 0.5 u (1 + t),  t = tanh(k (u + c u^3)),  k = sqrt(2 / pi),  c = 0.044715
//   gelu'(u) = 0.5 (1 + t) + 0.5 u (1 - t^2) k (1 + 3 c u^2)
// The forward is the one elementwise kernel behind tt.gelu(approximate='tanh')
// and the fused Linear + GELU (ops/elementwise.cpp, UnaryOp::GeluTanh); the
// derivative is the one kernel behind both backward rules (gelu_tanh_backward,
// also in ops/elementwise.cpp). Their create_graph forms compose the same
// formula from differentiable ops (autograd/fused_ops.cpp, gelu_tanh_derivative,
// which takes only the constants from here).
#pragma once
#include <xsimd/xsimd.hpp>

namespace tt::ops {

constexpr double kGeluK = 0.7978845608028654;  // sqrt(2 / pi)
constexpr double kGeluC = 0.044715;

// tanh(v) as 1 - 2 / (exp(2v) + 1): one vectorized exp and one division,
// cheaper than xsimd::tanh. Near 0 the subtraction loses relative accuracy
// in t, but gelu only ever uses 1 + t, whose error stays ~1e-7 (float32);
// it saturates correctly (exp overflow gives 1, underflow -1).
template <class B>
B gelu_fast_tanh(const B& v) {
  using T = typename B::value_type;
  return B(T(1)) - B(T(2)) / (xsimd::exp(v + v) + B(T(1)));
}

// (the constants are copy-initialized: brace-initializing a batch from one scalar sets only lane 0)
template <class B>
B gelu_tanh(const B& u) {
  using T = typename B::value_type;
  const B half = B(T(0.5)), one = B(T(1)), k = B(T(kGeluK)), c = B(T(kGeluC));
  return half * u * (one + gelu_fast_tanh(k * (u + c * u * u * u)));
}

// t is recomputed rather than saved: at large sizes the extra memory traffic costs more than the exp.
template <class B>
B gelu_tanh_grad(const B& u) {
  using T = typename B::value_type;
  const B half = B(T(0.5)), one = B(T(1)), k = B(T(kGeluK)), c = B(T(kGeluC)), c3 = B(T(3 * kGeluC));
  const B u2 = u * u, t = gelu_fast_tanh(k * (u + c * u2 * u));
  return half * (one + t) + half * u * (one - t * t) * k * (one + c3 * u2);
}

}  // namespace tt::ops
