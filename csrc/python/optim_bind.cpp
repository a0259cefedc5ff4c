// Python glue for the fused optimizer steps (csrc/nn/optimizers.h), the
// gradient utilities (csrc/nn/grad_utils.h) and the generator state
// (csrc/ops/random.h). The optimizer classes in tinytorch.core.optimizers
// keep their state in Python lists (TinyTorch's m_buffers, v_buffers,
// momentum_buffers; None until a parameter's first step); these functions
// read the lists, run the step without the GIL, and write back what changed.
#include "nn/grad_utils.h"
#include "nn/optimizers.h"
#include "ops/random.h"
#include "python/convert.h"

namespace ttpy {
namespace {

// List entries: a Tensor, or None for "not created yet".
std::vector<Tensor> optional_tensors(const py::list& items, const char* what) {
  std::vector<Tensor> out(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    py::handle item = items[i];
    if (item.is_none()) continue;
    if (!py::isinstance<tt::TensorImpl>(item))
      throw tt::TypeError(std::string(what) + "[" + std::to_string(i) + "] must be a Tensor or None, got " +
                          std::string(py::str(py::type::of(item).attr("__name__"))));
    out[i] = item.cast<Tensor>();
  }
  return out;
}

// Stores buffers the step created (or replaced) back into the Python list.
void write_back(py::list& items, const std::vector<Tensor>& tensors) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!tensors[i].defined()) continue;
    py::handle item = items[i];
    if (item.is_none() || !item.cast<Tensor>().same(tensors[i])) items[i] = py::cast(tensors[i]);
  }
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def("_sgd_step",
        [](const std::vector<Tensor>& params, py::list momentum_buffers, double lr, double momentum,
           double dampening, double weight_decay, bool nesterov) {
          std::vector<Tensor> bufs = optional_tensors(momentum_buffers, "momentum_buffers");
          tt::nn::SgdOptions o{lr, momentum, dampening, weight_decay, nesterov};
          {
            py::gil_scoped_release nogil;
            tt::nn::sgd_step(params, bufs, o);
          }
          write_back(momentum_buffers, bufs);
        },
        py::arg("params"), py::arg("momentum_buffers"), py::arg("lr"), py::arg("momentum"), py::arg("dampening"),
        py::arg("weight_decay"), py::arg("nesterov"),
        "One fused SGD step over all parameters (None entries of momentum_buffers are created).");

  m.def("_adam_step",
        [](const std::vector<Tensor>& params, py::list exp_avgs, py::list exp_avg_sqs, py::list steps, double lr,
           double beta1, double beta2, double eps, double weight_decay, bool decoupled) {
          std::vector<Tensor> m1 = optional_tensors(exp_avgs, "m_buffers");
          std::vector<Tensor> m2 = optional_tensors(exp_avg_sqs, "v_buffers");
          std::vector<int64_t> counts = steps.cast<std::vector<int64_t>>();
          tt::nn::AdamOptions o{lr, beta1, beta2, eps, weight_decay, decoupled};
          {
            py::gil_scoped_release nogil;
            tt::nn::adam_step(params, m1, m2, counts, o);
          }
          write_back(exp_avgs, m1);
          write_back(exp_avg_sqs, m2);
          for (size_t i = 0; i < counts.size(); ++i) steps[i] = py::int_(counts[i]);
        },
        py::arg("params"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("steps"), py::arg("lr"),
        py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("decoupled"),
        "One fused Adam (decoupled=False) or AdamW (decoupled=True) step over all parameters.");

  m.def("_grad_norm", [](const std::vector<Tensor>& params, double norm_type) {
    py::gil_scoped_release nogil;
    return tt::nn::grad_norm(params, norm_type);
  }, py::arg("params"), py::arg("norm_type") = 2.0);
  m.def("_scale_grads", [](const std::vector<Tensor>& params, double factor) {
    py::gil_scoped_release nogil;
    tt::nn::scale_grads(params, factor);
  }, py::arg("params"), py::arg("factor"));
  m.def("_clamp_grads", [](const std::vector<Tensor>& params, double lo, double hi) {
    py::gil_scoped_release nogil;
    tt::nn::clamp_grads(params, lo, hi);
  }, py::arg("params"), py::arg("lo"), py::arg("hi"));
  m.def("_grads_finite", [](const std::vector<Tensor>& params) {
    py::gil_scoped_release nogil;
    return tt::nn::grads_finite(params);
  }, py::arg("params"));

  m.def("_get_rng_state", [] { return py::bytes(tt::ops::rng_state()); },
        "The state of tinytorch's random-number generator, as bytes.");
  m.def("_set_rng_state", [](const py::bytes& state) { tt::ops::set_rng_state(std::string(state)); },
        py::arg("state"), "Restore a state returned by _get_rng_state().");
}

}  // namespace ttpy
