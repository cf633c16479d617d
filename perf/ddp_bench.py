#!/usr/bin/env python3
"""DDP step time on torc against gloo, in one run, on this machine.

usage: PYTHONPATH=build/python /usr/bin/python3 perf/ddp_bench.py [-n RANKS] [--steps N] [--rounds R]

Starts RANKS processes (default 2). Each builds one model with about 25 MB of float32 gradients
(three linear layers, 6.3M parameters) and trains it under DistributedDataParallel twice, once
over a gloo group and once over a torc group, alternating in rounds so that both see the same
machine. A step is forward, backward (DDP all-reduces the gradients in 25 MB buckets, as it
does by default), and the SGD update. Prints the median step time of each backend per round,
the medians over all steps, and torc's speedup; also the all-reduce of the whole 25 MB alone.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore", category=UserWarning)


def spawn(args):
    with tempfile.TemporaryDirectory(prefix="torc_ddp_") as tmp:
        env = dict(os.environ, WORLD_SIZE=str(args.n), TORC_TEST_INIT="file://" + os.path.join(tmp, "rdv"))
        procs = [subprocess.Popen([sys.executable, __file__, *sys.argv[1:]], env=dict(env, RANK=str(r)))
                 for r in range(args.n)]
        return max(p.wait() for p in procs)


def timed_steps(ddp, opt, x, y, steps, group):
    import torch
    import torch.distributed as dist
    times = []
    for _ in range(steps):
        dist.barrier(group=group)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        loss = ((ddp(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times


def worker(args):
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    from torch.nn.parallel import DistributedDataParallel as DDP

    import torc_torch  # noqa: F401

    torch.set_num_threads(1)  # ranks share the machine's cores
    rank, p = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", init_method=os.environ["TORC_TEST_INIT"], rank=rank, world_size=p)
    groups = {"gloo": dist.group.WORLD, "torc": dist.new_group(backend="torc")}

    def model():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(1024, 2048), nn.ReLU(), nn.Linear(2048, 1536), nn.ReLU(),
                             nn.Linear(1536, 1024))

    params = sum(t.numel() for t in model().parameters())
    ddps = {}
    for name, g in groups.items():
        m = model()
        ddps[name] = (DDP(m, process_group=g), torch.optim.SGD(m.parameters(), lr=1e-3))
    torch.manual_seed(rank)
    x, y = torch.randn(args.batch, 1024), torch.randn(args.batch, 1024)

    for name in groups:  # warm-up
        timed_steps(*ddps[name], x, y, 2, groups[name])
    per_round = {name: [] for name in groups}
    all_steps = {name: [] for name in groups}
    for r in range(args.rounds):
        order = list(groups) if r % 2 == 0 else list(reversed(list(groups)))
        for name in order:
            t = timed_steps(*ddps[name], x, y, args.steps, groups[name])
            # the slowest rank's time is the step's time
            tt = torch.tensor(t, dtype=torch.float64)
            dist.all_reduce(tt, op=dist.ReduceOp.MAX, group=groups["gloo"])
            per_round[name].append(statistics.median(tt.tolist()))
            all_steps[name].extend(tt.tolist())

    # the gradient all-reduce alone: one flat 25 MB float32 tensor, in place
    flat = torch.randn(params)
    alone = {}
    for name, g in groups.items():
        ts = []
        for _ in range(args.steps):
            dist.barrier(group=g)
            t0 = time.perf_counter()
            dist.all_reduce(flat, group=g)
            ts.append(time.perf_counter() - t0)
        tt = torch.tensor(ts, dtype=torch.float64)
        dist.all_reduce(tt, op=dist.ReduceOp.MAX, group=groups["gloo"])
        alone[name] = statistics.median(tt.tolist())

    if rank == 0:
        mb = params * 4 / 1e6
        print(f"# DDP on p = {p} ranks, {params} parameters ({mb:.1f} MB of float32 gradients), batch {args.batch}, "
              f"{args.rounds} rounds of {args.steps} steps, torch {torch.__version__}")
        print("# round   gloo step (ms)   torc step (ms)   gloo/torc")
        for r in range(args.rounds):
            g, t = per_round["gloo"][r] * 1e3, per_round["torc"][r] * 1e3
            print(f"  {r:5d}   {g:14.2f}   {t:14.2f}   {g / t:9.2f}")
        g, t = statistics.median(all_steps["gloo"]) * 1e3, statistics.median(all_steps["torc"]) * 1e3
        print(f"  median  {g:13.2f}   {t:14.2f}   {g / t:9.2f}")
        ga, ta = alone["gloo"] * 1e3, alone["torc"] * 1e3
        print(f"# all-reduce of the {mb:.1f} MB alone: gloo {ga:.2f} ms, torc {ta:.2f} ms ({ga / ta:.2f}x)")
    dist.destroy_process_group()
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args()
    if "RANK" not in os.environ:
        return spawn(args)
    return worker(args)


if __name__ == "__main__":
    sys.exit(main())
