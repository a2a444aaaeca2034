"""Feature extraction: block reads, corrupt tiles, NaN guard, cohort CLI, resume after a kill."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from biomm.cli.main import app
from biomm.demo.synthetic import synthetic_he_tile, write_pyramidal_svs
from biomm.encoders import build_encoder
from biomm.encoders.base import Encoder, ImageInput
from biomm.io.wsi import VirtualSlide, open_slide
from biomm.preprocess.tiling import grid_tiles
from biomm.preprocess.tissue import detect_tissue
from biomm.wsi.embed_job import EmbedParams, embed_slides
from biomm.wsi.features import extract_features
from biomm.wsi.jobs import slide_jobs

from ..io.conftest import REAL_SLIDE, write_corrupt_jpeg_tiff, write_generic_pyramid

runner = CliRunner()


@pytest.fixture(scope="module")
def lite0():
    return build_encoder("efficientnet_lite0")


def test_block_reads_match_single_reads_and_workers(lite0):
    slide = open_slide(REAL_SLIDE)
    grid = grid_tiles(slide, target_mpp=1.0, patch_size=96, min_tissue=0.3)
    assert len(grid) > 10
    blocks = extract_features(REAL_SLIDE, grid, lite0, batch_size=16, block_tiles=4)
    # same batch size: oneDNN's convolution sums in a batch-size-dependent order on some thread
    # counts, and this test is about reading (blocks vs tiles), not about batching
    single = extract_features(REAL_SLIDE, grid, lite0, batch_size=16, block_tiles=1)
    np.testing.assert_array_equal(blocks.features, single.features)
    threads = extract_features(REAL_SLIDE, grid, lite0, batch_size=16, num_workers=2)
    np.testing.assert_array_equal(blocks.features, threads.features)
    processes = extract_features(
        REAL_SLIDE, grid, lite0, batch_size=16, num_workers=2, worker_type="process"
    )
    np.testing.assert_array_equal(blocks.features, processes.features)
    assert not blocks.bad.any()


def test_features_distinguish_tissue_from_glass(lite0):
    slide = open_slide(REAL_SLIDE)
    grid = grid_tiles(
        slide, target_mpp=1.0, patch_size=128, tissue=detect_tissue(slide), min_tissue=0
    )
    result = extract_features(slide, grid, lite0)
    on = result.features[grid.tissue_fraction > 0.9]
    off = result.features[grid.tissue_fraction == 0]
    assert len(on) > 3 and len(off) > 3
    # glass tiles are near-identical to each other, tissue tiles are not
    assert np.std(off, axis=0).mean() < np.std(on, axis=0).mean()


def test_corrupt_tile_is_replaced_flagged_and_slide_completes(lite0, tmp_path):
    image = synthetic_he_tile(np.random.default_rng(2), 512, 0.6)
    path = write_corrupt_jpeg_tiff(tmp_path / "corrupt.tif", image)
    for backend in ("openslide", "tifffile"):
        slide = open_slide(path, backend)
        grid = grid_tiles(slide, target_mpp=0.5, patch_size=128, min_tissue=0)
        result = extract_features(path, grid, lite0, backend=backend)
        assert result.bad.any() and not result.bad.all(), backend
        bad_xy = grid.coords[result.bad]
        assert (bad_xy[:, 0] >= 256).all() and (bad_xy[:, 1] < 256).all()  # only tile 1's area
        assert np.isfinite(result.features).all()


class NaNEncoder(Encoder):
    """Test encoder returning NaN.

    Examples:
        >>> NaNEncoder().embed_dim
        4
    """

    name = "nan"
    embed_dim = 4
    input = ImageInput(32, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], 4), float("nan"))


def test_nan_features_fail_the_slide(tmp_path):
    summary = embed_slides(
        slide_jobs([REAL_SLIDE]), tmp_path, NaNEncoder(), EmbedParams(target_mpp=2.0, patch_size=32)
    )
    assert summary["slides_failed"] == 1
    failures = pd.read_csv(tmp_path / "failures.csv")
    assert "NaN" in failures.loc[0, "reason"]
    assert not (tmp_path / "features" / "CMU-1-Small-Region.h5").exists()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("embed_cohort")
    (root / "slides").mkdir()
    shutil.copy(REAL_SLIDE, root / "slides" / "real.svs")
    rng = np.random.default_rng(5)
    for k in range(3):
        write_pyramidal_svs(
            root / "slides" / f"syn{k}.svs", synthetic_he_tile(rng, 1024, 0.4 + 0.2 * k), mpp=0.5
        )
    write_generic_pyramid(
        root / "slides" / "nompp.tif",
        VirtualSlide(synthetic_he_tile(rng, 512, 0.5), mpp=None),
        mpp=None,
    )
    (root / "slides" / "broken.svs").write_bytes(b"\x00" * 1000)
    write_corrupt_jpeg_tiff(root / "slides" / "corrupt.tif", synthetic_he_tile(rng, 1024, 0.8))
    slides = sorted(p.name for p in (root / "slides").iterdir())
    pd.DataFrame(
        {
            "patient_id": [f"P{k}" for k in range(len(slides))],
            "slide": [f"slides/{s}" for s in slides],
        }
    ).to_csv(root / "cohort.csv", index=False)
    return root


def _embed_args(cohort: Path, out: Path) -> list[str]:
    return [
        "wsi",
        "embed",
        str(cohort / "cohort.csv"),
        "--out",
        str(out),
        "--mpp",
        "2.0",
        "--patch-size",
        "96",
        "--min-tissue",
        "0.3",
        "--no-progress",
        "--device",
        "cpu",
    ]


def test_embed_cli_cohort_failures_and_rerun(cohort, tmp_path):
    out = tmp_path / "features"
    result = runner.invoke(app, _embed_args(cohort, out))
    assert result.exit_code == 1, result.output
    assert "5 slide(s) embedded" in result.output and "2 failed" in result.output
    failures = pd.read_csv(out / "failures.csv").set_index("name")
    assert set(failures.index) == {"broken", "nompp"}
    assert failures.loc["broken", "stage"] == "open"
    with h5py.File(out / "features" / "real.h5") as h5:
        n = len(h5["coords"])
        assert h5["features"].shape == (n, 1280) and h5["bad"].shape == (n,)
        assert h5.attrs["encoder"] == "efficientnet_lite0"
        assert len(h5.attrs["encoder_weights_sha256"]) == 64
        assert h5.attrs["patch_size_level0"] == round(96 * 2.0 / 0.499)
        assert h5.attrs["n_bad_tiles"] == 0
    stamp = (out / "features" / "real.h5").stat().st_mtime_ns
    again = runner.invoke(app, [*_embed_args(cohort, out), "--allow-failures"])
    assert again.exit_code == 0
    assert "0 slide(s) embedded, 5 already done" in again.output
    assert (out / "features" / "real.h5").stat().st_mtime_ns == stamp
    with h5py.File(out / "features" / "corrupt.h5") as h5:  # the corrupt tile did not stop it
        assert 0 < h5.attrs["n_bad_tiles"] < len(h5["coords"])
        assert h5["bad"][:].sum() == h5.attrs["n_bad_tiles"]


def test_killed_run_resumes_to_identical_features(cohort, tmp_path):
    # Every run is a fresh process with the same thread settings, so that float summation
    # order (and so every bit of the features) is the same in all of them.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def cli(out):
        cmd = [sys.executable, "-m", "biomm.cli.main", *_embed_args(cohort, out)]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)

    reference = tmp_path / "reference"
    assert cli(reference).returncode == 1
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "biomm.cli.main", *_embed_args(cohort, killed)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        done = list((killed / "features").glob("*.h5")) if (killed / "features").exists() else []
        if done:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = sorted((killed / "features").glob("*.h5"))
    assert 1 <= len(finished) < 5, "the run was not killed mid-way"
    for path in finished:  # whatever looks complete is complete: it opens and has features
        with h5py.File(path) as h5:
            assert h5["features"].shape[0] == h5["coords"].shape[0] > 0
    assert cli(killed).returncode == 1
    for ref in (reference / "features").glob("*.h5"):
        with h5py.File(ref) as a, h5py.File(killed / "features" / ref.name) as b:
            np.testing.assert_array_equal(a["features"][:], b["features"][:])
            np.testing.assert_array_equal(a["coords"][:], b["coords"][:])
    stray = [p.name for p in (killed / "features").iterdir() if not p.name.endswith(".h5")]
    assert stray == []  # the rerun removed any temporary file the killed writer left


@pytest.mark.gpu
def test_cuda_path_matches_cpu(lite0):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    slide = open_slide(REAL_SLIDE)
    grid = grid_tiles(slide, target_mpp=1.0, patch_size=224, min_tissue=0.3)
    cpu = extract_features(REAL_SLIDE, grid, lite0, device="cpu")
    gpu = extract_features(REAL_SLIDE, grid, lite0, device="cuda", num_workers=2)
    cos = (cpu.features * gpu.features).sum(1) / (
        np.linalg.norm(cpu.features, axis=1) * np.linalg.norm(gpu.features, axis=1)
    )
    assert cos.min() > 0.98


def test_dask_local_cluster_matches_in_process(cohort, tmp_path):
    pytest.importorskip("distributed")
    reference = tmp_path / "reference"
    assert runner.invoke(app, _embed_args(cohort, reference)).exit_code == 1
    out = tmp_path / "dask"
    result = runner.invoke(
        app, [*_embed_args(cohort, out), "--scheduler", "local", "--dask-workers", "2"]
    )
    assert result.exit_code == 1, result.output
    assert "5 slide(s) embedded" in result.output and "2 failed" in result.output
    assert set(pd.read_csv(out / "failures.csv")["name"]) == {"broken", "nompp"}
    for ref in (reference / "features").glob("*.h5"):
        with h5py.File(ref) as a, h5py.File(out / "features" / ref.name) as b:
            # Dask workers run torch on one thread: same numbers up to summation order
            np.testing.assert_allclose(a["features"][:], b["features"][:], rtol=1e-4, atol=1e-5)
            np.testing.assert_array_equal(a["coords"][:], b["coords"][:])
    again = runner.invoke(app, [*_embed_args(cohort, out), "--scheduler", "local"])
    assert "0 slide(s) embedded, 5 already done" in again.output


def test_unreachable_scheduler_is_a_usage_error(cohort, tmp_path):
    pytest.importorskip("distributed")
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):  # default: 30 s retrying
        result = runner.invoke(
            app, [*_embed_args(cohort, tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"]
        )
    assert result.exit_code == 2, result.output
    assert "cannot reach the Dask scheduler tcp://127.0.0.1:9" in result.output
