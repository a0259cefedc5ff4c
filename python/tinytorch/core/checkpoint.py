"""Training checkpoints: model, optimizer, progress and random-number state in one
safetensors file, so a resumed run continues exactly where it stopped.

Why each part is saved:

* model parameters, by name (``model.named_parameters()``);
* optimizer state (Adam's moment buffers and step counts, SGD's momentum):
  without it the first steps after a resume would differ;
* step / epoch counters and any extra JSON-serializable data (loss history,
  scheduler settings, ...);
* random-number generator states -- tinytorch's (dropout masks, tt.randint
  batches), numpy's global generator and Python's ``random`` -- so the
  resumed run draws the same batches and masks as the uninterrupted one.

File layout (safetensors, see safetensors_io.py): tensors ``model/<name>``,
``optimizer/<i>/<buffer>``, ``rng/tinytorch``, ``rng/numpy``,
``rng/python``; ``__metadata__`` holds ``format``, ``format_version`` and
JSON strings ``training``, ``optimizer`` and ``rng``. Files are written
atomically and read without pickle.

Loading validates everything first -- the file format, every tensor's
SHA-256 (stored by save_file, see safetensors_io.py), every name, shape and
value (NaN or infinite parameters and optimizer buffers are refused: they
would poison every later step) -- and only then writes into the model, the
optimizer and the generators. A truncated, corrupted or mismatched file
raises ``CheckpointError`` (a ValueError) and changes nothing. Checkpoints
written before checksums existed still load (without that check).
"""

import json
import os
import random

import numpy as np

from .. import _C
from ..autograd import no_grad
from .safetensors_io import CheckpointError, load_file, save_file

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "get_rng_state", "set_rng_state"]

FORMAT = "tinytorch-checkpoint"
FORMAT_VERSION = "1"


# ----------------------------------------------------------------------------
# Random-number generator state
# ----------------------------------------------------------------------------

def get_rng_state():
    """(tensors, info): the states of tinytorch's, numpy's global and Python's generators."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    tensors = {
        "rng/tinytorch": np.frombuffer(_C._get_rng_state(), dtype=np.uint8).copy(),
        "rng/numpy": np.asarray(np_state[1], dtype=np.uint32),
        "rng/python": np.asarray(py_internal, dtype=np.uint32),
    }
    info = {"numpy": {"algorithm": np_state[0], "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                      "cached_gaussian": float(np_state[4])},
            "python": {"version": py_version, "gauss_next": py_gauss}}
    return tensors, info


def _prepare_rng(tensors, info, path):
    """Check the saved generator states; return a function that restores them all."""
    try:
        tt_state = bytes(tensors["rng/tinytorch"].astype(np.uint8))
        np_info, py_info = info["numpy"], info["python"]
        np_state = (str(np_info["algorithm"]), tensors["rng/numpy"].astype(np.uint32), int(np_info["pos"]),
                    int(np_info["has_gauss"]), float(np_info["cached_gaussian"]))
        gauss = py_info["gauss_next"]
        py_state = (int(py_info["version"]), tuple(int(v) for v in tensors["rng/python"]),
                    None if gauss is None else float(gauss))
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"load_checkpoint: {path!r}: the random-number state is incomplete or malformed "
                              f"({type(err).__name__}: {err})") from None
    if np_state[1].shape != (624,) or len(py_state[1]) != 625:
        raise CheckpointError(f"load_checkpoint: {path!r}: the random-number state has the wrong size")

    def restore():
        # Each setter validates its input; undo the earlier ones if a later one refuses.
        old_tt, old_np, old_py = _C._get_rng_state(), np.random.get_state(), random.getstate()
        try:
            _C._set_rng_state(tt_state)
            np.random.set_state(np_state)
            random.setstate(py_state)
        except (ValueError, TypeError) as err:
            _C._set_rng_state(old_tt)
            np.random.set_state(old_np)
            random.setstate(old_py)
            raise CheckpointError(f"load_checkpoint: {path!r}: invalid random-number state ({err})") from None
    return restore


def set_rng_state(tensors, info):
    """Restore states captured by get_rng_state()."""
    _prepare_rng(tensors, info, "<memory>")()


# ----------------------------------------------------------------------------
# Model and optimizer
# ----------------------------------------------------------------------------

def _named_tensors(model):
    """The model's live parameter tensors by name."""
    if hasattr(model, "named_parameters"):
        return dict(model.named_parameters())
    if hasattr(model, "parameters"):
        return {f"param{i}": p for i, p in enumerate(model.parameters())}
    raise TypeError(f"checkpoint: the model ({type(model).__name__}) has neither named_parameters() nor "
                    f"parameters()")


def _prepare_model(model, tensors, path):
    """Check the file's model/ tensors against the model; return (tensor, array) pairs to copy."""
    live = _named_tensors(model)
    saved = {name[len("model/"):]: arr for name, arr in tensors.items() if name.startswith("model/")}
    missing = [n for n in live if n not in saved]
    unexpected = [n for n in saved if n not in live]
    problems = []
    if missing:
        problems.append("missing parameter(s): " + ", ".join(missing))
    if unexpected:
        problems.append("unexpected parameter(s): " + ", ".join(unexpected))
    updates = []
    for name, p in live.items():
        if name not in saved:
            continue
        arr = saved[name]
        if tuple(arr.shape) != tuple(p.shape):
            problems.append(f"{name}: the checkpoint has shape {tuple(arr.shape)}, the model {tuple(p.shape)}")
        elif arr.dtype.kind not in "fiu":
            problems.append(f"{name}: the checkpoint holds {arr.dtype} values, expected floats")
        elif non_finite := _count_non_finite(arr):
            problems.append(f"{name}: {non_finite} of its {arr.size} values are NaN or infinite "
                            f"(the run had diverged when it was saved; resume from an earlier checkpoint)")
        else:
            updates.append((p, np.ascontiguousarray(arr, dtype=p.dtype)))
    if problems:
        raise CheckpointError(f"load_checkpoint: {path!r} does not fit this {type(model).__name__}: "
                              + "; ".join(problems) + " (nothing was loaded)")
    return updates


def _count_non_finite(arr):
    return int(arr.size - np.count_nonzero(np.isfinite(arr))) if arr.dtype.kind == "f" else 0


def _optimizer_to_file(optimizer, tensors):
    """Store optimizer.state_dict(): buffers as tensors, the rest as JSON."""
    sd = optimizer.state_dict()
    entries = []
    for i, entry in enumerate(sd["state"]):
        if entry is None:
            entries.append(None)
            continue
        plain = {}
        for key, value in entry.items():
            if isinstance(value, np.ndarray):
                tensors[f"optimizer/{i}/{key}"] = value
                plain[key] = {"tensor": f"optimizer/{i}/{key}"}
            else:
                plain[key] = value
        entries.append(plain)
    return {"type": sd["type"], "step_count": sd["step_count"], "hyperparameters": sd["hyperparameters"],
            "state": entries}


def _optimizer_from_file(info, tensors, path):
    """Rebuild the state dict written by _optimizer_to_file (checking every tensor reference)."""
    try:
        entries = []
        for entry in info["state"]:
            if entry is None:
                entries.append(None)
                continue
            rebuilt = {}
            for key, value in entry.items():
                if isinstance(value, dict):
                    name = value["tensor"]
                    if name not in tensors:
                        raise CheckpointError(f"load_checkpoint: {path!r}: optimizer tensor {name!r} is missing")
                    if non_finite := _count_non_finite(tensors[name]):
                        raise CheckpointError(f"load_checkpoint: {path!r}: optimizer tensor {name!r} holds "
                                              f"{non_finite} NaN or infinite value(s) (the "
                                              f"run had diverged when it was saved); nothing was loaded")
                    rebuilt[key] = tensors[name]
                else:
                    rebuilt[key] = value
            entries.append(rebuilt)
        return {"type": info["type"], "step_count": info["step_count"],
                "hyperparameters": info["hyperparameters"], "state": entries}
    except (KeyError, TypeError, AttributeError) as err:
        raise CheckpointError(f"load_checkpoint: {path!r}: the optimizer state is malformed "
                              f"({type(err).__name__}: {err})") from None


def _prepare_optimizer(optimizer, state, path):
    """Validate the optimizer state now; return a function that applies it."""
    if hasattr(optimizer, "_prepare_load"):
        try:
            return optimizer._prepare_load(state)
        except (ValueError, TypeError) as err:
            raise CheckpointError(f"load_checkpoint: {path!r}: cannot restore the optimizer: {err}") from None
    return lambda: optimizer.load_state_dict(state)  # a foreign optimizer: trust its own checks


# ----------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------

def save_checkpoint(path, model, optimizer=None, *, step: int = 0, epoch: int = 0, extra=None,
                    include_rng: bool = True) -> None:
    """Write model parameters, optimizer state, counters, ``extra`` (any
    JSON-serializable value) and the generator states to ``path`` atomically."""
    tensors = {f"model/{name}": np.array(p.data, copy=True) for name, p in _named_tensors(model).items()}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION}
    try:
        metadata["training"] = json.dumps({"step": int(step), "epoch": int(epoch), "extra": extra})
    except (TypeError, ValueError) as err:
        raise TypeError(f"save_checkpoint: extra must be JSON-serializable ({err})") from None
    if optimizer is not None:
        metadata["optimizer"] = json.dumps(_optimizer_to_file(optimizer, tensors))
    if include_rng:
        rng_tensors, rng_info = get_rng_state()
        tensors.update(rng_tensors)
        metadata["rng"] = json.dumps(rng_info)
    save_file(tensors, path, metadata=metadata)


def load_checkpoint(path, model, optimizer=None, *, restore_rng: bool = True) -> dict:
    """Restore a checkpoint written by save_checkpoint into ``model`` (and
    ``optimizer``, and the generators when ``restore_rng``). Returns
    ``{"step": int, "epoch": int, "extra": ...}``.

    Everything is validated before anything is changed; any problem raises
    CheckpointError naming the file and what is wrong.
    """
    path = os.fspath(path)  # messages show the file name, not PosixPath('...')
    tensors, metadata = load_file(path)  # raises CheckpointError on a damaged file
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"load_checkpoint: {path!r} is a safetensors file but not a tinytorch training "
                              f"checkpoint (metadata format={metadata.get('format')!r}); load plain weights "
                              f"with safetensors_io.load_file and model.load_state_dict")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"load_checkpoint: {path!r} has checkpoint format version "
                              f"{metadata.get('format_version')!r}; this tinytorch reads version {FORMAT_VERSION}")

    def parse(key, required=True):
        if key not in metadata:
            if required:
                raise CheckpointError(f"load_checkpoint: {path!r} lacks its {key!r} metadata")
            return None
        try:
            return json.loads(metadata[key])
        except ValueError as err:
            raise CheckpointError(f"load_checkpoint: {path!r}: the {key!r} metadata is not valid JSON "
                                  f"({err})") from None

    training = parse("training")
    if not isinstance(training, dict) or not all(
            isinstance(training.get(k), int) and not isinstance(training.get(k), bool) for k in ("step", "epoch")):
        raise CheckpointError(f"load_checkpoint: {path!r}: the 'training' metadata must hold int step and epoch")

    # Phase 1: validate everything, touching nothing.
    model_updates = _prepare_model(model, tensors, path)
    apply_optimizer = None
    if optimizer is not None:
        opt_info = parse("optimizer", required=False)
        if opt_info is None:
            raise CheckpointError(f"load_checkpoint: {path!r} holds no optimizer state; "
                                  f"call load_checkpoint(path, model) without the optimizer")
        apply_optimizer = _prepare_optimizer(optimizer, _optimizer_from_file(opt_info, tensors, path), path)
    restore_rng_state = None
    if restore_rng:
        rng_info = parse("rng", required=False)
        if rng_info is None:
            raise CheckpointError(f"load_checkpoint: {path!r} holds no random-number state; "
                                  f"pass restore_rng=False to load it anyway")
        restore_rng_state = _prepare_rng(tensors, rng_info, path)

    # Phase 2: apply. The generators go first: their setters are the only step
    # that can still refuse, and they undo themselves when they do.
    if restore_rng_state is not None:
        restore_rng_state()
    with no_grad():  # writing into parameters is not part of any graph
        for p, arr in model_updates:
            p.copy_(arr)
    if apply_optimizer is not None:
        apply_optimizer()
    return {"step": training["step"], "epoch": training["epoch"], "extra": training.get("extra")}
