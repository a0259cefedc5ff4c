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
// weights (M, 1): 1/count where valid, else 0; row_stats (M, 2): each row's max and log of its sum
// of exp(x - max) (0 for ignored rows), what the backward needs to rebuild softmax in one pass.
struct CrossEntropyResult { Tensor loss, weights, row_stats; };
// logits (M, C) float, targets (M) int64; mean over targets != ignore_index.
CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index);
// d loss / d logits = (softmax(logits) - onehot(targets)) * weights * g, for the (M, C) logits of
// cross_entropy with its weights and row_stats and g the loss's (scalar) gradient: one pass per row,
// exp(x - max - logsum) per element, no softmax or one-hot matrix materialised.
Tensor cross_entropy_backward(const Tensor& logits, const Tensor& targets, const Tensor& weights,
                              const Tensor& row_stats, double g);

// ---- Linear's bias (ops/linear_kernels.cpp; its GELU is ops/gelu.h's elementwise kernel) ----
// y (rows, sum of widths) += the biases, bias i over the column block of width widths[i]; undefined biases add 0.
void add_bias_columns(Tensor& y, const std::vector<Tensor>& biases, const std::vector<int64_t>& widths);
// Column sums of the block [off, off + n) of a (rows, ld) matrix: a bias gradient.
Tensor sum_rows(const Tensor& g2, int64_t off, int64_t n);
// out = a @ b, or out += a @ b when accumulate (ops/matmul.cpp): a (M, K), b (K, N) in any layout
// matmul accepts, out (M, N) a view whose columns are unit-stride (a column block of a wider
// matrix), all of one float dtype; split across the threads as matmul is. The packed Linear
// (Q, K, V) writes each weight's product into its columns of y and sums the input gradient
// weight by weight, instead of concatenating the weights twice a step (ops/matmul.cpp).
void matmul_into(const Tensor& a, const Tensor& b, Tensor& out, bool accumulate);

}  // namespace tt::ops
