"""The MLPerf olympics milestone (06) end to end in a subprocess, --quick: every variant in the table, the
figures that are deterministic checked against each other, the summary, the JSON and the PNG."""
import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "milestones", "06_2018_mlperf", "mlperf_olympics.py")
VARIANTS = ["baseline", "kv_cache", "int8", "pruned", "pruned+kv_cache", "pruned+int8"]


def run_script(*args, timeout=600):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("olympics")
    result = run_script("--quick", "--json", str(folder / "o.json"), "--plot", str(folder / "o.png"))
    assert result.returncode == 0, result.stderr
    with open(folder / "o.json") as f:
        return result, json.load(f), folder


def test_quick_run_prints_the_table_and_the_summary(quick_run):
    result, _, _ = quick_run
    out = result.stdout
    for name in VARIANTS:
        assert re.search(rf"^{re.escape(name)}\s+[\d,]+\s+[\d.]+x", out, re.MULTILINE), name
    assert "Olympics summary" in out and "quality target" in out and "success" in out
    assert "generates the same tokens as the baseline" in out
    assert re.search(r"trained 200 steps", out) and "50 fine-tuning steps" in out
    assert "step/s" in result.stderr          # the progress bar of the training


def test_figures_are_consistent(quick_run):
    _, data, _ = quick_run
    rows = data["variants"]
    assert list(rows)[:6] == VARIANTS
    b = rows["baseline"]
    # the cache changes how tokens are computed, not which: same tokens, same quality, same file
    assert rows["kv_cache"]["same_tokens_as_baseline"] is True
    assert rows["kv_cache"]["loss"] == b["loss"] and rows["kv_cache"]["size_bytes"] == b["size_bytes"]
    assert rows["pruned+kv_cache"]["loss"] == rows["pruned"]["loss"]
    # baseline file: every parameter in float32
    assert b["size_bytes"] % 4 == 0
    # int8 Linear weights: a file between 2x and 4x smaller; pruning + int8 smaller still
    assert 2 < b["size_bytes"] / rows["int8"]["size_bytes"] < 4
    assert rows["pruned+int8"]["size_bytes"] < rows["int8"]["size_bytes"]
    assert rows["pruned"]["size_bytes"] < b["size_bytes"]
    # peak memory = resident weights (+ cache) + the allocator's peak during one generate call: the baseline
    # holds at least its float32 weights; the cache's buffers cost less than recomputing the context does
    assert b["peak_memory_bytes"] > b["size_bytes"]
    assert rows["kv_cache"]["peak_memory_bytes"] < b["peak_memory_bytes"]
    for r in rows.values():
        assert r["tokens_per_s"] > 0
        assert r["latency_ms"]["min_ms"] <= r["latency_ms"]["median_ms"] <= r["latency_ms"]["max_ms"]
        assert r["latency_ms"]["rounds"] == 5 and 0 <= r["accuracy"] <= 1 and 0 <= r["completions"] <= 5
    assert data["config"]["new_tokens"] == 16 and data["machine"]["blas_core"]


def test_plot_is_a_png(quick_run):
    _, _, folder = quick_run
    pytest.importorskip("matplotlib")
    with open(folder / "o.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bad_flags_are_refused():
    for args, message in ((["--sparsity", "1.0"], "--sparsity must be in [0, 1)"),
                          (["--rounds", "0"], "--rounds must be >= 1"),
                          (["--new-tokens", "100"], "--new-tokens must be at most 56")):
        result = run_script(*args, timeout=120)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
