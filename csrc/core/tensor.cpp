#include "core/tensor.h"

#include <cstdlib>

namespace tt {

static void aligned_free(void*, char* p) { std::free(p); }

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto s = std::make_shared<Storage>();
  size_t rounded = ((nbytes + 63) / 64) * 64;
  if (rounded == 0) rounded = 64;
  s->data = static_cast<char*>(std::aligned_alloc(64, rounded));
  if (!s->data) fail<RuntimeError>("out of memory allocating ", nbytes, " bytes");
  s->nbytes = nbytes;
  s->deleter = aligned_free;
  return s;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (int64_t d : shape)
    if (d < 0) fail<ValueError>("empty: negative dimension in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(static_cast<size_t>(tt::numel(shape)) * itemsize(dtype));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::view_of(const Tensor& base, Shape shape, Strides strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl->storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.impl->dtype;
  return Tensor(std::move(impl));
}

static const std::shared_ptr<Node> kNoNode;

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  return impl->meta ? impl->meta->grad_fn : kNoNode;
}

}  // namespace tt
