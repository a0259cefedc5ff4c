"""GPT training speed and memory: tinytorch vs the same architecture in PyTorch eager.

    python benchmarks/bench_gpt.py [--quick] [--rounds N] [--steps N] [--configs milestone,medium,gpt2-small]

Configurations (pre-norm GPT: token + position embeddings, blocks of LayerNorm -> attention ->
residual, LayerNorm -> Linear(D, 4D) -> GELU(tanh) -> Linear(4D, D) -> residual, final LayerNorm,
Linear head without bias; cross-entropy; Adam lr 1e-3):
  milestone:  GPT(vocab of the code snippets, embed 32, 1 layer, 4 heads, max_seq_len 64) on the
              five code snippets (batch 5) -- what `make demo` trains;
  medium:     4 layers, embed 256, 8 heads, seq 128, batch 16, vocab 96;
  gpt2-small: the GPT-2 small shape (12 layers, embed 768, 12 heads, vocab 50257, max_seq_len 1024;
              head not tied to the embedding), seq 64, batch 4, random tokens.

Rows:
  tinytorch          tinytorch.core.transformer.GPT (its fused C++ blocks);
  PyTorch            as PyTorch users write it: one fused QKV nn.Linear and
                     F.scaled_dot_product_attention(is_causal=True);
  PyTorch, explicit  the same model with hand-written attention (separate q/k/v Linears,
                     q @ k^T, masked_fill, softmax, @ v), the baseline this benchmark used before.

A training step is forward, cross-entropy, zero_grad, backward and an Adam step. Every
(row, configuration) runs in its own child process (so peak RSS, VmHWM, is each one's own),
started once and warmed up; then in each round every child runs --steps timed steps in turn
(A, B, C, A, B, C, ...). Steps/s is one over the median of all timed steps of a row. CPU ms/step
is the median process CPU time of a step (all threads, spinning included): on a machine shared
with other work it moves far less than wall time, and with --threads 1 it is the work itself.

FLOPs per step = 6 x P x tokens + 12 x layers x batch x seq^2 x embed, where P counts the
parameters that are multiplied (all but the token and position embedding tables, which are
looked up) and tokens = batch x seq: 2 flops per multiply-add, forward once and backward twice,
for the weights and for attention's two (seq x seq) products per layer (counted in full, as
the explicit form computes them; a causal kernel may skip the masked half). Peak FLOP/s is
printed with its formula. Ratios > 1 mean tinytorch is faster (steps/s) or smaller (RSS).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import config_header, peak_gflops, peak_rss_mb  # noqa: E402

CONFIGS = {
    "milestone": dict(embed=32, layers=1, heads=4, max_seq=64, batch=None, seq=None, vocab=None),
    "medium": dict(embed=256, layers=4, heads=8, max_seq=128, batch=16, seq=128, vocab=96),
    "gpt2-small": dict(embed=768, layers=12, heads=12, max_seq=1024, batch=4, seq=64, vocab=50257),
}
ROWS = ["tinytorch", "torch", "torch-explicit"]
ROW_NAMES = {"tinytorch": "tinytorch", "torch": "PyTorch", "torch-explicit": "PyTorch, explicit attention"}
# (rounds, timed steps per round) for each configuration: a few minutes in all on 2 cores
DEFAULT_STEPS = {"milestone": (5, 40), "medium": (5, 4), "gpt2-small": (3, 2)}
QUICK_STEPS = {"milestone": (3, 15), "medium": (3, 2), "gpt2-small": (2, 1)}


def make_data(cfg):
    """(inputs, targets, vocab): the snippets for the milestone, random tokens otherwise."""
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
    """(step, parameters that are multiplied) for tinytorch's GPT."""
    import tinytorch as tt
    from tinytorch.core.losses import CrossEntropyLoss
    from tinytorch.core.optimizers import Adam
    from tinytorch.core.transformer import GPT
    tt.manual_seed(0)
    model = GPT(vocab, cfg["embed"], cfg["layers"], cfg["heads"], max_seq_len=cfg["max_seq"])
    opt = Adam(model.parameters(), lr=1e-3)
    loss_fn = CrossEntropyLoss()
    x, y = tt.Tensor(inputs, dtype=tt.int64), tt.Tensor(targets, dtype=tt.int64)
    lookups = {id(model.token_embedding.weight), id(model.position_embedding.weight)}
    matmul_params = sum(int(np.prod(p.shape)) for p in model.parameters() if id(p) not in lookups)

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step, matmul_params


def torch_step_fn(cfg, inputs, targets, vocab, explicit):
    """(step, parameters that are multiplied) for the PyTorch GPT, idiomatic or with explicit attention."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.manual_seed(0)
    D, H = cfg["embed"], cfg["heads"]

    class Attention(nn.Module):  # as PyTorch users write it: fused QKV, the SDPA kernel
        def __init__(self):
            super().__init__()
            self.qkv, self.o = nn.Linear(D, 3 * D), nn.Linear(D, D)

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = self.qkv(x).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.o(y.transpose(1, 2).reshape(B, T, D))

    class ExplicitAttention(nn.Module):  # the hand-written baseline
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))
            self.register_buffer("mask", torch.triu(torch.ones(cfg["max_seq"], cfg["max_seq"], dtype=torch.bool), 1))

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = (p(x).view(B, T, H, D // H).transpose(1, 2) for p in (self.q, self.k, self.v))
            att = (q @ k.transpose(-1, -2)) / (D // H) ** 0.5
            att = att.masked_fill(self.mask[:T, :T], float("-inf")).softmax(-1)
            return self.o((att @ v).transpose(1, 2).reshape(B, T, D))

    class Block(nn.Module):  # the same pre-norm block as tinytorch.core.transformer.TransformerBlock
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.attn = ExplicitAttention() if explicit else Attention()
            self.fc1, self.fc2 = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, D), nn.Embedding(cfg["max_seq"], D)
            self.blocks = nn.ModuleList(Block() for _ in range(cfg["layers"]))
            self.ln_f, self.head = nn.LayerNorm(D), nn.Linear(D, vocab, bias=False)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
            for b in self.blocks:
                x = b(x)
            return self.head(self.ln_f(x))

    model = GPT()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.tensor(inputs), torch.tensor(targets)
    matmul_params = sum(p.numel() for p in model.parameters()) - model.tok.weight.numel() - model.pos.weight.numel()

    def step():
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step, matmul_params


def worker(row, config, threads):
    """A child process: builds and warms up one model, then runs steps when told ("run N" on stdin,
    the step times as a JSON line back), and reports its peak RSS on "quit"."""
    import tinytorch as tt
    tt.set_num_threads(threads)
    cfg = CONFIGS[config]
    inputs, targets, vocab = make_data(cfg)
    if row == "tinytorch":
        step, params = tinytorch_step_fn(cfg, inputs, targets, vocab)
    else:
        import torch
        torch.set_num_threads(threads)
        step, params = torch_step_fn(cfg, inputs, targets, vocab, explicit=row == "torch-explicit")
    first = step()
    step()  # warm-up: the allocator caches and the first-call paths
    print(json.dumps(dict(params=params, first_loss=first)), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "run":
            times, cpu, last = [], [], None
            for _ in range(int(cmd[1])):
                t0, c0 = time.perf_counter(), time.process_time()
                last = step()
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            print(json.dumps(dict(times=times, cpu=cpu, last_loss=last)), flush=True)
        else:
            print(json.dumps(dict(peak_rss_mb=peak_rss_mb())), flush=True)
            return


class Child:
    def __init__(self, row, config, threads):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", row, config,
                                      "--threads", str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()
        self.times, self.cpu = [], []

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"bench_gpt: a worker died (exit code {self.proc.wait()}); see its error above")
        return json.loads(line)

    def run(self, steps):
        self.proc.stdin.write(f"run {steps}\n")
        self.proc.stdin.flush()
        out = self._read()
        self.times += out["times"]
        self.cpu += out["cpu"]
        self.info["last_loss"] = out["last_loss"]

    def finish(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.info.update(self._read())
        self.proc.wait()


def run_config(config, rows, rounds, steps, threads, peak):
    cfg = CONFIGS[config]
    children = {}
    for row in rows:  # one at a time: a child's set-up is not timed, but it would load the machine
        children[row] = Child(row, config, threads)
    for _ in range(rounds):
        for row in rows:
            children[row].run(steps)
    for child in children.values():
        child.finish()
    inputs, _, vocab = make_data(cfg)
    batch, seq = inputs.shape
    params = children["tinytorch"].info["params"]
    for row in rows:
        if children[row].info["params"] != params:
            raise RuntimeError(f"bench_gpt: {row} has {children[row].info['params']} multiplied parameters, "
                               f"tinytorch {params}: the models differ")
    tokens = batch * seq
    flops = 6 * params * tokens + 12 * cfg["layers"] * batch * seq * seq * cfg["embed"]
    print(f"\n## {config}: {cfg['layers']} layer(s), embed {cfg['embed']}, {cfg['heads']} heads, vocab {vocab}, "
          f"batch {batch}, seq {seq}; {params / 1e6:.2f}M multiplied parameters, {flops / 1e9:.2f} GFLOP per step; "
          f"{rounds} rounds x {steps} steps")
    print("| row | steps/s | tokens/s | GFLOP/s | % of peak | CPU ms/step | peak RSS MB | loss first -> last | "
          "tinytorch speedup | tinytorch RSS / this |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = None
    for row in rows:
        info = children[row].info
        sps = 1.0 / float(np.median(children[row].times))
        rss = info["peak_rss_mb"]
        if base is None:
            base = (sps, rss)
        print(f"| {ROW_NAMES[row]} | {sps:.{0 if sps >= 100 else 2}f} | {sps * tokens:,.0f} | "
              f"{sps * flops / 1e9:.1f} | {100 * sps * flops / 1e9 / peak:.0f}% | "
              f"{1e3 * float(np.median(children[row].cpu)):.1f} | {rss:.0f} | "
              f"{info['first_loss']:.3f} -> {info['last_loss']:.3f} | "
              f"{base[0] / sps:.2f}x | {base[1] / rss:.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and steps (about a minute)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default per config)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per child per round")
    parser.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of " + ", ".join(CONFIGS))
    parser.add_argument("--threads", type=int, default=None, help="threads for both (default: tinytorch's)")
    parser.add_argument("--worker", nargs=2, metavar=("ROW", "CONFIG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    import tinytorch as tt
    threads = args.threads or tt.get_num_threads()
    if args.worker:
        worker(args.worker[0], args.worker[1], threads)
        return
    configs = args.configs.split(",")
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or (args.rounds is not None and args.rounds < 1) or (args.steps is not None and args.steps < 1):
        parser.error(f"configs must be among {', '.join(CONFIGS)} (got {unknown}); rounds and steps must be >= 1")
    try:
        import torch
        torch.set_num_threads(threads)
        rows = ROWS
    except ImportError:
        torch, rows = None, ["tinytorch"]
        print("# torch is not installed: tinytorch only (pip install torch==2.13.0 for the comparison)")
    tt.set_num_threads(threads)
    print(config_header(torch))
    peak, formula = peak_gflops()
    print(f"# peak fp32: {formula}")
    for config in configs:
        rounds, steps = (QUICK_STEPS if args.quick else DEFAULT_STEPS)[config]
        run_config(config, rows, args.rounds or rounds, args.steps or steps, threads, peak)


if __name__ == "__main__":
    main()
