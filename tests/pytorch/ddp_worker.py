#!/usr/bin/env python3
"""DDP training of a small model on CPU, once over gloo and once over torc, from the same
initial parameters and the same per-rank data: the losses and final parameters must be equal
bit for bit. Run by run_ranks.py (RANK, WORLD_SIZE, TORC_TEST_INIT).

Why the numbers are dyadic: DDP all-reduces each rank's gradient, and a floating-point sum
depends on the order of its terms, which differs between gloo's ring and torc's algorithms
beyond two ranks. The model is float64 with inputs, targets and initial weights that are small
multiples of powers of two, a power-of-two learning rate, and parameters rounded back to a
grid of 2^-6 after every step (the significant bits of a gradient would otherwise roughly
triple each step and outgrow float64's 53 by the fourth). So every gradient and every sum of
them is exact (about 42 bits at most): any correct all-reduce gives the same bits, and a wrong
one (a lost, doubled or misplaced chunk) does not. Everything else is DDP as users run it.
"""
import os
import sys
import warnings

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP

import torc_torch  # noqa: F401  (registers the "torc" backend)

warnings.filterwarnings("ignore", category=UserWarning)  # 1.13 deprecation notices

STEPS = 5
GRID = 2.0 ** -6  # parameters are kept on this grid after every step


def dyadic(shape, gen, scale_bits, span=3):
    """Integers in [-span, span] times 2^-scale_bits."""
    return torch.randint(-span, span + 1, shape, generator=gen, dtype=torch.int64).double() * 2.0 ** -scale_bits


def make_model():
    gen = torch.Generator().manual_seed(1234)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(dyadic(p.shape, gen, 4))
    return model


def train(model, group, rank):
    ddp = DDP(model, process_group=group)
    opt = torch.optim.SGD(ddp.parameters(), lr=2.0 ** -2)
    gen = torch.Generator().manual_seed(100 + rank)  # different data on every rank
    losses = []
    for _ in range(STEPS):
        x = dyadic((8, 8), gen, 2)
        y = dyadic((8, 4), gen, 1)
        opt.zero_grad()
        loss = ((ddp(x) - y) ** 2).sum() * 2.0 ** -5
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.round(p / GRID) * GRID)
        losses.append(loss.detach().clone())
    return torch.stack(losses), [p.detach().clone() for p in model.parameters()]


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(torch.int64), b.view(torch.int64))


def main():
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", init_method=os.environ["TORC_TEST_INIT"], rank=rank, world_size=world)
    torc = dist.new_group(backend="torc")
    gloo_losses, gloo_params = train(make_model(), dist.group.WORLD, rank)
    torc_losses, torc_params = train(make_model(), torc, rank)

    ok = same_bits(gloo_losses, torc_losses) and all(same_bits(a, b) for a, b in zip(gloo_params, torc_params))
    # Training did something, and the replicas agree across ranks (DDP's contract).
    moved = any(not torch.equal(p, q) for p, q in zip(make_model().parameters(), torc_params))
    flat = torch.cat([p.view(-1) for p in torc_params])
    mine = flat.clone()
    dist.broadcast(flat, 0)
    replicas_agree = torch.equal(flat, mine)
    if rank == 0 or not ok:
        print(f"rank {rank}: p={world} losses gloo {gloo_losses.tolist()} torc {torc_losses.tolist()} "
              f"bits equal {ok} moved {moved} replicas agree {replicas_agree}", flush=True)
    dist.destroy_process_group()
    return 0 if ok and moved and replicas_agree else 1


if __name__ == "__main__":
    sys.exit(main())
