// LayerNorm over the last dim with a backward that is one pass of plain
// kernels (per row: two dot-like reductions and one fused update, plus the
// gamma/beta column sums). The generic LayerNormBackward of csrc/autograd
// composes about ten elementwise and reduction ops per call, which at
// transformer sizes costs more than the GEMMs around it. When backward runs
// with create_graph=True the same formula is evaluated with differentiable
// ops instead, so double backward still works.
#include <cmath>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive inside xsimd's AVX-512 code
#include <xsimd/xsimd.hpp>

#include "autograd/api.h"
#include "autograd/grad_mode.h"
#include "core/profiler.h"
#include "nn/nn_backward.h"
#include "ops/ops.h"

namespace tt::nn {

namespace {

template <class T>
T row_sum(const T* x, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  B acc(T(0));
  int64_t j = 0;
  for (; j + W <= n; j += W) acc += B::load_unaligned(x + j);
  T s = xsimd::hadd(acc);
  for (; j < n; ++j) s += x[j];
  return s;
}

template <class T>
T row_dot(const T* a, const T* b, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  B acc(T(0));
  int64_t j = 0;
  for (; j + W <= n; j += W) acc = xsimd::fma(B::load_unaligned(a + j), B::load_unaligned(b + j), acc);
  T s = xsimd::hadd(acc);
  for (; j < n; ++j) s += a[j] * b[j];
  return s;
}

// Two passes per row (mean, then the centered sum of squares): as accurate as
// the textbook formula needs, and each pass is a vectorized reduction.
template <class T>
void forward_kernel(const T* x, const T* g, const T* b, T* y, T* mean, T* rstd, int64_t M, int64_t D, double eps,
                    T* centered) {
  for (int64_t i = 0; i < M; ++i) {
    const T* r = x + i * D;
    const T mu = row_sum(r, D) / T(D);
    for (int64_t j = 0; j < D; ++j) centered[j] = r[j] - mu;
    const T rs = T(1) / std::sqrt(row_dot(centered, centered, D) / T(D) + T(eps));
    T* o = y + i * D;
    for (int64_t j = 0; j < D; ++j) o[j] = centered[j] * rs * g[j] + b[j];
    mean[i] = mu;
    rstd[i] = rs;
  }
}

// gx = rstd * (gxh - mean(gxh) - xhat * mean(gxh * xhat)), gxh = gy * gamma;
// ggamma = sum over rows of gy * xhat; gbeta = sum over rows of gy.
template <class T>
void backward_kernel(const T* gy, const T* x, const T* g, const T* mean, const T* rstd, T* gx, T* gg, T* gb,
                     int64_t M, int64_t D, T* xhat, T* gxh) {
  for (int64_t i = 0; i < M; ++i) {
    const T* r = x + i * D;
    const T* gr = gy + i * D;
    const T mu = mean[i], rs = rstd[i];
    for (int64_t j = 0; j < D; ++j) xhat[j] = (r[j] - mu) * rs;
    if (gg)
      for (int64_t j = 0; j < D; ++j) gg[j] += gr[j] * xhat[j];
    if (gb)
      for (int64_t j = 0; j < D; ++j) gb[j] += gr[j];
    if (!gx) continue;
    for (int64_t j = 0; j < D; ++j) gxh[j] = gr[j] * g[j];
    const T m1 = row_sum(gxh, D) / T(D), m2 = row_dot(gxh, xhat, D) / T(D);
    T* o = gx + i * D;
    for (int64_t j = 0; j < D; ++j) o[j] = rs * (gxh[j] - m1 - xhat[j] * m2);
  }
}

bool requires_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

}  // namespace

Tensor layer_norm(const Tensor& x_in, const Tensor& gamma, const Tensor& beta, double eps) {
  if (x_in.dim() < 1) fail<ValueError>("LayerNorm: input must have at least 1 dimension");
  const int64_t D = x_in.shape().back();
  if (gamma.shape() != Shape{D} || beta.shape() != Shape{D})
    fail<ValueError>("LayerNorm: gamma and beta must have shape (", D, ",) to match the input of shape ",
                     shape_str(x_in.shape()), "; got ", shape_str(gamma.shape()), " and ", shape_str(beta.shape()));
  if (!is_floating(x_in.dtype()) || gamma.dtype() != x_in.dtype() || beta.dtype() != x_in.dtype())
    return tt::layer_norm(x_in, gamma, beta, eps);  // mixed dtypes: the generic op converts
  const DType dt = x_in.dtype();
  prof::KernelTimer timer("layer_norm");  // forward kernel time when profiling; a flag test when off
  Tensor x = ops::contiguous(x_in), g = ops::contiguous(gamma), b = ops::contiguous(beta);
  const int64_t M = D ? x.numel() / D : 0;
  Tensor y = Tensor::empty(x.shape(), dt), mean = Tensor::empty({M}, dt), rstd = Tensor::empty({M}, dt);
  dispatch_float(dt, "LayerNorm", [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> centered(static_cast<size_t>(D));
    forward_kernel<T>(x.data<T>(), g.data<T>(), b.data<T>(), y.data<T>(), mean.data<T>(), rstd.data<T>(), M, D, eps,
                      centered.data());
  });
  if (GradMode::is_enabled() && (requires_grad(x_in) || requires_grad(gamma) || requires_grad(beta))) {
    auto n = std::make_shared<LayerNormBackward>();
    n->next_edges = {gradient_edge(x_in), gradient_edge(gamma), gradient_edge(beta)};
    n->x = SavedTensor(x_in);
    n->gamma = SavedTensor(gamma);
    n->mean = SavedTensor(mean);
    n->rstd = SavedTensor(rstd);
    n->eps = eps;
    set_history(y, n);
  }
  return y;
}

TensorList LayerNormBackward::apply(TensorList&& grads) {
  check_not_released();
  Tensor X = x.unpack(*this), G = gamma.unpack(*this);
  const Tensor& gy = grads[0];
  const bool want_x = next_edges[0].valid(), want_g = next_edges[1].valid(), want_b = next_edges[2].valid();
  if (GradMode::is_enabled()) {
    // create_graph: the same formula with differentiable ops, mean and rstd as functions of x.
    Tensor mu = tt::mean(X, {-1}, true);
    Tensor rs = div(scalar_like(1, X), sqrt(add(var(X, {-1}, 0, true), scalar_like(eps, X))));
    Tensor xhat = mul(sub(X, mu), rs);
    Tensor gx, gg, gb;
    if (want_x) {
      Tensor gxh = mul(gy, G);
      gx = mul(rs, sub(sub(gxh, tt::mean(gxh, {-1}, true)), mul(xhat, tt::mean(mul(gxh, xhat), {-1}, true))));
    }
    if (want_g) gg = sum_to(mul(gy, xhat), G.shape());
    if (want_b) gb = sum_to(gy, G.shape());
    return {gx, gg, gb};
  }
  const DType dt = X.dtype();
  const int64_t D = X.shape().back(), M = D ? X.numel() / D : 0;
  Tensor xc = ops::contiguous(X), gc = ops::contiguous(G), gyc = ops::contiguous(astype(gy, dt));
  Tensor mu = mean.unpack(*this), rs = rstd.unpack(*this);
  Tensor gx = want_x ? Tensor::empty(X.shape(), dt) : Tensor();
  Tensor gg = want_g ? ops::full({D}, 0.0, dt) : Tensor();
  Tensor gb = want_b ? ops::full({D}, 0.0, dt) : Tensor();
  dispatch_float(dt, "LayerNorm backward", [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> xhat(static_cast<size_t>(D)), gxh(static_cast<size_t>(D));
    backward_kernel<T>(gyc.data<T>(), xc.data<T>(), gc.data<T>(), mu.data<T>(), rs.data<T>(),
                       want_x ? gx.data<T>() : nullptr, want_g ? gg.data<T>() : nullptr,
                       want_b ? gb.data<T>() : nullptr, M, D, xhat.data(), gxh.data());
  });
  return {gx, gg, gb};
}

}  // namespace tt::nn
