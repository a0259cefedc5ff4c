// The differentiable fused convolution and max pooling (kernels in ops/conv.cpp, ops/pool.cpp) and their nodes.
#pragma once
#include "autograd/node.h"
#include "ops/ops.h"

namespace tt {

// y = conv2d(x, w) + b as one node. b may be undefined (no bias).
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Window2d& g);

// With w2 = w as (O, C*kh*kw), gy_n image n's gradient as (O, OH*OW) and cols_n its columns:
// gx_n = col2im(w2^T @ gy_n), gw = sum_n gy_n @ cols_n^T, gb = gy summed over (N, OH, OW).
// Under create_graph the same formulas run as differentiable ops (im2col, matmul, col2im,
// sum), so double backward works; otherwise the fused kernel computes them.
struct Conv2dBackward : Node {
  std::string name() const override { return "Conv2dBackward"; }
  SavedTensor x{this}, w{this};  // each saved only when the other's gradient needs it
  Shape x_shape, w_shape;
  DType dtype = DType::Float32;
  bool has_bias = false;
  ops::Window2d window;
  TensorList apply(TensorList&& grads) override;
};

// y = max_pool2d(x) as one node: gx = each window's gradient shared equally among the elements
// equal to its max (as the composed im2col + max path). Under create_graph it is
// col2im(g * weights) with the routing weights constant, so gx is differentiable in g (its
// derivative in x is zero almost everywhere, as for max itself).
Tensor max_pool2d(const Tensor& x, const ops::Window2d& g);

struct MaxPool2dBackward : Node {
  std::string name() const override { return "MaxPool2dBackward"; }
  SavedTensor x{this}, y{this};
  ops::Window2d window;
  TensorList apply(TensorList&& grads) override;
};

}  // namespace tt
