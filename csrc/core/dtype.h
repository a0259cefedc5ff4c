// The element types a tensor can hold. float32 is the default (as in
// TinyTorch), float64 is for gradcheck, int64 for indices and labels, and
// comparisons return bool (stored as one byte per element, like numpy).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/errors.h"

namespace tt {

enum class DType : uint8_t { Bool = 0, Int64 = 1, Float32 = 2, Float64 = 3 };

inline size_t itemsize(DType d) {
  switch (d) {
    case DType::Bool: return 1;
    case DType::Int64: return 8;
    case DType::Float32: return 4;
    case DType::Float64: return 8;
  }
  return 0;
}

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::Bool: return "bool";
    case DType::Int64: return "int64";
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
  }
  return "?";
}

inline bool is_floating(DType d) { return d == DType::Float32 || d == DType::Float64; }

// Result type of a binary op between two tensors: the "larger" kind wins,
// bool < int64 < float32 < float64 (float32 with int64 stays float32, as in PyTorch).
inline DType promote(DType a, DType b) { return a > b ? a : b; }

// Calls f with a value of the C++ type matching dtype d: dispatch(d, [&](auto tag) { using T = decltype(tag); ... }).
template <class F>
decltype(auto) dispatch(DType d, F&& f) {
  switch (d) {
    case DType::Bool: return f(uint8_t{});
    case DType::Int64: return f(int64_t{});
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
  }
  throw TypeError("unknown dtype");
}

// Same, for ops defined only on floating types; other dtypes raise TypeError naming the op.
template <class F>
decltype(auto) dispatch_float(DType d, const char* op, F&& f) {
  switch (d) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    default:
      fail<TypeError>(op, ": expected a float32 or float64 tensor, got ", dtype_name(d),
                      "; convert it first with .float() or .astype(np.float64)");
  }
}

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<uint8_t>() { return DType::Bool; }
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }

// The one rule for a float value written into an integer tensor by full,
// fill_, masked_fill, arange, linspace and clip bounds: NaN, the infinities and
// values outside [-2**63, 2**63) have no int64 value, and a C++ cast of them is
// undefined behaviour, so they raise ValueError naming `op`. (astype is a cast,
// not a write: it follows numpy's x86 result, INT64_MIN; see ops/copy.cpp.)
inline int64_t int64_from_double(double v, const char* op) {
  if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0))
    fail<ValueError>(op, ": cannot store ", v, " in an int64 tensor (NaN, infinities and values outside "
                     "[-2**63, 2**63) have no integer value); use a float dtype or a value in range");
  return static_cast<int64_t>(v);
}

}  // namespace tt
