// The kernels of the fused Linear (y = x @ w + b as one GEMM, see
// autograd/fused_ops.cpp) beyond the GEMM itself: the bias added in place,
// and the bias gradient as column sums. (GELU's forward and derivative, which
// the fused Linear + GELU also runs, are the elementwise kernels of gelu.h.)
#include "ops/nn_kernels.h"
#include "ops/ops.h"

namespace tt::ops {

void add_bias_columns(Tensor& y, const std::vector<Tensor>& biases, const std::vector<int64_t>& widths) {
  dispatch_float(y.dtype(), "Linear", [&](auto tag) {
    using T = decltype(tag);
    T* py = y.data<T>();
    const int64_t rows = y.shape()[0], ld = y.shape()[1];
    int64_t off = 0;
    for (size_t i = 0; i < biases.size(); off += widths[i], ++i) {
      if (!biases[i].defined()) continue;
      Tensor bc = contiguous(biases[i]);
      const T* pb = bc.data<T>();
      const int64_t n = widths[i];
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < n; ++j) py[r * ld + off + j] += pb[j];
    }
  });
}

// A plain loop down the rows (the inner loop runs along a row and vectorizes):
// lazy leading-axis reductions are slow (see the design guide).
Tensor sum_rows(const Tensor& g2, int64_t off, int64_t n) {
  Tensor g = contiguous(g2);
  const int64_t rows = g.shape()[0], ld = g.shape()[1];
  Tensor out = full({n}, 0.0, g.dtype());
  dispatch_float(g.dtype(), "Linear backward", [&](auto tag) {
    using T = decltype(tag);
    const T* p = g.data<T>() + off;
    T* o = out.data<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < n; ++j) o[j] += p[r * ld + j];
  });
  return out;
}

}  // namespace tt::ops
