"""``ecg convert`` on a Dask cluster: the same store bytes as a local run, failures collected."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biomm.demo.synthetic import synthetic_ecg, write_wfdb
from biomm.ecg.store import ECGStore, convert_ecgs
from biomm.errors import ConfigError, MissingDependencyError

distributed = pytest.importorskip("distributed")

STORE_FILES = (
    "store.json",
    "signals.npy",
    "present.npy",
    "status.npy",
    "index.csv",
    "failures.csv",
)


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes, shared by the tests of this module."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Five readable records, a malformed header and a truncated signal file."""
    folder = tmp_path_factory.mktemp("ecg")
    rng = np.random.default_rng(1)
    paths = []
    for i in range(5):
        write_wfdb(folder / f"r{i}", synthetic_ecg(rng, 250, 8.0, 55 + 7 * i, 0.0), 250, [])
        paths.append(folder / f"r{i}")
    (folder / "bad.hea").write_text("bad 12 nonsense\n")
    (folder / "trunc.hea").write_text((folder / "r0.hea").read_text().replace("r0", "trunc"))
    data = (folder / "r0.dat").read_bytes()
    (folder / "trunc.dat").write_bytes(data[: len(data) // 3])
    paths[2:2] = [folder / "bad", folder / "trunc"]  # failures in the middle of a chunk
    return [(p.name, p, f"P{k}") for k, p in enumerate(paths)]


def _chunk_tasks_done(cluster) -> int:
    """``read_chunk`` tasks the cluster's scheduler has completed so far."""
    prefix = cluster.scheduler.task_prefixes.get("read_chunk")
    return 0 if prefix is None else int(prefix.state_counts["memory"])


def test_dask_store_is_byte_identical_and_failures_are_collected(tmp_path, records, cluster):
    local = convert_ecgs(records, tmp_path / "local", "merl", progress=False)
    before = _chunk_tasks_done(cluster)
    summary = convert_ecgs(
        records,
        tmp_path / "dask",
        "merl",
        progress=False,
        chunk_size=2,  # four tasks over two workers
        scheduler=cluster.scheduler_address,
    )
    assert _chunk_tasks_done(cluster) - before == 4  # the records were read on the cluster
    assert (summary.done, summary.failed) == (local.done, local.failed) == (5, 2)
    for name in STORE_FILES:
        a, b = (tmp_path / "local" / name).read_bytes(), (tmp_path / "dask" / name).read_bytes()
        assert a == b, name
    failures = pd.read_csv(tmp_path / "dask" / "failures.csv")
    assert failures["record_id"].tolist() == ["bad", "trunc"]
    assert failures["error"].str.contains("trunc").iloc[1]  # the reason names the file
    store = ECGStore(tmp_path / "dask")
    assert store.ok.tolist() == [True, True, False, False, True, True, True]
    assert float(np.abs(store.get(4)[0]).max()) > 0  # rows really written by the driver
    # the log holds one outcome per record, written by the driver after the rows
    assert len((tmp_path / "dask" / "log.jsonl").read_text().splitlines()) == 7
    again = convert_ecgs(
        records, tmp_path / "dask", "merl", progress=False, scheduler=cluster.scheduler_address
    )
    assert (again.skipped, again.attempted) == (7, 0)  # resumed: nothing redone


def test_a_failing_task_fails_its_records_and_the_run_goes_on(records, cluster):
    from biomm.ecg.distributed import convert_chunks

    payloads = [[(0, str(records[0][1]))], [(1, str(records[1][1]))]]
    good = {"dtype": "float32", "profile": "merl", "read_kwargs": {}}
    broken = good | {"read_kwargs": {"no_such_option": 1}}  # raises inside the reader
    with distributed.Client(cluster) as client:
        ok = [r for chunk in convert_chunks(client, payloads, good) for r in chunk]
        # a profile that does not exist fails the task itself (outside the per-record guard)
        lost = [
            r
            for chunk in convert_chunks(client, payloads, good | {"profile": "nope"})
            for r in chunk
        ]
        odd = [r for chunk in convert_chunks(client, payloads, broken) for r in chunk]
    assert sorted(r["index"] for r in ok) == [0, 1] and all(r["ok"] for r in ok)
    assert ok[0]["signal"].shape == (12, 5000) and ok[0]["signal"].dtype == np.float32
    assert sorted(r["index"] for r in lost) == [0, 1] and not any(r["ok"] for r in lost)
    assert all("the Dask task failed" in r["error"] and "r" in r["error"] for r in lost)
    assert not any(r["ok"] for r in odd) and all("error" in r for r in odd)


def test_without_distributed_the_error_names_the_extra(tmp_path, records, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails
    with pytest.raises(MissingDependencyError, match="distributed"):
        convert_ecgs(records, tmp_path / "s", "merl", progress=False, scheduler="local")
    assert not (tmp_path / "s" / "store.json").exists()  # nothing written


def test_an_unreachable_scheduler_is_a_config_error(tmp_path, records):
    import dask

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}),
        pytest.raises(ConfigError, match=r"cannot reach the Dask scheduler tcp://127\.0\.0\.1:1"),
    ):
        convert_ecgs(records, tmp_path / "s", "merl", progress=False, scheduler="tcp://127.0.0.1:1")
    rerun = convert_ecgs(records, tmp_path / "s", "merl", progress=False)  # resumable
    assert rerun.done == 5


def test_cli_convert_with_a_scheduler(tmp_path, records, cluster):
    from biomm.cli.ecg import ecg_app

    manifest = tmp_path / "cohort.csv"
    pd.DataFrame(
        {"patient_id": [r[2] for r in records], "ecg": [str(r[1]) + ".hea" for r in records]}
    ).to_csv(manifest, index=False)
    runner = CliRunner()
    bad = runner.invoke(ecg_app, ["convert", str(manifest), "-o", str(tmp_path / "x"),
                                  "--scheduler", "dask"])  # fmt: skip
    assert bad.exit_code == 2 and "tcp://" in bad.output
    result = runner.invoke(
        ecg_app,
        ["convert", str(manifest), "-o", str(tmp_path / "store"), "--no-progress",
         "--scheduler", cluster.scheduler_address],
    )  # fmt: skip
    assert result.exit_code == 1, result.output  # two records failed, listed
    assert "5 stored, 2 failed" in result.output
    assert ECGStore(tmp_path / "store").ok.sum() == 5
