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

}  // namespace tt
