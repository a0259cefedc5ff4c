"""Module 07: training checkpoints (safetensors, no pickle).

A resumed run must reproduce the uninterrupted run's losses exactly; a
damaged, foreign or mismatched file must raise CheckpointError and leave the
model, the optimizer and the random generators untouched.
"""

import json
import os
import random
import struct

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tinytorch.core.layers import Dropout, Linear, Sequential
from tinytorch.core.activations import ReLU
from tinytorch.core.losses import CrossEntropyLoss, MSELoss
from tinytorch.core.optimizers import SGD, Adam, AdamW
from tinytorch.core.safetensors_io import load_file, save_file
from tinytorch.core.schedules import CosineSchedule
from tinytorch.core.training import Trainer

pytestmark = pytest.mark.module07


def make_model(seed):
    tt.manual_seed(seed)
    return Sequential(Linear(4, 16), ReLU(), Dropout(0.2), Linear(16, 3))


class RandomBatches:
    """Each epoch draws new batches from numpy's global generator and Python's random:
    a resumed run only sees the same data if both generators were restored."""

    def __iter__(self):
        for _ in range(3):
            n = random.randint(3, 6)
            x = np.random.standard_normal((n, 4)).astype(np.float32)
            yield tt.Tensor(x), tt.Tensor((x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0))


def make_trainer(seed, opt_cls=Adam):
    model = make_model(seed)
    opt = opt_cls(model.parameters(), lr=0.01)
    return Trainer(model, opt, CrossEntropyLoss(), scheduler=CosineSchedule(0.02, 0.001, 6), grad_clip_norm=1.0)


def seed_everything(seed):
    tt.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


@pytest.mark.parametrize("opt_cls", [Adam, AdamW, SGD])
def test_resumed_run_reproduces_the_uninterrupted_losses(tmp_path, opt_cls):
    data = RandomBatches()
    # Uninterrupted: 6 epochs.
    full = make_trainer(0, opt_cls)
    seed_everything(123)
    full_losses = [full.train_epoch(data) for _ in range(6)]

    # Interrupted after 3 epochs, saved, then restored into a differently initialised model.
    first = make_trainer(0, opt_cls)
    seed_everything(123)
    for _ in range(3):
        first.train_epoch(data)
    path = tmp_path / "run.safetensors"
    first.save_checkpoint(path)
    seed_everything(999)  # the generators move on; the checkpoint must bring them back
    tt.randn(100)
    resumed = make_trainer(7, opt_cls)
    resumed.load_checkpoint(path)
    assert resumed.epoch == 3 and resumed.step == first.step
    resumed_losses = [resumed.train_epoch(data) for _ in range(3)]

    assert resumed.history["train_loss"] == full_losses  # bit for bit
    assert resumed_losses == full_losses[3:]
    for p, q in zip(full.model.parameters(), resumed.model.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_round_trip_restores_everything(tmp_path):
    trainer = make_trainer(1)
    seed_everything(5)
    trainer.train_epoch(RandomBatches())
    trainer.evaluate(RandomBatches())
    trainer.training_mode = False
    path = tmp_path / "deep" / "dir" / "ckpt.safetensors"  # parent folders are created
    trainer.save_checkpoint(path)
    expected_params = [p.numpy().copy() for p in trainer.model.parameters()]
    expected_m = [m.numpy().copy() for m in trainer.optimizer.m_buffers]
    history = {k: list(v) for k, v in trainer.history.items()}

    other = make_trainer(2)
    other.scheduler.max_lr = 5.0
    other.load_checkpoint(path)
    assert other.epoch == 1 and other.step == trainer.step and other.training_mode is False
    assert other.history == history
    assert other.scheduler.max_lr == 0.02
    assert other.optimizer.step_count == trainer.optimizer.step_count
    assert other.optimizer.lr == trainer.optimizer.lr
    for p, e in zip(other.model.parameters(), expected_params):
        np.testing.assert_array_equal(p.numpy(), e)
    for m, e in zip(other.optimizer.m_buffers, expected_m):
        np.testing.assert_array_equal(m.numpy(), e)


def test_file_is_plain_safetensors_with_named_tensors(tmp_path):
    model = make_model(0)
    opt = Adam(model.parameters())
    for p in model.parameters():
        p.grad = np.ones(p.shape, dtype=np.float32)
    opt.step()
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, model, opt, step=3, epoch=1, extra={"note": "hi"})
    tensors, meta = load_file(path)
    assert meta["format"] == "tinytorch-checkpoint"
    assert json.loads(meta["training"]) == {"step": 3, "epoch": 1, "extra": {"note": "hi"}}
    names = [n for n, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(tensors[f"model/{name}"], p.numpy())
    np.testing.assert_array_equal(tensors["optimizer/0/exp_avg"], opt.m_buffers[0].numpy())
    assert {"rng/tinytorch", "rng/numpy", "rng/python"} <= set(tensors)
    assert len([n for n in tensors if n.startswith("model/")]) == len(names)
    with open(path, "rb") as f:
        assert b"pickle" not in f.read()


def test_rng_states_are_restored(tmp_path):
    model = make_model(0)
    seed_everything(11)
    path = tmp_path / "r.safetensors"
    save_checkpoint(path, model)
    expected = (tt.randn(5).numpy().copy(), np.random.standard_normal(3), random.random())
    tt.randn(50)
    np.random.standard_normal(7)
    load_checkpoint(path, model)
    got = (tt.randn(5).numpy(), np.random.standard_normal(3), random.random())
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2] == expected[2]


# ----------------------------------------------------------------------------
# Damaged or mismatched files change nothing
# ----------------------------------------------------------------------------

def snapshot(model, opt):
    params = [p.numpy().copy() for p in model.parameters()]
    bufs = [None if m is None else m.numpy().copy() for m in opt.m_buffers]
    return params, bufs, opt.step_count, tt._C._get_rng_state(), np.random.get_state()[1].copy()


def assert_unchanged(model, opt, snap):
    params, bufs, step_count, rng, np_keys = snap
    for p, e in zip(model.parameters(), params):
        np.testing.assert_array_equal(p.numpy(), e)
    for m, e in zip(opt.m_buffers, bufs):
        assert (m is None) == (e is None)
        if m is not None:
            np.testing.assert_array_equal(m.numpy(), e)
    assert opt.step_count == step_count
    assert tt._C._get_rng_state() == rng
    np.testing.assert_array_equal(np.random.get_state()[1], np_keys)


@pytest.fixture
def saved(tmp_path):
    seed_everything(0)  # the file's bytes (RNG states included) are the same in every run
    model = make_model(0)
    opt = Adam(model.parameters())
    for p in model.parameters():
        p.grad = np.ones(p.shape, dtype=np.float32)
    opt.step()
    path = tmp_path / "good.safetensors"
    save_checkpoint(path, model, opt, step=1)
    target = make_model(1)  # a different model to load into
    target_opt = Adam(target.parameters())
    return path, target, target_opt


@pytest.mark.parametrize("keep", [0, 7, 100, 0.5, -1])
def test_truncated_file(saved, tmp_path, keep):
    path, model, opt = saved
    data = path.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else (len(data) + keep if keep < 0 else keep)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(data[:cut])
    snap = snapshot(model, opt)
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        load_checkpoint(bad, model, opt)
    assert_unchanged(model, opt, snap)


def test_corrupted_bytes(saved, tmp_path):
    path, model, opt = saved
    data = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", bytes(data[:8]))
    rng = np.random.default_rng(0)
    snap = snapshot(model, opt)
    failures = 0
    for trial in range(40):
        bad = bytearray(data)
        pos = int(rng.integers(0, 8 + header_len))  # damage the length or the JSON header
        bad[pos] = (bad[pos] + int(rng.integers(1, 256))) % 256
        (tmp_path / "bad.safetensors").write_bytes(bytes(bad))
        try:
            load_checkpoint(tmp_path / "bad.safetensors", model, opt)
        except CheckpointError:
            failures += 1
            assert_unchanged(model, opt, snap)
        else:  # the byte changed was e.g. inside a number that still parses: state is then loaded whole
            snap = snapshot(model, opt)
    assert failures >= 30


def test_foreign_safetensors_file(tmp_path):
    model = make_model(0)
    opt = Adam(model.parameters())
    path = tmp_path / "weights.safetensors"
    save_file({"weight": np.zeros(3, dtype=np.float32)}, path)
    with pytest.raises(CheckpointError, match="not a tinytorch training checkpoint"):
        load_checkpoint(path, model, opt)
    path.write_bytes(b"definitely not a checkpoint at all")
    with pytest.raises(CheckpointError):
        load_checkpoint(path, model, opt)


def test_model_mismatch_names_the_parameters(saved):
    path, _, _ = saved
    tt.manual_seed(0)
    wider = Sequential(Linear(4, 32), ReLU(), Dropout(0.2), Linear(32, 3))
    opt = Adam(wider.parameters())
    snap = snapshot(wider, opt)
    with pytest.raises(CheckpointError, match=r"layers\.0\.weight: the checkpoint has shape \(4, 16\), "
                                              r"the model \(4, 32\).*nothing was loaded"):
        load_checkpoint(path, wider, opt)
    assert_unchanged(wider, opt, snap)
    tt.manual_seed(0)
    deeper = Sequential(Linear(4, 16), ReLU(), Dropout(0.2), Linear(16, 3), Linear(3, 3))
    with pytest.raises(CheckpointError, match=r"missing parameter\(s\): layers\.4\.weight, layers\.4\.bias"):
        load_checkpoint(path, deeper)


def test_optimizer_mismatch_changes_nothing(saved):
    path, model, _ = saved
    sgd = SGD(model.parameters(), lr=0.5, momentum=0.9)
    before = [p.numpy().copy() for p in model.parameters()]
    with pytest.raises(CheckpointError, match="saved by a Adam optimizer"):
        load_checkpoint(path, model, sgd)
    for p, e in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), e)
    assert sgd.lr == 0.5


def test_tampered_optimizer_state_changes_nothing(saved, tmp_path):
    path, model, opt = saved
    tensors, meta = load_file(path)
    tensors["optimizer/1/exp_avg"] = np.zeros(5, dtype=np.float32)  # wrong shape
    bad = tmp_path / "tampered.safetensors"
    save_file(tensors, bad, metadata=meta)
    snap = snapshot(model, opt)
    with pytest.raises(CheckpointError, match=r"state\[1\]\['exp_avg'\] has shape \(5,\)"):
        load_checkpoint(bad, model, opt)
    assert_unchanged(model, opt, snap)

    tensors, meta = load_file(path)
    tensors["rng/tinytorch"] = np.frombuffer(b"not a generator state", dtype=np.uint8).copy()
    save_file(tensors, bad, metadata=meta)
    with pytest.raises(CheckpointError, match="invalid random-number state"):
        load_checkpoint(bad, model, opt)
    assert_unchanged(model, opt, snap)


def test_missing_optimizer_state_or_rng(tmp_path):
    model = make_model(0)
    path = tmp_path / "model_only.safetensors"
    save_checkpoint(path, model, include_rng=False)
    with pytest.raises(CheckpointError, match="holds no optimizer state"):
        load_checkpoint(path, model, Adam(model.parameters()))
    with pytest.raises(CheckpointError, match="no random-number state; pass restore_rng=False"):
        load_checkpoint(path, model)
    info = load_checkpoint(path, model, restore_rng=False)
    assert info == {"step": 0, "epoch": 0, "extra": None}


def test_failed_save_keeps_the_previous_checkpoint(saved):
    path, model, opt = saved
    before = path.read_bytes()
    with pytest.raises(TypeError, match="extra must be JSON-serializable"):
        save_checkpoint(path, model, opt, extra={"bad": object()})
    assert path.read_bytes() == before
    assert [f for f in os.listdir(path.parent) if f.endswith(".tmp")] == []


# ----------------------------------------------------------------------------
# Damage to the DATA region: caught by the per-tensor SHA-256 in __metadata__
# ----------------------------------------------------------------------------

def full_state(model, opt):
    """Every parameter, every optimizer buffer and counter, and the generators."""
    sd = opt.state_dict()
    return ([p.numpy().copy() for p in model.parameters()], json.dumps(sd, default=lambda a: a.tolist()),
            tt._C._get_rng_state(), np.random.get_state()[1].copy(), random.getstate())


def assert_same_state(a, b):
    for x, y in zip(a[0], b[0]):
        np.testing.assert_array_equal(x, y)
    assert a[1:3] == b[1:3] and a[4] == b[4]
    np.testing.assert_array_equal(a[3], b[3])


def data_offsets(path):
    """name -> (begin, end) absolute byte offsets of each tensor's data in the file."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__")
    return {name: (8 + n + e["data_offsets"][0], 8 + n + e["data_offsets"][1]) for name, e in header.items()}


@pytest.mark.parametrize("name", ["model/layers.0.weight", "model/layers.3.bias", "optimizer/0/exp_avg", "optimizer/1/exp_avg_sq",
                                  "rng/numpy"])
@pytest.mark.parametrize("bit", [0, 7])
def test_flipped_data_bit_is_detected_and_changes_nothing(saved, tmp_path, name, bit):
    path, model, opt = saved
    begin, end = data_offsets(path)[name]
    data = bytearray(path.read_bytes())
    data[(begin + end) // 2] ^= 1 << bit  # the header still parses: only the checksum can tell
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    before = full_state(model, opt)
    with pytest.raises(CheckpointError, match=rf"'.*bad\.safetensors': the data of tensor '{name}' does not match "
                                              r"the checksum saved with it"):
        load_checkpoint(bad, model, opt)
    assert_same_state(full_state(model, opt), before)
    info = load_checkpoint(path, model, opt)  # the undamaged file still loads
    assert info["step"] == 1


def strip_checksums(path, target):
    """Rewrite `path` without tinytorch's checksum metadata, as another safetensors writer (or a
    tinytorch before checksums, which wrote format version 1) would."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    del header["__metadata__"]["tinytorch.sha256"]
    del header["__metadata__"]["tinytorch.header_sha256"]
    header["__metadata__"]["format_version"] = "1"
    encoded = json.dumps(header).encode()
    target.write_bytes(struct.pack("<Q", len(encoded)) + encoded + raw[8 + n:])
    return target


def test_checkpoints_without_checksums_still_load(saved, tmp_path):
    """Files from other safetensors writers (or tinytorch before checksums) carry no
    digests: they load (unverified) rather than locking the user out of their data."""
    path, model, opt = saved
    plain = strip_checksums(path, tmp_path / "plain.safetensors")
    expected, _ = load_file(path)
    info = load_checkpoint(plain, model, opt)
    assert info["step"] == 1
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.numpy(), expected[f"model/{name}"])


def test_non_finite_parameters_are_refused(saved, tmp_path):
    _, model, opt = saved
    source = make_model(0)
    source_opt = Adam(source.parameters())
    with tt.no_grad():
        source[0].weight.data[1, 2] = np.nan
        source[3].bias.data[0] = np.inf
    path = tmp_path / "diverged.safetensors"
    save_checkpoint(path, source, source_opt)  # saving keeps what the user has, NaN included
    before = full_state(model, opt)
    with pytest.raises(CheckpointError, match=r"diverged\.safetensors' does not fit this Sequential: "
                                              r"layers\.0\.weight: 1 of its 64 values are NaN or infinite.*"
                                              r"layers\.3\.bias: 1 of its 3 values are NaN or infinite"):
        load_checkpoint(path, model, opt)
    assert_same_state(full_state(model, opt), before)


def test_non_finite_optimizer_state_is_refused(saved, tmp_path):
    path, model, opt = saved
    tensors, metadata = load_file(path)
    tensors["optimizer/2/exp_avg_sq"][0, 0] = np.nan
    bad = tmp_path / "nan_opt.safetensors"
    save_file(tensors, bad, metadata=metadata)  # a consistent file (fresh checksums) holding a NaN
    before = full_state(model, opt)
    with pytest.raises(CheckpointError, match=r"optimizer tensor 'optimizer/2/exp_avg_sq' holds 1 NaN"):
        load_checkpoint(bad, model, opt)
    assert_same_state(full_state(model, opt), before)
