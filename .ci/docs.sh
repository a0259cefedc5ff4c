#!/usr/bin/env bash
# CI: build the documentation site in strict mode (any warning fails), then run
# tinytorch.viz's tests with Graphviz installed, so drawing the autograd graph
# as SVG/PNG is tested too (without Graphviz those tests skip).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
SUDO=$([ "$(id -u)" = "0" ] || echo sudo)
if ! command -v dot >/dev/null; then
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz
fi
$PYTHON -m pip install -q graphviz==0.21
make docs PYTHON="$PYTHON"
TINYTORCH_REQUIRE_DOT=1 $PYTHON -m pytest tests/05_autograd/test_viz.py
