"""The transformer milestone script end to end, in a subprocess (short runs only:
the full default run is tests/13_transformers/test_training_simple.py)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tinytorch.core.safetensors_io import load_file

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "milestones", "05_2017_transformer", "vaswani_copilot.py")


def run_script(*args, timeout=120):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def field(output, name):
    match = re.search(rf"^\s*{name}\s*:\s*([-\d.,]+)", output, re.MULTILINE)
    assert match, f"summary line {name!r} missing from:\n{output}"
    return float(match.group(1).replace(",", ""))


def test_short_run_prints_the_summary_and_completions():
    result = run_script("--steps", "30", "--quiet")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Training summary" in out
    assert field(out, "steps") == 30
    initial, final = field(out, "initial loss"), field(out, "final loss")
    assert np.isfinite(initial) and np.isfinite(final) and final < initial
    decrease = field(out, "loss decrease")
    assert decrease == pytest.approx(100 * (initial - final) / initial, abs=0.1)
    assert field(out, "speed") > 0 and field(out, "wall time") > 0 and field(out, "peak memory") > 0
    assert re.search(r"speed\s*:\s*[\d,]+ steps/s", out)
    assert re.search(r"peak memory\s*:\s*\d+ MB", out)
    assert "targets" in out
    assert re.search(r"\d/5 completions reproduce the training snippets", out)
    assert "step/s" not in result.stderr  # --quiet: no progress bar


def test_progress_bar_and_train_only():
    result = run_script("--steps", "20", "--train-only")
    assert result.returncode == 0, result.stderr
    assert "step/s" in result.stderr and "loss=" in result.stderr  # tqdm writes to stderr
    assert "Completions" not in result.stdout


def test_checkpoint_resume_matches_an_uninterrupted_run(tmp_path):
    whole, part = tmp_path / "whole.safetensors", tmp_path / "part.safetensors"
    assert run_script("--steps", "40", "--quiet", "--train-only", "--checkpoint", str(whole)).returncode == 0
    assert run_script("--steps", "25", "--quiet", "--train-only", "--checkpoint", str(part)).returncode == 0
    result = run_script("--steps", "40", "--quiet", "--train-only", "--checkpoint", str(part), "--resume")
    assert result.returncode == 0, result.stderr
    assert re.search(r"steps\s*:\s*40 \(15 in this run\)", result.stdout)

    def losses(path):
        _, meta = load_file(path)
        return json.loads(meta["training"])["extra"]["losses"]

    assert len(losses(whole)) == 40
    assert losses(part) == losses(whole)  # exactly the same numbers
    tensors_whole, _ = load_file(whole)
    tensors_part, _ = load_file(part)
    for name in tensors_whole:
        if name.startswith(("model/", "optimizer/")):
            np.testing.assert_array_equal(tensors_part[name], tensors_whole[name])


def test_resume_errors(tmp_path):
    result = run_script("--resume")
    assert result.returncode == 2 and "--resume needs --checkpoint PATH" in result.stderr
    missing = tmp_path / "nope.safetensors"
    result = run_script("--resume", "--checkpoint", str(missing))
    assert result.returncode == 2 and "no checkpoint at" in result.stderr
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    result = run_script("--resume", "--checkpoint", str(broken), "--steps", "5")
    assert result.returncode == 1 and "not a valid safetensors file" in result.stderr
    good = tmp_path / "good.safetensors"
    assert run_script("--steps", "3", "--quiet", "--train-only", "--checkpoint", str(good)).returncode == 0
    result = run_script("--resume", "--checkpoint", str(good), "--embed-dim", "64", "--steps", "5")
    assert result.returncode == 1 and "does not fit" in result.stderr
    result = run_script("--embed-dim", "30", "--heads", "4")
    assert result.returncode == 2 and "divisible" in result.stderr


def test_plot_flag(tmp_path):
    png = tmp_path / "loss.png"
    result = run_script("--steps", "5", "--quiet", "--train-only", "--plot", str(png))
    assert result.returncode == 0, result.stderr
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in result.stdout and not png.exists()
    else:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
