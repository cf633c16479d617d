#!/usr/bin/env python3
"""Runs a torch.distributed worker as N processes on this machine and fails if any rank does.

usage: run_ranks.py -n N worker.py [args...]

Each rank gets RANK, WORLD_SIZE and TORC_TEST_INIT (a file:// rendezvous of its own, so tests
may run side by side). Exit code 77 (ctest's skip code) with the reason when torch or the
torc backend cannot be imported.
"""
import argparse
import os
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("worker")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    try:
        import torch  # noqa: F401
        import torc_torch  # noqa: F401
    except ImportError as e:
        print(f"SKIPPED: the PyTorch backend is not available ({e}); scripts/setup.sh --pytorch installs "
              "python3-torch, libtorch-dev and pybind11-dev", flush=True)
        return 77
    with tempfile.TemporaryDirectory(prefix="torc_pt_") as tmp:
        env = dict(os.environ, WORLD_SIZE=str(a.n), TORC_TEST_INIT="file://" + os.path.join(tmp, "rendezvous"))
        procs = []
        for r in range(a.n):
            procs.append(subprocess.Popen([sys.executable, a.worker, *a.args], env=dict(env, RANK=str(r))))
        failed = []
        for r, p in enumerate(procs):
            try:
                rc = p.wait(timeout=a.timeout)
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                print(f"rank {r} timed out after {a.timeout} s", flush=True)
                return 1
            if rc != 0:
                failed.append((r, rc))
        if failed:
            print("failed ranks (rank, exit code):", failed, flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
