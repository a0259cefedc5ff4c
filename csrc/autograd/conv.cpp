// Differentiable conv2d and max_pool2d: the fused kernels of ops/conv.cpp and ops/pool.cpp, one node each.
#include "autograd/conv.h"

#include "autograd/api.h"
#include "autograd/grad_mode.h"
#include "autograd/record.h"
#include "ops/conv.h"

namespace tt {

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const ops::Window2d& g) {
  // Inputs x, w, b: without a bias the third edge is invalid and has_bias says so.
  return record<Conv2dBackward>(ops::conv2d(x, w, b, g), {&x, &w, &b}, [&](Conv2dBackward& n) {
    if (w.requires_grad()) n.x = SavedTensor(x);  // the weight gradient reads the input's columns
    if (x.requires_grad()) n.w = SavedTensor(w);  // the input gradient reads the weights
    n.x_shape = x.shape();
    n.w_shape = w.shape();
    n.has_bias = b.defined();
    n.dtype = x.dtype();
    n.window = g;
  });
}

TensorList Conv2dBackward::apply(TensorList&& grads) {
  TensorList out(next_edges.size());
  const Tensor& gy = grads[0];
  if (!gy.defined()) return out;
  const bool need_x = next_edges[0].valid(), need_w = next_edges[1].valid(),
             need_b = has_bias && next_edges[2].valid();
  const Tensor xs = need_w ? x.unpack(*this) : Tensor(), ws = need_x ? w.unpack(*this) : Tensor();
  if (GradMode::is_enabled()) {  // create_graph: the same formulas, recorded
    const int64_t N = x_shape[0], O = w_shape[0], K = w_shape[1] * w_shape[2] * w_shape[3];
    const Tensor gy3 = reshape(gy, {N, O, -1});
    if (need_x) out[0] = tt::col2im(matmul(transpose(reshape(ws, {O, K}), 0, 1), gy3), window);
    if (need_w) out[1] = reshape(sum(matmul(gy3, transpose(tt::im2col(xs, window, 0.0), 1, 2)), {0}, false), w_shape);
    if (need_b) out[2] = sum(gy, {0, 2, 3}, false);
    return out;
  }
  ops::Conv2dGrads r = ops::conv2d_backward(gy, xs, ws, x_shape, w_shape, dtype, window, need_x, need_w, need_b);
  out[0] = r.x;
  out[1] = r.w;
  if (has_bias) out[2] = r.b;
  return out;
}

Tensor max_pool2d(const Tensor& x, const ops::Window2d& g) {
  Tensor y = ops::max_pool2d(x, g);
  return record<MaxPool2dBackward>(y, {&x}, [&](MaxPool2dBackward& n) {
    n.x = SavedTensor(x);
    n.y = SavedTensor(y, /*output=*/true);
    n.window = g;
  });
}

TensorList MaxPool2dBackward::apply(TensorList&& grads) {
  const Tensor& gy = grads[0];
  if (!gy.defined()) return {Tensor()};
  const Tensor xs = x.unpack(*this), ys = detach(y.unpack(*this));
  if (GradMode::is_enabled()) {  // create_graph: linear in gy with constant routing weights
    const Shape& s = xs.shape();
    const int64_t planes = s[0] * s[1];
    ops::Window2d one = window;  // every channel pooled as its own one-channel image
    one.C = 1;
    const Tensor wts = ops::max_pool2d_tie_weights(detach(xs), ys, window);
    const Tensor cols = mul(reshape(gy, {planes, 1, -1}), wts);
    return {reshape(tt::col2im(cols, one), s)};
  }
  return {ops::max_pool2d_backward(gy, xs, ys, window)};
}

}  // namespace tt
