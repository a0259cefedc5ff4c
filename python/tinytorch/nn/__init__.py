"""PyTorch-style ``tinytorch.nn`` namespace: ``tinytorch.nn.utils`` holds the
gradient utilities (clipping, scaling) that training loops use between
``backward()`` and ``optimizer.step()``."""

from . import utils

__all__ = ["utils"]
