"""Tiling: properties over random geometries (hypothesis) and concrete cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biomm.errors import InputError
from biomm.io.wsi import open_slide
from biomm.preprocess.tiling import GridSampler, RandomSampler, grid_tiles, tile_grid
from biomm.preprocess.tissue import TissueMask, detect_tissue

from ..io.conftest import REAL_SLIDE


@settings(max_examples=80, deadline=None)
@given(
    width=st.integers(1, 5000),
    height=st.integers(1, 5000),
    slide_mpp=st.sampled_from([0.1, 0.25, 0.2527, 0.5, 1.0]),
    target_mpp=st.sampled_from([0.25, 0.5, 1.0, 2.0]),
    patch=st.integers(16, 512),
    overlap_frac=st.floats(0, 0.9),
)
def test_tiles_inside_bounds_and_unique(width, height, slide_mpp, target_mpp, patch, overlap_frac):
    overlap = int(patch * overlap_frac)
    grid = tile_grid((width, height), slide_mpp, target_mpp, patch, overlap=overlap)
    if len(grid):
        assert grid.coords.min() >= 0
        assert (grid.coords[:, 0] + grid.patch_size_level0 <= width).all()
        assert (grid.coords[:, 1] + grid.patch_size_level0 <= height).all()
        assert len(np.unique(grid.coords, axis=0)) == len(grid)
    else:
        assert width < grid.patch_size_level0 or height < grid.patch_size_level0
    # the grid covers the slide up to less than one stride plus one patch at the far edges
    if len(grid):
        assert width - (grid.coords[:, 0].max() + grid.patch_size_level0) < grid.stride_level0 + 1


@settings(max_examples=40, deadline=None)
@given(mask=st.lists(st.booleans(), min_size=64, max_size=64), min_tissue=st.floats(0.01, 1.0))
def test_tissue_fraction_matches_brute_force(mask, min_tissue):
    m = np.array(mask).reshape(8, 8)
    tissue = TissueMask(m, mpp=8.0, downsample=16.0)
    grid = tile_grid((128, 128), 0.5, 0.5, 32, tissue=tissue)
    for (x, y), frac in zip(grid.coords, grid.tissue_fraction, strict=True):
        expected = m[y // 16 : (y + 32) // 16, x // 16 : (x + 32) // 16].mean()
        assert frac == pytest.approx(expected)
    kept = tile_grid((128, 128), 0.5, 0.5, 32, tissue=tissue, min_tissue=min_tissue)
    assert (kept.tissue_fraction >= min_tissue).all()
    assert len(kept) == int((grid.tissue_fraction >= min_tissue).sum())


def test_real_slide_tiles_fall_on_tissue():
    slide = open_slide(REAL_SLIDE)
    tissue = detect_tissue(slide)
    grid = grid_tiles(slide, target_mpp=0.5, patch_size=224, tissue=tissue, min_tissue=0.5)
    everything = grid_tiles(slide, target_mpp=0.5, patch_size=224, min_tissue=0)
    assert 0 < len(grid) < len(everything)
    tiles = np.stack([slide.read(x, y, 224, 224, mpp=0.5) for x, y in grid.coords[:8]])
    background = slide.read(0, 0, 224, 224, mpp=0.5)
    assert tiles.mean() < background.mean() - 30  # tissue tiles are darker than glass


def test_samplers():
    grid = tile_grid((1000, 1000), 0.5, 0.5, 100)
    assert GridSampler().sample(grid).tolist() == list(range(100))
    a = RandomSampler(10, seed=3).sample(grid)
    assert (
        len(set(a.tolist())) == 10 and a.tolist() == RandomSampler(10, seed=3).sample(grid).tolist()
    )
    assert len(RandomSampler(500).sample(grid)) == 100
    with pytest.raises(InputError):
        RandomSampler(0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patch_size": 0}, "positive"),
        ({"overlap": 224}, "overlap"),
        ({"min_tissue": 2.0}, "min_tissue"),
    ],
)
def test_invalid_tiling_parameters(kwargs, message):
    args = {"dimensions": (1000, 1000), "slide_mpp": 0.5, "target_mpp": 0.5, "patch_size": 224}
    args.update(kwargs)
    with pytest.raises(InputError, match=message):
        tile_grid(**args)
