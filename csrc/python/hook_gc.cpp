// See hook_gc.h for why and when hooks are reported to the collector.
#include "python/hook_gc.h"

#include <unordered_map>

#include "autograd/api.h"

namespace ttpy {
namespace {

struct HookRecord {
  int id;
  std::weak_ptr<GilObject> holder;
  const tt::Node* node;  // the grad_fn it was registered on; nullptr for a leaf's own hooks
};

// Keyed by TensorImpl address. Only touched with the GIL held (registration,
// removal, the collector). Entries of dead tensors expire with their hooks
// and are swept from time to time.
std::unordered_multimap<const tt::TensorImpl*, HookRecord>& records() {
  static auto* r = new std::unordered_multimap<const tt::TensorImpl*, HookRecord>;  // leaked: used at exit
  return *r;
}

void sweep_expired() {
  auto& r = records();
  for (auto it = r.begin(); it != r.end();)
    it = it->second.holder.expired() ? r.erase(it) : std::next(it);
}

// The Python object of a hook owned, through a single-owner chain, by this impl; or null.
PyObject* owned_hook_object(const tt::TensorPtr& impl, const HookRecord& r) {
  if (r.holder.use_count() != 1) return nullptr;  // removed (0), or copied by a running backward (> 1)
  const tt::Node* current = impl->meta->grad_fn.get();
  if (r.node != current) return nullptr;  // history rebased since: the hook sits elsewhere
  if (current && impl->meta->grad_fn.use_count() != 1) return nullptr;  // the node is shared
  std::shared_ptr<GilObject> h = r.holder.lock();
  return h ? h->obj.ptr() : nullptr;  // h is released at once: the count is back to one
}

// The ctx of the custom Function that made this tensor, when this tensor alone owns that node.
PyObject* owned_function_ctx(const tt::TensorPtr& impl) {
  const auto& node = impl->meta->grad_fn;
  return node && node.use_count() == 1 ? function_node_ctx(node.get()) : nullptr;
}

tt::TensorPtr* impl_of(PyObject* self) {
  auto* inst = reinterpret_cast<py::detail::instance*>(self);
  auto v_h = inst->get_value_and_holder(nullptr, false);
  if (!v_h || !v_h.holder_constructed()) return nullptr;
  auto& holder = v_h.holder<tt::TensorPtr>();
  // Shared with C++ or another wrapper: the hooks are reachable from outside.
  if (!holder || holder.use_count() != 1 || !holder->meta) return nullptr;
  return &holder;
}

}  // namespace

void record_hook(const Tensor& t, int id, const std::shared_ptr<GilObject>& holder) {
  static size_t registrations = 0;
  if (++registrations % 1024 == 0) sweep_expired();
  const tt::Node* node = t.impl->meta ? t.impl->meta->grad_fn.get() : nullptr;
  records().emplace(t.impl.get(), HookRecord{id, holder, node});
}

void forget_hook(const Tensor& t, int id) {
  auto range = records().equal_range(t.impl.get());
  for (auto it = range.first; it != range.second;)
    it = it->second.id == id ? records().erase(it) : std::next(it);
}

int traverse_tensor(PyObject* self, visitproc visit, void* arg) {
  if (int r = py::detail::pybind11_traverse(self, visit, arg)) return r;  // __dict__ and the type
  tt::TensorPtr* impl = impl_of(self);
  if (!impl) return 0;
  auto range = records().equal_range(impl->get());
  for (auto it = range.first; it != range.second; ++it)
    if (PyObject* o = owned_hook_object(*impl, it->second)) Py_VISIT(o);
  if (PyObject* ctx = owned_function_ctx(*impl)) Py_VISIT(ctx);
  return 0;
}

int clear_tensor(PyObject* self) {
  py::detail::pybind11_clear(self);
  tt::TensorPtr* impl = impl_of(self);
  if (!impl) return 0;
  // Only the hooks traverse reported: the collector found them unreachable.
  std::vector<int> ids;
  auto range = records().equal_range(impl->get());
  for (auto it = range.first; it != range.second; ++it)
    if (owned_hook_object(*impl, it->second)) ids.push_back(it->second.id);
  const bool drop_ctx = owned_function_ctx(*impl) != nullptr;
  Tensor t(*impl);
  for (int id : ids) {
    forget_hook(t, id);
    tt::remove_hook(t, id);  // releases the Python hook (and with it the cycle)
  }
  if (drop_ctx) clear_function_node_ctx(t.impl->meta->grad_fn.get());
  return 0;
}

}  // namespace ttpy
