// DLPack export (__dlpack__ / __dlpack_device__), so numpy.from_dlpack(t) and
// torch.from_dlpack(t) share the tensor's memory. The structs below are
// written from the DLPack specification (legacy, unversioned ABI, which both
// numpy and PyTorch accept).
#include "python/convert.h"

namespace ttpy {

namespace dl {
enum DeviceType : int32_t { kDLCPU = 1 };
enum TypeCode : uint8_t { kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBool = 6 };
struct Device { int32_t device_type; int32_t device_id; };
struct DataType { uint8_t code; uint8_t bits; uint16_t lanes; };
struct Tensor {
  void* data;
  Device device;
  int32_t ndim;
  DataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements
  uint64_t byte_offset;
};
struct ManagedTensor {  // legacy ABI: consumers must treat it as read-only
  Tensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(ManagedTensor* self);
};
struct Version { uint32_t major; uint32_t minor; };
struct ManagedTensorVersioned {  // DLPack >= 1.0: carries flags (we never set READ_ONLY)
  Version version;
  void* manager_ctx;
  void (*deleter)(ManagedTensorVersioned* self);
  uint64_t flags;
  Tensor dl_tensor;
};
}  // namespace dl

namespace {
// Owns what the DLPack tensor points at: a reference to the storage (not the
// tensor, whose storage `.data = ...` may swap) plus shape/strides arrays.
struct Export {
  std::shared_ptr<tt::Storage> storage;
  std::vector<int64_t> shape, strides;
  dl::ManagedTensor managed;
  dl::ManagedTensorVersioned versioned;
};

void delete_export(dl::ManagedTensor* self) { delete static_cast<Export*>(self->manager_ctx); }
void delete_export_versioned(dl::ManagedTensorVersioned* self) { delete static_cast<Export*>(self->manager_ctx); }

// A consumer renames a capsule to "used_..." and then owns the deleter call;
// an unconsumed capsule frees the export itself.
void capsule_destructor(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* m = static_cast<dl::ManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  }
}
void capsule_destructor_versioned(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, "dltensor_versioned")) {
    auto* m = static_cast<dl::ManagedTensorVersioned*>(PyCapsule_GetPointer(capsule, "dltensor_versioned"));
    if (m && m->deleter) m->deleter(m);
  }
}
}  // namespace

void bind_dlpack(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<tt::TensorImpl, tt::TensorPtr>>(m.attr("Tensor"));
  cls.def("__dlpack_device__", [](const tt::TensorImpl&) { return py::make_tuple(static_cast<int>(dl::kDLCPU), 0); });
  // The array-API signature: __dlpack__(*, stream=None, max_version=None, dl_device=None, copy=None).
  cls.def("__dlpack__", [](const tt::Tensor& t_in, const py::handle& stream, const py::handle& max_version,
                           const py::handle& dl_device, const py::handle& copy) {
    if (!stream.is_none())  // the spec: CPU has no streams, so only None is meaningful
      throw py::value_error("__dlpack__: stream must be None for a CPU tensor, got " + std::string(py::repr(stream)));
    if (!dl_device.is_none()) {
      auto dev = dl_device.cast<py::tuple>();
      if (dev.size() != 2 || dev[0].cast<int>() != dl::kDLCPU || dev[1].cast<int>() != 0)
        throw py::buffer_error("__dlpack__: tinytorch tensors live on the CPU (device (1, 0)); cannot export to device " +
                               std::string(py::repr(dl_device)));
    }
    // copy=True: the consumer must get memory of its own (np.from_dlpack(t, copy=True)).
    const bool copied = !copy.is_none() && copy.cast<bool>();
    const tt::Tensor t = copied ? tt::ops::clone(t_in) : t_in;
    for (int64_t st : t.strides())
      if (st < 0)  // DLPack allows them, but consumers (PyTorch) abort on them
        throw py::buffer_error("__dlpack__: cannot export a tensor with negative strides (e.g. t[::-1]); "
                               "call .contiguous() first");
    auto* e = new Export{t.impl->storage, t.shape(), t.strides(), {}};
    dl::DataType dt{};
    switch (t.dtype()) {
      case DType::Float32: dt = {dl::kDLFloat, 32, 1}; break;
      case DType::Float64: dt = {dl::kDLFloat, 64, 1}; break;
      case DType::Int64: dt = {dl::kDLInt, 64, 1}; break;
      case DType::Bool: dt = {dl::kDLBool, 8, 1}; break;
    }
    dl::Tensor view{t.raw_data(), {dl::kDLCPU, 0}, static_cast<int32_t>(t.dim()), dt, e->shape.data(),
                    e->strides.data(), 0};
    // A consumer that understands DLPack 1.x asks with max_version; it gets a
    // versioned, writable export (the legacy one is read-only to numpy).
    bool versioned = false;
    if (!max_version.is_none()) versioned = max_version.cast<py::tuple>()[0].cast<int>() >= 1;
    if (versioned) {
      constexpr uint64_t kIsCopied = 1ULL << 1;  // DLPACK_FLAG_BITMASK_IS_COPIED
      e->versioned = dl::ManagedTensorVersioned{{1, 0}, e, &delete_export_versioned, copied ? kIsCopied : 0, view};
      PyObject* cap = PyCapsule_New(&e->versioned, "dltensor_versioned", capsule_destructor_versioned);
      if (!cap) {
        delete e;
        throw py::error_already_set();
      }
      return py::reinterpret_steal<py::object>(cap);
    }
    e->managed.dl_tensor = view;
    e->managed.manager_ctx = e;
    e->managed.deleter = &delete_export;
    PyObject* cap = PyCapsule_New(&e->managed, "dltensor", capsule_destructor);
    if (!cap) {
      delete e;
      throw py::error_already_set();
    }
    return py::reinterpret_steal<py::object>(cap);
  }, py::kw_only(), py::arg("stream") = py::none(), py::arg("max_version") = py::none(),
     py::arg("dl_device") = py::none(), py::arg("copy") = py::none());
}

}  // namespace ttpy
