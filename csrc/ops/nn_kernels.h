// Fused kernels of the neural-network functions: each does in one pass what
// a chain of small elementwise and reduction ops would do. They know nothing
// of autograd; the ops that record their backward nodes are in
// csrc/autograd/fused_ops.cpp and the nodes in csrc/autograd/fused_backward.h
// (attention's kernels: ops/attention.h).
#pragma once
#include <vector>

#include "core/tensor.h"

namespace tt::ops {

// ---- LayerNorm (ops/nn_kernels.cpp) ----
struct LayerNormResult { Tensor out, mean, rstd; };  // mean and rstd: one per row, shape (rows,)
// Normalizes over the last dimension: (x - mean) * rstd * gamma + beta, rstd = 1 / sqrt(var + eps).
// An integer x is normalized in float32; gamma and beta are converted to x's float dtype.
LayerNormResult layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps);
struct LayerNormGrads { Tensor x, gamma, beta; };  // undefined where not wanted
// With xhat = (x - mean) * rstd and gxh = gy * gamma, per row:
//   gx = rstd * (gxh - mean(gxh) - xhat * mean(gxh * xhat)); ggamma = sum over rows of gy * xhat; gbeta = sum of gy.
LayerNormGrads layer_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                   const Tensor& rstd, bool want_x, bool want_gamma, bool want_beta);

// ---- cross-entropy (ops/nn_kernels.cpp) ----
struct CrossEntropyResult { Tensor loss, weights; };  // weights (M, 1): 1/count where valid, else 0
// logits (M, C) float, targets (M) int64; mean over targets != ignore_index.
CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index);

// ---- Linear's bias (ops/linear_kernels.cpp; its GELU is ops/gelu.h's elementwise kernel) ----
// y (rows, sum of widths) += the biases, bias i over the column block of width widths[i]; undefined biases add 0.
void add_bias_columns(Tensor& y, const std::vector<Tensor>& biases, const std::vector<int64_t>& widths);
// Column sums of the block [off, off + n) of a (rows, ld) matrix: a bias gradient.
Tensor sum_rows(const Tensor& g2, int64_t off, int64_t n);

}  // namespace tt::ops
