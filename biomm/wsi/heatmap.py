"""Heatmaps of per-tile scores (attention, similarity, predictions) over a slide thumbnail.

Examples:
    >>> import numpy as np
    >>> from biomm.io.wsi import VirtualSlide
    >>> slide = VirtualSlide(np.full((512, 512, 3), 230, np.uint8), mpp=0.5)
    >>> coords = np.array([[0, 0], [256, 256]])
    >>> image = score_heatmap(slide, coords, np.array([0.1, 0.9]), 256, mpp=4.0)
    >>> image.shape
    (64, 64, 3)
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image

from biomm.io.wsi.base import Slide
from biomm.utils.atomic import atomic_path

# Perceptually ordered dark-blue → teal → yellow ramp (viridis-like), 5 anchor colours.
_RAMP = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float32
)


def colormap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] to RGB uint8 along a viridis-like ramp.

    Examples:
        >>> colormap(np.array([0.0, 1.0])).tolist()
        [[68, 1, 84], [253, 231, 37]]
    """
    v = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * (len(_RAMP) - 1)
    low = np.floor(v).astype(int).clip(0, len(_RAMP) - 2)
    frac = (v - low)[..., None]
    return np.round(_RAMP[low] * (1 - frac) + _RAMP[low + 1] * frac).astype(np.uint8)


def score_heatmap(
    slide: Slide,
    coords: np.ndarray,
    scores: np.ndarray,
    patch_size_level0: int,
    *,
    mpp: float = 8.0,
    alpha: float = 0.5,
    normalize: str = "rank",
) -> np.ndarray:
    """Blend per-tile scores, as colours, onto the slide thumbnail.

    Args:
        slide: The slide.
        coords: ``[N, 2]`` level-0 top-left corners of the tiles.
        scores: ``[N]`` scores.
        patch_size_level0: Tile size in level-0 pixels.
        mpp: Thumbnail resolution.
        alpha: Opacity of the colours over tissue.
        normalize: ``rank`` (percentiles: robust to a few extreme attention weights),
            ``minmax`` or ``none`` (scores already in [0, 1]).

    Returns:
        RGB uint8 thumbnail with the tiles coloured.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) != len(coords):
        raise ValueError(f"{len(scores)} scores for {len(coords)} tiles")
    if normalize == "rank" and len(scores) > 1:
        scores = scores.argsort().argsort() / (len(scores) - 1)
    elif normalize == "minmax" and np.ptp(scores) > 0:
        scores = (scores - scores.min()) / np.ptp(scores)
    thumb = slide.thumbnail(mpp=mpp).astype(np.float32)
    ds = slide.dimensions[0] / thumb.shape[1]
    colours = colormap(scores).astype(np.float32)
    out = thumb.copy()
    side = max(1, round(patch_size_level0 / ds))
    for (x, y), colour in zip(coords, colours, strict=True):
        tx, ty = round(x / ds), round(y / ds)
        window = out[ty : ty + side, tx : tx + side]
        window[:] = (1 - alpha) * thumb[ty : ty + side, tx : tx + side] + alpha * colour
    return out.clip(0, 255).astype(np.uint8)


def save_heatmap(path: str | PathLike[str], image: np.ndarray) -> Path:
    """Write a heatmap PNG atomically.

    Examples:
        >>> import tempfile
        >>> save_heatmap(Path(tempfile.mkdtemp()) / "h.png", np.zeros((4, 4, 3), np.uint8)).exists()
        True
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return path
