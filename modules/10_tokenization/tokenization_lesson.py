# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Module 10 — Tokenization
#
# A language model only sees integers. A tokenizer turns text into ids
# (`encode`) before the model and ids back into text (`decode`) after it.
# The choice of tokens matters: more tokens per text means longer sequences,
# and attention gets slower as sequences get longer.

# %%
import numpy as np

from tinytorch.core.tokenization import BPETokenizer, CharTokenizer

# %% [markdown]
# ## One id per character
# `build_vocab` collects the characters of a corpus and sorts them. Id 0 is
# reserved for `<UNK>`, which stands for every character the tokenizer has
# never seen.

# %%
chars = CharTokenizer()
chars.build_vocab(["hello world", "hold"])
print(chars.vocab)
assert chars.vocab == ["<UNK>", " ", "d", "e", "h", "l", "o", "r", "w"]
assert chars.vocab_size == 9
assert chars.encode("hello") == [4, 3, 5, 5, 6]
assert chars.decode(chars.encode("world")) == "world"

# %% [markdown]
# An unknown character becomes id 0, and decoding drops it: the original
# character is lost. That is the weak spot of a character vocabulary.

# %%
ids = chars.encode("hello!")
assert ids == [4, 3, 5, 5, 6, 0] and chars.unk_id == 0
assert chars.decode(ids) == "hello"

# %% [markdown]
# ## Byte Pair Encoding
# BPE starts from the 256 byte values, so *any* UTF-8 text can be encoded.
# Training finds the most frequent adjacent pair of tokens and merges it
# into a new token, again and again, until `vocab_size` tokens exist (or no
# pair occurs twice). Frequent words end up as single tokens.

# %%
corpus = ["the cat sat on the mat. the cat ate the rat."] * 20
bpe = BPETokenizer(vocab_size=300)
bpe.train(corpus)
print(bpe, [bpe.vocab[i] for i in range(256, 262)])
assert bpe.vocab_size == 256 + len(bpe.merges) <= 300
assert bpe.merges[0] == (ord("a"), ord("t"))        # "at" is the most frequent pair
assert bpe.vocab[256] == b"at"

# %% [markdown]
# Merges make sequences shorter: on text like the corpus, a whole word with
# its leading space is one token.

# %%
text = "the cat sat on the mat."
tokens = bpe.encode(text)
print(len(text), "characters ->", len(tokens), "tokens:", [bpe.vocab[i] for i in tokens])
assert len(tokens) < len(text)
assert len(bpe.encode(corpus[0])) < len(corpus[0]) / 3
assert bpe.decode(tokens) == text

# %% [markdown]
# ## Round trips, even for text it never saw
# Unknown words fall back to single bytes, so nothing is ever lost. A
# character outside ASCII takes 2-4 bytes, so it may need several ids.

# %%
for sample in ["naïve café", "日本語 🙂", "tabs\tand\nnewlines  ", "the rat sat", ""]:
    assert bpe.decode(bpe.encode(sample)) == sample
assert len(bpe.encode("🙂")) == len("🙂".encode("utf-8")) == 4
assert chars.decode(chars.encode("日本")) == ""          # the char tokenizer loses it

# %% [markdown]
# ## Your turn
# 1. Train with `vocab_size=256`. How many merges are learned? How long is
#    `encode(text)` then?
# 2. A model hands back its ids as an array. Check that `decode` takes a
#    numpy array of ids as well as a list.

# %%
plain = BPETokenizer(vocab_size=256)
plain.train(corpus)
assert plain.merges == [] and plain.encode(text) == list(text.encode("utf-8"))
assert bpe.decode(np.array(tokens)) == text
print("module 10 checks passed")
