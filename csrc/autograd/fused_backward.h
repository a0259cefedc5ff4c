// The backward nodes of the fused ops (fused_ops.h): Linear, Linear + GELU,
// LayerNorm and attention. Each replaces a chain of small nodes by one. The
// plain backward runs a fused kernel of csrc/ops; under create_graph=True
// (grad mode on inside backward) the same formula is evaluated with the
// differentiable ops instead, so double backward works. The apply() bodies
// are in fused_backward.cpp; every other rule is in backward.h.
//
// Notation: g = gradient of the output.
#pragma once
#include <vector>

#include "autograd/node.h"
#include "ops/attention.h"

namespace tt {

// y = x2 @ w + b with x2 = x viewed as (rows, in):
// gx = g @ w^T, gw = x2^T @ g, gb = sum over rows of g.
// Packed form (the Q, K, V projections as one GEMM): w = [w_0 | w_1 | ...]
// and b = [b_0 | b_1 | ...] along the output dim; each w_i, b_i gets its own
// contiguous gradient from its column block of g. Inputs: x, w_0.., b_0..
struct LinearBackward : Node {
  std::string name() const override { return "LinearBackward"; }
  SavedTensor x{this};           // the input (seen as a (rows, in) matrix)
  std::vector<SavedTensor> ws;   // the weights (saved when x needs a gradient, or with gelu)
  std::vector<SavedTensor> bs;   // the biases (with gelu only: double backward recomputes u)
  std::vector<int64_t> widths;   // out_features of each packed weight
  Shape x_shape;
  TensorList apply(TensorList&& grads) override;
  // The members declared `{this}` are freed by Node::release_saved(); the two lists
  // (one entry per packed weight) cannot register their elements, so they are cleared here.
  void release_saved() override {
    Node::release_saved();
    ws.clear();
    bs.clear();
  }

 protected:
  TensorList linear_grads(const Tensor& g);  // the rules above for a given g
};

// y = gelu_tanh(u), u = x2 @ w + b: g is first multiplied by gelu'(u) (u saved,
// or recomputed from x, w, b under create_graph), then LinearBackward's rules apply.
struct LinearGeluBackward : LinearBackward {
  std::string name() const override { return "LinearGeluBackward"; }
  SavedTensor pre{this};  // u, the pre-activation
  TensorList apply(TensorList&& grads) override;
};

// Over the last dim; mean and rstd saved per row. xhat = (x - mean) * rstd;
// gx = rstd * (gxh - mean(gxh) - xhat * mean(gxh * xhat)), gxh = g * gamma;
// ggamma = sum over rows of g * xhat; gbeta = sum over rows of g.
struct LayerNormBackward : Node {
  std::string name() const override { return "LayerNormBackward"; }
  SavedTensor x{this}, gamma{this}, mean{this}, rstd{this};
  double eps = 1e-5;
  TensorList apply(TensorList&& grads) override;
};

// out = attention(qkv). With P the saved attention weights per head and dO the
// incoming gradient (heads split out): dV = P^T dO, dP = dO V^T,
// dS = P * (dP - rowsum(dP * P)), dQ = dS K / sqrt(d), dK = dS^T Q / sqrt(d).
struct AttentionBackward : Node {
  std::string name() const override { return "AttentionBackward"; }
  SavedTensor qkv{this}, probs{this};  // probs (B, H, T, Tp), rows padded (ops/attention.h)
  Tensor expanded_mask;        // Keep/Additive masks as (Bm, Hm, T, T) (never requires grad)
  ops::AttentionMask mask;     // the mask as given, for the differentiable recomputation
  int64_t num_heads = 1;
  TensorList apply(TensorList&& grads) override;
};

}  // namespace tt
