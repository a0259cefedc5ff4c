// Every view lives here: each returns a Tensor sharing the input's storage,
// computed only from shape/stride arithmetic. None of them copies and none
// records autograd (the differentiable wrappers in csrc/autograd do that).
#pragma once
#include <optional>
#include <vector>

#include "core/tensor.h"

namespace tt::views {

Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& t, const std::vector<int64_t>& dims);
Tensor expand(const Tensor& t, const Shape& shape);  // -1 keeps a dim; new leading dims allowed
Tensor squeeze(const Tensor& t, std::optional<int64_t> dim);
Tensor unsqueeze(const Tensor& t, int64_t dim);
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& t, int64_t dim, int64_t index);  // drops dim
// A reshape that never copies: nullopt when the layout does not allow a view.
std::optional<Tensor> try_view(const Tensor& t, const Shape& shape);

// Python-style basic indexing: ints, slices with steps, None, Ellipsis.
struct IndexItem {
  enum Kind { Int, Slice, NewAxis, Ellipsis } kind = Int;
  int64_t index = 0;  // for Int
  std::optional<int64_t> start, stop;
  int64_t step = 1;  // for Slice
};
Tensor index(const Tensor& t, const std::vector<IndexItem>& items);

// Python's slice.indices(): clamps start/stop for a dim of `length`; returns (start, count).
std::pair<int64_t, int64_t> adjust_slice(std::optional<int64_t> start, std::optional<int64_t> stop,
                                         int64_t step, int64_t length);

}  // namespace tt::views
