// tinytorch._C: the extension module. Registers the exception mapping and
// build information, then each binding file adds its part.
#include "ops/blas.h"

#include <chrono>
#include <vector>

#include "core/allocator.h"
#include "ops/parallel.h"
#include "python/arg_errors.h"
#include "python/bindings.h"


namespace ttpy {

static const char* simd_level() {
#if defined(__AVX512F__)
  return "AVX-512 (F" 
#if defined(__AVX512BW__)
         "/BW"
#endif
#if defined(__AVX512DQ__)
         "/DQ"
#endif
#if defined(__AVX512VL__)
         "/VL"
#endif
         ")";
#elif defined(__AVX2__)
  return "AVX2";
#elif defined(__AVX__)
  return "AVX";
#elif defined(__SSE4_2__)
  return "SSE4.2";
#else
  return "SSE2";
#endif
}
}  // namespace ttpy

PYBIND11_MODULE(_C, m) {
  m.doc() = "tinytorch C++ core: tensors, kernels, autograd engine";
  tt::num_threads();  // switches OpenBLAS to one thread before its first call (ops/parallel.h)
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const tt::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const tt::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const tt::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const tt::RuntimeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "tinytorch: out of memory");
    }
  });
  ttpy::bind_tensor(m);
  ttpy::bind_operators(m);
  ttpy::bind_elementwise(m);
  ttpy::bind_reductions(m);
  ttpy::bind_views(m);
  ttpy::bind_indexing(m);
  ttpy::bind_factories(m);
  ttpy::bind_nn_functions(m);
  ttpy::bind_autograd(m);
  ttpy::bind_shape_helpers(m);
  ttpy::bind_dlpack(m);
  ttpy::bind_nn(m);
  ttpy::bind_optim(m);
  ttpy::bind_kv_cache(m);
  ttpy::bind_quant(m);  // csrc/python/quant_bind.cpp
  ttpy::bind_profiler(m);
  ttpy::bind_conv(m);

  m.def("_build_info", [] {
    py::dict d;
    d["simd"] = ttpy::simd_level();
    d["blas_core"] = std::string(openblas_get_corename());
    d["blas_config"] = std::string(openblas_get_config());
    d["blas_threads"] = tt::num_threads();  // ours: OpenBLAS itself runs single-threaded (ops/parallel.h)
    d["compiler"] = std::string(__VERSION__);
    return d;
  });
  m.def("_empty_cache", &tt::empty_block_cache, "Return the memory of freed large tensors, kept for reuse, to the system.");
  m.def("_set_blas_threads", [](int n) {
    if (n < 1) throw tt::ValueError("set_num_threads: the thread count must be >= 1, got " + std::to_string(n));
    tt::set_num_threads(n);
  });
  m.def("_get_num_threads", [] { return tt::num_threads(); });
  m.def("_max_threads", [] { return tt::max_threads(); });
  m.def("_blas_sgemm_gflops", [](int n, int reps) {
    // Times cblas_sgemm directly on n x n matrices (the benchmark's "OpenBLAS itself" row).
    // OpenBLAS's own threads, as many as tinytorch uses, for this measurement only.
    std::vector<float> a(static_cast<size_t>(n) * n, 1.0f), b(a), c(a);
    py::gil_scoped_release nogil;
    openblas_set_num_threads(tt::num_threads());
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    openblas_set_num_threads(1);
    return 2.0 * n * n * static_cast<double>(n) * reps / s / 1e9;
  });
  ttpy::name_argument_errors(m);  // last: wraps every binding defined above (python/arg_errors.cpp)
}
