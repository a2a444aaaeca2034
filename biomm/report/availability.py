"""Modality availability: pattern counts (UpSet-like) and metrics per availability pattern.

A *pattern* is the set of modalities a patient has, written as names joined by ``+``
(``"ecg+wsi"``; ``"none"`` without any), as in :mod:`biomm.eval.availability`.

Examples:
    >>> import pandas as pd
    >>> matrix = pd.DataFrame({"ecg": [True, True, False], "wsi": [True, False, False]})
    >>> pattern_counts(matrix).to_dict()
    {'ecg': 1, 'ecg+wsi': 1, 'none': 1}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from biomm.errors import InputError
from biomm.eval.availability import ALL_PATTERNS, availability_patterns
from biomm.report.plotting import CHANCE_STYLE, PALETTE, new_figure

__all__ = ["availability_figure", "metric_columns", "pattern_counts", "pattern_metrics_figure"]

#: Metrics whose chance level is 0.5 (drawn as a dashed line).
_CHANCE_HALF = {"auroc", "c_index", "balanced_accuracy"}


def _from_patterns_table(table: pd.DataFrame) -> pd.Series:
    flags = [c for c in table.columns if c not in ("n_patients", "fraction")]
    present = {c: table[c].astype(bool).to_numpy() for c in flags}
    labels = availability_patterns(present) if flags else np.array(["none"] * len(table))
    counts = pd.Series(table["n_patients"].astype(int).to_numpy(), index=labels)
    return counts.groupby(level=0).sum()


def pattern_counts(availability: Any) -> pd.Series:
    """Number of patients per availability pattern, most frequent first.

    Args:
        availability: Any of: a :class:`biomm.cohort.Availability` (or its ``patterns``
            table: boolean modality columns and ``n_patients``); a boolean patients ×
            modalities DataFrame (``Availability.matrix``, or ``has_<modality>`` columns of
            ``predictions.csv``); a mapping modality → ``[N]`` bool mask; or a Series
            pattern → count.

    Returns:
        Series pattern label → count, sorted by decreasing count then label.

    Raises:
        InputError: On anything else.

    Examples:
        >>> pattern_counts({"ecg": [True, False], "wsi": [True, True]}).to_dict()
        {'ecg+wsi': 1, 'wsi': 1}
        >>> pattern_counts(pd.DataFrame({"has_ecg": [True, False]})).index.tolist()
        ['ecg', 'none']
    """
    if hasattr(availability, "patterns") and hasattr(availability, "matrix"):
        availability = availability.patterns
    if isinstance(availability, pd.Series):
        counts = availability.astype(int)
    elif isinstance(availability, pd.DataFrame) and "n_patients" in availability:
        counts = _from_patterns_table(availability)
    elif isinstance(availability, pd.DataFrame):
        flags = [c for c in availability.columns if availability[c].dtype == bool]
        if not flags:
            raise InputError(f"no boolean modality column among {list(availability.columns)[:10]}")
        present = {c.removeprefix("has_"): availability[c].to_numpy() for c in flags}
        counts = pd.Series(availability_patterns(present)).value_counts()
    elif isinstance(availability, Mapping):
        counts = pd.Series(availability_patterns(availability)).value_counts()
    else:
        raise InputError(
            f"cannot read availability from {type(availability).__name__}: give an "
            "Availability, a boolean DataFrame, a mapping of masks or a Series of counts"
        )
    counts.index = counts.index.astype(str)
    frame = counts.rename("n").rename_axis("pattern").reset_index()
    frame = frame.sort_values(["n", "pattern"], ascending=[False, True], kind="stable")
    return pd.Series(frame["n"].to_numpy(), index=frame["pattern"].to_numpy(), name="n")


def _modalities_of(patterns: list[str]) -> list[str]:
    names: list[str] = []
    for pattern in patterns:
        for name in pattern.split("+"):
            if name != "none" and name not in names:
                names.append(name)
    return names


def availability_figure(
    availability: Any, *, title: str = "Modality availability", matrix: bool = True
) -> Figure:
    """Bar chart of patients per availability pattern, UpSet-style.

    The upper panel has one bar per pattern (its count written on top); the lower panel
    (``matrix=True``) marks which modalities each pattern holds, with the pattern labels
    (``ecg+wsi``) under it.

    Args:
        availability: Anything :func:`pattern_counts` reads.
        title: Title.
        matrix: Draw the modality dot matrix under the bars.

    Raises:
        InputError: See :func:`pattern_counts`; also when there is no patient.

    Examples:
        >>> fig = availability_figure({"ecg": [True, True, False], "wsi": [True, False, False]})
        >>> [round(p.get_height()) for p in fig.axes[0].patches]
        [1, 1, 1]
    """
    counts = pattern_counts(availability)
    if counts.empty or counts.sum() == 0:
        raise InputError("no patient: nothing to plot")
    patterns = counts.index.tolist()
    modalities = _modalities_of(patterns)
    x = np.arange(len(patterns))
    width = max(4.0, 0.55 * len(patterns) + 2.0)
    if matrix and modalities:
        height = 3.2 + 0.3 * len(modalities)
        ratios = [3, max(1, 0.45 * len(modalities))]
        fig, (bars, dots) = new_figure(
            width, height, nrows=2, sharex=True, gridspec_kw={"height_ratios": ratios}
        )
    else:
        fig, bars = new_figure(width, 3.6)
        dots = None
    bars.bar(x, counts.to_numpy(), color=PALETTE[0], width=0.7)
    for k, n in enumerate(counts.to_numpy()):
        bars.annotate(
            str(int(n)),
            (k, n),
            textcoords="offset points",
            xytext=(0, 2),
            ha="center",
            fontsize="small",
        )
    total = int(counts.sum())
    bars.set_title(f"{title} ({total} patients, {len(patterns)} patterns)")
    bars.set_ylabel("Patients")
    bars.set_ylim(0, counts.max() * 1.15)
    bars.spines[["top", "right"]].set_visible(False)
    target = dots if dots is not None else bars
    if dots is not None:
        for k, pattern in enumerate(patterns):
            held = set(pattern.split("+"))
            ys = [j for j, m in enumerate(modalities) if m in held]
            dots.scatter([k] * len(modalities), range(len(modalities)), s=40, color="0.85")
            if ys:
                dots.scatter([k] * len(ys), ys, s=40, color="0.15", zorder=3)
                dots.plot([k, k], [min(ys), max(ys)], color="0.15", lw=1.5)
        dots.set_yticks(range(len(modalities)), modalities)
        dots.set_ylim(-0.6, len(modalities) - 0.4)
        dots.invert_yaxis()
        dots.spines[["top", "right", "left", "bottom"]].set_visible(False)
        dots.tick_params(axis="y", length=0)
    target.set_xticks(x, patterns, rotation=30, ha="right", fontsize="small")
    target.set_xlim(-0.6, len(patterns) - 0.4)
    return fig


def metric_columns(table: pd.DataFrame) -> list[str]:
    """Metrics of a :func:`biomm.eval.by_availability` / ``metrics.csv`` table.

    A metric is a column ``m`` with ``m_low`` and ``m_high`` beside it and at least one
    finite value.

    Examples:
        >>> metric_columns(pd.DataFrame({"pattern": ["all"], "n": [3], "auroc": [0.7],
        ...                              "auroc_low": [0.5], "auroc_high": [0.9]}))
        ['auroc']
    """
    out = []
    for column in table.columns:
        if f"{column}_low" in table and f"{column}_high" in table:
            values = pd.to_numeric(table[column], errors="coerce")
            if np.isfinite(values.to_numpy(dtype=float)).any():
                out.append(str(column))
    return out


def pattern_metrics_figure(
    table: pd.DataFrame,
    metric: str | None = None,
    *,
    task: str | None = None,
    title: str | None = None,
) -> Figure:
    """A metric with its CI per availability pattern (points and error bars, n per pattern).

    Args:
        table: Output of :func:`biomm.eval.by_availability` or a ``biomm train``
            ``metrics.csv`` (columns ``pattern``, ``n``, ``m``, ``m_low``, ``m_high``; an
            optional ``task`` column).
        metric: The metric column (default: the first with values, see
            :func:`metric_columns`).
        task: Only rows of this task (when the table has a ``task`` column).
        title: Title (default: the metric and the task).

    Raises:
        InputError: On missing columns, an unknown metric or task, or no row left.

    Examples:
        >>> t = pd.DataFrame({"pattern": ["all", "ecg+wsi", "ecg"], "n": [40, 30, 10],
        ...                   "auroc": [0.8, 0.85, 0.7], "auroc_low": [0.7, 0.75, 0.5],
        ...                   "auroc_high": [0.9, 0.95, 0.9]})
        >>> ax = pattern_metrics_figure(t).axes[0]
        >>> [tick.get_text() for tick in ax.get_xticklabels()]
        ['all\\nn=40', 'ecg+wsi\\nn=30', 'ecg\\nn=10']
    """
    missing = [c for c in ("pattern", "n") if c not in table]
    if missing:
        raise InputError(f"the metrics table lacks columns {missing}")
    if task is not None:
        if "task" not in table:
            raise InputError("the metrics table has no 'task' column")
        table = table[table["task"].astype(str) == str(task)]
        if table.empty:
            raise InputError(f"no metrics row for task {task!r}")
    available = metric_columns(table)
    metric = metric or (available[0] if available else None)
    if metric is None or metric not in available:
        raise InputError(f"metric {metric!r} has no values; metrics with values: {available}")
    rows = table.reset_index(drop=True)
    values = pd.to_numeric(rows[metric], errors="coerce").to_numpy(dtype=float)
    low = pd.to_numeric(rows[f"{metric}_low"], errors="coerce").to_numpy(dtype=float)
    high = pd.to_numeric(rows[f"{metric}_high"], errors="coerce").to_numpy(dtype=float)
    x = np.arange(len(rows))
    fig, ax = new_figure(max(4.0, 0.8 * len(rows) + 2.0), 3.8)
    errors = np.vstack([np.clip(values - low, 0, None), np.clip(high - values, 0, None)])
    colours = [PALETTE[1] if p == ALL_PATTERNS else PALETTE[0] for p in rows["pattern"]]
    for k in range(len(rows)):
        if not np.isfinite(values[k]):
            ax.annotate(
                "n/a",
                (k, 0.5),
                ha="center",
                fontsize="small",
                color="0.4",
                xycoords=("data", "axes fraction"),
            )
            continue
        err = errors[:, k : k + 1] if np.isfinite(errors[:, k]).all() else None
        ax.errorbar(k, values[k], yerr=err, fmt="o", color=colours[k], capsize=4, ms=6)
    labels = [f"{p}\nn={int(n)}" for p, n in zip(rows["pattern"], rows["n"], strict=True)]
    ax.set_xticks(x, labels, fontsize="small")
    ax.set_xlim(-0.6, len(rows) - 0.4)
    if metric in _CHANCE_HALF:
        ax.axhline(0.5, **CHANCE_STYLE)
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(
        title
        or f"{metric.replace('_', ' ')} by availability pattern" + (f" — {task}" if task else "")
    )
    ax.spines[["top", "right"]].set_visible(False)
    return fig
