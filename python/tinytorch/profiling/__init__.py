"""TinyTorch's import path for module 14: `from tinytorch.profiling.profiler import Profiler`.
The code lives in tinytorch.perf.profiling.

One of the alias modules listed in tinytorch/compat.py (MODULE_ALIASES).
"""
from ..perf.profiling import *  # noqa: F401,F403
from ..perf.profiling import __all__  # noqa: F401
