"""`biomm embed` on the demo cohort with the real fundus, report and EHR embedders."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from biomm.cli.main import app
from biomm.demo import DemoCohortSpec, make_demo_cohort
from biomm.train.config import read_embedding_table

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = make_demo_cohort(
        tmp_path_factory.mktemp("demo"), DemoCohortSpec(n_patients=12, seed=2, slide_size=512)
    )
    table = pd.read_csv(folder / "cohort.csv", dtype=str)
    table["split"] = ["train"] * 8 + ["test"] * 4
    table.to_csv(folder / "cohort.csv", index=False)
    schema = (folder / "schema.yaml").read_text()
    (folder / "schema.yaml").write_text(schema + "split: split\n")
    return folder


def embed(demo, modality, out, *extra):
    return runner.invoke(
        app,
        [
            "embed", "-m", modality, "-c", str(demo / "cohort.csv"), "-s",
            str(demo / "schema.yaml"), "-o", str(out), "--no-progress", *extra,
        ],
    )  # fmt: skip


def test_fundus_with_a_corrupt_photo_is_listed_and_the_rest_embedded(demo, tmp_path):
    photos = sorted((demo / "fundus").glob("*.png"))
    photos[0].write_bytes(photos[0].read_bytes()[:200])  # truncated PNG
    result = embed(demo, "fundus", tmp_path / "f", "--encoder-arg", "weights=null")
    assert result.exit_code == 1, result.output  # items failed
    failures = pd.read_csv(tmp_path / "f/failures.csv")
    assert failures["source"].str.endswith(photos[0].name).tolist() == [True]
    assert failures["error"].tolist() == ["ImageReadError"]
    ids, values = read_embedding_table(tmp_path / "f")
    assert len(ids) == len(photos) - 1 and values.shape[1] == 1280
    items = pd.read_csv(tmp_path / "f/items.csv")
    assert {"gradable", "fov_fraction"} <= set(items.columns)
    again = embed(demo, "fundus", tmp_path / "f", "--encoder-arg", "weights=null")
    assert again.exit_code == 1 and f"{len(ids)} fundus item(s)" in again.output
    assert "done before" in again.output


def test_reports_and_ehr(demo, tmp_path):
    result = embed(demo, "report", tmp_path / "r", "--set", "section=[diagnosis]")
    assert result.exit_code == 0, result.output
    ids, values = read_embedding_table(tmp_path / "r")
    assert values.shape[1] == 384 and len(ids) > 0
    items = pd.read_csv(tmp_path / "r/items.csv")
    assert "<report text>" not in items.to_csv() and set(items["source"]) <= {
        "inline",
        *(f"reports/{p.name}" for p in (demo / "reports").glob("*.txt")),
    }
    result = embed(
        demo, "ehr", tmp_path / "e", "--encoder-arg", "dim=8", "--encoder-arg", "depth=1",
        "--encoder-arg", "heads=2", "--set", "pretrain_epochs=2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "fitted on 8 train patients" in result.output
    ids, values = read_embedding_table(tmp_path / "e")
    assert values.shape == (12, 8)
    assert (tmp_path / "e/preprocessor.json").is_file()
    assert (tmp_path / "e/encoder/model.safetensors").is_file()
    from biomm.utils.checkpoint import sha256_file

    config = json.loads((tmp_path / "e/encoder/config.json").read_text())
    assert config["weights_sha256"] == sha256_file(tmp_path / "e/encoder/model.safetensors")


def test_usage_errors(demo, tmp_path):
    result = embed(demo, "oct", tmp_path / "o")
    assert result.exit_code == 2 and "declares no 'oct' modality" in result.output
    result = embed(demo, "fundus", tmp_path / "o", "--set", "colour=red")
    assert result.exit_code == 2 and "no option ['colour']" in result.output
