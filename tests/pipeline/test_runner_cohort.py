"""The runner on real steps and a tiny demo cohort: caching, edits, forcing, damaged inputs."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import h5py
import pandas as pd
import pytest

from biomm.pipeline import load_pipeline, run_pipeline
from tests.pipeline.conftest import write_yaml

PIPELINE = {
    "name": "tiny",
    "cohort": "cohort/cohort.csv",
    "schema": "cohort/schema.yaml",
    "split": {"ratios": [0.5, 0.25, 0.25], "seed": 0},
    "steps": {
        "validate": {"uses": "cohort.validate"},
        "wsi": {
            "uses": "wsi.embed",
            "with": {
                "mpp": 4.0,
                "patch_size": 32,
                "min_tissue": 0.3,
                "batch_size": 16,
                "workers": 0,
                "device": "cpu",
            },
        },
        "ecg": {
            "uses": "ecg.convert",
            "with": {
                "profile": {
                    "name": "tiny100",
                    "fs": 100.0,
                    "duration_s": 10.0,
                    "normalise": "minmax_record",
                }
            },
        },
        "train": {
            "uses": "train",
            "with": {
                "modalities": {
                    "wsi": {"bags": "${steps.wsi}"},
                    "ecg": {
                        "store": "${steps.ecg.store}",
                        "encoder": {"name": "resnet1d18", "width": 8},
                    },
                },
                "tasks": {
                    "high_risk": {"head": "binary", "target": "high_risk"},
                    "os": {"head": "survival_cox", "target": "os"},
                },
                "fusion": {"name": "multimodn", "out_dim": 16},
                "training": {"epochs": 2, "batch_size": 4, "device": "cpu", "patience": 0},
                "bootstrap": 5,
            },
        },
        "report": {"uses": "report", "with": {"n_bootstrap": 10}},
    },
}


@pytest.fixture(scope="module")
def project(tiny_cohort, tmp_path_factory):
    """A project folder: the pipeline, a copy of the tiny cohort, and its first run."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(tiny_cohort, root / "cohort")
    path = write_yaml(root / "tiny.yaml", PIPELINE)
    first = run_pipeline(
        load_pipeline(path), root / "run", progress=False, echo=print, threads=1
    )  # one thread: the test machine is shared, two would fight for its cores
    return {"root": root, "yaml": path, "first": first, "run": root / "run"}


def _copy(project, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the project (times kept, so keys are kept) to change freely."""
    shutil.copytree(project["root"], tmp_path / "p", symlinks=True)
    return tmp_path / "p" / "tiny.yaml", tmp_path / "p" / "run"


def _statuses(summary) -> dict[str, str]:
    return {s.step: s.status for s in summary.steps}


def _run(yaml_path, run, **kwargs):
    overrides = kwargs.pop("overrides", [])
    pipeline = load_pipeline(yaml_path, overrides=overrides)
    return run_pipeline(pipeline, run, progress=False, echo=print, threads=1, **kwargs)


def test_first_run_writes_the_run_folder(project):
    summary, run = project["first"], project["run"]
    assert set(_statuses(summary).values()) == {"ran"}, summary.table()
    assert summary.exit_code() == 0 and summary.items_failed == 0
    assert len(list((run / "steps/wsi/features").glob("*.h5"))) == 7
    assert "auroc" in (run / "steps/train/metrics.csv").read_text()
    html = (run / "steps/report/report.html").read_text()
    assert "Pipeline steps" in html and "high_risk" in html
    resolved = (run / "pipeline.resolved.yaml").read_text()
    assert summary.steps[3].key in resolved
    assert json.loads((run / "environment.json").read_text())["biomm"]
    log = (run / "logs/pipeline.log").read_text()
    assert "train: done" in log
    cohort = pd.read_csv(run / "cohort/cohort.csv")
    assert set(cohort["split"]) == {"train", "val", "test"}
    written = json.loads((run / "summary.json").read_text())
    assert [s["status"] for s in written["steps"]] == ["ran"] * 5


def test_second_run_is_all_cached(project, tmp_path):
    yaml_path, run = _copy(project, tmp_path)  # a moved project keeps its cache
    start = time.perf_counter()
    summary = _run(yaml_path, run)
    assert set(_statuses(summary).values()) == {"cached"}, summary.table()
    assert time.perf_counter() - start < 15  # stats and JSON only (environment.json: imports)
    assert summary.steps[1].items_ok == 7


def test_edit_of_train_params_reruns_train_and_report_only(project, tmp_path):
    yaml_path, run = _copy(project, tmp_path)
    before = (run / "steps/wsi/step.json").stat().st_mtime_ns
    summary = _run(yaml_path, run, overrides=["steps.train.with.training.epochs=1"])
    assert _statuses(summary) == {
        "validate": "cached",
        "wsi": "cached",
        "ecg": "cached",
        "train": "ran",
        "report": "ran",
    }
    assert summary.steps[3].metrics["epochs"] == 1
    assert (run / "steps/wsi/step.json").stat().st_mtime_ns == before


def test_force_reruns_the_step_and_its_dependents(project, tmp_path):
    yaml_path, run = _copy(project, tmp_path)
    summary = _run(yaml_path, run, force=["ecg"])
    assert _statuses(summary) == {
        "validate": "cached",
        "wsi": "cached",
        "ecg": "ran",
        "train": "ran",
        "report": "ran",
    }


def test_missing_ecg_and_corrupt_slide_are_item_failures(project, tmp_path):
    yaml_path, run = _copy(project, tmp_path)
    cohort = yaml_path.parent / "cohort"
    table = pd.read_csv(cohort / "cohort.csv")
    ecg_patient = table.dropna(subset=["ecg"])["patient_id"].iloc[0]
    slide_patient = table.dropna(subset=["slide"])["patient_id"].iloc[-1]
    os.remove(cohort / "ecg" / f"{ecg_patient}.dat")
    (cohort / "slides" / f"{slide_patient}.svs").write_bytes(b"not a slide" * 100)
    summary = _run(yaml_path, run, pseudonymise="salt-of-the-earth")
    statuses = _statuses(summary)
    assert statuses == dict.fromkeys(statuses, "ran"), summary.table()
    by_step = {s.step: s for s in summary.steps}
    assert by_step["wsi"].items_failed == 1 and by_step["wsi"].items_ok == 6
    assert by_step["ecg"].items_failed == 1
    assert by_step["validate"].items_failed == 2
    assert summary.exit_code() == 1 and summary.exit_code(allow_failures=True) == 0
    features = sorted(p.stem for p in (run / "steps/wsi/features").glob("*.h5"))
    assert len(features) == 6 and slide_patient not in features  # other slides intact
    with h5py.File(run / "steps/wsi/features" / f"{features[0]}.h5") as h5:
        assert h5["features"].shape[0] > 0
    failures = pd.read_csv(run / "failures.csv")
    assert sorted(failures["step"]) == ["ecg", "validate", "validate", "wsi"]
    text = (run / "failures.csv").read_text() + (run / "logs/pipeline.log").read_text()
    assert ecg_patient not in text and slide_patient not in text  # pseudonymised
    assert (run / "steps/train/model").is_dir()
