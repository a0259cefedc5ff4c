"""`tinytorch.autograd`, PyTorch's path for module 05: an alias of tinytorch.core.autograd.

The code lives in tinytorch/core/autograd.py (the course's path); this
module re-exports all of it, the same objects. Every alias path of the
package is listed in tinytorch/compat.py.
"""
from .core.autograd import *  # noqa: F401,F403
from .core.autograd import __all__  # noqa: F401
