"""tinytorch: a teaching deep-learning framework whose engine is real C++.

`tinytorch.Tensor` is the C++ tensor (csrc/core) with its autograd engine
(csrc/autograd); this package adds the Python face and the course modules.
"""
from ._blas_setup import prepare as _prepare_blas

_BLAS, _MARCH = _prepare_blas()  # must precede the first import of _C (checks the CPU, loads or configures OpenBLAS)

import builtins as _builtins

import numpy as _np

from . import _C
from ._C import (Tensor, abs, add, cat, clip, cos, cross_entropy, div, dropout, embedding, empty, erf, exp, eye,
                 full, full_like, gather, gelu, index_add, index_select, layer_norm, linspace, log, log_softmax,
                 logsumexp, masked_fill, matmul, maximum, minimum, mul, neg, nonzero, one_hot, ones,
                 ones_like, pow, rand, randint, randn, relu, scatter_add, sigmoid, sign, sin, softmax, sqrt, stack,
                 sub, take, tanh, where, zeros, zeros_like, is_grad_enabled)
from .core import tensor as _tensor_methods  # noqa: F401  (adds the Python-level Tensor methods)
from ._C import argmax, argmin, max, mean, min, prod, std, sum, var  # noqa: A004  (also Tensor methods)
from . import autograd
from .core.autograd import enable_grad, no_grad, set_grad_enabled
from . import nn  # noqa: E402  (tinytorch.nn.utils: gradient clipping and scaling)
from ._C import mse_loss, binary_cross_entropy  # noqa: E402  (losses: module 04)
from . import optim  # noqa: E402  (tinytorch.optim.SGD, PyTorch's spelling)
# TinyTorch's top-level names (`from tinytorch import Linear, SGD`): the course's own
# classes, listed with every other import-path alias in tinytorch/compat.py.
from .core.activations import GELU, ReLU, Sigmoid, Softmax, Tanh  # noqa: E402
from .core.attention import MultiHeadAttention, scaled_dot_product_attention  # noqa: E402
from .core.dataloader import DataLoader, Dataset, TensorDataset  # noqa: E402
from .core.embeddings import Embedding, EmbeddingLayer, PositionalEncoding  # noqa: E402
from .core.layers import Dropout, Layer, Linear  # noqa: E402
from .core.losses import BinaryCrossEntropyLoss, CrossEntropyLoss, MSELoss  # noqa: E402
from .core.optimizers import SGD, Adam, AdamW  # noqa: E402
from .core.spatial import AvgPool2d, Conv2d, MaxPool2d  # noqa: E402
from .core.tokenization import BPETokenizer, CharTokenizer, Tokenizer  # noqa: E402
from .core.training import CosineSchedule, Trainer, clip_grad_norm  # noqa: E402
from .core.transformer import GPT, MLP, LayerNorm, TransformerBlock  # noqa: E402

__version__ = "0.1.0"

float32 = _np.dtype("float32")
float64 = _np.dtype("float64")
int64 = _np.dtype("int64")
bool = _np.dtype("bool")  # noqa: A001  (mirrors torch.bool / np.bool_)
long = int64
double = float64
concatenate = cat


def manual_seed(seed):
    """Seed tinytorch's generator (weights init, rand/randn/randint, dropout, sampling).

    Like torch.manual_seed: any integer in [-2**63, 2**64); negative seeds are taken
    modulo 2**64 (so -1 is the same seed as 2**64 - 1). Floats and bools raise
    TypeError rather than being truncated (1.5 would silently become seed 1).
    """
    # `bool` below is this module's dtype alias: use the builtin type
    if isinstance(seed, (_builtins.bool, _np.bool_)) or not isinstance(seed, (int, _np.integer)):
        raise TypeError(f"manual_seed: the seed must be an integer, got {type(seed).__name__} ({seed!r}); "
                        f"pass e.g. tinytorch.manual_seed(42)")
    seed = int(seed)
    if not -2**63 <= seed < 2**64:
        raise ValueError(f"manual_seed: the seed {seed} is out of range; use an integer in "
                         f"[-2**63, 2**64) (negative seeds are taken modulo 2**64, as in PyTorch)")
    _C.manual_seed(seed % 2**64)


def arange(start, stop=None, step=1, dtype=None):
    """numpy-style arange; integer arguments without a dtype give int64, like numpy."""
    if dtype is None and all(isinstance(v, int) for v in (start, stop if stop is not None else 0, step)):
        dtype = int64
    return _C.arange(start, stop, step, dtype)


def tensor(data, requires_grad=False, dtype=None):
    """Alias of Tensor(...), as torch.tensor."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def from_numpy(array):
    """A tensor sharing `array`'s memory when its dtype is supported and it is writable and aligned."""
    if not isinstance(array, _np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}; "
                        f"use tt.Tensor(data) for lists and scalars")
    return Tensor(array, dtype=array.dtype)


def from_dlpack(obj):
    """A tensor sharing the memory of any DLPack producer (via numpy)."""
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ (a tensor or array), "
                        f"got {type(obj).__name__}")
    arr = _np.from_dlpack(obj)
    if not arr.flags.writeable:
        arr = arr.copy()
    return Tensor(arr, dtype=arr.dtype)


def set_num_threads(n):
    """Threads tinytorch uses for matmul and attention (as torch.set_num_threads).

    The default is what OpenBLAS would use (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS
    or the core count). tinytorch splits each product across its own threads
    and keeps OpenBLAS single-threaded: measured faster here (docs/design.md).
    """
    if isinstance(n, _builtins.bool) or not isinstance(n, (_builtins.int, _np.integer)):
        raise TypeError(f"set_num_threads: expected an int, got {type(n).__name__}")
    limit = _C._max_threads()
    if not 1 <= n <= limit:  # checked here too: ints beyond C's int never reach the binding
        raise ValueError(f"set_num_threads: the thread count must be between 1 and {limit} "
                         f"(4 per core on this machine), got {n}")
    _C._set_blas_threads(_builtins.int(n))


def get_num_threads():
    """Threads tinytorch uses for matmul and attention."""
    return _C._get_num_threads()


def show_config(file=None):
    """Print the version, BLAS library, the kernel core it selected, its threads and the SIMD level."""
    import os
    import sys

    info = dict(_C._build_info(), blas=_BLAS, march=_MARCH)
    out = file or sys.stdout
    print(f"tinytorch {__version__}", file=out)
    source = {"scipy-openblas32": "the scipy-openblas32 wheel", "system": "the system's libopenblas"}.get(
        _BLAS, "unrecorded build")
    print(f"  BLAS library : {info['blas_config'].strip()} ({source})", file=out)
    print(f"  BLAS core    : {info['blas_core']} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')})",
          file=out)
    target = "unrecorded" if _BLAS is None else ("-march=" + _MARCH if _MARCH else "the compiler's portable default")
    print(f"  kernels for  : {target}", file=out)
    print(f"  BLAS threads : {info['blas_threads']} (tinytorch's own; each OpenBLAS call is single-threaded)",
          file=out)
    print(f"  SIMD (build) : {info['simd']}", file=out)
    print(f"  compiler     : {info['compiler']}", file=out)
    print(f"  numpy        : {_np.__version__}", file=out)
    return info
