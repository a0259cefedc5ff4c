"""Plausible mistakes in module 10: the vocabulary in order of first appearance instead of sorted; '<UNK>'
written out on decode; pairs counted only at even positions (non-overlapping); merge_pair stepping by one
after a match (overlapping merges); and BPE ties broken by first occurrence instead of the smallest pair."""
REPLACE = [
    ("        chars = set()\n        for text in texts:\n            chars.update(text)\n"
     "        self.__init__(sorted(chars))\n",
     "        self.__init__(\"\".join(texts))\n"),
    ("        return \"\".join(self.vocab[int(i)] for i in ids if int(i) != self.unk_id)\n",
     "        return \"\".join(self.vocab[int(i)] for i in ids)\n"),
    ("    for pair in zip(ids, ids[1:]):\n        counts[pair] = counts.get(pair, 0) + 1\n",
     "    for pair in zip(ids[::2], ids[1::2]):\n        counts[pair] = counts.get(pair, 0) + 1\n"),
    ("            merged.append(new_id)\n            i += 2\n",
     "            merged.append(new_id)\n            i += 1\n"),
    ("        best = max(counts, key=lambda p: (counts[p], -p[0], -p[1]))\n",
     "        best = max(counts, key=counts.get)\n"),
]
EXPECT_FAIL = ["char_tokenizer_matches_engine", "char_tokenizer_unknown", "pair_counts_exact", "merge_pair_exact",
               "train_bpe_hand_cases", "train_bpe_matches_engine"]
