// Backward nodes of the fused nn ops. Each replaces a chain of small nodes
// (reshape, matmul, add, permute, softmax, ...) by one node, which is where
// the speed of a small transformer comes from: fewer allocations and fewer
// trips through the engine.
//
// Both keep the DESIGN's promise that backward is differentiable: when grad
// mode is on inside backward (create_graph=True), LinearBackward's formula is
// already written with differentiable ops, and AttentionBackward recomputes
// its forward with differentiable ops and differentiates that.
#pragma once
#include "autograd/node.h"
#include "nn/transformer.h"

namespace tt::nn {

// y = x2 @ w + b with x2 = x viewed as (rows, in):
// gx = g @ w^T, gw = x2^T @ g, gb = sum over rows of g.
// Packed form (the Q, K, V projections as one GEMM): w = [w_0 | w_1 | ...]
// and b = [b_0 | b_1 | ...] along the output dim; each w_i, b_i gets its own
// contiguous gradient from its column block of g. Inputs: x, w_0.., b_0..
// With gelu (linear_gelu): y = gelu_tanh(u), u = x2 @ w + b, and g is first
// multiplied by gelu'(u) (u saved), then the rules above apply.
struct LinearBackward : Node {
  std::string name() const override { return gelu ? "LinearGeluBackward" : "LinearBackward"; }
  SavedTensor x;                 // the input (seen as a (rows, in) matrix)
  std::vector<SavedTensor> ws;   // the weights (saved when x needs a gradient, or with gelu)
  std::vector<SavedTensor> bs;   // the biases (with gelu only: double backward recomputes u)
  std::vector<int64_t> widths;   // out_features of each packed weight
  Shape x_shape;
  bool gelu = false;
  SavedTensor pre;  // u, the pre-activation (with gelu)
  TensorList apply(TensorList&& grads) override;
  void release_saved() override {
    x.reset();
    for (auto& w : ws) w.reset();
    for (auto& b : bs) b.reset();
    pre.reset();
    released = true;
  }
};

// out = attention_core(qkv) (fused kernel). With P the saved attention weights
// per head and dO the incoming gradient (heads split out):
// dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dP * P)), dQ = dS K / sqrt(d), dK = dS^T Q / sqrt(d).
struct AttentionBackward : Node {
  std::string name() const override { return "AttentionBackward"; }
  SavedTensor qkv, probs;  // probs (B, H, T, T)
  Tensor mask;             // Keep/Additive masks, expanded to (Bm, Hm, T, T) (never requires grad)
  MaskKind kind = MaskKind::None;
  AttentionMask user_mask;  // the mask as given, for the differentiable recomputation
  int64_t num_heads = 1;
  TensorList apply(TensorList&& grads) override;
  void release_saved() override { qkv.reset(); probs.reset(); released = true; }
};

// nn::layer_norm over the last dim; mean and rstd saved per row.
// xhat = (x - mean) * rstd; gx = rstd * (gxh - mean(gxh) - xhat * mean(gxh * xhat)), gxh = g * gamma;
// ggamma = sum over rows of g * xhat; gbeta = sum over rows of g.
struct LayerNormBackward : Node {
  std::string name() const override { return "LayerNormBackward"; }
  SavedTensor x, gamma, mean, rstd;
  double eps = 1e-5;
  TensorList apply(TensorList&& grads) override;
  void release_saved() override {
    x.reset();
    gamma.reset();
    mean.reset();
    rstd.reset();
    released = true;
  }
};

}  // namespace tt::nn
