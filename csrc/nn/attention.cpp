// Attention composed from differentiable ops: scaled_dot_product_attention
// on any Q, K, V (the course's function, which also returns the weights),
// and multi-head self-attention as packed Q/K/V Linear -> fused attention
// -> output Linear. The fused kernel is in csrc/ops/attention.cpp, its op
// and node in csrc/autograd/fused_ops.cpp and fused_backward.cpp.
#include "autograd/api.h"
#include "core/profiler.h"
#include "nn/transformer.h"

namespace tt::nn {

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
  Tensor weights = attention_weights(q, k, mask, op);
  return {matmul(weights, v), weights};
}

Tensor multi_head_attention(const Tensor& x, const AttentionParams& p, int64_t num_heads, const AttentionMask& mask) {
  if (x.dim() != 3)
    fail<ValueError>("MultiHeadAttention: expected input of shape (batch, seq_len, embed_dim), got ",
                     shape_str(x.shape()));
  const int64_t D = p.wq.dim() == 2 ? p.wq.shape()[1] : -1;
  if (x.shape()[2] != D)
    fail<ValueError>("MultiHeadAttention: input of shape ", shape_str(x.shape()), " does not match embed_dim=", D,
                     "; the input's last dimension must be embed_dim");
  Tensor qkv = linear_packed(x, {p.wq, p.wk, p.wv}, {p.bq, p.bk, p.bv});
  return linear(attention(qkv, num_heads, mask), p.wo, p.bo);
}

}  // namespace tt::nn
