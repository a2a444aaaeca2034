"""The fusion issue's composition from one config: ABMIL slides, ResNet1d ECGs, a tabular
transformer over the EHR, text embeddings of reports — with MultiModN and with MM-Lego, a
survival and a classification head, metrics per availability pattern."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from biomm.demo import DemoCohortSpec, make_demo_cohort
from biomm.pipeline.runner import run_pipeline
from biomm.pipeline.spec import load_pipeline

PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "multimodal_survival.yaml"


def test_multimodal_survival_pipeline_composes_every_encoder(tmp_path):
    folder = make_demo_cohort(tmp_path / "demo", DemoCohortSpec(n_patients=30, slide_size=512))
    fast = [
        f"steps.{model}.with.training.{key}={value}"
        for model in ("multimodn", "lego")
        for key, value in (("epochs", 3), ("patience", 1))
    ]
    pipeline = load_pipeline(
        PIPELINE,
        overrides=[*fast, "steps.wsi.with.mpp=2.0", "steps.wsi.with.patch_size=112"],
        cohort=folder / "cohort.csv",
        schema=folder / "schema.yaml",
    )
    summary = run_pipeline(
        pipeline, tmp_path / "run", progress=False, echo=lambda _: None, threads=1
    )
    assert summary.exit_code() == 0, summary.table()
    for model, fusion in (("multimodn", "multimodn"), ("lego", "lego_fuse")):
        step = tmp_path / "run/steps" / model
        spec = json.loads((step / "model/config.json").read_text())["model"]
        assert spec["fusion"]["name"] == fusion
        encoders = {m: e["name"] for m, e in spec["encoders"].items()}
        assert encoders == {"wsi": "abmil", "ecg": "resnet1d18", "ehr": "tabular_transformer"}
        assert spec["embed_dims"]["report"] == 384  # MiniLM report embeddings
        assert spec["preprocessors"]["ehr"]["state"]["n_train"] > 0
        metrics = pd.read_csv(step / "metrics.csv")
        assert {"survival", "high_risk"} == set(metrics["task"])
        assert "all" in set(metrics["pattern"]) and metrics["pattern"].nunique() > 2
    assert (tmp_path / "run/steps/report/report.html").is_file()
