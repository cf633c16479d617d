#!/usr/bin/env python3
"""Every collective of the torc backend against gloo's result, on every rank (run_ranks.py).

One gloo group (the default) and one torc group over the same ranks. Values are small integers
(in every dtype, floats included), so every sum, product, minimum and maximum is exact in any
order and both backends must give the same bits: tensors are compared as raw bytes. gloo has
no bfloat16: its bfloat16 references are computed in float32 and rounded back (exactly). Sizes
include 1, p - 1, p + 1, a prime and one over 64 KiB. Operations gloo lacks (reduce_scatter)
are checked against gloo's all_reduce, sliced. Unsupported calls must raise, naming the call.
"""
import os
import sys
import warnings

import torch
import torch.distributed as dist

import torc_torch  # noqa: F401  (registers the "torc" backend)
from worker_util import expect, finish, raises

warnings.filterwarnings("ignore", category=UserWarning)  # 1.13 deprecation notices

DTYPES = [torch.int8, torch.uint8, torch.int32, torch.int64, torch.float16, torch.bfloat16, torch.float32,
          torch.float64]
OPS = [dist.ReduceOp.SUM, dist.ReduceOp.PRODUCT, dist.ReduceOp.MIN, dist.ReduceOp.MAX]



def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.numpy().tobytes() == b.numpy().tobytes() \
        if a.dtype != torch.bfloat16 else torch.equal(a.view(torch.int16), b.view(torch.int16))


def g(t):
    """A copy of t in a type gloo takes."""
    return t.to(torch.float32) if t.dtype == torch.bfloat16 else t.clone()



def values(rank, n, dtype, op, salt=0):
    """Small integers whose p-fold sums and products stay exact in every dtype."""
    g = torch.Generator().manual_seed(1000 * rank + 7 * n + salt)
    lo, hi = (1, 3) if op == dist.ReduceOp.PRODUCT else (0, 20)
    if dtype in (torch.int8, torch.uint8) and op == dist.ReduceOp.SUM:
        hi = 5
    return torch.randint(lo, hi, (n,), generator=g).to(dtype)


def main():
    rank, p = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo", init_method=os.environ["TORC_TEST_INIT"], rank=rank, world_size=p)
    gloo = dist.group.WORLD
    torc = dist.new_group(backend="torc")
    sizes = sorted({1, max(p - 1, 1), p + 1, 17, 1009, 65537})

    for dtype in DTYPES:
        for n in sizes:
            # all_reduce, every op, in place; the async form through its future.
            for op in OPS:
                x = values(rank, n, dtype, op)
                a, b = g(x), x.clone()
                dist.all_reduce(a, op=op, group=gloo)
                a = a.to(dtype)
                work = dist.all_reduce(b, op=op, group=torc, async_op=True)
                work.wait()
                expect(same(a, b), f"all_reduce {dtype} {op} n={n}")
                expect(same(work.get_future().value()[0], a), f"all_reduce future {dtype} {op} n={n}")
            # broadcast from every root
            for root in range(p):
                b = values(rank, n, dtype, dist.ReduceOp.SUM, salt=root)
                a = g(b)
                dist.broadcast(a, root, group=gloo)
                dist.broadcast(b, root, group=torc)
                a = a.to(dtype)
                expect(same(a, b), f"broadcast {dtype} root={root} n={n}")
            # reduce to every root, sum and max: the root's result
            for root in range(p):
                for op in (dist.ReduceOp.SUM, dist.ReduceOp.MAX):
                    x = values(rank, n, dtype, op, salt=root)
                    a, b = g(x), x.clone()
                    dist.reduce(a, root, op=op, group=gloo)
                    dist.reduce(b, root, op=op, group=torc)
                    a = a.to(dtype)
                    if rank == root:
                        expect(same(a, b), f"reduce {dtype} {op} root={root} n={n}")
            # all_gather (list) and _all_gather_base
            x = values(rank, n, dtype, dist.ReduceOp.SUM, salt=3)
            ga = [g(torch.empty(n, dtype=dtype)) for _ in range(p)]
            gb = [torch.full((n,), 99, dtype=dtype) for _ in range(p)]
            dist.all_gather(ga, g(x), group=gloo)
            ga = [t.to(dtype) for t in ga]
            dist.all_gather(gb, x, group=torc)
            expect(all(same(u, v) for u, v in zip(ga, gb)), f"all_gather {dtype} n={n}")
            flat = torch.empty(n * p, dtype=dtype)
            dist._all_gather_base(flat, x, group=torc)
            expect(same(flat, torch.cat(ga)), f"_all_gather_base {dtype} n={n}")
            # reduce_scatter (list) and _reduce_scatter_base, against gloo's all_reduce sliced
            for op in (dist.ReduceOp.SUM, dist.ReduceOp.MIN):
                full = values(rank, n * p, dtype, op, salt=5)
                ref = g(full)
                dist.all_reduce(ref, op=op, group=gloo)
                mine = ref[rank * n:(rank + 1) * n].to(dtype)
                out = torch.full((n,), 77, dtype=dtype)
                dist.reduce_scatter(out, list(full.chunk(p)), op=op, group=torc)
                expect(same(out, mine), f"reduce_scatter {dtype} {op} n={n}")
                out2 = torch.full((n,), 77, dtype=dtype)
                dist._reduce_scatter_base(out2, full, op=op, group=torc)
                expect(same(out2, mine), f"_reduce_scatter_base {dtype} {op} n={n}")

    # all_reduce_coalesced (one dtype per call, as torch.distributed requires): sum (fused for
    # floating point) and max (one by one), several sizes, an empty tensor among them
    for dtype in DTYPES:
        for op in (dist.ReduceOp.SUM, dist.ReduceOp.MAX):
            tensors = [values(rank, n, dtype, op, salt=11) for n in (1, p + 1, 0, 1009, 70001)]
            ref = [g(t) for t in tensors]
            for t in ref:
                if t.numel():
                    dist.all_reduce(t, op=op, group=gloo)
            ref = [r.to(dtype) for r in ref]
            dist.all_reduce_coalesced(tensors, op=op, group=torc)
            expect(all(same(u, v) for u, v in zip(ref, tensors)), f"all_reduce_coalesced {dtype} {op}")

    # AVG (gloo has none): the float sum divided by p
    x = values(rank, 1009, torch.float32, dist.ReduceOp.SUM, salt=13) * 4
    ref = x.clone()
    dist.all_reduce(ref, group=gloo)
    dist.all_reduce(x, op=dist.ReduceOp.AVG, group=torc)
    expect(same(x, ref / p), "all_reduce AVG float32")

    # send / recv around the ring (even ranks send first, so blocking calls cannot deadlock)
    if p > 1:
        n = 4099
        right, left = (rank + 1) % p, (rank - 1) % p
        mine = values(rank, n, torch.float32, dist.ReduceOp.SUM, salt=17)
        got = torch.zeros(n)
        if rank % 2 == 0:
            dist.send(mine, right, group=torc)
            dist.recv(got, left, group=torc)
        else:
            dist.recv(got, left, group=torc)
            dist.send(mine, right, group=torc)
        expect(same(got, values(left, n, torch.float32, dist.ReduceOp.SUM, salt=17)), "send/recv ring")

    dist.barrier(group=torc)

    # unsupported calls and arguments raise, naming the operation
    raises(lambda: dist.all_to_all_single(torch.zeros(p), torch.zeros(p), group=torc), "torc", "alltoall")
    raises(lambda: dist.gather(torch.zeros(3), [torch.zeros(3) for _ in range(p)] if rank == 0 else None, 0,
                               group=torc), "torc", "gather")
    raises(lambda: dist.scatter(torch.zeros(3), [torch.zeros(3) for _ in range(p)] if rank == 0 else None, 0,
                                group=torc), "torc", "scatter")
    raises(lambda: dist.all_reduce(torch.zeros(3, dtype=torch.bool), group=torc), "torc", "allreduce", "bool")
    raises(lambda: dist.all_reduce(torch.zeros(3, dtype=torch.int32), op=dist.ReduceOp.BAND, group=torc), "torc",
           "allreduce", "reduction")
    raises(lambda: dist.all_reduce(torch.zeros(4, 4).t(), group=torc), "torc", "contiguous")
    # the group still works after the refusals; complex tensors travel as float pairs
    y = torch.ones(5)
    dist.all_reduce(y, group=torc)
    expect(same(y, torch.full((5,), float(p))), "all_reduce after refusals")
    z = torch.full((3,), complex(1, rank), dtype=torch.complex64)
    dist.all_reduce(z, group=torc)
    expect(torch.equal(z, torch.full((3,), complex(p, p * (p - 1) / 2), dtype=torch.complex64)), "complex all_reduce")

    return finish(rank, f"p={p}: every collective of the torc backend equals gloo's")


if __name__ == "__main__":
    sys.exit(main())
