"""The transformer milestone script end to end, in a subprocess (short runs only:
the full default run is tests/13_transformers/test_training_simple.py)."""

import json
import os
import re
import signal
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from tinytorch.core.safetensors_io import load_file

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "milestones", "05_2017_transformer", "vaswani_copilot.py")


def run_script(*args, timeout=120, env=None):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=env)


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


def test_plot_without_matplotlib_explains_and_still_succeeds(tmp_path):
    shim = tmp_path / "shim" / "matplotlib"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('matplotlib is hidden for this test')\n")
    png = tmp_path / "loss.png"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shim.parent), os.environ.get("PYTHONPATH", "")]))
    result = run_script("--steps", "5", "--quiet", "--train-only", "--plot", str(png), env=env)
    assert result.returncode == 0, result.stderr
    assert "matplotlib is not installed, so no plot was written to" in result.stdout and not png.exists()


# ----------------------------------------------------------------------------
# The full default run, non-default flags, Ctrl-C, bad flags
# ----------------------------------------------------------------------------

def test_default_run_meets_the_milestone_targets():
    """The test plan's bar, read from the script's own summary: default settings
    (500 steps), loss down > 80% and below 0.1, every completion a training snippet."""
    result = run_script("--quiet", timeout=900)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert field(out, "steps") == 500
    assert field(out, "loss decrease") > 80
    assert field(out, "final loss") < 0.1
    assert re.search(r"targets\s*:\s*decrease > 80% ✓\s+final loss < 0.1 ✓", out)
    assert "5/5 completions reproduce the training snippets." in out
    assert out.count("✓ prompt") == 5 and "✗" not in out
    from tinytorch.data.code_snippets import CODE_SNIPPETS
    for snippet in CODE_SNIPPETS:  # each snippet printed in full, indented under its prompt
        assert "\n".join("      " + line for line in snippet.split("\n")) in out


def expected_run(embed_dim, layers, heads, seed):
    """The parameter count and first loss of the configuration, computed here independently."""
    import tinytorch as tt
    from tinytorch.core.losses import CrossEntropyLoss
    from tinytorch.core.tokenization import CharTokenizer
    from tinytorch.core.transformer import GPT
    from tinytorch.data.code_snippets import CODE_SNIPPETS, END_OF_TEXT, snippet_batch

    tokenizer = CharTokenizer()
    tokenizer.build_vocab(list(CODE_SNIPPETS) + [END_OF_TEXT])
    inputs, targets = snippet_batch(tokenizer)
    tt.manual_seed(seed)
    model = GPT(tokenizer.vocab_size, embed_dim, layers, heads, max_seq_len=64)
    loss = CrossEntropyLoss()(model(tt.Tensor(inputs, dtype=np.int64)), tt.Tensor(targets, dtype=np.int64))
    return tokenizer.vocab_size, sum(p.size for p in model.parameters()), loss.item()


def test_non_default_flags_are_used_and_reported():
    result = run_script("--seed", "7", "--lr", "0.003", "--layers", "2", "--embed-dim", "48", "--heads", "6",
                        "--steps", "15", "--quiet", "--train-only")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    vocab, n_params, first_loss = expected_run(48, 2, 6, seed=7)
    assert f"GPT(vocab={vocab}, embed_dim=48, layers=2, heads=6, max_seq_len=64), {n_params:,} parameters" in out
    assert "optimizer     : Adam(lr=0.003), seed 7" in out
    assert field(out, "steps") == 15
    assert field(out, "initial loss") == pytest.approx(first_loss, abs=1e-4)  # the seed really seeded the weights
    _, _, other_seed_loss = expected_run(48, 2, 6, seed=8)
    assert abs(other_seed_loss - first_loss) > 1e-3


@pytest.mark.parametrize("flags, message", [
    (["--steps", "0"], "--steps must be >= 1, got 0"),
    (["--steps", "-3"], "--steps must be >= 1, got -3"),
    (["--layers", "0"], "--layers must be >= 1"),
    (["--heads", "0"], "--heads must be >= 1"),
    (["--embed-dim", "30", "--heads", "4"], "--embed-dim (30) must be divisible by --heads (4)"),
    (["--lr", "0"], "--lr must be a finite number > 0, got 0.0"),
    (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
    (["--lr", "inf"], "--lr must be a finite number > 0, got inf"),
    (["--seed", "-1"], "--seed must be in [0, 2**32 - 1], got -1"),
    (["--seed", str(2**32)], f"--seed must be in [0, 2**32 - 1], got {2**32}"),
    (["--seed", "1.5"], "argument --seed: invalid int value: '1.5'"),
])
def test_bad_numeric_flags_are_argparse_errors(flags, message):
    result = run_script(*flags, "--quiet")
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("usage:")


def test_resume_past_steps_is_an_error_not_a_silent_no_op(tmp_path):
    ckpt = tmp_path / "run.safetensors"
    assert run_script("--steps", "12", "--quiet", "--train-only", "--checkpoint", str(ckpt)).returncode == 0
    before = ckpt.read_bytes()
    result = run_script("--resume", "--checkpoint", str(ckpt), "--steps", "5", "--quiet", "--train-only")
    assert result.returncode == 2
    assert "is already at step 12, past --steps 5" in result.stderr and "--steps is the total" in result.stderr
    assert "Training summary" not in result.stdout
    assert ckpt.read_bytes() == before  # nothing saved over it
    result = run_script("--resume", "--checkpoint", str(ckpt), "--steps", "12", "--quiet", "--train-only")
    assert result.returncode == 0, result.stderr
    assert "already at step 12 = --steps: nothing to train" in result.stdout
    assert re.search(r"steps\s*:\s*12 \(0 in this run\)", result.stdout)
    assert ckpt.read_bytes() == before


def test_ctrl_c_saves_a_resumable_checkpoint(tmp_path):
    ckpt = tmp_path / "run.safetensors"
    with open(tmp_path / "stderr.txt", "w") as err:  # the progress bar must not fill a pipe
        proc = subprocess.Popen([sys.executable, SCRIPT, "--steps", "1000000", "--train-only", "--checkpoint",
                                 str(ckpt)], stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)
        try:
            line = proc.stdout.readline()
            assert line.startswith("Training a 1-layer GPT"), line
            time.sleep(1.5)  # let a few steps run
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=120)
        finally:
            proc.kill()
    assert proc.returncode == 130, out + (tmp_path / "stderr.txt").read_text()
    stopped = int(re.search(r"Interrupted at step (\d+)\.", out).group(1))
    assert 0 < stopped < 1000000
    assert f"Checkpoint saved to {ckpt} (step {stopped})." in out
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()
    _, meta = load_file(ckpt)
    training = json.loads(meta["training"])
    assert training["step"] == stopped and len(training["extra"]["losses"]) == stopped

    result = run_script("--resume", "--checkpoint", str(ckpt), "--steps", str(stopped + 4), "--train-only")
    assert result.returncode == 0, result.stderr
    assert f"Resumed from {ckpt} at step {stopped}." in result.stdout
    assert re.search(rf"steps\s*:\s*{stopped + 4} \(4 in this run\)", result.stdout)
    _, meta = load_file(ckpt)
    losses = json.loads(meta["training"])["extra"]["losses"]
    assert len(losses) == stopped + 4 and losses[:stopped] == training["extra"]["losses"]


def test_plot_writes_a_png():
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib; add it to the test dependencies")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "loss.png")
        result = run_script("--steps", "8", "--quiet", "--train-only", "--plot", png)
        assert result.returncode == 0, result.stderr
        data = open(png, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (840, 480)  # figsize (7, 4) at dpi 120
