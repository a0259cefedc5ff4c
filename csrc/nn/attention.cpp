// Attention: the composed reference (differentiable ops, used by
// scaled_dot_product_attention and for double backward) and the fused
// kernel used by multi-head attention.
//
// The fused kernel works on the packed projections qkv (B, T, 3D) straight
// out of one Linear: head h of Q is the column block [h*hd, (h+1)*hd) read
// with row stride 3D, so BLAS reads every head in place and writes the
// output heads in place into (B, T, D): no permute copies, no separate
// scale/mask/softmax tensors, one node. It saves the attention weights
// P (B, H, T, T) for backward.
#include "ops/blas.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12 false positive inside xsimd's AVX-512 code
#include <xsimd/xsimd.hpp>

#include "autograd/api.h"
#include "autograd/grad_mode.h"
#include "core/profiler.h"
#include "core/views.h"
#include "nn/nn_backward.h"
#include "ops/parallel.h"
#include "ops/ops.h"

namespace tt::nn {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- shared helpers ----

// The mask aligned to scores of shape (..., Tq, Tk): a mask with fewer dims
// broadcasts from the right, except that a 3-D mask next to 4-D scores
// (B, H, Tq, Tk) is (B, Tq, Tk), shared by the heads.
Tensor align_mask(const Tensor& mask, int64_t score_dims) {
  if (score_dims == 4 && mask.dim() == 3) return views::unsqueeze(mask, 1);
  return mask;
}

void check_mask_shape(const Tensor& mask, const Shape& scores, const char* op) {
  try {
    Shape b = broadcast_shapes(mask.shape(), scores, op);
    if (b == scores) return;
  } catch (const ValueError&) {
  }
  fail<ValueError>(op, ": a mask of shape ", shape_str(mask.shape()), " does not broadcast to the attention scores of shape ",
                   shape_str(scores), "; use (Tq, Tk), (batch, Tq, Tk) or (batch, heads, Tq, Tk)");
}

// Upper triangle (j > i) as a bool (Tq, Tk) tensor: the causally blocked scores.
Tensor causal_blocked(int64_t tq, int64_t tk) {
  Tensor m = ops::full({tq, tk}, 0.0, DType::Bool);
  uint8_t* p = m.data<uint8_t>();
  for (int64_t i = 0; i < tq; ++i)
    for (int64_t j = i + 1; j < tk; ++j) p[i * tk + j] = 1;
  return m;
}

Tensor masked_scores(Tensor scores, const AttentionMask& mask, const char* op) {
  const int64_t tq = scores.shape()[scores.dim() - 2], tk = scores.shape().back();
  switch (mask.kind) {
    case MaskKind::None: return scores;
    case MaskKind::Causal: return masked_fill(scores, causal_blocked(tq, tk), -kInf);
    case MaskKind::Keep: {
      Tensor m = align_mask(mask.mask, scores.dim());
      check_mask_shape(m, scores.shape(), op);
      Tensor blocked = ops::binary(ops::BinaryOp::Eq, m, ops::scalar_tensor(0, m.dtype()));
      return masked_fill(scores, blocked, kMaskValue);
    }
    case MaskKind::Additive: {
      Tensor m = align_mask(mask.mask, scores.dim());
      check_mask_shape(m, scores.shape(), op);
      return add(scores, astype(m, scores.dtype()));  // a float64 mask must not promote float32 scores
    }
  }
  return scores;
}

// Splits packed (B, T, 3D) projections into Q, K, V of shape (B, H, T, hd).
std::array<Tensor, 3> split_heads(const Tensor& qkv, int64_t num_heads) {
  const int64_t B = qkv.shape()[0], T = qkv.shape()[1], D = qkv.shape()[2] / 3;
  std::array<Tensor, 3> r;
  for (int64_t i = 0; i < 3; ++i)
    r[i] = permute(reshape(narrow(qkv, 2, i * D, D), {B, T, num_heads, D / num_heads}), {0, 2, 1, 3});
  return r;
}

Tensor merge_heads(const Tensor& x) {  // (B, H, T, hd) -> (B, T, H*hd)
  const int64_t B = x.shape()[0], H = x.shape()[1], T = x.shape()[2], hd = x.shape()[3];
  return reshape(permute(x, {0, 2, 1, 3}), {B, T, H * hd});
}

void check_packed(const Tensor& qkv, int64_t num_heads) {
  if (qkv.dim() != 3 || qkv.shape()[2] % 3 != 0)
    fail<ValueError>("attention: packed projections must be (batch, seq, 3 * embed_dim), got ", shape_str(qkv.shape()));
  if (num_heads < 1 || (qkv.shape()[2] / 3) % num_heads != 0)
    fail<ValueError>("attention: embed_dim ", qkv.shape()[2] / 3, " is not divisible by num_heads ", num_heads,
                     "; choose num_heads so that embed_dim % num_heads == 0");
  if (!is_floating(qkv.dtype()))
    fail<TypeError>("attention: expected float32 or float64 projections, got ", dtype_name(qkv.dtype()));
}

// ---- the fused kernel ----

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

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
  return ops::contiguous(ops::astype(m, dt));
}

bool mask_requires_grad(const AttentionMask& m) { return m.mask.defined() && m.mask.requires_grad(); }

}  // namespace

// ---- public functions ----

std::pair<Tensor, Tensor> scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                                       const AttentionMask& mask) {
  const char* op = "scaled_dot_product_attention";
  prof::KernelTimer timer(op);  // forward kernel time when profiling; a flag test when off
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2)
    fail<ValueError>(op, ": Q, K, V need at least 2 dims (..., seq, dim), got ", shape_str(q.shape()), ", ",
                     shape_str(k.shape()), ", ", shape_str(v.shape()));
  if (q.shape().back() != k.shape().back())
    fail<ValueError>(op, ": Q of shape ", shape_str(q.shape()), " and K of shape ", shape_str(k.shape()),
                     " must have the same last dimension (the key dimension d_k)");
  if (k.shape()[k.dim() - 2] != v.shape()[v.dim() - 2])
    fail<ValueError>(op, ": K of shape ", shape_str(k.shape()), " and V of shape ", shape_str(v.shape()),
                     " must have the same sequence length (dim -2)");
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.shape().back()));
  Tensor scores = mul(matmul(q, transpose(k, -1, -2)), scalar_like(scale, q));
  scores = masked_scores(scores, mask, op);
  Tensor weights = softmax(scores, -1);
  return {matmul(weights, v), weights};
}

static Tensor attention_composed(const Tensor& qkv, int64_t num_heads, const AttentionMask& mask) {
  auto [q, k, v] = split_heads(qkv, num_heads);
  return merge_heads(scaled_dot_product_attention(q, k, v, mask).first);
}

Tensor attention_core(const Tensor& qkv_in, int64_t num_heads, const AttentionMask& mask, bool fused) {
  prof::KernelTimer timer("attention");
  check_packed(qkv_in, num_heads);
  if (!fused || mask_requires_grad(mask)) return attention_composed(qkv_in, num_heads, mask);
  FusedShape s{qkv_in.shape()[0], qkv_in.shape()[1], qkv_in.shape()[2] / 3, num_heads, 0};
  s.hd = s.D / num_heads;
  const DType dt = qkv_in.dtype();
  Tensor qkv = ops::contiguous(qkv_in);
  Tensor m = expand_mask(mask, s, dt);
  Tensor out = Tensor::empty({s.B, s.T, s.D}, dt);
  const int64_t Tp = padded_row(s.T, dt == DType::Float32 ? simd_width<float>() : simd_width<double>());
  Tensor probs = Tensor::empty({s.B, s.H, s.T, Tp}, dt);  // rows padded: see fused_forward
  if (s.B * s.T * s.D > 0)
    dispatch_float(dt, "attention", [&](auto tag) {
      using T = decltype(tag);
      fused_forward<T>(qkv.data<T>(), out.data<T>(), probs.data<T>(), s, mask.kind, m);
    });
  if (GradMode::is_enabled() && qkv_in.requires_grad()) {
    auto n = std::make_shared<AttentionBackward>();
    n->next_edges = {gradient_edge(qkv_in)};
    n->qkv = SavedTensor(qkv_in);  // the original, so a double backward stays linked to it
    n->probs = SavedTensor(probs);
    n->mask = m;
    n->kind = mask.kind;
    n->user_mask = mask;
    n->num_heads = num_heads;
    set_history(out, n);
  }
  return out;
}

TensorList AttentionBackward::apply(TensorList&& grads) {
  check_not_released();
  Tensor X = qkv.unpack(*this);
  const Tensor& g = grads[0];
  if (GradMode::is_enabled()) {
    // create_graph: the same gradient, written with differentiable ops.
    auto [q, k, v] = split_heads(X, num_heads);
    const int64_t hd = q.shape()[3];
    const Tensor scale = scalar_like(1.0 / std::sqrt(static_cast<double>(hd)), X);
    Tensor P = scaled_dot_product_attention(q, k, v, user_mask).second;
    Tensor dO = permute(reshape(g, {g.shape()[0], g.shape()[1], num_heads, hd}), {0, 2, 1, 3});
    Tensor dV = matmul(transpose(P, -1, -2), dO);
    Tensor dP = matmul(dO, transpose(v, -1, -2));
    Tensor dS = mul(P, sub(dP, sum(mul(dP, P), {-1}, true)));
    if (kind == MaskKind::Keep) {
      Tensor blocked = ops::binary(ops::BinaryOp::Eq, align_mask(user_mask.mask, 4),
                                   ops::scalar_tensor(0, user_mask.mask.dtype()));
      dS = masked_fill(dS, blocked, 0.0);
    }
    Tensor dQ = mul(matmul(dS, k), scale), dK = mul(matmul(transpose(dS, -1, -2), q), scale);
    return {cat({merge_heads(dQ), merge_heads(dK), merge_heads(dV)}, 2)};
  }
  FusedShape s{X.shape()[0], X.shape()[1], X.shape()[2] / 3, num_heads, 0};
  s.hd = s.D / num_heads;
  if (mask.defined()) {
    s.Bm = mask.shape()[0];
    s.Hm = mask.shape()[1];
  }
  Tensor gc = ops::contiguous(astype(g, X.dtype()));
  Tensor P = probs.unpack(*this);
  X = ops::contiguous(X);
  Tensor dqkv = Tensor::empty(X.shape(), X.dtype());
  if (X.numel() > 0)
    dispatch_float(X.dtype(), "attention backward", [&](auto tag) {
      using T = decltype(tag);
      fused_backward<T>(gc.data<T>(), X.data<T>(), P.data<T>(), dqkv.data<T>(), s, kind, mask);
    });
  return {dqkv};
}

}  // namespace tt::nn
