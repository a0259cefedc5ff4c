"""Plausible mistakes in module 13's exercises; the grader must catch each.

layer_norm: eps added outside the square root (invisible at variance ~1, wrong
when the features barely vary). mlp: the exact erf GELU instead of the tanh
form the engine's MLP uses. transformer_block: the second LayerNorm applied to
the block input x instead of the stream h after attention. gpt_forward: the
position embedding forgotten.
"""
REPLACE = [
    ("    return centred / (var + eps).sqrt() * gamma + beta\n",
     "    return centred / (var.sqrt() + eps) * gamma + beta\n"),
    ("    return tt.gelu(x @ w1 + b1) @ w2 + b2\n",
     "    return tt.gelu(x @ w1 + b1, \"none\") @ w2 + b2\n"),
    ("    ffn_in = layer_norm(h, block.ln2.gamma, block.ln2.beta, block.ln2.eps)\n",
     "    ffn_in = layer_norm(x, block.ln2.gamma, block.ln2.beta, block.ln2.eps)\n"),
    ("    x = tt.embedding(model.token_embedding.weight, ids) + tt.embedding(model.position_embedding.weight, positions)\n",
     "    x = tt.embedding(model.token_embedding.weight, ids)\n"),
]

# Each mistake alone was also checked: eps outside the sqrt fails the three layer_norm checks;
# the erf GELU both mlp checks; ln2(x) both transformer_block checks; the missing positions
# both gpt_forward checks (and each breaks the exercises built on it).
EXPECT_FAIL = ["layer_norm_by_hand", "layer_norm_matches_engine", "layer_norm_gradients",
               "mlp_matches_engine", "mlp_gradients",
               "transformer_block_matches_engine", "transformer_block_gradients",
               "gpt_forward_matches_engine", "gpt_forward_gradients"]
