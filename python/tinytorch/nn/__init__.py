"""PyTorch-style ``tinytorch.nn`` namespace: the course's layers under the names
``torch.nn`` and TinyTorch's examples use (``nn.Linear``, ``nn.Module``,
``nn.functional``/``nn.F``), and ``tinytorch.nn.utils`` with the gradient
utilities (clipping, scaling) that training loops use between ``backward()``
and ``optimizer.step()``. Every name here is the course's own class, not a
copy: the table in ``tinytorch/compat.py`` lists them and a test checks it.
"""

from . import utils
from ..core.activations import GELU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from ..core.attention import MultiHeadAttention
from ..core.embeddings import Embedding, PositionalEncoding
from ..core.layers import Dropout, Linear, Module, Parameter, Sequential
from ..core.losses import BCELoss, BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss
from ..core.spatial import AvgPool2d, Conv2d, Flatten, MaxPool2d
from ..core.transformer import LayerNorm, TransformerBlock
from . import functional
from . import functional as F  # noqa: N812  (PyTorch's spelling: import tinytorch.nn.functional as F)

__all__ = ["utils", "functional", "F", "Module", "Parameter", "Linear", "Sequential", "Dropout", "ReLU", "Sigmoid",
           "Tanh", "GELU", "Softmax", "LogSoftmax", "Embedding", "PositionalEncoding", "MultiHeadAttention",
           "TransformerBlock", "LayerNorm", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "MSELoss",
           "CrossEntropyLoss", "BinaryCrossEntropyLoss", "BCELoss"]
