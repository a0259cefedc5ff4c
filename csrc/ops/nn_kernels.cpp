// The LayerNorm and cross-entropy kernels. LayerNorm's backward is one pass
// per row (two dot-like reductions and one fused update, plus the gamma/beta
// column sums): the same formula written with about ten elementwise and
// reduction ops costs more than the GEMMs around it at transformer sizes.
#include "ops/nn_kernels.h"

#include <cmath>
#include <vector>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive inside xsimd's AVX-512 code
#include <xsimd/xsimd.hpp>

#include "core/profiler.h"
#include "ops/ops.h"
#include "ops/parallel.h"

namespace tt::ops {

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
void layer_norm_rows(const T* x, const T* g, const T* b, T* y, T* mean, T* rstd, int64_t M, int64_t D, double eps,
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

// One pass per row: xhat, the two row means of the gx formula, the gamma/beta column sums.
template <class T>
void layer_norm_backward_rows(const T* gy, const T* x, const T* g, const T* mean, const T* rstd, T* gx, T* gg, T* gb,
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

}  // namespace

LayerNormResult layer_norm(const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in, double eps) {
  prof::KernelTimer timer("layer_norm");  // forward kernel time when profiling; a flag test when off
  if (x_in.dim() < 1) fail<ValueError>("layer_norm: input must have at least 1 dimension");
  const int64_t D = x_in.shape().back();
  if (gamma_in.shape() != Shape{D} || beta_in.shape() != Shape{D})
    fail<ValueError>("layer_norm: gamma and beta must have shape (", D, ",) to match the input's last dimension; got ",
                     shape_str(gamma_in.shape()), " and ", shape_str(beta_in.shape()));
  Tensor x = contiguous(promote_to_float(x_in));  // int inputs are normalized in float32
  const DType dt = x.dtype();
  Tensor gamma = contiguous(astype(gamma_in, dt)), beta = contiguous(astype(beta_in, dt));
  const int64_t M = D ? x.numel() / D : 0;
  LayerNormResult r{Tensor::empty(x.shape(), dt), Tensor::empty({M}, dt), Tensor::empty({M}, dt)};
  dispatch_float(dt, "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> centered(static_cast<size_t>(D));
    layer_norm_rows<T>(x.data<T>(), gamma.data<T>(), beta.data<T>(), r.out.data<T>(), r.mean.data<T>(),
                       r.rstd.data<T>(), M, D, eps, centered.data());
  });
  return r;
}

LayerNormGrads layer_norm_backward(const Tensor& gy, const Tensor& x_in, const Tensor& gamma_in, const Tensor& mean,
                                   const Tensor& rstd, bool want_x, bool want_gamma, bool want_beta) {
  const DType dt = mean.dtype();
  const int64_t D = x_in.shape().back(), M = D ? x_in.numel() / D : 0;
  Tensor x = contiguous(astype(x_in, dt)), gamma = contiguous(astype(gamma_in, dt)), g = contiguous(astype(gy, dt));
  LayerNormGrads r{want_x ? Tensor::empty(x.shape(), dt) : Tensor(), want_gamma ? full({D}, 0.0, dt) : Tensor(),
                   want_beta ? full({D}, 0.0, dt) : Tensor()};
  dispatch_float(dt, "layer_norm backward", [&](auto tag) {
    using T = decltype(tag);
    std::vector<T> xhat(static_cast<size_t>(D)), gxh(static_cast<size_t>(D));
    layer_norm_backward_rows<T>(g.data<T>(), x.data<T>(), gamma.data<T>(), mean.data<T>(), rstd.data<T>(),
                                want_x ? r.x.data<T>() : nullptr, want_gamma ? r.gamma.data<T>() : nullptr,
                                want_beta ? r.beta.data<T>() : nullptr, M, D, xhat.data(), gxh.data());
  });
  return r;
}

CrossEntropyResult cross_entropy(const Tensor& logits_in, const Tensor& targets_in, int64_t ignore_index) {
  prof::KernelTimer timer("cross_entropy");
  if (logits_in.dim() != 2) fail<ValueError>("cross_entropy: logits must be 2-D (N, C), got ", shape_str(logits_in.shape()));
  if (targets_in.dtype() != DType::Int64)
    fail<TypeError>("cross_entropy: targets must be int64 class indices, got ", dtype_name(targets_in.dtype()),
                    "; convert them with .long() or np.int64");
  const int64_t M = logits_in.shape()[0], C = logits_in.shape()[1];
  if (targets_in.shape() != Shape{M})
    fail<ValueError>("cross_entropy: targets of shape ", shape_str(targets_in.shape()), " do not match logits of shape ",
                     shape_str(logits_in.shape()), " (expected (", M, ",))");
  Tensor L = contiguous(promote_to_float(logits_in));  // int logits: computed in float32
  DType dt = L.dtype();
  Tensor T = contiguous(targets_in);
  CrossEntropyResult r{Tensor::empty({}, dt), Tensor::empty({M, 1}, dt), full({M, 2}, 0.0, dt)};
  dispatch_float(dt, "cross_entropy", [&](auto tag) {
    using F = decltype(tag);
    const F* pl = L.data<F>();
    const int64_t* pt = T.data<int64_t>();
    int64_t count = 0;
    for (int64_t i = 0; i < M; ++i) {
      int64_t t = pt[i];
      if (t == ignore_index) continue;
      if (t < 0 || t >= C)
        fail<IndexError>("cross_entropy: target ", t, " at position ", i, " is out of range for ", C, " classes");
      ++count;
    }
    // Rows in parallel (GPT-2's 50257-wide rows: one exp per logit was ~60 ms of a step on
    // one thread), each row's loss kept and summed afterwards in row order, so the total
    // rounds exactly as the serial loop did whatever the thread count.
    std::vector<double> row_loss(static_cast<size_t>(M), 0.0);
    F* stats = r.row_stats.data<F>();
    parallel_for(M, 20.0 * static_cast<double>(M) * static_cast<double>(C), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        if (pt[i] == ignore_index) continue;
        const F* row = pl + i * C;
        F mx = row[0];
        for (int64_t j = 1; j < C; ++j) mx = row[j] > mx ? row[j] : mx;
        double s = 0;
        for (int64_t j = 0; j < C; ++j) s += std::exp(static_cast<double>(row[j] - mx));
        // (max - target) first: added to log(s) the other way round, a large max (2**41) rounds
        // the sum to its ulp before the target is subtracted (0.693359 instead of ln 2).
        row_loss[i] = std::log(s) + (static_cast<double>(mx) - static_cast<double>(row[pt[i]]));
        stats[2 * i] = mx;
        stats[2 * i + 1] = static_cast<F>(std::log(s));
      }
    });
    double total = 0;
    for (int64_t i = 0; i < M; ++i)
      if (pt[i] != ignore_index) total += row_loss[i];
    F* pw = r.weights.data<F>();
    for (int64_t i = 0; i < M; ++i) pw[i] = (pt[i] == ignore_index || count == 0) ? F(0) : F(1.0 / count);
    *r.loss.data<F>() = count ? static_cast<F>(total / count) : static_cast<F>(NAN);
  });
  return r;
}

Tensor cross_entropy_backward(const Tensor& logits_in, const Tensor& targets_in, const Tensor& weights_in,
                              const Tensor& row_stats, double g) {
  prof::KernelTimer timer("cross_entropy_backward");
  const Tensor L = contiguous(logits_in), T = contiguous(targets_in), W = contiguous(weights_in),
               S = contiguous(row_stats);
  const int64_t M = L.shape()[0], C = L.shape()[1];
  Tensor out = Tensor::empty({M, C}, L.dtype());
  dispatch_float(L.dtype(), "cross_entropy backward", [&](auto tag) {
    using F = decltype(tag);
    using B = xsimd::batch<F>;
    constexpr int64_t V = static_cast<int64_t>(B::size);
    const F *pl = L.data<F>(), *pw = W.data<F>(), *ps = S.data<F>();
    const int64_t* pt = T.data<int64_t>();
    F* po = out.data<F>();
    parallel_for(M, 20.0 * static_cast<double>(M) * static_cast<double>(C), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const F* row = pl + i * C;
        F* o = po + i * C;
        const F scale = static_cast<F>(static_cast<double>(pw[i]) * g);
        if (pw[i] == F(0)) {  // an ignored row: no contribution
          for (int64_t j = 0; j < C; ++j) o[j] = F(0);
          continue;
        }
        // p_j = exp((x_j - max) - logsum): x_j - max first, exact for logits near the max however large
        const B mx = B(ps[2 * i]), ls = B(ps[2 * i + 1]), sc = B(scale);
        int64_t j = 0;
        for (; j + V <= C; j += V) (xsimd::exp((B::load_unaligned(row + j) - mx) - ls) * sc).store_unaligned(o + j);
        for (; j < C; ++j) o[j] = std::exp((row[j] - ps[2 * i]) - ps[2 * i + 1]) * scale;
        o[pt[i]] -= scale;  // the one-hot term (pt[i] is in range: the forward checked every valid target)
      }
    });
  });
  return out;
}

}  // namespace tt::ops
