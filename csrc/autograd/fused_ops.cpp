// The fused differentiable ops (see fused_ops.h): argument checks, the
// kernel of csrc/ops, and the node of fused_backward.h when an input
// requires grad. Mixed dtypes (a float64 input with float32 weights) take
// the generic ops, which promote.
#include "autograd/fused_ops.h"

#include <cmath>
#include <limits>

#include "autograd/api.h"
#include "autograd/fused_backward.h"
#include "autograd/grad_mode.h"
#include "autograd/record.h"
#include "core/profiler.h"
#include "core/views.h"
#include "ops/gelu.h"
#include "ops/nn_kernels.h"

namespace tt {

namespace {

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
    fail<ValueError>("Linear: expected one bias slot per weight, got ", ws.size(), " weights and ", bs.size(),
                     " biases");
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
  Tensor x2 = ops::reshape(x, {-1, in}), y;  // y: new (rows, out)
  if (ws.size() == 1) {
    y = ops::matmul(x2, ws[0]);
  } else {  // each weight's product straight into its columns of y: no cat of the weights
    y = Tensor::empty({x2.shape()[0], out}, x.dtype());
    for (size_t i = 0, off = 0; i < ws.size(); off += widths[i], ++i) {
      Tensor block = views::narrow(y, 1, static_cast<int64_t>(off), widths[i]);
      ops::matmul_into(x2, ws[i], block, false);
    }
  }
  ops::add_bias_columns(y, bs, widths);
  Tensor pre;
  if (gelu) {
    pre = y;
    y = ops::unary(ops::UnaryOp::GeluTanh, pre);  // the kernel of tt.gelu(approximate='tanh')
  }
  Shape out_shape = x.shape();
  out_shape.back() = out;
  y = ops::reshape(y, out_shape);

  // Inputs x, w_0.., b_0..: one edge each (an absent bias gets an invalid edge).
  std::vector<const Tensor*> inputs{&x};
  for (auto& w : ws) inputs.push_back(&w);
  for (auto& b : bs) inputs.push_back(&b);
  auto save = [&](LinearBackward& n) {
    bool any_w = false;
    for (auto& w : ws) any_w = any_w || requires_grad(w);
    // x is only needed for the weight gradients, the weights only for the input gradient
    // (with gelu all are kept: a double backward recomputes u from them). x itself, not
    // its (rows, in) view, is saved so that a double backward stays linked to it.
    if (any_w || gelu) n.x = SavedTensor(x);
    if (requires_grad(x) || gelu)
      for (auto& w : ws) n.ws.push_back(SavedTensor(w));
    if (gelu)
      for (auto& b : bs) n.bs.push_back(SavedTensor(b));
    n.widths = std::move(widths);
    n.x_shape = x.shape();
  };
  if (gelu)
    return record<LinearGeluBackward>(y, inputs, [&](LinearGeluBackward& n) {
      save(n);
      n.pre = SavedTensor(pre);
    });
  return record<LinearBackward>(y, inputs, save);
}

Tensor masked_scores(const Tensor& scores, const AttentionMask& mask, const char* op) {
  const int64_t tq = scores.shape()[scores.dim() - 2], tk = scores.shape().back();
  switch (mask.kind) {
    case MaskKind::None: return scores;
    case MaskKind::Causal:
      return masked_fill(scores, ops::causal_blocked(tq, tk), -std::numeric_limits<double>::infinity());
    case MaskKind::Keep: {
      Tensor m = ops::align_mask(mask.mask, scores.dim());
      ops::check_mask_shape(m, scores.shape(), op);
      Tensor blocked = ops::binary(ops::BinaryOp::Eq, m, ops::scalar_tensor(0, m.dtype()));
      return masked_fill(scores, blocked, ops::kMaskValue);
    }
    case MaskKind::Additive: {
      // (a differentiable unsqueeze: an additive mask that requires grad gets its gradient)
      Tensor m = scores.dim() == 4 && mask.mask.dim() == 3 ? unsqueeze(mask.mask, 1) : mask.mask;
      ops::check_mask_shape(m, scores.shape(), op);
      return add(scores, astype(m, scores.dtype()));  // a float64 mask must not promote float32 scores
    }
  }
  return scores;
}

}  // namespace

// ---- Linear ----

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) { return linear_impl(x, {w}, {b}, false); }

Tensor linear_gelu(const Tensor& x, const Tensor& w, const Tensor& b) { return linear_impl(x, {w}, {b}, true); }

Tensor linear_packed(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs) {
  return linear_impl(x, ws, bs, false);
}

Tensor gelu_tanh_derivative(const Tensor& u) {
  auto s = [&](double v) { return scalar_like(v, u); };
  const double k = ops::kGeluK, c = ops::kGeluC;
  Tensor u2 = mul(u, u);
  Tensor t = tanh(mul(mul(u, add(s(1), mul(u2, s(c)))), s(k)));
  return add(mul(s(0.5), add(s(1), t)),
             mul(mul(mul(s(0.5 * k), u), sub(s(1), mul(t, t))), add(s(1), mul(u2, s(3 * c)))));
}

// ---- LayerNorm ----

Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  auto r = ops::layer_norm(x, gamma, beta, eps);
  return record<LayerNormBackward>(r.out, {&x, &gamma, &beta}, [&](LayerNormBackward& n) {
    n.x = SavedTensor(x);
    n.gamma = SavedTensor(gamma);
    n.mean = SavedTensor(r.mean);
    n.rstd = SavedTensor(r.rstd);
    n.eps = eps;
  });
}

// ---- attention ----

std::vector<Tensor> split_heads(const Tensor& qkv, int64_t num_heads) {
  const int64_t B = qkv.shape()[0], T = qkv.shape()[1], D = qkv.shape()[2] / 3;
  std::vector<Tensor> r;
  for (int64_t i = 0; i < 3; ++i)
    r.push_back(permute(reshape(narrow(qkv, 2, i * D, D), {B, T, num_heads, D / num_heads}), {0, 2, 1, 3}));
  return r;
}

Tensor merge_heads(const Tensor& x) {
  const int64_t B = x.shape()[0], H = x.shape()[1], T = x.shape()[2], hd = x.shape()[3];
  return reshape(permute(x, {0, 2, 1, 3}), {B, T, H * hd});
}

Tensor attention_weights(const Tensor& q, const Tensor& k, const AttentionMask& mask, const char* op) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.shape().back()));
  Tensor scores = mul(matmul(q, transpose(k, -1, -2)), scalar_like(scale, q));
  return softmax(masked_scores(scores, mask, op), -1);
}

Tensor attention(const Tensor& qkv, int64_t num_heads, const AttentionMask& mask) {
  prof::KernelTimer timer("attention");  // forward kernel time when profiling; a flag test when off
  ops::check_packed(qkv, num_heads);
  if (requires_grad(mask.mask)) {  // the node gives a mask no gradient: compose, so the mask gets one
    auto h = split_heads(qkv, num_heads);
    return merge_heads(matmul(attention_weights(h[0], h[1], mask, "MultiHeadAttention"), h[2]));
  }
  auto r = ops::attention_forward(qkv, num_heads, mask);
  return record<AttentionBackward>(r.out, {&qkv}, [&](AttentionBackward& n) {
    n.qkv = SavedTensor(qkv);  // the original, so a double backward stays linked to it
    n.probs = SavedTensor(r.probs);
    n.expanded_mask = r.mask;
    n.mask = mask;
    n.num_heads = num_heads;
  });
}

}  // namespace tt
