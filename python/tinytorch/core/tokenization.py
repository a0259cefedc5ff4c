"""Module 10 - Tokenization: turning text into integer ids and back.

A language model only sees integers, so every text goes through a tokenizer:
``encode(text) -> [ids]`` before the model and ``decode(ids) -> text`` after.
Three tokenizers, from the simplest to the one GPT-2 uses:

* ``Tokenizer``      the base class. On its own it splits text into its raw
                     UTF-8 bytes: 256 ids, nothing to learn, any text round-trips.
* ``CharTokenizer``  one id per character seen in a corpus, id 0 = ``'<UNK>'``
                     for every character it has never seen.
* ``BPETokenizer``   byte-level Byte Pair Encoding: starts from the 256 byte
                     values and learns to merge the most frequent adjacent pair
                     into a new token, again and again. Frequent words become
                     single tokens, and any text (emoji, Chinese, newlines)
                     still round-trips exactly because bytes are the fallback.

Only the standard library and numpy are used.
"""

import heapq
import operator
import re
from collections import Counter, defaultdict
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["Tokenizer", "CharTokenizer", "BPETokenizer"]

Corpus = Union[str, Iterable[str]]


# ----------------------------------------------------------------------------
# Small helpers shared by the tokenizers
# ----------------------------------------------------------------------------

def _check_text(text, where: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{where} expects a str, got {type(text).__name__}. "
                        f"Encode one text at a time (use a list comprehension for many).")
    return text


def _as_texts(corpus: Corpus, where: str) -> List[str]:
    """A corpus is one string or an iterable of strings."""
    if isinstance(corpus, str):
        return [corpus]
    try:
        texts = list(corpus)
    except TypeError:
        raise TypeError(f"{where} expects a str or a list of str, "
                        f"got {type(corpus).__name__}") from None
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{where} expects a list of str, but item {i} is a "
                            f"{type(text).__name__}")
    return texts


def _utf8_bytes(text: str, where: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as err:
        # Only lone surrogates ('\ud800'...) get here: they are not valid text.
        raise ValueError(f"{where}: the text cannot be encoded as UTF-8 ({err}). "
                         f"Remove lone surrogate characters first.") from None


def _token_ids(ids, vocab_size: int, where: str) -> List[int]:
    """Validate token ids (list, tuple, numpy array or tinytorch Tensor) -> list of int."""
    if hasattr(ids, "__array__") and not isinstance(ids, (list, tuple)):
        array = np.asarray(ids)
        if array.size == 0:
            return []
        if array.ndim != 1:
            raise ValueError(f"{where} expects a 1-D sequence of token ids, "
                             f"got an array of shape {array.shape}")
        if array.dtype.kind not in "iu":
            raise TypeError(f"{where} expects integer token ids, got dtype {array.dtype}")
        ids = array.tolist()
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"{where} expects a sequence of integer token ids, got {type(ids).__name__} ({ids!r})")
    result = []
    for token_id in ids:
        if isinstance(token_id, (bool, np.bool_)):
            raise TypeError(f"{where} expects integer token ids, got a bool ({token_id})")
        try:
            index = operator.index(token_id)
        except TypeError:
            raise TypeError(f"{where} expects integer token ids, got "
                            f"{type(token_id).__name__} ({token_id!r})") from None
        if not 0 <= index < vocab_size:
            raise ValueError(f"{where}: token id {index} is out of range for a vocabulary "
                             f"of {vocab_size} tokens (valid ids are 0..{vocab_size - 1})")
        result.append(index)
    return result


# ----------------------------------------------------------------------------
# Base class: the contract, and the simplest tokenizer that works
# ----------------------------------------------------------------------------

class Tokenizer:
    """Base tokenizer: ``encode(text) -> list[int]``, ``decode(ids) -> str``, ``vocab_size``.

    Subclasses override all three. The base class itself is a working byte
    tokenizer (each UTF-8 byte is one token), so ``Tokenizer()`` can be used
    directly when no vocabulary has been learned yet.
    """

    vocab_size = 256

    def encode(self, text: str) -> List[int]:
        """Text -> token ids (here: its UTF-8 bytes)."""
        text = _check_text(text, f"{type(self).__name__}.encode")
        return list(_utf8_bytes(text, f"{type(self).__name__}.encode"))

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids -> text. Invalid UTF-8 becomes U+FFFD instead of raising,
        because a model can generate any byte sequence."""
        ids = _token_ids(ids, 256, f"{type(self).__name__}.decode")
        return bytes(ids).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


# ----------------------------------------------------------------------------
# Character tokenizer
# ----------------------------------------------------------------------------

class CharTokenizer(Tokenizer):
    """One token per character; id 0 is ``'<UNK>'`` for characters not in the vocabulary.

    ``CharTokenizer(['h', 'e', 'l', 'o'])`` keeps the order it is given
    (``'h'`` -> 1, ``'e'`` -> 2, ...); ``build_vocab(corpus)`` replaces the
    vocabulary with the sorted unique characters of the corpus.

    Attributes: ``vocab`` (list, ``vocab[0] == '<UNK>'``), ``vocab_size``,
    ``char_to_idx`` / ``idx_to_char`` (also under TinyTorch's older names
    ``char_to_id`` / ``id_to_char``), ``unk_id`` = 0.
    """

    unk_token = "<UNK>"
    unk_id = 0

    def __init__(self, vocab: Optional[Iterable[str]] = None):
        if vocab is not None and (isinstance(vocab, (bytes, bytearray)) or not isinstance(vocab, Iterable)):
            raise TypeError(f"CharTokenizer: vocab must be None or an iterable of single characters, got "
                            f"{type(vocab).__name__} ({vocab!r})")
        self._set_vocab([] if vocab is None else vocab)

    def build_vocab(self, corpus: Corpus) -> None:
        """Vocabulary = '<UNK>' followed by the sorted unique characters of the corpus."""
        characters = set()
        for text in _as_texts(corpus, "CharTokenizer.build_vocab"):
            characters.update(text)
        self._set_vocab(sorted(characters))

    def _set_vocab(self, characters: Iterable[str]) -> None:
        unique = []
        for char in dict.fromkeys(characters):  # drops duplicates, keeps order
            if char == self.unk_token:
                continue  # already id 0
            if not isinstance(char, str) or len(char) != 1:
                raise ValueError(f"CharTokenizer vocabulary entries must be single characters, "
                                 f"got {char!r}")
            unique.append(char)
        self.vocab = [self.unk_token] + unique
        self.vocab_size = len(self.vocab)
        self.char_to_idx = {char: idx for idx, char in enumerate(self.vocab)}
        self.idx_to_char = dict(enumerate(self.vocab))
        # The first TinyTorch edition used these names: same dicts.
        self.char_to_id = self.char_to_idx
        self.id_to_char = self.idx_to_char

    def encode(self, text: str) -> List[int]:
        """Each character -> its id; unknown characters -> 0."""
        text = _check_text(text, "CharTokenizer.encode")
        lookup = self.char_to_idx.get
        return [lookup(char, self.unk_id) for char in text]

    def decode(self, ids: Sequence[int]) -> str:
        """Ids -> characters. '<UNK>' (id 0) decodes to nothing: the original
        character is unknown, and printing '<UNK>' would invent text."""
        ids = _token_ids(ids, self.vocab_size, "CharTokenizer.decode")
        vocab = self.vocab
        return "".join(vocab[i] for i in ids if i != self.unk_id)


# ----------------------------------------------------------------------------
# Byte-level BPE tokenizer
# ----------------------------------------------------------------------------

# Text is first cut into chunks (a word with its leading space, a number, a
# run of punctuation or of whitespace), as GPT-2 does; merges never cross a
# chunk boundary. That keeps tokens meaningful ("ing", " the") and makes
# training fast: identical chunks are counted once. The alternatives cover
# every character, so joining the chunks gives back the text exactly.
_CHUNK_PATTERN = re.compile(
    r" ?[^\W\d_]+"      # a word (letters), with its leading space
    r"| ?\d+"           # a number
    r"| ?_+"            # underscores (\w, but neither letter nor digit)
    r"| ?[^\s\w]+"      # punctuation, symbols, emoji
    r"|\s+(?!\S)"       # whitespace, leaving one space for the next word
    r"|\s+"             # trailing whitespace
)

Pair = Tuple[int, int]


def _merge_pair(tokens: List[int], pair: Pair, new_id: int) -> List[int]:
    """Replace every non-overlapping occurrence of ``pair`` (left to right) by ``new_id``."""
    first, second = pair
    merged = []
    i = 0
    n = len(tokens)
    while i < n:
        if i + 1 < n and tokens[i] == first and tokens[i + 1] == second:
            merged.append(new_id)
            i += 2
        else:
            merged.append(tokens[i])
            i += 1
    return merged


class BPETokenizer(Tokenizer):
    """Byte-level Byte Pair Encoding.

    Ids 0..255 are the byte values; training then appends merged tokens until
    ``vocab_size`` tokens exist (or no pair occurs ``min_frequency`` times):

    1. cut the corpus into chunks (see ``_CHUNK_PATTERN``), each a list of bytes;
    2. count every adjacent pair of tokens, weighted by how often the chunk occurs;
    3. merge the most frequent pair into a new token (ties: the smaller pair of
       ids wins, so training is deterministic), update the counts, repeat.

    Encoding replays the merges in the order they were learned.

    Attributes: ``merges`` (list of id pairs, the i-th creates token ``256 + i``),
    ``vocab`` (list of ``bytes``, ``vocab[i]`` is what token i stands for),
    ``vocab_size`` (= ``len(vocab)``), ``target_vocab_size``.
    """

    def __init__(self, vocab_size: int = 1000, min_frequency: int = 2):
        self.target_vocab_size = self._check_vocab_size(vocab_size)
        if isinstance(min_frequency, bool) or not isinstance(min_frequency, (int, np.integer)) or min_frequency < 1:
            raise ValueError(f"BPETokenizer: min_frequency must be an int >= 1, got {min_frequency!r}")
        self.min_frequency = int(min_frequency)
        self._reset()

    @staticmethod
    def _check_vocab_size(vocab_size) -> int:
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)):
            raise TypeError(f"BPETokenizer: vocab_size must be an int, got {type(vocab_size).__name__}")
        if vocab_size < 256:
            raise ValueError(f"BPETokenizer: vocab_size={vocab_size} is too small: a byte-level BPE "
                             f"starts from the 256 byte values. Use vocab_size >= 256 "
                             f"(256 means no merges), or CharTokenizer for a tiny vocabulary.")
        return int(vocab_size)

    def _reset(self) -> None:
        self.merges: List[Pair] = []
        self.vocab: List[bytes] = [bytes([b]) for b in range(256)]
        self._merge_rank = {}   # pair -> index in self.merges
        self._chunk_cache = {}  # chunk -> token ids, filled by encode

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # ---- training ----------------------------------------------------------

    def train(self, corpus: Corpus, vocab_size: Optional[int] = None) -> None:
        """Learn merges from a corpus (a str or a list of str), replacing earlier ones."""
        if vocab_size is not None:
            self.target_vocab_size = self._check_vocab_size(vocab_size)
        texts = _as_texts(corpus, "BPETokenizer.train")
        self._reset()

        chunk_counts = Counter(chunk for text in texts for chunk in _CHUNK_PATTERN.findall(text))
        words = [list(_utf8_bytes(chunk, "BPETokenizer.train")) for chunk in chunk_counts]
        frequencies = list(chunk_counts.values())

        # pair_counts[pair]: occurrences in the corpus; words_with[pair]: which
        # words may contain it (may hold stale entries: they are skipped).
        pair_counts = defaultdict(int)
        words_with = defaultdict(set)
        for w, (tokens, freq) in enumerate(zip(words, frequencies)):
            for pair in zip(tokens, tokens[1:]):
                pair_counts[pair] += freq
                words_with[pair].add(w)

        # A max-heap of (-count, pair); when a count changes we push the new
        # value and skip outdated entries when they surface. The pair itself is
        # the tie-breaker, which makes training deterministic.
        heap = [(-count, pair) for pair, count in pair_counts.items()]
        heapq.heapify(heap)

        while len(self.vocab) < self.target_vocab_size:
            best = self._pop_most_frequent(heap, pair_counts)
            if best is None:
                break
            new_id = len(self.vocab)
            self._merge_rank[best] = len(self.merges)
            self.merges.append(best)
            self.vocab.append(self.vocab[best[0]] + self.vocab[best[1]])

            changed = set()
            for w in words_with.pop(best):
                old = words[w]
                new = _merge_pair(old, best, new_id)
                if len(new) == len(old):
                    continue  # stale entry: this word no longer contains the pair
                freq = frequencies[w]
                for pair in zip(old, old[1:]):
                    pair_counts[pair] -= freq
                    changed.add(pair)
                for pair in zip(new, new[1:]):
                    pair_counts[pair] += freq
                    words_with[pair].add(w)
                    changed.add(pair)
                words[w] = new
            for pair in changed:
                count = pair_counts[pair]
                if count > 0:
                    heapq.heappush(heap, (-count, pair))
                else:
                    del pair_counts[pair]

    def _pop_most_frequent(self, heap, pair_counts) -> Optional[Pair]:
        while heap:
            negative_count, pair = heapq.heappop(heap)
            count = -negative_count
            if pair_counts.get(pair, 0) != count:
                continue  # outdated entry
            if count < self.min_frequency:
                return None  # valid entries come out in decreasing count order
            return pair
        return None

    # ---- encoding and decoding -------------------------------------------

    def encode(self, text: str) -> List[int]:
        """Text -> token ids: each chunk's bytes, merged in the order the merges were learned."""
        text = _check_text(text, "BPETokenizer.encode")
        ids: List[int] = []
        for chunk in _CHUNK_PATTERN.findall(text):
            ids.extend(self._encode_chunk(chunk))
        return ids

    def _encode_chunk(self, chunk: str) -> List[int]:
        cached = self._chunk_cache.get(chunk)
        if cached is not None:
            return cached
        tokens = list(_utf8_bytes(chunk, "BPETokenizer.encode"))
        rank = self._merge_rank
        never = len(self.merges)
        while len(tokens) >= 2:
            # The earliest-learned pair present must be merged first, as in training.
            pair = min(zip(tokens, tokens[1:]), key=lambda p: rank.get(p, never))
            if pair not in rank:
                break
            tokens = _merge_pair(tokens, pair, 256 + rank[pair])
        if len(self._chunk_cache) < 100_000:  # bounded: encode may see endless new chunks
            self._chunk_cache[chunk] = tokens
        return tokens

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids -> text. Invalid UTF-8 (e.g. a multi-byte character cut in
        half by sampling) becomes U+FFFD instead of raising."""
        ids = _token_ids(ids, self.vocab_size, "BPETokenizer.decode")
        vocab = self.vocab
        return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"target_vocab_size={self.target_vocab_size})")
