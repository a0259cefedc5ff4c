// numpy's advanced indexing (integer arrays and boolean masks, mixed with
// ints, slices, None and Ellipsis), as the flat row-major positions the key
// selects. t[key] is then take(t, positions), whose backward (TakeBackward)
// scatters the gradient back, adding where an index repeats.
//
// numpy's rules, followed here: a k-d mask stands for its k nonzero index
// arrays; a bare True/False is a new axis indexed by [0] or []; once any
// array is present, ints are 0-d index arrays too. The index arrays are
// broadcast together to one shape B; the result has B in place of the
// indexed dims when those are adjacent in the key, and B first otherwise.
#include "ops/ops.h"

#include <algorithm>

#include "core/profiler.h"
#include "core/views.h"

namespace tt::ops {

namespace {

// One dim of the result's basic part: positions start + k * step (k < count),
// each worth `stride` elements of the source (0 for a new axis).
struct BasicDim { int64_t start, count, step, stride; };

// One index array with its dim's stride, and its element strides over B (0 where broadcast).
struct ArrayDim {
  Tensor index;  // contiguous int64, bounds-checked, negatives wrapped
  int64_t stride;
  std::vector<int64_t> b_strides;
};

// Masks become index arrays, a bare bool a new axis indexed by [0] or [].
std::vector<AdvancedItem> masks_to_arrays(const std::vector<AdvancedItem>& items) {
  std::vector<AdvancedItem> out;
  for (const AdvancedItem& it : items) {
    if (it.kind != AdvancedItem::Mask) {
      out.push_back(it);
      continue;
    }
    if (it.array.dim() == 0) {
      bool on = astype(it.array, DType::Bool).data<uint8_t>()[0] != 0;
      out.push_back({AdvancedItem::Array, {}, full({on ? 1 : 0}, 0.0, DType::Int64), /*new_axis=*/true});
      continue;
    }
    Tensor nz = nonzero(it.array);  // (count, k)
    for (int64_t c = 0; c < it.array.dim(); ++c)
      out.push_back({AdvancedItem::Array, {}, contiguous(views::select(nz, 1, c)), false});
  }
  return out;
}

// The items with the Ellipsis (or the missing trailing dims) as full slices.
std::vector<AdvancedItem> expand_ellipsis(std::vector<AdvancedItem> items, int64_t ndim) {
  int64_t consumed = 0;
  bool has_ellipsis = false;
  for (auto& it : items) {
    if (it.kind == AdvancedItem::Ellipsis) {
      if (has_ellipsis) fail<IndexError>("an index can only have a single ellipsis ('...')");
      has_ellipsis = true;
    } else if (it.kind != AdvancedItem::NewAxis && !it.new_axis) {
      ++consumed;
    }
  }
  if (consumed > ndim)
    fail<IndexError>("too many indices for tensor: tensor is ", ndim, "-dimensional, but ", consumed, " were indexed");
  AdvancedItem full_slice;
  full_slice.basic.kind = views::IndexItem::Slice;
  std::vector<AdvancedItem> out;
  for (auto& it : items) {
    if (it.kind == AdvancedItem::Ellipsis) out.insert(out.end(), ndim - consumed, full_slice);
    else out.push_back(it);
  }
  if (!has_ellipsis) out.insert(out.end(), ndim - consumed, full_slice);
  return out;
}

// An index array checked against a dim of `size`, negatives wrapped (numpy's message).
Tensor checked_index(const Tensor& index, int64_t size, int64_t axis) {
  if (index.dtype() != DType::Int64)
    fail<IndexError>("arrays used as indices must be of integer (or boolean) type, got ", dtype_name(index.dtype()));
  Tensor out = clone(index);
  int64_t* p = out.data<int64_t>();
  for (int64_t i = 0, n = out.numel(); i < n; ++i) {
    if (p[i] < -size || p[i] >= size)
      fail<IndexError>("index ", p[i], " is out of bounds for axis ", axis, " with size ", size);
    if (p[i] < 0) p[i] += size;
  }
  return out;
}

}  // namespace

Tensor advanced_positions(const Shape& shape, const std::vector<AdvancedItem>& key) {
  prof::KernelTimer timer("advanced_index");
  std::vector<AdvancedItem> items = expand_ellipsis(masks_to_arrays(key), static_cast<int64_t>(shape.size()));
  const auto strides = contiguous_strides(shape);
  std::vector<BasicDim> before, after;  // basic dims before / after the first index array
  std::vector<ArrayDim> arrays;
  Shape b_shape;
  int64_t first_array = -1, last_array = -1, dim = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(items.size()); ++i) {
    const AdvancedItem& it = items[i];
    if (it.kind == AdvancedItem::NewAxis) {
      (first_array < 0 ? before : after).push_back({0, 1, 0, 0});
      continue;
    }
    if (it.kind == AdvancedItem::Basic && it.basic.kind == views::IndexItem::Slice) {
      auto [start, count] = views::adjust_slice(it.basic.start, it.basic.stop, it.basic.step, shape[dim]);
      (first_array < 0 ? before : after).push_back({start, count, it.basic.step, strides[dim]});
      ++dim;
      continue;
    }
    // an index array, or an int (a 0-d index array once arrays are present)
    Tensor index = it.kind == AdvancedItem::Array ? contiguous(it.array)
                                                  : scalar_tensor(static_cast<double>(it.basic.index), DType::Int64);
    if (it.new_axis) {
      arrays.push_back({checked_index(index, 1, dim), 0, {}});  // indexes a new length-1 axis
    } else {
      arrays.push_back({checked_index(index, shape[dim], dim), strides[dim], {}});
      ++dim;
    }
    b_shape = broadcast_shapes(b_shape, index.shape(), "index");
    if (first_array < 0) first_array = i;
    last_array = i;
  }
  // numpy: index arrays separated by a slice or None put B first.
  // (a key with no array at all, e.g. only None, has no such range: first_array stays -1)
  bool adjacent = true;
  for (int64_t i = std::max<int64_t>(first_array, 0); first_array >= 0 && i <= last_array; ++i)
    if (items[i].kind == AdvancedItem::NewAxis ||
        (items[i].kind == AdvancedItem::Basic && items[i].basic.kind == views::IndexItem::Slice))
      adjacent = false;
  if (!adjacent) {
    before.insert(before.end(), after.begin(), after.end());
    after = std::move(before);
    before.clear();
  }
  for (ArrayDim& a : arrays) a.b_strides = broadcast_strides(a.index.shape(), contiguous_strides(a.index.shape()), b_shape);
  // The result: before dims, B, after dims; one position per element, odometer order.
  Shape out_shape;
  for (auto& b : before) out_shape.push_back(b.count);
  out_shape.insert(out_shape.end(), b_shape.begin(), b_shape.end());
  for (auto& b : after) out_shape.push_back(b.count);
  Tensor out = Tensor::empty(out_shape, DType::Int64);
  int64_t* dst = out.data<int64_t>();
  const int64_t total = numel(out_shape), nb = static_cast<int64_t>(before.size()),
                nB = static_cast<int64_t>(b_shape.size());
  std::vector<int64_t> counter(out_shape.size(), 0);
  for (int64_t e = 0; e < total; ++e) {
    int64_t pos = 0;
    for (int64_t d = 0; d < nb; ++d) pos += (before[d].start + counter[d] * before[d].step) * before[d].stride;
    for (size_t d = 0; d < after.size(); ++d) {
      const BasicDim& b = after[d];
      pos += (b.start + counter[nb + nB + d] * b.step) * b.stride;
    }
    for (const ArrayDim& a : arrays) {
      int64_t off = 0;
      for (int64_t d = 0; d < nB; ++d) off += counter[nb + d] * a.b_strides[d];
      pos += a.index.data<int64_t>()[off] * a.stride;
    }
    dst[e] = pos;
    for (int64_t d = static_cast<int64_t>(counter.size()) - 1; d >= 0; --d) {  // next element
      if (++counter[d] < out_shape[d]) break;
      counter[d] = 0;
    }
  }
  return out;
}

}  // namespace tt::ops
