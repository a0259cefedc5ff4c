"""`tinytorch.perf.benchmarking`: the same harness as `tinytorch.benchmarking` (module 19).

One of the alias modules listed in tinytorch/compat.py (MODULE_ALIASES).
"""
from tinytorch.benchmarking import *  # noqa: F401,F403
from tinytorch.benchmarking import __all__  # noqa: F401
