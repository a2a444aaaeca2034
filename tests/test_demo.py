"""The demo cohort is made of real files that real readers open, with signal in the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openslide
import pytest
import wfdb
from PIL import Image
from typer.testing import CliRunner

from biomm import Cohort
from biomm.cli.main import app
from biomm.demo import DemoCohortSpec, make_demo_cohort


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return make_demo_cohort(
        tmp_path_factory.mktemp("demo"), DemoCohortSpec(n_patients=40, seed=3, slide_size=1024)
    )


def test_demo_validates_clean_with_missing_modalities(demo_dir):
    cohort = Cohort.from_file(demo_dir / "cohort.csv", demo_dir / "schema.yaml")
    assert cohort.validate().ok_strict
    availability = cohort.availability()
    assert len(availability.patterns) > 3  # several availability patterns
    assert availability.matrix.any(axis=1).all()  # no patient without data


def test_demo_files_open_with_real_readers(demo_dir):
    slide_path = next((demo_dir / "slides").glob("*.svs"))
    slide = openslide.OpenSlide(str(slide_path))
    assert slide.properties["openslide.vendor"] == "aperio"
    assert float(slide.properties["openslide.mpp-x"]) == pytest.approx(0.5)
    assert slide.level_count == 2
    region = np.asarray(slide.read_region((0, 0), 0, (256, 256)).convert("RGB"))
    assert region.std() > 5  # real texture, not a flat image

    header = next((demo_dir / "ecg").glob("*.hea"))
    record = wfdb.rdrecord(str(header.with_suffix("")))
    assert record.fs == 500 and record.p_signal.shape == (5000, 12)
    assert record.sig_name[:2] == ["I", "II"]
    assert any(c.startswith("age:") for c in record.comments)

    fundus = Image.open(next((demo_dir / "fundus").glob("*.png")))
    assert fundus.mode == "RGB" and fundus.size == (384, 384)


def test_demo_labels_carry_signal(demo_dir):
    table = Cohort.from_file(demo_dir / "cohort.csv", demo_dir / "schema.yaml").table
    with_age = table.dropna(subset=["age"])
    older = with_age[with_age["high_risk"] == 1]["age"].mean()
    younger = with_age[with_age["high_risk"] == 0]["age"].mean()
    assert older > younger + 3
    high = table[table["high_risk"] == 1]["report"].dropna()
    assert high.str.contains("high-grade").mean() > 0.3


def test_demo_is_reproducible(tmp_path):
    spec = DemoCohortSpec(n_patients=5, seed=11, slide_size=512)
    a = make_demo_cohort(tmp_path / "a", spec)
    b = make_demo_cohort(tmp_path / "b", spec)
    assert (a / "cohort.csv").read_text() == (b / "cohort.csv").read_text()
    assert sorted(p.name for p in a.rglob("*")) == sorted(p.name for p in b.rglob("*"))


def test_demo_command_cohort_only(tmp_path):
    result = CliRunner().invoke(
        app,
        ["demo", "--out", str(tmp_path / "d"), "--patients", "6", "--no-progress", "--cohort-only"],
    )
    assert result.exit_code == 0, result.output
    assert "Demo cohort: 6 patients" in result.output
    assert (tmp_path / "d" / "cohort.csv").exists()


def test_packaged_demo_pipeline_is_the_repository_one():
    from biomm.pipeline.builtin import builtin_pipeline

    repo = Path(__file__).resolve().parents[1] / "pipelines" / "demo.yaml"
    assert builtin_pipeline("demo").read_bytes() == repo.read_bytes()


def test_demo_runs_the_pipeline_to_a_report_and_reruns_from_cache(tmp_path):
    """The main job end to end on a small cohort: every step, then the HTML report."""
    import json

    args = ["demo", "--out", str(tmp_path / "d"), "--patients", "20", "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--threads", "1"])
    assert result.exit_code == 0, result.output
    html = tmp_path / "d/run/steps/report/report.html"
    assert html.is_file() and f"report: {html.resolve()}" in result.output
    text = html.read_text()
    assert "MultiModN trajectories" in text and "Zero-shot" in text
    assert "Example ECG" in text and "Attention of the trained wsi MIL encoder" in text
    summary = json.loads((tmp_path / "d/run/summary.json").read_text())
    statuses = {s["step"]: s["status"] for s in summary["steps"]}
    assert set(statuses.values()) == {"ran"} and {"wsi", "ecg_pretrain", "train"} <= set(statuses)

    again = CliRunner().invoke(app, [*args, "--threads", "1"])
    assert again.exit_code == 0, again.output
    assert "reusing the demo cohort" in again.output
    summary = json.loads((tmp_path / "d/run/summary.json").read_text())
    assert {s["status"] for s in summary["steps"]} == {"cached"}
