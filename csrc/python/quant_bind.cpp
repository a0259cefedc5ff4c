// int8 quantization (course module 16): the int8 GEMM, its packed weight type
// and the fused quantized linear layer of csrc/ops/qgemm.h. Glue only:
// numpy arrays are checked and unwrapped here, kernels see plain buffers.
// tinytorch.perf.quantization builds Quantizer / QuantizedLinear on these.
#include <memory>

#include "ops/qgemm.h"
#include "python/convert.h"

namespace ttpy {

namespace {

using tt::ops::PackedInt8Matrix;
using Int8Array = py::array_t<int8_t, py::array::c_style>;

std::string type_name(const py::handle& obj) { return py::str(py::type::of(obj).attr("__name__")); }

// A 2-D numpy int8 array (copied to C order if it is not already), or a clear error.
Int8Array int8_matrix(const py::handle& obj, const char* op, const char* what) {
  if (!py::isinstance<py::array>(obj))
    throw tt::TypeError(std::string(op) + ": " + what + " must be a numpy int8 array, got " + type_name(obj));
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  if (arr.dtype().kind() != 'i' || arr.dtype().itemsize() != 1)
    throw tt::TypeError(std::string(op) + ": " + what + " must have dtype int8, got " +
                        std::string(py::str(arr.dtype())) +
                        "; quantize it first, e.g. np.clip(np.round(x / scale), -128, 127).astype(np.int8)");
  if (arr.ndim() != 2)
    throw tt::ValueError(std::string(op) + ": " + what + " must be a 2-D matrix, got " + std::to_string(arr.ndim()) +
                         "-D; reshape it to (rows, cols)");
  Int8Array c = Int8Array::ensure(arr);
  if (!c) throw py::error_already_set();
  return c;
}

std::shared_ptr<PackedInt8Matrix> pack(const py::handle& obj, const char* op, const char* what = "the weight") {
  Int8Array b = int8_matrix(obj, op, what);
  const int64_t k = b.shape(0), n = b.shape(1);
  auto p = std::make_shared<PackedInt8Matrix>();
  py::gil_scoped_release nogil;
  *p = tt::ops::pack_int8_matrix(b.data(), k, n, n);
  return p;
}

Tensor float_tensor(const py::handle& obj) {
  if (py::isinstance<tt::TensorImpl>(obj)) return obj.cast<Tensor>();
  return tensor_from_py(obj, py::none());
}

// A float scalar or sequence/array -> flat float32 values.
std::vector<float> float_values(const py::handle& obj, const char* op, const char* what) {
  py::array arr = py::module_::import("numpy").attr("asarray")(obj);
  if (arr.dtype().kind() != 'f' && arr.dtype().kind() != 'i' && arr.dtype().kind() != 'u')
    throw tt::TypeError(std::string(op) + ": " + what + " must be a float or an array of floats, got dtype " +
                        std::string(py::str(arr.dtype())));
  auto f = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(arr);
  return std::vector<float>(f.data(), f.data() + f.size());
}

std::vector<int32_t> int_values(const py::handle& obj, const char* op, const char* what) {
  py::array arr = py::module_::import("numpy").attr("asarray")(obj);
  if (arr.dtype().kind() != 'i' && arr.dtype().kind() != 'u')
    throw tt::TypeError(std::string(op) + ": " + what + " must be an int or an array of ints, got dtype " +
                        std::string(py::str(arr.dtype())));
  auto v = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(arr);
  std::vector<int32_t> out;
  for (py::ssize_t i = 0; i < v.size(); ++i) {
    const int64_t z = v.data()[i];
    if (z < -128 || z > 127)
      throw tt::ValueError(std::string(op) + ": " + what + " must be in [-128, 127], got " + std::to_string(z));
    out.push_back(static_cast<int32_t>(z));
  }
  return out;
}

py::array_t<int8_t> unpack(const PackedInt8Matrix& p) {
  py::array_t<int8_t> out({p.k, p.n});
  auto v = tt::ops::unpack_int8_matrix(p);
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

}  // namespace

void bind_quant(py::module_& m) {
  py::class_<PackedInt8Matrix, std::shared_ptr<PackedInt8Matrix>>(
      m, "PackedInt8Matrix",
      "An int8 (K, N) weight matrix repacked once for the int8 GEMM (panels of 16 columns, k grouped by 4).")
      .def(py::init([](const py::handle& b) { return pack(b, "PackedInt8Matrix"); }), py::arg("matrix"))
      .def_property_readonly("shape", [](const PackedInt8Matrix& p) { return py::make_tuple(p.k, p.n); })
      .def_property_readonly("nbytes", &PackedInt8Matrix::nbytes,
                             "bytes held: the padded int8 panels plus the int32 column sums")
      .def("numpy", &unpack, "the (K, N) int8 matrix back")
      .def("column_sums", [](const PackedInt8Matrix& p) {
        py::array_t<int32_t> out(p.n);
        std::copy(p.col_sums.begin(), p.col_sums.begin() + p.n, out.mutable_data());
        return out;
      })
      .def("__repr__", [](const PackedInt8Matrix& p) {
        return "PackedInt8Matrix(shape=(" + std::to_string(p.k) + ", " + std::to_string(p.n) + "), nbytes=" +
               std::to_string(p.nbytes()) + ")";
      })
      .def(py::pickle([](const PackedInt8Matrix& p) { return py::make_tuple(unpack(p)); },
                      [](py::tuple t) {
                        if (t.size() != 1) throw tt::ValueError("PackedInt8Matrix: bad pickled state");
                        return pack(t[0], "PackedInt8Matrix");
                      }));

  m.def("int8_gemm_paths", &tt::ops::qgemm_paths, "the int8 GEMM kernels this build has, fastest first");

  m.def("int8_matmul", [](const py::handle& a, const py::handle& b, const std::string& path) {
    const char* op = "int8_matmul";
    const tt::ops::QGemmPath p = tt::ops::qgemm_path_from_name(path, op);
    Int8Array am = int8_matrix(a, op, "a");
    std::shared_ptr<PackedInt8Matrix> packed =
        py::isinstance<PackedInt8Matrix>(b) ? b.cast<std::shared_ptr<PackedInt8Matrix>>() : pack(b, op, "b");
    const int64_t m_ = am.shape(0), k = am.shape(1);
    if (k != packed->k)
      throw tt::ValueError(std::string(op) + ": a is (" + std::to_string(m_) + ", " + std::to_string(k) +
                           ") but b is (" + std::to_string(packed->k) + ", " + std::to_string(packed->n) +
                           "): a's columns must equal b's rows");
    py::array_t<int32_t> c({m_, packed->n});
    int32_t* cp = c.mutable_data();
    const int8_t* ap = am.data();
    {
      py::gil_scoped_release nogil;
      tt::ops::int8_gemm(ap, m_, k, *packed, cp, packed->n, p);
    }
    return c;
  }, py::arg("a"), py::arg("b"), py::arg("path") = "auto",
     "Exact int32 product of int8 matrices a (M, K) and b (K, N) (numpy array or PackedInt8Matrix); "
     "wraps modulo 2**32 on overflow like numpy's int32 matmul.");

  m.def("quantize_int8_rows", [](const py::handle& x, bool per_row) {
    const char* op = "quantize_int8_rows";
    Tensor t = float_tensor(x);
    if (!tt::is_floating(t.dtype()))
      throw tt::TypeError(std::string(op) + ": x must be a float tensor, got " + tt::dtype_name(t.dtype()));
    if (t.dim() != 2)
      throw tt::ValueError(std::string(op) + ": x must be 2-D (rows, cols), got " + std::to_string(t.dim()) + "-D");
    Tensor c = tt::ops::contiguous(tt::ops::astype(t, tt::DType::Float32));
    const int64_t rows = c.shape()[0], cols = c.shape()[1];
    tt::ops::QuantizedRows q;
    bool ok;
    {
      py::gil_scoped_release nogil;
      ok = tt::ops::quantize_rows_int8(c.data<float>(), rows, cols, per_row, std::nullopt, std::nullopt, q);
    }
    if (!ok) throw tt::ValueError(std::string(op) + ": x contains NaN or Inf, which have no int8 code");
    py::array_t<int8_t> codes({rows, cols});
    std::copy(q.q.begin(), q.q.end(), codes.mutable_data());
    py::array_t<float> scale(rows);
    std::copy(q.scale.begin(), q.scale.end(), scale.mutable_data());
    py::array_t<int32_t> zero(rows);
    std::copy(q.zero_point.begin(), q.zero_point.end(), zero.mutable_data());
    return py::make_tuple(codes, scale, zero);
  }, py::arg("x"), py::arg("per_row") = true,
     "The dynamic input quantization of quantized_linear: (int8 codes, float32 scale per row, int32 zero point "
     "per row), asymmetric over [min(0, lo), max(0, hi)] per row or (per_row=False) over the whole matrix.");

  m.def("quantized_linear", [](const py::handle& x, const std::shared_ptr<PackedInt8Matrix>& weight,
                               const py::handle& weight_scale, const py::handle& weight_zero_point,
                               const py::handle& bias, bool per_row, std::optional<float> input_scale,
                               const py::handle& input_zero_point) {
    const char* op = "quantized_linear";
    if (!weight) throw tt::TypeError("quantized_linear: weight is None; pass a PackedInt8Matrix");
    Tensor t = float_tensor(x);
    std::vector<float> scales = float_values(weight_scale, op, "weight_scale");
    std::vector<int32_t> zeros = int_values(weight_zero_point, op, "weight_zero_point");
    Tensor b = bias.is_none() ? Tensor() : float_tensor(bias);
    std::optional<int32_t> izp;
    if (!input_zero_point.is_none()) {
      auto v = int_values(input_zero_point, op, "input_zero_point");
      if (v.size() != 1) throw tt::ValueError("quantized_linear: input_zero_point must be one integer");
      izp = v[0];
    }
    py::gil_scoped_release nogil;
    return tt::ops::quantized_linear(t, *weight, scales, zeros, b, per_row, input_scale, izp);
  }, py::arg("x"), py::arg("weight"), py::arg("weight_scale"), py::arg("weight_zero_point") = 0,
     py::arg("bias") = py::none(), py::arg("per_row") = true, py::arg("input_scale") = py::none(),
     py::arg("input_zero_point") = py::none(),
     "y = dequant(quant(x) @ weight) + bias in one pass: x float32 (..., K) quantized to int8 in C++ "
     "(dynamically per row / per tensor, or with a calibrated input_scale and input_zero_point), the int8 "
     "GEMM, then int32 -> float32 with the scales, zero points and bias in the epilogue.");
}

}  // namespace ttpy
