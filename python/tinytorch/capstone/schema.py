"""The submission report: a versioned JSON schema and its validation.

A report (``submission.json``) looks like this (schema version 1)::

    {"schema": "tinytorch-capstone-submission", "schema_version": 1,
     "model": {"type": "GPT", "config": {"vocab_size": 27, "embed_dim": 32, ...}, "vocab": "\\n ()*+..."},
     "eval": {"dataset": "tinytorch-capstone-programs-v1", "split": "heldout", "sha256": "...", "seq_len": 32},
     "generation": {"prompt_tokens": 8, "new_tokens": 32, "temperature": 0},
     "baseline":  {"checkpoint": "baseline.safetensors", "sha256": "...", "measurements": M},
     "optimized": {"checkpoint": "optimized.safetensors", "sha256": "...", "measurements": M,
                   "optimizations": [{"name": "magnitude_prune", "sparsity": 0.5}, {"name": "int8"},
                                     {"name": "kv_cache"}]},
     "improvements": {"speedup": 2.1, "compression_ratio": 3.2, "accuracy_delta": -0.004,
                      "loss_delta": 0.01},
     "machine": {"cpu": "...", "cores": 2, "blas_core": "SkylakeX", ...}}

with M = ``{"tokens_per_s", "latency_ms": {"median_ms", "iqr_ms", "min_ms", "max_ms", "rounds"},
"peak_memory_bytes" (int or null when the build has no profiler), "size_bytes", "val_loss",
"next_token_accuracy", "sparsity"}``.

`validate` checks structure, types and value ranges and returns every problem
found (an empty list means the report is well formed); it never looks at the
files or measures anything, that is the checker's job.
"""
import math

__all__ = ["SCHEMA", "SCHEMA_VERSION", "OPTIMIZATIONS", "validate", "MEASUREMENT_KEYS"]

SCHEMA = "tinytorch-capstone-submission"
SCHEMA_VERSION = 1
# name -> the parameters it takes, with the valid range of each
OPTIMIZATIONS = {
    "kv_cache": {},
    "int8": {},
    "magnitude_prune": {"sparsity": (0.0, 1.0)},
    "structured_prune": {"fraction": (0.0, 1.0)},
}
MEASUREMENT_KEYS = ("tokens_per_s", "latency_ms", "peak_memory_bytes", "size_bytes", "val_loss",
                    "next_token_accuracy", "sparsity")
LATENCY_KEYS = ("median_ms", "iqr_ms", "min_ms", "max_ms", "rounds")


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class _Problems(list):
    def need(self, obj, key, where, kind=dict):
        """obj[key] if present and of `kind`, else None (recording the problem)."""
        if not isinstance(obj, dict):
            return None
        if key not in obj:
            self.append(f"{where}.{key}: missing")
            return None
        value = obj[key]
        ok = {"number": _is_number, "int": _is_int}.get(kind, lambda v: isinstance(v, kind))(value)
        if not ok:
            name = kind if isinstance(kind, str) else kind.__name__
            self.append(f"{where}.{key}: expected {name}, got {value!r:.60}")
            return None
        return value

    def number(self, obj, key, where, low=None, high=None, low_open=False):
        value = self.need(obj, key, where, "number")
        if value is not None and ((low is not None and (value < low or (low_open and value == low)))
                                  or (high is not None and value > high)):
            bound = f"{'>' if low_open else '>='} {low}" if high is None else f"in [{low}, {high}]"
            self.append(f"{where}.{key}: {value} is out of range (must be {bound})")
        return value


def _measurements(p, m, where):
    if m is None:
        return
    p.number(m, "tokens_per_s", where, 0, low_open=True)
    lat = p.need(m, "latency_ms", where)
    if lat is not None:
        for key in LATENCY_KEYS[:4]:
            p.number(lat, key, f"{where}.latency_ms", 0)
        r = p.need(lat, "rounds", f"{where}.latency_ms", "int")
        if r is not None and r < 1:
            p.append(f"{where}.latency_ms.rounds: must be >= 1, got {r}")
        if all(_is_number(lat.get(k)) for k in ("min_ms", "median_ms", "max_ms")) and \
                not lat["min_ms"] <= lat["median_ms"] <= lat["max_ms"]:
            p.append(f"{where}.latency_ms: min <= median <= max does not hold ({lat['min_ms']}, "
                     f"{lat['median_ms']}, {lat['max_ms']})")
    if "peak_memory_bytes" not in m:
        p.append(f"{where}.peak_memory_bytes: missing (null when the build has no profiler)")
    elif m["peak_memory_bytes"] is not None and not (_is_int(m["peak_memory_bytes"]) and m["peak_memory_bytes"] >= 0):
        p.append(f"{where}.peak_memory_bytes: expected a non-negative int or null, got {m['peak_memory_bytes']!r}")
    size = p.need(m, "size_bytes", where, "int")
    if size is not None and size < 1:
        p.append(f"{where}.size_bytes: must be >= 1, got {size}")
    p.number(m, "val_loss", where, 0)
    p.number(m, "next_token_accuracy", where, 0, 1)
    p.number(m, "sparsity", where, 0, 1)


def _optimizations(p, opts, where):
    if opts is None:
        return
    seen = set()
    for i, opt in enumerate(opts):
        at = f"{where}[{i}]"
        if not isinstance(opt, dict) or not isinstance(opt.get("name"), str):
            p.append(f"{at}: expected {{'name': ...}}, got {opt!r:.60}")
            continue
        name = opt["name"]
        if name not in OPTIMIZATIONS:
            p.append(f"{at}.name: unknown optimization {name!r} (known: {', '.join(OPTIMIZATIONS)})")
            continue
        if name in seen:
            p.append(f"{at}.name: {name} is listed twice")
        seen.add(name)
        params = OPTIMIZATIONS[name]
        extra = set(opt) - {"name"} - set(params)
        if extra:
            p.append(f"{at}: {name} takes no {', '.join(sorted(extra))}")
        for key, (low, high) in params.items():
            value = p.number(opt, key, at, low, high)
            if value is not None and value >= high:
                p.append(f"{at}.{key}: {value} removes every weight (must be < {high})")
    if {"magnitude_prune", "structured_prune"} <= seen:
        p.append(f"{where}: choose one of magnitude_prune and structured_prune")


def validate(report):
    """Every structural problem of a report, as 'field.path: what' strings ([] = well formed)."""
    p = _Problems()
    if not isinstance(report, dict):
        return [f"report: expected a JSON object, got {type(report).__name__}"]
    if report.get("schema") != SCHEMA:
        p.append(f"schema: expected {SCHEMA!r}, got {report.get('schema')!r}")
    if report.get("schema_version") != SCHEMA_VERSION:
        p.append(f"schema_version: this checker reads version {SCHEMA_VERSION}, got {report.get('schema_version')!r}")
    model = p.need(report, "model", "report")
    if model is not None:
        if model.get("type") != "GPT":
            p.append(f"model.type: only 'GPT' submissions are checked, got {model.get('type')!r}")
        config = p.need(model, "config", "model")
        if config is not None:
            for key in ("vocab_size", "embed_dim", "num_layers", "num_heads", "max_seq_len"):
                v = p.need(config, key, "model.config", "int")
                if v is not None and v < 1:
                    p.append(f"model.config.{key}: must be >= 1, got {v}")
        vocab = p.need(model, "vocab", "model", str)
        if vocab is not None and config is not None and _is_int(config.get("vocab_size")) \
                and len(vocab) + 1 != config["vocab_size"]:
            p.append(f"model.vocab: {len(vocab)} characters + <UNK> != vocab_size {config['vocab_size']}")
    ev = p.need(report, "eval", "report")
    if ev is not None:
        for key in ("dataset", "split", "sha256"):
            p.need(ev, key, "eval", str)
        n = p.need(ev, "seq_len", "eval", "int")
        if n is not None and n < 1:
            p.append(f"eval.seq_len: must be >= 1, got {n}")
    gen = p.need(report, "generation", "report")
    if gen is not None:
        for key in ("prompt_tokens", "new_tokens"):
            n = p.need(gen, key, "generation", "int")
            if n is not None and n < 1:
                p.append(f"generation.{key}: must be >= 1, got {n}")
    for side in ("baseline", "optimized"):
        part = p.need(report, side, "report")
        if part is None:
            continue
        name = p.need(part, "checkpoint", side, str)
        if name is not None and (not name or name != name.strip() or "/" in name or "\\" in name
                                 or name in (".", "..")):
            p.append(f"{side}.checkpoint: {name!r} must be a file name inside the submission folder")
        p.need(part, "sha256", side, str)
        _measurements(p, p.need(part, "measurements", side), f"{side}.measurements")
    if isinstance(report.get("optimized"), dict):
        opts = p.need(report["optimized"], "optimizations", "optimized", list)
        _optimizations(p, opts, "optimized.optimizations")
        if opts == []:
            p.append("optimized.optimizations: empty (apply at least one optimization)")
    imp = p.need(report, "improvements", "report")
    if imp is not None:
        p.number(imp, "speedup", "improvements", 0, low_open=True)
        p.number(imp, "compression_ratio", "improvements", 0, low_open=True)
        p.number(imp, "accuracy_delta", "improvements", -1, 1)
        p.number(imp, "loss_delta", "improvements")
    machine = p.need(report, "machine", "report")
    if machine is not None:
        for key in ("cpu", "blas_core"):
            p.need(machine, key, "machine", str)
    return list(p)
