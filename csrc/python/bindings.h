// The binding functions, one per topic, each in its own file; module.cpp
// calls them in this order. Bindings only convert arguments and call the
// differentiable ops (autograd/api.h); argument-type errors get the called
// name through python/arg_errors.cpp.
#pragma once
#include "python/convert.h"

namespace ttpy {

using TensorClass = py::class_<tt::TensorImpl, tt::TensorPtr>;
TensorClass tensor_class(py::module_& m);  // the Tensor class bind_tensor defined
py::object scalar_value(const Tensor& t, const char* what);  // item(), float(t): a one-element tensor as a Python number
// Refuses an in-place write autograd could not record (operators_bind.cpp).
void check_inplace(const Tensor& t, const char* op, const Tensor* src = nullptr);

void bind_tensor(py::module_& m);          // tensor_bind.cpp: construction, geometry, numpy, conversions
void bind_operators(py::module_& m);       // operators_bind.cpp: + - * / @ ==, in-place operators
void bind_elementwise(py::module_& m);     // elementwise_bind.cpp: exp, relu, where, clip, matmul ...
void bind_reductions(py::module_& m);      // reduction_bind.cpp: sum, mean, var, argmax, softmax ...
void bind_views(py::module_& m);           // view_bind.cpp: reshape, transpose, permute, expand ...
void bind_indexing(py::module_& m);        // index_bind.cpp: t[key], gather, take, cat, stack ...
void bind_factories(py::module_& m);       // factory_bind.cpp: zeros, ones, arange, rand ...
void bind_nn_functions(py::module_& m);    // nn_functional_bind.cpp: dropout, losses, im2col ...
void bind_autograd(py::module_& m);        // autograd_bind.cpp: node types, grad state, backward, Function
void bind_shape_helpers(py::module_& m);   // autograd_bind.cpp: csrc/core/shape.h for direct tests
void bind_dlpack(py::module_& m);
void bind_nn(py::module_& m);
void bind_optim(py::module_& m);
void bind_kv_cache(py::module_& m);
void bind_quant(py::module_& m);
void bind_profiler(py::module_& m);
void bind_conv(py::module_& m);             // conv_bind.cpp: the fused conv2d / max_pool2d ops

}  // namespace ttpy
