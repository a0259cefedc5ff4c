"""PyTorch's spelling of the optimizers: ``tinytorch.optim.SGD(model.parameters(), lr=0.1)``.

The same classes as ``tinytorch.core.optimizers`` (module 06), under the
import path PyTorch users and TinyTorch's examples type.
"""
from ..core.optimizers import SGD, Adam, AdamW, Optimizer

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]
