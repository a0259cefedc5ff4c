"""Gradient modification: what a training loop does to gradients between
``loss.backward()`` and ``optimizer.step()``.

* ``clip_grad_norm_(params, max_norm)``  rescales all gradients together so
  their global norm is at most ``max_norm`` (the direction of the update is
  kept, only its length is capped): the standard guard against exploding
  gradients in transformers and RNNs. Returns the norm before clipping.
* ``clip_grad_value_(params, clip_value)`` clamps every gradient element to
  ``[-clip_value, clip_value]`` (changes the direction; cruder).
* ``scale_grads_(params, factor)`` multiplies every gradient by ``factor``,
  and ``GradScaler`` builds dynamic loss scaling on it: multiply the loss by
  a large factor S before backward (so tiny gradients do not underflow in
  low precision), divide the gradients by S before the step, skip steps whose
  gradients overflowed and lower S then, raise S again after a run of good
  steps.

Semantics follow ``torch.nn.utils`` and ``torch.amp.GradScaler``. Each
function is one C++ call over the whole parameter list (csrc/nn/grad_utils.cpp);
parameters without a gradient are skipped; gradients are modified in place.
"""

import math
from numbers import Real

from .. import _C
from .._C import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "clip_grad_value", "get_total_norm",
           "scale_grads_", "scale_grads", "grads_are_finite", "GradScaler"]


def _param_list(parameters, where: str):
    """A Tensor or an iterable of Tensors (a generator such as model.parameters() is fine)."""
    if isinstance(parameters, Tensor):
        return [parameters]
    try:
        params = list(parameters)
    except TypeError:
        raise TypeError(f"{where}: parameters must be a Tensor or an iterable of Tensors, "
                        f"got {type(parameters).__name__}") from None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: parameter {i} is a {type(p).__name__}, not a Tensor")
    return params


def _number(where: str, name: str, value, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value) or \
            (math.isinf(value) and not allow_inf) or value < 0:
        raise ValueError(f"{where}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def get_total_norm(parameters, norm_type: float = 2.0) -> float:
    """The ``norm_type``-norm of all gradients taken together, as if concatenated
    into one vector (``norm_type`` may be any p > 0, ``float('inf')`` for the
    largest absolute value, or 0 for the count of nonzeros). Computed in double
    precision. Parameters without gradients are skipped; none at all gives 0.0."""
    params = _param_list(parameters, "get_total_norm")
    norm_type = _number("get_total_norm", "norm_type", norm_type, allow_inf=True)
    return _C._grad_norm(params, norm_type)


def clip_grad_norm_(parameters, max_norm: float = 1.0, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> float:
    """Scale all gradients in place so that their global norm is at most ``max_norm``.

    With ``total = get_total_norm(parameters, norm_type)``, every gradient is
    multiplied by ``min(1, max_norm / (total + 1e-6))`` (PyTorch's formula; the
    1e-6 guards against division by zero), so after clipping the norm is
    ``max_norm * total / (total + 1e-6)``, i.e. ``max_norm`` to within 1e-6
    relative. Gradients already within the bound are not touched.

    Returns ``total``, the norm BEFORE clipping, as a Python float (PyTorch
    returns a 0-d tensor; ``float()`` works on both).

    A NaN or infinite ``total`` raises RuntimeError when ``error_if_nonfinite``;
    otherwise, as in PyTorch, the gradients are multiplied by the resulting
    factor (NaN for a NaN norm, 0 for an infinite one), so the step that
    follows is visibly broken rather than silently skipped.
    """
    params = _param_list(parameters, "clip_grad_norm_")
    max_norm = _number("clip_grad_norm_", "max_norm", max_norm, allow_inf=True)
    norm_type = _number("clip_grad_norm_", "norm_type", norm_type, allow_inf=True)
    total = _C._grad_norm(params, norm_type)
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise RuntimeError(
                f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}, so it "
                f"cannot be clipped. Find where the NaN/inf comes from (tinytorch.autograd.detect_anomaly() "
                f"helps), or pass error_if_nonfinite=False to scale the gradients by the non-finite norm anyway")
        coef = max_norm / (total + 1e-6)  # nan, or 0.0 for +inf
        _C._scale_grads(params, coef)
        return total
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        _C._scale_grads(params, coef)
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element in place to ``[-clip_value, clip_value]``
    (NaN stays NaN, as in PyTorch)."""
    params = _param_list(parameters, "clip_grad_value_")
    clip_value = _number("clip_grad_value_", "clip_value", clip_value, allow_inf=True)
    _C._clamp_grads(params, -clip_value, clip_value)


def scale_grads_(parameters, factor: float) -> None:
    """Multiply every gradient in place by ``factor`` (e.g. ``1 / loss_scale``, or
    ``1 / accumulation_steps`` after gradient accumulation)."""
    params = _param_list(parameters, "scale_grads_")
    if isinstance(factor, bool) or not isinstance(factor, Real):
        raise TypeError(f"scale_grads_: factor must be a number, got {type(factor).__name__}")
    _C._scale_grads(params, float(factor))


def grads_are_finite(parameters) -> bool:
    """True when no gradient contains NaN or an infinity."""
    return _C._grads_finite(_param_list(parameters, "grads_are_finite"))


def _optimizer_params(optimizer):
    """tinytorch optimizers keep `params`; PyTorch-style ones keep `param_groups`."""
    if hasattr(optimizer, "params"):
        return _param_list(optimizer.params, "GradScaler")
    if hasattr(optimizer, "param_groups"):
        return _param_list([p for group in optimizer.param_groups for p in group["params"]], "GradScaler")
    raise TypeError(f"GradScaler: {type(optimizer).__name__} has neither .params nor .param_groups; "
                    f"pass a tinytorch optimizer")


# TinyTorch / older PyTorch spellings.
clip_grad_norm = clip_grad_norm_
clip_grad_value = clip_grad_value_
scale_grads = scale_grads_


class GradScaler:
    """Dynamic loss scaling, with ``torch.amp.GradScaler``'s interface::

        scaler = GradScaler()
        for inputs, targets in data:
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            scaler.scale(loss).backward()     # gradients come out multiplied by S
            scaler.unscale_(optimizer)        # optional: divide by S now (e.g. to clip)
            scaler.step(optimizer)            # divides by S if not done yet; skips the step on inf/NaN
            scaler.update()                   # S *= backoff_factor after a skipped step,
                                              # S *= growth_factor after growth_interval good ones

    Why: in low precision (float16) small gradients round to zero. Scaling the
    loss by S scales every gradient by S (the chain rule is linear), lifting
    them into the representable range; dividing by S before the update gives
    the true gradients back. Too large an S overflows to inf; the scaler then
    skips that step and halves S. tinytorch computes in float32/float64, where
    underflow is rare, so this is mostly for learning how mixed-precision
    training works; it is exact for power-of-two scales.
    """

    def __init__(self, init_scale: float = 2.0 ** 16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True):
        if not (isinstance(init_scale, Real) and math.isfinite(init_scale) and init_scale > 0):
            raise ValueError(f"GradScaler: init_scale must be a finite number > 0, got {init_scale!r}")
        if not (isinstance(growth_factor, Real) and growth_factor > 1.0):
            raise ValueError(f"GradScaler: growth_factor must be > 1.0, got {growth_factor!r}")
        if not (isinstance(backoff_factor, Real) and 0.0 < backoff_factor < 1.0):
            raise ValueError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor!r}")
        if isinstance(growth_interval, bool) or not isinstance(growth_interval, int) or growth_interval < 1:
            raise ValueError(f"GradScaler: growth_interval must be an int >= 1, got {growth_interval!r}")
        self._enabled = bool(enabled)
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = growth_interval
        self._growth_tracker = 0  # consecutive steps without inf/NaN
        self._per_optimizer = {}  # id(optimizer) -> {"unscaled": bool, "found_inf": bool}

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        """The current scale S (1.0 when disabled)."""
        return self._scale if self._enabled else 1.0

    def scale(self, outputs):
        """``outputs * S`` for a Tensor (or a list/tuple of them); unchanged when disabled."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        if not isinstance(outputs, Tensor):
            raise TypeError(f"GradScaler.scale: expected a Tensor (the loss), got {type(outputs).__name__}")
        return outputs * self._scale

    def _state(self, optimizer) -> dict:
        return self._per_optimizer.setdefault(id(optimizer), {"unscaled": False, "found_inf": False})

    def unscale_(self, optimizer) -> None:
        """Divide the gradients of ``optimizer.params`` by S in place and record whether
        any is inf/NaN. At most once per optimizer between two ``update()`` calls."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["unscaled"]:
            raise RuntimeError("GradScaler.unscale_: already called on this optimizer since the last update(); "
                               "call it once per step, then step() and update()")
        params = _optimizer_params(optimizer)
        _C._scale_grads(params, 1.0 / self._scale)
        state["found_inf"] = not _C._grads_finite(params)
        state["unscaled"] = True

    def step(self, optimizer, *args, **kwargs):
        """``optimizer.step()`` unless the (unscaled) gradients contain inf/NaN, in which
        case the step is skipped and None returned."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        state = self._state(optimizer)
        if not state["unscaled"]:
            self.unscale_(optimizer)
        if state["found_inf"]:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None) -> None:
        """Adjust S for the next iteration (or set it to ``new_scale``) and reset the per-step state."""
        if not self._enabled:
            return
        if new_scale is not None:
            if not (isinstance(new_scale, Real) and math.isfinite(new_scale) and new_scale > 0):
                raise ValueError(f"GradScaler.update: new_scale must be a finite number > 0, got {new_scale!r}")
            self._scale = float(new_scale)
        else:
            found_inf = any(s["found_inf"] for s in self._per_optimizer.values())
            if found_inf:
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    self._scale *= self._growth_factor
                    self._growth_tracker = 0
        self._per_optimizer = {}

    def state_dict(self) -> dict:
        return {"scale": self._scale, "growth_factor": self._growth_factor, "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval, "_growth_tracker": self._growth_tracker} \
            if self._enabled else {}

    def load_state_dict(self, state: dict) -> None:
        if not self._enabled:
            return
        if not state:
            raise RuntimeError("GradScaler.load_state_dict: the state is empty (it was saved from a disabled scaler)")
        probe = GradScaler(init_scale=state["scale"], growth_factor=state["growth_factor"],
                           backoff_factor=state["backoff_factor"], growth_interval=state["growth_interval"])
        tracker = state.get("_growth_tracker", 0)
        if isinstance(tracker, bool) or not isinstance(tracker, int) or tracker < 0:
            raise ValueError(f"GradScaler.load_state_dict: _growth_tracker must be an int >= 0, got {tracker!r}")
        self._scale, self._growth_factor = probe._scale, probe._growth_factor
        self._backoff_factor, self._growth_interval = probe._backoff_factor, probe._growth_interval
        self._growth_tracker = tracker

    def __repr__(self) -> str:
        return (f"GradScaler(scale={self.get_scale()}, growth_factor={self._growth_factor}, "
                f"backoff_factor={self._backoff_factor}, growth_interval={self._growth_interval}, "
                f"enabled={self._enabled})")
