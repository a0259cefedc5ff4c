// Gradient norm, scaling, clamping and finiteness over a parameter list.
//
// Gradients are usually contiguous (the engine stores them so), but a user
// may assign any tensor to .grad, so every loop goes through strided_loop,
// whose innermost dimension is a plain loop the compiler vectorizes.
#include "nn/grad_utils.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/iter.h"
#include "ops/ops.h"

namespace tt::nn {
namespace {

// The defined gradients of `params`, checked to be float tensors.
std::vector<Tensor> gradients(const std::vector<Tensor>& params, const char* op) {
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    if (!p.defined()) fail<TypeError>(op, ": parameter ", i, " is None; pass only tensors");
    if (!p.impl->meta || !p.impl->meta->grad) continue;
    Tensor g(p.impl->meta->grad);
    if (!is_floating(g.dtype()))
      fail<TypeError>(op, ": the .grad of parameter ", i, " has dtype ", dtype_name(g.dtype()),
                      "; gradients must be float32 or float64");
    grads.push_back(g);
  }
  return grads;
}

// f(T* x, int64_t n, int64_t stride) over every run of elements of g.
template <class T, class F>
void for_each_run(const Tensor& g, F&& f) {
  ops::strided_loop<1>(g.shape(), {g.strides()}, {int64_t{0}},
                       [&](std::array<int64_t, 1> off, int64_t n, std::array<int64_t, 1> st) {
                         f(g.data<T>() + off[0], n, st[0]);
                       });
}

// sum |x|^p, or max |x| (p = inf), or the count of nonzeros (p = 0), in double.
template <class T>
double reduce_run(const T* x, int64_t n, int64_t s, double p) {
  if (std::isinf(p)) {
    double m = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double a = std::abs(static_cast<double>(x[i * s]));
      if (std::isnan(a)) return a;
      m = std::max(m, a);
    }
    return m;
  }
  double acc = 0.0;
  if (p == 2.0) {
    // Four partial sums: the adds need not wait for each other.
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      const double v0 = x[i * s], v1 = x[(i + 1) * s], v2 = x[(i + 2) * s], v3 = x[(i + 3) * s];
      a0 += v0 * v0; a1 += v1 * v1; a2 += v2 * v2; a3 += v3 * v3;
    }
    for (; i < n; ++i) { const double v = x[i * s]; a0 += v * v; }
    return (a0 + a1) + (a2 + a3);
  }
  if (p == 1.0) {
    for (int64_t i = 0; i < n; ++i) acc += std::abs(static_cast<double>(x[i * s]));
  } else if (p == 0.0) {
    for (int64_t i = 0; i < n; ++i) acc += x[i * s] != T(0) ? 1.0 : 0.0;
  } else {
    for (int64_t i = 0; i < n; ++i) acc += std::pow(std::abs(static_cast<double>(x[i * s])), p);
  }
  return acc;
}

}  // namespace

double grad_norm(const std::vector<Tensor>& params, double p) {
  if (std::isnan(p) || p < 0.0)
    fail<ValueError>("grad_norm: norm_type must be >= 0 or inf, got ", p);
  const bool is_max = std::isinf(p);
  double total = 0.0;
  for (const Tensor& g : gradients(params, "grad_norm")) {
    dispatch_float(g.dtype(), "grad_norm", [&](auto tag) {
      using T = decltype(tag);
      for_each_run<T>(g, [&](const T* x, int64_t n, int64_t s) {
        const double r = reduce_run<T>(x, n, s, p);
        total = is_max ? (std::isnan(r) || std::isnan(total) ? std::numeric_limits<double>::quiet_NaN()
                                                             : std::max(total, r))
                       : total + r;
      });
    });
  }
  if (is_max || p == 0.0) return total;
  if (p == 1.0) return total;
  if (p == 2.0) return std::sqrt(total);
  return std::pow(total, 1.0 / p);
}

void scale_grads(const std::vector<Tensor>& params, double factor) {
  for (const Tensor& g : gradients(params, "scale_grads")) {
    dispatch_float(g.dtype(), "scale_grads", [&](auto tag) {
      using T = decltype(tag);
      const T f = static_cast<T>(factor);
      for_each_run<T>(g, [&](T* x, int64_t n, int64_t s) {
        if (s == 1)
          for (int64_t i = 0; i < n; ++i) x[i] *= f;
        else
          for (int64_t i = 0; i < n; ++i) x[i * s] *= f;
      });
    });
    g.bump_version();
  }
}

void clamp_grads(const std::vector<Tensor>& params, double lo, double hi) {
  if (std::isnan(lo) || std::isnan(hi) || lo > hi)
    fail<ValueError>("clamp_grads: need lo <= hi, got lo=", lo, ", hi=", hi);
  for (const Tensor& g : gradients(params, "clamp_grads")) {
    dispatch_float(g.dtype(), "clamp_grads", [&](auto tag) {
      using T = decltype(tag);
      const T l = static_cast<T>(lo), h = static_cast<T>(hi);
      // Comparisons with NaN are false, so a NaN gradient passes through unchanged.
      auto clamp = [l, h](T v) { return v < l ? l : (v > h ? h : v); };
      for_each_run<T>(g, [&](T* x, int64_t n, int64_t s) {
        for (int64_t i = 0; i < n; ++i) x[i * s] = clamp(x[i * s]);
      });
    });
    g.bump_version();
  }
}

bool grads_finite(const std::vector<Tensor>& params) {
  bool finite = true;
  for (const Tensor& g : gradients(params, "grads_finite")) {
    dispatch_float(g.dtype(), "grads_finite", [&](auto tag) {
      using T = decltype(tag);
      for_each_run<T>(g, [&](const T* x, int64_t n, int64_t s) {
        // x - x is 0 for finite x and NaN for NaN/inf; summing keeps the loop branch-free.
        T acc = 0;
        for (int64_t i = 0; i < n; ++i) acc += x[i * s] - x[i * s];
        finite = finite && acc == T(0);
      });
    });
    if (!finite) return false;
  }
  return finite;
}

}  // namespace tt::nn
