#!/usr/bin/env python3
"""torc as the default process group, a subset group whose ranks differ from the global ones,
several torc groups alive at once, dtypes moved as bytes, fused buckets spanning several
buckets, and refusals (tags, sparse tensors). Run by run_ranks.py with 4 ranks.
"""
import os
import sys
import warnings

import torch
import torch.distributed as dist

import torc_torch  # noqa: F401  (registers the "torc" backend)
from worker_util import expect, finish, raises

warnings.filterwarnings("ignore", category=UserWarning)




def main():
    rank, p = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("torc", init_method=os.environ["TORC_TEST_INIT"], rank=rank, world_size=p)
    expect(dist.get_backend() == "torc", f"default backend {dist.get_backend()}")

    x = torch.full((1000,), float(rank + 1))
    dist.all_reduce(x)
    expect(torch.equal(x, torch.full((1000,), float(p * (p + 1) // 2))), "default-group all_reduce")

    # A subset (global ranks 1..p-1): group rank = global rank - 1; roots are global ranks.
    members = list(range(1, p))
    sub = dist.new_group(ranks=members, backend="torc")
    full = dist.new_group(backend="torc")  # a third torc communicator, used interleaved
    if rank in members:
        expect(dist.get_rank(sub) == rank - 1, f"subset rank {dist.get_rank(sub)}")
        y = torch.full((77,), float(rank))
        dist.all_reduce(y, group=sub)
        expect(torch.equal(y, torch.full((77,), float(sum(members)))), "subset all_reduce")
        b = torch.full((5,), float(rank))
        dist.broadcast(b, src=p - 1, group=sub)  # global rank p-1 is the subset's last
        expect(torch.equal(b, torch.full((5,), float(p - 1))), "subset broadcast from a global rank")
        gathered = [torch.zeros(3) for _ in members]
        dist.all_gather(gathered, torch.full((3,), float(rank)), group=sub)
        expect(all(torch.equal(g, torch.full((3,), float(m))) for g, m in zip(gathered, members)),
               "subset all_gather in group order")
    z = torch.full((9,), 2.0)
    dist.all_reduce(z, op=dist.ReduceOp.PRODUCT, group=full)
    expect(torch.equal(z, torch.full((9,), 2.0 ** p)), "second full group")

    # dtypes torc has no type for travel as bytes in the calls that only move data
    for dtype in (torch.int16, torch.bool, torch.complex64, torch.float64):
        src = (torch.arange(11) * 3 - 7).to(dtype)
        t = src.clone() if rank == 2 else torch.zeros(11, dtype=dtype)
        dist.broadcast(t, src=2)
        expect(torch.equal(t, src), f"broadcast {dtype}")
        outs = [torch.zeros(11, dtype=dtype) for _ in range(p)]
        dist.all_gather(outs, (src + rank).to(dtype) if dtype != torch.bool else src, group=full)
        want = [(src + r).to(dtype) if dtype != torch.bool else src for r in range(p)]
        expect(all(torch.equal(o, w) for o, w in zip(outs, want)), f"all_gather {dtype}")
    if p > 1:
        t = torch.arange(6, dtype=torch.int16) * (rank + 1)
        if rank == 0:
            dist.send(t, 1)
        elif rank == 1:
            dist.recv(t, 0)
            expect(torch.equal(t, torch.arange(6, dtype=torch.int16)), "int16 send/recv")

    # all_reduce_coalesced whose tensors span several 25 MiB buckets, against one by one
    ts = [torch.randint(0, 9, (n,), generator=torch.Generator().manual_seed(rank * 10 + i)).float()
          for i, n in enumerate((4_000_003, 1, 5_000_011, 0, 3_000_017))]
    ref = [t.clone() for t in ts]
    for t in ref:
        dist.all_reduce(t)
    dist.all_reduce_coalesced(ts)
    expect(all(torch.equal(a, b) for a, b in zip(ts, ref)), "all_reduce_coalesced across buckets")

    raises(lambda: dist.send(torch.zeros(3), (rank + 1) % p, tag=5), "torc", "tags")
    raises(lambda: dist.all_reduce(torch.zeros(4).to_sparse()), "torc", "dense")
    raises(lambda: dist.all_reduce(torch.zeros(3, dtype=torch.int16)), "torc", "allreduce", "Short")
    dist.barrier()

    return finish(rank, f"p={p}: default group, subset and several torc groups work")


if __name__ == "__main__":
    sys.exit(main())
