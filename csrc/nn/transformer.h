// The transformer's building blocks as single C++ calls: scaled dot-product
// attention, multi-head attention, the MLP, a pre-norm transformer block and
// the GPT forward.
//
// They only compose: the differentiable ops of csrc/autograd/api.h and the
// fused ops of csrc/autograd/fused_ops.h (linear, linear_gelu, linear_packed,
// layer_norm, attention), each of which records one node whose backward is in
// csrc/autograd/fused_backward.cpp. So the autograd graph of a block is a few
// nodes whose backward runs entirely in C++, and a Python layer crosses into
// C++ once per forward instead of once per op. Parameters stay ordinary
// tensors owned by the Python modules.
#pragma once
#include <vector>

#include "autograd/fused_ops.h"
#include "core/tensor.h"

namespace tt::nn {

using ops::AttentionMask;  // mask kinds and their classification: ops/attention.h
using ops::MaskKind;

// softmax(Q K^T / sqrt(d) masked) V for Q (..., Tq, d), K (..., Tk, d), V (..., Tk, dv),
// returning (output, attention weights); composed of differentiable ops (nn/attention.cpp).
std::pair<Tensor, Tensor> scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                                       const AttentionMask& mask);

struct AttentionParams {
  Tensor wq, bq, wk, bk, wv, bv, wo, bo;  // weights (D, D), biases (D,) or undefined
};
// Multi-head self-attention: out_proj(attention(q_proj(x), k_proj(x), v_proj(x))), the three
// projections as one packed GEMM and the fused attention kernel (nn/attention.cpp).
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
