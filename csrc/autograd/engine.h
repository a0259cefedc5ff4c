#pragma once
#include "autograd/node.h"

namespace tt {

// Runs backward from `roots` seeded with `seeds` (same length; a seed may be
// undefined only for one-element roots, meaning ones).
//  - inputs empty: gradients accumulate into leaves' .grad (Tensor.backward).
//  - inputs given: returns the gradient w.r.t. each input instead and leaves
//    .grad untouched (autograd.grad); undefined where unreachable.
TensorList run_backward(const TensorList& roots, const TensorList& seeds, bool retain_graph,
                        bool create_graph, const TensorList& inputs, bool allow_unused);

// Tensor.backward(inputs=[...]): like run_backward with `inputs`, but each
// input's gradient is then accumulated into its .grad (as a leaf's would be),
// and only theirs.
void backward_into(const TensorList& roots, const TensorList& seeds, bool retain_graph, bool create_graph,
                   const TensorList& inputs);

}  // namespace tt
