"""Matplotlib helpers shared by the report figures: window-free figures and PNG bytes.

Figures are :class:`matplotlib.figure.Figure` objects made without :mod:`matplotlib.pyplot`,
so building a report never opens a window, never switches the user's backend and leaves no
global figure state behind; in a notebook a returned figure displays like any other.

Examples:
    >>> fig, ax = new_figure(4, 3)
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> png_bytes(fig)[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
    True
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["CHANCE_STYLE", "PALETTE", "new_figure", "png_bytes"]

#: Colour cycle of the report (colour-blind friendly, Okabe–Ito).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")

#: Style of reference lines (chance level, perfect calibration).
CHANCE_STYLE: dict[str, Any] = {"color": "0.55", "linestyle": "--", "linewidth": 1.0}


def new_figure(width: float = 5.0, height: float = 4.0, **subplots: Any) -> tuple[Figure, Any]:
    """A figure and its axes, made without pyplot (no window, no global state).

    Args:
        width: Width in inches.
        height: Height in inches.
        **subplots: Passed to :meth:`matplotlib.figure.Figure.subplots` (``nrows``,
            ``ncols``, ``gridspec_kw``, ``sharex``...).

    Returns:
        ``(figure, axes)``; ``axes`` is one :class:`~matplotlib.axes.Axes` or an array of them.

    Examples:
        >>> fig, axes = new_figure(6, 3, ncols=2)
        >>> len(axes), len(fig.axes)
        (2, 2)
    """
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(**subplots)
    if isinstance(axes, Axes):
        axes.set_prop_cycle(color=list(PALETTE))
    else:
        for ax in axes.flat:
            ax.set_prop_cycle(color=list(PALETTE))
    return fig, axes


def png_bytes(fig: Figure, *, dpi: int = 110) -> bytes:
    """The figure rendered as PNG (Agg), e.g. to embed in HTML or write to disk.

    Examples:
        >>> fig, ax = new_figure(2, 2)
        >>> len(png_bytes(fig, dpi=50)) > 100
        True
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()
