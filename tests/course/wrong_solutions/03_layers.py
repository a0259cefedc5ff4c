"""Plausible mistakes in module 03: weights drawn from N(0, 1) (no 1/sqrt(fan_in) scale), the bias never added,
dropout survivors left unscaled, dropout still active in eval mode, and a single list argument to Sequential
not unpacked."""
REPLACE = [
    ("Parameter(tt.randn(in_features, out_features) * math.sqrt(1.0 / in_features))",
     "Parameter(tt.randn(in_features, out_features))"),
    ("        return y if self.bias is None else y + self.bias\n", "        return y\n"),
    ("tt.Tensor(keep / (1.0 - self.p), dtype=x.dtype)", "tt.Tensor(keep * 1.0, dtype=x.dtype)"),
    ("        if not training or self.p == 0.0:\n", "        if self.p == 0.0:\n"),
    ("        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):\n            layers = tuple(layers[0])\n", ""),
]
EXPECT_FAIL = ["linear_parameters_and_init", "linear_matches_engine", "dropout_training_statistics",
               "dropout_modes_and_edges", "sequential_composes_engine_layers"]
