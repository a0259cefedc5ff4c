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
// Owns what the DLPack tensor points at: a reference to our tensor plus shape/strides arrays.
struct Export {
  tt::Tensor tensor;
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
  cls.def("__dlpack__", [](const tt::Tensor& t, py::kwargs kwargs) {
    auto* e = new Export{t, t.shape(), t.strides(), {}};
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
    if (kwargs.contains("max_version") && !kwargs["max_version"].is_none())
      versioned = kwargs["max_version"].cast<py::tuple>()[0].cast<int>() >= 1;
    if (versioned) {
      e->versioned = dl::ManagedTensorVersioned{{1, 0}, e, &delete_export_versioned, 0, view};
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
  });
}

}  // namespace ttpy
