"""Module 13: a small GPT really learns (the transformer milestone's training, as a test).

The milestone configuration -- GPT(vocab, 32, 1, 4, max_seq_len=64), Adam with
lr 1e-3, full batches of the five code snippets of tinytorch.data -- is
trained once (seeded) for 700 steps; the tests read that run:

* memorization: after 500 steps the loss fell by more than 80% and is below
  1.0 (the milestone itself promises below 0.1), never NaN;
* convergence: the loss goes below 0.1 within 700 steps;
* greedy generation from a prefix reproduces each snippet.
"""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.autograd import no_grad
from tinytorch.core.losses import CrossEntropyLoss
from tinytorch.core.optimizers import Adam
from tinytorch.core.tokenization import CharTokenizer
from tinytorch.core.transformer import GPT
from tinytorch.data.code_snippets import CODE_SNIPPETS, END_OF_TEXT, snippet_batch

pytestmark = pytest.mark.module13

MEMORIZATION_STEPS = 500
CONVERGENCE_STEPS = 700
PREFIXES = ("def add(", "def sub(", "for i in", "if x > 0", "numbers =")


def greedy_completion(model, tokenizer, prefix):
    end_id = tokenizer.encode(END_OF_TEXT)[0]
    longest = max(len(s) for s in CODE_SNIPPETS)
    ids = list(model.generate(tokenizer.encode(prefix), max_new_tokens=longest - len(prefix) + 1, temperature=0))
    new = ids[len(prefix):]
    if end_id in new:
        new = new[:new.index(end_id)]
    return prefix + tokenizer.decode(new)


@pytest.fixture(scope="module")
def run():
    tokenizer = CharTokenizer()
    tokenizer.build_vocab(list(CODE_SNIPPETS) + [END_OF_TEXT])
    inputs, targets = snippet_batch(tokenizer)
    inputs, targets = tt.Tensor(inputs, dtype=np.int64), tt.Tensor(targets, dtype=np.int64)
    tt.manual_seed(42)
    model = GPT(tokenizer.vocab_size, 32, 1, 4, max_seq_len=64)
    optimizer = Adam(model.parameters(), lr=1e-3)
    loss_fn = CrossEntropyLoss()
    losses, completions = [], None
    for step in range(CONVERGENCE_STEPS):
        loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step + 1 == MEMORIZATION_STEPS:
            with no_grad():
                completions = [greedy_completion(model, tokenizer, p) for p in PREFIXES]
    return {"losses": np.array(losses), "completions": completions, "vocab_size": tokenizer.vocab_size}


def test_snippet_batch_shifts_targets_by_one():
    tokenizer = CharTokenizer()
    tokenizer.build_vocab(list(CODE_SNIPPETS) + [END_OF_TEXT])
    inputs, targets = snippet_batch(tokenizer)
    assert inputs.shape == targets.shape == (5, max(len(s) for s in CODE_SNIPPETS))
    for row, text in enumerate(CODE_SNIPPETS):
        ids = tokenizer.encode(text + END_OF_TEXT)
        n = len(ids) - 1
        np.testing.assert_array_equal(inputs[row, :n], ids[:-1])
        np.testing.assert_array_equal(targets[row, :n], ids[1:])
        assert (targets[row, n:] == -100).all()  # padding is ignored by the loss
    assert "\n" in CODE_SNIPPETS[0] and CODE_SNIPPETS[0] == "def add(a, b):\n    return a + b"


def test_memorization(run):
    losses = run["losses"][:MEMORIZATION_STEPS]
    assert np.isfinite(run["losses"]).all(), "the loss became NaN or inf"
    initial, final = losses[0], losses[-1]
    # a freshly initialised model guesses roughly uniformly: loss near ln(vocab_size)
    assert 0.5 * np.log(run["vocab_size"]) < initial < 2.0 * np.log(run["vocab_size"])
    decrease = (initial - final) / initial
    assert decrease > 0.80, f"loss decreased only {decrease:.1%} in {MEMORIZATION_STEPS} steps ({initial} -> {final})"
    assert final < 1.0
    assert final < 0.1, f"the milestone promises a final loss below 0.1 after 500 steps, got {final}"


def test_convergence(run):
    below = np.nonzero(run["losses"] < 0.1)[0]
    assert below.size, f"loss never went below 0.1 in {CONVERGENCE_STEPS} steps (min {run['losses'].min()})"
    assert below[0] < CONVERGENCE_STEPS
    # and it stays there: memorized, not a lucky step
    assert (run["losses"][below[0] + 50:] < 0.1).all()


def test_greedy_completions_reproduce_the_snippets(run):
    for prefix, text in zip(PREFIXES, run["completions"]):
        assert text in CODE_SNIPPETS, f"{prefix!r} was completed as {text!r}"
    assert sorted(run["completions"]) == sorted(CODE_SNIPPETS)


if __name__ == "__main__":  # `python tests/13_transformers/<this file>.py [pytest options]` runs it verbosely
    import sys

    sys.exit(pytest.main([__file__, "-v", *sys.argv[1:]]))
