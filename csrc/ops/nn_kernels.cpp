#include "ops/nn_kernels.h"

#include <cmath>

#include "core/profiler.h"
#include "ops/ops.h"

namespace tt::ops {

LayerNormResult layer_norm(const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in, double eps) {
  prof::KernelTimer timer("layer_norm");  // forward kernel time when profiling; a flag test when off
  if (x_in.dim() < 1) fail<ValueError>("layer_norm: input must have at least 1 dimension");
  const int64_t D = x_in.shape().back();
  if (gamma_in.shape() != Shape{D} || beta_in.shape() != Shape{D})
    fail<ValueError>("layer_norm: gamma and beta must have shape (", D, ",) to match the input's last dimension; got ",
                     shape_str(gamma_in.shape()), " and ", shape_str(beta_in.shape()));
  Tensor x = contiguous(promote_to_float(x_in));  // int inputs are normalized in float32
  DType dt = x.dtype();
  Tensor gamma = contiguous(astype(gamma_in, dt)), beta = contiguous(astype(beta_in, dt));
  const int64_t M = D ? x.numel() / D : 0;
  Shape stat_shape = x.shape();
  stat_shape.back() = 1;
  LayerNormResult r{Tensor::empty(x.shape(), dt), Tensor::empty(stat_shape, dt), Tensor::empty(stat_shape, dt)};
  dispatch_float(dt, "layer_norm", [&](auto tag) {
    using T = decltype(tag);
    const T *px = x.data<T>(), *pg = gamma.data<T>(), *pb = beta.data<T>();
    T *po = r.out.data<T>(), *pm = r.mean.data<T>(), *pr = r.rstd.data<T>();
    for (int64_t i = 0; i < M; ++i) {
      const T* row = px + i * D;
      double s = 0;
      for (int64_t j = 0; j < D; ++j) s += row[j];
      double mu = s / D, ss = 0;
      for (int64_t j = 0; j < D; ++j) ss += (row[j] - mu) * (row[j] - mu);
      T rstd = static_cast<T>(1.0 / std::sqrt(ss / D + eps));
      T m = static_cast<T>(mu);
      T* o = po + i * D;
      for (int64_t j = 0; j < D; ++j) o[j] = (row[j] - m) * rstd * pg[j] + pb[j];
      pm[i] = m;
      pr[i] = rstd;
    }
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
  CrossEntropyResult r{Tensor::empty({}, dt), Tensor::empty({M, 1}, dt)};
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
    double total = 0;
    for (int64_t i = 0; i < M; ++i) {
      if (pt[i] == ignore_index) continue;
      const F* row = pl + i * C;
      F mx = row[0];
      for (int64_t j = 1; j < C; ++j) mx = row[j] > mx ? row[j] : mx;
      double s = 0;
      for (int64_t j = 0; j < C; ++j) s += std::exp(static_cast<double>(row[j] - mx));
      // (max - target) first: added to log(s) the other way round, a large max (2**41) rounds
      // the sum to its ulp before the target is subtracted (0.693359 instead of ln 2).
      total += std::log(s) + (static_cast<double>(mx) - static_cast<double>(row[pt[i]]));
    }
    F* pw = r.weights.data<F>();
    for (int64_t i = 0; i < M; ++i) pw[i] = (pt[i] == ignore_index || count == 0) ? F(0) : F(1.0 / count);
    *r.loss.data<F>() = count ? static_cast<F>(total / count) : static_cast<F>(NAN);
  });
  return r;
}

}  // namespace tt::ops
