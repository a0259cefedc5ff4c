// Fused 2-D max pooling: one pass over each window for the forward, one for the backward.
//
// The composed path (tinytorch.core.spatial under a course override) copies every window into
// a column tensor with im2col, takes the max over it, and in backward compares every column
// with the max, divides by the tie count and sums the columns back with col2im: four passes
// over a tensor kh*kw/(sh*sw) times the input's size. Here each (image, channel) plane is read
// once per pass, in place; planes are split across tinytorch's threads. The gradient follows
// the composed path exactly: at ties it is shared equally among the tied elements.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/profiler.h"
#include "ops/conv.h"
#include "ops/parallel.h"

namespace tt::ops {

namespace {

// Calls visit(oh, ow, h0, h1, w0, w1) for each output position: rows [h0, h1) and columns
// [w0, w1) of the window clipped to the image (padding never holds the max: it is -inf).
template <class F>
inline __attribute__((always_inline)) void for_each_window(const Window2d& g, F&& visit) {
  const int64_t OH = g.out_h(), OW = g.out_w();
  for (int64_t oh = 0; oh < OH; ++oh) {
    const int64_t h = oh * g.sh - g.ph, h0 = std::max<int64_t>(h, 0), h1 = std::min<int64_t>(h + g.kh, g.H);
    for (int64_t ow = 0; ow < OW; ++ow) {
      const int64_t w = ow * g.sw - g.pw, w0 = std::max<int64_t>(w, 0), w1 = std::min<int64_t>(w + g.kw, g.W);
      visit(oh * OW + ow, h0, h1, w0, w1);
    }
  }
}

// The common 2x2, stride 2, unpadded window (a CNN's MaxPool2d(2)): fixed trip counts the
// compiler unrolls. Returns the max of the four, NaN if any is NaN.
template <class T>
inline T max4(T a, T b, T c, T d) {
  T m = a;
  if (b > m || b != b) m = b;
  if (c > m || c != c) m = c;
  if (d > m || d != d) m = d;
  return (a != a || b != b || c != c || d != d) ? std::numeric_limits<T>::quiet_NaN() : m;
}
bool is_2x2_stride_2(const Window2d& g) {
  return g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0;
}

// One row of 2x2 windows of the backward: input rows x0, x1, their maxima m and incoming
// gradients gy (OW each), the gradient rows g0, g1. Each element gets its window's gradient
// shared among the elements equal to the max, or 0 (a NaN max: none is equal). Selects, no
// branches, __restrict__: GCC vectorizes it (the window-at-a-time loop took 7x the forward's time).
template <class T>
void backward_2x2_row(const T* __restrict x0, const T* __restrict x1, const T* __restrict m,
                      const T* __restrict gy, T* __restrict g0, T* __restrict g1, int64_t OW) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    const T a = x0[2 * ow], b = x0[2 * ow + 1], c = x1[2 * ow], d = x1[2 * ow + 1], mx = m[ow];
    const T ties = T(a == mx) + T(b == mx) + T(c == mx) + T(d == mx);
    const T share = gy[ow] / (ties > T(0) ? ties : T(1));
    g0[2 * ow] = a == mx ? share : T(0);
    g0[2 * ow + 1] = b == mx ? share : T(0);
    g1[2 * ow] = c == mx ? share : T(0);
    g1[2 * ow + 1] = d == mx ? share : T(0);
  }
}

void check_pool(const Tensor& x, const Window2d& g) {
  if (!is_floating(x.dtype()))
    fail<TypeError>("max_pool2d: input must be float32 or float64, got ", dtype_name(x.dtype()));
  check_window(g, x.shape(), "max_pool2d");
  if (2 * g.ph > g.kh || 2 * g.pw > g.kw)
    fail<ValueError>("max_pool2d: padding (", g.ph, ", ", g.pw, ") must be at most half the kernel size (", g.kh,
                     ", ", g.kw, ")");
}

}  // namespace

Tensor max_pool2d(const Tensor& x_in, const Window2d& g) {
  prof::KernelTimer timer("max_pool2d");
  check_pool(x_in, g);
  const Tensor x = contiguous(x_in);
  const int64_t N = x.shape()[0], planes = N * g.C, HW = g.H * g.W, L = g.out_h() * g.out_w();
  Tensor y = Tensor::empty({N, g.C, g.out_h(), g.out_w()}, x.dtype());
  dispatch_float(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(planes, static_cast<double>(planes * L * g.kh * g.kw), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T* img = px + p * HW;
        T* out = py + p * L;
        if (is_2x2_stride_2(g)) {
          const int64_t OH = g.out_h(), OW = g.out_w();
          for (int64_t oh = 0; oh < OH; ++oh) {
            const T* r0 = img + 2 * oh * g.W;
            const T* r1 = r0 + g.W;
            for (int64_t ow = 0; ow < OW; ++ow)
              out[oh * OW + ow] = max4(r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]);
          }
          continue;
        }
        for_each_window(g, [&](int64_t l, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
          T m = -std::numeric_limits<T>::infinity();
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) {
              const T v = img[h * g.W + w];
              if (v > m || v != v) m = v;  // NaN wins and stays, as numpy's max
              if (m != m) break;
            }
          out[l] = m;
        });
      }
    });
  });
  return y;
}

Tensor max_pool2d_backward(const Tensor& gy_in, const Tensor& x_in, const Tensor& y_in, const Window2d& g) {
  prof::KernelTimer timer("max_pool2d_backward");
  const Tensor x = contiguous(x_in), y = contiguous(y_in), gy = contiguous(astype(gy_in, x_in.dtype()));
  if (gy.shape() != y.shape())
    fail<ValueError>("max_pool2d backward: the gradient has shape ", shape_str(gy.shape()), ", expected ",
                     shape_str(y.shape()));
  const int64_t planes = x.shape()[0] * g.C, HW = g.H * g.W, L = g.out_h() * g.out_w();
  // The 2x2 stride-2 path writes every element its windows cover (0 where not the max), so
  // only what they miss (an odd last row or column) is zeroed, not the whole gradient first.
  const bool fast = is_2x2_stride_2(g);
  Tensor gx = fast ? Tensor::empty(x.shape(), x.dtype()) : full(x.shape(), 0.0, x.dtype());
  dispatch_float(x.dtype(), "max_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T *px = x.data<T>(), *py = y.data<T>(), *pg = gy.data<T>();
    T* pgx = gx.data<T>();
    parallel_for(planes, static_cast<double>(planes * L * g.kh * g.kw), [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const T* img = px + p * HW;
        T* gimg = pgx + p * HW;
        if (fast) {  // disjoint windows: each element gets its own window's share or 0
          const int64_t OH = g.out_h(), OW = g.out_w();
          for (int64_t oh = 0; oh < OH; ++oh) {
            const int64_t r = 2 * oh * g.W;
            backward_2x2_row(img + r, img + r + g.W, py + p * L + oh * OW, pg + p * L + oh * OW, gimg + r,
                             gimg + r + g.W, OW);
            if (g.W % 2)  // the odd last column no window covers
              gimg[2 * oh * g.W + g.W - 1] = T(0), gimg[(2 * oh + 1) * g.W + g.W - 1] = T(0);
          }
          if (g.H % 2) std::fill(gimg + (g.H - 1) * g.W, gimg + g.H * g.W, T(0));  // the odd last row
          continue;
        }
        for_each_window(g, [&](int64_t l, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
          const T m = py[p * L + l];
          int64_t ties = 0;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) ties += img[h * g.W + w] == m;
          if (ties == 0) return;  // a NaN max: no element equals it
          const T share = pg[p * L + l] / static_cast<T>(ties);
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w)
              if (img[h * g.W + w] == m) gimg[h * g.W + w] += share;
        });
      }
    });
  });
  return gx;
}

Tensor max_pool2d_tie_weights(const Tensor& x_in, const Tensor& y_in, const Window2d& g) {
  const Tensor x = contiguous(x_in), y = contiguous(y_in);
  const int64_t planes = x.shape()[0] * g.C, HW = g.H * g.W, L = g.out_h() * g.out_w(), KK = g.kh * g.kw;
  Tensor wts = full({planes, KK, L}, 0.0, x.dtype());
  dispatch_float(x.dtype(), "max_pool2d backward", [&](auto tag) {
    using T = decltype(tag);
    const T *px = x.data<T>(), *py = y.data<T>();
    T* pw = wts.data<T>();
    for (int64_t p = 0; p < planes; ++p) {
      const T* img = px + p * HW;
      for_each_window(g, [&](int64_t l, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
        const T m = py[p * L + l];
        int64_t ties = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) ties += img[h * g.W + w] == m;
        if (ties == 0) return;
        const int64_t top = (l / g.out_w()) * g.sh - g.ph, left = (l % g.out_w()) * g.sw - g.pw;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w)
            if (img[h * g.W + w] == m)
              pw[(p * KK + (h - top) * g.kw + (w - left)) * L + l] = T(1) / static_cast<T>(ties);
      });
    }
  });
  return wts;
}

}  // namespace tt::ops
