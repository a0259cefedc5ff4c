// The kernels of the fused Linear (y = x @ w + b as one GEMM, see
// autograd/fused_ops.cpp) beyond the GEMM itself: the bias added in place,
// the bias gradient as column sums, and GELU's forward and derivative in one
// vectorized pass each. At transformer sizes GELUBackward's chain of
// elementwise ops over the (rows, 4 * embed) hidden layer costs more than
// the GEMMs around it.
#include <cmath>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive inside xsimd's AVX-512 code
#include <xsimd/xsimd.hpp>

#include "ops/gelu.h"
#include "ops/nn_kernels.h"
#include "ops/ops.h"

namespace tt::ops {

namespace {

// tanh(v) as 1 - 2 / (exp(2v) + 1): one vectorized exp and one division,
// cheaper than xsimd::tanh; exact enough (relative error ~1e-7 in float32,
// and it saturates correctly: exp overflow gives 1, underflow gives -1).
template <class B>
B fast_tanh(const B& v) {
  using T = typename B::value_type;
  return B(T(1)) - B(T(2)) / (xsimd::exp(v + v) + B(T(1)));
}

// y = 0.5 u (1 + t), t = tanh(k (u + c u^3)): the same function as tt.gelu(approximate='tanh').
template <class T>
void gelu_forward(const T* u, T* y, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  // (copy-initialized: brace-initializing a batch from one scalar sets only lane 0)
  const B half = B(T(0.5)), one = B(T(1)), k = B(T(kGeluK)), c = B(T(kGeluC));
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    B v = B::load_unaligned(u + i);
    (half * v * (one + fast_tanh(k * (v + c * v * v * v)))).store_unaligned(y + i);
  }
  for (; i < n; ++i) y[i] = T(0.5) * u[i] * (T(1) + std::tanh(T(kGeluK) * (u[i] + T(kGeluC) * u[i] * u[i] * u[i])));
}

// gu = g * gelu'(u), gelu'(u) = 0.5 (1 + t) + 0.5 u (1 - t^2) k (1 + 3 c u^2). t is recomputed
// rather than saved: at large sizes the extra memory traffic costs more than the exp.
template <class T>
void gelu_backward(const T* g, const T* u, T* gu, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  const B half = B(T(0.5)), one = B(T(1)), k = B(T(kGeluK)), c = B(T(kGeluC)), c3 = B(T(3 * kGeluC));
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    B v = B::load_unaligned(u + i), v2 = v * v;
    B t = fast_tanh(k * (v + c * v2 * v));
    B d = half * (one + t) + half * v * (one - t * t) * k * (one + c3 * v2);
    (B::load_unaligned(g + i) * d).store_unaligned(gu + i);
  }
  for (; i < n; ++i) {
    const T v = u[i], t = std::tanh(T(kGeluK) * (v + T(kGeluC) * v * v * v));
    gu[i] = g[i] * (T(0.5) * (1 + t) + T(0.5) * v * (1 - t * t) * T(kGeluK) * (1 + T(3 * kGeluC) * v * v));
  }
}

}  // namespace

void add_bias_columns(Tensor& y, const std::vector<Tensor>& biases, const std::vector<int64_t>& widths) {
  dispatch_float(y.dtype(), "Linear", [&](auto tag) {
    using T = decltype(tag);
    T* py = y.data<T>();
    const int64_t rows = y.shape()[0], ld = y.shape()[1];
    int64_t off = 0;
    for (size_t i = 0; i < biases.size(); off += widths[i], ++i) {
      if (!biases[i].defined()) continue;
      Tensor bc = contiguous(biases[i]);
      const T* pb = bc.data<T>();
      const int64_t n = widths[i];
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n; ++j) py[r * ld + off + j] += pb[j];
    }
  });
}

// A plain loop down the rows (the inner loop runs along a row and vectorizes):
// lazy leading-axis reductions are slow (see the design guide).
Tensor sum_rows(const Tensor& g2, int64_t off, int64_t n) {
  Tensor g = contiguous(g2);
  const int64_t rows = g.shape()[0], ld = g.shape()[1];
  Tensor out = full({n}, 0.0, g.dtype());
  dispatch_float(g.dtype(), "Linear backward", [&](auto tag) {
    using T = decltype(tag);
    const T* p = g.data<T>() + off;
    T* o = out.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < n; ++j) o[j] += p[r * ld + j];
  });
  return out;
}

Tensor gelu_tanh_fast(const Tensor& u) {
  Tensor y = Tensor::empty(u.shape(), u.dtype());
  dispatch_float(u.dtype(), "Linear", [&](auto tag) {
    using T = decltype(tag);
    gelu_forward<T>(u.data<T>(), y.data<T>(), y.numel());
  });
  return y;
}

Tensor gelu_tanh_backward(const Tensor& g, const Tensor& u) {
  Tensor gc = contiguous(astype(g, u.dtype()));
  Tensor gu = Tensor::empty(u.shape(), u.dtype());
  dispatch_float(u.dtype(), "Linear backward", [&](auto tag) {
    using T = decltype(tag);
    gelu_backward<T>(gc.data<T>(), u.data<T>(), gu.data<T>(), u.numel());
  });
  return gu;
}

}  // namespace tt::ops
