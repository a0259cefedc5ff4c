// The BLAS calls of the engine, and the one place that knows which OpenBLAS
// the build links (CMake's TT_BLAS, docs/distribution.md).
//
// The default build links the scipy-openblas32 wheel from the package index
// (the OpenBLAS NumPy and SciPy ship): it needs no system library and picks
// the right kernels for the CPU by itself. That library prefixes every symbol
// with `scipy_`, so it never clashes with another OpenBLAS loaded in the same
// process (numpy's, torch's), and its cblas.h declares only the prefixed
// names. The engine is written with the standard names; for that build these
// macros rename them. TT_BLAS=system links the distribution's libopenblas,
// whose names are unprefixed.
//
// Include this header, never <cblas.h> directly: with the wheel's header a
// direct `cblas_sgemm` call does not compile.
#pragma once

#include <cblas.h>

#ifdef TT_BLAS_SCIPY_OPENBLAS
#define cblas_sgemm scipy_cblas_sgemm
#define cblas_dgemm scipy_cblas_dgemm
#define openblas_get_corename scipy_openblas_get_corename
#define openblas_get_config scipy_openblas_get_config
#define openblas_get_num_threads scipy_openblas_get_num_threads
#define openblas_set_num_threads scipy_openblas_set_num_threads
#else
extern "C" {
// OpenBLAS extensions (declared here: not every system cblas.h declares them).
char* openblas_get_corename(void);
char* openblas_get_config(void);
int openblas_get_num_threads(void);
void openblas_set_num_threads(int);
}
#endif

#include <cstdint>

namespace tt::ops {

// The one wrapper around cblas_sgemm / cblas_dgemm: C = alpha op(A) op(B) + beta C
// on row-major matrices, op = transpose when the flag is set. Kernels that
// call BLAS on raw pointers (matmul, fused attention, the KV-cache decoder)
// share it, so the float and double overloads are written once.
inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                 const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

inline void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
                 const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

}  // namespace tt::ops
