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

Integrity and validation (format version 2):

* the header -- tensor names, shapes, dtypes and every metadata string, so
  the learning rate, the step counts and the generator positions too -- is
  covered by a SHA-256 (``tinytorch.header_sha256``, see safetensors_io.py),
  and a version-2 checkpoint without its digests is refused: one flipped bit
  anywhere in the file fails the load;
* every value read back is checked before anything changes: integers must
  fit int64, floats must be finite, numpy's generator position must lie in
  0..624 (numpy itself would accept more and crash on the next draw), the
  generator arrays must have their exact dtype and size;
* whatever goes wrong while reading the file's content surfaces as
  ``CheckpointError`` (never OverflowError, RecursionError, TypeError...);
  only an unreadable path raises OSError, and a wrong ``model`` argument
  TypeError, before the file is read;
* the apply phase snapshots the parameters, the optimizer and all three
  generators first and restores them if anything fails, so a failed load
  leaves everything exactly as it was.
"""

import json
import math
import os
import random

import numpy as np

from .. import _C
from .autograd import no_grad
from .safetensors_io import CheckpointError, read_verified, save_file

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "get_rng_state", "set_rng_state"]

FORMAT = "tinytorch-checkpoint"
FORMAT_VERSION = "2"     # 2: header checksum required; 1 (no digests) still loads
_READABLE_VERSIONS = ("1", "2")
_INT64_MIN, _INT64_MAX = -2 ** 63, 2 ** 63 - 1
_MT_STATE_WORDS = 624  # numpy's and Python's Mersenne Twister: 624 words + a position in 0..624


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


def _rng_array(tensors, name, dtype, size, path):
    """A saved generator array with exactly the dtype and size the generator needs."""
    if name not in tensors:
        raise CheckpointError(f"load_checkpoint: {path!r}: the random-number state lacks {name!r}")
    arr = tensors[name]
    if arr.dtype != np.dtype(dtype) or arr.ndim != 1 or (size is not None and arr.size != size):
        raise CheckpointError(f"load_checkpoint: {path!r}: {name!r} must be a 1-D {np.dtype(dtype)} array"
                              + (f" of {size} values" if size is not None else "")
                              + f", got {arr.dtype} of shape {arr.shape}")
    return arr


def _require(condition, path, what):
    if not condition:
        raise CheckpointError(f"load_checkpoint: {path!r}: invalid random-number state ({what})")


def _is_plain_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _prepare_rng(tensors, info, path):
    """Check the saved generator states; return a function that restores them all."""
    _require(isinstance(info, dict) and isinstance(info.get("numpy"), dict) and isinstance(info.get("python"), dict),
             path, "the 'rng' metadata must hold 'numpy' and 'python' objects")
    np_info, py_info = info["numpy"], info["python"]
    tt_state = bytes(_rng_array(tensors, "rng/tinytorch", np.uint8, None, path))
    np_key = _rng_array(tensors, "rng/numpy", np.uint32, _MT_STATE_WORDS, path)
    py_words = _rng_array(tensors, "rng/python", np.uint32, _MT_STATE_WORDS + 1, path)
    algorithm, pos, has_gauss = np_info.get("algorithm"), np_info.get("pos"), np_info.get("has_gauss")
    gaussian = np_info.get("cached_gaussian")
    _require(algorithm == "MT19937", path, f"numpy algorithm must be 'MT19937', got {algorithm!r}")
    # numpy accepts any position and then reads past its key array on the next draw.
    _require(_is_plain_int(pos) and 0 <= pos <= _MT_STATE_WORDS, path,
             f"numpy position must be an int in 0..{_MT_STATE_WORDS}, got {pos!r}")
    _require(has_gauss in (0, 1) and _is_plain_int(has_gauss), path, f"numpy has_gauss must be 0 or 1, got {has_gauss!r}")
    _require(isinstance(gaussian, (int, float)) and not isinstance(gaussian, bool) and math.isfinite(gaussian),
             path, f"numpy cached_gaussian must be a finite number, got {gaussian!r}")
    version, gauss = py_info.get("version"), py_info.get("gauss_next")
    _require(version == 3 and _is_plain_int(version), path, f"Python random version must be 3, got {version!r}")
    _require(int(py_words[-1]) <= _MT_STATE_WORDS, path,
             f"Python random position must be in 0..{_MT_STATE_WORDS}, got {int(py_words[-1])}")
    _require(gauss is None or (isinstance(gauss, (int, float)) and not isinstance(gauss, bool) and math.isfinite(gauss)),
             path, f"Python gauss_next must be None or a finite number, got {gauss!r}")
    np_state = ("MT19937", np_key.copy(), pos, has_gauss, float(gaussian))
    py_state = (3, tuple(int(v) for v in py_words), None if gauss is None else float(gauss))

    def restore():
        # Each setter validates its input; undo the earlier ones if a later one refuses.
        old = _capture_generators()
        try:
            _C._set_rng_state(tt_state)
            np.random.set_state(np_state)
            random.setstate(py_state)
        except Exception as err:
            _restore_generators(old)
            raise CheckpointError(f"load_checkpoint: {path!r}: invalid random-number state ({err})") from None
    return restore


def _capture_generators():
    return _C._get_rng_state(), np.random.get_state(), random.getstate()


def _restore_generators(states):
    tt_state, np_state, py_state = states
    _C._set_rng_state(tt_state)
    np.random.set_state(np_state)
    random.setstate(py_state)


def _check_json_numbers(value, path, where, depth=0):
    """Every int of the metadata fits int64 and every float is finite (JSON allows NaN,
    Infinity and ints of any size; the optimizer and the generators do not)."""
    if depth > 64:
        raise CheckpointError(f"load_checkpoint: {path!r}: the {where!r} metadata is nested too deeply")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise CheckpointError(f"load_checkpoint: {path!r}: the {where!r} metadata holds the integer {value}, "
                                  f"outside int64 (-2**63 to 2**63-1)")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CheckpointError(f"load_checkpoint: {path!r}: the {where!r} metadata holds {value}; "
                                  f"every number must be finite")
    elif isinstance(value, list):
        for item in value:
            _check_json_numbers(item, path, where, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _check_json_numbers(item, path, where, depth + 1)


def set_rng_state(tensors, info):
    """Restore states captured by get_rng_state()."""
    _prepare_rng(tensors, info, "<memory>")()


# ----------------------------------------------------------------------------
# Model and optimizer
# ----------------------------------------------------------------------------

def _named_tensors(model, caller="load_checkpoint"):
    """The model's live parameter tensors by name."""
    if hasattr(model, "named_parameters"):
        return dict(model.named_parameters())
    if hasattr(model, "parameters"):
        return {f"param{i}": p for i, p in enumerate(model.parameters())}
    raise TypeError(f"{caller}: the model ({type(model).__name__}) has neither named_parameters() nor "
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
        else:
            # Checked after the conversion: huge integers become inf in float32.
            with np.errstate(over="ignore"):
                converted = np.ascontiguousarray(arr, dtype=p.dtype)
            if non_finite := _count_non_finite(converted):
                problems.append(f"{name}: {non_finite} of its {arr.size} values are NaN or infinite "
                                f"(the run had diverged when it was saved; resume from an earlier checkpoint)")
            else:
                updates.append((p, converted))
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
        except CheckpointError:
            raise
        except Exception as err:  # whatever the optimizer's own checks raise
            raise CheckpointError(f"load_checkpoint: {path!r}: cannot restore the optimizer: {err}") from None
    return lambda: optimizer.load_state_dict(state)  # a foreign optimizer: trust its own checks


# ----------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------

def save_checkpoint(path, model, optimizer=None, *, step: int = 0, epoch: int = 0, extra=None,
                    include_rng: bool = True) -> None:
    """Write model parameters, optimizer state, counters, ``extra`` (any
    JSON-serializable value) and the generator states to ``path`` atomically."""
    tensors = {f"model/{name}": np.array(p.data, copy=True)
               for name, p in _named_tensors(model, "save_checkpoint").items()}
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

    Everything is validated before anything is changed; any problem with the
    file raises CheckpointError naming the file and what is wrong, and leaves
    the model, the optimizer and every generator exactly as they were. (An
    unreadable path raises OSError; a model without parameters TypeError.)
    """
    path = os.fspath(path)  # messages show the file name, not PosixPath('...')
    _named_tensors(model)  # a wrong argument is the caller's TypeError, raised before the file is read
    try:
        return _load_checkpoint(path, model, optimizer, restore_rng)
    except (CheckpointError, OSError):
        raise
    except Exception as err:  # nothing from the file's content may escape as another type
        raise CheckpointError(f"load_checkpoint: {path!r}: the checkpoint is malformed "
                              f"({type(err).__name__}: {err}); nothing was loaded") from err


def _load_checkpoint(path, model, optimizer, restore_rng):
    tensors, metadata, verified = read_verified(path)
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"load_checkpoint: {path!r} is a safetensors file but not a tinytorch training "
                              f"checkpoint (metadata format={metadata.get('format')!r}); load plain weights "
                              f"with safetensors_io.load_file and model.load_state_dict")
    if metadata.get("format_version") not in _READABLE_VERSIONS:
        raise CheckpointError(f"load_checkpoint: {path!r} has checkpoint format version "
                              f"{metadata.get('format_version')!r}; this tinytorch reads versions "
                              f"{', '.join(_READABLE_VERSIONS)}")
    if metadata["format_version"] != "1" and not verified:
        # Version 2 files always carry both digests: a flipped bit in a digest's key name cannot turn checks off.
        raise CheckpointError(f"load_checkpoint: {path!r} lacks the header or tensor checksums every version-2 "
                              f"checkpoint carries: the file was damaged or edited")

    def parse(key, required=True):
        if key not in metadata:
            if required:
                raise CheckpointError(f"load_checkpoint: {path!r} lacks its {key!r} metadata")
            return None
        try:
            value = json.loads(metadata[key])
        except (ValueError, RecursionError) as err:
            raise CheckpointError(f"load_checkpoint: {path!r}: the {key!r} metadata is not valid JSON "
                                  f"({type(err).__name__}: {err})") from None
        if key != "training":  # 'extra' inside training is the user's own data
            _check_json_numbers(value, path, key)
        return value

    training = parse("training")
    if not isinstance(training, dict) or not all(
            _is_plain_int(training.get(k)) and _INT64_MIN <= training[k] <= _INT64_MAX for k in ("step", "epoch")):
        raise CheckpointError(f"load_checkpoint: {path!r}: the 'training' metadata must hold int64 step and epoch")

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

    # Phase 2: apply, with a snapshot of everything it touches to roll back to if any step fails.
    old_generators = _capture_generators()
    old_params = [(p, np.array(p.data, copy=True)) for p, _ in model_updates]
    undo_optimizer = _prepare_optimizer(optimizer, optimizer.state_dict(), path) \
        if apply_optimizer is not None and hasattr(optimizer, "state_dict") else None
    try:
        if restore_rng_state is not None:
            restore_rng_state()
        with no_grad():  # writing into parameters is not part of any graph
            for p, arr in model_updates:
                p.copy_(arr)
        if apply_optimizer is not None:
            apply_optimizer()
    except BaseException as err:
        _restore_generators(old_generators)
        with no_grad():
            for p, arr in old_params:
                p.copy_(arr)
        if undo_optimizer is not None:
            undo_optimizer()
        if isinstance(err, Exception) and not isinstance(err, CheckpointError):
            raise CheckpointError(f"load_checkpoint: {path!r}: applying the checkpoint failed "
                                  f"({type(err).__name__}: {err}); everything was restored") from err
        raise
    return {"step": training["step"], "epoch": training["epoch"], "extra": training.get("extra")}
