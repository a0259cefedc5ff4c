// tinytorch._C._KVDecoder: the KV-cache decode step of csrc/nn/kv_decode.cpp,
// built once per generate() call by tinytorch.perf.memoization and then called
// once per generated token. Glue only: argument conversion, no math.
#include "nn/kv_decode.h"
#include "python/convert.h"
#include "python/nn_params.h"

namespace ttpy {

void bind_kv_cache(py::module_& m) {
  py::class_<tt::nn::KVDecoder>(m, "_KVDecoder")
      .def(py::init([](const Tensor& tok_w, const Tensor& pos_w, const py::sequence& blocks, const Tensor& lnf_g,
                       const Tensor& lnf_b, double lnf_eps, const Tensor& head_w, const std::optional<Tensor>& head_b,
                       int64_t num_heads, const std::vector<Tensor>& keys, const std::vector<Tensor>& values,
                       int64_t batch_size, int64_t max_seq_len) {
             tt::nn::GPTParams p;
             p.token_embedding = tok_w;
             p.position_embedding = pos_w;
             for (auto b : blocks) p.blocks.push_back(block_from_py(b, "KVCache"));
             p.ln_f = {lnf_g, lnf_b, lnf_eps};
             p.lm_head_w = head_w;
             p.lm_head_b = head_b ? *head_b : Tensor();
             return tt::nn::KVDecoder(std::move(p), num_heads, keys, values, batch_size, max_seq_len);
           }),
           py::arg("token_embedding"), py::arg("position_embedding"), py::arg("blocks"), py::arg("ln_f_gamma"),
           py::arg("ln_f_beta"), py::arg("ln_f_eps"), py::arg("lm_head_weight"), py::arg("lm_head_bias"),
           py::arg("num_heads"), py::arg("keys"), py::arg("values"), py::arg("batch_size"), py::arg("max_seq_len"))
      .def("step", [](const tt::nn::KVDecoder& d, const Tensor& tokens, int64_t start) {
             py::gil_scoped_release nogil;  // the step touches no Python object
             return d.step(tokens, start);
           }, py::arg("tokens"), py::arg("start"),
           "Runs tokens (batch, n_new) at positions [start, start + n_new) over the cache; returns their logits.")
      .def_readonly("capacity", &tt::nn::KVDecoder::capacity)
      .def_readonly("batch_size", &tt::nn::KVDecoder::batch);
}

}  // namespace ttpy
