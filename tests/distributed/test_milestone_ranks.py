"""milestone_kit.Ranks without --distributed is a world of one that changes nothing; the weighting rule."""
import numpy as np
import pytest

from tinytorch.milestone_kit import Ranks

pytestmark = pytest.mark.integration


def test_without_distributed_nothing_changes():
    ranks = Ranks(False)
    x, y = np.arange(10).reshape(5, 2), np.arange(5)
    xs, ys, weight = ranks.split(x, y, ignore_index=-100)
    assert xs is x and ys is y and weight == 1.0
    assert (ranks.rank, ranks.world, ranks.is_main) == (0, 1, True)
    assert ranks.total(2.5) == 2.5 and ranks.total(1.0, 3.0) == (1.0, 3.0)
    model = object()
    assert ranks.wrap(model) is model


def test_split_weights_make_the_mean_of_rank_gradients_the_global_mean():
    # what split computes on each rank of a 2-rank world, checked against the global mean of a per-token loss
    targets = np.array([[1, 2, -100], [3, -100, -100], [4, 5, 6]])
    per_token = np.where(targets != -100, targets * 0.5, 0.0)
    global_mean = per_token.sum() / (targets != -100).sum()
    total = 0.0
    for rank in range(2):
        ranks = Ranks(False)
        ranks.distributed, ranks.rank, ranks.world = True, rank, 2   # the arithmetic only, no MPI
        _, y, weight = ranks.split(targets, targets, ignore_index=-100)
        local_mean = np.where(y != -100, y * 0.5, 0.0).sum() / (y != -100).sum()
        total += local_mean * weight / 2                              # DDP averages over the 2 ranks
    assert total == pytest.approx(global_mean, rel=1e-12)
