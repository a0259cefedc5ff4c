// The transformer's building blocks as single C++ calls: Linear, multi-head
// attention, the MLP, a pre-norm transformer block and the GPT forward.
//
// Each is composed of differentiable ops (csrc/autograd/api.h) or of a fused
// op with its own backward node (csrc/nn/nn_backward.h), so the autograd graph
// of a block is a few nodes whose backward runs entirely in C++, and a Python
// layer crosses into C++ once per forward instead of once per op. Parameters
// stay ordinary tensors owned by the Python modules.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace tt::nn {

// How attention scores are masked before the softmax.
//  None     : every query sees every key.
//  Causal   : query i sees keys j <= i (GPT).
//  Keep     : `mask` != 0 keeps a score, 0 blocks it (the blocked score is replaced by -1e9);
//             the TinyTorch course convention (np.tril(np.ones((T, T)))).
//  Additive : `mask` is added to the scores (0 keeps, -inf or -1e9 blocks); the
//             convention of TinyTorch's GPT._create_causal_mask and of PyTorch.
// `mask` broadcasts against the scores (B, H, Tq, Tk); a 3-D mask (B, Tq, Tk) is
// shared by all heads.
enum class MaskKind { None, Causal, Keep, Additive };
struct AttentionMask {
  MaskKind kind = MaskKind::None;
  Tensor mask;  // for Keep and Additive
};

// The value TinyTorch writes into blocked scores (MASK_VALUE).
constexpr double kMaskValue = -1e9;

// y = x @ w + b over the last dim of x; w is (in, out) (TinyTorch's layout), b (out,) or undefined.
// One GEMM on x seen as a (rows, in) matrix, one LinearBackward node.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);
// gelu_tanh(x @ w + b) as one node: the backward multiplies by GELU's derivative
// in one vectorized pass instead of the ~15 elementwise ops of GELUBackward.
Tensor linear_gelu(const Tensor& x, const Tensor& w, const Tensor& b);
// Several Linears on the same input as one GEMM, their outputs concatenated
// along the last dim (the Q, K, V projections). Missing biases count as zero.
Tensor linear_packed(const Tensor& x, const std::vector<Tensor>& ws, const std::vector<Tensor>& bs);

// LayerNorm over the last dim: (x - mean) / sqrt(var + eps) * gamma + beta, gamma and beta (D,).
// Its backward is one pass of vectorized kernels (csrc/nn/layer_norm.cpp).
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps);

// softmax(Q K^T / sqrt(d) masked) V for Q (..., Tq, d), K (..., Tk, d), V (..., Tk, dv),
// returning (output, attention weights); composed of differentiable ops.
std::pair<Tensor, Tensor> scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                                       const AttentionMask& mask);

// Self-attention core on packed projections: qkv (B, T, 3D) holds Q | K | V along
// the last dim, heads are contiguous slices of D / num_heads; returns (B, T, D)
// with the heads merged. `fused` selects the fused kernel (one node, BLAS per
// head) or the composition of differentiable ops; both give the same values.
Tensor attention_core(const Tensor& qkv, int64_t num_heads, const AttentionMask& mask, bool fused = true);

struct AttentionParams {
  Tensor wq, bq, wk, bk, wv, bv, wo, bo;  // weights (D, D), biases (D,) or undefined
};
// Multi-head self-attention: out_proj(attention(q_proj(x), k_proj(x), v_proj(x))).
Tensor multi_head_attention(const Tensor& x, const AttentionParams& p, int64_t num_heads, const AttentionMask& mask);

struct MLPParams {
  Tensor w1, b1, w2, b2;
};
// linear2(gelu_tanh(linear1(x))), then dropout (identity unless training and p > 0).
Tensor mlp(const Tensor& x, const MLPParams& p, double dropout_p, bool training);

struct LayerNormParams {
  Tensor gamma, beta;
  double eps = 1e-5;
};
struct BlockParams {
  LayerNormParams ln1, ln2;
  AttentionParams attn;
  MLPParams mlp;
};
// Pre-norm block: x + dropout(attn(ln1(x))), then + dropout(mlp(ln2(.))).
Tensor transformer_block(const Tensor& x, const BlockParams& p, int64_t num_heads, const AttentionMask& mask,
                         double dropout_p, bool training);

struct GPTParams {
  Tensor token_embedding, position_embedding;  // (V, D), (max_seq_len, D)
  std::vector<BlockParams> blocks;
  LayerNormParams ln_f;
  Tensor lm_head_w, lm_head_b;  // (D, V), (V,) or undefined
};
// tokens (B, T) int64 -> logits (B, T, V), with a causal mask.
Tensor gpt_forward(const Tensor& tokens, const GPTParams& p, int64_t num_heads, double dropout_p, bool training);

}  // namespace tt::nn
