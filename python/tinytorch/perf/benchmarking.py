"""`tinytorch.perf.benchmarking`: the same harness as `tinytorch.benchmarking` (module 19)."""
from tinytorch.benchmarking import *  # noqa: F401,F403
from tinytorch.benchmarking import __all__  # noqa: F401
