// Exceptions the core throws. The Python glue maps each to the Python
// exception of the same name, so a student sees ValueError for a shape
// mismatch, TypeError for a dtype problem, IndexError for a bad index and
// RuntimeError for autograd misuse. Messages name the op and what to do.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace tt {

struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };
struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };
struct RuntimeError : std::runtime_error { using std::runtime_error::runtime_error; };

// Builds a message from any streamable pieces: fail<ValueError>("add: ", a, " vs ", b).
template <class E, class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw E(os.str());
}

}  // namespace tt
