"""Slow pipeline runs: wsi.embed on a Dask LocalCluster, and the whole demo pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from biomm.demo.synthetic import DemoCohortSpec, make_demo_cohort
from biomm.pipeline import load_pipeline, run_pipeline
from tests.pipeline.conftest import write_yaml

ROOT = Path(__file__).parents[2]
WSI = {"mpp": 4.0, "patch_size": 32, "min_tissue": 0.3, "workers": 0, "device": "cpu"}


@pytest.mark.slow
def test_wsi_embed_on_a_local_dask_cluster_matches_one_process(tiny_cohort, tmp_path):
    pytest.importorskip("distributed")
    data = {
        "name": "dask",
        "cohort": str(tiny_cohort / "cohort.csv"),
        "schema": str(tiny_cohort / "schema.yaml"),
        "steps": {"wsi": {"uses": "wsi.embed", "with": WSI}},
    }
    pipeline = load_pipeline(write_yaml(tmp_path / "p.yaml", data))
    local = run_pipeline(pipeline, tmp_path / "local", progress=False, threads=1)
    dask = run_pipeline(
        pipeline, tmp_path / "dask", scheduler="local", dask_workers=2, progress=False, threads=1
    )
    assert dask.steps[0].status == "ran" and dask.steps[0].items_ok == 7
    assert dask.steps[0].key == local.steps[0].key  # the scheduler is not part of the key
    summary = json.loads((tmp_path / "dask/steps/wsi/summary.json").read_text())
    assert summary["parameters"]["scheduler"] == "local"
    for path in sorted((tmp_path / "local/steps/wsi/features").glob("*.h5")):
        with h5py.File(path) as a, h5py.File(tmp_path / "dask/steps/wsi/features" / path.name) as b:
            np.testing.assert_allclose(a["features"][:], b["features"][:], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_demo_pipeline_runs_end_to_end(tmp_path):
    cohort = make_demo_cohort(tmp_path / "demo", DemoCohortSpec(n_patients=40, slide_size=512))
    overrides = [f"steps.wsi.with.{k}={v}" for k, v in WSI.items()]
    overrides += [
        "steps.ecg_pretrain.with.epochs=1",
        "steps.ehr.with.options.pretrain_epochs=2",
        "steps.train.with.training.epochs=3",
        "steps.train.with.bootstrap=10",
    ]
    pipeline = load_pipeline(
        ROOT / "pipelines/demo.yaml",
        cohort=cohort / "cohort.csv",
        schema=cohort / "schema.yaml",
        overrides=overrides,
    )
    summary = run_pipeline(pipeline, tmp_path / "run", progress=False, threads=1)
    assert {s.status for s in summary.steps} == {"ran"}, summary.table()
    assert summary.exit_code() == 0
    metrics = {s.step: s.metrics for s in summary.steps}
    assert "high_risk_auroc" in metrics["train"] and "survival_c_index" in metrics["train"]
    html = (tmp_path / "run/steps/report/report.html").read_text()
    assert "Zero-shot: ecg_zeroshot" in html and "Pipeline steps" in html
    again = run_pipeline(pipeline, tmp_path / "run", progress=False, threads=1)
    assert {s.status for s in again.steps} == {"cached"}
