"""Module 10: Tokenizer, CharTokenizer and byte-level BPETokenizer."""

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tinytorch.core import tokenization as tokenization_module
from tinytorch.core.tokenization import BPETokenizer, CharTokenizer, Tokenizer

pytestmark = pytest.mark.module10

# Any Python str that is valid Unicode (hypothesis excludes lone surrogates):
# emoji, CJK, combining marks, control characters, newlines, tabs...
any_text = st.text(max_size=60)
tricky_texts = [
    "", " ", "\n", "\n\n  \t", "hello world", "  leading and trailing  ",
    "héllo wörld", "日本語のテキスト", "emoji 👋🏽 family 👨‍👩‍👧 flags 🇫🇷",
    "a_b__c 123 4.5e-6 x²", "tabs\tand\r\nwindows newlines", "\x00\x01\x7f nul",
    "🙂" * 10, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
]
ENGLISH = (
    "The quick brown fox jumps over the lazy dog. Tokenization turns text into numbers, "
    "and numbers into text again. The tokenizer learns the most frequent pairs of tokens "
    "in the training text and merges them into new tokens, so that frequent words like "
    "the, and, token and text become a single token each.\n"
)


# ----------------------------------------------------------------------------
# Base Tokenizer: raw UTF-8 bytes
# ----------------------------------------------------------------------------

class TestBaseTokenizer:
    def test_encodes_utf8_bytes(self):
        tok = Tokenizer()
        assert tok.vocab_size == 256
        assert tok.encode("hi é") == [104, 105, 32, 0xC3, 0xA9]
        assert tok.decode([104, 105, 32, 0xC3, 0xA9]) == "hi é"

    @settings(max_examples=50, deadline=None)
    @given(any_text)
    def test_round_trip(self, text):
        tok = Tokenizer()
        ids = tok.encode(text)
        assert all(isinstance(i, int) and 0 <= i < 256 for i in ids)
        assert tok.decode(ids) == text

    def test_invalid_utf8_decodes_to_replacement_character(self):
        assert Tokenizer().decode([0xE2, 0x82]) == "\ufffd"  # first 2 of the 3 bytes of '€'

    def test_bad_ids(self):
        with pytest.raises(ValueError, match=r"Tokenizer.decode: token id 256 is out of range"):
            Tokenizer().decode([1, 256])
        with pytest.raises(ValueError, match="out of range"):
            Tokenizer().decode([-1])
        with pytest.raises(TypeError, match="integer token ids"):
            Tokenizer().decode([1.0])

    def test_encode_rejects_non_text(self):
        with pytest.raises(TypeError, match="Tokenizer.encode expects a str"):
            Tokenizer().encode(b"bytes")
        with pytest.raises(ValueError, match="UTF-8"):
            Tokenizer().encode("lone surrogate \ud800")


# ----------------------------------------------------------------------------
# CharTokenizer
# ----------------------------------------------------------------------------

class TestCharTokenizer:
    def test_tinytorch_example(self):
        tok = CharTokenizer(["h", "e", "l", "o", " ", "w", "r", "d"])
        assert tok.vocab_size == 9
        assert tok.vocab == ["<UNK>", "h", "e", "l", "o", " ", "w", "r", "d"]
        assert tok.encode("hello") == [1, 2, 3, 3, 4]
        assert tok.decode([1, 2, 3, 3, 4]) == "hello"
        assert tok.encode("hello!") == [1, 2, 3, 3, 4, 0]

    def test_empty_vocabulary_maps_everything_to_unk(self):
        tok = CharTokenizer()
        assert tok.vocab == ["<UNK>"] and tok.vocab_size == 1
        assert tok.encode("abc") == [0, 0, 0]
        assert tok.decode([0, 0]) == ""

    def test_build_vocab_from_list_is_sorted_unique(self):
        tok = CharTokenizer()
        tok.build_vocab(["hello world", "test text"])
        expected = ["<UNK>", " ", "d", "e", "h", "l", "o", "r", "s", "t", "w", "x"]
        assert tok.vocab == expected
        assert tok.vocab_size == len(expected)
        assert tok.char_to_idx == {c: i for i, c in enumerate(expected)}
        assert tok.idx_to_char == dict(enumerate(expected))
        assert tok.char_to_id is tok.char_to_idx and tok.id_to_char is tok.idx_to_char
        assert tok.encode("hello") == [4, 3, 5, 5, 6]

    def test_build_vocab_from_string_replaces_old_vocabulary(self):
        tok = CharTokenizer(["z", "y"])
        tok.build_vocab("banana")
        assert tok.vocab == ["<UNK>", "a", "b", "n"]
        assert tok.encode("zany") == [0, 1, 3, 0]
        assert tok.decode(tok.encode("zany")) == "an"

    def test_constructor_drops_duplicates_and_unk_keeps_order(self):
        tok = CharTokenizer(["b", "a", "b", "<UNK>", "c"])
        assert tok.vocab == ["<UNK>", "b", "a", "c"]
        assert CharTokenizer("cab").vocab == ["<UNK>", "c", "a", "b"]

    @settings(max_examples=50, deadline=None)
    @given(any_text)
    def test_round_trip_of_any_text(self, text):
        tok = CharTokenizer()
        tok.build_vocab(text)
        assert tok.vocab_size == len(set(text)) + 1
        ids = tok.encode(text)
        assert len(ids) == len(text)
        assert 0 not in ids
        assert tok.decode(ids) == text

    @settings(max_examples=50, deadline=None)
    @given(any_text, any_text)
    def test_unknown_characters_become_zero(self, corpus, text):
        tok = CharTokenizer()
        tok.build_vocab([corpus])
        known = set(corpus)
        ids = tok.encode(text)
        assert [i == 0 for i in ids] == [c not in known for c in text]
        assert tok.decode(ids) == "".join(c for c in text if c in known)

    def test_decode_accepts_numpy_ids(self):
        tok = CharTokenizer(list("abc"))
        assert tok.decode(np.array([3, 2, 1], dtype=np.int64)) == "cba"
        assert tok.decode(np.array([], dtype=np.float64)) == ""
        assert tok.decode((1, np.int32(2))) == "ab"

    def test_decode_errors(self):
        tok = CharTokenizer(list("abc"))
        with pytest.raises(ValueError, match=r"CharTokenizer.decode: token id 4 is out of range.*0\.\.3"):
            tok.decode([1, 4])
        with pytest.raises(ValueError, match="token id -1 is out of range"):
            tok.decode([-1])
        with pytest.raises(TypeError, match="integer token ids"):
            tok.decode([1.5])
        with pytest.raises(TypeError, match="integer token ids"):
            tok.decode([True])
        with pytest.raises(TypeError, match="integer token ids"):
            tok.decode(np.array([1.0, 2.0]))
        with pytest.raises(ValueError, match="1-D"):
            tok.decode(np.array([[1, 2]]))

    def test_argument_errors(self):
        with pytest.raises(ValueError, match="single characters"):
            CharTokenizer(["ab"])
        with pytest.raises(TypeError, match="CharTokenizer.encode expects a str"):
            CharTokenizer().encode(["a"])
        with pytest.raises(TypeError, match="item 1 is a int"):
            CharTokenizer().build_vocab(["a", 1])
        with pytest.raises(TypeError, match="build_vocab expects a str or a list of str"):
            CharTokenizer().build_vocab(42)


# ----------------------------------------------------------------------------
# BPETokenizer
# ----------------------------------------------------------------------------

def reference_bpe_merges(corpus, vocab_size, min_frequency=2):
    """Textbook BPE: recount every pair after every merge (slow, obviously right)."""
    texts = [corpus] if isinstance(corpus, str) else corpus
    chunks = Counter(c for t in texts for c in tokenization_module._CHUNK_PATTERN.findall(t))
    words = {chunk: list(chunk.encode("utf-8")) for chunk in chunks}
    merges = []
    while 256 + len(merges) < vocab_size:
        counts = Counter()
        for chunk, tokens in words.items():
            for pair in zip(tokens, tokens[1:]):
                counts[pair] += chunks[chunk]
        if not counts:
            break
        # most frequent; ties -> smallest pair
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        if counts[best] < min_frequency:
            break
        new_id = 256 + len(merges)
        merges.append(best)
        for chunk, tokens in words.items():
            merged, i = [], 0
            while i < len(tokens):
                if i + 1 < len(tokens) and (tokens[i], tokens[i + 1]) == best:
                    merged.append(new_id)
                    i += 2
                else:
                    merged.append(tokens[i])
                    i += 1
            words[chunk] = merged
    return merges


class TestBPETokenizer:
    def test_wikipedia_example(self):
        # en.wikipedia.org/wiki/Byte_pair_encoding: "aaabdaaabac" -> Z=aa, Y=ab, X=ZY -> "XdXac"
        tok = BPETokenizer(vocab_size=1000)
        tok.train("aaabdaaabac")
        a, b, c, d = (ord(ch) for ch in "abcd")
        assert tok.merges == [(a, a), (a, b), (256, 257)]
        assert tok.vocab[256:] == [b"aa", b"ab", b"aaab"]
        assert tok.vocab_size == 259  # stops: no pair occurs twice any more
        assert tok.encode("aaabdaaabac") == [258, d, 258, a, c]
        assert tok.decode([258, d, 258, a, c]) == "aaabdaaabac"

    def test_untrained_and_256_are_plain_bytes(self):
        text = "héllo 👋"
        assert BPETokenizer().encode(text) == list(text.encode("utf-8"))
        assert BPETokenizer().vocab_size == 256
        tok = BPETokenizer(vocab_size=256)
        tok.train(ENGLISH * 5)
        assert tok.merges == [] and tok.vocab_size == 256
        assert tok.encode(text) == list(text.encode("utf-8"))

    def test_vocab_size_is_reached_and_merges_are_consistent(self):
        tok = BPETokenizer(vocab_size=300)
        tok.train(ENGLISH * 10)
        assert tok.vocab_size == 300 == len(tok.vocab)
        assert len(tok.merges) == 300 - 256
        assert tok.vocab[:256] == [bytes([i]) for i in range(256)]
        for rank, (first, second) in enumerate(tok.merges):
            assert first < 256 + rank and second < 256 + rank  # only earlier tokens
            assert tok.vocab[256 + rank] == tok.vocab[first] + tok.vocab[second]

    def test_train_vocab_size_argument_overrides_constructor(self):
        tok = BPETokenizer(vocab_size=1000)
        tok.train(ENGLISH * 10, vocab_size=270)
        assert tok.vocab_size == 270 and tok.target_vocab_size == 270

    def test_merges_shrink_repetitive_text(self):
        text = "the cat sat on the mat. " * 40
        tok = BPETokenizer(vocab_size=400)
        tok.train(text)
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        # Every chunk becomes one token: 7 per sentence (" the", " cat", " sat",
        # " on", " the", " mat", "."; the first "the" has no space) + the final " ".
        assert len(ids) == 40 * 7 + 1
        assert len(ids) < len(text.encode("utf-8")) / 2.5
        assert tok.vocab[tok.encode(" cat")[0]] == b" cat"

    def test_training_is_deterministic_and_order_independent(self):
        lines = ENGLISH.split(". ") * 3
        first = BPETokenizer(vocab_size=350)
        first.train(lines)
        shuffled = lines[:]
        random.Random(0).shuffle(shuffled)
        second = BPETokenizer(vocab_size=350)
        second.train(shuffled)
        assert first.merges == second.merges
        assert first.encode(ENGLISH) == second.encode(ENGLISH)

    def test_retraining_replaces_previous_merges(self):
        tok = BPETokenizer(vocab_size=300)
        tok.train("zzzz zzzz zzzz")
        tok.train("aaabdaaabac")
        assert tok.merges == [(97, 97), (97, 98), (256, 257)]
        assert tok.encode("zzzz") == [122] * 4

    def test_merges_match_textbook_algorithm_on_english(self):
        tok = BPETokenizer(vocab_size=420)
        tok.train(ENGLISH * 3)
        assert tok.merges == reference_bpe_merges(ENGLISH * 3, 420)

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.text(alphabet="ab c\n", max_size=40), max_size=8),
           st.integers(256, 300), st.integers(1, 3))
    def test_merges_match_textbook_algorithm(self, corpus, vocab_size, min_frequency):
        tok = BPETokenizer(vocab_size=vocab_size, min_frequency=min_frequency)
        tok.train(corpus)
        assert tok.merges == reference_bpe_merges(corpus, vocab_size, min_frequency)
        for text in corpus:
            assert tok.decode(tok.encode(text)) == text

    @settings(max_examples=50, deadline=None)
    @given(any_text)
    def test_round_trip_of_any_text(self, text):
        tok = _english_bpe()
        ids = tok.encode(text)
        assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
        assert tok.decode(ids) == text
        assert len(ids) <= len(text.encode("utf-8"))

    @settings(max_examples=30, deadline=None)
    @given(any_text)
    def test_round_trip_when_trained_on_the_text_itself(self, text):
        tok = BPETokenizer(vocab_size=320, min_frequency=1)
        tok.train([text, text])
        assert tok.decode(tok.encode(text)) == text

    @pytest.mark.parametrize("text", tricky_texts)
    def test_round_trip_of_tricky_texts(self, text):
        tok = _english_bpe()
        assert tok.decode(tok.encode(text)) == text
        trained = BPETokenizer(vocab_size=300)
        trained.train([text] * 3)
        assert trained.decode(trained.encode(text)) == text

    def test_decode_of_split_character_is_replacement(self):
        tok = BPETokenizer()
        euro = tok.encode("€")
        assert len(euro) == 3
        assert tok.decode(euro[:2]) == "\ufffd"

    def test_errors(self):
        with pytest.raises(ValueError, match="vocab_size=100 is too small.*256"):
            BPETokenizer(vocab_size=100)
        with pytest.raises(TypeError, match="vocab_size must be an int"):
            BPETokenizer(vocab_size=300.0)
        with pytest.raises(ValueError, match="min_frequency"):
            BPETokenizer(min_frequency=0)
        tok = _english_bpe()
        with pytest.raises(ValueError, match=rf"BPETokenizer.decode: token id {tok.vocab_size} is out of range"):
            tok.decode([tok.vocab_size])
        with pytest.raises(TypeError, match="BPETokenizer.encode expects a str"):
            tok.encode(None)
        with pytest.raises(TypeError, match="BPETokenizer.train expects a list of str"):
            tok.train(["ok", b"bytes"])
        with pytest.raises(ValueError, match="UTF-8"):
            tok.encode("\udc80")

    def test_decode_accepts_numpy_ids(self):
        tok = _english_bpe()
        ids = tok.encode(ENGLISH)
        assert tok.decode(np.array(ids, dtype=np.int64)) == ENGLISH


_ENGLISH_BPE = []


def _english_bpe():
    """One trained tokenizer shared by the read-only tests (training is cheap, but not free)."""
    if not _ENGLISH_BPE:
        tok = BPETokenizer(vocab_size=500)
        tok.train(ENGLISH * 20)
        _ENGLISH_BPE.append(tok)
    return _ENGLISH_BPE[0]
