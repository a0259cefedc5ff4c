// The exp-based reductions: softmax, log_softmax and logsumexp.
//
// All three see the input as a contiguous (outer, n, inner) block, n being the
// reduced length, and compute per output the shift m = max and
// s = sum(exp(x - m)): subtracting the max keeps exp from overflowing
// (softmax([1000, 1001]) is fine) and makes the largest term exactly 1.
// An all -inf (or +inf) slice uses shift 0 instead, so logsumexp gives -inf
// rather than the nan of (-inf) - (-inf).
//
// exp goes through xsimd (glibc only vectorizes expf under -ffast-math),
// wrapped so results that are subnormal are not flushed to 0 (simd_edges.h);
// sums of exponentials are accumulated per SIMD lane and added in double
// every block, so long rows keep float32 accuracy.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

// GCC 12 flags xsimd's AVX-512 intrinsics (their deliberately undefined
// pass-through operands) as maybe-uninitialized wherever exp is inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <xsimd/xsimd.hpp>

#include "core/profiler.h"
#include "core/views.h"
#include "ops/ops.h"
#include "ops/simd_edges.h"

namespace tt::ops {
namespace {

constexpr int64_t kBlock = 1024;

template <class T> T usable_shift(T m) { return std::isfinite(m) ? m : T(0); }

template <class T>
T row_max(const T* x, int64_t n) {
  constexpr int kLanes = 16;
  T lane[kLanes];
  std::fill(lane, lane + kLanes, -std::numeric_limits<T>::infinity());
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) lane[k] = x[i + k] > lane[k] ? x[i + k] : lane[k];
  for (; i < n; ++i) lane[0] = x[i] > lane[0] ? x[i] : lane[0];
  // A NaN anywhere makes every result NaN through exp anyway.
  return *std::max_element(lane, lane + kLanes);
}

// y[i] = exp(x[i] - shift); returns the sum of the y (y may be null: sum only).
template <class T>
double exp_shifted(const T* x, T shift, T* y, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  const B sb(shift);
  double total = 0;
  int64_t i = 0;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t end = std::min(n, start + kBlock);
    B acc(T(0));
    for (; i + W <= end; i += W) {
      B e = simd_edges::exp_full(B::load_unaligned(x + i) - sb);
      if (y) e.store_unaligned(y + i);
      acc += e;
    }
    total += static_cast<double>(xsimd::hadd(acc));
  }
  for (; i < n; ++i) {
    const T e = std::exp(x[i] - shift);
    if (y) y[i] = e;
    total += static_cast<double>(e);
  }
  return total;
}

// y[j] = exp(x[j] - shift[j]) for one row of a column-wise reduction.
template <class T>
void exp_diff(const T* x, const T* shift, T* y, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  int64_t j = 0;
  for (; j + W <= n; j += W)
    simd_edges::exp_full(B::load_unaligned(x + j) - B::load_unaligned(shift + j)).store_unaligned(y + j);
  for (; j < n; ++j) y[j] = std::exp(x[j] - shift[j]);
}

enum class Mode { Softmax, LogSoftmax, LogSumExp };

// x is contiguous (outer, n, inner). Softmax and LogSoftmax write y of the
// same shape; LogSumExp writes y of shape (outer, inner).
template <class T>
void exp_normalize(Mode mode, const T* x, T* y, int64_t outer, int64_t n, int64_t inner) {
  if (inner == 1) {  // rows: the reduced axis is contiguous
    for (int64_t o = 0; o < outer; ++o) {
      const T* xr = x + o * n;
      const T shift = usable_shift(n > 0 ? row_max(xr, n) : -std::numeric_limits<T>::infinity());
      if (mode == Mode::Softmax) {
        T* yr = y + o * n;
        const T inv = static_cast<T>(1.0 / exp_shifted(xr, shift, yr, n));
        for (int64_t i = 0; i < n; ++i) yr[i] *= inv;
      } else {
        const T log_s = static_cast<T>(std::log(exp_shifted<T>(xr, shift, nullptr, n)));
        if (mode == Mode::LogSumExp) {
          y[o] = shift + log_s;
        } else {
          // (x - shift) is exact for the large entries; folding shift + log_s
          // first would round away the digits of small results.
          T* yr = y + o * n;
          for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - shift) - log_s;
        }
      }
    }
    return;
  }
  // Columns: sweep the n rows of each block, keeping per-column max and sum.
  std::vector<T> shift(inner), tmp(inner);
  std::vector<double> sum(inner);
  for (int64_t o = 0; o < outer; ++o) {
    const T* xb = x + o * n * inner;
    std::fill(shift.begin(), shift.end(), -std::numeric_limits<T>::infinity());
    for (int64_t r = 0; r < n; ++r) {
      const T* xr = xb + r * inner;
      for (int64_t j = 0; j < inner; ++j) shift[j] = xr[j] > shift[j] ? xr[j] : shift[j];
    }
    for (T& m : shift) m = usable_shift(m);
    std::fill(sum.begin(), sum.end(), 0.0);
    T* yb = mode == Mode::LogSumExp ? y + o * inner : y + o * n * inner;
    for (int64_t r = 0; r < n; ++r) {
      T* e = mode == Mode::Softmax ? yb + r * inner : tmp.data();
      exp_diff(xb + r * inner, shift.data(), e, inner);
      for (int64_t j = 0; j < inner; ++j) sum[j] += static_cast<double>(e[j]);
    }
    if (mode == Mode::Softmax) {
      for (int64_t j = 0; j < inner; ++j) tmp[j] = static_cast<T>(1.0 / sum[j]);
      for (int64_t r = 0; r < n; ++r)
        for (int64_t j = 0; j < inner; ++j) yb[r * inner + j] *= tmp[j];
    } else {
      for (int64_t j = 0; j < inner; ++j) tmp[j] = static_cast<T>(std::log(sum[j]));
      if (mode == Mode::LogSumExp) {
        for (int64_t j = 0; j < inner; ++j) yb[j] = shift[j] + tmp[j];
      } else {
        for (int64_t r = 0; r < n; ++r)
          for (int64_t j = 0; j < inner; ++j) yb[r * inner + j] = (xb[r * inner + j] - shift[j]) - tmp[j];
      }
    }
  }
}

Tensor softmax_like(Mode mode, const Tensor& a_in, int64_t axis, const char* name) {
  prof::KernelTimer timer(name);  // forward kernel time when profiling; a flag test when off
  const Tensor a = promote_to_float(a_in);
  return dispatch_float(a.dtype(), name, [&](auto tag) -> Tensor {
    using T = decltype(tag);
    const int64_t ax = normalize_dim(axis, a.dim(), name);
    Tensor c = contiguous(a);
    Tensor out = Tensor::empty(a.shape(), a.dtype());
    if (out.numel() == 0) return out;
    int64_t outer = 1, n = 1, inner = 1;
    if (a.dim() > 0) {
      const Shape& s = a.shape();
      outer = numel(Shape(s.begin(), s.begin() + ax));
      n = s[ax];
      inner = numel(Shape(s.begin() + ax + 1, s.end()));
    }
    exp_normalize<T>(mode, c.data<T>(), out.data<T>(), outer, n, inner);
    return out;
  });
}

}  // namespace

Tensor softmax(const Tensor& a, int64_t axis) { return softmax_like(Mode::Softmax, a, axis, "softmax"); }

Tensor log_softmax(const Tensor& a, int64_t axis) {
  return softmax_like(Mode::LogSoftmax, a, axis, "log_softmax");
}

// Reduces over any axis set: when the reduced axes (ignoring size-1 dims) are
// adjacent the contiguous input already is an (outer, n, inner) block;
// otherwise one permuted copy puts them last.
Tensor logsumexp(const Tensor& a_in, const std::vector<int64_t>& axes_in, bool keepdims) {
  const char* name = "logsumexp";
  prof::KernelTimer timer(name);
  const int64_t nd = a_in.dim();
  std::vector<int64_t> axes = normalize_axes(axes_in, nd, name);
  std::vector<bool> reduced(nd, false);
  if (nd > 0)
    for (int64_t ax : axes) reduced[ax] = true;
  Shape out_shape;
  for (int64_t d = 0; d < nd; ++d)
    if (!reduced[d]) out_shape.push_back(a_in.shape()[d]);
    else if (keepdims) out_shape.push_back(1);
  // Integers are promoted to float32, as mean does.
  Tensor a = promote_to_float(a_in);
  Tensor out = Tensor::empty(out_shape, a.dtype());
  if (out.numel() == 0) return out;

  const Shape& s = a.shape();
  int64_t first = -1, last = -1;  // the reduced dims of size != 1
  bool adjacent = true;
  for (int64_t d = 0; d < nd; ++d) {
    if (s[d] == 1) continue;
    if (reduced[d]) {
      if (last >= 0 && last != d - 1)
        for (int64_t k = last + 1; k < d; ++k) adjacent = adjacent && (s[k] == 1);
      if (first < 0) first = d;
      last = d;
    }
  }
  Tensor c;
  int64_t outer, n, inner;
  if (first < 0) {  // only size-1 dims are reduced: logsumexp of one element each
    c = contiguous(a);
    outer = a.numel(), n = 1, inner = 1;
  } else if (adjacent) {
    c = contiguous(a);
    outer = numel(Shape(s.begin(), s.begin() + first));
    n = numel(Shape(s.begin() + first, s.begin() + last + 1));
    inner = numel(Shape(s.begin() + last + 1, s.end()));
  } else {
    std::vector<int64_t> perm;
    for (int64_t d = 0; d < nd; ++d)
      if (!reduced[d]) perm.push_back(d);
    for (int64_t d = 0; d < nd; ++d)
      if (reduced[d]) perm.push_back(d);
    c = contiguous(views::permute(a, perm));
    outer = out.numel(), inner = 1;
    n = 1;
    for (int64_t d : axes) n *= s[d];
  }
  dispatch_float(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    exp_normalize<T>(Mode::LogSumExp, c.data<T>(), out.data<T>(), outer, n, inner);
  });
  return out;
}

}  // namespace tt::ops
