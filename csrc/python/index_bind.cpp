// Indexing: t[key] and t[key] = value, and the index functions gather,
// index_select, take, index_add, scatter_add, embedding, cat, stack,
// one_hot, nonzero. Arguments arrive as Python objects and are converted
// here (int_from_py, as_index), so the messages name the argument.
#include <limits>

#include "autograd/grad_mode.h"
#include "python/bindings.h"

namespace ttpy {

// An integer index; one beyond int64 can only be out of bounds.
static int64_t index_int(const py::handle& k) {
  py::object i = py::reinterpret_steal<py::object>(PyNumber_Index(k.ptr()));
  if (!i) throw py::error_already_set();
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow) throw tt::IndexError("index " + std::string(py::str(i)) + " is out of bounds (larger than any dimension)");
  return v;
}

// A slice bound; huge values clamp (like numpy: t[-10:2**70] is t[:]).
static int64_t slice_bound(PyObject* b) {
  if (!PyIndex_Check(b))
    throw tt::TypeError("slice indices must be integers or None, got " +
                        std::string(py::str(py::type::of(py::handle(b)).attr("__name__"))));
  Py_ssize_t v = PyNumber_AsSsize_t(b, nullptr);  // nullptr: clamp instead of raising
  if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
  return v;
}

// One basic index item (int, slice, None, Ellipsis); false for what needs advanced indexing.
static bool parse_basic_item(const py::handle& k, std::vector<tt::views::IndexItem>& items) {
  tt::views::IndexItem it;
  if (PyBool_Check(k.ptr())) {
    return false;  // numpy: t[True] adds an axis of length 1, t[False] one of length 0 (advanced path)
  } else if (PyLong_Check(k.ptr())) {
    it.kind = tt::views::IndexItem::Int;
    it.index = index_int(k);
  } else if (PySlice_Check(k.ptr())) {
    auto sl = reinterpret_cast<PySliceObject*>(k.ptr());
    it.kind = tt::views::IndexItem::Slice;
    if (sl->step != Py_None) it.step = slice_bound(sl->step);
    if (it.step == 0) throw tt::ValueError("slice step cannot be zero");
    // -step must not overflow in the view arithmetic
    if (it.step == std::numeric_limits<int64_t>::min()) it.step = -std::numeric_limits<int64_t>::max();
    if (sl->start != Py_None) it.start = slice_bound(sl->start);
    if (sl->stop != Py_None) it.stop = slice_bound(sl->stop);
  } else if (k.is_none()) {
    it.kind = tt::views::IndexItem::NewAxis;
  } else if (k.ptr() == Py_Ellipsis) {
    it.kind = tt::views::IndexItem::Ellipsis;
  } else if (PyIndex_Check(k.ptr()) && !py::isinstance<py::array>(k) && !py::isinstance<tt::TensorImpl>(k)) {
    if (PyObject_IsInstance(k.ptr(), py::module_::import("numpy").attr("bool_").ptr()) == 1)
      return false;  // np.True_ behaves like True
    it.kind = tt::views::IndexItem::Int;  // numpy integer scalars
    it.index = index_int(k);
  } else {
    return false;
  }
  items.push_back(it);
  return true;
}

// A basic key (ints, slices, None, Ellipsis, or a tuple of those); false
// when the key needs advanced indexing.
static bool parse_basic_index(const py::handle& key, std::vector<tt::views::IndexItem>& items) {
  if (!PyTuple_Check(key.ptr())) return parse_basic_item(key, items);
  for (auto k : key)
    if (!parse_basic_item(k, items)) return false;
  return true;
}

// An index array or mask from a Tensor, numpy array or (nested) list: bool
// stays a mask, integers become int64, anything else is refused as numpy does.
static tt::ops::AdvancedItem index_array(const py::handle& k) {
  Tensor a;
  if (py::isinstance<tt::TensorImpl>(k)) {
    a = k.cast<Tensor>();
  } else {
    py::array arr = py::module_::import("numpy").attr("asarray")(k);
    if (arr.size() == 0 && arr.dtype().kind() == 'f') arr = py::module_::import("numpy").attr("asarray")(k, "int64");
    char kind = arr.dtype().kind();
    if (kind != 'b' && kind != 'i' && kind != 'u')
      throw tt::IndexError("only integers, slices (`:`), ellipsis (`...`), None and integer or boolean arrays "
                           "are valid indices, got " + std::string(py::str(py::type::of(k).attr("__name__"))) +
                           (kind == 'f' ? " of floats" : ""));
    a = tensor_from_py(arr, py::none());
  }
  if (a.dtype() == DType::Bool) return {tt::ops::AdvancedItem::Mask, {}, a};
  if (a.dtype() != DType::Int64)
    throw tt::IndexError("arrays used as indices must be of integer (or boolean) type, got " +
                         std::string(tt::dtype_name(a.dtype())));
  return {tt::ops::AdvancedItem::Array, {}, a};
}

static tt::ops::AdvancedItem advanced_item(const py::handle& k) {
  using AI = tt::ops::AdvancedItem;
  std::vector<tt::views::IndexItem> one;
  if (PyBool_Check(k.ptr()) || PyObject_IsInstance(k.ptr(), py::module_::import("numpy").attr("bool_").ptr()) == 1)
    return {AI::Mask, {}, tt::ops::scalar_tensor(PyObject_IsTrue(k.ptr()) ? 1 : 0, DType::Bool)};
  if (parse_basic_item(k, one)) {
    if (one[0].kind == tt::views::IndexItem::NewAxis) return {AI::NewAxis, {}, {}};
    if (one[0].kind == tt::views::IndexItem::Ellipsis) return {AI::Ellipsis, {}, {}};
    return {AI::Basic, one[0], {}};
  }
  return index_array(k);
}

// The flat positions t[key] selects, numpy's rules (ops/advanced_index.cpp).
static Tensor advanced_positions(const Tensor& t, const py::handle& key) {
  std::vector<tt::ops::AdvancedItem> items;
  if (PyTuple_Check(key.ptr())) {
    for (auto k : key) items.push_back(advanced_item(k));
  } else {
    items.push_back(advanced_item(key));
  }
  return tt::ops::advanced_positions(t.shape(), items);
}

// numpy's rule for t[key] = value: the value broadcasts to the selection's shape, never the reverse.
static void check_assigned_shape(const Tensor& value, const tt::Shape& selected) {
  bool ok = value.dim() <= static_cast<int64_t>(selected.size());
  for (int64_t i = 1; ok && i <= value.dim(); ++i) {
    const int64_t v = value.shape()[value.dim() - i], s = selected[selected.size() - i];
    ok = v == s || v == 1;
  }
  if (!ok)
    throw tt::ValueError("__setitem__: a value of shape " + tt::shape_str(value.shape()) +
                         " cannot be assigned to a selection of shape " + tt::shape_str(selected) +
                         "; the value must have the selection's shape or broadcast to it");
}

static void bind_subscript(py::module_& m, TensorClass& cls) {
  // Basic keys give a view; integer arrays and masks gather the selected
  // positions with take(), so the gradient scatters back (TakeBackward).
  cls.def("__getitem__", [](const Tensor& t, const py::handle& key) {
    std::vector<tt::views::IndexItem> items;
    if (parse_basic_index(key, items)) return tt::index_view(t, items);
    return tt::take(t, advanced_positions(t, key));
  });
  m.def("_index_positions", &advanced_positions, "The flat positions t[key] selects (for t[key] = v in a graph).");
  // t[key] = value, numpy's rules. Inside a graph (grad mode on, t or value requires grad) the
  // write is recorded as PyTorch does: t takes over the history of tt::index_put's out-of-place
  // result. Writing into a leaf that requires grad is refused (use no_grad() for that).
  cls.def("__setitem__", [](const Tensor& t, const py::handle& key, const py::handle& value) {
    if (t.requires_grad() && t.is_leaf() && tt::GradMode::is_enabled())
      throw tt::RuntimeError("__setitem__: a leaf tensor that requires grad is being modified in place; "
                             "do it under tinytorch.no_grad() or write through .data");
    const Tensor v = operand(value, t);
    if (tt::GradMode::is_enabled() && (t.requires_grad() || v.requires_grad())) {
      const Tensor positions = advanced_positions(t, key);
      check_assigned_shape(v, positions.shape());
      const Tensor updated = tt::index_put(t, positions, v);
      tt::ops::copy_(t, tt::detach(updated));  // the write itself (bumps the version counter)
      Tensor target = t;                        // a handle to the same tensor
      tt::set_history(target, updated.grad_fn(), updated.impl->meta->output_nr);
      return;
    }
    std::vector<tt::views::IndexItem> items;
    if (parse_basic_index(key, items)) {
      const Tensor view = tt::views::index(t, items);  // the basic key's elements, in place
      check_assigned_shape(v, view.shape());
      tt::ops::copy_(view, v);
      return;
    }
    const Tensor positions = advanced_positions(t, key);
    check_assigned_shape(v, positions.shape());
    tt::ops::put_(t, positions, v);
  });
  m.def("_index_basic_scatter", [](const Tensor& g, const std::vector<int64_t>& shape) {
    return tt::index_scatter(g, shape, {});
  });
}

static void bind_index_functions(py::module_& m) {
  m.def("gather", [](const py::handle& x, const py::handle& dim, const py::handle& idx) {
    return tt::gather(as_tensor(x), int_from_py(dim, "gather", "dim"), as_index(idx, "gather"));
  }, py::arg("x"), py::arg("dim"), py::arg("index"));
  m.def("index_select", [](const py::handle& x, const py::handle& dim, const py::handle& idx) {
    return tt::index_select(as_tensor(x), int_from_py(dim, "index_select", "dim"), as_index(idx, "index_select"));
  }, py::arg("x"), py::arg("dim"), py::arg("index"));
  m.def("take", [](const py::handle& x, const py::handle& idx) { return tt::take(as_tensor(x), as_index(idx, "take")); },
        py::arg("x"), py::arg("index"));
  m.def("index_add", [](const py::handle& x, const py::handle& dim, const py::handle& idx, const py::handle& src) {
    return tt::index_add(as_tensor(x), int_from_py(dim, "index_add", "dim"), as_index(idx, "index_add"),
                         as_tensor(src));
  }, py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("src"));
  m.def("scatter_add", [](const py::handle& x, const py::handle& dim, const py::handle& idx, const py::handle& src) {
    return tt::scatter_add(as_tensor(x), int_from_py(dim, "scatter_add", "dim"), as_index(idx, "scatter_add"),
                           as_tensor(src));
  }, py::arg("x"), py::arg("dim"), py::arg("index"), py::arg("src"));
  m.def("embedding", [](const Tensor& weight, const py::handle& idx) {
    return tt::embedding(weight, as_index(idx, "embedding"));
  }, py::arg("weight"), py::arg("indices"));
  m.def("one_hot", [](const py::handle& idx, int64_t n) { return tt::ops::one_hot(as_index(idx, "one_hot"), n); },
        py::arg("index"), py::arg("num_classes") = -1);
  m.def("nonzero", [](const py::handle& x) { return tt::ops::nonzero(as_tensor(x)); }, py::arg("x"));
}

static void bind_joining(py::module_& m) {
  m.def("cat", [](const py::handle& ts, int64_t axis) { return tt::cat(tensor_list(ts, "cat"), axis); },
        py::arg("tensors"), py::arg("axis") = 0);
  m.def("stack", [](const py::handle& ts, int64_t axis) { return tt::stack(tensor_list(ts, "stack"), axis); },
        py::arg("tensors"), py::arg("axis") = 0);
}

void bind_indexing(py::module_& m) {
  TensorClass cls = tensor_class(m);
  bind_subscript(m, cls);
  bind_index_functions(m);
  bind_joining(m);
}

}  // namespace ttpy
