// Winograd F(2x2, 3x3) convolution (ops/conv_winograd.cpp): the 3x3, stride 1, padding 1
// layer of a CNN with 2.25x fewer multiplies than the column GEMM of ops/conv.cpp.
// Internal to ops/conv.cpp, which checks the arguments and chooses the kernel.
#pragma once
#include <cstdint>

#include "ops/ops.h"

namespace tt::ops {

// True when the layer is one this kernel computes (3x3 window, stride 1, padding 1 on both
// axes) and has channels enough (C in, O out) for its 16 small GEMMs to beat one large one.
bool winograd_conv_applies(const Window2d& g, int64_t O);

// y (N, O, H, W) = the convolution of x (N, C, H, W) with w (O, C, 3, 3), plus b when not null.
// All pointers contiguous; g.C = C.
template <class T>
void winograd_conv_forward(const T* x, const T* w, const T* b, T* y, int64_t N, int64_t O, const Window2d& g);

// The gradients for the incoming gy (N, O, H, W): gx (N, C, H, W) needs w, gw (O, C, 3, 3)
// needs x; gb (O,) is gy's sum. A null output is not computed; every non-null one is overwritten.
template <class T>
void winograd_conv_backward(const T* gy, const T* x, const T* w, T* gx, T* gw, T* gb, int64_t N, int64_t O,
                            const Window2d& g);

}  // namespace tt::ops
