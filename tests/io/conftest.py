"""Slides for reader tests: a lossless generic pyramid (with its in-memory twin), a slide
without resolution, a corrupt tile, and the real CMU H&E slide."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from biomm.io.wsi import VirtualSlide

REAL_SLIDE = Path(__file__).parents[1] / "data" / "wsi" / "CMU-1-Small-Region.svs"


def write_generic_pyramid(path: Path, twin: VirtualSlide, mpp: float | None = 0.5) -> Path:
    """Write the levels of ``twin`` as a tiled, deflate-compressed generic TIFF pyramid."""
    with tifffile.TiffWriter(path) as tif:
        for level, array in enumerate(twin._pyramid):
            extra = {}
            if mpp is not None:
                res = 1e4 / (mpp * 2**level)
                extra = {"resolution": (res, res), "resolutionunit": "CENTIMETER"}
            tif.write(
                array,
                tile=(256, 256),
                compression="zlib",
                photometric="rgb",
                subfiletype=1 if level else 0,
                metadata=None,
                **extra,
            )
    return path


@pytest.fixture(scope="session")
def pyramid(tmp_path_factory) -> tuple[Path, VirtualSlide]:
    rng = np.random.default_rng(0)
    twin = VirtualSlide(rng.integers(0, 255, (1000, 1500, 3), dtype=np.uint8), mpp=0.5, levels=3)
    path = write_generic_pyramid(tmp_path_factory.mktemp("wsi") / "pyramid.tif", twin)
    return path, twin


@pytest.fixture(scope="session")
def no_mpp_slide(tmp_path_factory) -> Path:
    twin = VirtualSlide(np.full((512, 512, 3), 200, np.uint8), mpp=None)
    return write_generic_pyramid(tmp_path_factory.mktemp("wsi") / "nompp.tif", twin, mpp=None)


def write_corrupt_jpeg_tiff(path: Path, image: np.ndarray) -> Path:
    """A JPEG-tiled (256 px) TIFF at 0.5 µm/px whose second tile's bytes are garbage."""
    tifffile.imwrite(
        path,
        image,
        tile=(256, 256),
        compression="jpeg",
        photometric="rgb",
        resolution=(2e4, 2e4),
        resolutionunit="CENTIMETER",
        metadata=None,
    )
    with tifffile.TiffFile(path) as tif:
        offset, count = tif.pages[0].dataoffsets[1], tif.pages[0].databytecounts[1]
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\x00\xff" * (count // 2))
    return path


@pytest.fixture(scope="session")
def corrupt_tile_slide(tmp_path_factory) -> Path:
    image = np.random.default_rng(1).integers(0, 255, (512, 512, 3), dtype=np.uint8)
    return write_corrupt_jpeg_tiff(tmp_path_factory.mktemp("wsi") / "corrupt.tif", image)
