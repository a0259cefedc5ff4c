// Letting Python's cycle collector see the Python hooks a tensor holds.
//
// A hook lives in C++ (in the tensor's autograd meta, or in its grad_fn's
// pre-hooks), so a hook whose closure refers to its own tensor,
// `y.register_hook(lambda g: g * y)`, is a cycle the collector cannot see:
// wrapper -> TensorImpl -> hook -> closure -> wrapper. The Tensor type's
// tp_traverse reports such hooks, but only while the chain from the wrapper
// to the hook is owned by that wrapper alone (the TensorImpl, the grad_fn
// node and the hook's holder each have a single owner). Anything else holding
// them (another wrapper, a live graph, a running backward) makes them
// reachable from outside the collector's view, so they are not reported: a
// missed cycle leaks, a wrong report would let the collector clear a live hook.
#pragma once
#include <memory>

#include "python/convert.h"

namespace ttpy {

// A Python object that may be released from a thread without the GIL
// (the engine runs with the GIL released).
struct GilObject {
  py::object obj;
  explicit GilObject(py::object o) : obj(std::move(o)) {}
  ~GilObject() {
    if (!Py_IsInitialized()) {  // a graph outliving the interpreter (exit): leak rather than crash
      obj.release();
      return;
    }
    py::gil_scoped_acquire gil;
    obj = py::object();
  }
};

// Bookkeeping, called with the GIL held: hook `id` of t keeps `holder` alive.
void record_hook(const Tensor& t, int id, const std::shared_ptr<GilObject>& holder);
void forget_hook(const Tensor& t, int id);

// The ctx object of a custom Function's node when n is one and nothing else
// shares the ctx (else null); and dropping it. Defined with the node, in
// autograd_bind.cpp. A ctx holding the Function's output inside some object
// (ctx.state = MyObj(y)) is the same kind of cycle as a hook.
PyObject* function_node_ctx(const tt::Node* n);
void clear_function_node_ctx(tt::Node* n);

// tp_traverse / tp_clear of the Tensor type (they also cover pybind11's __dict__).
int traverse_tensor(PyObject* self, visitproc visit, void* arg);
int clear_tensor(PyObject* self);

}  // namespace ttpy
