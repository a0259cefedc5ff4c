"""Milestone 07 (TinyGPT on the standard library's source) end to end, in a subprocess,
with --quick: it trains, the validation loss falls below the stated bar, samples are
printed, and a checkpointed run resumed gives exactly the losses of an uninterrupted one."""

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
SCRIPT = os.path.join(ROOT, "milestones", "07_2020_tinygpt", "radford_tinygpt.py")
QUICK_VAL_BAR = 3.0  # the script's QUICK_TARGET_VAL_LOSS; ln(96) = 4.56 is a uniform guess


def run_script(*args, timeout=300):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def field(output, name):
    match = re.search(rf"^\s*{name}\s*:\s*([-\d.,]+)", output, re.MULTILINE)
    assert match, f"summary line {name!r} missing from:\n{output}"
    return float(match.group(1).replace(",", ""))


def history(path):
    _, meta = load_file(path)
    return json.loads(meta["training"])["extra"]["history"]


def test_quick_run_learns_and_resume_matches_an_uninterrupted_run(tmp_path):
    whole, part = tmp_path / "whole.safetensors", tmp_path / "part.safetensors"
    result = run_script("--quick", "--quiet", "--checkpoint", str(whole))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert field(out, "steps") == 60
    first, val = field(out, "first loss"), field(out, "val loss")
    assert first == pytest.approx(np.log(96), abs=0.3)  # starts at a uniform guess
    assert val < QUICK_VAL_BAR < first
    assert re.search(r"target\s*:\s*validation loss < 3.0 ✓", out)
    assert out.count("--- prompt") == 4 and "--- prompt 'def ' ---\ndef " in out
    assert field(out, "generation") > 0

    assert run_script("--quick", "--quiet", "--steps", "30", "--schedule-steps", "60", "--sample-chars", "5",
                      "--checkpoint", str(part)).returncode == 0
    resumed = run_script("--quick", "--quiet", "--steps", "60", "--checkpoint", str(part), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert re.search(r"steps\s*:\s*60 \(30 in this run\)", resumed.stdout)
    h_whole, h_part = history(whole), history(part)
    assert len(h_whole["train"]) == 60 and h_part["train"] == h_whole["train"]  # exactly the same numbers
    # the part run also evaluated where it stopped (step 30); every point of the whole run is in it, equal
    part_val = {step: loss for step, loss in h_part["val"]}
    assert [s for s, _ in h_part["val"]] == [20, 30, 40, 60]
    assert all(part_val[step] == loss for step, loss in h_whole["val"])


def test_resume_refuses_a_checkpoint_past_steps_or_with_another_model(tmp_path):
    ck = tmp_path / "ck.safetensors"
    assert run_script("--quick", "--quiet", "--steps", "5", "--sample-chars", "5", "--checkpoint",
                      str(ck)).returncode == 0
    past = run_script("--quick", "--quiet", "--steps", "3", "--checkpoint", str(ck), "--resume")
    assert past.returncode == 2 and "past --steps 3" in past.stderr
    other = run_script("--quick", "--quiet", "--steps", "8", "--layers", "2", "--checkpoint", str(ck), "--resume")
    assert other.returncode == 1 and "--resume" in other.stderr
    missing = run_script("--quick", "--resume", "--checkpoint", str(tmp_path / "none.safetensors"))
    assert missing.returncode == 2 and "no checkpoint" in missing.stderr
    assert run_script("--quick", "--resume").returncode == 2  # argparse: --resume needs --checkpoint
