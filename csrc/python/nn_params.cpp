// Fused-block parameters from the Python sequences the layers pass
// (TransformerBlock._params(), MultiHeadAttention's projections), shared by
// nn_bind.cpp (the fused forward) and kv_bind.cpp (the KV-cache decoder).
#include "python/nn_params.h"

namespace ttpy {

namespace {

// Weights and norms are required; biases may be None.
Tensor param_tensor(const py::handle& h, const char* what, bool optional) {
  if (h.is_none()) {
    if (optional) return Tensor();
    throw tt::TypeError(std::string(what) + ": a weight is None; every weight and norm parameter must be a Tensor");
  }
  if (!py::isinstance<tt::TensorImpl>(h))
    throw tt::TypeError(std::string(what) + ": expected Tensor parameters, got " +
                        std::string(py::str(py::type::of(h).attr("__name__"))));
  return h.cast<Tensor>();
}
Tensor weight(const py::handle& h, const char* what) { return param_tensor(h, what, false); }
Tensor bias(const py::handle& h, const char* what) { return param_tensor(h, what, true); }
}  // namespace

tt::nn::AttentionParams attention_from_py(const py::sequence& s, size_t at, const char* what) {
  return {weight(s[at], what),     bias(s[at + 1], what), weight(s[at + 2], what), bias(s[at + 3], what),
          weight(s[at + 4], what), bias(s[at + 5], what), weight(s[at + 6], what), bias(s[at + 7], what)};
}

tt::nn::BlockParams block_from_py(const py::handle& seq, const char* what) {
  py::sequence s = py::reinterpret_borrow<py::sequence>(seq);
  if (s.size() != 18)
    throw tt::ValueError(std::string(what) + ": expected 18 block parameters, got " + std::to_string(s.size()));
  tt::nn::BlockParams p;
  p.ln1 = {weight(s[0], what), weight(s[1], what), s[2].cast<double>()};
  p.attn = attention_from_py(s, 3, what);
  p.ln2 = {weight(s[11], what), weight(s[12], what), s[13].cast<double>()};
  p.mlp = {weight(s[14], what), bias(s[15], what), weight(s[16], what), bias(s[17], what)};
  return p;
}

}  // namespace ttpy
