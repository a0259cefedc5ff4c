// Attention masks and the fused self-attention kernels (ops/attention.cpp,
// ops/attention_mask.cpp). No autograd here: the op that records the
// kernel's backward node is tt::attention (autograd/fused_ops.cpp), its node
// AttentionBackward (autograd/fused_backward.h).
#pragma once
#include "core/tensor.h"

namespace tt::ops {

// How attention scores are masked before the softmax.
//  None     : every query sees every key.
//  Causal   : query i sees keys j <= i (GPT).
//  Keep     : `mask` != 0 keeps a score, 0 blocks it (the blocked score is replaced by -1e9);
//             the TinyTorch course convention (np.tril(np.ones((T, T)))).
//  Additive : `mask` is added to the scores (0 keeps, -inf or -1e9 blocks); the
//             convention of TinyTorch's GPT._create_causal_mask and of PyTorch.
// `mask` broadcasts against the scores (B, H, Tq, Tk); a 3-D mask (B, Tq, Tk) next to
// 4-D scores is shared by all heads.
enum class MaskKind { None, Causal, Keep, Additive };
struct AttentionMask {
  MaskKind kind = MaskKind::None;
  Tensor mask;  // for Keep and Additive
};

// The value TinyTorch writes into blocked scores (MASK_VALUE).
constexpr double kMaskValue = -1e9;

// The one place a user's mask is classified, by its content: undefined -> None; a bool
// mask, or a numeric one with no negative entry -> Keep; a numeric mask with a negative
// entry -> Additive. With seq_len >= 0, a (seq_len, seq_len) mask that does not require
// grad and blocks exactly the future positions (in either convention) -> Causal, which
// the fused kernel handles without reading a mask.
AttentionMask classify_mask(const Tensor& mask, int64_t seq_len);
const char* mask_kind_name(MaskKind kind);  // "none", "causal", "keep", "additive"

// ---- mask helpers shared by the fused kernel and the composed attention ----
// The mask aligned to scores with score_dims dims: a 3-D mask next to 4-D scores gains a head dim.
Tensor align_mask(const Tensor& mask, int64_t score_dims);
// ValueError naming `op` unless mask broadcasts to exactly `scores`.
void check_mask_shape(const Tensor& mask, const Shape& scores, const char* op);
// Upper triangle (j > i) as a bool (tq, tk) tensor: the causally blocked scores.
Tensor causal_blocked(int64_t tq, int64_t tk);

// ---- fused self-attention on packed projections ----
// qkv (B, T, 3D) holds Q | K | V along the last dim; head h is the column block
// [h*hd, (h+1)*hd) of each, read in place by BLAS. ValueError/TypeError on bad shapes or dtypes.
void check_packed(const Tensor& qkv, int64_t num_heads);
struct AttentionResult {
  Tensor out;    // (B, T, D), heads merged
  Tensor probs;  // the attention weights (B, H, T, Tp), rows padded to whole SIMD batches
  Tensor mask;   // a Keep/Additive mask expanded to a contiguous (Bm, Hm, T, T) of qkv's dtype, else undefined
};
AttentionResult attention_forward(const Tensor& qkv, int64_t num_heads, const AttentionMask& mask);
// dqkv from the output gradient g (B, T, D), with P the saved weights and dO the heads of g:
// dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dP * P)) (0 where a Keep mask blocked),
// dQ = dS K / sqrt(hd), dK = dS^T Q / sqrt(hd).
Tensor attention_backward(const Tensor& g, const Tensor& qkv, const AttentionResult& saved, MaskKind kind,
                          int64_t num_heads);

}  // namespace tt::ops
