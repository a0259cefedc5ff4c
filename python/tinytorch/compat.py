"""The import paths TinyTorch's students and tests type, and the class each one is.

TinyTorch (the numpy course this package follows) spreads its classes over
several import paths that changed between editions (`tinytorch.core.training`
re-exporting the losses, `tinytorch.text.*`, top-level `tinytorch.Linear`);
PyTorch users add `tinytorch.nn` and `tinytorch.optim`. Each path below is an
*alias*: the very same object as the course's class, never a copy, so
`isinstance` checks, overrides and the C++ fast paths behave identically
whichever path imported it.

This file is the one place aliases are listed: `MODULE_ALIASES` for whole
modules that re-export another (`tinytorch.autograd` is
`tinytorch.core.autograd`), `ALIASES` for single names. The alias modules
themselves are two-line re-export files that name the module they alias.
`tests/regression/test_tinytorch_import_paths.py` imports every entry and
checks it is the object named, checks that no module of the package
re-exports or renames a name without an entry here, and checks that
docs/compat.md holds exactly `markdown()` (regenerate it with
`python -m tinytorch.compat > docs/compat.md`).
"""
import importlib

__all__ = ["MODULE_ALIASES", "ALIASES", "resolve", "markdown"]

# (alias module, the module whose every public name it re-exports: the same __all__, the same objects)
MODULE_ALIASES = (
    ("tinytorch.autograd", "tinytorch.core.autograd"),  # PyTorch's path for module 05
    ("tinytorch.core.transformers", "tinytorch.core.transformer"),  # the other course edition's name
    ("tinytorch.models.transformer", "tinytorch.core.transformer"),
    ("tinytorch.text.tokenization", "tinytorch.core.tokenization"),
    ("tinytorch.text.embeddings", "tinytorch.core.embeddings"),
    ("tinytorch.profiling", "tinytorch.perf.profiling"),
    ("tinytorch.profiling.profiler", "tinytorch.perf.profiling"),
    ("tinytorch.perf.benchmarking", "tinytorch.benchmarking"),
)

# (module students import from, name there, "module:attribute" it is; no ":" means the module itself)
ALIASES = (
    # TinyTorch's tinytorch/__init__.py exports
    ("tinytorch", "Linear", "tinytorch.core.layers:Linear"),
    ("tinytorch", "Layer", "tinytorch.core.layers:Layer"),
    ("tinytorch", "Dropout", "tinytorch.core.layers:Dropout"),
    ("tinytorch", "ReLU", "tinytorch.core.activations:ReLU"),
    ("tinytorch", "Sigmoid", "tinytorch.core.activations:Sigmoid"),
    ("tinytorch", "Tanh", "tinytorch.core.activations:Tanh"),
    ("tinytorch", "GELU", "tinytorch.core.activations:GELU"),
    ("tinytorch", "Softmax", "tinytorch.core.activations:Softmax"),
    ("tinytorch", "MSELoss", "tinytorch.core.losses:MSELoss"),
    ("tinytorch", "CrossEntropyLoss", "tinytorch.core.losses:CrossEntropyLoss"),
    ("tinytorch", "BinaryCrossEntropyLoss", "tinytorch.core.losses:BinaryCrossEntropyLoss"),
    ("tinytorch", "SGD", "tinytorch.core.optimizers:SGD"),
    ("tinytorch", "Adam", "tinytorch.core.optimizers:Adam"),
    ("tinytorch", "AdamW", "tinytorch.core.optimizers:AdamW"),
    ("tinytorch", "Trainer", "tinytorch.core.training:Trainer"),
    ("tinytorch", "CosineSchedule", "tinytorch.core.schedules:CosineSchedule"),
    ("tinytorch", "clip_grad_norm", "tinytorch.nn.utils:clip_grad_norm_"),
    ("tinytorch", "Dataset", "tinytorch.core.dataloader:Dataset"),
    ("tinytorch", "TensorDataset", "tinytorch.core.dataloader:TensorDataset"),
    ("tinytorch", "DataLoader", "tinytorch.core.dataloader:DataLoader"),
    ("tinytorch", "Conv2d", "tinytorch.core.spatial:Conv2d"),
    ("tinytorch", "MaxPool2d", "tinytorch.core.spatial:MaxPool2d"),
    ("tinytorch", "AvgPool2d", "tinytorch.core.spatial:AvgPool2d"),
    ("tinytorch", "Tokenizer", "tinytorch.core.tokenization:Tokenizer"),
    ("tinytorch", "CharTokenizer", "tinytorch.core.tokenization:CharTokenizer"),
    ("tinytorch", "BPETokenizer", "tinytorch.core.tokenization:BPETokenizer"),
    ("tinytorch", "Embedding", "tinytorch.core.embeddings:Embedding"),
    ("tinytorch", "PositionalEncoding", "tinytorch.core.embeddings:PositionalEncoding"),
    ("tinytorch", "EmbeddingLayer", "tinytorch.core.embeddings:EmbeddingLayer"),
    ("tinytorch", "MultiHeadAttention", "tinytorch.core.attention:MultiHeadAttention"),
    ("tinytorch", "scaled_dot_product_attention", "tinytorch.core.attention:scaled_dot_product_attention"),
    ("tinytorch", "LayerNorm", "tinytorch.core.transformer:LayerNorm"),
    ("tinytorch", "MLP", "tinytorch.core.transformer:MLP"),
    ("tinytorch", "TransformerBlock", "tinytorch.core.transformer:TransformerBlock"),
    ("tinytorch", "GPT", "tinytorch.core.transformer:GPT"),
    ("tinytorch", "optim", "tinytorch.optim"),
    # numpy's name for cat and PyTorch's top-level names for module 05's grad modes
    # (the reductions, tinytorch.sum ..., are _C's own functions, like tinytorch.add)
    ("tinytorch", "concatenate", "tinytorch._C:cat"),
    ("tinytorch", "no_grad", "tinytorch.core.autograd:no_grad"),
    ("tinytorch", "enable_grad", "tinytorch.core.autograd:enable_grad"),
    ("tinytorch", "set_grad_enabled", "tinytorch.core.autograd:set_grad_enabled"),
    # second names inside the course modules (TinyTorch's and PyTorch's spellings)
    ("tinytorch.core.module", "Layer", "tinytorch.core.module:Module"),
    ("tinytorch.core.layers", "Module", "tinytorch.core.module:Module"),
    ("tinytorch.core.layers", "Layer", "tinytorch.core.module:Module"),
    ("tinytorch.core.layers", "Parameter", "tinytorch.core.module:Parameter"),
    ("tinytorch.core.layers", "IncompatibleKeys", "tinytorch.core.module:IncompatibleKeys"),
    ("tinytorch.core.losses", "BCELoss", "tinytorch.core.losses:BinaryCrossEntropyLoss"),
    ("tinytorch.core.transformer", "MultiHeadAttention", "tinytorch.core.attention:MultiHeadAttention"),
    ("tinytorch.core.transformer", "Embedding", "tinytorch.core.embeddings:Embedding"),
    ("tinytorch.core.checkpoint", "CheckpointError", "tinytorch.core.safetensors_io:CheckpointError"),
    ("tinytorch.nn.utils", "clip_grad_norm", "tinytorch.nn.utils:clip_grad_norm_"),
    ("tinytorch.nn.utils", "clip_grad_value", "tinytorch.nn.utils:clip_grad_value_"),
    ("tinytorch.nn.utils", "scale_grads", "tinytorch.nn.utils:scale_grads_"),
    # TinyTorch's training module re-exports the losses its Trainer uses
    ("tinytorch.core.training", "CrossEntropyLoss", "tinytorch.core.losses:CrossEntropyLoss"),
    ("tinytorch.core.training", "MSELoss", "tinytorch.core.losses:MSELoss"),
    ("tinytorch.core.training", "CosineSchedule", "tinytorch.core.schedules:CosineSchedule"),
    ("tinytorch.core.training", "clip_grad_norm", "tinytorch.nn.utils:clip_grad_norm_"),
    ("tinytorch.core.training", "clip_grad_norm_", "tinytorch.nn.utils:clip_grad_norm_"),
    ("tinytorch.core.training", "clip_grad_value_", "tinytorch.nn.utils:clip_grad_value_"),
    ("tinytorch.core.training", "CheckpointError", "tinytorch.core.safetensors_io:CheckpointError"),
    # torch.nn's names
    ("tinytorch.nn", "Module", "tinytorch.core.module:Module"),
    ("tinytorch.nn", "Parameter", "tinytorch.core.module:Parameter"),
    ("tinytorch.nn", "Linear", "tinytorch.core.layers:Linear"),
    ("tinytorch.nn", "Sequential", "tinytorch.core.layers:Sequential"),
    ("tinytorch.nn", "Dropout", "tinytorch.core.layers:Dropout"),
    ("tinytorch.nn", "ReLU", "tinytorch.core.activations:ReLU"),
    ("tinytorch.nn", "Sigmoid", "tinytorch.core.activations:Sigmoid"),
    ("tinytorch.nn", "Tanh", "tinytorch.core.activations:Tanh"),
    ("tinytorch.nn", "GELU", "tinytorch.core.activations:GELU"),
    ("tinytorch.nn", "Softmax", "tinytorch.core.activations:Softmax"),
    ("tinytorch.nn", "LogSoftmax", "tinytorch.core.activations:LogSoftmax"),
    ("tinytorch.nn", "Embedding", "tinytorch.core.embeddings:Embedding"),
    ("tinytorch.nn", "PositionalEncoding", "tinytorch.core.embeddings:PositionalEncoding"),
    ("tinytorch.nn", "MultiHeadAttention", "tinytorch.core.attention:MultiHeadAttention"),
    ("tinytorch.nn", "TransformerBlock", "tinytorch.core.transformer:TransformerBlock"),
    ("tinytorch.nn", "LayerNorm", "tinytorch.core.transformer:LayerNorm"),
    ("tinytorch.nn", "Conv2d", "tinytorch.core.spatial:Conv2d"),
    ("tinytorch.nn", "MaxPool2d", "tinytorch.core.spatial:MaxPool2d"),
    ("tinytorch.nn", "AvgPool2d", "tinytorch.core.spatial:AvgPool2d"),
    ("tinytorch.nn", "Flatten", "tinytorch.core.spatial:Flatten"),
    ("tinytorch.nn", "MSELoss", "tinytorch.core.losses:MSELoss"),
    ("tinytorch.nn", "CrossEntropyLoss", "tinytorch.core.losses:CrossEntropyLoss"),
    ("tinytorch.nn", "BinaryCrossEntropyLoss", "tinytorch.core.losses:BinaryCrossEntropyLoss"),
    ("tinytorch.nn", "BCELoss", "tinytorch.core.losses:BinaryCrossEntropyLoss"),
    ("tinytorch.nn", "functional", "tinytorch.nn.functional"),
    ("tinytorch.nn", "F", "tinytorch.nn.functional"),
    ("tinytorch.nn.functional", "conv2d", "tinytorch.core.spatial:conv2d"),
    ("tinytorch.nn.functional", "max_pool2d", "tinytorch.core.spatial:max_pool2d"),
    ("tinytorch.nn.functional", "avg_pool2d", "tinytorch.core.spatial:avg_pool2d"),
    # torch.optim's names
    ("tinytorch.optim", "Optimizer", "tinytorch.core.optimizers:Optimizer"),
    ("tinytorch.optim", "SGD", "tinytorch.core.optimizers:SGD"),
    ("tinytorch.optim", "Adam", "tinytorch.core.optimizers:Adam"),
    ("tinytorch.optim", "AdamW", "tinytorch.core.optimizers:AdamW"),
    # TinyTorch's text and data packages
    ("tinytorch.text.tokenization", "Tokenizer", "tinytorch.core.tokenization:Tokenizer"),
    ("tinytorch.text.tokenization", "CharTokenizer", "tinytorch.core.tokenization:CharTokenizer"),
    ("tinytorch.text.tokenization", "BPETokenizer", "tinytorch.core.tokenization:BPETokenizer"),
    ("tinytorch.text.embeddings", "Embedding", "tinytorch.core.embeddings:Embedding"),
    ("tinytorch.text.embeddings", "PositionalEncoding", "tinytorch.core.embeddings:PositionalEncoding"),
    ("tinytorch.data.loader", "Dataset", "tinytorch.core.dataloader:Dataset"),
    ("tinytorch.data.loader", "TensorDataset", "tinytorch.core.dataloader:TensorDataset"),
    ("tinytorch.data.loader", "DataLoader", "tinytorch.core.dataloader:DataLoader"),
    ("tinytorch.data.loader", "default_collate", "tinytorch.core.dataloader:default_collate"),
    ("tinytorch.data", "Dataset", "tinytorch.core.dataloader:Dataset"),
    ("tinytorch.data", "TensorDataset", "tinytorch.core.dataloader:TensorDataset"),
    ("tinytorch.data", "DataLoader", "tinytorch.core.dataloader:DataLoader"),
    ("tinytorch.models.transformer", "GPT", "tinytorch.core.transformer:GPT"),
    ("tinytorch.core.transformers", "GPT", "tinytorch.core.transformer:GPT"),
    # the systems modules (14-19): TinyTorch's paths and ours
    ("tinytorch.perf", "profiling", "tinytorch.perf.profiling"),
    ("tinytorch.perf", "memoization", "tinytorch.perf.memoization"),
    ("tinytorch.perf", "quantization", "tinytorch.perf.quantization"),
    ("tinytorch.perf", "compression", "tinytorch.perf.compression"),
    ("tinytorch.perf", "acceleration", "tinytorch.perf.acceleration"),
    ("tinytorch.perf", "benchmarking", "tinytorch.perf.benchmarking"),
    ("tinytorch.profiling.profiler", "Profiler", "tinytorch.perf.profiling:Profiler"),
    ("tinytorch.profiling", "Profiler", "tinytorch.perf.profiling:Profiler"),
    ("tinytorch.generation", "kv_cache", "tinytorch.generation.kv_cache"),
    ("tinytorch.generation", "KVCache", "tinytorch.perf.memoization:KVCache"),
    ("tinytorch.generation", "enable_kv_cache", "tinytorch.perf.memoization:enable_kv_cache"),
    ("tinytorch.generation", "disable_kv_cache", "tinytorch.perf.memoization:disable_kv_cache"),
    ("tinytorch.generation.kv_cache", "KVCache", "tinytorch.perf.memoization:KVCache"),
    ("tinytorch.generation.kv_cache", "enable_kv_cache", "tinytorch.perf.memoization:enable_kv_cache"),
    ("tinytorch.generation.kv_cache", "disable_kv_cache", "tinytorch.perf.memoization:disable_kv_cache"),
    ("tinytorch.perf.benchmarking", "Benchmark", "tinytorch.benchmarking:Benchmark"),
)


def resolve(target: str):
    """The object a "module:attribute" (or "module") string names."""
    module, _, attribute = target.partition(":")
    mod = importlib.import_module(module)
    return getattr(mod, attribute) if attribute else mod


def markdown() -> str:
    """docs/compat.md: the behaviour notes and the alias table, generated from ALIASES."""
    lines = [
        "# TinyTorch compatibility",
        "",
        "<!-- generated by `python -m tinytorch.compat > docs/compat.md`; "
        "tests/regression/test_tinytorch_import_paths.py checks it -->",
        "",
        "Code written for TinyTorch (the numpy course) or PyTorch runs on tinytorch's C++ engine",
        "unchanged where the import paths and behaviours below are concerned.",
        "",
        "## Behaviours",
        "",
        "- **Sizes as numpy integers.** Every layer constructor (`Linear`, `Conv2d`, `Embedding`,",
        "  `PositionalEncoding`, `MultiHeadAttention`, `TransformerBlock`, `LayerNorm`, `GPT`) accepts",
        "  `np.int64` and the other numpy integers, as PyTorch does (`Linear(np.prod(shape), 2)`).",
        "  `Linear`, `Conv2d`, `Embedding`, `PositionalEncoding` and `MultiHeadAttention` check their",
        "  sizes with one helper (`tinytorch/core/_sizes.py`) and store them as Python `int`s; the",
        "  blocks built from them (`TransformerBlock`, `MLP`, `EmbeddingLayer`) inherit it, and `GPT`",
        "  and `LayerNorm` keep their own checks, which accept numpy integers too.",
        "  Floats (even `2.0`) and bools still raise `ValueError` naming the layer and the argument:",
        "  a size is a count. `Dropout(np.float32(0.1))` and `BPETokenizer(np.int64(300))` work too.",
        "- **Integer inputs to float-only ops are computed in float32.** `exp`, `log`, `sqrt`, `sin`,",
        "  `cos`, `tanh`, `sigmoid`, `gelu`, `erf`, `softmax`, `log_softmax`, `logsumexp`, `mean`,",
        "  `var`, `std`, `layer_norm`, `cross_entropy` logits and `/` take bool and int64 tensors and",
        "  return float32. numpy's ufuncs would give float64; tinytorch keeps its default float",
        "  (TinyTorch's and PyTorch's), so a result mixes with float32 parameters without a silent",
        "  upcast. The elementwise, softmax-family, `layer_norm` and `cross_entropy` kernels share one",
        "  C++ helper for it (`promote_to_float`, csrc/ops/copy.cpp); `mean`/`var`/`std` accumulate",
        "  integers in double inside the reduction engine and return float32. `conv2d` and the pools",
        "  still require float input, as PyTorch's do.",
        "- **`.grad` is a Tensor numpy accepts.** `p.grad * 2`, `np.allclose(p.grad, g)`,",
        "  `p.grad.data` (a numpy view), `np.linalg.norm(p.grad)`, `p.grad.numpy()` work, and",
        "  `p.grad.copy()` returns a detached copy with its own memory, like `ndarray.copy()`;",
        "  `p.grad.fill(0)` fills in place like `ndarray.fill`.",
        "- **Bitwise operators.** `&`, `|`, `^`, `~` (and `&=`, `|=`, `^=`) work on bool and int64",
        "  tensors with numpy's broadcasting and result dtypes (bool with bool stays bool, bool with",
        "  int64 gives int64); `~` on int64 is two's-complement not (`~5 == -6`) as in numpy. On",
        "  float tensors they raise `TypeError`, as numpy does.",
        "",
        "## Not provided",
        "",
        "TinyTorch's `tinytorch.data.loader` augmentations (`RandomHorizontalFlip`, `RandomCrop`,",
        "`Compose`) and `tinytorch.core.spatial.BatchNorm2d` have no counterpart here yet; importing",
        "them raises `ImportError`.",
        "",
        "## Module paths",
        "",
        "Each module below re-exports every public name of the module it aliases (the same objects);",
        "the code lives in the second one.",
        "",
        "| import | is |",
        "|---|---|",
    ]
    for alias, home in MODULE_ALIASES:
        lines.append(f"| `import {alias}` | `{home}` |")
    lines += [
        "",
        "## Import paths",
        "",
        "Each name below is the same object as the class it aliases (`is`, not a copy).",
        "",
        "| import | is |",
        "|---|---|",
    ]
    for module, name, target in ALIASES:
        lines.append(f"| `from {module} import {name}` | `{target.replace(':', '.')}` |")
    lines += ["", "`tinytorch.nn.functional` (PyTorch's `F`) offers: "
              + ", ".join(f"`{n}`" for n in importlib.import_module("tinytorch.nn.functional").__all__) + ",",
              "with torch's keywords and defaults (`F.gelu` is exact unless `approximate='tanh'`, while",
              "`nn.GELU()` keeps the course's tanh form; `F.one_hot` returns int64; `F.flatten` keeps",
              "TinyTorch's `start_dim=1`).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
