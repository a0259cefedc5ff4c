// Fused forward kernels of the neural-network functions (their backward
// rules live with all the others in csrc/autograd/backward.h).
#pragma once
#include "core/tensor.h"

namespace tt::ops {

struct LayerNormResult { Tensor out, mean, rstd; };  // mean/rstd keep a trailing 1 dim
// Normalizes over the last dimension: (x - mean) * rstd * gamma + beta.
LayerNormResult layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps);

struct CrossEntropyResult { Tensor loss, weights; };  // weights (M, 1): 1/count where valid, else 0
// logits (M, C) float, targets (M) int64; mean over targets != ignore_index.
CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index);

}  // namespace tt::ops
