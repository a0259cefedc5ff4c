#!/usr/bin/env bash
# make sanitize: build the extension with AddressSanitizer + UndefinedBehaviorSanitizer
# in its own directory (build-sanitize/, never the installed package) and run the
# whole test suite (tests/) against it. Any ASan or UBSan report fails the run.
# `bash .ci/sanitize.sh tests/regression` (or `make sanitize SANITIZE_TESTS=...`) runs a part.
#
# Why each setting:
# - TT_SANITIZE=ON (CMakeLists.txt): -fsanitize=address,undefined at -O1, and
#   -fno-sanitize-recover=undefined so a UBSan report aborts instead of printing and going on;
# - LD_PRELOAD libasan first (python itself is not instrumented, ASan must be loaded
#   before anything else), then libstdc++: without it the first C++ exception
#   thrown through the extension trips ASan's __cxa_throw interceptor;
# - detect_leaks=0: CPython keeps interned objects for the whole run, and
#   LeakSanitizer would report them all; use-after-free and overflows are what we check;
# - pytest --capture=sys: with fd capture a report printed by a passing test's child
#   process would be swallowed with its output.
# Children started by the tests inherit the environment, so they run sanitized too.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BUILD=build-sanitize
TESTS=("$@")
if [ ${#TESTS[@]} -eq 0 ]; then
  TESTS=(tests)
fi

libasan=$(gcc -print-file-name=libasan.so)
libstdcxx=$(g++ -print-file-name=libstdc++.so.6)
if [ ! -e "$libasan" ] || [ "$libasan" = "libasan.so" ]; then
  echo "make sanitize: gcc's libasan is missing (apt-get install gcc)" >&2
  exit 1
fi

cmake -S . -B "$BUILD" -DTT_SANITIZE=ON -DTT_NATIVE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPython_EXECUTABLE="$(command -v "$PYTHON")" \
  -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)" > "$BUILD.configure.log" 2>&1 \
  || { cat "$BUILD.configure.log"; exit 1; }
cmake --build "$BUILD" --target _C -j "$(nproc)"

# A package tree of its own, assembled as the wheel is: the Python sources (pyproject's
# wheel.packages), then CMake's install rules (the extension, the course lessons and
# milestones, whatever CMakeLists.txt installs), so nothing here is a second list to keep.
rm -rf "$BUILD/pkg"
mkdir -p "$BUILD/pkg"
cp -r python/tinytorch "$BUILD/pkg/"
find "$BUILD/pkg/tinytorch" \( -name '_C*.so' -o -name __pycache__ \) -prune -exec rm -rf {} +
cmake --install "$BUILD" --prefix "$PWD/$BUILD/pkg" > "$BUILD/install.log" || { cat "$BUILD/install.log"; exit 1; }

export PYTHONPATH="$PWD/$BUILD/pkg"
export TINYTORCH_SANITIZED=1  # tests/conftest.py: skips the not_under_sanitizer tests, with their reason
export TINYTORCH_FUZZ_EXAMPLES=${TINYTORCH_FUZZ_EXAMPLES:-40}  # sanitized code runs ~3x slower: fewer examples
# allocator_may_return_null=1: a request too big to satisfy fails as it does without ASan
# (tinytorch raises "out of memory"), instead of ASan aborting the process.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/.ci/ubsan.supp"
# The run must be using the sanitized build, or it proves nothing.
LD_PRELOAD="$libasan $libstdcxx" "$PYTHON" -c "
import tinytorch
from tinytorch.course.lessons import lessons_root
for path in (tinytorch.__file__, tinytorch._C.__file__, lessons_root()):
    assert path.startswith('$PWD/$BUILD/pkg/'), path
print('make sanitize: testing', tinytorch._C.__file__)"
# -rs: the reason of every skipped test is printed.
LD_PRELOAD="$libasan $libstdcxx" "$PYTHON" -m pytest "${TESTS[@]}" --capture=sys -p no:cacheprovider -q -rs
