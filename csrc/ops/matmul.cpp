// Matrix product with numpy's matmul semantics, computed by cblas_sgemm /
// cblas_dgemm called directly (int64 by a plain loop).
//
// Every operand is seen as (batch..., rows, cols) with arbitrary strides.
// BLAS reads a matrix in place when one of its two dims is unit-stride: a
// row-major matrix (cols stride 1) is passed as is with ld = rows stride, a
// transposed view (rows stride 1) with the transpose flag and ld = cols
// stride. So `a.T @ b` and `q @ k.transpose(-2, -1)` never copy; only other
// layouts (steps in the last dim, negative strides, ...) are made contiguous.
// Batch dims are walked with their own strides, so a weight broadcast over the
// batch (stride 0) is read from the same memory for every batch element.
#include "ops/blas.h"
#include "ops/nn_kernels.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>

#include "core/profiler.h"
#include "ops/iter.h"
#include "ops/ops.h"
#include "ops/parallel.h"

namespace tt::ops {
namespace {

// One operand as a stack of matrices; 1-D operands get a size-1 dim whose
// stride is never used.
struct MatrixStack {
  Shape batch;
  Strides batch_strides;
  int64_t rows = 0, cols = 0, row_stride = 0, col_stride = 0;
};

MatrixStack as_matrix_stack(const Tensor& t, bool is_left) {
  MatrixStack m;
  const int64_t n = t.dim();
  if (n == 1) {
    // numpy: a 1-D left operand is a row (1, K), a 1-D right operand a column (K, 1).
    if (is_left) {
      m.rows = 1;
      m.cols = t.shape()[0];
      m.col_stride = t.strides()[0];
    } else {
      m.rows = t.shape()[0];
      m.cols = 1;
      m.row_stride = t.strides()[0];
    }
    return m;
  }
  m.batch.assign(t.shape().begin(), t.shape().end() - 2);
  m.batch_strides.assign(t.strides().begin(), t.strides().end() - 2);
  m.rows = t.shape()[n - 2];
  m.cols = t.shape()[n - 1];
  m.row_stride = t.strides()[n - 2];
  m.col_stride = t.strides()[n - 1];
  return m;
}

// How BLAS can read one matrix without copying it.
struct BlasLayout {
  bool readable = false;  // false: copy the operand to contiguous first
  bool transposed = false;
  int64_t ld = 0;
};

BlasLayout blas_layout(const MatrixStack& m) {
  // A stride along a size-1 dim is never stepped, so it does not constrain the layout.
  // BLAS requires ld >= the length of the contiguous dim (and >= 1), and ld fits in an int.
  const int64_t rows = std::max<int64_t>(m.rows, 1), cols = std::max<int64_t>(m.cols, 1);
  if (m.cols == 1 || m.col_stride == 1) {
    int64_t ld = m.rows == 1 ? cols : m.row_stride;
    if (ld >= cols && ld <= INT_MAX) return {true, false, ld};
  }
  if (m.rows == 1 || m.row_stride == 1) {
    int64_t ld = m.cols == 1 ? rows : m.col_stride;
    if (ld >= rows && ld <= INT_MAX) return {true, true, ld};
  }
  return {};
}

// C = op(A) op(B) split across the threads (see ops/parallel.h) in blocks of
// 16 rows of C (whole register tiles for the BLAS kernels): rows [r0, r1) of
// op(A) start at row r0 of A, or at column r0 when A is stored transposed.
// A product with fewer rows than columns is split by columns instead. Each
// thread's BLAS call packs (copies into its kernel's layout) all of the operand
// it shares with the other threads: split by rows, every thread packs all of
// B (K x N); split by columns, all of A (M x K). So rows when M >= N. GPT-2
// small's products have M = batch x seq = 256 rows and N up to 50257: split by
// rows, both threads packed every weight in full, and packing was 19% of a
// training step's CPU time in perf (docs/performance.md). (64 x 1024 @ 1024 x
// 1024: 32-row slices ran at 134 GFLOP/s, column halves faster.)
template <class T>
void gemm_split(bool ta, bool tb, int m, int n, int k, const T* a, int lda, const T* b, int ldb, T* c, int ldc,
                T beta = T(0)) {
  constexpr int64_t kBlock = 16;
  const double flops = 2.0 * m * n * k;
  const int64_t row_blocks = (m + kBlock - 1) / kBlock, col_blocks = (n + kBlock - 1) / kBlock;
  if (m >= n) {
    parallel_for(row_blocks, flops, [&](int64_t begin, int64_t end) {
      const int64_t r0 = begin * kBlock, r1 = std::min<int64_t>(end * kBlock, m);
      gemm(ta, tb, r1 - r0, n, k, T(1), ta ? a + r0 : a + r0 * lda, lda, b, ldb, beta, c + r0 * ldc, ldc);
    });
  } else {  // columns [c0, c1) of op(B) start at column c0 of B, or at row c0 when B is stored transposed
    parallel_for(col_blocks, flops, [&](int64_t begin, int64_t end) {
      const int64_t c0 = begin * kBlock, c1 = std::min<int64_t>(end * kBlock, n);
      gemm(ta, tb, m, c1 - c0, k, T(1), a, lda, tb ? b + c0 * ldb : b + c0, ldb, beta, c + c0, ldc);
    });
  }
}

// The batch dims and rows of A folded into one dim (x @ W with x (B, T, D)
// is one (B*T, D) @ (D, N) gemm), or ld 0 when A's layout does not allow it.
int64_t folded_row_stride(const MatrixStack& a, const Strides& a_batch_strides, const Shape& batch) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // (size, stride), size-1 dims dropped
  for (size_t i = 0; i < batch.size(); ++i)
    if (batch[i] != 1) dims.push_back({batch[i], a_batch_strides[i]});
  if (a.rows != 1) dims.push_back({a.rows, a.row_stride});
  for (size_t i = 0; i + 1 < dims.size(); ++i)
    if (dims[i].second != dims[i + 1].second * dims[i + 1].first) return 0;
  int64_t ld = dims.empty() ? std::max<int64_t>(a.cols, 1) : dims.back().second;
  return ld >= std::max<int64_t>(a.cols, 1) ? ld : 0;
}

template <class T>
void blas_matmul(const Tensor& a, const MatrixStack& ma, const Strides& a_bst, const Tensor& b,
                 const MatrixStack& mb, const Strides& b_bst, const Shape& batch, Tensor& out) {
  const int64_t M = ma.rows, N = mb.cols, K = ma.cols;
  if (M > INT_MAX || N > INT_MAX || K > INT_MAX)
    fail<ValueError>("matmul: a matrix dimension of (", M, ", ", K, ") @ (", K, ", ", N,
                     ") exceeds the BLAS limit of ", INT_MAX, "; split the product into blocks");
  BlasLayout la = blas_layout(ma), lb = blas_layout(mb);
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* pc = out.data<T>();

  const int64_t batch_count = numel(batch);
  const bool b_shared = std::all_of(b_bst.begin(), b_bst.end(), [](int64_t s) { return s == 0; });
  if (b_shared && batch_count > 1 && !la.transposed && batch_count * M <= INT_MAX) {
    if (int64_t ld = folded_row_stride(ma, a_bst, batch); ld > 0 && ld <= INT_MAX) {
      gemm_split<T>(false, lb.transposed, static_cast<int>(batch_count * M), static_cast<int>(N),
                         static_cast<int>(K), pa, static_cast<int>(ld), pb, static_cast<int>(lb.ld), pc,
                         static_cast<int>(N));
      return;
    }
  }
  if (batch_count == 1) {
    gemm_split<T>(la.transposed, lb.transposed, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K),
                       pa, static_cast<int>(la.ld), pb, static_cast<int>(lb.ld), pc, static_cast<int>(N));
    return;
  }
  // A batch: whole products per thread. Each product's operand offsets come from the batch
  // index through the broadcast strides (a stride-0 dim reuses the same matrix).
  const Strides unit = contiguous_strides(batch);
  parallel_for(batch_count, 2.0 * batch_count * M * N * K, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t oa = 0, ob = 0, rest = i;
      for (size_t d = 0; d < batch.size(); ++d) {
        const int64_t idx = rest / unit[d];
        rest %= unit[d];
        oa += idx * a_bst[d];
        ob += idx * b_bst[d];
      }
      gemm(la.transposed, lb.transposed, M, N, K, T(1), pa + oa, la.ld, pb + ob, lb.ld, T(0), pc + i * M * N, N);
    }
  });
}

// int64 has no BLAS: a plain i-k-j loop (the innermost loop walks a row of B and C).
void integer_matmul(const Tensor& a, const MatrixStack& ma, const Strides& a_bst, const Tensor& b,
                    const MatrixStack& mb, const Strides& b_bst, const Shape& batch, Tensor& out) {
  const int64_t M = ma.rows, N = mb.cols, K = ma.cols;
  const int64_t* pa = a.data<int64_t>();
  const int64_t* pb = b.data<int64_t>();
  int64_t* pc = out.data<int64_t>();
  Strides c_bst = contiguous_strides(batch);
  for (auto& s : c_bst) s *= M * N;
  auto one = [&](const int64_t* A, const int64_t* B, int64_t* C) {
    std::fill(C, C + M * N, 0);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) {
        // Unsigned arithmetic: int64 products wrap like numpy's instead of being undefined behaviour.
        const uint64_t aik = static_cast<uint64_t>(A[i * ma.row_stride + k * ma.col_stride]);
        const int64_t* brow = B + k * mb.row_stride;
        int64_t* crow = C + i * N;
        for (int64_t j = 0; j < N; ++j)
          crow[j] = static_cast<int64_t>(static_cast<uint64_t>(crow[j]) +
                                         aik * static_cast<uint64_t>(brow[j * mb.col_stride]));
      }
  };
  strided_loop<3>(batch, {a_bst, b_bst, c_bst}, {0, 0, 0},
                  [&](std::array<int64_t, 3> off, int64_t count, std::array<int64_t, 3> st) {
                    for (int64_t i = 0; i < count; ++i)
                      one(pa + off[0] + i * st[0], pb + off[1] + i * st[1], pc + off[2] + i * st[2]);
                  });
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  prof::KernelTimer timer("matmul");  // the profiler's GFLOP/s per call; a flag test when off
  if (a_in.dim() == 0 || b_in.dim() == 0)
    fail<ValueError>("matmul: operands must have at least one dimension, got shapes ",
                     shape_str(a_in.shape()), " and ", shape_str(b_in.shape()),
                     "; use * to multiply by a scalar");
  const DType dt = promote(a_in.dtype(), b_in.dtype());
  if (dt == DType::Bool)
    fail<TypeError>("matmul: bool tensors are not supported (shapes ", shape_str(a_in.shape()), " and ",
                    shape_str(b_in.shape()), "); convert them first with .astype(np.float32)");
  MatrixStack ma = as_matrix_stack(a_in, true), mb = as_matrix_stack(b_in, false);
  if (ma.cols != mb.rows)
    fail<ValueError>("matmul: shapes ", shape_str(a_in.shape()), " and ", shape_str(b_in.shape()),
                     " are not aligned: ", ma.cols, " (dim ", a_in.dim() - 1, ") != ", mb.rows, " (dim ",
                     std::max<int64_t>(b_in.dim() - 2, 0), ")");
  Shape batch;
  try {
    batch = broadcast_shapes(ma.batch, mb.batch, "matmul");
  } catch (const ValueError&) {
    fail<ValueError>("matmul: the batch dimensions ", shape_str(ma.batch), " and ", shape_str(mb.batch),
                     " of shapes ", shape_str(a_in.shape()), " and ", shape_str(b_in.shape()),
                     " cannot be broadcast together; each batch dimension must match or be 1");
  }
  // Mixed dtypes: the operand of the smaller type is converted (a contiguous copy).
  Tensor a = a_in, b = b_in;
  if (a.dtype() != dt) ma = as_matrix_stack(a = astype(a_in, dt), true);
  if (b.dtype() != dt) mb = as_matrix_stack(b = astype(b_in, dt), false);

  Shape out_shape = batch;
  if (a.dim() > 1) out_shape.push_back(ma.rows);
  if (b.dim() > 1) out_shape.push_back(mb.cols);
  Tensor out = Tensor::empty(out_shape, dt);
  if (out.numel() == 0) return out;
  if (ma.cols == 0) {  // an empty sum: all zeros
    std::memset(out.raw_data(), 0, out.numel() * itemsize(dt));
    return out;
  }

  if (dt == DType::Int64) {
    integer_matmul(a, ma, broadcast_strides(ma.batch, ma.batch_strides, batch), b, mb,
                   broadcast_strides(mb.batch, mb.batch_strides, batch), batch, out);
    return out;
  }
  // BLAS takes int sizes: a larger dimension (an expanded view can have one) would be truncated.
  if (ma.rows > INT_MAX || ma.cols > INT_MAX || mb.cols > INT_MAX)
    fail<ValueError>("matmul: shapes ", shape_str(a_in.shape()), " and ", shape_str(b_in.shape()),
                     " have a matrix dimension above 2**31-1, more than BLAS can index; split the product");
  // Layouts BLAS cannot read (e.g. a step in both matrix dims) are copied once, unbroadcast.
  if (!blas_layout(ma).readable) ma = as_matrix_stack(a = contiguous(a), true);
  if (!blas_layout(mb).readable) mb = as_matrix_stack(b = contiguous(b), false);
  Strides a_bst = broadcast_strides(ma.batch, ma.batch_strides, batch);
  Strides b_bst = broadcast_strides(mb.batch, mb.batch_strides, batch);
  timer.flops = 2.0 * static_cast<double>(numel(batch)) * ma.rows * mb.cols * ma.cols;
  if (dt == DType::Float32)
    blas_matmul<float>(a, ma, a_bst, b, mb, b_bst, batch, out);
  else
    blas_matmul<double>(a, ma, a_bst, b, mb, b_bst, batch, out);
  return out;
}

void matmul_into(const Tensor& a_in, const Tensor& b_in, Tensor& out, bool accumulate) {
  prof::KernelTimer timer("matmul");
  const DType dt = out.dtype();
  if (a_in.dim() != 2 || b_in.dim() != 2 || out.dim() != 2 || a_in.shape()[1] != b_in.shape()[0] ||
      out.shape()[0] != a_in.shape()[0] || out.shape()[1] != b_in.shape()[1] || a_in.dtype() != dt ||
      b_in.dtype() != dt || !is_floating(dt))
    fail<ValueError>("matmul_into: expected (M, K) @ (K, N) into (M, N) of one float dtype, got ",
                     shape_str(a_in.shape()), " @ ", shape_str(b_in.shape()), " into ", shape_str(out.shape()));
  const int64_t M = out.shape()[0], N = out.shape()[1], K = a_in.shape()[1];
  if (M == 0 || N == 0) return;
  const int64_t ldc = M == 1 ? N : out.strides()[0];
  if ((N > 1 && out.strides()[1] != 1) || ldc < N || ldc > INT_MAX || M > INT_MAX || N > INT_MAX || K > INT_MAX)
    fail<ValueError>("matmul_into: the output must be rows of unit-stride columns BLAS can write, got strides ",
                     shape_str(out.strides()));
  Tensor a = a_in, b = b_in;
  MatrixStack ma = as_matrix_stack(a, true), mb = as_matrix_stack(b, false);
  if (!blas_layout(ma).readable) ma = as_matrix_stack(a = contiguous(a), true);
  if (!blas_layout(mb).readable) mb = as_matrix_stack(b = contiguous(b), false);
  const BlasLayout la = blas_layout(ma), lb = blas_layout(mb);
  timer.flops = 2.0 * M * N * K;
  dispatch_float(dt, "matmul", [&](auto tag) {
    using T = decltype(tag);
    T* pc = out.data<T>();
    if (K == 0) {  // an empty sum: BLAS may leave C untouched
      if (!accumulate)
        for (int64_t r = 0; r < M; ++r) std::fill(pc + r * ldc, pc + r * ldc + N, T(0));
      return;
    }
    gemm_split<T>(la.transposed, lb.transposed, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K),
                  a.data<T>(), static_cast<int>(la.ld), b.data<T>(), static_cast<int>(lb.ld), pc,
                  static_cast<int>(ldc), accumulate ? T(1) : T(0));
  });
}

}  // namespace tt::ops
