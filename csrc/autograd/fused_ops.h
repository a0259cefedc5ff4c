// The fused differentiable ops: each runs one fused kernel of csrc/ops
// (nn_kernels.h, attention.h) and records one node of fused_backward.h in
// place of the chain of small nodes the same formula would record if
// composed from api.h's ops. That is where the speed of a small transformer
// comes from: fewer allocations and fewer trips through the engine. Their
// backward rules are written twice on purpose: a kernel for the plain
// backward, and the formula in differentiable ops for create_graph=True, so
// double backward works through them as through every other node.
//
// Also here: the differentiable pieces the attention node and the composed
// attention of csrc/nn share (attention_weights, split_heads, merge_heads).
#pragma once
#include <vector>

#include "core/tensor.h"
#include "ops/attention.h"

namespace tt {

using ops::AttentionMask;
using ops::MaskKind;

// y = x @ w + b over the last dim of x; w is (in, out) (TinyTorch's layout), b (out,) or undefined.
// One GEMM on x seen as a (rows, in) matrix, one LinearBackward node (reshape + matmul + add would be
// four nodes, and the weight gradient of (B, T, in) @ (in, out) B separate products summed afterwards).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);
// gelu_tanh(x @ w + b) as one LinearGeluBackward node: the backward multiplies by GELU's
// derivative in one vectorized pass instead of GELUBackward's ~15 elementwise ops.
Tensor linear_gelu(const Tensor& x, const Tensor& w, const Tensor& b);
// Several Linears on the same input as one GEMM, their outputs concatenated
// along the last dim (the Q, K, V projections). Missing biases count as zero.
Tensor linear_packed(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs);

// LayerNorm over the last dim: (x - mean) / sqrt(var + eps) * gamma + beta, gamma and beta (D,).
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps);

// Self-attention on packed projections qkv (B, T, 3D) (Q | K | V along the last dim, heads
// contiguous slices of D / num_heads), returning (B, T, D) with the heads merged: the fused
// kernel and one AttentionBackward node. A mask that requires grad takes the composed ops
// instead (attention_weights), since the node gives the mask no gradient.
Tensor attention(const Tensor& qkv, int64_t num_heads, const AttentionMask& mask);

// softmax(mask(q k^T / sqrt(d))) over the last dim, from differentiable ops: the attention
// weights, as the composed attention and the attention node's double backward compute them.
// `op` names the user's function in mask-shape errors.
Tensor attention_weights(const Tensor& q, const Tensor& k, const AttentionMask& mask, const char* op);
// Packed (B, T, 3D) projections -> Q, K, V of shape (B, H, T, hd), and back: (B, H, T, hd) -> (B, T, H*hd).
std::vector<Tensor> split_heads(const Tensor& qkv, int64_t num_heads);
Tensor merge_heads(const Tensor& x);

// d gelu_tanh(x) / dx = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2), t = tanh(k (x + c x^3)),
// from differentiable ops: the one formula of GELUBackward (tanh form), also used by
// LinearGeluBackward under create_graph. (The kernels: ops/gelu.h.)
Tensor gelu_tanh_derivative(const Tensor& x);

}  // namespace tt
