// The fused self-attention kernel on packed projections qkv (B, T, 3D)
// straight out of one Linear: head h of Q is the column block
// [h*hd, (h+1)*hd) read with row stride 3D, so BLAS reads every head in place
// and writes the output heads in place into (B, T, D): no permute copies, no
// separate scale/mask/softmax tensors. The attention weights P (B, H, T, T)
// are kept for the backward kernel. Work is split by (batch, head) over the
// threads of ops/parallel.h.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive inside xsimd's AVX-512 code
#include <xsimd/xsimd.hpp>

#include "core/views.h"
#include "ops/attention.h"
#include "ops/blas.h"
#include "ops/ops.h"
#include "ops/parallel.h"

namespace tt::ops {

namespace {

// The attention weights P are stored with rows padded to whole SIMD batches
// (row stride Tp, 64-byte aligned rows), so every row operation below is
// whole aligned vectors with the lanes past the row's end masked in
// registers: no scalar tails, no partial copies. Short causal rows would
// otherwise spend most of their time in scalar exp.
template <class T>
constexpr int64_t simd_width() { return xsimd::batch<T>::size; }

int64_t padded_row(int64_t n, int64_t w) { return (n + w - 1) / w * w; }

template <class T>
xsimd::batch<T> lane_index() {
  alignas(64) T idx[simd_width<T>()];
  for (int64_t l = 0; l < simd_width<T>(); ++l) idx[l] = T(l);
  return xsimd::batch<T>::load_aligned(idx);
}

// row[0, n) <- softmax(row[0, n)); row[n, Tp) <- 0.
template <class T>
void softmax_row(T* row, int64_t n, int64_t Tp, const xsimd::batch<T>& iota) {
  using Batch = xsimd::batch<T>;
  constexpr int64_t W = Batch::size;
  const int64_t nb = (n + W - 1) / W;  // blocks holding the row; the last one is partial
  const Batch ninf(-std::numeric_limits<T>::infinity()), zero(T(0));
  const auto last = iota < Batch(T(n - (nb - 1) * W));
  Batch m = ninf;
  for (int64_t b = 0; b < nb; ++b) {
    Batch v = Batch::load_aligned(row + b * W);
    m = xsimd::max(m, b == nb - 1 ? xsimd::select(last, v, ninf) : v);
  }
  alignas(64) T lanes[W];
  m.store_aligned(lanes);
  T mx = lanes[0];
  for (int64_t l = 1; l < W; ++l) mx = std::max(mx, lanes[l]);
  const Batch shift(mx);
  Batch acc = zero;
  for (int64_t b = 0; b < nb; ++b) {
    Batch e = xsimd::exp(Batch::load_aligned(row + b * W) - shift);
    if (b == nb - 1) e = xsimd::select(last, e, zero);
    e.store_aligned(row + b * W);
    acc += e;
  }
  const Batch inv(T(1) / xsimd::hadd(acc));
  for (int64_t b = 0; b < nb; ++b) (Batch::load_aligned(row + b * W) * inv).store_aligned(row + b * W);
  for (int64_t b = nb; b < Tp / W; ++b) zero.store_aligned(row + b * W);
}

// d[0, n) <- p * (d - sum(d * p)) (the softmax backward of one row); d[n, Tp) <- 0.
template <class T>
void softmax_backward_row(T* d, const T* p, int64_t n, int64_t Tp, const xsimd::batch<T>& iota) {
  using Batch = xsimd::batch<T>;
  constexpr int64_t W = Batch::size;
  const int64_t nb = (n + W - 1) / W;
  const Batch zero(T(0));
  const auto last = iota < Batch(T(n - (nb - 1) * W));
  Batch acc = zero;
  for (int64_t b = 0; b < nb; ++b) {
    Batch prod = Batch::load_aligned(d + b * W) * Batch::load_aligned(p + b * W);
    acc += b == nb - 1 ? xsimd::select(last, prod, zero) : prod;  // lanes past T may hold garbage
  }
  const Batch pd(xsimd::hadd(acc));
  for (int64_t b = 0; b < nb; ++b) {
    Batch r = Batch::load_aligned(p + b * W) * (Batch::load_aligned(d + b * W) - pd);
    (b == nb - 1 ? xsimd::select(last, r, zero) : r).store_aligned(d + b * W);
  }
  for (int64_t b = nb; b < Tp / W; ++b) zero.store_aligned(d + b * W);
}

// 64-byte aligned scratch of n elements.
template <class T>
struct Scratch {
  std::vector<T> v;
  T* p;
  explicit Scratch(int64_t n) : v(static_cast<size_t>(n) + 64 / sizeof(T)) {
    auto addr = reinterpret_cast<uintptr_t>(v.data());
    p = reinterpret_cast<T*>((addr + 63) & ~uintptr_t(63));
  }
};

struct FusedShape {
  int64_t B, T, D, H, hd, Bm = 1, Hm = 1;
};

const void* mask_block(const Tensor& mask, const FusedShape& s, int64_t b, int64_t h, size_t itemsz) {
  if (!mask.defined()) return nullptr;
  int64_t idx = ((s.Bm == 1 ? 0 : b) * s.Hm + (s.Hm == 1 ? 0 : h)) * s.T * s.T;
  return static_cast<const char*>(mask.raw_data()) + idx * static_cast<int64_t>(itemsz);
}

// probs: (B, H, T, Tp) with Tp = T rounded up to whole SIMD batches.
template <class T>
void fused_forward(const T* qkv, T* out, T* probs, const FusedShape& s, MaskKind kind, const Tensor& mask) {
  const int64_t T_ = s.T, ld = 3 * s.D, Tp = padded_row(T_, simd_width<T>());
  const T scale = T(1) / std::sqrt(T(s.hd));
  const auto iota = lane_index<T>();
  parallel_for(s.B * s.H, 4.0 * s.B * s.H * T_ * T_ * s.hd, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / s.H, h = bh % s.H;
      const T* Q = qkv + b * T_ * ld + h * s.hd;
      T* S = probs + bh * T_ * Tp;
      gemm(false, true, T_, T_, s.hd, scale, Q, ld, Q + s.D, ld, T(0), S, Tp);  // S = Q K^T / sqrt(d)
      const T* M = static_cast<const T*>(mask_block(mask, s, b, h, sizeof(T)));
      for (int64_t i = 0; i < T_; ++i) {
        T* row = S + i * Tp;
        if (kind == MaskKind::Keep) {
          for (int64_t j = 0; j < T_; ++j)
            if (M[i * T_ + j] == T(0)) row[j] = T(kMaskValue);
        } else if (kind == MaskKind::Additive) {
          for (int64_t j = 0; j < T_; ++j) row[j] += M[i * T_ + j];
        }
        softmax_row(row, kind == MaskKind::Causal ? i + 1 : T_, Tp, iota);
      }
      gemm(false, false, T_, s.hd, T_, T(1), S, Tp, Q + 2 * s.D, ld, T(0), out + b * T_ * s.D + h * s.hd, s.D);
    }
  });
}

template <class T>
void fused_backward(const T* g, const T* qkv, const T* probs, T* dqkv, const FusedShape& s, MaskKind kind,
                    const Tensor& mask) {
  const int64_t T_ = s.T, ld = 3 * s.D, Tp = padded_row(T_, simd_width<T>());
  const T scale = T(1) / std::sqrt(T(s.hd));
  const auto iota = lane_index<T>();
  parallel_for(s.B * s.H, 4.0 * s.B * s.H * T_ * T_ * s.hd, [&](int64_t begin, int64_t end) {
    Scratch<T> dS(T_ * Tp);  // one per worker
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / s.H, h = bh % s.H;
      const T* Q = qkv + b * T_ * ld + h * s.hd;
      const T* K = Q + s.D;
      const T* V = Q + 2 * s.D;
      const T* P = probs + bh * T_ * Tp;
      const T* dO = g + b * T_ * s.D + h * s.hd;
      T* dQ = dqkv + b * T_ * ld + h * s.hd;
      gemm(true, false, T_, s.hd, T_, T(1), P, Tp, dO, s.D, T(0), dQ + 2 * s.D, ld);  // dV = P^T dO
      gemm(false, true, T_, T_, s.hd, T(1), dO, s.D, V, ld, T(0), dS.p, Tp);          // dP = dO V^T
      const T* M = static_cast<const T*>(mask_block(mask, s, b, h, sizeof(T)));
      for (int64_t i = 0; i < T_; ++i) {
        T* d = dS.p + i * Tp;
        softmax_backward_row(d, P + i * Tp, kind == MaskKind::Causal ? i + 1 : T_, Tp, iota);
        if (kind == MaskKind::Keep)  // a replaced score does not depend on Q or K
          for (int64_t j = 0; j < T_; ++j)
            if (M[i * T_ + j] == T(0)) d[j] = T(0);
      }
      gemm(false, false, T_, s.hd, T_, scale, dS.p, Tp, K, ld, T(0), dQ, ld);       // dQ = dS K
      gemm(true, false, T_, s.hd, T_, scale, dS.p, Tp, Q, ld, T(0), dQ + s.D, ld);  // dK = dS^T Q
    }
  });
}

// A Keep/Additive mask as a contiguous (Bm, Hm, T, T) tensor of the scores' dtype.
Tensor expand_mask(const AttentionMask& mask, FusedShape& s, DType dt) {
  if (mask.kind != MaskKind::Keep && mask.kind != MaskKind::Additive) return Tensor();
  Tensor m = align_mask(mask.mask, 4);
  const Shape scores = {s.B, s.H, s.T, s.T};
  check_mask_shape(m, scores, "MultiHeadAttention");
  while (m.dim() < 4) m = views::unsqueeze(m, 0);
  s.Bm = m.shape()[0];
  s.Hm = m.shape()[1];
  m = views::expand(m, {s.Bm, s.Hm, s.T, s.T});
  return contiguous(astype(m, dt));
}

}  // namespace

void check_packed(const Tensor& qkv, int64_t num_heads) {
  if (qkv.dim() != 3 || qkv.shape()[2] % 3 != 0)
    fail<ValueError>("attention: packed projections must be (batch, seq, 3 * embed_dim), got ", shape_str(qkv.shape()));
  if (num_heads < 1 || (qkv.shape()[2] / 3) % num_heads != 0)
    fail<ValueError>("attention: embed_dim ", qkv.shape()[2] / 3, " is not divisible by num_heads ", num_heads,
                     "; choose num_heads so that embed_dim % num_heads == 0");
  if (!is_floating(qkv.dtype()))
    fail<TypeError>("attention: expected float32 or float64 projections, got ", dtype_name(qkv.dtype()));
}

AttentionResult attention_forward(const Tensor& qkv_in, int64_t num_heads, const AttentionMask& mask) {
  check_packed(qkv_in, num_heads);
  FusedShape s{qkv_in.shape()[0], qkv_in.shape()[1], qkv_in.shape()[2] / 3, num_heads, 0};
  s.hd = s.D / num_heads;
  const DType dt = qkv_in.dtype();
  Tensor qkv = contiguous(qkv_in);
  AttentionResult r;
  r.mask = expand_mask(mask, s, dt);
  r.out = Tensor::empty({s.B, s.T, s.D}, dt);
  const int64_t Tp = padded_row(s.T, dt == DType::Float32 ? simd_width<float>() : simd_width<double>());
  r.probs = Tensor::empty({s.B, s.H, s.T, Tp}, dt);  // rows padded: see fused_forward
  if (s.B * s.T * s.D > 0)
    dispatch_float(dt, "attention", [&](auto tag) {
      using T = decltype(tag);
      fused_forward<T>(qkv.data<T>(), r.out.data<T>(), r.probs.data<T>(), s, mask.kind, r.mask);
    });
  return r;
}

Tensor attention_backward(const Tensor& g, const Tensor& qkv_in, const AttentionResult& saved, MaskKind kind,
                          int64_t num_heads) {
  FusedShape s{qkv_in.shape()[0], qkv_in.shape()[1], qkv_in.shape()[2] / 3, num_heads, 0};
  s.hd = s.D / num_heads;
  if (saved.mask.defined()) {
    s.Bm = saved.mask.shape()[0];
    s.Hm = saved.mask.shape()[1];
  }
  Tensor gc = contiguous(astype(g, qkv_in.dtype()));
  Tensor qkv = contiguous(qkv_in);
  Tensor dqkv = Tensor::empty(qkv.shape(), qkv.dtype());
  if (qkv.numel() > 0)
    dispatch_float(qkv.dtype(), "attention backward", [&](auto tag) {
      using T = decltype(tag);
      fused_backward<T>(gc.data<T>(), qkv.data<T>(), saved.probs.data<T>(), dqkv.data<T>(), s, kind, saved.mask);
    });
  return dqkv;
}

}  // namespace tt::ops
