"""Module 17: compression. Pruning, low-rank factorization and knowledge distillation.

* **Magnitude pruning** zeroes the weights with the smallest |w|, either per
  layer or over the whole model at once (global). The count is exact:
  ``round(sparsity * n)`` weights go, chosen by a stable sort of |w|, so among
  equal magnitudes the one with the lower flat index (row-major, then
  parameter order) goes first.
* **Structured pruning** zeroes whole output neurons of a ``Linear`` (a
  column of its ``(in, out)`` weight and the bias entry) or whole output
  channels of a ``Conv2d``, the ones with the smallest L2 norm. The layer can
  then be rebuilt smaller (``shrink_linear``), which is what makes it faster.
* **Masks survive training.** A pruned weight must stay exactly 0 after
  ``opt.step()``. A zero gradient alone is not enough: SGD's momentum buffer
  or Adam's running mean may still hold history from before pruning. So a
  pruned parameter gets (1) a gradient hook that multiplies its gradient by
  the mask (clipping and norms see the truth), and (2) an optimizer post-step
  hook (``register_optimizer_step_post_hook``, run by every SGD/Adam/AdamW,
  fused C++ steps included) that multiplies the weight by its mask again and
  zeroes the optimizer's state at the pruned positions.
* **Low rank**: a Linear ``W (in, out)`` becomes two Linears through the SVD
  ``W ~ U_r S_r V_r^T``; the Frobenius error is the norm of the dropped
  singular values, and ``r (in + out)`` numbers replace ``in * out``.
* **Distillation**: ``alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) +
  (1 - alpha) * CE(s, y)``, built from differentiable engine ops.

Function names and defaults follow TinyTorch's compression module
(``magnitude_prune(model, sparsity=0.9)``, ``structured_prune(model,
prune_ratio=0.5)``, ``measure_sparsity``, ``low_rank_approximate``,
``KnowledgeDistillation``, ``compress_model``); ``measure_sparsity`` returns a
fraction in [0, 1], not a percentage.
"""
import math
import weakref
from numbers import Real

import numpy as np

from .. import _C
from ..core.autograd import no_grad
from ..core.layers import Linear
from ..core.losses import integer_ids
from ..core.module import Module
from ..core.optimizers import register_optimizer_step_post_hook
from ..core.spatial import Conv2d
from ..core.tensor import Tensor, _as_tensor

__all__ = ["Compressor", "measure_sparsity", "magnitude_prune", "structured_prune", "apply_masks", "remove_masks",
           "get_masks", "low_rank_approximate", "low_rank_factorize", "LowRankLinear", "shrink_linear",
           "distillation_loss", "KnowledgeDistillation", "compress_model"]


# ---------------------------------------------------------------- weights and checks
def _check_fraction(value, name, where, allow_one=False):
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise TypeError(f"{where}: {name} must be a number in [0, 1{']' if allow_one else ')'}, got {value!r}")
    value = float(value)
    if value < 0 or value > 1 or (value == 1 and not allow_one):
        raise ValueError(f"{where}: {name} must be in [0, 1{']' if allow_one else ')'}, got {value}"
                         + ("" if allow_one else "; pruning every weight leaves no model"))
    return value


def _named_weights(model, where):
    """(name, tensor) of the prunable weights: parameters with 2 or more dims (biases and norms are kept).

    Accepts a Module, a single Tensor or a list of Tensors."""
    if isinstance(model, Module):
        items = [(n, p) for n, p in model.named_parameters() if p.ndim >= 2]
    elif isinstance(model, Tensor):
        items = [("weight", model)]
    elif isinstance(model, (list, tuple)) and all(isinstance(p, Tensor) for p in model):
        items = [(str(i), p) for i, p in enumerate(model) if p.ndim >= 2]
    else:
        raise TypeError(f"{where}: expected a Module, a Tensor or a list of Tensors, got {type(model).__name__}")
    if not items:
        raise ValueError(f"{where}: the model has no weight with 2 or more dimensions to prune")
    return items


def measure_sparsity(model) -> float:
    """Fraction (0 to 1) of exactly-zero entries over the weights with >= 2 dims (biases excluded,
    as in TinyTorch). A single Tensor counts all its entries."""
    items = _named_weights(model, "measure_sparsity")
    zeros = sum(int(np.count_nonzero(np.asarray(p.data) == 0)) for _, p in items)
    total = sum(int(p.size) for _, p in items)
    return zeros / total


# ---------------------------------------------------------------- masks that survive training
# id(tensor) -> (weakref to the tensor, float mask array, gradient-hook handle). Weak references:
# a tensor that dies takes its entry with it, so a reused id never inherits a mask.
_MASKS = {}
_post_step_handle = None


def _forget(key):
    entry = _MASKS.pop(key, None)
    if entry is not None and entry[2] is not None:
        entry[2].remove()


def _mask_after_step(optimizer, args, kwargs):
    """Post-step hook: pruned weights back to 0, optimizer state at pruned positions to 0."""
    for i, p in enumerate(getattr(optimizer, "params", ())):
        entry = _MASKS.get(id(p))
        if entry is None or entry[0]() is not p:
            continue
        mask = entry[1]
        with no_grad():
            np.multiply(np.asarray(p.data), mask, out=np.asarray(p.data))
        p._bump_version()
        for attr in ("momentum_buffers", "m_buffers", "v_buffers"):
            buffers = getattr(optimizer, attr, None)
            if buffers is not None and i < len(buffers) and buffers[i] is not None:
                buf = np.asarray(buffers[i].data)
                np.multiply(buf, mask, out=buf)


def _dropper(key):
    masks = _MASKS  # bound now: at interpreter exit the module global may already be None

    def drop(_ref):
        masks.pop(key, None)
    return drop


def _attach(p, keep):
    """Zero p where keep is False, and make that stick: gradient hook + the global post-step hook."""
    global _post_step_handle
    key = id(p)
    old = _MASKS.get(key)
    if old is not None and old[0]() is p:
        keep = keep & (old[1] != 0)  # a weight pruned before stays pruned
    _forget(key)
    mask = keep.astype(np.asarray(p.data).dtype)
    with no_grad():
        np.multiply(np.asarray(p.data), mask, out=np.asarray(p.data))
    p._bump_version()
    mask_t = Tensor(mask, dtype=p.dtype)
    handle = p.register_hook(lambda g: g * mask_t) if p.requires_grad else None
    _MASKS[key] = (weakref.ref(p, _dropper(key)), mask, handle)
    if _post_step_handle is None:
        _post_step_handle = register_optimizer_step_post_hook(_mask_after_step)
    return mask != 0


def get_masks(model):
    """{name: bool keep-mask} of the model's parameters that are pruned now."""
    out = {}
    for name, p in model.named_parameters() if isinstance(model, Module) else _named_weights(model, "get_masks"):
        entry = _MASKS.get(id(p))
        if entry is not None and entry[0]() is p:
            out[name] = entry[1] != 0
    return out


def apply_masks(model, masks):
    """Attach keep-masks {name: bool array} (from magnitude_prune, structured_prune or get_masks) to
    the model's parameters of those names: zeroes them and keeps them zero through training."""
    params = dict(model.named_parameters()) if isinstance(model, Module) else dict(_named_weights(model, "apply_masks"))
    for name, keep in masks.items():
        if name not in params:
            raise ValueError(f"apply_masks: the model has no parameter named {name!r}; it has {sorted(params)}")
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != tuple(params[name].shape):
            raise ValueError(f"apply_masks: mask for {name!r} has shape {keep.shape} but the parameter has "
                             f"shape {tuple(params[name].shape)}")
        _attach(params[name], keep)
    return get_masks(model)


def remove_masks(model):
    """Stop enforcing the masks of this model's parameters (the zeros stay, training may regrow them)."""
    items = model.named_parameters() if isinstance(model, Module) else _named_weights(model, "remove_masks")
    for _, p in items:
        entry = _MASKS.get(id(p))
        if entry is not None and entry[0]() is p:
            _forget(id(p))


# ---------------------------------------------------------------- pruning
def _smallest(magnitudes, count):
    """Flat indices of the `count` smallest magnitudes; ties go to the lower index (stable sort)."""
    return np.argsort(magnitudes, kind="stable")[:count]


def magnitude_prune(model, sparsity=0.9, scope="global"):
    """Zero the round(sparsity * n) weights of smallest |w| and keep them zero; returns {name: keep-mask}.

    scope="global" ranks all weights of the model together (layers with small weights lose more);
    scope="layer" prunes each weight tensor to the same sparsity. Biases and 1-D parameters are
    never pruned. Ties in |w| are broken by position: the lower flat index (row-major, parameters in
    model order) goes first. Weights pruned before stay pruned.
    """
    sparsity = _check_fraction(sparsity, "sparsity", "magnitude_prune")
    if scope not in ("global", "layer"):
        raise ValueError(f"magnitude_prune: scope must be 'global' or 'layer', got {scope!r}")
    items = _named_weights(model, "magnitude_prune")
    keeps = {}
    if scope == "layer":
        for name, p in items:
            mags = np.abs(np.asarray(p.data, dtype=np.float64)).ravel()
            keep = np.ones(mags.size, dtype=bool)
            keep[_smallest(mags, int(round(sparsity * mags.size)))] = False
            keeps[name] = keep.reshape(p.shape)
    else:
        mags = np.concatenate([np.abs(np.asarray(p.data, dtype=np.float64)).ravel() for _, p in items])
        keep = np.ones(mags.size, dtype=bool)
        keep[_smallest(mags, int(round(sparsity * mags.size)))] = False
        start = 0
        for name, p in items:
            keeps[name] = keep[start:start + p.size].reshape(p.shape)
            start += p.size
    params = dict(items)
    return {name: _attach(params[name], keep) for name, keep in keeps.items()}


def _prunable_layers(model, layers):
    if layers is not None:
        chosen = list(layers)
    elif isinstance(model, (Linear, Conv2d)):
        chosen = [model]
    elif isinstance(model, Module):
        chosen = [m for m in model.modules() if isinstance(m, (Linear, Conv2d))]
    else:
        raise TypeError(f"structured_prune: expected a Module, got {type(model).__name__}")
    for m in chosen:
        if not isinstance(m, (Linear, Conv2d)):
            raise TypeError(f"structured_prune: can prune Linear and Conv2d layers, got {type(m).__name__}")
    if not chosen:
        raise ValueError("structured_prune: the model has no Linear or Conv2d layer")
    return chosen


def output_norms(layer):
    """L2 norm of each output unit: a column of a Linear's (in, out) weight, a channel of a Conv2d's."""
    w = np.asarray(layer.weight.data, dtype=np.float64)
    if isinstance(layer, Linear):
        return np.sqrt((w * w).sum(axis=0))
    return np.sqrt((w * w).reshape(w.shape[0], -1).sum(axis=1))


def structured_prune(model, prune_ratio=0.5, layers=None, *, fraction=None):
    """Zero the round(prune_ratio * units) output units of smallest L2 norm in every Linear (columns
    of weight, with their bias entries) and Conv2d (output channels) of the model, or only in
    `layers`; keeps them zero through training. Returns {name: keep-mask} for weights and biases.
    Ties in norm go to the lower unit index. `fraction=` is another name for prune_ratio."""
    if fraction is not None:
        prune_ratio = fraction
    prune_ratio = _check_fraction(prune_ratio, "prune_ratio", "structured_prune", allow_one=True)
    chosen = _prunable_layers(model, layers)
    names = {id(p): n for n, p in model.named_parameters()} if isinstance(model, Module) else {}
    masks = {}
    for layer in chosen:
        norms = output_norms(layer)
        keep_units = np.ones(norms.size, dtype=bool)
        keep_units[_smallest(norms, int(round(prune_ratio * norms.size)))] = False
        w = layer.weight
        keep_w = (np.broadcast_to(keep_units, w.shape) if isinstance(layer, Linear)
                  else np.broadcast_to(keep_units.reshape(-1, 1, 1, 1), w.shape))
        masks[names.get(id(w), "weight")] = _attach(w, np.array(keep_w))
        if layer.bias is not None:
            masks[names.get(id(layer.bias), "bias")] = _attach(layer.bias, keep_units.copy())
    return masks


def shrink_linear(layer, keep_outputs):
    """A smaller Linear holding only the output units `keep_outputs` (bool mask or indices): the
    matmul really gets smaller. The next layer must drop the same rows of its weight."""
    if not isinstance(layer, Linear):
        raise TypeError(f"shrink_linear: expected a Linear, got {type(layer).__name__}")
    idx = np.flatnonzero(keep_outputs) if np.asarray(keep_outputs).dtype == bool else np.asarray(keep_outputs)
    if idx.size == 0:
        raise ValueError("shrink_linear: keep_outputs keeps no unit; keep at least one")
    new = Linear(layer.in_features, int(idx.size), bias=layer.bias is not None)
    with no_grad():
        new.weight.copy_(np.ascontiguousarray(np.asarray(layer.weight.data)[:, idx]))
        if layer.bias is not None:
            new.bias.copy_(np.ascontiguousarray(np.asarray(layer.bias.data)[idx]))
    return new


# ---------------------------------------------------------------- low rank
def _as_matrix(weight, where):
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight)
    if w.ndim != 2:
        raise ValueError(f"{where}: expected a 2-D weight matrix, got shape {w.shape}")
    if w.dtype.kind != "f" or not np.all(np.isfinite(w)):
        raise ValueError(f"{where}: the weight must hold finite floats")
    return w


def choose_rank(singular_values, rank=None, energy=None, where="low_rank_factorize"):
    """The rank given, or the smallest r whose singular values hold `energy` of sum(s^2)."""
    s = np.asarray(singular_values, dtype=np.float64)
    if (rank is None) == (energy is None):
        raise ValueError(f"{where}: give exactly one of rank= (an int) or energy= (a fraction in (0, 1])")
    if rank is not None:
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 1 <= rank <= s.size:
            raise ValueError(f"{where}: rank must be an int from 1 to {s.size} (min(in, out)), got {rank!r}")
        return int(rank)
    energy = _check_fraction(energy, "energy", where, allow_one=True)
    if energy == 0:
        raise ValueError(f"{where}: energy must be > 0")
    total = float((s * s).sum())
    if total == 0:
        return 1
    kept = np.cumsum(s * s) / total
    return int(min(s.size, np.searchsorted(kept, energy - 1e-12) + 1))


def low_rank_approximate(weight_matrix, rank_ratio=0.5):
    """TinyTorch's API: (U (m, k), S (k,), V (k, n)) with k = max(1, round(rank_ratio * min(m, n))),
    so that U @ diag(S) @ V is the best rank-k approximation (Eckart-Young)."""
    w = _as_matrix(weight_matrix, "low_rank_approximate")
    rank_ratio = _check_fraction(rank_ratio, "rank_ratio", "low_rank_approximate", allow_one=True)
    u, s, vt = np.linalg.svd(w.astype(np.float64), full_matrices=False)
    k = max(1, int(round(rank_ratio * s.size)))
    return u[:, :k], s[:k], vt[:k]


class LowRankLinear(Module):
    """x @ W ~ (x @ first) @ second with first (in, r), second (r, out): two GEMMs of r columns."""

    def __init__(self, first, second, bias=None):
        super().__init__()
        self.first = first            # (in, r) Tensor, requires grad
        self.second = second          # (r, out)
        self.bias = bias
        self.in_features, self.rank = first.shape
        self.out_features = second.shape[1]

    def forward(self, x):
        h = _C._nn_linear(_as_tensor(x, "LowRankLinear"), self.first, None)
        return _C._nn_linear(h, self.second, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, rank={self.rank}, out_features={self.out_features}"


def low_rank_factorize(layer, rank=None, energy=None):
    """A LowRankLinear equal to the best rank-r approximation of `layer` (a Linear): its weight
    (in, out) = U S V^T, first = U_r sqrt(S_r), second = sqrt(S_r) V_r^T. Give `rank`, or `energy`
    (keep the fewest singular values holding that fraction of sum(s^2))."""
    if not isinstance(layer, Linear):
        raise TypeError(f"low_rank_factorize: expected a Linear, got {type(layer).__name__}")
    w = _as_matrix(layer.weight, "low_rank_factorize")
    u, s, vt = np.linalg.svd(w.astype(np.float64), full_matrices=False)
    r = choose_rank(s, rank, energy)
    root = np.sqrt(s[:r])
    dtype = layer.weight.dtype
    first = Tensor(np.ascontiguousarray(u[:, :r] * root).astype(dtype), requires_grad=True, dtype=dtype)
    second = Tensor(np.ascontiguousarray(root[:, None] * vt[:r]).astype(dtype), requires_grad=True, dtype=dtype)
    bias = None
    if layer.bias is not None:
        bias = Tensor(np.array(layer.bias.data, copy=True), requires_grad=True, dtype=dtype)
    return LowRankLinear(first, second, bias)


# ---------------------------------------------------------------- distillation
def distillation_loss(student_logits, teacher_logits, labels, temperature=3.0, alpha=0.7):
    """alpha * T^2 * mean_rows KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, labels).

    Differentiable with respect to student_logits; the teacher is treated as a constant. T^2 keeps
    the soft term's gradients the same size whatever T (they shrink as 1/T^2 otherwise). Equals
    PyTorch's ``F.kl_div(log_softmax(s/T), log_softmax(t/T), log_target=True, reduction='batchmean')
    * T*T`` mixed with ``F.cross_entropy``."""
    where = "distillation_loss"
    if not isinstance(student_logits, Tensor):
        student_logits = Tensor(student_logits)
    teacher = np.asarray(teacher_logits.detach().data if isinstance(teacher_logits, Tensor) else teacher_logits)
    if student_logits.ndim != 2 or teacher.shape != tuple(student_logits.shape):
        raise ValueError(f"{where}: student and teacher logits must both be (batch, classes); got "
                         f"{tuple(student_logits.shape)} and {teacher.shape}")
    if isinstance(temperature, bool) or not isinstance(temperature, Real) or not temperature > 0 \
            or not math.isfinite(temperature):
        raise ValueError(f"{where}: temperature must be a finite number > 0, got {temperature!r}")
    alpha = _check_fraction(alpha, "alpha", where, allow_one=True)
    ids = integer_ids(labels, where, "labels", "class indices")
    if tuple(ids.shape) != (student_logits.shape[0],):
        raise ValueError(f"{where}: labels must have shape ({student_logits.shape[0]},), got {tuple(ids.shape)}")
    T = float(temperature)
    n = student_logits.shape[0]
    dtype = student_logits.dtype
    log_p_teacher = _C.log_softmax(Tensor(teacher.astype(dtype) / T, dtype=dtype), -1)
    log_q_student = _C.log_softmax(student_logits * (1.0 / T), -1)
    p_teacher = log_p_teacher.exp()
    soft = (p_teacher * (log_p_teacher - log_q_student)).sum() * (T * T / n)
    hard = _C.cross_entropy(student_logits, ids, -100)
    return soft * alpha + hard * (1.0 - alpha)


class KnowledgeDistillation:
    """TinyTorch's API: a teacher, a student and the loss mixing their soft and hard targets."""

    def __init__(self, teacher_model, student_model, temperature=3.0, alpha=0.7):
        if isinstance(temperature, bool) or not isinstance(temperature, Real) or not temperature > 0:
            raise ValueError(f"KnowledgeDistillation: temperature must be > 0, got {temperature!r}")
        self.teacher_model = teacher_model
        self.student_model = student_model
        self.temperature = float(temperature)
        self.alpha = _check_fraction(alpha, "alpha", "KnowledgeDistillation", allow_one=True)

    def distillation_loss(self, student_logits, teacher_logits, true_labels):
        return distillation_loss(student_logits, teacher_logits, true_labels, self.temperature, self.alpha)

    def loss(self, inputs, true_labels):
        """Runs both models on `inputs` (the teacher without gradients) and returns the loss."""
        with no_grad():
            teacher_logits = self.teacher_model(inputs)
        return self.distillation_loss(self.student_model(inputs), teacher_logits, true_labels)


# ---------------------------------------------------------------- one call
def compress_model(model, compression_config):
    """Apply {"magnitude_prune": sparsity, "structured_prune": ratio} (either or both, in that
    order) to `model` in place; returns a report dict with the masks and the sparsity before/after."""
    if not isinstance(compression_config, dict):
        raise TypeError(f"compress_model: compression_config must be a dict, got {type(compression_config).__name__}")
    unknown = set(compression_config) - {"magnitude_prune", "structured_prune"}
    if unknown:
        raise ValueError(f"compress_model: unknown keys {sorted(unknown)}; use 'magnitude_prune' and/or "
                         "'structured_prune'")
    report = {"sparsity_before": measure_sparsity(model), "masks": {}}
    if "magnitude_prune" in compression_config:
        report["masks"].update(magnitude_prune(model, compression_config["magnitude_prune"]))
    if "structured_prune" in compression_config:
        report["masks"].update(structured_prune(model, compression_config["structured_prune"]))
    report["sparsity_after"] = measure_sparsity(model)
    return report


class Compressor:
    """Everything above in one place; each method is the module-level function of the same name."""

    measure_sparsity = staticmethod(measure_sparsity)
    magnitude_prune = staticmethod(magnitude_prune)
    structured_prune = staticmethod(structured_prune)
    shrink_linear = staticmethod(shrink_linear)
    apply_masks = staticmethod(apply_masks)
    get_masks = staticmethod(get_masks)
    remove_masks = staticmethod(remove_masks)
    low_rank_approximate = staticmethod(low_rank_approximate)
    low_rank_factorize = staticmethod(low_rank_factorize)
    distillation_loss = staticmethod(distillation_loss)
    compress_model = staticmethod(compress_model)
