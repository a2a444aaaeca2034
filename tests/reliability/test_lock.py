"""Output-folder locks: a second run is refused naming the holder; a SIGKILLed holder's lock
is recovered at once; the lock file is never taken for an output."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from biomm.errors import OutputLockedError
from biomm.utils import lock as lockmod
from biomm.utils.lock import LOCK_NAME, locks_output, output_lock

_CTX = multiprocessing.get_context("spawn")  # a clean child: no torch state forked


def _hold(folder: str, ready: str, command: str) -> None:
    """Child: take the lock, say so, then sleep until killed."""
    os.setpgrp()
    with output_lock(folder, command=command):
        Path(ready).write_text("locked")
        time.sleep(600)


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock of ``tmp_path / 'out'`` (SIGKILLed at teardown)."""
    out, ready = tmp_path / "out", tmp_path / "ready"
    proc = _CTX.Process(target=_hold, args=(str(out), str(ready), "biomm wsi tile demo.csv"))
    proc.start()
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.is_alive() and time.monotonic() < deadline, "the holder did not start"
        time.sleep(0.05)
    yield out, proc
    if proc.is_alive():
        os.killpg(proc.pid, signal.SIGKILL)
    proc.join()


def test_second_run_is_refused_naming_the_folder_and_holder(holder):
    out, proc = holder
    with pytest.raises(OutputLockedError) as info, output_lock(out):
        pass
    message = str(info.value)
    assert str(out) in message
    assert f"pid {proc.pid} on {socket.gethostname()}" in message
    assert "'biomm wsi tile demo.csv'" in message and "started 20" in message


def test_a_job_function_is_refused_without_touching_the_folder(holder):
    """The library jobs lock too (not only the CLI), before they write anything."""
    import numpy as np
    import pandas as pd

    from biomm.cohort import Cohort
    from biomm.embed.cohort import embed_cohort_items

    class Length:  # a toy report embedder
        modality, embed_dim = "report", 1

        def load(self, ref):
            return ref

        def embed(self, items):
            return np.array([[len(t)] for t in items], np.float32)

        def item_info(self, item):
            return {}

        def describe(self):
            return {"encoder": "length"}

    out, _ = holder
    before = sorted(p.name for p in out.iterdir())
    cohort = Cohort(pd.DataFrame({"patient_id": ["a"], "report": ["Benign."]}))
    with pytest.raises(OutputLockedError, match="another run is writing"):
        embed_cohort_items(cohort, "report", Length(), out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == before


def test_sigkilled_holder_leaves_no_stale_lock(holder):
    out, proc = holder
    os.killpg(proc.pid, signal.SIGKILL)
    proc.join()
    assert (out / LOCK_NAME).exists()  # the killed holder could not remove its file ...
    with output_lock(out, command="rerun") as lock:  # ... but the kernel freed its lock
        assert lock.method == "flock"
        assert json.loads((out / LOCK_NAME).read_text())["command"] == "rerun"
    assert not (out / LOCK_NAME).exists()


def test_lock_file_is_not_an_output(tmp_path):
    """A killed run's lock file (with stale holder data) does not count as a finished slide."""
    from biomm.wsi.jobs import JobLog, SlideJob, run_slide_jobs

    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": 999999, "host": "elsewhere"}))
    assert lockmod.is_lock_file(out / LOCK_NAME)
    log = JobLog("demo", {})

    @locks_output("out_dir")
    def job(out_dir: Path) -> None:
        run_slide_jobs(
            [SlideJob(Path("a.svs"), "a")],
            log,
            output_for=lambda j: out_dir / f"{j.name}.h5",
            process=lambda j, s: {"tiles": 1},
        )

    job(out)
    assert log.done == ["a"] and not (out / LOCK_NAME).exists()


def test_nested_locks_in_one_process_do_not_deadlock(tmp_path):
    """A pipeline holds its run folder while a step locks a sub-folder (or the same one)."""
    with output_lock(tmp_path) as run, output_lock(tmp_path / "steps" / "a") as step:
        with output_lock(tmp_path) as again:
            assert again is run and run.depth == 2
        assert step.path.parent == tmp_path / "steps" / "a"
    assert not list(tmp_path.rglob(".*lock*"))


def test_fallback_without_flock_breaks_only_provably_stale_locks(tmp_path, monkeypatch):
    """Where flock fails (some NFS/FUSE), an O_EXCL file with a pid-liveness check is used."""
    monkeypatch.setattr(lockmod, "fcntl", None)
    excl = tmp_path / (LOCK_NAME + lockmod.EXCL_SUFFIX)
    dead = _CTX.Process(target=time.sleep, args=(0,))
    dead.start()
    dead.join()  # a pid that no longer runs
    host = socket.gethostname()
    excl.write_text(json.dumps({"pid": dead.pid, "host": host, "command": "old"}))
    with output_lock(tmp_path, command="new") as lock:  # stale on this host: broken
        assert lock.method == "exclusive-file"
        assert json.loads(excl.read_text())["command"] == "new"
        with pytest.raises(OutputLockedError, match="new"):
            _other_process_view(tmp_path)
    assert not excl.exists()
    excl.write_text(json.dumps({"pid": 1, "host": "another-host", "command": "far"}))
    with pytest.raises(OutputLockedError, match=f"delete {excl}"), output_lock(tmp_path):
        pass  # another host's lock is never broken automatically


def _other_process_view(folder: Path) -> None:
    """Try the lock as if from another process (forget this process's re-entrant hold)."""
    held = dict(lockmod._held)
    lockmod._held.clear()
    try:
        with output_lock(folder):
            pass
    finally:
        lockmod._held.update(held)


def test_two_jobs_cannot_interleave(holder):
    """A second `biomm` job on a locked folder stops before writing: exit 2, the holder named."""
    from typer.testing import CliRunner

    from biomm.cli.main import app

    out, proc = holder
    slide = Path(__file__).parents[1] / "data" / "wsi" / "CMU-1-Small-Region.svs"
    result = CliRunner().invoke(
        app, ["wsi", "tile", str(slide), "--out", str(out), "--no-progress"]
    )
    assert result.exit_code == 2, result.output
    assert "another run is writing" in result.output and f"pid {proc.pid}" in result.output
    assert not (out / "coords").exists() and not (out / "summary.json").exists()
