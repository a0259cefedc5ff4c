// The fused ops and transformer blocks as private functions the layers of
// tinytorch.core.{layers, attention, transformer} call (tinytorch._C._nn_*).
// (Their graph nodes' Python classes come from autograd/ops.def.) Argument conversion
// only: attention masks are classified in C++ (ops::classify_mask), the
// blocks are csrc/nn, the fused ops csrc/autograd/fused_ops.h.
// (LayerNorm's binding is tinytorch._C.layer_norm, in nn_functional_bind.cpp.)
#include "autograd/fused_ops.h"
#include "autograd/grad_mode.h"
#include "nn/transformer.h"
#include "python/convert.h"
#include "python/nn_params.h"

namespace ttpy {

namespace {

using tt::nn::AttentionMask;

Tensor opt(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }

// A mask from Python: None, a Tensor, or array data. Array data keeps a bool or float64
// dtype (a float64 mask must not lose precision); other numbers take tinytorch's default.
Tensor mask_tensor(const py::handle& mask) {
  if (mask.is_none()) return Tensor();
  if (py::isinstance<tt::TensorImpl>(mask)) return mask.cast<Tensor>();
  py::array arr = py::array::ensure(mask);
  if (!arr) throw tt::TypeError("attention mask: expected a Tensor, a numpy array or None");
  const char kind = arr.dtype().kind();
  if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f')
    throw tt::TypeError("attention mask: expected a bool or numeric mask, got dtype " +
                        std::string(py::str(arr.dtype())));
  const bool keep = kind == 'b' || arr.dtype().is(py::dtype::of<double>());
  return tensor_from_py(arr, keep ? py::handle(arr.dtype()) : py::none());
}

// seq_len >= 0: a (seq_len, seq_len) mask that blocks exactly the future becomes the causal kind.
AttentionMask mask_from_py(const py::handle& mask, int64_t seq_len) {
  return tt::ops::classify_mask(mask_tensor(mask), seq_len);
}

int64_t seq_len_of(const Tensor& x) { return x.dim() >= 2 ? x.shape()[1] : -1; }

// Building a block's graph touches no Python object, so other Python threads may run meanwhile
// (except in anomaly mode, where each node records the Python stack).
template <class F>
Tensor without_gil(F&& f) {
  if (tt::AnomalyMode::is_enabled()) return f();
  py::gil_scoped_release nogil;
  return f();
}

}  // namespace

void bind_nn(py::module_& m) {
  m.def("_nn_linear", [](const Tensor& x, const Tensor& w, const std::optional<Tensor>& b) {
    return tt::linear(x, w, opt(b));
  }, py::arg("x"), py::arg("weight"), py::arg("bias") = py::none());

  m.def("_nn_linear_gelu", [](const Tensor& x, const Tensor& w, const std::optional<Tensor>& b) {
    return tt::linear_gelu(x, w, opt(b));
  }, py::arg("x"), py::arg("weight"), py::arg("bias") = py::none());

  m.def("_nn_linear_packed", [](const Tensor& x, const std::vector<Tensor>& ws,
                                const std::vector<std::optional<Tensor>>& bs) {
    std::vector<Tensor> b;
    for (auto& t : bs) b.push_back(opt(t));
    return tt::linear_packed(x, ws, b);
  });

  // (mask tensor or None, kind): how the engine reads a mask; seq_len < 0 skips the causal test.
  m.def("_attention_mask_kind", [](const py::handle& mask, int64_t seq_len) {
    AttentionMask am = mask_from_py(mask, seq_len);
    return py::make_tuple(am.mask.defined() ? py::cast(am.mask) : py::none(), tt::ops::mask_kind_name(am.kind));
  }, py::arg("mask"), py::arg("seq_len") = -1);

  m.def("_nn_sdpa", [](const Tensor& q, const Tensor& k, const Tensor& v, const py::handle& mask) {
    auto r = tt::nn::scaled_dot_product_attention(q, k, v, mask_from_py(mask, -1));
    return py::make_tuple(r.first, r.second);
  }, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("mask") = py::none());

  m.def("_nn_attention_core", [](const Tensor& qkv, int64_t num_heads, const py::handle& mask) {
    return tt::attention(qkv, num_heads, mask_from_py(mask, seq_len_of(qkv)));
  }, py::arg("qkv"), py::arg("num_heads"), py::arg("mask") = py::none());

  m.def("_nn_mha", [](const Tensor& x, const py::sequence& params, int64_t num_heads, const py::handle& mask) {
    if (params.size() != 8) throw tt::ValueError("MultiHeadAttention: expected 8 parameters");
    tt::nn::AttentionParams p = attention_from_py(params, 0, "MultiHeadAttention");
    AttentionMask am = mask_from_py(mask, seq_len_of(x));
    return without_gil([&] { return tt::nn::multi_head_attention(x, p, num_heads, am); });
  });

  m.def("_nn_mlp", [](const Tensor& x, const Tensor& w1, const std::optional<Tensor>& b1, const Tensor& w2,
                      const std::optional<Tensor>& b2, double dropout_p, bool training) {
    tt::nn::MLPParams p{w1, opt(b1), w2, opt(b2)};
    return without_gil([&] { return tt::nn::mlp(x, p, dropout_p, training); });
  });

  m.def("_nn_block", [](const Tensor& x, const py::sequence& params, int64_t num_heads, const py::handle& mask,
                        double dropout_p, bool training) {
    tt::nn::BlockParams p = block_from_py(params);
    AttentionMask am = mask_from_py(mask, seq_len_of(x));
    return without_gil([&] { return tt::nn::transformer_block(x, p, num_heads, am, dropout_p, training); });
  });

  m.def("_nn_gpt", [](const Tensor& tokens, const Tensor& tok_w, const Tensor& pos_w, const py::sequence& blocks,
                      const Tensor& lnf_g, const Tensor& lnf_b, double lnf_eps, const Tensor& head_w,
                      const std::optional<Tensor>& head_b, int64_t num_heads, double dropout_p, bool training) {
    tt::nn::GPTParams p;
    p.token_embedding = tok_w;
    p.position_embedding = pos_w;
    for (auto b : blocks) p.blocks.push_back(block_from_py(b));
    p.ln_f = {lnf_g, lnf_b, lnf_eps};
    p.lm_head_w = head_w;
    p.lm_head_b = opt(head_b);
    return without_gil([&] { return tt::nn::gpt_forward(tokens, p, num_heads, dropout_p, training); });
  });
}

}  // namespace ttpy
