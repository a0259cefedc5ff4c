// The one tensor type. A Tensor is a cheap handle (shared_ptr) to a
// TensorImpl: shared 64-byte-aligned storage + shape + strides (elements) +
// offset + dtype, plus autograd metadata. Views share storage (and with it
// the version counter that in-place writes bump, so autograd can detect a
// saved tensor that was modified).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/shape.h"

namespace tt {

// Owns (or borrows, with an owner kept alive) one block of memory.
struct Storage {
  char* data = nullptr;
  size_t nbytes = 0;
  // How to free `data`; ctx lets the Python glue keep a numpy array alive
  // (the core never sees Python objects).
  void (*deleter)(void* ctx, char* data) = nullptr;
  void* ctx = nullptr;
  uint64_t version = 0;  // bumped by every in-place write through any view

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (deleter) deleter(ctx, data);
  }
  static std::shared_ptr<Storage> allocate(size_t nbytes);  // 64-byte aligned, uninitialized
};

struct Node;
class Tensor;
using TensorHook = std::function<Tensor(const Tensor&)>;  // returns undefined Tensor to keep grad

struct AutogradMeta {
  std::shared_ptr<struct TensorImpl> grad;  // accumulated gradient of a leaf (or retained)
  std::shared_ptr<Node> grad_fn;            // node that produced this tensor (non-leaf)
  std::weak_ptr<Node> grad_accumulator;     // AccumulateGrad sink of a leaf, created lazily
  uint32_t output_nr = 0;                   // which output of grad_fn this is
  bool retains_grad = false;
  std::vector<std::pair<int, TensorHook>> hooks;  // (id, fn), run on the incoming gradient
  int next_hook_id = 0;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  bool requires_grad = false;
  std::unique_ptr<AutogradMeta> meta;  // allocated only when autograd touches this tensor

  AutogradMeta& autograd() {
    if (!meta) meta = std::make_unique<AutogradMeta>();
    return *meta;
  }
};
using TensorPtr = std::shared_ptr<TensorImpl>;

class Tensor {
 public:
  TensorPtr impl;

  Tensor() = default;
  explicit Tensor(TensorPtr p) : impl(std::move(p)) {}

  // New uninitialized contiguous tensor.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32);
  // A view of `base`'s storage with new geometry (no autograd recorded here).
  static Tensor view_of(const Tensor& base, Shape shape, Strides strides, int64_t offset);

  bool defined() const { return static_cast<bool>(impl); }
  const Shape& shape() const { return impl->shape; }
  const Strides& strides() const { return impl->strides; }
  int64_t offset() const { return impl->offset; }
  DType dtype() const { return impl->dtype; }
  int64_t dim() const { return static_cast<int64_t>(impl->shape.size()); }
  int64_t numel() const { return tt::numel(impl->shape); }
  int64_t size(int64_t d) const { return impl->shape[normalize_dim(d, dim(), "size")]; }
  bool is_contiguous() const { return tt::is_contiguous(impl->shape, impl->strides); }
  char* raw_data() const { return impl->storage->data + impl->offset * static_cast<int64_t>(itemsize(impl->dtype)); }
  template <class T> T* data() const { return reinterpret_cast<T*>(raw_data()); }
  uint64_t version() const { return impl->storage->version; }
  void bump_version() const { ++impl->storage->version; }

  bool requires_grad() const { return impl->requires_grad; }
  const std::shared_ptr<Node>& grad_fn() const;  // null for leaves
  bool is_leaf() const { return !grad_fn(); }
  bool same(const Tensor& o) const { return impl == o.impl; }
};

}  // namespace tt
