"""``biomm wsi tile`` on a cohort of real, synthetic, mpp-less and unreadable slides."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biomm.cli.main import app
from biomm.demo.synthetic import synthetic_he_tile, write_pyramidal_svs
from biomm.io.wsi import VirtualSlide

from ..io.conftest import REAL_SLIDE, write_generic_pyramid

runner = CliRunner()


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wsi_cohort")
    (root / "slides").mkdir()
    shutil.copy(REAL_SLIDE, root / "slides" / "real.svs")
    image = synthetic_he_tile(np.random.default_rng(0), 1024, 0.6)
    write_pyramidal_svs(root / "slides" / "synthetic.svs", image, mpp=0.5)
    write_generic_pyramid(root / "slides" / "nompp.tif", VirtualSlide(image, mpp=None), mpp=None)
    (root / "slides" / "broken.svs").write_bytes(b"not a slide" * 100)
    pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P3", "P4"],
            "slide": [
                "slides/real.svs",
                "slides/synthetic.svs",
                "slides/nompp.tif",
                "slides/broken.svs",
            ],
        }
    ).to_csv(root / "cohort.csv", index=False)
    return root


def _tile(cohort_dir: Path, out: Path, *extra: str):
    args = [
        "wsi",
        "tile",
        str(cohort_dir / "cohort.csv"),
        "--out",
        str(out),
        "--mpp",
        "1.0",
        "--patch-size",
        "128",
        "--no-progress",
        *extra,
    ]
    return runner.invoke(app, args)


def test_cohort_tiling_records_failures_and_resumes(cohort_dir, tmp_path):
    out = tmp_path / "tiles"
    result = _tile(cohort_dir, out)
    assert result.exit_code == 1, result.output
    assert "2 slide(s) tiled" in result.output and "2 failed" in result.output
    failures = pd.read_csv(out / "failures.csv")
    assert dict(zip(failures["name"], failures["stage"], strict=True)) == {
        "nompp": "tissue",
        "broken": "open",
    }
    assert "no resolution" in failures.set_index("name").loc["nompp", "reason"]
    with h5py.File(out / "coords" / "real.h5") as h5:
        coords = h5["coords"][:]
        assert coords.shape[1] == 2 and len(coords) > 10
        assert h5.attrs["patch_size_level0"] == round(128 * 1.0 / 0.499)
        assert h5.attrs["patient_id"] == "P1"
        assert h5.attrs["mpp_source"] == "metadata"
        assert (h5["tissue_fraction"][:] >= 0.5).all()
    geojson = json.loads((out / "geojson" / "real.geojson").read_text())
    assert geojson["features"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["slides_done"] == 2 and summary["slides_failed"] == 2

    before = (out / "coords" / "real.h5").stat().st_mtime_ns
    again = _tile(cohort_dir, out, "--allow-failures")
    assert again.exit_code == 0
    assert "0 slide(s) tiled, 2 already done" in again.output
    assert (out / "coords" / "real.h5").stat().st_mtime_ns == before


def test_slide_mpp_rescues_slides_without_resolution(cohort_dir, tmp_path):
    out = tmp_path / "tiles"
    result = _tile(cohort_dir, out, "--slide-mpp", "0.5", "--allow-failures")
    assert result.exit_code == 0
    assert "3 slide(s) tiled" in result.output
    with h5py.File(out / "coords" / "nompp.h5") as h5:
        assert h5.attrs["mpp_source"] == "user"


def test_slides_and_folders_as_inputs(cohort_dir, tmp_path):
    out = tmp_path / "tiles"
    result = runner.invoke(
        app,
        [
            "wsi",
            "tile",
            str(cohort_dir / "slides" / "real.svs"),
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "coords" / "real.h5").exists()
    result = runner.invoke(
        app,
        ["wsi", "tile", str(cohort_dir / "slides"), "--out", str(tmp_path / "t2"), "--no-progress"],
    )
    assert result.exit_code == 1  # broken.svs and nompp.tif fail, the rest is done
    assert "2 slide(s) tiled" in result.output


@pytest.mark.parametrize(
    "extra",
    [["--mpp-policy", "guess"], ["--overlap", "128"], ["--min-tissue", "2"]],
)
def test_tile_usage_errors(cohort_dir, tmp_path, extra):
    assert _tile(cohort_dir, tmp_path / "t", *extra).exit_code == 2


def test_wsi_info(cohort_dir):
    result = runner.invoke(app, ["wsi", "info", str(cohort_dir / "slides" / "real.svs")])
    assert result.exit_code == 0
    assert json.loads(result.output)["vendor"] == "aperio"
    bad = runner.invoke(app, ["wsi", "info", str(cohort_dir / "slides" / "broken.svs")])
    assert bad.exit_code == 1 and "error" in json.loads(bad.output)
