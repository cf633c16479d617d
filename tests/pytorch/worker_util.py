"""What the torch.distributed test workers share: failure collection and the final report."""
import torch.distributed as dist

failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


def raises(fn, *words):
    """fn must raise RuntimeError whose message holds every word."""
    try:
        fn()
    except RuntimeError as e:
        expect(all(w in str(e) for w in words), f"error message {str(e)!r} lacks {words}")
        return
    failures.append(f"no error for {words}")


def finish(rank, success_line):
    """Destroys the process groups, prints the failures (or success_line on rank 0), and returns
    the exit code."""
    dist.destroy_process_group()
    for f in failures[:20]:
        print(f"rank {rank}: FAIL {f}", flush=True)
    if rank == 0 and not failures:
        print(success_line, flush=True)
    return 1 if failures else 0
