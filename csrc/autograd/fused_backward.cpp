// The apply() of each fused node (fused_backward.h): a kernel of csrc/ops for
// the plain backward, the same formula in differentiable ops under
// create_graph=True.
#include "autograd/fused_backward.h"

#include <cmath>

#include "autograd/api.h"
#include "autograd/grad_mode.h"
#include "core/views.h"
#include "ops/nn_kernels.h"

namespace tt {

// ---- Linear ----

TensorList LinearBackward::linear_grads(const Tensor& g) {
  const size_t k = widths.size();
  std::vector<Tensor> w;
  auto weights = [&]() -> const std::vector<Tensor>& {
    if (w.empty())
      for (auto& s : ws) w.push_back(s.unpack(*this));
    return w;
  };
  Tensor g2 = reshape(g, {-1, g.shape().back()});
  TensorList result(1 + 2 * k);
  if (next_edges[0].valid()) {  // gx = g @ w^T
    bool same_float = is_floating(g2.dtype()) && !GradMode::is_enabled();
    for (auto& wi : weights()) same_float = same_float && wi.dtype() == g2.dtype();
    if (k > 1 && same_float) {  // the sum over the packed weights of g_i @ w_i^T, with no cat of the weights
      Tensor gx = Tensor::empty({g2.shape()[0], x_shape.back()}, g2.dtype());
      int64_t off = 0;
      for (size_t i = 0; i < k; off += widths[i], ++i)
        ops::matmul_into(views::narrow(g2, 1, off, widths[i]), views::transpose(weights()[i], 0, 1), gx, i > 0);
      result[0] = reshape(gx, x_shape);
    } else {
      result[0] = reshape(matmul(g2, transpose(k == 1 ? weights()[0] : cat(weights(), 1), 0, 1)), x_shape);
    }
  }
  Tensor x2t;
  int64_t off = 0;
  for (size_t i = 0; i < k; off += widths[i], ++i) {
    const bool want_w = next_edges[1 + i].valid(), want_b = next_edges[1 + k + i].valid();
    if (!want_w && !want_b) continue;
    Tensor gi = k == 1 ? g2 : narrow(g2, 1, off, widths[i]);  // BLAS reads the column block in place
    if (want_w) {  // gw = x2^T @ g
      if (!x2t.defined()) {
        Tensor X = x.unpack(*this);
        x2t = transpose(reshape(X, {-1, X.shape().back()}), 0, 1);
      }
      result[1 + i] = matmul(x2t, gi);
    }
    if (want_b)  // gb = sum over rows of g
      result[1 + k + i] = GradMode::is_enabled() ? sum(gi, {0}, false) : ops::sum_rows(g2, off, widths[i]);
  }
  return result;
}

TensorList LinearBackward::apply(TensorList&& grads) {
  return linear_grads(grads[0]);
}

TensorList LinearGeluBackward::apply(TensorList&& grads) {
  if (GradMode::is_enabled()) {  // double backward: u as a function of x, w, b again
    std::vector<Tensor> w, b;
    for (auto& s : ws) w.push_back(s.unpack(*this));
    for (auto& s : bs) b.push_back(s.unpack(*this));
    return linear_grads(mul(grads[0], gelu_tanh_derivative(linear_packed(x.unpack(*this), w, b))));
  }
  return linear_grads(ops::gelu_tanh_backward(grads[0], pre.unpack(*this)));
}

// ---- LayerNorm ----

TensorList LayerNormBackward::apply(TensorList&& grads) {
  Tensor X = x.unpack(*this), G = gamma.unpack(*this);
  const Tensor& gy = grads[0];
  const bool want_x = next_edges[0].valid(), want_g = next_edges[1].valid(), want_b = next_edges[2].valid();
  if (GradMode::is_enabled()) {
    // create_graph: the same formula with differentiable ops, mean and rstd as functions of x.
    Tensor mu = tt::mean(X, {-1}, true);
    Tensor rs = div(scalar_like(1, X), sqrt(add(var(X, {-1}, 0, true), scalar_like(eps, X))));
    Tensor xhat = mul(sub(X, mu), rs);
    Tensor gx, gg, gb;
    if (want_x) {
      Tensor gxh = mul(gy, G);
      gx = mul(rs, sub(sub(gxh, tt::mean(gxh, {-1}, true)), mul(xhat, tt::mean(mul(gxh, xhat), {-1}, true))));
    }
    if (want_g) gg = sum_to(mul(gy, xhat), G.shape());
    if (want_b) gb = sum_to(gy, G.shape());
    return {gx, gg, gb};
  }
  auto r = ops::layer_norm_backward(gy, X, G, mean.unpack(*this), rstd.unpack(*this), want_x, want_g, want_b);
  return {r.x, r.gamma, r.beta};
}

// ---- attention ----

TensorList AttentionBackward::apply(TensorList&& grads) {
  Tensor X = qkv.unpack(*this);
  const Tensor& g = grads[0];
  if (!GradMode::is_enabled())
    return {ops::attention_backward(g, X, {Tensor(), probs.unpack(*this), expanded_mask}, mask.kind, num_heads)};
  // create_graph: the same gradient, written with differentiable ops.
  auto h = split_heads(X, num_heads);
  const Tensor &q = h[0], &k = h[1], &v = h[2];
  const int64_t hd = q.shape()[3];
  const Tensor scale = scalar_like(1.0 / std::sqrt(static_cast<double>(hd)), X);
  Tensor P = attention_weights(q, k, mask, "MultiHeadAttention");
  Tensor dO = permute(reshape(g, {g.shape()[0], g.shape()[1], num_heads, hd}), {0, 2, 1, 3});
  Tensor dV = matmul(transpose(P, -1, -2), dO);
  Tensor dP = matmul(dO, transpose(v, -1, -2));
  Tensor dS = mul(P, sub(dP, sum(mul(dP, P), {-1}, true)));
  if (mask.kind == MaskKind::Keep) {  // a replaced score does not depend on Q or K
    Tensor blocked = ops::binary(ops::BinaryOp::Eq, ops::align_mask(mask.mask, 4),
                                 ops::scalar_tensor(0, mask.mask.dtype()));
    dS = masked_fill(dS, blocked, 0.0);
  }
  Tensor dQ = mul(matmul(dS, k), scale), dK = mul(matmul(transpose(dS, -1, -2), q), scale);
  return {cat({merge_heads(dQ), merge_heads(dK), merge_heads(dV)}, 2)};
}

}  // namespace tt
