"""Data-parallel training on MPI: steps/s of the medium GPT on 1 and 2 processes, and the share of a step
spent in communication.

    python benchmarks/bench_distributed.py [--rounds 5] [--steps 6]

Model: GPT(vocab 96, embed 256, 4 layers, 8 heads, seq 128), global batch 16, Adam. Three runs, each in
its own process(es), interleaved round by round (medians over rounds):
  1 process x 2 threads   the whole machine to one process (this machine has 2 cores)
  1 process x 1 thread    one core
  2 ranks x 1 thread      mpiexec -n 2, 8 sequences per rank, DistributedDataParallel; one BLAS thread per
                          rank (tt.set_num_threads(1)), since 2 ranks x 2 threads would oversubscribe 2 cores
A step is forward, cross-entropy, zero_grad, backward (with the bucketed gradient all-reduce) and the Adam
step; the 2-rank step time is the slower rank's. "comm" is the time inside MPI calls of the gradient
reduction (starting the Iallreduce of each bucket, progress polls, the final wait) as a share of the step;
"exposed" is the final wait alone, the part not hidden behind backward.

With torch installed, the same model in PyTorch eager (the architecture of bench_gpt.py) runs on 1 process x
1 thread and on 2 ranks x 1 thread under torch.nn.parallel.DistributedDataParallel (gloo on loopback,
started by the same mpiexec), in the same rounds: the scaling of the two frameworks side by side.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

VOCAB, EMBED, LAYERS, HEADS, SEQ, BATCH = 96, 256, 4, 8, 128, 16


def worker(args):
    """One run: warm-up steps, then timed steps; prints a JSON line (rank 0 only)."""
    import tinytorch as tt
    from tinytorch.core.losses import CrossEntropyLoss
    from tinytorch.core.optimizers import Adam
    from tinytorch.core.transformer import GPT
    rank, world, ddp = 0, 1, None
    if args.distributed:
        import tinytorch.distributed as dist
        rank, world = dist.init()
    tt.set_num_threads(args.threads)
    tt.manual_seed(0)
    model = GPT(VOCAB, EMBED, LAYERS, HEADS, max_seq_len=SEQ)
    train = model
    if args.distributed:
        ddp = train = dist.DistributedDataParallel(model)
    opt, loss_fn = Adam(model.parameters(), lr=1e-3), CrossEntropyLoss()
    data = np.random.default_rng(0).integers(0, VOCAB, (BATCH, SEQ + 1))
    rows = np.array_split(np.arange(BATCH), world)[rank]
    x, y = tt.Tensor(data[rows, :-1], dtype=np.int64), tt.Tensor(data[rows, 1:], dtype=np.int64)
    times, comm, wait = [], [], []
    for i in range(args.warmup + args.steps):
        if args.distributed:
            dist.barrier()  # every rank starts the step together, so the slower rank's time is the step's
        c0, w0 = (ddp.comm_seconds, ddp.wait_seconds) if ddp else (0.0, 0.0)
        start = time.perf_counter()
        loss = loss_fn(train(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        elapsed = time.perf_counter() - start
        if i >= args.warmup:
            times.append(elapsed)
            comm.append((ddp.comm_seconds - c0) if ddp else 0.0)
            wait.append((ddp.wait_seconds - w0) if ddp else 0.0)
    result = {"step": float(np.median(times)), "comm": float(np.median(comm)), "wait": float(np.median(wait))}
    if args.distributed:
        everyone = dist.communicator().gather(result, root=0)
        if rank == 0:
            slow = max(everyone, key=lambda r: r["step"])
            result = {"step": slow["step"], "comm": slow["comm"], "wait": slow["wait"],
                      "buckets": len(ddp.bucket_sizes)}
    if rank == 0:
        print("RESULT " + json.dumps(result), flush=True)


def torch_gpt():
    """The medium GPT in PyTorch eager, the pre-norm block of tinytorch.core.transformer (as bench_gpt.py)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    D, H = EMBED, HEADS

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
            self.q, self.k, self.v, self.o = (nn.Linear(D, D) for _ in range(4))
            self.fc1, self.fc2 = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

        def forward(self, x, mask):
            B, T, _ = x.shape
            h = self.ln1(x)
            q, k, v = (p(h).view(B, T, H, D // H).transpose(1, 2) for p in (self.q, self.k, self.v))
            att = ((q @ k.transpose(-1, -2)) / (D // H) ** 0.5).masked_fill(mask[:T, :T], float("-inf")).softmax(-1)
            x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, D))
            return x + self.fc2(F.gelu(self.fc1(self.ln2(x)), approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(VOCAB, D), nn.Embedding(SEQ, D)
            self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
            self.ln_f, self.head = nn.LayerNorm(D), nn.Linear(D, VOCAB, bias=False)
            self.register_buffer("mask", torch.triu(torch.ones(SEQ, SEQ, dtype=torch.bool), 1))

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
            for b in self.blocks:
                x = b(x, self.mask)
            return self.head(self.ln_f(x))

    torch.manual_seed(0)
    return GPT()


def torch_worker(args):
    """PyTorch's side: 1 process, or 2 ranks under torch DDP (gloo), rank and size from mpi4py."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    rank, world = 0, 1
    model = torch_gpt()
    train = model
    if args.distributed:
        from mpi4py import MPI
        rank, world = MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()
        import torch.distributed as tdist
        tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank, world_size=world)
        train = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = np.random.default_rng(0).integers(0, VOCAB, (BATCH, SEQ + 1))
    rows = np.array_split(np.arange(BATCH), world)[rank]
    x, y = torch.tensor(data[rows, :-1]), torch.tensor(data[rows, 1:])
    times = []
    for i in range(args.warmup + args.steps):
        if args.distributed:
            tdist.barrier()
        start = time.perf_counter()
        loss = F.cross_entropy(train(x).reshape(-1, VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    step = float(np.median(times))
    if args.distributed:
        steps = [torch.zeros(1) for _ in range(world)]
        tdist.all_gather(steps, torch.tensor([step]))
        step = max(float(s) for s in steps)
        tdist.destroy_process_group()
    if rank == 0:
        print("RESULT " + json.dumps({"step": step, "comm": 0.0, "wait": 0.0}), flush=True)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(kind, steps, warmup):
    from tinytorch.distributed.launch import mpiexec_command
    script = os.path.abspath(__file__)
    flags = ["--worker", "--steps", str(steps), "--warmup", str(warmup)]
    env = dict(os.environ)
    if kind == "1x2":
        cmd, env["OPENBLAS_NUM_THREADS"] = [sys.executable, script, *flags, "--threads", "2"], "2"
    elif kind == "1x1":
        cmd, env["OPENBLAS_NUM_THREADS"] = [sys.executable, script, *flags, "--threads", "1"], "1"
    elif kind == "2x1":
        cmd = mpiexec_command(2, [script, *flags, "--threads", "1", "--distributed"])
        env["OPENBLAS_NUM_THREADS"] = "1"
    elif kind == "torch 1x1":
        cmd = [sys.executable, script, *flags, "--threads", "1", "--torch"]
    else:
        cmd = mpiexec_command(2, [script, *flags, "--threads", "1", "--torch", "--distributed",
                                  "--port", str(free_port())])
        env["GLOO_SOCKET_IFNAME"] = "lo"
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"bench_distributed: {' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per run (median taken)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--torch", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return torch_worker(args) if args.torch else worker(args)
    from tinytorch.distributed.launch import mpi_unavailable_reason
    reason = mpi_unavailable_reason()
    if reason:
        print(f"bench_distributed: skipped, {reason}")
        return
    print(f"medium GPT (vocab {VOCAB}, embed {EMBED}, {LAYERS} layers, {HEADS} heads, seq {SEQ}), global batch "
          f"{BATCH}; {args.rounds} interleaved rounds x {args.steps} timed steps; load: {os.getloadavg()[0]:.2f} "
          f"(1-min average) on {os.cpu_count()} cores", flush=True)
    kinds = ["1x2", "1x1", "2x1"]
    try:
        import torch  # noqa: F401
        kinds += ["torch 1x1", "torch 2x1"]
    except ImportError:
        print("  (torch is not installed: no PyTorch rows; pip install torch==2.13.0 for them)")
    rounds = {k: [] for k in kinds}
    for r in range(args.rounds):
        for k in kinds:
            rounds[k].append(run(k, args.steps, args.warmup))
        print(f"  round {r + 1}: " + ", ".join(f"{k} {1 / rounds[k][-1]['step']:.2f} steps/s" for k in kinds),
              flush=True)
    med = {k: float(np.median([1 / x["step"] for x in rounds[k]])) for k in kinds}
    comm = float(np.median([x["comm"] / x["step"] for x in rounds["2x1"]]))
    wait = float(np.median([x["wait"] / x["step"] for x in rounds["2x1"]]))
    names = {"1x2": "1 process x 2 threads", "1x1": "1 process x 1 thread", "2x1": "2 ranks x 1 thread (MPI)",
             "torch 1x1": "PyTorch 1 process x 1 thread", "torch 2x1": "PyTorch 2 ranks x 1 thread (DDP)"}
    print(f"\n{'run':<34} {'steps/s':>8} {'vs its 1x1':>10}")
    for k in kinds:
        base = med["torch 1x1"] if k.startswith("torch") else med["1x1"]
        print(f"{names[k]:<34} {med[k]:8.2f} {med[k] / base:9.2f}x")
    if "torch 2x1" in med:
        print(f"tinytorch / PyTorch, 2 ranks: {med['2x1'] / med['torch 2x1']:.2f}x; 1 thread: "
              f"{med['1x1'] / med['torch 1x1']:.2f}x")
    print(f"\n2 ranks: communication {100 * comm:.1f}% of a step (median), of which {100 * wait:.1f}% exposed "
          f"(the final wait); {rounds['2x1'][0]['buckets']} buckets of <= 1 MB")


if __name__ == "__main__":
    main()
