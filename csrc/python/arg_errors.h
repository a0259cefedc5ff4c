// Names the function and the argument when a Python argument has the wrong
// type, instead of pybind11's signature dump (how: python/arg_errors.cpp).
#pragma once
#include "python/convert.h"

namespace ttpy {

// Call once, after every binding of the module is defined.
void name_argument_errors(py::module_& m);

}  // namespace ttpy
