// int8 x int8 -> int32 matrix products, and the fused dynamically quantized
// linear layer built on them (course module 16).
//
// Why raw int8 buffers and not int8 tensors: tinytorch tensors hold float32,
// float64, int64 and bool, and every op dispatches on those four. An int8
// dtype would have to be refused or handled by every kernel, the autograd
// rules and the numpy/DLPack conversions, for the sake of two ops that never
// need views, broadcasting or gradients. So the quantized weight lives in its
// own packed type (PackedInt8Matrix) and the product reads plain buffers; the
// float side (input, bias, output) stays ordinary tensors. docs/quantization.md
// has the longer argument.
//
// Exactness: every path (AVX-512 VNNI, AVX2, scalar) computes the same int32
// sums, wrapping modulo 2^32 on overflow exactly as numpy's int32 matmul does,
// so results are bit-identical across paths and equal to numpy's.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace tt::ops {

// Columns per packed panel, and k values per group (one 32-bit lane of the
// dot-product instructions holds 4 int8 of one column).
constexpr int64_t kQPanel = 16;
constexpr int64_t kQGroup = 4;

// B (K x N, int8) repacked once for the kernels: panels of 16 columns; inside
// a panel, k in groups of 4, each group 64 bytes = column j's 4 values at
// bytes [4j, 4j + 4). K and N are zero-padded up to whole groups and panels.
struct PackedInt8Matrix {
  int64_t k = 0, n = 0;
  int64_t k_groups = 0, panels = 0;
  std::vector<int8_t> data;        // panels * k_groups * 64 bytes
  std::vector<int32_t> col_sums;   // sum over k of B[k, n] (panels * 16, zero past n)

  int64_t panel_stride() const { return k_groups * kQPanel * kQGroup; }
  int64_t nbytes() const {
    return static_cast<int64_t>(data.size() + col_sums.size() * sizeof(int32_t));
  }
};

// b is row-major with row stride ldb (>= n). op names the calling function in errors.
PackedInt8Matrix pack_int8_matrix(const int8_t* b, int64_t k, int64_t n, int64_t ldb);
// The K x N matrix back, row-major (for inspection and tests).
std::vector<int8_t> unpack_int8_matrix(const PackedInt8Matrix& b);

// Which kernel runs: Auto picks the fastest one this build has.
enum class QGemmPath { Auto, Vnni512, Avx2, Scalar };
std::vector<std::string> qgemm_paths();      // the compiled ones, fastest first ("avx512_vnni", "avx2", "scalar")
QGemmPath qgemm_path_from_name(const std::string& name, const char* op);

// C (M x N, row stride ldc) = A (M x K, row stride lda) @ B, exact int32,
// split over the thread pool. Must not be called with the GIL held by a
// caller that needs Python meanwhile (it touches no Python object).
void int8_gemm(const int8_t* a, int64_t m, int64_t lda, const PackedInt8Matrix& b, int32_t* c, int64_t ldc,
               QGemmPath path = QGemmPath::Auto);

// Dynamic int8 quantization of a float32 matrix (rows x cols, contiguous):
// asymmetric, over [min(0, lo), max(0, hi)] of each row (per_row) or of the
// whole matrix, scale = (hi - lo) / 255, zero_point = round(-128 - lo / scale)
// clamped to [-128, 127], q = clamp(round(x / scale) + zero_point) (round half
// to even, float32 arithmetic, as numpy does). A range of zero gives scale 1,
// zero point 0. A static (calibrated) scale/zero point can be given instead.
// Returns false if x holds NaN or Inf (outputs then unspecified).
struct QuantizedRows {
  std::vector<int8_t> q;
  std::vector<float> scale;        // one per row (equal in per-tensor mode)
  std::vector<int32_t> zero_point; // one per row
  std::vector<int32_t> row_sums;   // sum of q over each row (zero-point correction)
};
bool quantize_rows_int8(const float* x, int64_t rows, int64_t cols, bool per_row, std::optional<float> static_scale,
                        std::optional<int32_t> static_zero_point, QuantizedRows& out);

// y (..., N) float32 = dequantized(quantize(x) @ W) + bias, with W = packed int8
// weights with per-tensor (size 1) or per-output-channel (size N) scales and
// zero points. The int32 -> float32 conversion, zero-point corrections and
// bias happen in the GEMM's epilogue, tile by tile. x: float32 (..., K).
// Raises ValueError / TypeError naming "quantized_linear".
Tensor quantized_linear(const Tensor& x, const PackedInt8Matrix& w, const std::vector<float>& w_scale,
                        const std::vector<int32_t>& w_zero_point, const Tensor& bias, bool per_row_input,
                        std::optional<float> input_scale, std::optional<int32_t> input_zero_point);

// The largest K for which quantized_linear's int32 sums cannot overflow:
// |q_x - z_x| * |q_w - z_w| <= 255 * 255 per term.
constexpr int64_t kQLinearMaxK = 33025;

}  // namespace tt::ops
