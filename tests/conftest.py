"""Shared test configuration: module markers (course order) and the PyTorch oracle switch."""
import os

import pytest

MODULES = ["module%02d" % i for i in range(1, 21)] + ["regression", "integration", "core", "course"]


def pytest_addoption(parser):
    parser.addoption("--long", action="store_true",
                     help="long fuzz runs: 1000 examples per family in tests/regression/test_fuzz_ops.py "
                          "(CI runs 150; TINYTORCH_FUZZ_EXAMPLES=N picks any number)")


def pytest_configure(config):
    if config.getoption("--long"):
        os.environ.setdefault("TINYTORCH_FUZZ_EXAMPLES", "1000")  # read when the fuzz module is imported
    for m in MODULES:
        config.addinivalue_line("markers", f"{m}: tests of course {m}")


def torch_or_skip():
    """Import torch for oracle comparisons; in CI (TINYTORCH_REQUIRE_TORCH=1) its absence is a failure."""
    try:
        import torch  # noqa: F401
        return torch
    except ImportError:
        if os.environ.get("TINYTORCH_REQUIRE_TORCH") == "1":
            pytest.fail("torch==2.13.0 is required in CI for the PyTorch oracle tests", pytrace=False)
        pytest.skip("PyTorch is not installed: install torch==2.13.0 (CPU) to run the oracle comparison")
