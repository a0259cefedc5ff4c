"""Grader for module 10: CharTokenizer, get_pair_counts, merge_pair and train_bpe, against the engine's tokenizers."""
from collections import Counter

import numpy as np

from tinytorch.core.tokenization import BPETokenizer, _merge_pair
from tinytorch.core.tokenization import CharTokenizer as EngineCharTokenizer
from tinytorch.course.grading import Grader, GradingError

grader = Grader("10")

_CORPORA = [
    ["hello world", "hold"],
    "the quick brown fox jumps over the lazy dog",
    ["naïve café", "日本語 🙂", "tabs\tand\nnewlines  "],
    ["zzz", "aaa", "mmm", ""],
    [],
]


def _random_text(rng, alphabet, n):
    return "".join(rng.choice(list(alphabet), size=n))


def _same(got, expected, what):
    if got != expected:
        raise GradingError(f"{what}: got {got!r}, expected {expected!r}")


@grader.check(points=2, needs=["CharTokenizer"],
              hint="vocab = ['<UNK>'] + sorted unique characters of the whole corpus (a str is one text); "
                   "encode maps each character to its index in vocab")
def char_tokenizer_matches_engine(ns):
    cls = ns["CharTokenizer"]
    tok = cls()
    tok.build_vocab(["hello world", "hold"])
    _same(list(tok.vocab), ["<UNK>", " ", "d", "e", "h", "l", "o", "r", "w"],
          "CharTokenizer().build_vocab(['hello world', 'hold']).vocab")
    _same(tok.vocab_size, 9, "vocab_size after build_vocab(['hello world', 'hold'])")
    _same(tok.encode("hello"), [4, 3, 5, 5, 6], "encode('hello')")
    _same(tok.decode([8, 6, 7, 5, 2]), "world", "decode([8, 6, 7, 5, 2])")
    rng = np.random.default_rng(100)
    for corpus in _CORPORA:
        mine, ref = cls(), EngineCharTokenizer()
        mine.build_vocab(corpus)
        ref.build_vocab(corpus)
        _same(list(mine.vocab), ref.vocab, f"build_vocab({corpus!r}).vocab")
        _same(mine.vocab_size, ref.vocab_size, f"build_vocab({corpus!r}).vocab_size")
        texts = [corpus] if isinstance(corpus, str) else corpus
        for text in texts:
            _same(mine.encode(text), ref.encode(text), f"after build_vocab({corpus!r}): encode({text!r})")
            _same(mine.decode(mine.encode(text)), text, f"after build_vocab({corpus!r}): decode(encode({text!r}))")
    # random strings: round trips and ids equal to the engine's, ids given as a numpy array too
    for alphabet in ["ab", "abcxyz ", "aéß日🙂\n"]:
        text = _random_text(rng, alphabet, 200)
        mine, ref = cls(), EngineCharTokenizer()
        mine.build_vocab(text)
        ref.build_vocab(text)
        ids = mine.encode(text)
        _same(ids, ref.encode(text), f"encode of a random string over {alphabet!r}")
        _same(mine.decode(np.array(ids)), text, f"decode(numpy array of ids) of a random string over {alphabet!r}")
    # given a vocabulary directly: its order is kept, duplicates dropped
    for vocab in [["h", "e", "h", "y"], list("zyxwz"), [], ["a"]]:
        _same(list(cls(vocab).vocab), EngineCharTokenizer(vocab).vocab, f"CharTokenizer({vocab!r}).vocab")
        _same(cls(vocab).vocab_size, EngineCharTokenizer(vocab).vocab_size, f"CharTokenizer({vocab!r}).vocab_size")
    _same(list(cls().vocab), ["<UNK>"], "CharTokenizer().vocab")


@grader.check(points=1, needs=["CharTokenizer"],
              hint="unknown characters encode to 0 (char_to_idx.get(ch, 0)); decode skips id 0 instead of "
                   "writing '<UNK>'")
def char_tokenizer_unknown(ns):
    cls = ns["CharTokenizer"]
    tok = cls()
    tok.build_vocab(["hello world", "hold"])
    _same(tok.encode("hello!"), [4, 3, 5, 5, 6, 0], "encode('hello!') with '!' not in the vocabulary")
    _same(tok.decode([4, 3, 5, 5, 6, 0]), "hello", "decode([4, 3, 5, 5, 6, 0]): id 0 decodes to nothing")
    _same(tok.decode([0, 0]), "", "decode([0, 0])")
    _same(cls().encode("abc"), [0, 0, 0], "CharTokenizer().encode('abc') with an empty vocabulary")
    rng = np.random.default_rng(101)
    for _ in range(5):
        mine, ref = cls(), EngineCharTokenizer()
        train = _random_text(rng, "abcdef", 30)
        mine.build_vocab(train)
        ref.build_vocab(train)
        text = _random_text(rng, "abcdefghé", 50)
        ids = mine.encode(text)
        _same(ids, ref.encode(text), f"after build_vocab({train!r}): encode({text!r})")
        _same(mine.decode(ids), ref.decode(ids), f"after build_vocab({train!r}): decode(encode({text!r}))")


@grader.check(points=2, needs=["get_pair_counts"],
              hint="count every adjacent pair zip(ids, ids[1:]), overlapping ones included: [5, 5, 5] has (5, 5) twice")
def pair_counts_exact(ns):
    counts = ns["get_pair_counts"]
    for ids, expected in [([1, 2, 3, 1, 2], {(1, 2): 2, (2, 3): 1, (3, 1): 1}),
                          ([5, 5, 5], {(5, 5): 2}),
                          ([5, 5, 5, 5], {(5, 5): 3}),
                          ([], {}), ([7], {}), ([3, 4], {(3, 4): 1}),
                          (list(b"aaabdaaabac"), {(97, 97): 4, (97, 98): 2, (98, 100): 1, (100, 97): 1,
                                                  (98, 97): 1, (97, 99): 1})]:
        got = counts(list(ids))
        if got is None:
            raise GradingError("get_pair_counts returned None: did you forget `return`?")
        _same(dict(got), expected, f"get_pair_counts({ids!r})")
    rng = np.random.default_rng(102)
    for n, high in [(50, 3), (200, 10), (1000, 300), (2, 2)]:
        ids = [int(v) for v in rng.integers(0, high, size=n)]
        _same(dict(counts(ids)), dict(Counter(zip(ids, ids[1:]))), f"get_pair_counts(random list of {n} ids < {high})")


@grader.check(points=2, needs=["merge_pair"],
              hint="scan left to right; on a match append new_id and skip 2 elements, else append ids[i] and skip 1; "
                   "return a new list")
def merge_pair_exact(ns):
    merge = ns["merge_pair"]
    for ids, pair, new_id, expected in [([1, 2, 3, 1, 2], (1, 2), 9, [9, 3, 9]),
                                        ([5, 5, 5], (5, 5), 9, [9, 5]),
                                        ([5, 5, 5, 5], (5, 5), 9, [9, 9]),
                                        ([5, 5, 5, 5, 5], (5, 5), 256, [256, 256, 5]),
                                        ([1, 2, 3], (3, 1), 9, [1, 2, 3]),
                                        ([1, 2, 3], (2, 1), 9, [1, 2, 3]),
                                        ([2, 1, 2], (1, 2), 7, [2, 7]),
                                        ([], (1, 2), 9, []), ([1], (1, 2), 9, [1])]:
        before = list(ids)
        got = merge(ids, pair, new_id)
        if got is None:
            raise GradingError("merge_pair returned None: did you forget `return`?")
        _same(list(got), expected, f"merge_pair({before!r}, {pair!r}, {new_id})")
        _same(ids, before, f"merge_pair({before!r}, {pair!r}, {new_id}) must not modify its input; the input")
    rng = np.random.default_rng(103)
    for n, high in [(100, 2), (300, 4), (500, 20)]:
        ids = [int(v) for v in rng.integers(0, high, size=n)]
        for _ in range(4):
            pair = (int(rng.integers(0, high)), int(rng.integers(0, high)))
            _same(list(merge(ids, pair, 999)), _merge_pair(ids, pair, 999),
                  f"merge_pair(random list of {n} ids < {high}, {pair}, 999)")


def _engine_merges(text, num_merges):
    bpe = BPETokenizer(vocab_size=256 + num_merges)
    bpe.train(text)
    return [(pair, 256 + i) for i, pair in enumerate(bpe.merges)]


def _as_merges(got, what):
    if got is None:
        raise GradingError(f"{what} returned None: did you forget `return`?")
    try:
        return [((int(p[0]), int(p[1])), int(i)) for p, i in got]
    except Exception:
        raise GradingError(f"{what} must return a list of ((a, b), new_id) pairs, got {got!r:.200}")


@grader.check(points=2, needs=["train_bpe", "get_pair_counts", "merge_pair"],
              hint="start from list(text.encode('utf-8')); new ids 256, 257, ...; most frequent pair, ties -> the "
                   "smallest pair; stop when the best pair occurs fewer than 2 times or after num_merges")
def train_bpe_hand_cases(ns):
    train = ns["train_bpe"]
    for text, k, expected in [
            ("aaabdaaabac", 10, [((97, 97), 256), ((97, 98), 257), ((256, 257), 258)]),
            ("aaabdaaabac", 2, [((97, 97), 256), ((97, 98), 257)]),   # the tie (97, 98) vs (256, 97)
            ("aaabdaaabac", 0, []),
            ("abab", 5, [((97, 98), 256)]),                           # (a, b) x2; then (256, 256) only once
            ("bab", 5, []),
            ("cdcdabab", 5, [((97, 98), 256), ((99, 100), 257)]),      # tie: (99, 100) comes first, (97, 98) is smaller
            ("abcdef", 5, []), ("", 3, []), ("a", 3, []),
            ("aaaa", 5, [((97, 97), 256)]),                           # [256, 256]: one pair left, once
            ("aaaaaaaa", 5, [((97, 97), 256), ((256, 256), 257)]),    # 8 -> 4 -> 2 tokens, then (257, 257) once
            ("é" * 3, 5, [((195, 169), 256), ((256, 256), 257)]),     # UTF-8: é is the two bytes 195, 169
            ("zyzy", 5, [((122, 121), 256)])]:
        _same(_as_merges(train(text, k), f"train_bpe({text!r}, {k})"), expected, f"train_bpe({text!r}, {k})")


@grader.check(points=3, needs=["train_bpe", "get_pair_counts", "merge_pair"],
              hint="compare with BPETokenizer(vocab_size=256 + num_merges).train(text).merges on one-chunk texts "
                   "(letters only); the tie rule is the usual culprit: ties -> the smallest (a, b)")
def train_bpe_matches_engine(ns):
    train, merge = ns["train_bpe"], ns["merge_pair"]
    rng = np.random.default_rng(104)
    cases = [("ab", 60, 12), ("abc", 100, 20), ("abcd", 300, 40), ("aeéß", 150, 25), ("xyzжш", 200, 30),
             ("a", 40, 10), ("abcdefgh", 120, 15)]
    for alphabet, n, k in cases:
        for _ in range(2):
            text = _random_text(rng, alphabet, n)
            if rng.random() < 0.5:
                text = " " + text                                     # a leading space keeps it one chunk
            what = f"train_bpe({text[:30]!r}... ({n} characters over {alphabet!r}), {k})"
            got = _as_merges(train(text, k), what)
            _same(got, _engine_merges(text, k), what)
            # replaying the merges must encode the text like the engine
            bpe = BPETokenizer(vocab_size=256 + k)
            bpe.train(text)
            ids = list(text.encode("utf-8"))
            for pair, new_id in got:
                ids = list(merge(ids, pair, new_id))
            _same(ids, bpe.encode(text), f"the ids after replaying {what}'s merges with merge_pair")
