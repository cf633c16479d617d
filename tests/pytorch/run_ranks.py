#!/usr/bin/env python3
"""Runs a torch.distributed worker as N processes on this machine and fails if any rank does.

usage: run_ranks.py [--require] [--timeout S] -n N worker.py [args...]

Each rank gets RANK, WORLD_SIZE and TORC_TEST_INIT (a file:// rendezvous of its own, so tests
may run side by side). Exits 77 (ctest's skip code) with the reason when torch or torc_torch is
not installed, unless --require (the build made the backend: then that is a failure). The first
rank to fail, or the deadline, ends the job: every rank's process group is killed.
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=500, help="seconds for the whole job")
    ap.add_argument("--require", action="store_true", help="the backend must import")
    ap.add_argument("worker")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    try:
        import torch  # noqa: F401
        import torc_torch  # noqa: F401
    except ImportError as e:
        missing = isinstance(e, ModuleNotFoundError) and e.name in ("torch", "torc_torch")
        if a.require or not missing:
            print(f"FAILED: the PyTorch backend does not import: {e!r}", flush=True)
            return 1
        print(f"SKIPPED: the PyTorch backend is not available ({e}); scripts/setup.sh --pytorch installs "
              "python3-torch, libtorch-dev and pybind11-dev", flush=True)
        return 77
    with tempfile.TemporaryDirectory(prefix="torc_pt_") as tmp:
        env = dict(os.environ, WORLD_SIZE=str(a.n), TORC_TEST_INIT="file://" + os.path.join(tmp, "rendezvous"))
        procs = [subprocess.Popen([sys.executable, a.worker, *a.args], env=dict(env, RANK=str(r)),
                                  start_new_session=True) for r in range(a.n)]

        def kill_all():
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
            for p in procs:
                p.wait()

        deadline = time.monotonic() + a.timeout
        while True:
            codes = [p.poll() for p in procs]
            bad = [(r, c) for r, c in enumerate(codes) if c not in (None, 0)]
            if bad:
                kill_all()
                print("failed ranks (rank, exit code):", bad, flush=True)
                return 1
            if all(c == 0 for c in codes):
                return 0
            if time.monotonic() > deadline:
                kill_all()
                print(f"timed out after {a.timeout} s; still running: "
                      f"{[r for r, c in enumerate(codes) if c is None]}", flush=True)
                return 1
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
