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
  check_shape(shape, "empty");
  const int64_t bytes = tt::numel(shape) * static_cast<int64_t>(itemsize(dtype));  // cannot overflow after check_shape
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(static_cast<size_t>(bytes));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::view_of(const Tensor& base, Shape shape, Strides strides, int64_t offset) {
  // Safety net for every view (expand to huge sizes, t[None, None, ...]):
  // a shape that overflows or has > 64 dims must never reach a kernel.
  check_shape(shape, "view");
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
