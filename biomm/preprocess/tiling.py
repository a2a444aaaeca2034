"""Tile coordinates in µm/px: a vectorised grid with per-tile tissue fraction, and samplers.

Coordinates are level-0 pixels (top-left corners), the convention CLAM and TRIDENT outputs use.
The patch size is given at the target mpp; its level-0 size follows from the slide's mpp. The
tissue fraction of every tile comes from a summed-area table of the tissue mask, so a
100k × 100k slide gets its coordinates in well under a second.

Examples:
    >>> import numpy as np
    >>> grid = tile_grid((2000, 1000), slide_mpp=0.25, target_mpp=0.5, patch_size=224)
    >>> grid.patch_size_level0, len(grid), grid.coords[:2].tolist()
    (448, 8, [[0, 0], [448, 0]])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from biomm.errors import InputError

if TYPE_CHECKING:
    from biomm.io.wsi.base import Slide
    from biomm.preprocess.tissue import TissueMask


@dataclass(frozen=True)
class TileGrid:
    """Tiles of one slide.

    Attributes:
        coords: ``[N, 2]`` int64 level-0 ``(x, y)`` of each tile's top-left corner.
        tissue_fraction: ``[N]`` float32 fraction of each tile covered by tissue (1 without a
            mask).
        target_mpp: µm/px at which tiles are read.
        patch_size: Tile width and height in pixels at ``target_mpp``.
        patch_size_level0: Tile width and height in level-0 pixels.
        stride_level0: Distance between neighbouring tiles in level-0 pixels.
        slide_mpp: Level-0 µm/px of the slide.
    """

    coords: np.ndarray
    tissue_fraction: np.ndarray
    target_mpp: float
    patch_size: int
    patch_size_level0: int
    stride_level0: float
    slide_mpp: float

    def __len__(self) -> int:
        return len(self.coords)

    def select(self, indices: np.ndarray) -> TileGrid:
        """The grid restricted to ``indices`` (order kept as given).

        Examples:
            >>> g = tile_grid((1000, 1000), slide_mpp=0.5, target_mpp=0.5, patch_size=100)
            >>> len(g.select(np.array([0, 5, 9])))
            3
        """
        return TileGrid(
            coords=self.coords[indices],
            tissue_fraction=self.tissue_fraction[indices],
            target_mpp=self.target_mpp,
            patch_size=self.patch_size,
            patch_size_level0=self.patch_size_level0,
            stride_level0=self.stride_level0,
            slide_mpp=self.slide_mpp,
        )

    def to_frame(self) -> pd.DataFrame:
        """Columns ``x``, ``y``, ``tissue_fraction``.

        Examples:
            >>> tile_grid((300, 300), 0.5, 0.5, 100).to_frame().shape
            (9, 3)
        """
        return pd.DataFrame(
            {
                "x": self.coords[:, 0],
                "y": self.coords[:, 1],
                "tissue_fraction": self.tissue_fraction,
            }
        )


def tile_grid(
    dimensions: tuple[int, int],
    slide_mpp: float,
    target_mpp: float,
    patch_size: int,
    *,
    overlap: int = 0,
    tissue: TissueMask | None = None,
    min_tissue: float = 0.0,
) -> TileGrid:
    """All full tiles of a slide on a regular grid, filtered by tissue fraction.

    Args:
        dimensions: Level-0 ``(width, height)``.
        slide_mpp: Level-0 µm/px.
        target_mpp: µm/px at which tiles will be read.
        patch_size: Tile size in pixels at ``target_mpp``.
        overlap: Overlap between neighbouring tiles, in pixels at ``target_mpp``.
        tissue: Tissue mask; without one every tile has tissue fraction 1.
        min_tissue: Keep tiles whose tissue fraction is at least this (0 keeps all).

    Raises:
        InputError: On non-positive sizes or an overlap not smaller than the patch.

    Examples:
        >>> g = tile_grid((1000, 600), slide_mpp=0.5, target_mpp=1.0, patch_size=100, overlap=50)
        >>> g.patch_size_level0, g.stride_level0, len(g)
        (200, 100.0, 45)
    """
    width, height = (int(v) for v in dimensions)
    if patch_size <= 0 or target_mpp <= 0 or slide_mpp <= 0:
        raise InputError(
            f"patch_size, target_mpp and slide_mpp must be positive, got {patch_size}, "
            f"{target_mpp}, {slide_mpp}"
        )
    if not 0 <= overlap < patch_size:
        raise InputError(f"overlap must be in [0, patch_size), got {overlap} for {patch_size}")
    if not 0.0 <= min_tissue <= 1.0:
        raise InputError(f"min_tissue must be in [0, 1], got {min_tissue}")
    scale = target_mpp / slide_mpp
    patch0 = max(1, round(patch_size * scale))
    stride0 = (patch_size - overlap) * scale
    n_x = math.floor((width - patch0) / stride0) + 1 if width >= patch0 else 0
    n_y = math.floor((height - patch0) / stride0) + 1 if height >= patch0 else 0
    xs = np.round(np.arange(n_x) * stride0).astype(np.int64)
    ys = np.round(np.arange(n_y) * stride0).astype(np.int64)
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    coords = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    if tissue is None:
        fraction = np.ones(len(coords), np.float32)
    else:
        fraction = tissue_fraction(tissue, coords, patch0)
    keep = fraction >= min_tissue if min_tissue > 0 else np.ones(len(coords), bool)
    return TileGrid(
        coords=coords[keep],
        tissue_fraction=fraction[keep],
        target_mpp=float(target_mpp),
        patch_size=int(patch_size),
        patch_size_level0=int(patch0),
        stride_level0=float(stride0),
        slide_mpp=float(slide_mpp),
    )


def tissue_fraction(tissue: TissueMask, coords: np.ndarray, patch_level0: int) -> np.ndarray:
    """Fraction of each level-0 square ``[x, x + patch) × [y, y + patch)`` that is tissue.

    Uses a summed-area table of the mask; each tile covers at least one mask pixel.

    Examples:
        >>> from biomm.preprocess.tissue import TissueMask
        >>> m = np.zeros((10, 10), bool); m[:, :5] = True
        >>> tissue_fraction(TissueMask(m, 8.0, 16.0), np.array([[0, 0], [40, 0], [80, 0]]), 80)
        array([1. , 0.5, 0. ], dtype=float32)
    """
    mask = tissue.mask
    h, w = mask.shape
    table = np.zeros((h + 1, w + 1), np.int64)
    table[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    ds = tissue.downsample
    x0 = np.clip(np.floor(coords[:, 0] / ds).astype(np.int64), 0, w)
    y0 = np.clip(np.floor(coords[:, 1] / ds).astype(np.int64), 0, h)
    x1 = np.clip(np.ceil((coords[:, 0] + patch_level0) / ds).astype(np.int64), 0, w)
    y1 = np.clip(np.ceil((coords[:, 1] + patch_level0) / ds).astype(np.int64), 0, h)
    x1 = np.maximum(x1, np.minimum(x0 + 1, w))
    y1 = np.maximum(y1, np.minimum(y0 + 1, h))
    area = (x1 - x0) * (y1 - y0)
    inside = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    return np.where(area > 0, inside / np.maximum(area, 1), 0.0).astype(np.float32)


def grid_tiles(
    slide: Slide,
    target_mpp: float = 0.5,
    patch_size: int = 224,
    *,
    overlap: int = 0,
    tissue: TissueMask | None = None,
    min_tissue: float = 0.5,
) -> TileGrid:
    """:func:`tile_grid` for an open slide (its dimensions and mpp).

    Raises:
        SlideReadError: When the slide's mpp is unknown.

    Examples:
        >>> from biomm.io.wsi import VirtualSlide
        >>> s = VirtualSlide(np.zeros((1000, 1000, 3), np.uint8), mpp=0.25)
        >>> len(grid_tiles(s, target_mpp=0.5, patch_size=224, min_tissue=0))
        4
    """
    return tile_grid(
        slide.dimensions,
        slide.require_mpp(),
        target_mpp,
        patch_size,
        overlap=overlap,
        tissue=tissue,
        min_tissue=min_tissue,
    )


class GridSampler:
    """Every tile, in raster order (row by row).

    Examples:
        >>> g = tile_grid((300, 300), 0.5, 0.5, 100)
        >>> GridSampler().sample(g).tolist()
        [0, 1, 2, 3, 4, 5, 6, 7, 8]
    """

    def sample(self, grid: TileGrid) -> np.ndarray:
        """Indices into ``grid``."""
        order = np.lexsort((grid.coords[:, 0], grid.coords[:, 1]))
        return order.astype(np.int64)


class RandomSampler:
    """``n`` tiles drawn without replacement (all tiles if fewer), seeded.

    Args:
        n: Number of tiles.
        seed: Random seed; the same seed and grid give the same tiles.
        weighted: Draw proportionally to tissue fraction instead of uniformly.

    Examples:
        >>> g = tile_grid((1000, 1000), 0.5, 0.5, 100)
        >>> a = RandomSampler(5, seed=1).sample(g); b = RandomSampler(5, seed=1).sample(g)
        >>> len(a), a.tolist() == b.tolist(), len(set(a.tolist()))
        (5, True, 5)
    """

    def __init__(self, n: int, seed: int = 0, weighted: bool = False) -> None:
        if n <= 0:
            raise InputError(f"RandomSampler n must be positive, got {n}")
        self.n = n
        self.seed = seed
        self.weighted = weighted

    def sample(self, grid: TileGrid) -> np.ndarray:
        """Indices into ``grid``."""
        rng = np.random.default_rng(self.seed)
        if len(grid) <= self.n:
            return rng.permutation(len(grid)).astype(np.int64)
        p = None
        if self.weighted and grid.tissue_fraction.sum() > 0:
            p = grid.tissue_fraction / grid.tissue_fraction.sum()
            if np.count_nonzero(p) < self.n:
                p = None
        return rng.choice(len(grid), size=self.n, replace=False, p=p).astype(np.int64)
