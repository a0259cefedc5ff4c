// Fused 2-D convolution: forward and backward as a few large GEMMs.
//
// The composed path (tinytorch.core.spatial when a course override is active)
// builds the columns of the whole batch, (N, C*kh*kw, OH*OW), multiplies the
// weights with each image's columns, and in backward computes the weight
// gradient as N products summed afterwards. Here the batch is cut into chunks
// of a few images, each chunk's columns laid side by side as one
// (C*kh*kw, images*OH*OW) matrix that fits in cache, so that:
//   forward   y_chunk  = W (O, K) @ cols_chunk              one GEMM per chunk
//   weight    gW      += gy_chunk (O, cL) @ cols_chunk^T    accumulated in the GEMM (beta = 1)
//   input     gcols    = W^T @ gy_chunk, then col2im into gx
// A chunk holds enough images for a product of at least kTargetColumns
// columns (small feature maps get several images per GEMM, large ones one),
// and the chunks are split across tinytorch's threads, each with its own
// buffers and its own weight-gradient accumulator, summed at the end. The
// columns are never stored for backward: rebuilding a chunk's columns costs
// far less than its GEMM and keeps the memory of a training step down.
// A 1x1 convolution with stride 1 and no padding needs no columns at all:
// an image (C, H*W) is its own column matrix.
// A 3x3 convolution with stride 1 and padding 1 and at least 8 channels in and out
// (a CNN's usual layer) runs Winograd F(2x2, 3x3) instead (ops/conv_winograd.cpp):
// 2.25x fewer multiplies, 1.2x-1.8x faster end to end on bench_conv's shapes.
#include "ops/conv.h"

#include "ops/blas.h"
#include "ops/conv_winograd.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <vector>

#include "core/profiler.h"
#include "ops/parallel.h"
#include "ops/window.h"

namespace tt::ops {

namespace {

// Columns per GEMM below which images are batched into one product. Measured (CPU time
// per fwd+bwd, 1 thread): 64, 256, 512 and 1024 within a few % of each other on the
// bench_conv shapes, 4096 up to 2x slower (the chunk's columns leave the cache).
constexpr int64_t kTargetColumns = 256;

void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0, a,
              static_cast<int>(lda), b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

// Sizes of one convolution, and how the batch is cut into chunks.
struct Plan {
  int64_t N, C, O, K, L, OW, OH, image;  // image: C*H*W elements
  int64_t per;                            // images per chunk (per GEMM)
  int64_t chunks, slots;                  // slots: one per thread, each a contiguous run of chunks
  bool direct;                            // 1x1, stride 1, no padding, one image per chunk: no columns
  Plan(const Window2d& g, int64_t n, int64_t o) {
    N = n, C = g.C, O = o, K = g.C * g.kh * g.kw, OH = g.out_h(), OW = g.out_w(), L = OH * OW, image = g.C * g.H * g.W;
    per = std::clamp<int64_t>((kTargetColumns + L - 1) / L, 1, std::max<int64_t>(N, 1));
    chunks = (N + per - 1) / per;
    slots = std::max<int64_t>(1, std::min<int64_t>(num_threads(), chunks));
    direct = per == 1 && g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
  }
  int64_t first_chunk(int64_t slot) const { return chunks / slots * slot + std::min(slot, chunks % slots); }
};

// Buffers allocated before a parallel region (nothing may throw inside one), uninitialised.
template <class T>
std::unique_ptr<T[]> buffer(int64_t n) {
  return std::unique_ptr<T[]>(n > 0 ? new T[static_cast<size_t>(n)] : nullptr);
}

// The columns of one image (C, H, W), zero padding, written with row stride ld:
// row (c*kh + i)*kw + j, column oh*OW + ow holds x[c, oh*sh - ph + i, ow*sw - pw + j].
template <class T>
void image_to_columns(const T* img, T* dst, int64_t ld, const Window2d& g) {
  const int64_t OH = g.out_h(), OW = g.out_w();
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = dst + ((c * g.kh + i) * g.kw + j) * ld;
        const ValidRange v = valid_columns(j, g.W, OW, g.sw, g.pw);
        for (int64_t oh = 0; oh < OH; ++oh) {
          T* r = row + oh * OW;
          const int64_t ih = oh * g.sh - g.ph + i;
          if (ih < 0 || ih >= g.H) {
            std::fill(r, r + OW, T(0));
            continue;
          }
          const T* src = img + (c * g.H + ih) * g.W + (v.lo * g.sw - g.pw + j);
          std::fill(r, r + v.lo, T(0));
          if (g.sw == 1) {
            std::copy(src, src + (v.hi - v.lo), r + v.lo);
          } else {
            for (int64_t ow = v.lo; ow < v.hi; ++ow) r[ow] = src[(ow - v.lo) * g.sw];
          }
          std::fill(r + v.hi, r + OW, T(0));
        }
      }
}

// The adjoint: sums columns (row stride ld) back into one image, which it zeroes first.
template <class T>
void columns_to_image(const T* src, int64_t ld, T* img, const Window2d& g) {
  const int64_t OH = g.out_h(), OW = g.out_w();
  std::fill(img, img + g.C * g.H * g.W, T(0));
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = src + ((c * g.kh + i) * g.kw + j) * ld;
        const ValidRange v = valid_columns(j, g.W, OW, g.sw, g.pw);
        for (int64_t oh = 0; oh < OH; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + i;
          if (ih < 0 || ih >= g.H) continue;
          T* dst = img + (c * g.H + ih) * g.W + (v.lo * g.sw - g.pw + j);
          const T* r = row + oh * OW;
          if (g.sw == 1) {
            for (int64_t ow = v.lo; ow < v.hi; ++ow) dst[ow - v.lo] += r[ow];
          } else {
            for (int64_t ow = v.lo; ow < v.hi; ++ow) dst[(ow - v.lo) * g.sw] += r[ow];
          }
        }
      }
}

// The columns of images [n0, n0 + cnt) side by side: a (K, cnt*L) matrix.
template <class T>
const T* chunk_columns(const Plan& p, const T* x, int64_t n0, int64_t cnt, T* cols, const Window2d& g) {
  if (p.direct) return x + n0 * p.image;
  for (int64_t i = 0; i < cnt; ++i) image_to_columns(x + (n0 + i) * p.image, cols + i * p.L, cnt * p.L, g);
  return cols;
}

template <class T>
void forward_kernel(const Plan& p, const T* x, const T* w, const T* b, T* y, const Window2d& g) {
  const int64_t cols_size = p.direct ? 0 : p.K * p.per * p.L, out_size = p.per > 1 ? p.O * p.per * p.L : 0;
  std::vector<std::unique_ptr<T[]>> cols(p.slots), out(p.slots);
  for (int64_t s = 0; s < p.slots; ++s) cols[s] = buffer<T>(cols_size), out[s] = buffer<T>(out_size);
  const double flops = 2.0 * static_cast<double>(p.O * p.K) * static_cast<double>(p.N * p.L);
  parallel_for(p.slots, flops, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s)
      for (int64_t ch = p.first_chunk(s); ch < p.first_chunk(s + 1); ++ch) {
        const int64_t n0 = ch * p.per, cnt = std::min(p.per, p.N - n0), cl = cnt * p.L;
        const T* B = chunk_columns(p, x, n0, cnt, cols[s].get(), g);
        if (cnt == 1) {  // straight into the output, the bias preloaded
          T* yn = y + n0 * p.O * p.L;
          if (b)
            for (int64_t o = 0; o < p.O; ++o) std::fill(yn + o * p.L, yn + (o + 1) * p.L, b[o]);
          gemm(CblasNoTrans, CblasNoTrans, p.O, p.L, p.K, w, p.K, B, p.L, b ? T(1) : T(0), yn, p.L);
          continue;
        }
        T* o_buf = out[s].get();
        gemm(CblasNoTrans, CblasNoTrans, p.O, cl, p.K, w, p.K, B, cl, T(0), o_buf, cl);
        for (int64_t i = 0; i < cnt; ++i)  // (O, cnt*L) -> cnt images of (O, L), plus the bias
          for (int64_t o = 0; o < p.O; ++o) {
            const T* src = o_buf + o * cl + i * p.L;
            T* dst = y + ((n0 + i) * p.O + o) * p.L;
            const T bo = b ? b[o] : T(0);
            for (int64_t l = 0; l < p.L; ++l) dst[l] = src[l] + bo;
          }
      }
  });
}

template <class T>
void backward_kernel(const Plan& p, const T* gy, const T* x, const T* w, T* gx, T* gw, T* gb, const Window2d& g) {
  const int64_t col_size = p.direct ? 0 : p.K * p.per * p.L;
  std::vector<std::unique_ptr<T[]>> cols(p.slots), gcols(p.slots), gys(p.slots), acc_w(p.slots), acc_b(p.slots);
  for (int64_t s = 0; s < p.slots; ++s) {
    if (gw) cols[s] = buffer<T>(col_size);
    if (gx) gcols[s] = buffer<T>(col_size);
    if (p.per > 1) gys[s] = buffer<T>(p.O * p.per * p.L);
    if (gw && s > 0) acc_w[s] = buffer<T>(p.O * p.K);
    if (gb) acc_b[s] = buffer<T>(p.O);
  }
  const double flops = 2.0 * static_cast<double>(p.O * p.K) * static_cast<double>(p.N * p.L) * ((gx != nullptr) + (gw != nullptr));
  parallel_for(p.slots, flops, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      T* gws = s == 0 ? gw : acc_w[s].get();
      T* gbs = acc_b[s].get();
      if (gbs) std::fill(gbs, gbs + p.O, T(0));
      bool first = true;
      for (int64_t ch = p.first_chunk(s); ch < p.first_chunk(s + 1); ++ch) {
        const int64_t n0 = ch * p.per, cnt = std::min(p.per, p.N - n0), cl = cnt * p.L;
        const T* G = gy + n0 * p.O * p.L;  // the chunk's gradient as one (O, cnt*L) matrix
        if (cnt > 1) {
          T* buf = gys[s].get();
          for (int64_t i = 0; i < cnt; ++i)
            for (int64_t o = 0; o < p.O; ++o)
              std::memcpy(buf + o * cl + i * p.L, G + (i * p.O + o) * p.L, sizeof(T) * p.L);
          G = buf;
        }
        if (gbs)
          for (int64_t o = 0; o < p.O; ++o) {
            T acc = 0;
            for (int64_t l = 0; l < cl; ++l) acc += G[o * cl + l];
            gbs[o] += acc;
          }
        if (gws) {
          const T* B = chunk_columns(p, x, n0, cnt, cols[s].get(), g);
          gemm(CblasNoTrans, CblasTrans, p.O, p.K, cl, G, cl, B, cl, first ? T(0) : T(1), gws, p.K);
        }
        if (gx) {
          if (p.direct) {
            gemm(CblasTrans, CblasNoTrans, p.K, cl, p.O, w, p.K, G, cl, T(0), gx + n0 * p.image, cl);
          } else {
            T* gc = gcols[s].get();
            gemm(CblasTrans, CblasNoTrans, p.K, cl, p.O, w, p.K, G, cl, T(0), gc, cl);
            for (int64_t i = 0; i < cnt; ++i) columns_to_image(gc + i * p.L, cl, gx + (n0 + i) * p.image, g);
          }
        }
        first = false;
      }
    }
  });
  for (int64_t s = 1; s < p.slots; ++s) {  // every slot has at least one chunk, so every accumulator is written
    if (gw)
      for (int64_t i = 0; i < p.O * p.K; ++i) gw[i] += acc_w[s][i];
  }
  if (gb) {
    std::fill(gb, gb + p.O, T(0));
    for (int64_t s = 0; s < p.slots; ++s)
      for (int64_t o = 0; o < p.O; ++o) gb[o] += acc_b[s][o];
  }
}

void check_blas_sizes(const Plan& p) {
  // BLAS takes int sizes; the largest a product here sees is a chunk's column count or K.
  if (p.K > INT_MAX || p.O > INT_MAX || p.per * p.L > INT_MAX)
    fail<ValueError>("conv2d: the layer is too large for one BLAS product (", p.O, " output channels, ", p.K,
                     " values per window, ", p.L, " output positions); use smaller inputs or kernels");
}

}  // namespace

void check_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Window2d& g) {
  if (!is_floating(x.dtype()))
    fail<TypeError>("conv2d: input must be float32 or float64, got ", dtype_name(x.dtype()));
  if (w.dim() != 4)
    fail<ValueError>("conv2d: weight must be 4-D (out_channels, in_channels, kh, kw), got shape ", shape_str(w.shape()));
  if (w.dtype() != x.dtype())
    fail<TypeError>("conv2d: input is ", dtype_name(x.dtype()), " but weight is ", dtype_name(w.dtype()),
                    "; use one dtype");
  if (x.dim() != 4 || x.shape()[1] != w.shape()[1])
    fail<ValueError>("conv2d: input of shape ", shape_str(x.shape()), " does not match weight of shape ",
                     shape_str(w.shape()), ": expected (N, ", w.shape()[1], ", H, W)");
  if (w.shape()[2] != g.kh || w.shape()[3] != g.kw)
    fail<ValueError>("conv2d: internal error, the window's kernel (", g.kh, ", ", g.kw, ") is not the weight's ",
                     shape_str(w.shape()));
  if (b.defined()) {
    if (b.dtype() != x.dtype())
      fail<TypeError>("conv2d: input is ", dtype_name(x.dtype()), " but bias is ", dtype_name(b.dtype()), "; use one dtype");
    if (b.shape() != Shape{w.shape()[0]})
      fail<ValueError>("conv2d: bias must have shape (", w.shape()[0], ",) for weight of shape ", shape_str(w.shape()),
                       ", got ", shape_str(b.shape()));
  }
  check_window(g, x.shape(), "conv2d");
}

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, const Window2d& g) {
  prof::KernelTimer timer("conv2d");
  check_conv2d(x_in, w_in, b_in, g);
  const Plan p(g, x_in.shape()[0], w_in.shape()[0]);
  check_blas_sizes(p);
  Tensor y = Tensor::empty({p.N, p.O, p.OH, p.OW}, x_in.dtype());
  timer.flops = 2.0 * static_cast<double>(p.O * p.K) * static_cast<double>(p.N * p.L);  // the profiler's GFLOP/s
  if (y.numel() == 0) return y;
  const Tensor x = contiguous(x_in), w = contiguous(w_in), b = b_in.defined() ? contiguous(b_in) : Tensor();
  dispatch_float(x.dtype(), "conv2d", [&](auto tag) {
    using T = decltype(tag);
    const T* bias = b.defined() ? b.data<T>() : nullptr;
    if (winograd_conv_applies(g, p.O))
      winograd_conv_forward<T>(x.data<T>(), w.data<T>(), bias, y.data<T>(), p.N, p.O, g);
    else
      forward_kernel<T>(p, x.data<T>(), w.data<T>(), bias, y.data<T>(), g);
  });
  return y;
}

Conv2dGrads conv2d_backward(const Tensor& gy_in, const Tensor& x_in, const Tensor& w_in, const Shape& x_shape,
                            const Shape& w_shape, DType dt, const Window2d& g, bool need_x, bool need_w,
                            bool need_b) {
  prof::KernelTimer timer("conv2d_backward");
  if ((need_w && !x_in.defined()) || (need_x && !w_in.defined()) || x_shape.size() != 4 || w_shape.size() != 4)
    fail<RuntimeError>("conv2d backward: internal error, the saved input or weight is missing");
  const Plan p(g, x_shape[0], w_shape[0]);
  if (gy_in.shape() != Shape{p.N, p.O, p.OH, p.OW})
    fail<ValueError>("conv2d backward: the gradient has shape ", shape_str(gy_in.shape()), ", expected (", p.N, ", ",
                     p.O, ", ", p.OH, ", ", p.OW, ")");
  timer.flops = 2.0 * static_cast<double>(p.O * p.K) * static_cast<double>(p.N * p.L) * (need_x + need_w);
  Conv2dGrads out;
  if (need_x) out.x = Tensor::empty(x_shape, dt);
  if (need_w) out.w = Tensor::empty(w_shape, dt);
  if (need_b) out.b = Tensor::empty({p.O}, dt);
  if (p.N == 0 || p.O == 0 || p.K == 0) {  // nothing to multiply: every gradient is zero
    if (need_x) out.x = full(x_shape, 0.0, dt);
    if (need_w) out.w = full(w_shape, 0.0, dt);
    if (need_b) out.b = full({p.O}, 0.0, dt);
    return out;
  }
  const Tensor gy = contiguous(astype(gy_in, dt));
  const Tensor x = need_w ? contiguous(x_in) : Tensor(), w = need_x ? contiguous(w_in) : Tensor();
  dispatch_float(dt, "conv2d backward", [&](auto tag) {
    using T = decltype(tag);
    if (winograd_conv_applies(g, p.O)) {
      winograd_conv_backward<T>(gy.data<T>(), need_w ? x.data<T>() : nullptr, need_x ? w.data<T>() : nullptr,
                                need_x ? out.x.data<T>() : nullptr, need_w ? out.w.data<T>() : nullptr,
                                need_b ? out.b.data<T>() : nullptr, p.N, p.O, g);
      return;
    }
    backward_kernel<T>(p, gy.data<T>(), need_w ? x.data<T>() : nullptr, need_x ? w.data<T>() : nullptr, need_x ? out.x.data<T>() : nullptr,
                       need_w ? out.w.data<T>() : nullptr, need_b ? out.b.data<T>() : nullptr, g);
  });
  return out;
}

}  // namespace tt::ops
