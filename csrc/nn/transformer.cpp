// The MLP, the pre-norm transformer block and the GPT forward, each composed
// of the fused ops (Linear, Linear + GELU, LayerNorm, attention) and the
// differentiable ops, so one call builds the whole sub-graph.
#include "nn/transformer.h"

#include "autograd/api.h"
#include "core/profiler.h"

namespace tt::nn {

namespace {

void check_3d(const Tensor& x, const char* layer) {
  if (x.dim() != 3)
    fail<ValueError>(layer, ": expected input of shape (batch, seq_len, embed_dim), got ", shape_str(x.shape()));
}

}  // namespace

Tensor mlp(const Tensor& x, const MLPParams& p, double dropout_p, bool training) {
  return dropout(linear(linear_gelu(x, p.w1, p.b1), p.w2, p.b2), dropout_p, training);
}

Tensor transformer_block(const Tensor& x, const BlockParams& p, int64_t num_heads, const AttentionMask& mask,
                         double dropout_p, bool training) {
  prof::KernelTimer timer("transformer_block");  // forward kernel time when profiling; a flag test when off
  check_3d(x, "TransformerBlock");
  Tensor a = multi_head_attention(layer_norm(x, p.ln1.gamma, p.ln1.beta, p.ln1.eps), p.attn, num_heads, mask);
  Tensor x1 = add(x, dropout(a, dropout_p, training));
  return add(x1, mlp(layer_norm(x1, p.ln2.gamma, p.ln2.beta, p.ln2.eps), p.mlp, dropout_p, training));
}

Tensor gpt_forward(const Tensor& tokens, const GPTParams& p, int64_t num_heads, double dropout_p, bool training) {
  prof::KernelTimer timer("gpt_forward");
  if (tokens.dim() != 2)
    fail<ValueError>("GPT: tokens must be (batch, seq_len), got shape ", shape_str(tokens.shape()));
  const int64_t T = tokens.shape()[1], max_len = p.position_embedding.shape()[0];
  if (T > max_len)
    fail<ValueError>("GPT: sequence length ", T, " exceeds max_seq_len=", max_len,
                     "; crop the input to its last ", max_len, " tokens or build the model with a larger max_seq_len");
  // Positions 0..T-1 are the first T rows of the position table: a view, no lookup.
  Tensor x = add(embedding(p.token_embedding, tokens), narrow(p.position_embedding, 0, 0, T));
  const AttentionMask causal{MaskKind::Causal, Tensor()};
  for (const auto& b : p.blocks) x = transformer_block(x, b, num_heads, causal, dropout_p, training);
  x = layer_norm(x, p.ln_f.gamma, p.ln_f.beta, p.ln_f.eps);
  return linear(x, p.lm_head_w, p.lm_head_b);
}

}  // namespace tt::nn
