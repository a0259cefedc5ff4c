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
