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

// With s = sigmoid(2 u') = (1 + tanh(u')) / 2, u' = k (u + c u^3), both are written without
// tanh: gelu(u) = u s = u / (1 + exp(-2 u')), and 1 - t^2 = 4 s (1 - s), so
// gelu'(u) = s + 2 u s (1 - s) k (1 + 3 c u^2). One exp and one division, and accurate in
// both tails: for u << 0 it divides by a large number instead of computing 1 + tanh(u')
// as a difference of two numbers near 1 (in float32 that difference was 0 for u < -5,
// where the true value is about -1e-6); exp overflow gives s = 0, underflow s = 1.
// 1 + exp(-2 u'): the denominator both formulas share.
// (the constants are copy-initialized: brace-initializing a batch from one scalar sets only lane 0)
template <class B>
B gelu_denominator(const B& u) {
  using T = typename B::value_type;
  const B one = B(T(1)), m2k = B(T(-2 * kGeluK)), c = B(T(kGeluC));
  return one + xsimd::exp(m2k * (u + c * u * u * u));
}

template <class B>
B gelu_tanh(const B& u) {
  return u / gelu_denominator(u);
}

// s is recomputed rather than saved: at large sizes the extra memory traffic costs more than the exp.
template <class B>
B gelu_tanh_grad(const B& u) {
  using T = typename B::value_type;
  const B one = B(T(1)), two_k = B(T(2 * kGeluK)), c3 = B(T(3 * kGeluC));
  const B s = one / gelu_denominator(u);
  return s + two_k * u * s * (one - s) * (one + c3 * u * u);
}

}  // namespace tt::ops
