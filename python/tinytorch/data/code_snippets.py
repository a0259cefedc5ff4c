"""The transformer milestone's dataset: five short Python snippets a small GPT
learns by heart (milestones/05_2017_transformer/vaswani_copilot.py and
tests/13_transformers/test_training_simple.py).

Memorizing a handful of sequences is the smallest end-to-end check that a
language model trains: the loss should fall from about ln(vocab_size) to
nearly zero, and greedy generation from a prefix should reproduce the rest.
"""

import numpy as np

__all__ = ["CODE_SNIPPETS", "END_OF_TEXT", "snippet_batch"]

CODE_SNIPPETS = (
    "def add(a, b):\n    return a + b",
    "def sub(a, b):\n    return a - b",
    "for i in range(10):\n    print(i)",
    "if x > 0:\n    print('positive')",
    "numbers = [1, 2, 3, 4, 5]",
)

# Appended to every snippet, so the model also learns where a snippet ends and
# generation knows when to stop. (ASCII "end of text"; it never occurs in code.)
END_OF_TEXT = "\x03"


def snippet_batch(tokenizer, snippets=CODE_SNIPPETS, ignore_index=-100):
    """Next-character prediction batch: ``(inputs, targets)``, int64 arrays of shape
    ``(len(snippets), L)`` with ``L = longest snippet + END_OF_TEXT - 1``.

    Row i holds snippet i followed by END_OF_TEXT; ``targets[i, t]`` is the
    character after ``inputs[i, t]``. Shorter rows are padded: their inputs with
    END_OF_TEXT, their targets with ``ignore_index`` so padding adds nothing to
    the loss (and, with causal attention, cannot influence real positions).
    """
    encoded = [tokenizer.encode(text + END_OF_TEXT) for text in snippets]
    length = max(len(ids) for ids in encoded) - 1
    pad = tokenizer.encode(END_OF_TEXT)[0]
    inputs = np.full((len(encoded), length), pad, dtype=np.int64)
    targets = np.full((len(encoded), length), ignore_index, dtype=np.int64)
    for row, ids in enumerate(encoded):
        inputs[row, :len(ids) - 1] = ids[:-1]
        targets[row, :len(ids) - 1] = ids[1:]
    return inputs, targets
