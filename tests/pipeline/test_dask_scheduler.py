"""A pipeline pointed at an already running Dask scheduler (tcp://…), as on a cluster."""

from __future__ import annotations

import json
import logging

import h5py
import pytest

from biomm.pipeline import load_pipeline, run_pipeline
from tests.pipeline.conftest import write_yaml

WSI = {"mpp": 4.0, "patch_size": 32, "min_tissue": 0.3, "workers": 0, "device": "cpu"}


def test_wsi_embed_through_a_running_scheduler_address(tiny_cohort, tmp_path):
    distributed = pytest.importorskip("distributed")
    data = {
        "name": "cluster",
        "cohort": str(tiny_cohort / "cohort.csv"),
        "schema": str(tiny_cohort / "schema.yaml"),
        "steps": {"wsi": {"uses": "wsi.embed", "with": WSI}},
    }
    pipeline = load_pipeline(write_yaml(tmp_path / "p.yaml", data))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        summary = run_pipeline(
            pipeline,
            tmp_path / "run",
            scheduler=cluster.scheduler_address,
            progress=False,
            threads=1,
        )
        with distributed.Client(cluster) as client:
            workers = client.scheduler_info()["workers"]
    assert summary.exit_code() == 0, summary.table()
    assert summary.steps[0].items_ok == 7 and len(workers) == 2
    info = json.loads((tmp_path / "run/steps/wsi/summary.json").read_text())
    assert info["parameters"]["scheduler"] == cluster.scheduler_address
    for path in (tmp_path / "run/steps/wsi/features").glob("*.h5"):
        with h5py.File(path) as h5:
            assert h5["features"].shape[0] == h5["coords"].shape[0] > 0


def test_ecg_convert_with_scheduler_local_matches_a_local_run(tiny_cohort, tmp_path, caplog):
    pytest.importorskip("distributed")
    data = {
        "name": "ecg",
        "cohort": str(tiny_cohort / "cohort.csv"),
        "schema": str(tiny_cohort / "schema.yaml"),
        "steps": {"convert": {"uses": "ecg.convert", "with": {"profile": "merl"}}},
    }
    pipeline = load_pipeline(write_yaml(tmp_path / "p.yaml", data))
    local = run_pipeline(pipeline, tmp_path / "local", progress=False, threads=1)
    with caplog.at_level(logging.INFO, logger="biomm"):
        dask = run_pipeline(
            pipeline,
            tmp_path / "dask",
            scheduler="local",
            dask_workers=2,
            progress=False,
            threads=1,
        )
    assert dask.exit_code() == local.exit_code() == 0, dask.table()
    assert dask.steps[0].items_ok == local.steps[0].items_ok == 6  # six patients have an ECG
    assert "records read on Dask (local)" in caplog.text
    for name in ("signals.npy", "present.npy", "status.npy", "index.csv", "failures.csv"):
        a = (tmp_path / "local/steps/convert" / name).read_bytes()
        assert a == (tmp_path / "dask/steps/convert" / name).read_bytes(), name
