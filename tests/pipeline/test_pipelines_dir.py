"""The shipped pipelines validate, and docs/pipelines.md carries the current step reference."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from biomm.pipeline import PIPELINE_STEPS, load_pipeline
from biomm.pipeline.docs import END, START, step_reference, update_page

ROOT = Path(__file__).parents[2]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))


def test_the_planned_pipelines_exist():
    names = {p.stem for p in PIPELINES}
    assert {"demo", "ecg_zeroshot", "wsi_embed", "multimodal_survival"} <= names


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.stem)
def test_shipped_pipeline_validates(path, tiny_cohort):
    text = path.read_text()
    assert text.startswith("#"), "document the pipeline at the top of the file"
    pipeline = load_pipeline(
        path, cohort=tiny_cohort / "cohort.csv", schema=tiny_cohort / "schema.yaml"
    )
    assert pipeline.name == path.stem
    kinds = {step.kind.name for step in pipeline.steps.values()}
    assert kinds <= set(PIPELINE_STEPS.names())


def test_demo_pipeline_covers_every_modality(tiny_cohort):
    pipeline = load_pipeline(
        ROOT / "pipelines/demo.yaml",
        cohort=tiny_cohort / "cohort.csv",
        schema=tiny_cohort / "schema.yaml",
    )
    train = pipeline.steps["train"].params
    assert set(train["modalities"]) == {"wsi", "ecg", "fundus", "report", "ehr"}
    assert {t["head"] for t in train["tasks"].values()} == {"binary", "survival_cox"}
    assert train["fusion"]["name"] == "multimodn"
    assert list(pipeline.steps)[-1] == "report"


@pytest.mark.parametrize("name", PIPELINE_STEPS.names())
def test_step_kind_contract(name):
    from pydantic import BaseModel

    from biomm.pipeline import step_kind

    factory = PIPELINE_STEPS.get(name)
    assert "Examples:" in (factory.__doc__ or ""), f"{name}: document the factory with an example"
    kind = step_kind(name)
    assert kind.name == name and kind.summary
    assert issubclass(kind.params, BaseModel)
    assert kind.params.model_config.get("extra") == "forbid", f"{name}: typos must be errors"
    assert all(isinstance(v, str) for v in kind.outputs.values())


def test_docs_page_has_the_current_step_reference(tmp_path):
    page = ROOT / "docs/pipelines.md"
    text = page.read_text()
    assert START in text and END in text
    copy = tmp_path / "pipelines.md"
    shutil.copy(page, copy)
    assert not update_page(copy), "run: python -m biomm.pipeline.docs docs/pipelines.md"
    for name in PIPELINE_STEPS.names():
        assert f"### `{name}`" in step_reference()
