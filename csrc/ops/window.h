// Index arithmetic shared by the window kernels (ops/spatial.cpp's im2col/col2im and
// ops/conv.cpp's fused convolution).
#pragma once
#include <algorithm>
#include <cstdint>

namespace tt::ops {

// The output columns ow whose input column iw = ow*s - p + j lies inside [0, W): [lo, hi).
// Computed once per kernel column so the copy loops have no bounds test.
struct ValidRange {
  int64_t lo, hi;
};
inline ValidRange valid_columns(int64_t j, int64_t W, int64_t OW, int64_t s, int64_t p) {
  const int64_t first = p - j;                                     // ow*s >= p - j
  int64_t lo = first <= 0 ? 0 : first / s + (first % s != 0);     // ceil, without first + s overflowing
  int64_t hi = (W - 1 + p - j) < 0 ? 0 : (W - 1 + p - j) / s + 1;  // ow*s <= W - 1 + p - j
  lo = std::min(lo, OW);
  hi = std::max(lo, std::min(hi, OW));
  return {lo, hi};
}

}  // namespace tt::ops
