#!/usr/bin/env bash
# The wheel as a notebook user gets it (docs/distribution.md):
# 1. `make wheel` builds dist/tinytorch_cpp-*.whl;
# 2. its runtime dependencies (numpy, tqdm, scipy-openblas32 and the course extra) are downloaded
#    into a wheelhouse, binary wheels only;
# 3. a fresh venv (no system site-packages) installs the wheel with --no-index from that wheelhouse,
#    in an environment where no compiler can run (CC/CXX point at /bin/false, PATH holds only the
#    venv: no gcc, no cmake) and no pip configuration is read;
# 4. .ci/wheel_smoke.py runs from a temporary directory outside the source tree.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
t0=$(date +%s)

make wheel PYTHON="$PYTHON"
wheel=$(ls -t "$PWD"/dist/tinytorch_cpp-*.whl | head -1)
case "$(basename "$wheel")" in
  *-manylinux_*_x86_64.whl) ;;  # auditwheel checked the libc/libstdc++ symbol versions it needs
  *) echo ".ci/wheel.sh: $(basename "$wheel") is not a manylinux wheel" >&2; exit 1 ;;
esac
t_build=$(date +%s)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# (pip's log only on failure: this machine's pip.conf names extra indexes that may not exist)
"$PYTHON" -m pip download -q --only-binary=:all: -d "$work/wheelhouse" "$wheel[course]" > "$work/download.log" 2>&1 \
  || { cat "$work/download.log" >&2; exit 1; }
"$PYTHON" -m venv "$work/venv"
t_fetch=$(date +%s)

# Only the venv on PATH, no compiler, no pip.conf, no index: the install must need nothing else.
offline=(env -i HOME="$work" PATH="$work/venv/bin" CC=/bin/false CXX=/bin/false PIP_CONFIG_FILE=/dev/null
         PIP_DISABLE_PIP_VERSION_CHECK=1)
if "${offline[@]}" sh -c 'command -v gcc || command -v cc || command -v c++ || command -v cmake' >/dev/null 2>&1; then
  echo ".ci/wheel.sh: a compiler is reachable in the install environment; the check would prove nothing" >&2
  exit 1
fi
"${offline[@]}" "$work/venv/bin/python" -m pip install -q --no-index --only-binary=:all: \
  --find-links "$work/wheelhouse" "$wheel[course]"
t_install=$(date +%s)

mkdir "$work/run"
cp .ci/wheel_smoke.py "$work/run/"
(cd "$work/run" && "${offline[@]}" "$work/venv/bin/python" wheel_smoke.py)
t_smoke=$(date +%s)

echo ".ci/wheel.sh: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) kB): build $((t_build - t0)) s," \
     "download deps $((t_fetch - t_build)) s, offline install $((t_install - t_fetch)) s," \
     "smoke test $((t_smoke - t_install)) s"
