"""Plausible mistakes in module 20: compression ratio upside down, a pipeline without its quality guard,
a report without the held-out text's hash, a checker that lets a small size forgery through and never
looks at speed."""
REPLACE = [
    ('''            "compression_ratio": baseline["size_bytes"] / optimized["size_bytes"],''',
     '''            "compression_ratio": optimized["size_bytes"] / baseline["size_bytes"],'''),
    ('''        if passes(trial):
            chosen, optimizations = trial, [{"name": "magnitude_prune", "sparsity": float(s)}]''',
     '''        if True:
            chosen, optimizations = trial, [{"name": "magnitude_prune", "sparsity": float(s)}]'''),
    ('''"sha256": corpus_sha256(corpus_text("heldout")),
                       "seq_len": pipeline.SEQ_LEN},''',
     '''"sha256": "",
                       "seq_len": pipeline.SEQ_LEN},'''),
    ('''        for key, tol in (("size_bytes", 0), ("val_loss", 1e-4), ("next_token_accuracy", 1e-3)):''',
     '''        for key, tol in (("size_bytes", 64), ("val_loss", 1e-4), ("next_token_accuracy", 1e-3)):'''),
    ('''    if claimed_speedup > measured_speedup * (1 + speed_tolerance):''',
     '''    if False:'''),
]
EXPECT_FAIL = ["improvements_by_hand", "optimize_keeps_the_quality_guard", "report_follows_the_schema",
               "claims_are_checked"]
