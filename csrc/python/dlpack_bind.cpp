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
struct ManagedTensor {
  Tensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(ManagedTensor* self);
};
}  // namespace dl

namespace {
// Owns what the DLPack tensor points at: a reference to our tensor plus shape/strides arrays.
struct Export {
  tt::Tensor tensor;
  std::vector<int64_t> shape, strides;
  dl::ManagedTensor managed;
};

void delete_export(dl::ManagedTensor* self) { delete static_cast<Export*>(self->manager_ctx); }

void capsule_destructor(PyObject* capsule) {
  // A consumer renames the capsule to "used_dltensor" and then owns the deleter call.
  if (PyCapsule_IsValid(capsule, "dltensor")) {
    auto* m = static_cast<dl::ManagedTensor*>(PyCapsule_GetPointer(capsule, "dltensor"));
    if (m && m->deleter) m->deleter(m);
  }
}
}  // namespace

void bind_dlpack(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<tt::TensorImpl, tt::TensorPtr>>(m.attr("Tensor"));
  cls.def("__dlpack_device__", [](const tt::TensorImpl&) { return py::make_tuple(static_cast<int>(dl::kDLCPU), 0); });
  cls.def("__dlpack__", [](const tt::Tensor& t, py::kwargs) {
    auto* e = new Export{t, t.shape(), t.strides(), {}};
    dl::DataType dt{};
    switch (t.dtype()) {
      case DType::Float32: dt = {dl::kDLFloat, 32, 1}; break;
      case DType::Float64: dt = {dl::kDLFloat, 64, 1}; break;
      case DType::Int64: dt = {dl::kDLInt, 64, 1}; break;
      case DType::Bool: dt = {dl::kDLBool, 8, 1}; break;
    }
    e->managed.dl_tensor = dl::Tensor{t.raw_data(), {dl::kDLCPU, 0}, static_cast<int32_t>(t.dim()), dt,
                                      e->shape.data(), e->strides.data(), 0};
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
