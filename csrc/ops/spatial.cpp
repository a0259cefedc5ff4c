// im2col and its adjoint col2im: the two kernels convolution and pooling are
// built from (tinytorch.core.spatial). im2col copies every window of every
// channel into a column, so a convolution becomes one matmul of the
// (out_channels, C*kh*kw) weights with the (C*kh*kw, OH*OW) columns of each
// image, and a pooling becomes a max or mean over a column's rows. col2im
// sums the columns back into the image: the gradient of im2col, and im2col is
// the gradient of col2im, so both are differentiable to any order.
#include <algorithm>

#include "core/profiler.h"
#include "ops/ops.h"
#include "ops/parallel.h"
#include "ops/window.h"

namespace tt::ops {

// Every size below comes from user numbers (padding=2**61, kernel 2**32):
// each sum and product is overflow-checked, in the order the later ones
// depend on, so out_h()/out_w() and the kernels' index arithmetic never wrap.
void check_window(const Window2d& g, const Shape& x, const char* op) {
  if (x.size() != 4)
    fail<ValueError>(op, ": expected a (batch, channels, height, width) input, got shape ", shape_str(x),
                     "; add a batch dim with .reshape(1, *x.shape) for one image");
  if (g.kh < 1 || g.kw < 1)
    fail<ValueError>(op, ": kernel_size must be >= 1, got (", g.kh, ", ", g.kw, ")");
  if (g.sh < 1 || g.sw < 1) fail<ValueError>(op, ": stride must be >= 1, got (", g.sh, ", ", g.sw, ")");
  if (g.ph < 0 || g.pw < 0) fail<ValueError>(op, ": padding must be >= 0, got (", g.ph, ", ", g.pw, ")");
  check_shape(x, op);
  if (g.C != x[1] || g.H != x[2] || g.W != x[3])
    fail<ValueError>(op, ": internal error, the window was built for (C, H, W) = (", g.C, ", ", g.H, ", ", g.W,
                     ") but the input has shape ", shape_str(x));
  int64_t padded_h = 0, padded_w = 0;
  if (__builtin_mul_overflow(g.ph, int64_t{2}, &padded_h) || __builtin_add_overflow(padded_h, x[2], &padded_h) ||
      __builtin_mul_overflow(g.pw, int64_t{2}, &padded_w) || __builtin_add_overflow(padded_w, x[3], &padded_w))
    fail<ValueError>(op, ": padding (", g.ph, ", ", g.pw, ") is too large for an input of shape ", shape_str(x),
                     " (the padded size overflows 64 bits); use a padding smaller than the kernel");
  if (padded_h < g.kh || padded_w < g.kw)
    fail<ValueError>(op, ": kernel (", g.kh, ", ", g.kw, ") is larger than the padded input (", padded_h,
                     ", ", padded_w, ") of shape ", shape_str(x), "; use a smaller kernel or more padding");
  // Now out_h()/out_w() cannot overflow; their product, the column count and the total can.
  const int64_t OH = g.out_h(), OW = g.out_w();
  int64_t K = 0, L = 0;
  if (__builtin_mul_overflow(g.C, g.kh, &K) || __builtin_mul_overflow(K, g.kw, &K) ||
      __builtin_mul_overflow(OH, OW, &L))
    fail<ValueError>(op, ": kernel (", g.kh, ", ", g.kw, ") with output size (", OH, ", ", OW, ") on input ",
                     shape_str(x), " needs more columns than fit in 64 bits; check kernel_size and padding");
  check_shape({x[0], K, L}, op);  // the (N, C*kh*kw, OH*OW) columns must be addressable
}

namespace {

// Each (image, channel) pair is independent: they are split across the threads.
template <class T>
void im2col_kernel(const T* x, T* cols, const Window2d& g, int64_t N, T pad) {
  const int64_t OH = g.out_h(), OW = g.out_w(), L = OH * OW, KK = g.kh * g.kw, K = g.C * KK;
  parallel_for(N * g.C, 4.0 * static_cast<double>(N * K * L), [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / g.C, c = nc % g.C;
      const T* image = x + nc * g.H * g.W;
      T* rows = cols + n * K * L + c * KK * L;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          T* row = rows + (i * g.kw + j) * L;
          const ValidRange v = valid_columns(j, g.W, OW, g.sw, g.pw);
          for (int64_t oh = 0; oh < OH; ++oh) {
            T* r = row + oh * OW;
            const int64_t ih = oh * g.sh - g.ph + i;
            if (ih < 0 || ih >= g.H) {
              std::fill(r, r + OW, pad);
              continue;
            }
            const T* src = image + ih * g.W + (v.lo * g.sw - g.pw + j);  // input of column v.lo
            std::fill(r, r + v.lo, pad);
            if (g.sw == 1) {
              std::copy(src, src + (v.hi - v.lo), r + v.lo);
            } else {
              for (int64_t ow = v.lo; ow < v.hi; ++ow) r[ow] = src[(ow - v.lo) * g.sw];
            }
            std::fill(r + v.hi, r + OW, pad);
          }
        }
    }
  });
}

template <class T>
void col2im_kernel(const T* cols, T* x, const Window2d& g, int64_t N) {
  const int64_t OH = g.out_h(), OW = g.out_w(), L = OH * OW, KK = g.kh * g.kw, K = g.C * KK;
  parallel_for(N * g.C, 4.0 * static_cast<double>(N * K * L), [&](int64_t begin, int64_t end) {
    for (int64_t nc = begin; nc < end; ++nc) {
      const int64_t n = nc / g.C, c = nc % g.C;
      T* image = x + nc * g.H * g.W;
      std::fill(image, image + g.H * g.W, T(0));
      const T* rows = cols + n * K * L + c * KK * L;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < g.kw; ++j) {
          const T* row = rows + (i * g.kw + j) * L;
          const ValidRange v = valid_columns(j, g.W, OW, g.sw, g.pw);
          for (int64_t oh = 0; oh < OH; ++oh) {
            const int64_t ih = oh * g.sh - g.ph + i;
            if (ih < 0 || ih >= g.H) continue;
            T* dst = image + ih * g.W + (v.lo * g.sw - g.pw + j);
            const T* r = row + oh * OW;
            for (int64_t ow = v.lo; ow < v.hi; ++ow) dst[(ow - v.lo) * g.sw] += r[ow];
          }
        }
    }
  });
}

}  // namespace

Tensor im2col(const Tensor& x_in, const Window2d& g, double pad_value) {
  prof::KernelTimer timer("im2col");  // forward kernel time when profiling; a flag test when off
  check_window(g, x_in.shape(), "im2col");
  const Tensor x = contiguous(x_in);
  const int64_t N = x.shape()[0];
  Tensor cols = Tensor::empty({N, g.C * g.kh * g.kw, g.out_h() * g.out_w()}, x.dtype());
  dispatch_float(x.dtype(), "im2col", [&](auto tag) {
    using T = decltype(tag);
    im2col_kernel<T>(x.data<T>(), cols.data<T>(), g, N, static_cast<T>(pad_value));
  });
  return cols;
}

Tensor col2im(const Tensor& cols_in, const Window2d& g) {
  prof::KernelTimer timer("col2im");
  const Shape& s = cols_in.shape();
  if (s.size() != 3)
    fail<ValueError>("col2im: expected (batch, channels * kh * kw, positions) columns, got shape ", shape_str(s));
  check_window(g, {s[0], g.C, g.H, g.W}, "col2im");  // before out_h(): it divides by the stride
  const int64_t K = g.C * g.kh * g.kw, L = g.out_h() * g.out_w();
  if (s[1] != K || s[2] != L)
    fail<ValueError>("col2im: columns of shape ", shape_str(s), " do not match the window: expected (batch, ", K,
                     ", ", L, ") for ", g.C, " channels, kernel (", g.kh, ", ", g.kw, ") and output (", g.out_h(), ", ",
                     g.out_w(), ")");
  const Tensor cols = contiguous(cols_in);
  Tensor x = Tensor::empty({s[0], g.C, g.H, g.W}, cols.dtype());
  dispatch_float(cols.dtype(), "col2im", [&](auto tag) {
    using T = decltype(tag);
    col2im_kernel<T>(cols.data<T>(), x.data<T>(), g, s[0]);
  });
  return x;
}

}  // namespace tt::ops
