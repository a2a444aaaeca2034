"""A whole-slide heatmap figure: per-tile scores over the thumbnail, with a colour bar.

The blending is :func:`biomm.wsi.heatmap.score_heatmap`; this module frames it as a figure
with a colour bar in the same colours (:func:`biomm.wsi.heatmap.colormap`).

Examples:
    >>> from biomm.io.wsi import VirtualSlide
    >>> slide = VirtualSlide(np.full((512, 512, 3), 230, np.uint8), mpp=0.5)
    >>> fig = heatmap_figure(slide, np.array([[0, 0], [256, 256]]), np.array([0.1, 0.9]), 256,
    ...                      mpp=4.0)
    >>> fig.axes[0].get_images()[0].get_array().shape
    (64, 64, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from biomm.errors import InputError
from biomm.report.plotting import new_figure
from biomm.wsi.heatmap import colormap, score_heatmap

__all__ = ["heatmap_colormap", "heatmap_figure"]

_SCALE_LABEL = {
    "rank": "score percentile",
    "minmax": "score (min-max scaled)",
    "none": "score",
}


def heatmap_colormap() -> ListedColormap:
    """The heatmap's colours as a matplotlib colour map (for colour bars).

    Examples:
        >>> heatmap_colormap().N
        256
    """
    return ListedColormap(colormap(np.linspace(0.0, 1.0, 256)) / 255.0, name="biomm_heatmap")


def heatmap_figure(
    slide: Any,
    coords: Any,
    scores: Any,
    patch_size_level0: int,
    *,
    mpp: float = 8.0,
    alpha: float = 0.5,
    normalize: str = "rank",
    title: str = "Tile scores",
) -> Figure:
    """Per-tile scores (attention, similarity) blended onto a slide thumbnail, with a colour bar.

    Args:
        slide: A :class:`biomm.io.wsi.base.Slide` (e.g. from :func:`biomm.io.wsi.open_slide`).
        coords: ``[N, 2]`` level-0 top-left corners of the tiles.
        scores: ``[N]`` scores.
        patch_size_level0: Tile size in level-0 pixels.
        mpp: Thumbnail resolution (µm/px).
        alpha: Opacity of the colours.
        normalize: ``rank``, ``minmax`` or ``none`` (see
            :func:`biomm.wsi.heatmap.score_heatmap`).
        title: Title (keep identifiers out of it).

    Raises:
        InputError: On scores and coordinates of different lengths or an unknown
            ``normalize``.

    Examples:
        >>> heatmap_figure.__name__
        'heatmap_figure'
    """
    if normalize not in _SCALE_LABEL:
        raise InputError(f"unknown normalize {normalize!r}; use one of {list(_SCALE_LABEL)}")
    coords = np.asarray(coords).reshape(-1, 2)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if len(coords) != len(scores):
        raise InputError(f"{len(scores)} scores for {len(coords)} tiles")
    image = score_heatmap(
        slide, coords, scores, patch_size_level0, mpp=mpp, alpha=alpha, normalize=normalize
    )
    height, width = image.shape[:2]
    aspect = height / max(width, 1)
    fig, ax = new_figure(6.0, max(2.5, min(9.0, 5.0 * aspect + 0.8)))
    ax.imshow(image, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{title} ({len(scores)} tiles)")
    if normalize == "none":
        low, high = 0.0, 1.0
    elif normalize == "minmax" and len(scores):
        low, high = float(np.min(scores)), float(np.max(scores))
    else:
        low, high = 0.0, 100.0
    mappable = ax.scatter([], [], c=[], cmap=heatmap_colormap(), vmin=low, vmax=high)
    fig.colorbar(mappable, ax=ax, shrink=0.8, label=_SCALE_LABEL[normalize])
    return fig
