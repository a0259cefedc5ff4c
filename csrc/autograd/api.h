// The differentiable ops: what Python calls. Each runs the forward kernel
// (csrc/ops) and, when grad mode is on and an input requires grad, records
// its backward node (csrc/autograd/backward.h; the fused ops' nodes:
// fused_backward.h). Backward rules call these
// same functions, so under create_graph=True the backward is itself recorded.
// Defined in autograd/differentiable.cpp; the list of ops is autograd/ops.def.
#pragma once
#include <optional>
#include <vector>

#include "autograd/node.h"
#include "core/views.h"
#include "ops/ops.h"

namespace tt {

// arithmetic (broadcasting)
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor compare(ops::BinaryOp op, const Tensor& a, const Tensor& b);  // never differentiable
// `value` (a mask or sign computed from `of`) as a function of `of` with zero
// derivative (StepBackward), when grad mode is on and `of` requires grad; as in
// PyTorch, a second derivative through relu/abs/sign is then zeros, not an error.
Tensor zero_grad_of(const Tensor& value, const Tensor& of);
Tensor apply_unary(ops::UnaryOp op, const Tensor& a);  // every unary op: its node comes from autograd/ops.def
// tt::neg(a), tt::exp(a), ... one per named unary op of autograd/ops.def
#define TT_UNARY_OP(NAME, OP, NODE, SAVES) \
  inline Tensor NAME(const Tensor& a) { return apply_unary(ops::UnaryOp::OP, a); }
#include "autograd/ops.def"
#undef TT_UNARY_OP
Tensor scalar_like(double v, const Tensor& like);  // 0-d tensor of like's (float) dtype
Tensor clip(const Tensor& a, std::optional<double> lo, std::optional<double> hi);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& a, const Tensor& mask, double value);

// reductions
Tensor sum(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims);
Tensor mean(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims);
Tensor prod(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims);
Tensor amax(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims);
Tensor amin(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims);
Tensor var(const Tensor& a, const std::vector<int64_t>& axes, int64_t ddof, bool keepdims);
Tensor std(const Tensor& a, const std::vector<int64_t>& axes, int64_t ddof, bool keepdims);
Tensor logsumexp(const Tensor& a, const std::vector<int64_t>& axes, bool keepdims);
Tensor softmax(const Tensor& a, int64_t axis);
Tensor log_softmax(const Tensor& a, int64_t axis);
Tensor sum_to(const Tensor& g, const Shape& shape);  // undo broadcasting (differentiable)

// linear algebra
Tensor matmul(const Tensor& a, const Tensor& b);

// views and shape
Tensor reshape(const Tensor& a, const Shape& shape);
Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& a, const std::vector<int64_t>& dims);
Tensor expand(const Tensor& a, const Shape& shape);
Tensor squeeze(const Tensor& a, std::optional<int64_t> dim);
Tensor unsqueeze(const Tensor& a, int64_t dim);
Tensor flatten(const Tensor& a, int64_t start_dim, int64_t end_dim);
Tensor index_view(const Tensor& a, const std::vector<views::IndexItem>& items);
Tensor narrow(const Tensor& a, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& a, int64_t dim, int64_t index);
Tensor contiguous(const Tensor& a);
Tensor astype(const Tensor& a, DType dtype);
Tensor detach(const Tensor& a);
// zeros of `shape` with g written into the region index(items) selects (SliceBackward's op).
Tensor index_scatter(const Tensor& g, const Shape& shape, const std::vector<views::IndexItem>& items);

// indexing
Tensor gather(const Tensor& a, int64_t dim, const Tensor& index);
Tensor index_select(const Tensor& a, int64_t dim, const Tensor& index);
Tensor take(const Tensor& a, const Tensor& index);
Tensor index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
// t[key] = value inside a graph, out of place: t with t.flat[positions] = value (positions from
// ops::advanced_positions, all distinct), as where(selected, value placed, t), so the old t gets
// zero gradient where it was overwritten and value the gradient of the positions it filled.
Tensor index_put(const Tensor& t, const Tensor& positions, const Tensor& value);
Tensor scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
Tensor embedding(const Tensor& weight, const Tensor& indices);
Tensor cat(const std::vector<Tensor>& ts, int64_t dim);
Tensor stack(const std::vector<Tensor>& ts, int64_t dim);

// spatial windows (convolution and pooling are built from these and matmul)
Tensor im2col(const Tensor& x, const ops::Window2d& g, double pad_value);
Tensor col2im(const Tensor& cols, const ops::Window2d& g);

// neural-network functions with fused backward (linear, layer_norm and attention: fused_ops.h)
Tensor dropout(const Tensor& a, double p, bool training);
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index);
Tensor mse_loss(const Tensor& pred, const Tensor& target);
Tensor bce_loss(const Tensor& pred, const Tensor& target);

// autograd state of a tensor
void retain_grad(const Tensor& t);
int register_hook(const Tensor& t, TensorHook fn);
void remove_hook(const Tensor& t, int id);

}  // namespace tt

#include "autograd/fused_ops.h"  // the fused ops: linear, layer_norm, attention
