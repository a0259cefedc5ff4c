"""Shared test configuration: module markers (course order), the PyTorch oracle switch, and the
tests that cannot mean anything under `make sanitize`."""
import os

import pytest

# Set by .ci/sanitize.sh: the run uses the AddressSanitizer + UBSan build of the extension.
SANITIZED = os.environ.get("TINYTORCH_SANITIZED") == "1"
RSS_UNDER_ASAN = ("AddressSanitizer keeps freed memory in quarantine and maps shadow memory, so the process's RSS "
                  "does not stay flat whatever the code does (make test checks it)")
NOTEBOOKS_UNDER_ASAN = ("executes whole lesson notebooks in Jupyter kernel subprocesses, minutes each under ASan "
                        "(measured: docs/safety.md); the engine code they run is what the rest of the suite covers "
                        "(make test runs them)")

MODULES = ["module%02d" % i for i in range(1, 21)] + ["regression", "integration", "core", "course"]


def pytest_addoption(parser):
    parser.addoption("--long", action="store_true",
                     help="long fuzz runs: 1000 examples per family in tests/regression/test_fuzz_*.py "
                          "(CI runs 150; TINYTORCH_FUZZ_EXAMPLES=N picks any number)")


def pytest_configure(config):
    if config.getoption("--long"):
        os.environ.setdefault("TINYTORCH_FUZZ_EXAMPLES", "1000")  # read when the fuzz module is imported
    for m in MODULES:
        config.addinivalue_line("markers", f"{m}: tests of course {m}")
    config.addinivalue_line("markers", "not_under_sanitizer(reason): skipped, with the reason shown, under "
                                       "make sanitize (TINYTORCH_SANITIZED=1); runs everywhere else")


def pytest_collection_modifyitems(config, items):
    if not SANITIZED:
        return
    for item in items:
        marker = item.get_closest_marker("not_under_sanitizer")
        if marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            if not reason:
                raise pytest.UsageError(f"{item.nodeid}: not_under_sanitizer needs a reason")
            item.add_marker(pytest.mark.skip(reason=f"under make sanitize: {reason}"))


def assert_raises_naming(call, exc, pieces):
    """call() raises exactly `exc` (not a subclass) and its message contains every piece
    (the function's name, what it got): the error style of direct C++ calls."""
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc
    for piece in pieces:
        assert piece in str(info.value), f"{piece!r} not in {str(info.value)!r}"


def torch_or_skip():
    """Import torch for oracle comparisons; in CI (TINYTORCH_REQUIRE_TORCH=1) its absence is a failure."""
    try:
        import torch  # noqa: F401
        return torch
    except ImportError:
        if os.environ.get("TINYTORCH_REQUIRE_TORCH") == "1":
            pytest.fail("torch==2.13.0 is required in CI for the PyTorch oracle tests", pytrace=False)
        pytest.skip("PyTorch is not installed: install torch==2.13.0 (CPU) to run the oracle comparison")
