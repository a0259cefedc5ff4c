"""Plausible mistakes in module 08: no check that the tensors have the same number of samples, the generator
re-created from the seed every epoch (every epoch in the same order), the last partial batch dropped even
without drop_last, and collate returning a list of fields instead of a tuple."""
REPLACE = [
    ("        if len(set(sizes)) != 1:\n"
     "            raise ValueError(f\"TensorDataset: every tensor needs the same first dimension, got {sizes}\")\n",
     ""),
    ("        order = self.rng.permutation(n) if self.shuffle else np.arange(n)\n",
     "        order = np.random.default_rng(0).permutation(n) if self.shuffle else np.arange(n)\n"),
    ("        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)\n",
     "        return n // self.batch_size\n"),
    ("        return tuple(collate([s[i] for s in samples]) for i in range(len(first)))\n",
     "        return [collate([s[i] for s in samples]) for i in range(len(first))]\n"),
]
EXPECT_FAIL = ["tensor_dataset_rejects_mismatch", "loader_shuffles_reproducibly", "loader_batches_in_order",
               "collate_stacks_fields"]
