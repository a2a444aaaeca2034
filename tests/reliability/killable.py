"""Run ``biomm`` commands in their own processes and SIGKILL them: the kill/rerun harness.

Each command runs the real CLI entry point (``biomm.cli.main.main``, what ``python -m biomm``
runs) in a separate process that starts its own process group, so ``os.killpg(SIGKILL)`` ends
it and everything it started (worker pools, Dask workers) at once, with no chance to clean up.

The processes are forked from a ``forkserver`` that imported biomm, torch and h5py once: a
fresh ``python -m biomm`` takes 5-30 s just to import torch on a busy 2-core machine, which
would make every kill land in the imports. A forked process is as real a process as a
``subprocess`` one for what is tested here: it is killed mid-write and leaves its files behind.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["torch", "h5py", "pandas", "biomm.cli.main"])


def _child(args: list[str], cwd: str, log: str) -> None:
    os.setpgrp()  # own process group: killpg reaches whatever this run starts
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(cwd)
    import torch

    torch.set_num_threads(1)
    from biomm.cli.main import main

    sys.argv = ["biomm", *args]
    main()


def start(args: Sequence[str], cwd: Path, log: Path) -> multiprocessing.process.BaseProcess:
    """Start ``biomm ARGS`` in its own process group; output appended to ``log``."""
    proc = _CTX.Process(target=_child, args=([str(a) for a in args], str(cwd), str(log)))
    proc.start()
    return proc


def run(args: Sequence[str], cwd: Path, log: Path, timeout: float = 900) -> tuple[int, float]:
    """Run ``biomm ARGS`` to completion; return its exit code and wall time."""
    begin = time.perf_counter()
    proc = start(args, cwd, log)
    proc.join(timeout)
    if proc.is_alive():
        kill(proc)
        raise TimeoutError(f"biomm {' '.join(map(str, args))} ran over {timeout} s; see {log}")
    assert proc.exitcode is not None
    return proc.exitcode, time.perf_counter() - begin


def kill(proc: multiprocessing.process.BaseProcess) -> None:
    """SIGKILL the process group of ``proc`` and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):  # not yet its own group leader, or gone
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    proc.join()


def run_killed(args: Sequence[str], cwd: Path, log: Path, after: float) -> bool:
    """Start ``biomm ARGS`` and SIGKILL it ``after`` seconds; True if it was still running."""
    proc = start(args, cwd, log)
    proc.join(after)
    if not proc.is_alive():
        return False
    kill(proc)
    return True
