#include "core/tensor.h"

#include "core/allocator.h"

namespace tt {

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto s = std::make_shared<Storage>();
  Block b = allocate_block(nbytes);
  if (!b.data) fail<RuntimeError>("out of memory allocating ", nbytes, " bytes");
  s->data = b.data;
  s->nbytes = nbytes;
  s->deleter = b.deleter;
  s->ctx = b.ctx;
  return s;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  int64_t bytes = static_cast<int64_t>(itemsize(dtype));
  for (int64_t d : shape) {
    if (d < 0) fail<ValueError>("empty: negative dimension in shape ", shape_str(shape));
    if (__builtin_mul_overflow(bytes, d, &bytes))
      fail<ValueError>("empty: a tensor of shape ", shape_str(shape), " would need more bytes than can be addressed");
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(static_cast<size_t>(bytes));
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
