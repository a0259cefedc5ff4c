// Wrong-typed arguments get a message naming the function and the argument.
//
// When a Python argument cannot be converted to a binding's C++ parameter
// type, pybind11 answers with its own TypeError: "softmax(): incompatible
// function arguments. The following argument types are supported: 1. (self:
// Tensor, axis: typing.SupportsInt | ...)  Invoked with: ...". Students should
// read what every other tinytorch error says: the name they called, what was
// wrong and what to pass instead ("softmax: axis must be an int, got str 'a'").
//
// One mechanism does it for every binding of the module, so the bindings keep
// their plain C++ signatures (`int64_t axis`) and no binding can forget it:
// after all of them are defined, name_argument_errors() walks the module and
// its classes and puts a checking shim in front of each function's generated
// call (`function_record::impl`). The shim calls the original; only when that
// reports "these arguments do not load" (pybind11's try-next-overload marker)
// does it build the message, from the function's own signature: the first
// argument whose Python type does not fit its parameter is named. A pybind11
// cast_error escaping a binding's body ("Unable to cast ...") is renamed the
// same way. The successful path costs one table lookup (measured in
// benchmarks/bench_tensor.py).
//
// Functions with several overloads are left to pybind11 (none of ours has).
// A wrong number of arguments is caught by pybind11 before any shim runs, so
// that message is still its own.
#include "python/arg_errors.h"

#include <string>
#include <unordered_map>
#include <vector>

namespace ttpy {

namespace {

namespace pyd = py::detail;
using Impl = py::handle (*)(pyd::function_call&);

// Original generated call of every wrapped function. Filled at import (under
// the GIL), read-only afterwards.
std::unordered_map<const pyd::function_record*, Impl>& originals() {
  static auto* table = new std::unordered_map<const pyd::function_record*, Impl>();  // leaked: outlives interpreter
  return *table;
}

struct Param {
  std::string name, hint;  // hint: pybind11's type text, e.g. "typing.SupportsInt | typing.SupportsIndex"
};

// Splits "a: int = 1, b: list[int] = [1, 2]" at the top-level commas.
std::vector<std::string> split_top(const std::string& s) {
  std::vector<std::string> parts;
  int depth = 0;
  std::string cur;
  for (char c : s) {
    if (c == '[' || c == '(') ++depth;
    if (c == ']' || c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) parts.push_back(cur);
  return parts;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// The parameters of the signature line pybind11 writes at the top of __doc__.
std::vector<Param> params_of(const pyd::function_record& rec) {
  std::vector<Param> out;
  std::string doc = rec.def && rec.def->ml_doc ? rec.def->ml_doc : "";
  size_t open = doc.find('('), arrow = doc.find(") ->");
  if (open == std::string::npos || arrow == std::string::npos || arrow < open) return out;
  for (const std::string& p : split_top(doc.substr(open + 1, arrow - open - 1))) {
    std::string t = trim(p);
    if (t == "*" || t == "/" || t.empty()) continue;
    size_t colon = t.find(':'), eq = t.find(" = ");
    std::string hint = colon == std::string::npos ? "" : trim(t.substr(colon + 1, eq == std::string::npos ? std::string::npos : eq - colon - 1));
    out.push_back({trim(t.substr(0, colon)), hint});
  }
  return out;
}

// What pybind11's type text asks for, in the words of the message, and
// whether `value` would do. Mirrors the casters with conversion allowed.
bool has(const std::string& hint, const char* what) { return hint.find(what) != std::string::npos; }

bool fits(const std::string& hint, const py::handle& v, std::string& wanted) {
  PyObject* o = v.ptr();
  if (has(hint, "| None") && v.is_none()) return true;
  if (has(hint, "Sequence") || has(hint, "list[") || has(hint, "tuple[")) {
    wanted = has(hint, "tuple[typing.SupportsInt") && has(hint, ", typing.SupportsInt") ? "a pair of ints (h, w)"
                                                                                          : "a list or tuple of ints";
    return (PyList_Check(o) || PyTuple_Check(o));
  }
  if (has(hint, "SupportsFloat")) {
    wanted = "a number";
    return !PyBool_Check(o) && (PyFloat_Check(o) || PyIndex_Check(o) || (Py_TYPE(o)->tp_as_number && Py_TYPE(o)->tp_as_number->nb_float));
  }
  if (has(hint, "SupportsInt")) {
    wanted = "an int";
    return !PyFloat_Check(o) && PyIndex_Check(o);
  }
  if (hint == "bool" || has(hint, "bool |")) {
    wanted = "True or False";
    return PyBool_Check(o);
  }
  if (hint == "str" || has(hint, "str |")) {
    wanted = "a string";
    return PyUnicode_Check(o);
  }
  if (has(hint, "Tensor")) {
    wanted = "a Tensor";
    return py::isinstance<tt::TensorImpl>(v);
  }
  return true;  // object, callables, anything else: not ours to judge
}

std::string type_and_repr(const py::handle& v) {
  std::string r = py::repr(v);
  if (r.size() > 40) r = r.substr(0, 37) + "...";
  return std::string(py::str(py::type::of(v).attr("__name__"))) + " " + r;
}

// "Tensor" for a constructor, else the function's own name.
std::string called_name(const pyd::function_record& rec) {
  std::string n = rec.name ? rec.name : "?";
  if (n == "__init__" && rec.scope) return std::string(py::str(rec.scope.attr("__name__")));
  return n;
}

[[noreturn]] void raise_argument_error(const pyd::function_call& call) {
  const pyd::function_record& rec = call.func;
  const std::string name = called_name(rec);
  std::vector<Param> params = params_of(rec);
  for (size_t i = 0; i < call.args.size() && i < params.size(); ++i) {
    if (rec.is_method && i == 0) continue;  // self
    std::string wanted;
    if (!fits(params[i].hint, call.args[i], wanted))
      throw tt::TypeError(name + ": " + params[i].name + " must be " + wanted +
                          (has(params[i].hint, "| None") ? " or None" : "") + ", got " + type_and_repr(call.args[i]));
  }
  std::string got;
  for (size_t i = rec.is_method ? 1 : 0; i < call.args.size(); ++i)
    got += (got.empty() ? "" : ", ") + std::string(py::str(py::type::of(call.args[i]).attr("__name__")));
  std::string doc = rec.def && rec.def->ml_doc ? rec.def->ml_doc : name;
  throw tt::TypeError(name + ": these arguments (" + got + ") do not fit " + doc.substr(0, doc.find('\n')));
}

py::handle checked_call(pyd::function_call& call) {
  Impl original = originals().at(&call.func);
  py::handle result;
  try {
    result = original(call);
  } catch (const ArgumentError& e) {  // a conversion helper that did not know the name
    throw tt::TypeError(called_name(call.func) + ": " + e.what());
  } catch (const py::cast_error& e) {  // "Unable to cast ..." from a binding's body
    throw tt::TypeError(called_name(call.func) + ": an argument has the wrong type (" + e.what() + ")");
  }
  if (result.ptr() == PYBIND11_TRY_NEXT_OVERLOAD) raise_argument_error(call);
  return result;
}

pyd::function_record* record_of(const py::handle& fn) {
  py::handle f = pyd::get_function(fn);
  if (!f || !PyCFunction_Check(f.ptr())) return nullptr;
  PyObject* self = PyCFunction_GET_SELF(f.ptr());
  if (!self) return nullptr;
#if PYBIND11_VERSION_MAJOR >= 3
  return pyd::function_record_ptr_from_PyObject(self);
#else
  if (!pyd::is_function_record_capsule(py::reinterpret_borrow<py::capsule>(self))) return nullptr;
  return py::reinterpret_borrow<py::capsule>(self).get_pointer<pyd::function_record>();
#endif
}

void wrap(const py::handle& fn) {
  pyd::function_record* rec = record_of(fn);
  if (!rec || rec->next || rec->impl == &checked_call) return;  // not pybind11's, overloaded, or done
  originals()[rec] = rec->impl;
  rec->impl = &checked_call;
}

void wrap_all_in(const py::handle& scope) {
  py::object property = py::module_::import("builtins").attr("property");
  for (auto item : py::iter(scope.attr("__dict__").attr("items")())) {
    py::object v = py::reinterpret_borrow<py::tuple>(item)[1];
    if (PyType_Check(v.ptr()) && v.attr("__module__").cast<std::string>().rfind("tinytorch", 0) == 0 &&
        !v.is(scope)) {
      wrap_all_in(v);  // a class bound here (Tensor, node types, ...)
    } else if (py::isinstance(v, property)) {
      wrap(v.attr("fget"));
      if (!v.attr("fset").is_none()) wrap(v.attr("fset"));
    } else if (PyModule_Check(v.ptr()) && v.attr("__name__").cast<std::string>().rfind("tinytorch._C", 0) == 0) {
      wrap_all_in(v);  // submodules (_shape, ...)
    } else {
      wrap(v);
    }
  }
}

}  // namespace

void name_argument_errors(py::module_& m) { wrap_all_in(m); }

}  // namespace ttpy
