"""GPT training speed and memory: tinytorch vs the same architecture in PyTorch eager.

    python benchmarks/bench_gpt.py [--steps N]

Two configurations:
  milestone: GPT(vocab, 32, 1 layer, 4 heads, max_seq_len 64) on the five code
             snippets (batch 5), Adam lr 1e-3 -- what `make demo` trains;
  medium:    4 layers, embed 256, 8 heads, seq 128, batch 16, vocab 96.
Steps/s is one over the median step time. Each (framework, configuration)
runs in its own subprocess, so the peak RSS
(VmHWM) of one does not leak into another. A training step is forward,
cross-entropy, zero_grad, backward and an Adam step. Ratios > 1 mean
tinytorch is faster (steps/s) or smaller (RSS).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

CONFIGS = {
    "milestone": dict(embed=32, layers=1, heads=4, max_seq=64, batch=None, seq=None, vocab=None),
    "medium": dict(embed=256, layers=4, heads=8, max_seq=128, batch=16, seq=128, vocab=96),
}


def make_data(cfg):
    """(inputs, targets, vocab): the snippets for the milestone, random tokens for medium."""
    if cfg["batch"] is None:
        from tinytorch.core.tokenization import CharTokenizer
        from tinytorch.data.code_snippets import CODE_SNIPPETS, END_OF_TEXT, snippet_batch
        tok = CharTokenizer()
        tok.build_vocab("".join(CODE_SNIPPETS) + END_OF_TEXT)
        inputs, targets = snippet_batch(tok)
        return inputs, targets, tok.vocab_size
    rng = np.random.default_rng(0)
    data = rng.integers(0, cfg["vocab"], (cfg["batch"], cfg["seq"] + 1))
    return data[:, :-1].copy(), data[:, 1:].copy(), cfg["vocab"]


def tinytorch_step_fn(cfg, inputs, targets, vocab):
    import tinytorch as tt
    from tinytorch.core.losses import CrossEntropyLoss
    from tinytorch.core.optimizers import Adam
    from tinytorch.core.transformer import GPT
    tt.manual_seed(0)
    model = GPT(vocab, cfg["embed"], cfg["layers"], cfg["heads"], max_seq_len=cfg["max_seq"])
    opt = Adam(model.parameters(), lr=1e-3)
    loss_fn = CrossEntropyLoss()
    x, y = tt.Tensor(inputs, dtype=tt.int64), tt.Tensor(targets, dtype=tt.int64)

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def torch_step_fn(cfg, inputs, targets, vocab):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1)))
    D, H = cfg["embed"], cfg["heads"]

    class Block(nn.Module):  # the same pre-norm block as tinytorch.core.transformer.TransformerBlock
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))
            self.fc1, self.fc2 = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

        def forward(self, x, mask):
            B, T, _ = x.shape
            h = self.ln1(x)
            q, k, v = (p(h).view(B, T, H, D // H).transpose(1, 2) for p in (self.q, self.k, self.v))
            att = (q @ k.transpose(-1, -2)) / (D // H) ** 0.5
            att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(-1)
            x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, D))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, D), nn.Embedding(cfg["max_seq"], D)
            self.blocks = nn.ModuleList(Block() for _ in range(cfg["layers"]))
            self.ln_f, self.head = nn.LayerNorm(D), nn.Linear(D, vocab, bias=False)
            self.register_buffer("mask", torch.triu(torch.ones(cfg["max_seq"], cfg["max_seq"], dtype=torch.bool), 1))

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
            for b in self.blocks:
                x = b(x, self.mask)
            return self.head(self.ln_f(x))

    model = GPT()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.tensor(inputs), torch.tensor(targets)

    def step():
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def peak_rss_mb():
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the
    parent that forked us (which may have imported torch), VmHWM belongs to this program alone."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def digits(result):
    """Decimals to print: slow configurations need them to show a ratio."""
    return 0 if result["steps_per_s"] >= 100 else 2


def worker(framework, config, steps):
    cfg = CONFIGS[config]
    inputs, targets, vocab = make_data(cfg)
    make = tinytorch_step_fn if framework == "tinytorch" else torch_step_fn
    step = make(cfg, inputs, targets, vocab)
    for _ in range(max(3, steps // 10)):  # warm-up
        first = step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        last = step()
        times.append(time.perf_counter() - t0)
    rss = peak_rss_mb()
    # The median step, not the mean: one step delayed by another process on the
    # machine should not move the figure.
    print(json.dumps(dict(steps_per_s=1.0 / float(np.median(times)), peak_rss_mb=rss, first_loss=first,
                          last_loss=last)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 300 milestone, 20 medium)")
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.steps)
        return
    try:
        import torch  # noqa: F401
        frameworks = ["tinytorch", "torch"]
    except ImportError:
        frameworks = ["tinytorch"]
        print("# torch is not installed: tinytorch only (pip install torch==2.13.0 for the comparison)")
    import tinytorch as tt
    info = tt._C._build_info()
    print(f"# OpenBLAS core {info['blas_core']} (OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}), "
          f"threads {info['blas_threads']}; {os.cpu_count()} cores")
    results = {}
    for config in CONFIGS:
        steps = args.steps or (300 if config == "milestone" else 20)
        for fw in frameworks:
            out = subprocess.run([sys.executable, __file__, "--worker", fw, config, "--steps", str(steps)],
                                 capture_output=True, text=True, check=True)
            results[fw, config] = json.loads(out.stdout.strip().splitlines()[-1])
    print("| config | tinytorch steps/s | PyTorch steps/s | speedup | tinytorch peak RSS MB | PyTorch peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for config in CONFIGS:
        a = results["tinytorch", config]
        b = results.get(("torch", config))
        if b:
            print(f"| {config} | {a['steps_per_s']:.{digits(a)}f} | {b['steps_per_s']:.{digits(b)}f} | "
                  f"{a['steps_per_s'] / b['steps_per_s']:.2f}x | {a['peak_rss_mb']:.0f} | {b['peak_rss_mb']:.0f} |")
        else:
            print(f"| {config} | {a['steps_per_s']:.{digits(a)}f} | - | - | {a['peak_rss_mb']:.0f} | - |")


if __name__ == "__main__":
    main()
