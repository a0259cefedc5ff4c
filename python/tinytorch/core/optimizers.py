"""Module 06 - Optimizers: turning gradients into better weights.

After ``loss.backward()`` every parameter holds a gradient pointing uphill.
An optimizer moves each parameter a little way downhill:

* ``SGD``    p -= lr * grad, optionally with momentum (a running sum of past
             gradients that carries the update through noise and narrow valleys)
             and L2 weight decay.
* ``Adam``   keeps running averages of the gradient (m) and of its square (v)
             and steps by m / sqrt(v): every parameter gets its own step size.
* ``AdamW``  Adam whose weight decay shrinks the weights directly instead of
             going through the gradient, so the decay is not rescaled by v.

The formulas are PyTorch's, and the results agree with ``torch.optim.SGD``,
``Adam`` and ``AdamW`` step for step. ``step()`` is ONE call into C++ that
updates all parameters (csrc/nn/optimizers.cpp), so its cost does not grow
with the number of Python objects involved.

The optimizer holds the very tensors the model holds (not copies); state
buffers are created on a parameter's first update, as in TinyTorch:
``SGD.momentum_buffers``, ``Adam.m_buffers`` and ``Adam.v_buffers`` are lists
with one entry per parameter, ``None`` until then. All parameters form a
single group; change ``optimizer.lr`` at any time (that is what learning-rate
schedules do).
"""

import math
from numbers import Real

import numpy as np

from .. import _C
from .._C import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "register_optimizer_step_post_hook"]


class _HookHandle:
    """Returned by the hook registrations: ``handle.remove()`` unregisters the hook (PyTorch's idiom)."""

    def __init__(self, hooks: dict, key: int):
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


_global_step_post_hooks = {}  # key -> hook(optimizer, args, kwargs), run after every optimizer's step()
_next_hook_key = [0]


def _add_hook(hooks: dict, hook, where: str) -> _HookHandle:
    if not callable(hook):
        raise TypeError(f"{where}: hook must be callable as hook(optimizer, args, kwargs), "
                        f"got {type(hook).__name__}")
    _next_hook_key[0] += 1
    hooks[_next_hook_key[0]] = hook
    return _HookHandle(hooks, _next_hook_key[0])


def register_optimizer_step_post_hook(hook) -> _HookHandle:
    """Run ``hook(optimizer, (), {})`` after the ``step()`` of every SGD/Adam/AdamW (PyTorch's
    ``torch.optim.optimizer.register_optimizer_step_post_hook``). Pruning uses it to keep pruned
    weights at exactly zero whichever optimizer trains them. Returns a handle with ``remove()``."""
    return _add_hook(_global_step_post_hooks, hook, "register_optimizer_step_post_hook")


def _check_hyper(owner: str, name: str, value, low: float = 0.0, high: float = None,
                 high_inclusive: bool = False) -> float:
    """A finite real number in [low, high) (or [low, high]); ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be a finite number, got {value!r}")
    value = float(value)
    if value < low or (high is not None and (value > high or (value == high and not high_inclusive))):
        bound = "" if high is None else (f" and <= {high}" if high_inclusive else f" and < {high}")
        raise ValueError(f"{owner}: {name} must be >= {low}{bound}, got {value}")
    return value


def _as_array(value, like: Tensor, where: str) -> np.ndarray:
    """A state value from a state_dict as a fresh array of the parameter's shape and dtype."""
    array = np.asarray(value)
    if array.shape != like.shape:
        raise ValueError(f"{where} has shape {array.shape} but the parameter has shape {like.shape}; "
                         f"was this state saved from a different model?")
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{where} has dtype {array.dtype}; expected a float array")
    return np.array(array, dtype=like.dtype, order="C", copy=True)


class Optimizer:
    """Base class: holds the parameter list and clears gradients.

    Subclasses implement ``step()`` and describe their per-parameter state and
    hyperparameters for ``state_dict()`` / ``load_state_dict()``.
    """

    # Names of the per-parameter state lists and of the hyperparameters, used
    # by state_dict()/load_state_dict(). Subclasses fill these in.
    _state_lists = ()
    _hyperparameters = ()

    def __init__(self, params):
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of Tensors (e.g. model.parameters()), "
                            f"got a single Tensor; wrap it in a list: [tensor]")
        if isinstance(params, dict):
            raise TypeError(f"{name}: params must be an iterable of Tensors, got a dict; "
                            f"parameter groups are not supported, pass model.parameters()")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{name}: params must be an iterable of Tensors, got {type(params).__name__}") from None
        seen = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a Tensor; "
                                f"pass model.parameters() or a list of Tensors")
            if p.dtype.kind != "f":
                raise TypeError(f"{name}: parameter {i} has dtype {p.dtype}; only float32 and float64 "
                                f"tensors can be optimized")
            if id(p) in seen:
                raise ValueError(f"{name}: parameter {i} appears more than once in params; "
                                 f"pass each parameter once")
            seen.add(id(p))
        self.params = params
        # As in TinyTorch, every parameter takes part in autograd. Existing gradients are kept
        # (PyTorch's behaviour): an optimizer created after backward() still applies them.
        for p in self.params:
            if p.is_leaf and not p.requires_grad:
                p.requires_grad = True
        self.step_count = 0  # number of step() calls
        self._step_post_hooks = {}

    def register_step_post_hook(self, hook) -> _HookHandle:
        """Run ``hook(self, (), {})`` after each ``step()`` of this optimizer (PyTorch's name and
        signature). Returns a handle with ``remove()``."""
        if "_step_post_hooks" not in self.__dict__:  # subclasses that skip Optimizer.__init__
            self._step_post_hooks = {}
        return _add_hook(self._step_post_hooks, hook, f"{type(self).__name__}.register_step_post_hook")

    def _run_step_post_hooks(self) -> None:
        """Called at the end of step(): this optimizer's hooks, then the global ones."""
        for hook in list(self.__dict__.get("_step_post_hooks", {}).values()):
            hook(self, (), {})
        for hook in list(_global_step_post_hooks.values()):
            hook(self, (), {})

    def zero_grad(self, set_to_none: bool = True):
        """Clear every parameter's gradient: ``grad = None`` (PyTorch's default), or zeros in place."""
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0
                p.grad._bump_version()

    def step(self):
        raise NotImplementedError(
            f"{type(self).__name__} inherits from Optimizer but does not define step(); "
            f"implement the update rule there (e.g. p.data -= self.lr * p.grad.data for each parameter)")

    # ---- learning rate (schedules set it between steps) ----
    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value):
        self._lr = _check_hyper(type(self).__name__, "lr", value)

    # ---- saving and restoring ----
    def state_dict(self) -> dict:
        """The optimizer's state as plain data (no tensors, no references to it):

        ``{"type": "Adam", "step_count": int, "hyperparameters": {...},
        "state": [per-parameter dict or None, ...]}``, where each per-parameter
        dict maps buffer names to numpy arrays (copies) and ``"step"`` to an int.
        """
        state = []
        for i in range(len(self.params)):
            entry = {}
            for attr, key in self._state_lists:
                buf = getattr(self, attr)[i]
                if buf is not None:
                    entry[key] = np.array(buf, copy=True)
            if entry or self._param_step(i):
                entry["step"] = self._param_step(i)
            state.append(entry or None)
        return {"type": type(self).__name__, "step_count": int(self.step_count),
                "hyperparameters": {name: self._get_hyper(name) for name in self._hyperparameters},
                "state": state}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a ``state_dict()``. Everything is checked first (optimizer type,
        parameter count, buffer shapes, hyperparameter values); on any error the
        optimizer is left unchanged. Buffers are copied to the parameters' dtypes."""
        self._prepare_load(state_dict)()

    def _prepare_load(self, state_dict: dict):
        """Validate ``state_dict`` without changing anything; return a function that applies it
        (checkpoint loading validates every part of a file before applying any)."""
        name = type(self).__name__
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}.load_state_dict: expected a dict from state_dict(), got "
                            f"{type(state_dict).__name__}")
        missing = {"type", "step_count", "hyperparameters", "state"} - set(state_dict)
        if missing:
            raise ValueError(f"{name}.load_state_dict: the state dict lacks {sorted(missing)}")
        if state_dict["type"] != name:
            raise ValueError(f"{name}.load_state_dict: the state was saved by a {state_dict['type']} optimizer; "
                             f"load it into a {state_dict['type']}")
        entries = state_dict["state"]
        if not isinstance(entries, (list, tuple)) or len(entries) != len(self.params):
            count = len(entries) if isinstance(entries, (list, tuple)) else type(entries).__name__
            raise ValueError(f"{name}.load_state_dict: the state has {count} parameter entries but this optimizer "
                             f"has {len(self.params)} parameters; was it saved from a different model?")
        step_count = state_dict["step_count"]
        if isinstance(step_count, bool) or not isinstance(step_count, (int, np.integer)) or step_count < 0:
            raise ValueError(f"{name}.load_state_dict: step_count must be an int >= 0, got {step_count!r}")

        # Validate into new objects first; assign only when everything passed.
        hyper = dict(state_dict["hyperparameters"])
        unknown = set(hyper) - set(self._hyperparameters)
        if unknown:
            raise ValueError(f"{name}.load_state_dict: unknown hyperparameters {sorted(unknown)}")
        probe = object.__new__(type(self))
        for key, value in hyper.items():
            probe._set_hyper(key, value)  # raises on invalid values
        new_lists = {attr: [None] * len(self.params) for attr, _ in self._state_lists}
        new_steps = [0] * len(self.params)
        for i, (entry, p) in enumerate(zip(entries, self.params)):
            if entry is None:
                continue
            if not isinstance(entry, dict):
                raise TypeError(f"{name}.load_state_dict: state entry {i} must be a dict or None, "
                                f"got {type(entry).__name__}")
            known = {key for _, key in self._state_lists} | {"step"}
            if set(entry) - known:
                raise ValueError(f"{name}.load_state_dict: state entry {i} has unknown keys "
                                 f"{sorted(set(entry) - known)}")
            for attr, key in self._state_lists:
                if key in entry:
                    new_lists[attr][i] = Tensor(_as_array(entry[key], p, f"{name}.load_state_dict: "
                                                                         f"state[{i}][{key!r}]"), dtype=p.dtype)
            step = entry.get("step", 0)
            if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
                raise ValueError(f"{name}.load_state_dict: state[{i}]['step'] must be an int >= 0, got {step!r}")
            new_steps[i] = int(step)
        self._check_loaded_state(new_lists, new_steps)

        def apply():
            for key, value in hyper.items():
                self._set_hyper(key, value)
            for attr, values in new_lists.items():
                getattr(self, attr)[:] = values
            self._set_param_steps(new_steps)
            self.step_count = int(step_count)
        return apply

    # Hooks the subclasses specialise.
    def _param_step(self, i: int) -> int:
        return 0

    def _set_param_steps(self, steps) -> None:
        pass

    def _check_loaded_state(self, new_lists, new_steps) -> None:
        pass

    def _get_hyper(self, name):
        return getattr(self, name)

    def _set_hyper(self, name, value):
        setattr(self, name, value)

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={self._get_hyper(k)!r}" for k in self._hyperparameters)
        return f"{type(self).__name__}({len(self.params)} parameters, {hyper})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay.

    PyTorch's update (``torch.optim.SGD``)::

        g = grad + weight_decay * p
        buf = g                                    on a parameter's first step
        buf = momentum * buf + (1 - dampening) * g on later steps
        g = g + momentum * buf  if nesterov  else  buf      (only when momentum != 0)
        p = p - lr * g
    """

    _state_lists = (("momentum_buffers", "momentum_buffer"),)
    _hyperparameters = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0, weight_decay: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False):
        super().__init__(params)
        self.lr = lr
        self.momentum = _check_hyper("SGD", "momentum", momentum)
        self.weight_decay = _check_hyper("SGD", "weight_decay", weight_decay)
        self.dampening = _check_hyper("SGD", "dampening", dampening, high=1.0, high_inclusive=True)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("SGD: nesterov momentum requires momentum > 0 and dampening = 0")
        self.momentum_buffers = [None] * len(self.params)

    def step(self):
        """One fused update of every parameter that has a gradient."""
        _C._sgd_step(self.params, self.momentum_buffers, self._lr, self.momentum, self.dampening,
                     self.weight_decay, self.nesterov)
        self.step_count += 1
        self._run_step_post_hooks()

    def has_momentum(self) -> bool:
        """True when momentum buffers are in use (momentum > 0)."""
        return self.momentum > 0

    def get_momentum_state(self):
        """Copies of the momentum buffers (numpy arrays, None where not created yet), or None
        without momentum. TinyTorch's checkpointing API."""
        if not self.has_momentum():
            return None
        return [None if b is None else np.array(b, copy=True) for b in self.momentum_buffers]

    def set_momentum_state(self, state) -> None:
        """Restore buffers from get_momentum_state() (shapes are checked first)."""
        if state is None or not self.has_momentum():
            return
        if len(state) != len(self.params):
            raise ValueError(f"SGD.set_momentum_state: the state has {len(state)} buffers but the optimizer has "
                             f"{len(self.params)} parameters; was it saved from a different model?")
        new = [None if b is None else Tensor(_as_array(b, p, f"SGD.set_momentum_state: buffer {i}"), dtype=p.dtype)
               for i, (b, p) in enumerate(zip(state, self.params))]
        for i, b in enumerate(new):
            if b is not None:
                self.momentum_buffers[i] = b

    def _set_hyper(self, name, value):
        if name == "lr":
            self.lr = value
        elif name == "nesterov":
            self.nesterov = bool(value)
        else:
            setattr(self, name, _check_hyper("SGD", name, value))


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with PyTorch's formulas (``torch.optim.Adam``)::

        t += 1                                    (per parameter)
        g = grad + weight_decay * p               (L2 penalty, through the gradient)
        m = beta1 * m + (1 - beta1) * g           (running mean of gradients)
        v = beta2 * v + (1 - beta2) * g * g       (running mean of squared gradients)
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The (1 - beta^t) factors undo the bias of m and v towards their zero start.
    ``m_buffers`` / ``v_buffers`` hold m and v per parameter (None before its first step).
    """

    _state_lists = (("m_buffers", "exp_avg"), ("v_buffers", "exp_avg_sq"))
    _hyperparameters = ("lr", "betas", "eps", "weight_decay")
    _decoupled = False

    def __init__(self, params, lr: float = 0.001, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params)
        self.lr = lr
        self.betas = betas
        self.eps = _check_hyper(type(self).__name__, "eps", eps)
        self.weight_decay = _check_hyper(type(self).__name__, "weight_decay", weight_decay)
        self.m_buffers = [None] * len(self.params)
        self.v_buffers = [None] * len(self.params)
        self._steps = [0] * len(self.params)  # per-parameter update counts (for bias correction)

    @property
    def betas(self):
        return (self.beta1, self.beta2)

    @betas.setter
    def betas(self, value):
        name = type(self).__name__
        try:
            beta1, beta2 = value
        except (TypeError, ValueError):
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {value!r}") from None
        self.beta1 = _check_hyper(name, "beta1", beta1, high=1.0)
        self.beta2 = _check_hyper(name, "beta2", beta2, high=1.0)

    def step(self):
        """One fused update of every parameter that has a gradient."""
        _C._adam_step(self.params, self.m_buffers, self.v_buffers, self._steps, self._lr, self.beta1,
                      self.beta2, self.eps, self.weight_decay, self._decoupled)
        self.step_count += 1
        self._run_step_post_hooks()

    def _param_step(self, i):
        return self._steps[i]

    def _set_param_steps(self, steps):
        self._steps[:] = steps

    def _check_loaded_state(self, new_lists, new_steps):
        for i, (m, v) in enumerate(zip(new_lists["m_buffers"], new_lists["v_buffers"])):
            if (m is None) != (v is None):
                raise ValueError(f"{type(self).__name__}.load_state_dict: state[{i}] has only one of "
                                 f"exp_avg / exp_avg_sq; both are needed")

    def _get_hyper(self, name):
        return list(self.betas) if name == "betas" else getattr(self, name)

    def _set_hyper(self, name, value):
        if name in ("lr", "betas"):
            setattr(self, name, value)
        else:
            setattr(self, name, _check_hyper(type(self).__name__, name, value))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019; ``torch.optim.AdamW``).

    Instead of adding ``weight_decay * p`` to the gradient (where Adam's
    division by sqrt(v) would rescale it), each step first shrinks the weights
    directly: ``p = p * (1 - lr * weight_decay)``; the rest is Adam's update.
    """

    _decoupled = True

    def __init__(self, params, lr: float = 0.001, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
