"""The systems modules of the course (14-19), measured on the C++ engine.

`profiling` (module 14), `memoization` (15, the KV cache), `quantization` (16),
`compression` (17) and `benchmarking` (19) are imported on first use, so
`import tinytorch` stays fast.
"""
import importlib

_SUBMODULES = ("profiling", "memoization", "quantization", "compression", "acceleration", "benchmarking")
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'tinytorch.perf' has no attribute {name!r}")
