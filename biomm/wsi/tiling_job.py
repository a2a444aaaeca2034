"""``biomm wsi tile``: tissue masks and tile coordinates for a cohort of slides.

Per slide, into ``OUT``: ``coords/NAME.h5`` (datasets ``coords`` [N, 2] level-0 x, y and
``tissue_fraction`` [N]; attributes with the tiling parameters and provenance),
``masks/NAME.png`` and ``geojson/NAME.geojson`` (QuPath). Then ``failures.csv`` and
``summary.json``. Slides whose ``coords/NAME.h5`` exists are skipped unless ``overwrite``.

Examples:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from biomm.wsi.jobs import slide_jobs
    >>> slide = Path(__file__).parents[2] / "tests/data/wsi/CMU-1-Small-Region.svs"
    >>> out = Path(tempfile.mkdtemp())
    >>> summary = tile_slides(slide_jobs([slide]), out, TilingParams(patch_size=256))
    >>> summary["slides_done"], summary["tiles"] > 20
    (1, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from biomm._version import __version__
from biomm.io.wsi import Slide, open_slide
from biomm.io.wsi.mpp import MppPolicy
from biomm.preprocess.tiling import TileGrid, grid_tiles
from biomm.preprocess.tissue import TissueMask, detect_tissue
from biomm.utils.atomic import atomic_path, remove_stale_temporaries
from biomm.utils.lock import output_lock
from biomm.wsi.jobs import JobLog, SlideJob, Stage, job_parameters, run_slide_jobs


@dataclass(frozen=True)
class TilingParams:
    """Parameters of a tiling job (recorded in every output).

    Attributes:
        target_mpp: µm/px at which tiles will be read.
        patch_size: Tile size in pixels at ``target_mpp``.
        overlap: Overlap between tiles in pixels at ``target_mpp``.
        min_tissue: Minimum tissue fraction of a kept tile.
        tissue_mpp: Resolution of the tissue mask in µm/px.
        slide_mpp: Level-0 µm/px for slides without one (a per-slide value wins).
        mpp_policy: ``require`` or ``objective-power``.
        backend: Slide backend (``auto``, ``openslide``, ``tifffile``).
    """

    target_mpp: float = 0.5
    patch_size: int = 224
    overlap: int = 0
    min_tissue: float = 0.5
    tissue_mpp: float = 8.0
    slide_mpp: float | None = None
    mpp_policy: MppPolicy = "require"
    backend: str = "auto"


def coords_path(out_dir: Path, job: SlideJob) -> Path:
    """Where the coordinates of ``job`` are written.

    Examples:
        >>> coords_path(Path("out"), SlideJob(Path("a.svs"), "a")).as_posix()
        'out/coords/a.h5'
    """
    return out_dir / "coords" / f"{job.name}.h5"


def write_coords(
    path: Path, grid: TileGrid, attrs: dict[str, Any], tissue: TissueMask | None = None
) -> None:
    """Write a tile grid as HDF5 atomically (``coords``, ``tissue_fraction``, attributes).

    Examples:
        >>> import tempfile
        >>> from biomm.preprocess.tiling import tile_grid
        >>> p = Path(tempfile.mkdtemp()) / "c.h5"
        >>> write_coords(p, tile_grid((500, 500), 0.5, 0.5, 100), {"slide": "x"})
        >>> with h5py.File(p) as f:
        ...     f["coords"].shape, int(f.attrs["patch_size_level0"])
        ((25, 2), 100)
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset("coords", data=grid.coords.astype(np.int64))
        h5.create_dataset("tissue_fraction", data=grid.tissue_fraction.astype(np.float32))
        meta = {
            "target_mpp": grid.target_mpp,
            "patch_size": grid.patch_size,
            "patch_size_level0": grid.patch_size_level0,
            "stride_level0": grid.stride_level0,
            "slide_mpp": grid.slide_mpp,
            "biomm_version": __version__,
            **attrs,
        }
        if tissue is not None:
            meta["tissue_mask_mpp"] = tissue.mpp
            meta["tissue_fraction_of_slide"] = tissue.fraction
        for key, value in meta.items():
            h5.attrs[key] = "" if value is None else value


def tissue_and_grid(
    slide: Slide,
    *,
    target_mpp: float,
    patch_size: int,
    min_tissue: float,
    tissue_mpp: float,
    overlap: int = 0,
    stage: Stage | None = None,
) -> tuple[TissueMask, TileGrid]:
    """Detect tissue on ``slide`` and tile it (the first steps of every slide job).

    Examples:
        >>> from biomm.io.wsi import Slide, open_slide
        >>> slide = open_slide(Path(__file__).parents[2] / "tests/data/wsi/CMU-1-Small-Region.svs")
        >>> tissue, grid = tissue_and_grid(slide, target_mpp=1.0, patch_size=128,
        ...                                min_tissue=0.5, tissue_mpp=8.0)
        >>> len(grid) > 10
        True
    """
    if stage is not None:
        stage.name = "tissue"
    tissue = detect_tissue(slide, mpp=tissue_mpp)
    if stage is not None:
        stage.name = "tiling"
    grid = grid_tiles(
        slide, target_mpp, patch_size, overlap=overlap, tissue=tissue, min_tissue=min_tissue
    )
    return tissue, grid


def tile_slides(
    jobs: list[SlideJob],
    out_dir: Path,
    params: TilingParams,
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Detect tissue and tile every slide; record failures; return the summary.

    Args:
        jobs: Slides (see :func:`biomm.wsi.jobs.slide_jobs`).
        out_dir: Output folder (created).
        params: Tiling parameters.
        overwrite: Redo slides whose outputs exist.
        progress: Show a progress bar.
    """
    out_dir = Path(out_dir)
    with output_lock(out_dir):  # one run per folder; a killed run's lock dies with it
        return _tile_slides(jobs, out_dir, params, overwrite=overwrite, progress=progress)


def _tile_slides(
    jobs: list[SlideJob], out_dir: Path, params: TilingParams, *, overwrite: bool, progress: bool
) -> dict[str, Any]:
    for sub in ("coords", "masks", "geojson"):
        remove_stale_temporaries(out_dir / sub)  # left by a killed run; never complete
    log = JobLog("wsi-tile", job_parameters(params))

    def process(job: SlideJob, stage: Stage) -> dict[str, float]:
        mpp = job.mpp if job.mpp is not None else params.slide_mpp
        with open_slide(job.path, params.backend, mpp=mpp, mpp_policy=params.mpp_policy) as slide:
            tissue, grid = tissue_and_grid(
                slide,
                target_mpp=params.target_mpp,
                patch_size=params.patch_size,
                min_tissue=params.min_tissue,
                tissue_mpp=params.tissue_mpp,
                overlap=params.overlap,
                stage=stage,
            )
            stage.name = "write"
            tissue.save_png(out_dir / "masks" / f"{job.name}.png")
            tissue.save_geojson(out_dir / "geojson" / f"{job.name}.geojson")
            attrs = {
                "slide_path": str(job.path),
                "patient_id": job.patient_id or "",
                "mpp_source": slide.mpp_resolution.source or "",
                "level0_width": slide.dimensions[0],
                "level0_height": slide.dimensions[1],
                "min_tissue": params.min_tissue,
                "overlap": params.overlap,
            }
            write_coords(coords_path(out_dir, job), grid, attrs, tissue)
        return {"tiles": len(grid)}

    run_slide_jobs(
        jobs,
        log,
        output_for=lambda job: coords_path(out_dir, job),
        process=process,
        overwrite=overwrite,
        progress=progress,
        desc="tiling",
    )
    return log.write(out_dir)
