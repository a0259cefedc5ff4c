// Incremental decoding of the GPT with a key/value cache (course module 15).
//
// Generating token t with the plain forward recomputes the keys and values of
// all t-1 earlier tokens in every layer, although they never change (causal
// attention: a token's K and V depend only on itself and the past). The cache
// keeps them: one preallocated (batch, heads, max_seq_len, head_dim) tensor
// for the keys and one for the values per layer, owned by Python's KVCache
// (tinytorch/perf/memoization.py) and written in place here. A step then runs
// only the new tokens through the model: embedding at their positions, each
// block's Q/K/V projections of the new rows, the new K/V written into the
// cache, attention of the new queries over every cached key/value, MLP, ln_f,
// lm_head. It records no graph (inference only) and crosses from Python into
// C++ once per step.
#pragma once
#include <vector>

#include "core/tensor.h"
#include "nn/transformer.h"

namespace tt::nn {

// The model's parameters plus the cache tensors of each layer.
struct KVDecoder {
  GPTParams params;
  int64_t num_heads = 1;
  std::vector<Tensor> keys, values;  // per layer, contiguous (B, H, max_seq_len, hd), the model's dtype

  // Checks the shapes and dtypes once, so step() only checks its own arguments.
  KVDecoder(GPTParams p, int64_t num_heads, std::vector<Tensor> keys, std::vector<Tensor> values, int64_t batch,
            int64_t max_len);

  // tokens (B, Tn) int64 at positions [start, start + Tn): writes their keys and values
  // into the cache rows [start, start + Tn) and returns logits (B, Tn, V); the new query i
  // attends to cached positions [0, start + i] (causal). Rows >= start + Tn are not read.
  Tensor step(const Tensor& tokens, int64_t start) const;

  int64_t batch = 0;     // the cache's batch size
  int64_t capacity = 0;  // positions both the cache and the position table can hold
};

}  // namespace tt::nn
