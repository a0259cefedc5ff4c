"""Generation speed with and without the KV cache: tinytorch vs PyTorch, greedy decoding.

    python benchmarks/bench_generate.py [--rounds N]

Two configurations, batch 1, the prompt then new tokens up to max_seq_len:
  milestone: the milestone-05 model, GPT(vocab of the code snippets, embed 32, 1 layer, 4 heads,
             max_seq_len 64), prompt 8, 56 new tokens;
  medium:    GPT(vocab 96, embed 256, 4 layers, 8 heads, max_seq_len 128), prompt 16, 112 new tokens.
tinytorch: `model.generate(..., temperature=0, use_cache=False/True)` (the cached path is
csrc/nn/kv_decode.cpp). PyTorch: an idiomatic GPT with the same weights (one fused QKV nn.Linear,
nn.LayerNorm, F.scaled_dot_product_attention, a preallocated per-layer K/V cache written
with index assignment), greedy argmax under torch.inference_mode(), with the cache and
without (the whole context re-run per token). Both run the same number of threads,
--threads (default 1: a batch-1 decode step is too small to split, and on a loaded
2-core machine PyTorch's spinning OpenMP threads lose most of their time waiting).
Each round runs the four variants once in turn (interleaved); tokens/s is new tokens over
the median time. The token ids of all four are checked to agree.
"""
import argparse
import os
import sys
import time

import numpy as np

import tinytorch as tt
from tinytorch.core.transformer import GPT

CONFIGS = {
    "milestone": dict(vocab=None, embed=32, layers=1, heads=4, max_seq=64, prompt=8),
    "medium": dict(vocab=96, embed=256, layers=4, heads=8, max_seq=128, prompt=16),
}


def milestone_vocab():
    from tinytorch.core.tokenization import CharTokenizer
    from tinytorch.data.code_snippets import CODE_SNIPPETS, END_OF_TEXT
    tok = CharTokenizer()
    tok.build_vocab(list(CODE_SNIPPETS) + [END_OF_TEXT])
    return tok.vocab_size


def make_model(cfg):
    tt.manual_seed(0)
    vocab = cfg["vocab"] or milestone_vocab()
    model = GPT(vocab, cfg["embed"], cfg["layers"], cfg["heads"], max_seq_len=cfg["max_seq"])
    rng = np.random.default_rng(0)
    for p in model.parameters():  # spread the logits so greedy picks are not near-ties
        p.data[...] += rng.normal(0, 0.05, p.shape)
    return model


def torch_model(model):
    """The same GPT in PyTorch, weights copied (tinytorch's Linear weight is (in, out))."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def linear(src, bias=True):
        lin = nn.Linear(*src.weight.shape, bias=bias)
        lin.weight.data = torch.tensor(np.asarray(src.weight).T.copy())
        if bias:
            lin.bias.data = torch.tensor(np.asarray(src.bias))
        return lin

    def norm(src):
        ln = nn.LayerNorm(src.gamma.shape[0], eps=src.eps)
        ln.weight.data, ln.bias.data = torch.tensor(np.asarray(src.gamma)), torch.tensor(np.asarray(src.beta))
        return ln

    class Block(nn.Module):
        def __init__(self, b, heads):
            super().__init__()
            a = b.attention
            self.heads = heads
            self.ln1, self.ln2 = norm(b.ln1), norm(b.ln2)
            # one fused QKV projection, as PyTorch users write it (and as nn.MultiheadAttention does)
            q, k, v = linear(a.q_proj), linear(a.k_proj), linear(a.v_proj)
            self.qkv = nn.Linear(q.in_features, 3 * q.out_features, bias=q.bias is not None)
            self.qkv.weight.data = torch.cat([q.weight.data, k.weight.data, v.weight.data])
            if q.bias is not None:
                self.qkv.bias.data = torch.cat([q.bias.data, k.bias.data, v.bias.data])
            self.o = linear(a.out_proj)
            self.fc1, self.fc2 = linear(b.mlp.linear1), linear(b.mlp.linear2)

        def forward(self, x, cache, start):
            B, T, D = x.shape
            h = self.ln1(x)
            split = lambda t: t.view(B, T, self.heads, D // self.heads).transpose(1, 2)  # noqa: E731
            q, k, v = (split(t) for t in self.qkv(h).chunk(3, dim=-1))
            if cache is not None:
                kc, vc = cache
                kc[:, :, start:start + T] = k
                vc[:, :, start:start + T] = v
                k, v = kc[:, :, :start + T], vc[:, :, :start + T]
            if T == 1:  # one new query sees every cached key
                y = F.scaled_dot_product_attention(q, k, v)
            elif start == 0:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                mask = torch.ones(T, start + T, dtype=torch.bool).tril(start)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            x = x + self.o(y.transpose(1, 2).reshape(B, T, D))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))

    class TorchGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok = nn.Embedding.from_pretrained(torch.tensor(np.asarray(model.token_embedding.weight)))
            self.pos = nn.Embedding.from_pretrained(torch.tensor(np.asarray(model.position_embedding.weight)))
            self.blocks = nn.ModuleList(Block(b, model.num_heads) for b in model.blocks)
            self.ln_f, self.head = norm(model.ln_f), linear(model.lm_head, bias=False)
            self.max_seq, self.hd = model.max_seq_len, model.embed_dim // model.num_heads

        def forward(self, idx, caches=None, start=0):
            T = idx.shape[1]
            x = self.tok(idx) + self.pos(torch.arange(start, start + T))
            for i, b in enumerate(self.blocks):
                x = b(x, None if caches is None else caches[i], start)
            return self.head(self.ln_f(x))

        @torch.inference_mode()
        def generate(self, idx, new_tokens, use_cache):
            if not use_cache:
                for _ in range(new_tokens):
                    nxt = self(idx[:, -self.max_seq:])[:, -1].argmax(-1, keepdim=True)
                    idx = torch.cat([idx, nxt], 1)
                return idx
            B, H = idx.shape[0], model.num_heads
            caches = [(torch.empty(B, H, self.max_seq, self.hd), torch.empty(B, H, self.max_seq, self.hd))
                      for _ in self.blocks]
            logits, pos = self(idx, caches, 0), idx.shape[1]
            for i in range(new_tokens):
                nxt = logits[:, -1].argmax(-1, keepdim=True)
                idx = torch.cat([idx, nxt], 1)
                if i + 1 < new_tokens:
                    logits, pos = self(nxt, caches, pos), pos + 1
            return idx

    return TorchGPT().eval()


def run_config(name, cfg, rounds, torch):
    model = make_model(cfg)
    prompt = np.random.default_rng(1).integers(0, model.vocab_size, (1, cfg["prompt"]))
    new = cfg["max_seq"] - cfg["prompt"]
    variants = {
        "tinytorch, no cache": lambda: model.generate(prompt, new, temperature=0, use_cache=False),
        "tinytorch, KV cache": lambda: model.generate(prompt, new, temperature=0, use_cache=True),
    }
    if torch is not None:
        tm, tp = torch_model(model), torch.tensor(prompt)
        variants["PyTorch, no cache"] = lambda: tm.generate(tp, new, use_cache=False).numpy()
        variants["PyTorch, KV cache"] = lambda: tm.generate(tp, new, use_cache=True).numpy()
    outputs = {k: np.asarray(fn()) for k, fn in variants.items()}  # warm-up, and the agreement check
    ref = outputs["tinytorch, no cache"]
    agree = {k: bool(np.array_equal(v, ref)) for k, v in outputs.items()}
    times = {k: [] for k in variants}
    for _ in range(rounds):
        for k, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    tps = {k: new / float(np.median(v)) for k, v in times.items()}
    print(f"\n## {name}: GPT(vocab {model.vocab_size}, embed {cfg['embed']}, {cfg['layers']} layer(s), "
          f"{cfg['heads']} heads, max_seq_len {cfg['max_seq']}), prompt {cfg['prompt']}, {new} new tokens, batch 1")
    print("| variant | tokens/s | x tinytorch no cache | same ids |")
    print("|---|---|---|---|")
    base = tps["tinytorch, no cache"]
    for k in variants:
        print(f"| {k} | {tps[k]:,.0f} | {tps[k] / base:.2f} | {'yes' if agree[k] else 'NO'} |")
    if torch is not None:
        print(f"tinytorch / PyTorch tokens/s: no cache {base / tps['PyTorch, no cache']:.2f}x, "
              f"KV cache {tps['tinytorch, KV cache'] / tps['PyTorch, KV cache']:.2f}x")
    cache_bytes = 2 * cfg["layers"] * cfg["heads"] * cfg["max_seq"] * (cfg["embed"] // cfg["heads"]) * 4
    print(f"cache memory: {cache_bytes / 1024:.0f} KiB (2 x layers x heads x max_seq_len x head_dim x 4 bytes)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (default 5)")
    parser.add_argument("--threads", type=int, default=1, help="threads for both frameworks (default 1)")
    args = parser.parse_args()
    if args.rounds < 1 or args.threads < 1:
        parser.error("--rounds and --threads must be >= 1")
    tt.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
        print("# torch is not installed: tinytorch only (pip install torch==2.13.0 for the comparison)")
    info = tt._C._build_info()
    print(f"# OpenBLAS core {info['blas_core']} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}), "
          f"SIMD {info['simd']}, tinytorch threads {info['blas_threads']}"
          + (f", PyTorch {torch.__version__} threads {torch.get_num_threads()}" if torch else ""))
    for name, cfg in CONFIGS.items():
        run_config(name, cfg, args.rounds, torch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
