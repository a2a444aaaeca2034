"""``biomm wsi embed``: tile features for a cohort of slides, one HDF5 per slide.

Per slide, ``OUT/features/NAME.h5`` holds ``features`` [N, D] float32, ``coords`` [N, 2] int64
(level-0 x, y), ``bad`` [N] bool and ``tissue_fraction`` [N], with attributes: target mpp,
patch size at target and at level 0, slide mpp and its source, encoder name, weights and
SHA-256, biomm version and the number of bad tiles — the layout CLAM and TRIDENT users read.
A slide whose file exists is skipped unless ``overwrite``; a failed slide goes to
``failures.csv`` and the run goes on; non-finite features fail the slide instead of being
written.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from biomm.encoders import build_encoder
    >>> from biomm.wsi.jobs import slide_jobs
    >>> slide = Path(__file__).parents[2] / "tests/data/wsi/CMU-1-Small-Region.svs"
    >>> out = Path(tempfile.mkdtemp())
    >>> enc = build_encoder("efficientnet_lite0", weights=None)
    >>> s = embed_slides(slide_jobs([slide]), out, enc, EmbedParams(target_mpp=2.0))
    >>> s["slides_done"], s["tiles"] > 0
    (1, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from biomm._version import __version__
from biomm.encoders.base import Encoder
from biomm.io.wsi import open_slide
from biomm.io.wsi.mpp import MppPolicy
from biomm.utils.atomic import atomic_path, remove_stale_temporaries
from biomm.utils.lock import output_lock
from biomm.wsi.features import TileFeatures, extract_features
from biomm.wsi.jobs import (
    JobLog,
    SlideFailure,
    SlideJob,
    Stage,
    job_parameters,
    run_slide_jobs,
)
from biomm.wsi.tiling_job import tissue_and_grid


@dataclass(frozen=True)
class EmbedParams:
    """Parameters of a feature-extraction job (recorded in every output).

    Attributes:
        target_mpp: µm/px at which tiles are read.
        patch_size: Tile size in pixels at ``target_mpp``.
        min_tissue: Minimum tissue fraction of a tile.
        tissue_mpp: Resolution of the tissue mask in µm/px.
        batch_size: Tiles per forward pass.
        num_workers: Threads reading tiles.
        device: ``auto``, ``cpu``, ``cuda``.
        slide_mpp: Level-0 µm/px for slides without one (a per-slide value wins).
        mpp_policy: ``require`` or ``objective-power``.
        backend: Slide backend.
        block_tiles: Tiles per block side read in one region.
    """

    target_mpp: float = 0.5
    patch_size: int = 224
    min_tissue: float = 0.5
    tissue_mpp: float = 8.0
    batch_size: int = 64
    num_workers: int = 2
    device: str = "auto"
    slide_mpp: float | None = None
    mpp_policy: MppPolicy = "require"
    backend: str = "auto"
    block_tiles: int = 4


def features_path(out_dir: Path, job: SlideJob) -> Path:
    """Where the features of ``job`` are written.

    Examples:
        >>> features_path(Path("out"), SlideJob(Path("a.svs"), "a")).as_posix()
        'out/features/a.h5'
    """
    return out_dir / "features" / f"{job.name}.h5"


def write_features(
    path: Path, result: TileFeatures, tissue_fraction: np.ndarray, attrs: dict[str, Any]
) -> None:
    """Write one slide's features atomically (temporary file, then rename).

    Examples:
        >>> import tempfile
        >>> r = TileFeatures(np.zeros((2, 4), np.float32), np.zeros((2, 2), np.int64),
        ...                  np.zeros(2, bool))
        >>> p = Path(tempfile.mkdtemp()) / "f.h5"
        >>> write_features(p, r, np.ones(2, np.float32), {"encoder": "x"})
        >>> with h5py.File(p) as f:
        ...     f["features"].shape, f.attrs["encoder"]
        ((2, 4), 'x')
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("features", data=result.features.astype(np.float32))
        h5.create_dataset("coords", data=result.coords.astype(np.int64))
        h5.create_dataset("bad", data=result.bad.astype(bool))
        h5.create_dataset("tissue_fraction", data=tissue_fraction.astype(np.float32))
        for key, value in attrs.items():
            h5.attrs[key] = "" if value is None else value


def embed_slides(
    jobs: list[SlideJob],
    out_dir: Path,
    encoder: Encoder,
    params: EmbedParams,
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Extract tile features for every slide; record failures; return the summary.

    Args:
        jobs: Slides (see :func:`biomm.wsi.jobs.slide_jobs`).
        out_dir: Output folder (created).
        encoder: Image encoder.
        params: Job parameters.
        overwrite: Redo slides whose outputs exist.
        progress: Show progress bars (per cohort and per slide).
    """
    out_dir = Path(out_dir)
    with output_lock(out_dir):  # one run per folder; a killed run's lock dies with it
        remove_stale_temporaries(out_dir / "features")  # left by a killed run; never complete
        recorded = job_parameters(params) | {"encoder": encoder.describe()}
        log = JobLog("wsi-embed", recorded)
        process = partial(
            embed_one_slide, out_dir=out_dir, encoder=encoder, params=params, progress=progress
        )
        run_slide_jobs(
            jobs,
            log,
            output_for=lambda job: features_path(out_dir, job),
            process=process,
            overwrite=overwrite,
            progress=progress,
        )
        return log.write(out_dir)


def embed_one_slide(
    job: SlideJob,
    stage: Stage,
    *,
    out_dir: Path,
    encoder: Encoder,
    params: EmbedParams,
    progress: bool = False,
) -> dict[str, float]:
    """Tissue, tiles, features and the HDF5 of one slide; returns counters for the summary.

    Raises:
        SlideFailure: When the slide yields no usable tile or non-finite features.
        BiommError: When the slide cannot be read (``stage`` says where).
    """
    mpp = job.mpp if job.mpp is not None else params.slide_mpp
    with open_slide(job.path, params.backend, mpp=mpp, mpp_policy=params.mpp_policy) as slide:
        _, grid = tissue_and_grid(
            slide,
            target_mpp=params.target_mpp,
            patch_size=params.patch_size,
            min_tissue=params.min_tissue,
            tissue_mpp=params.tissue_mpp,
            stage=stage,
        )
        mpp_source = slide.mpp_resolution.source or ""
    if len(grid) == 0:
        raise SlideFailure(f"no tile has tissue fraction >= {params.min_tissue}")
    stage.name = "features"
    result = extract_features(
        job.path,
        grid,
        encoder,
        batch_size=params.batch_size,
        num_workers=params.num_workers,
        device=params.device,
        block_tiles=params.block_tiles,
        backend=params.backend,
        mpp=mpp,
        mpp_policy=params.mpp_policy,
        progress=progress,
    )
    finite = np.isfinite(result.features).all(axis=1)
    if not finite.all():
        raise SlideFailure(f"{int((~finite).sum())} tile(s) gave NaN/inf features; nothing written")
    if result.bad.all():
        raise SlideFailure("no tile could be read")
    stage.name = "write"
    enc = encoder.describe()
    write_features(
        features_path(out_dir, job),
        result,
        grid.tissue_fraction,
        {
            "target_mpp": grid.target_mpp,
            "patch_size": grid.patch_size,
            "patch_size_level0": grid.patch_size_level0,
            "slide_mpp": grid.slide_mpp,
            "mpp_source": mpp_source,
            "slide_path": str(job.path),
            "patient_id": job.patient_id or "",
            "encoder": enc["encoder"],
            "encoder_weights": enc["weights"] or "",
            "encoder_weights_sha256": enc["weights_sha256"] or "",
            "embed_dim": enc["embed_dim"],
            "min_tissue": params.min_tissue,
            "n_bad_tiles": int(result.bad.sum()),
            "biomm_version": __version__,
        },
    )
    return {"tiles": len(grid), "bad_tiles": int(result.bad.sum())}
