"""Zero-shot results: per-class AUROC as sorted horizontal bars with the number of positives.

Examples:
    >>> per_class = {"AF": {"auroc": 0.91, "positives": 12, "n": 100},
    ...              "MI": {"auroc": 0.74, "positives": 30, "n": 100}}
    >>> per_class_table(per_class)["class"].tolist()
    ['AF', 'MI']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from biomm.errors import InputError
from biomm.report.plotting import CHANCE_STYLE, PALETTE, new_figure

__all__ = ["per_class_table", "zeroshot_figure"]

_POSITIVES = ("positives", "n_positives", "n_pos")


def per_class_table(per_class: Any) -> pd.DataFrame:
    """Per-class zero-shot metrics as a DataFrame with a ``class`` column.

    Args:
        per_class: The ``per_class`` mapping of
            :func:`biomm.zeroshot.metrics.classification_metrics` (class → metrics), a
            whole metrics dict holding ``per_class``, or a DataFrame (a ``class`` column or
            the class names as index). The number of positives may be named ``positives``,
            ``n_positives`` or ``n_pos``.

    Returns:
        DataFrame with ``class`` first, then the metrics; ``positives`` when known.

    Raises:
        InputError: When it cannot be read as a per-class table.

    Examples:
        >>> df = pd.DataFrame({"auroc": [0.8], "n_pos": [5]}, index=["AF"])
        >>> per_class_table(df).to_dict("records")
        [{'class': 'AF', 'auroc': 0.8, 'positives': 5}]
    """
    if isinstance(per_class, Mapping) and isinstance(per_class.get("per_class"), Mapping):
        per_class = per_class["per_class"]
    if isinstance(per_class, Mapping):
        if not all(isinstance(v, Mapping) for v in per_class.values()):
            raise InputError("per-class metrics must map each class name to a dict of metrics")
        frame = pd.DataFrame.from_dict(dict(per_class), orient="index")
        frame.index.name = "class"
        frame = frame.reset_index()
    elif isinstance(per_class, pd.DataFrame):
        frame = per_class.copy()
        if "class" not in frame:
            frame = frame.rename_axis("class").reset_index()
    else:
        raise InputError(
            f"cannot read per-class metrics from {type(per_class).__name__}: give a mapping "
            "class → metrics or a DataFrame"
        )
    for name in _POSITIVES[1:]:
        if name in frame and "positives" not in frame:
            frame = frame.rename(columns={name: "positives"})
    frame["class"] = frame["class"].astype(str)
    return frame


def zeroshot_figure(
    per_class: Any, *, metric: str = "auroc", title: str = "Zero-shot per-class AUROC"
) -> Figure:
    """Horizontal bars of a per-class metric, best class on top, with n positives per class.

    Classes where the metric is undefined (one label value) are listed as ``n/a`` at the
    bottom. The dashed line marks chance (0.5) for AUROC; the title gives the macro mean.

    Args:
        per_class: Anything :func:`per_class_table` reads.
        metric: The metric column.
        title: Title.

    Raises:
        InputError: On an unreadable table, a missing metric column or no class.

    Examples:
        >>> fig = zeroshot_figure({"AF": {"auroc": 0.91, "positives": 12},
        ...                        "MI": {"auroc": 0.74, "positives": 30}})
        >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
        ['MI (n+ = 30)', 'AF (n+ = 12)']
    """
    frame = per_class_table(per_class)
    if metric not in frame:
        raise InputError(f"no {metric!r} column among {list(frame.columns)}")
    if frame.empty:
        raise InputError("no class to plot")
    values = pd.to_numeric(frame[metric], errors="coerce").astype(float)
    frame = frame.assign(_value=values).sort_values(
        "_value", ascending=True, na_position="first", kind="stable"
    )
    n_pos = frame["positives"] if "positives" in frame else pd.Series([None] * len(frame))
    labels = [
        f"{name} (n+ = {int(k)})" if k is not None and np.isfinite(k) else str(name)
        for name, k in zip(frame["class"], pd.to_numeric(n_pos, errors="coerce"), strict=True)
    ]
    y = np.arange(len(frame))
    shown = frame["_value"].fillna(0.0).to_numpy()
    fig, ax = new_figure(6.0, max(2.5, 0.32 * len(frame) + 1.4))
    bars = ax.barh(y, shown, color=PALETTE[2], height=0.7)
    for bar, value in zip(bars, frame["_value"], strict=True):
        text = f"{value:.3f}" if np.isfinite(value) else "n/a"
        ax.annotate(
            text,
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            textcoords="offset points",
            xytext=(3, 0),
            va="center",
            fontsize="x-small",
        )
    ax.set_yticks(y, labels, fontsize="small")
    ax.set_xlim(0, 1.08)
    if metric == "auroc":
        ax.axvline(0.5, **CHANCE_STYLE)
    ax.set_xlabel(metric.replace("_", " "))
    macro = float(np.nanmean(frame["_value"])) if frame["_value"].notna().any() else float("nan")
    ax.set_title(f"{title} (macro {macro:.3f}, {int(frame['_value'].notna().sum())} classes)")
    ax.spines[["top", "right"]].set_visible(False)
    return fig
