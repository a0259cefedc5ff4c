// Fused 2-D convolution kernels (ops/conv.cpp): the forward and the three
// gradients of y = conv2d(x, w) + b without building the (N, C*kh*kw, OH*OW)
// column tensor of the whole batch; and fused max pooling (ops/pool.cpp).
// No graph recording here (autograd/conv.h).
#pragma once
#include "ops/ops.h"

namespace tt::ops {

// Checks x (N, C, H, W), w (O, C, kh, kw) and b ((O,) or undefined) against the
// window g (built from x and w's kernel) and each other: ValueError / TypeError naming conv2d.
void check_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Window2d& g);

// y (N, O, OH, OW) = cross-correlation of x with w, plus b when defined.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Window2d& g);

struct Conv2dGrads {
  Tensor x, w, b;  // undefined where not asked for
};
// Gradients of conv2d for the incoming gradient gy (N, O, OH, OW):
// gx = col2im(w2^T @ gy_n) per image, gw = sum over images of gy_n @ cols_n^T, gb = gy summed
// over (N, OH, OW), with w2 = w as (O, C*kh*kw) and cols_n the columns of image n.
// x is read only for gw and w only for gx (either may be undefined when not needed); the
// gradients are of dtype `dtype` (gy is converted to it).
Conv2dGrads conv2d_backward(const Tensor& gy, const Tensor& x, const Tensor& w, const Shape& x_shape,
                            const Shape& w_shape, DType dtype, const Window2d& g, bool need_x, bool need_w,
                            bool need_b);

}  // namespace tt::ops

namespace tt::ops {

// ---- max pooling (ops/pool.cpp) ----
// y (N, C, OH, OW): the max over each window of each channel (padding never wins). g.C = C.
Tensor max_pool2d(const Tensor& x, const Window2d& g);
// gx: each window's gradient shared equally among the elements equal to its max.
Tensor max_pool2d_backward(const Tensor& gy, const Tensor& x, const Tensor& y, const Window2d& g);
// The same routing as a constant (N*C, kh*kw, OH*OW) weight per window position (1/ties where x is
// the max, else 0), laid out as im2col's columns: for the differentiable backward under create_graph.
Tensor max_pool2d_tie_weights(const Tensor& x, const Tensor& y, const Window2d& g);

}  // namespace tt::ops
