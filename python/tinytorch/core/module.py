"""The `Module` base class every layer, block and model derives from.

A module finds its parameters and sub-modules by looking at its own
attributes, in the order they were assigned (PyTorch's rule, without
needing `nn.Parameter` or `nn.ModuleList`):

* a `Tensor` attribute is a parameter when it requires grad (when assigned
  or now; a parameter frozen later with `requires_grad = False` stays one,
  so it keeps its place in `state_dict()`);
* a `Module` attribute is a sub-module;
* a list, tuple or dict attribute is searched for modules and parameters,
  so `self.blocks = [Block(), Block()]` (TinyTorch's style) works, even if
  the list is filled after the assignment.

Parameters are ordinary `tinytorch.Tensor` objects with `requires_grad=True`.
Subclasses may skip `super().__init__()` (the course's layers often do).
"""
from collections import OrderedDict, namedtuple

import numpy as np

from .autograd import no_grad
from .tensor import Tensor

__all__ = ["Module", "Parameter", "Layer", "IncompatibleKeys"]

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def Parameter(data, dtype=None):  # noqa: N802  (reads like torch.nn.Parameter)
    """A trainable tensor: `Tensor(data, requires_grad=True)` (float32 unless `dtype` says otherwise)."""
    if isinstance(data, Tensor):
        data = np.array(data.data)
    return Tensor(data, requires_grad=True, dtype=dtype)


class Module:
    """Base class of layers and models: parameter discovery, modes, state dicts."""

    training = True  # class default, so subclasses that skip __init__ still have it

    def __init__(self):
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        # Remember which tensors were parameters when assigned (see the module docstring).
        if isinstance(value, Tensor) and value.requires_grad:
            names = self.__dict__.get("_param_names")
            if names is None:
                names = set()
                object.__setattr__(self, "_param_names", names)
            names.add(name)
        object.__setattr__(self, name, value)

    # ---- the forward call ----
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- discovery ----
    def _own_items(self):
        """(name, value) of this module's direct parameters and sub-modules, in assignment order."""
        declared = self.__dict__.get("_param_names", ())
        for name, value in self.__dict__.items():
            if name.startswith("__") or name in ("_param_names", "training"):
                continue
            if isinstance(value, Tensor):
                if value.requires_grad or name in declared:
                    yield name, value
            elif isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module) or (isinstance(item, Tensor) and item.requires_grad):
                        yield f"{name}.{i}", item
            elif isinstance(value, dict):
                for key, item in value.items():
                    if isinstance(item, Module) or (isinstance(item, Tensor) and item.requires_grad):
                        yield f"{name}.{key}", item

    def named_children(self):
        """(name, module) of the direct sub-modules, each once."""
        seen = set()
        for name, value in self._own_items():
            if isinstance(value, Module) and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix=""):
        """(qualified name, module) of this module and all below it, each module once."""
        seen = set()
        stack = [(prefix, self)]
        while stack:  # explicit stack, depth-first in assignment order
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            kids = [(f"{name}.{n}" if name else n, m) for n, m in mod.named_children()]
            stack.extend(reversed(kids))

    def modules(self):
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix=""):
        """(qualified name, tensor), e.g. ('blocks.0.attention.q_proj.weight', t), depth-first in
        assignment order; a tensor or module reachable twice (weight tying) is listed once."""
        seen_tensors, seen_modules = set(), {id(self)}
        stack = [iter([(prefix, item) for item in self._own_items()])]
        while stack:  # explicit stack: no recursion limit on deep models
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            base, (name, value) = entry
            full = f"{base}.{name}" if base else name
            if isinstance(value, Tensor):
                if id(value) not in seen_tensors:
                    seen_tensors.add(id(value))
                    yield full, value
            elif id(value) not in seen_modules:
                seen_modules.add(id(value))
                stack.append(iter([(full, item) for item in value._own_items()]))

    def parameters(self):
        """All parameters as a list (TinyTorch returns a list; the order is the assignment order)."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self):
        """Total number of trainable scalars."""
        return int(sum(p.size for p in self.parameters()))

    # ---- modes and gradients ----
    def train(self, mode=True):
        """Training mode (dropout active) for this module and every sub-module; returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        """Evaluation mode (dropout off); returns self."""
        return self.train(False)

    def zero_grad(self):
        """Forget accumulated gradients (sets every parameter's .grad to None)."""
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, dtype):
        """Converts every floating-point parameter to `dtype` (e.g. tinytorch.float64 for gradcheck); returns self.

        The converted parameters are new tensors: build the optimizer after converting.
        """
        dtype = np.dtype(dtype)

        def convert(value):
            if isinstance(value, Tensor) and value.dtype != dtype and np.issubdtype(value.dtype, np.floating) \
                    and (value.requires_grad or value.grad_fn is None):
                return Tensor(np.asarray(value.data, dtype=dtype), requires_grad=value.requires_grad, dtype=dtype)
            return value

        for mod in self.modules():
            declared = mod.__dict__.get("_param_names", ())
            for name, value in list(mod.__dict__.items()):
                if isinstance(value, Tensor) and (value.requires_grad or name in declared):
                    object.__setattr__(mod, name, convert(value))
                elif isinstance(value, list):
                    value[:] = [convert(v) if isinstance(v, Tensor) and v.requires_grad else v for v in value]
        return self

    def double(self):
        """Parameters as float64 (see to())."""
        return self.to(np.float64)

    def float(self):
        """Parameters as float32 (see to())."""
        return self.to(np.float32)

    # ---- state dicts ----
    def state_dict(self):
        """OrderedDict of parameter name -> a numpy copy of its values."""
        return OrderedDict((name, np.array(p.data, copy=True)) for name, p in self.named_parameters())

    def load_state_dict(self, state_dict, strict=True):
        """Copy values into the parameters (in place, so optimizers keep their references).

        Every problem is found before anything is written: with strict=True,
        missing or unexpected names raise ValueError listing them; a shape
        mismatch always raises ValueError naming the parameter and both
        shapes. On error the model is unchanged. Returns
        IncompatibleKeys(missing_keys, unexpected_keys).
        """
        own = OrderedDict(self.named_parameters())
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and missing:
            problems.append("missing key(s): " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected key(s): " + ", ".join(unexpected))
        updates = []
        for name, p in own.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            try:
                arr = np.asarray(value.data if isinstance(value, Tensor) else value)
            except Exception as e:  # noqa: BLE001 (any unconvertible value is reported by name)
                problems.append(f"{name}: cannot convert a {type(value).__name__} to an array ({e})")
                continue
            if tuple(arr.shape) != tuple(p.shape):
                problems.append(f"size mismatch for {name}: the checkpoint has shape {tuple(arr.shape)}, "
                                f"the model has shape {tuple(p.shape)}")
                continue
            if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
                problems.append(f"{name}: values of dtype {arr.dtype} are not numeric")
                continue
            updates.append((p, arr.astype(p.dtype, copy=False)))
        if problems:
            raise ValueError(f"Error(s) in loading state_dict for {type(self).__name__}: " + "; ".join(problems) +
                             " (nothing was loaded)")
        with no_grad():  # an in-place write into leaves, as an optimizer step
            for p, arr in updates:
                p.copy_(np.ascontiguousarray(arr))
        return IncompatibleKeys(missing, unexpected)

    # ---- printing ----
    def extra_repr(self):
        """The constructor arguments shown in repr(); subclasses override."""
        return ""

    def __repr__(self):
        kids = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not kids:
            return head + ")"
        lines = [head]
        for name, mod in kids:
            body = repr(mod).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


# TinyTorch's module 03 calls the base class `Layer`.
Layer = Module
