"""The report of a real (tiny) `biomm train` run, and of runs with missing or broken files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from biomm import Cohort
from biomm.errors import InputError
from biomm.report import (
    IdLabeller,
    build_run_report,
    read_run,
    run_targets,
    sections_from_training_run,
)

TITLES = [
    "Training run",
    "Cohort",
    "Test patients: modality availability",
    "Task: death (survival_cox)",
    "Task: label (binary)",
    "MultiModN trajectories",
]


@pytest.fixture(scope="module")
def run_sections(train_run):
    return {s.title: s for s in sections_from_training_run(train_run, n_bootstrap=20)}


def copy_run(train_run, tmp_path):
    return shutil.copytree(train_run, tmp_path / "run")


def test_run_report_has_every_section(run_report):
    html = run_report.read_text(encoding="utf-8")
    positions = [html.find(f"<h2>{title}</h2>") for title in TITLES]
    assert all(p > 0 for p in positions) and positions == sorted(positions)
    figures = sorted(p.name for p in (run_report.parent / "figures").glob("*.png"))
    assert html.count('src="data:image/png;base64,') == len(figures) >= 9
    assert any("roc-curve" in name for name in figures)
    assert any("kaplan-meier" in name for name in figures)
    assert any("trajectories" in name for name in figures)


def test_run_report_never_shows_patient_ids_by_default(run_report, train_run):
    html = run_report.read_text(encoding="utf-8")
    ids = pd.read_csv(train_run / "predictions.csv", dtype={"patient_id": str})["patient_id"]
    assert len(ids) > 10
    assert not [pid for pid in ids if pid in html]
    cohort_ids = pd.read_csv(train_run.parent / "cohort.csv")["patient_id"]
    assert not [pid for pid in cohort_ids if pid in html]
    assert "Patient identifiers are not shown" in html


def test_run_sections_figures(run_sections, train_run):
    binary = run_sections["Task: label (binary)"]
    roc = binary.figures["ROC curve (band: bootstrap CI)"]
    assert roc.axes[0].get_legend().get_texts()[0].get_text().startswith("AUROC ")
    assert "Calibration (reliability diagram)" in binary.figures
    metrics = pd.read_csv(train_run / "metrics.csv")
    per_pattern = binary.tables["auroc per availability pattern"]
    assert (
        per_pattern["pattern"].tolist()
        == metrics.loc[metrics["task"] == "label", "pattern"].tolist()
    )
    survival = run_sections["Task: death (survival_cox)"]
    km = survival.figures["Kaplan–Meier curves by predicted-risk group"]
    assert "log-rank p" in km.axes[0].get_title()
    assert len(km.axes[0].get_legend().get_texts()) == 3  # tertiles by default
    overview = run_sections["Training run"]
    table = overview.tables["Test metrics (all test patients, bootstrap CIs)"]
    assert set(table["metric"]) == {"auroc", "c_index"}


def test_trajectory_labels_follow_the_id_policy(run_sections, train_run):
    section = run_sections["MultiModN trajectories"]
    draw = next(iter(section.figures.values()))
    ids = set(pd.read_csv(train_run / "trajectories.csv", dtype={"patient_id": str})["patient_id"])
    hidden = [t.get_text() for t in draw(IdLabeller()).axes[0].get_legend().get_texts()]
    assert hidden[0] == "patient 1" and not ids & set(hidden)
    shown = [t.get_text() for t in draw(IdLabeller(show_ids=True)).axes[0].get_legend().get_texts()]
    assert len(ids & set(shown)) == len(hidden) - 1  # every example patient, by id


def test_run_targets_align_with_the_cohort(train_run):
    run = read_run(train_run)
    targets = run_targets(run)
    cohort = pd.read_csv(train_run.parent / "cohort.csv").set_index("patient_id")
    ids = run.predictions["patient_id"]
    np.testing.assert_allclose(targets["label"], cohort.loc[ids, "label"].to_numpy(float))
    np.testing.assert_allclose(targets["death"][:, 0], cohort.loc[ids, "os_time"].to_numpy())
    np.testing.assert_allclose(targets["death"][:, 1], cohort.loc[ids, "os_event"].to_numpy())


def test_missing_optional_artifacts_leave_sections_out(train_run, tmp_path):
    run = copy_run(train_run, tmp_path)
    (run / "trajectories.csv").unlink()
    (run / "history.csv").unlink()
    config = json.loads((run / "model" / "config.json").read_text())
    config["config"]["cohort"] = str(tmp_path / "moved.csv")
    (run / "model" / "config.json").write_text(json.dumps(config))
    sections = {s.title: s for s in sections_from_training_run(run, n_bootstrap=5)}
    assert "MultiModN trajectories" not in sections
    assert "Loss per epoch" not in sections["Training run"].figures
    binary = sections["Task: label (binary)"]
    assert list(binary.figures) == ["auroc per availability pattern"]  # no targets: no curves
    assert "moved.csv" in binary.notes[0] and "Targets unavailable" in binary.notes[0]
    cohort = Cohort.from_file(train_run.parent / "cohort.csv", train_run.parent / "schema.yaml")
    with_cohort = {
        s.title: s for s in sections_from_training_run(run, cohort=cohort, n_bootstrap=5)
    }
    assert "ROC curve (band: bootstrap CI)" in with_cohort["Task: label (binary)"].figures
    (run / "model" / "config.json").unlink()
    (run / "predictions.csv").unlink()
    sections = sections_from_training_run(run, n_bootstrap=5)  # metrics.csv alone still works
    assert [s.title for s in sections] == [
        "Training run",
        "Task: death (unknown head)",
        "Task: label (unknown head)",
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("predictions.csv", "id,score\nP1,0.3\n", "columns ['patient_id'] are missing"),
        ("metrics.csv", "task,n\nlabel,3\n", "columns ['pattern'] are missing"),
        ("summary.json", "{not json", "invalid JSON"),
        ("summary.json", "[1, 2]", "expected a JSON object"),
        ("trajectories.csv", "patient_id,step\nP1,0\n", "'modality', 'applied'"),
        ("predictions.csv", "patient_id,has_a\nP1,maybe\n", "must be true/false"),
    ],
)
def test_malformed_artifacts_raise_input_error_naming_the_file(
    train_run, tmp_path, name, content, message
):
    run = copy_run(train_run, tmp_path)
    (run / name).write_text(content)
    with pytest.raises(InputError, match=r"missing|JSON|object|true/false") as info:
        sections_from_training_run(run, n_bootstrap=5)
    assert message in str(info.value)
    assert info.value.path == str(run / name)


def test_not_a_run_folder(tmp_path):
    with pytest.raises(InputError, match="run folder not found"):
        build_run_report(tmp_path / "nope")
    with pytest.raises(InputError, match="not a biomm train output folder"):
        build_run_report(tmp_path)
