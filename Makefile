# make test  - install everything needed (system headers, the package, test extras) and run the tests
# make demo  - same set-up, then run the main job
# make docs  - the documentation site, built in strict mode into site/ (docs/requirements.txt pins its tools)
# make sanitize - the memory-safety tests against an ASan+UBSan build of the extension (.ci/sanitize.sh)
# Both are safe to re-run: finished steps are skipped (stamp files under .make/).
PYTHON ?= python3
PIP := $(PYTHON) -m pip
APT_PACKAGES := libxtensor-dev libxsimd-dev libxtensor-blas-dev libopenblas-dev
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
SOURCES := $(shell find csrc python -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.py' -o -name '*.pyi' -o -name 'py.typed' \) 2>/dev/null) \
  $(shell find modules milestones -name '*.py' 2>/dev/null) CMakeLists.txt pyproject.toml
STAMPS := .make

.PHONY: test demo install system-deps bench clean sanitize docs

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
	@if [ -f /usr/include/xtensor/xarray.hpp ] && [ -f /usr/include/xsimd/xsimd.hpp ] && \
	    [ -f /usr/include/xtensor-blas/xlinalg.hpp ] && \
	    [ -n "$$(ls /usr/include/cblas.h /usr/include/*/cblas.h 2>/dev/null)" ] && \
	    [ -n "$$(ls /usr/lib/libopenblas.so /usr/lib/*/libopenblas.so 2>/dev/null)" ]; then \
	  echo "system headers present"; \
	else \
	  echo "installing $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	fi
	@touch $@

$(STAMPS)/python-deps: pyproject.toml | $(STAMPS)/system-deps
	$(PIP) install -q "scikit-build-core>=0.9" "pybind11>=2.13" "numpy>=1.23" "tqdm>=4.0" "pytest>=7" "hypothesis>=6" "matplotlib>=3.5" \
	  "jupytext>=1.15" "nbformat>=5.7" "nbclient>=0.7" "ipykernel>=6"
	@touch $@

# Build and install the package (incremental: build/ is kept between runs).
$(STAMPS)/installed: $(SOURCES) $(STAMPS)/python-deps
	$(PIP) install -q --no-build-isolation --no-deps .
	@touch $@

clean:
	rm -rf build build-sanitize build-sanitize.configure.log site $(STAMPS)
