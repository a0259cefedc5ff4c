"""DistributedDataParallel on 2 ranks, half the batch each, gives what one process gives on the whole batch."""
import numpy as np
import pytest

import tinytorch as tt
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpi_ranks import WORKERS, check_ok, run_ranks  # noqa: E402

sys.path.insert(0, WORKERS)
from ddp_cases import CASES, as_tensors  # noqa: E402

from tinytorch.core.optimizers import SGD, Adam  # noqa: E402

pytestmark = pytest.mark.integration
WORLD = 2


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    results = {}
    for case in CASES:
        check_ok(run_ranks(WORLD, "ddp_worker.py", out, case))
        results[case] = [dict(np.load(out / f"{case}_rank{r}.npz")) for r in range(WORLD)]
    return results


def flat(model, what="data"):
    return np.concatenate([np.array(p if what == "data" else p.grad).ravel() for p in model.parameters()])


def reproducible(case):
    """Mask of the flattened parameters a second run can reproduce after many Adam steps: not the attention
    key biases, whose exact gradient is 0 (a key bias shifts a whole softmax row), so they only see rounding
    noise, which Adam scales up to full-size steps in a direction no other run shares."""
    model = CASES[case][0](seed=0)
    return np.concatenate([np.full(p.size, not name.endswith("k_proj.bias")) for name, p in model.named_parameters()])


def single_process(case):
    """The reference: one process, the whole batch, rank 0's initial weights."""
    make_model, make_data, make_loss = CASES[case]
    loss_fn, out = make_loss(), {}
    model = make_model(seed=0)
    out["init"] = flat(model)
    opt = SGD(model.parameters(), lr=0.1)
    loss = loss_fn(model(as_tensors(*make_data(0))[0]), as_tensors(*make_data(0))[1])
    opt.zero_grad()
    loss.backward()
    out["grads"] = flat(model, "grad")
    opt.step()
    out["after_one_step"] = flat(model)
    model = make_model(seed=0)
    opt, curve = Adam(model.parameters(), lr=0.01), []
    for step in range(20):
        x, y = as_tensors(*make_data(step))
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(loss.item())
    out["curve"], out["after_twenty"] = np.array(curve), flat(model)
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_rank_zero_weights_are_broadcast_to_every_rank(ranks, case):
    ref = single_process(case)
    for r in ranks[case]:
        np.testing.assert_array_equal(r["init"], ref["init"])  # rank 1 started from seed 1: replaced exactly
        assert int(r["n_buckets"]) > 1


@pytest.mark.parametrize("case", list(CASES))
def test_one_step_on_two_half_batches_equals_one_step_on_the_whole_batch(ranks, case):
    ref = single_process(case)
    r0, r1 = ranks[case]
    np.testing.assert_array_equal(r0["grads"], r1["grads"])            # every rank holds the same mean
    np.testing.assert_allclose(r0["grads"], ref["grads"], rtol=1e-5, atol=1e-6)
    assert np.abs(ref["grads"]).max() > 1e-3                             # real gradients, not zeros
    np.testing.assert_array_equal(r0["after_one_step"], r1["after_one_step"])
    np.testing.assert_allclose(r0["after_one_step"], ref["after_one_step"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", list(CASES))
def test_twenty_steps_give_the_same_loss_curve(ranks, case):
    ref = single_process(case)
    r0, r1 = ranks[case]
    np.testing.assert_array_equal(r0["curve"], r1["curve"])
    np.testing.assert_allclose(r0["curve"], ref["curve"], rtol=1e-5)
    assert ref["curve"][-1] < 0.95 * ref["curve"][0]                    # it trained
    keep = reproducible(case)
    np.testing.assert_allclose(r0["after_twenty"][keep], ref["after_twenty"][keep], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", list(CASES))
def test_no_sync_accumulation_equals_one_big_batch_step(ranks, case):
    ref = single_process(case)
    r0, r1 = ranks[case]
    assert not r0["no_sync_communicated"] and not r1["no_sync_communicated"]
    assert not np.allclose(r0["local_after_no_sync"], r1["local_after_no_sync"])  # local until the sync
    np.testing.assert_array_equal(r0["accumulated_grads"], r1["accumulated_grads"])
    np.testing.assert_allclose(r0["accumulated_grads"], ref["grads"], rtol=1e-5, atol=1e-6)
