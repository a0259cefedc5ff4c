// Linear: y = x @ w + b, with x of any rank (..., in) treated as one
// (rows, in) matrix, so forward is one GEMM and backward two GEMMs and a
// column sum, all in one LinearBackward node. Composing reshape + matmul +
// add would give four nodes, and matmul on (B, T, in) @ (in, out) would
// compute the weight gradient as B separate products summed afterwards.
//
// linear_packed runs several Linears of the same input (Q, K, V) as one
// GEMM on their concatenated weights; each weight still gets its own
// contiguous gradient. linear_gelu applies GELU in the same node: at
// transformer sizes GELUBackward's chain of elementwise ops over the
// (rows, 4 * embed) hidden layer costs more than the GEMMs around it.
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

constexpr double kGeluK = 0.7978845608028654;  // sqrt(2 / pi)
constexpr double kGeluC = 0.044715;

bool requires_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

void check_linear_args(const Tensor& x, const Tensor& w, const Tensor& b) {
  if (w.dim() != 2)
    fail<ValueError>("Linear: weight must be 2-D (in_features, out_features), got shape ", shape_str(w.shape()));
  if (x.dim() < 1 || x.shape().back() != w.shape()[0])
    fail<ValueError>("Linear: input of shape ", shape_str(x.shape()), " does not match weight of shape ",
                     shape_str(w.shape()), ": the input's last dimension must be in_features = ", w.shape()[0]);
  if (b.defined() && b.shape() != Shape{w.shape()[1]})
    fail<ValueError>("Linear: bias must have shape (", w.shape()[1], ",) to match weight of shape ",
                     shape_str(w.shape()), ", got ", shape_str(b.shape()));
}

// Column sums of the block [off, off + n) of a (rows, ld) matrix: a bias
// gradient. A plain loop down the rows (the inner loop runs along a row and
// vectorizes), as the DESIGN notes that lazy leading-axis reductions are slow.
Tensor sum_rows(const Tensor& g2, int64_t off, int64_t n) {
  Tensor g = ops::contiguous(g2);
  const int64_t rows = g.shape()[0], ld = g.shape()[1];
  Tensor out = ops::full({n}, 0.0, g.dtype());
  dispatch_float(g.dtype(), "Linear backward", [&](auto tag) {
    using T = decltype(tag);
    const T* p = g.data<T>() + off;
    T* o = out.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < n; ++j) o[j] += p[r * ld + j];
  });
  return out;
}

// tanh(v) as 1 - 2 / (exp(2v) + 1): one vectorized exp and one division,
// cheaper than xsimd::tanh; exact enough (relative error ~1e-7 in float32,
// and it saturates correctly: exp overflow gives 1, underflow gives -1).
template <class B>
B fast_tanh(const B& v) {
  using T = typename B::value_type;
  return B(T(1)) - B(T(2)) / (xsimd::exp(v + v) + B(T(1)));
}

// y = 0.5 u (1 + t), t = tanh(k (u + c u^3)): the same function as tt.gelu(approximate='tanh').
template <class T>
void gelu_forward(const T* u, T* y, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  // (copy-initialized: brace-initializing a batch from one scalar sets only lane 0)
  const B half = B(T(0.5)), one = B(T(1)), k = B(T(kGeluK)), c = B(T(kGeluC));
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    B v = B::load_unaligned(u + i);
    (half * v * (one + fast_tanh(k * (v + c * v * v * v)))).store_unaligned(y + i);
  }
  for (; i < n; ++i) y[i] = T(0.5) * u[i] * (T(1) + std::tanh(T(kGeluK) * (u[i] + T(kGeluC) * u[i] * u[i] * u[i])));
}

// gu = g * gelu'(u), gelu'(u) = 0.5 (1 + t) + 0.5 u (1 - t^2) k (1 + 3 c u^2). t is recomputed
// rather than saved: at large sizes the extra memory traffic costs more than the exp.
template <class T>
void gelu_backward(const T* g, const T* u, T* gu, int64_t n) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = B::size;
  const B half = B(T(0.5)), one = B(T(1)), k = B(T(kGeluK)), c = B(T(kGeluC)), c3 = B(T(3 * kGeluC));
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    B v = B::load_unaligned(u + i), v2 = v * v;
    B t = fast_tanh(k * (v + c * v2 * v));
    B d = half * (one + t) + half * v * (one - t * t) * k * (one + c3 * v2);
    (B::load_unaligned(g + i) * d).store_unaligned(gu + i);
  }
  for (; i < n; ++i) {
    const T v = u[i], t = std::tanh(T(kGeluK) * (v + T(kGeluC) * v * v * v));
    gu[i] = g[i] * (T(0.5) * (1 + t) + T(0.5) * v * (1 - t * t) * T(kGeluK) * (1 + T(3 * kGeluC) * v * v));
  }
}

// The derivative above written with differentiable ops (for create_graph=True).
Tensor gelu_derivative(const Tensor& u) {
  auto s = [&](double v) { return scalar_like(v, u); };
  Tensor u2 = mul(u, u);
  Tensor t = tanh(mul(mul(u, add(s(1), mul(u2, s(kGeluC)))), s(kGeluK)));
  return add(mul(s(0.5), add(s(1), t)),
             mul(mul(mul(s(0.5 * kGeluK), u), sub(s(1), mul(t, t))), add(s(1), mul(u2, s(3 * kGeluC)))));
}

// The generic ops promote mixed dtypes (e.g. a float64 input with float32 weights).
Tensor linear_generic(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs, bool gelu) {
  Tensor w = ws.size() == 1 ? ws[0] : cat(ws, 1);
  Tensor y = matmul(x, w);
  bool any_bias = false;
  for (auto& b : bs) any_bias = any_bias || b.defined();
  if (any_bias) {
    std::vector<Tensor> full_bs;
    for (size_t i = 0; i < ws.size(); ++i)
      full_bs.push_back(bs[i].defined() ? bs[i] : ops::full({ws[i].shape()[1]}, 0.0, ws[i].dtype()));
    y = add(y, full_bs.size() == 1 ? full_bs[0] : cat(full_bs, 0));
  }
  return gelu ? apply_unary(ops::UnaryOp::GeluTanh, y) : y;
}

Tensor linear_impl(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs, bool gelu) {
  prof::KernelTimer timer(gelu ? "linear_gelu" : "linear");  // forward kernel time; a flag test when off
  if (ws.empty() || ws.size() != bs.size())
    fail<ValueError>("Linear: expected one bias slot per weight, got ", ws.size(), " weights and ", bs.size(), " biases");
  bool same_float = is_floating(x.dtype());
  for (size_t i = 0; i < ws.size(); ++i) {
    check_linear_args(x, ws[i], bs[i]);
    same_float = same_float && ws[i].dtype() == x.dtype() && (!bs[i].defined() || bs[i].dtype() == x.dtype());
  }
  if (!same_float) return linear_generic(x, ws, bs, gelu);

  const int64_t in = ws[0].shape()[0];
  std::vector<int64_t> widths;
  int64_t out = 0;
  for (auto& w : ws) {
    widths.push_back(w.shape()[1]);
    out += w.shape()[1];
  }
  Tensor y = ops::matmul(ops::reshape(x, {-1, in}), ws.size() == 1 ? ws[0] : ops::cat(ws, 1));  // new (rows, out)
  Tensor pre;
  dispatch_float(y.dtype(), "Linear", [&](auto tag) {
    using T = decltype(tag);
    T* py = y.data<T>();
    const int64_t rows = y.shape()[0];
    int64_t off = 0;
    for (size_t i = 0; i < ws.size(); off += widths[i], ++i) {
      if (!bs[i].defined()) continue;
      Tensor bc = ops::contiguous(bs[i]);
      const T* pb = bc.data<T>();
      const int64_t n = widths[i];
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n; ++j) py[r * out + off + j] += pb[j];
    }
    if (gelu) {
      pre = y;
      y = Tensor::empty(pre.shape(), pre.dtype());
      gelu_forward<T>(pre.data<T>(), y.data<T>(), y.numel());
    }
  });
  Shape out_shape = x.shape();
  out_shape.back() = out;
  y = ops::reshape(y, out_shape);

  if (!GradMode::is_enabled()) return y;
  bool any_w = false, any_b = false;
  for (size_t i = 0; i < ws.size(); ++i) {
    any_w = any_w || requires_grad(ws[i]);
    any_b = any_b || requires_grad(bs[i]);
  }
  if (!requires_grad(x) && !any_w && !any_b) return y;
  auto n = std::make_shared<LinearBackward>();
  n->next_edges.reserve(1 + 2 * ws.size());
  n->next_edges.push_back(gradient_edge(x));
  for (auto& w : ws) n->next_edges.push_back(gradient_edge(w));
  for (auto& b : bs) n->next_edges.push_back(gradient_edge(b));
  // x is only needed for the weight gradients, the weights only for the input gradient
  // (with gelu all are kept: a double backward recomputes u from them). x itself, not
  // its (rows, in) view, is saved so that a double backward stays linked to it.
  if (any_w || gelu) n->x = SavedTensor(x);
  if (requires_grad(x) || gelu)
    for (auto& w : ws) n->ws.push_back(SavedTensor(w));
  if (gelu) {
    for (auto& b : bs) n->bs.push_back(SavedTensor(b));
    n->pre = SavedTensor(pre);
    n->gelu = true;
  }
  n->widths = std::move(widths);
  n->x_shape = x.shape();
  set_history(y, n);
  return y;
}

}  // namespace

Tensor linear_packed(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs) {
  return linear_impl(x, ws, bs, false);
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) { return linear_impl(x, {w}, {b}, false); }

Tensor linear_gelu(const Tensor& x, const Tensor& w, const Tensor& b) { return linear_impl(x, {w}, {b}, true); }

TensorList LinearBackward::apply(TensorList&& grads) {
  check_not_released();
  const size_t k = widths.size();
  Tensor g = grads[0];
  std::vector<Tensor> w;
  auto weights = [&]() -> const std::vector<Tensor>& {
    if (w.empty())
      for (auto& s : ws) w.push_back(s.unpack(*this));
    return w;
  };
  if (gelu) {
    if (GradMode::is_enabled()) {  // double backward: u as a function of x, w, b again
      std::vector<Tensor> b;
      for (auto& s : bs) b.push_back(s.unpack(*this));
      g = mul(g, gelu_derivative(linear_impl(x.unpack(*this), weights(), b, false)));
    } else {
      Tensor u = pre.unpack(*this), gc = ops::contiguous(astype(g, u.dtype()));
      Tensor gu = Tensor::empty(u.shape(), u.dtype());
      dispatch_float(u.dtype(), "Linear backward", [&](auto tag) {
        using T = decltype(tag);
        gelu_backward<T>(gc.data<T>(), u.data<T>(), gu.data<T>(), u.numel());
      });
      g = gu;
    }
  }
  Tensor g2 = reshape(g, {-1, g.shape().back()});
  TensorList result(1 + 2 * k);
  if (next_edges[0].valid())
    result[0] = reshape(matmul(g2, transpose(k == 1 ? weights()[0] : cat(weights(), 1), 0, 1)), x_shape);
  Tensor x2t;
  int64_t off = 0;
  for (size_t i = 0; i < k; off += widths[i], ++i) {
    const bool want_w = next_edges[1 + i].valid(), want_b = next_edges[1 + k + i].valid();
    if (!want_w && !want_b) continue;
    Tensor gi = k == 1 ? g2 : narrow(g2, 1, off, widths[i]);  // BLAS reads the column block in place
    if (want_w) {
      if (!x2t.defined()) {
        Tensor X = x.unpack(*this);
        x2t = transpose(reshape(X, {-1, X.shape().back()}), 0, 1);
      }
      result[1 + i] = matmul(x2t, gi);
    }
    if (want_b) result[1 + k + i] = GradMode::is_enabled() ? sum(gi, {0}, false) : sum_rows(g2, off, widths[i]);
  }
  return result;
}

}  // namespace tt::nn
