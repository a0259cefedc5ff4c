"""The two model files of a submission.

* ``baseline.safetensors``: the trained float32 GPT, a plain training
  checkpoint (``tinytorch.core.checkpoint.save_checkpoint``, no optimizer, no
  generator state).
* ``optimized.safetensors``: the model as it would ship. Same safetensors
  container (per-tensor SHA-256, atomic write, no pickle), but each weight is
  stored in the smallest of these encodings that applies:

  ==============  ===========================================================
  ``float32``     ``model/<name>``: the values
  ``int8``        ``model/<name>.q`` int8 and ``model/<name>.scale`` float32,
                  one scale per output column: ``w = q * scale`` (symmetric,
                  ``scale = max|w[:, j]| / 127``); Linear weights only
  ``sparse-*``    ``model/<name>.mask`` (one bit per entry, ``np.packbits``)
                  and ``model/<name>.values`` (the nonzero entries, float32 or
                  int8): a pruned weight costs its nonzeros plus 1/8 byte per
                  entry, not 4 bytes per entry
  ==============  ===========================================================

So the size a report claims is the bytes this file stores (measured by
``measure.stored_bytes``), and pruning shrinks it only as far as the zeros
really save space. ``load_optimized`` rebuilds a float32 GPT with exactly the
stored values (int8 ones dequantized); the pipeline then swaps in module 16's
int8 layers and module 15's cache, as the report's list of optimizations says.
"""
import json
import os

import numpy as np

from ..core.autograd import no_grad
from ..core.checkpoint import load_checkpoint, save_checkpoint
from ..core.layers import Linear
from ..core.safetensors_io import CheckpointError, load_file, save_file
from ..core.transformer import GPT

__all__ = ["GPT_CONFIG_KEYS", "gpt_config", "build_gpt", "save_baseline", "load_baseline", "save_optimized",
           "load_optimized", "int8_weight_names", "quantize_per_column", "check_int8_codes"]

GPT_CONFIG_KEYS = ("vocab_size", "embed_dim", "num_layers", "num_heads", "max_seq_len")
FORMAT = "tinytorch-capstone-model"
FORMAT_VERSION = "1"


def gpt_config(model):
    """The constructor arguments that rebuild `model` (a GPT)."""
    return {k: int(getattr(model, k)) for k in GPT_CONFIG_KEYS}


def build_gpt(config):
    """A fresh GPT from a config dict (ValueError naming a missing or bad key)."""
    if not isinstance(config, dict):
        raise ValueError(f"build_gpt: the model config must be a dict, got {type(config).__name__}")
    missing = [k for k in GPT_CONFIG_KEYS if k not in config]
    if missing:
        raise ValueError(f"build_gpt: the model config lacks {', '.join(missing)}")
    return GPT(*(config[k] for k in GPT_CONFIG_KEYS))


def save_baseline(path, model):
    save_checkpoint(path, model, extra={"config": gpt_config(model)}, include_rng=False)


def _check_config_against_file(path, config):
    """Compare the config with the file's own tensor shapes *before* building the model, so a report that
    claims a huge config cannot make the checker allocate more than the file holds."""
    tensors, _ = load_file(os.fspath(path))
    shapes = {k[len("model/"):]: tuple(v.shape) for k, v in tensors.items() if k.startswith("model/")}
    layers = {int(k.split(".")[1]) for k in shapes if k.startswith("blocks.") and k.split(".")[1].isdigit()}
    want = {"token_embedding.weight": (config.get("vocab_size"), config.get("embed_dim")),
            "position_embedding.weight": (config.get("max_seq_len"), config.get("embed_dim"))}
    wrong = [f"{k} is {shapes.get(k)}, the config needs {v}" for k, v in want.items() if shapes.get(k) != v]
    if len(layers) != config.get("num_layers"):
        wrong.append(f"the file has {len(layers)} blocks, the config {config.get('num_layers')}")
    # a baseline stored in float64 would double its size and so the compression ratio claimed against it
    wrong += [f"{k} is stored as {v.dtype}, not float32" for k, v in tensors.items()
              if k.startswith("model/") and v.dtype != np.float32]
    if wrong:
        raise CheckpointError(f"load_baseline: {os.fspath(path)!r} does not fit the report's model config: "
                              + "; ".join(wrong))


def load_baseline(path, config):
    """The float32 GPT saved by save_baseline; CheckpointError if the file does not fit `config`."""
    _check_config_against_file(path, config)
    model = build_gpt(config)
    info = load_checkpoint(path, model, restore_rng=False)
    saved = (info.get("extra") or {}).get("config")
    if saved != config:
        raise CheckpointError(f"load_baseline: {os.fspath(path)!r} was saved with config {saved}, "
                              f"the report says {config}")
    return model.eval()


def int8_weight_names(model):
    """Names of the Linear weights (the layers module 16 runs in int8)."""
    return [f"{name}.weight" if name else "weight" for name, m in model.named_modules() if type(m) is Linear]


def quantize_per_column(w):
    """(int8 q, float32 scale per column) with w ~= q * scale, symmetric, |q| <= 127."""
    w = np.asarray(w, dtype=np.float32)
    scale = np.abs(w).max(axis=0) / 127.0
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def _encode(name, values, tensors):
    """Store `values` (float32 or int8) densely or as mask + nonzeros, whichever is smaller; returns the kind."""
    flat = values.reshape(-1)
    nonzero = flat != 0
    packed = np.packbits(nonzero)
    if packed.nbytes + int(nonzero.sum()) * values.itemsize < values.nbytes:
        tensors[f"model/{name}.mask"] = packed
        tensors[f"model/{name}.values"] = flat[nonzero]
        return "sparse"
    tensors[f"model/{name}" + (".q" if values.dtype == np.int8 else "")] = values
    return "dense"


def save_optimized(path, model, int8=False, extra=None):
    """Write the float32 (possibly pruned) GPT `model` in the shipping encodings; with int8=True every
    Linear weight is stored as int8 + per-column scales. Returns {name: encoding}."""
    if not isinstance(model, GPT):
        raise TypeError(f"save_optimized: expected a GPT (before int8 layers are swapped in), got "
                        f"{type(model).__name__}")
    quantized = set(int8_weight_names(model)) if int8 else set()
    tensors, encodings = {}, {}
    for name, p in model.named_parameters():
        values = np.array(p.data, dtype=np.float32, copy=True)
        if name in quantized:
            q, scale = quantize_per_column(values)
            tensors[f"model/{name}.scale"] = scale
            kind = _encode(name, q, tensors)
            encodings[name] = "int8" if kind == "dense" else "sparse-int8"
        else:
            kind = _encode(name, values, tensors)
            encodings[name] = "float32" if kind == "dense" else "sparse-float32"
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "config": json.dumps(gpt_config(model)),
                "encodings": json.dumps(encodings), "extra": json.dumps(extra)}
    save_file(tensors, path, metadata=metadata)
    return encodings


def _decode(path, name, encoding, shape, tensors):
    size = int(np.prod(shape))
    dtype = np.int8 if encoding.endswith("int8") else np.float32

    def get(key):
        if key not in tensors:
            raise CheckpointError(f"load_optimized: {path!r} lacks tensor {key!r} for {name} ({encoding})")
        return tensors[key]

    if encoding.startswith("sparse"):
        mask = np.unpackbits(get(f"model/{name}.mask").astype(np.uint8), count=size).astype(bool) \
            if get(f"model/{name}.mask").size * 8 >= size else None
        values = get(f"model/{name}.values")
        if mask is None or int(mask.sum()) != values.size or values.dtype != dtype:
            raise CheckpointError(f"load_optimized: {path!r}: {name}'s mask and values do not agree "
                                  f"(shape {tuple(shape)}, {values.size} values of {values.dtype})")
        flat = np.zeros(size, dtype=dtype)
        flat[mask] = values
        dense = flat.reshape(shape)
    else:
        dense = get(f"model/{name}" + (".q" if dtype == np.int8 else ""))
        if tuple(dense.shape) != tuple(shape) or dense.dtype != dtype:
            raise CheckpointError(f"load_optimized: {path!r}: {name} is {dense.dtype}{tuple(dense.shape)}, "
                                  f"the model needs {np.dtype(dtype)}{tuple(shape)}")
    if dtype == np.int8:
        scale = get(f"model/{name}.scale")
        if scale.shape != (shape[-1],) or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise CheckpointError(f"load_optimized: {path!r}: {name}.scale must be {shape[-1]} finite positive "
                                  f"numbers")
        return dense.astype(np.float32) * scale, dense
    if not np.all(np.isfinite(dense)):
        raise CheckpointError(f"load_optimized: {path!r}: {name} holds NaN or infinite values")
    return dense, None


def load_optimized(path, config):
    """(float32 GPT with the stored values (int8 ones dequantized), {name: encoding}, {name: int8 codes});
    CheckpointError naming what does not fit."""
    path = os.fspath(path)
    tensors, metadata = load_file(path)  # checks the layout and every tensor's SHA-256
    if metadata.get("format") != FORMAT or metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"load_optimized: {path!r} is not a tinytorch capstone model file (format "
                              f"{metadata.get('format')!r} version {metadata.get('format_version')!r})")
    try:
        saved_config = json.loads(metadata["config"])
        encodings = json.loads(metadata["encodings"])
    except (KeyError, ValueError) as err:
        raise CheckpointError(f"load_optimized: {path!r}: malformed metadata ({err})") from None
    if saved_config != config:
        raise CheckpointError(f"load_optimized: {path!r} was saved with config {saved_config}, "
                              f"the report says {config}")
    model = build_gpt(config)
    params = dict(model.named_parameters())
    linear = set(int8_weight_names(model))
    if not isinstance(encodings, dict) or set(encodings) != set(params):
        raise CheckpointError(f"load_optimized: {path!r}: its weights do not match a GPT with {config}")
    values, codes = {}, {}
    for name, p in params.items():
        enc = encodings[name]
        if enc not in ("float32", "int8", "sparse-float32", "sparse-int8") or (enc.endswith("int8")
                                                                            and name not in linear):
            raise CheckpointError(f"load_optimized: {path!r}: {name} has unknown encoding {enc!r}")
        values[name], q = _decode(path, name, enc, p.shape, tensors)
        if q is not None:
            codes[name] = q
    with no_grad():
        for name, p in params.items():
            p.copy_(values[name])
    return model.eval(), encodings, codes


def check_int8_codes(model, codes, path):
    """After module 16's quantize_model ran on a model rebuilt from the file: every QuantizedLinear must hold
    exactly the int8 codes the file stores (it re-quantizes w = q * scale, which gives back q for symmetric
    per-column quantization); CheckpointError naming the first layer where it does not."""
    found = 0
    for name, m in model.named_modules():
        if type(m).__name__ != "QuantizedLinear":
            continue
        key = f"{name}.weight"
        mine = np.asarray(m.q_weight.numpy()) if key in codes else None
        if mine is None or not np.array_equal(mine, codes[key]):
            raise CheckpointError(f"load_optimized: {os.fspath(path)!r}: the int8 layer {name} does not hold the "
                                  f"int8 codes stored for {key}")
        found += 1
    if found != len(codes):
        raise CheckpointError(f"load_optimized: {os.fspath(path)!r}: {len(codes)} weights are stored as int8 but "
                              f"{found} int8 layers run them")
