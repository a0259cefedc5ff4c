// The differentiable fused convolution (kernels in ops/conv.cpp) and its node.
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
  SavedTensor x, w;  // each saved only when the other's gradient needs it
  Shape x_shape, w_shape;
  DType dtype = DType::Float32;
  bool has_bias = false;
  ops::Window2d window;
  TensorList apply(TensorList&& grads) override;
  void release_saved() override {
    x.reset();
    w.reset();
    released = true;
  }
};

}  // namespace tt
