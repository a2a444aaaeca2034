"""ROC and precision-recall curves with bootstrap bands, and reliability diagrams.

Bands are *vertical averages*: each bootstrap resample (stratified by label, so every resample
has both classes) gives a curve, interpolated on a fixed grid (false-positive rate for ROC,
recall for PR); the band is the percentile interval of the interpolated values at each grid
point. The AUROC / average precision intervals in the legends come from
:func:`biomm.eval.bootstrap` with the same settings.

Examples:
    >>> import numpy as np
    >>> y = np.array([0, 1] * 30)
    >>> s = y * 0.4 + np.linspace(0, 0.6, 60)
    >>> band = roc_band(y, s, n=50, seed=0)
    >>> list(band.columns), bool((band["low"] <= band["high"]).all())
    (['fpr', 'tpr', 'low', 'high'], True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from biomm.errors import InputError
from biomm.eval import auprc, auroc, bootstrap, calibration, resample_indices
from biomm.report.plotting import CHANCE_STYLE, PALETTE, new_figure

__all__ = [
    "binary_data",
    "calibration_figure",
    "pr_band",
    "pr_figure",
    "pr_points",
    "roc_band",
    "roc_figure",
    "roc_points",
]


def binary_data(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of a binary task as arrays, rows with unknown labels dropped.

    Raises:
        InputError: On different lengths, labels other than 0/1, non-finite scores, or
            fewer than one sample of each class.

    Examples:
        >>> y, s = binary_data([0, 1, float("nan")], [0.2, 0.8, 0.5])
        >>> y.tolist(), s.tolist()
        ([0, 1], [0.2, 0.8])
    """
    y = np.asarray(labels, dtype=float).reshape(-1)
    s = np.asarray(scores, dtype=float).reshape(-1)
    if len(y) != len(s):
        raise InputError(f"{len(y)} labels but {len(s)} scores")
    known = np.isfinite(y)
    y, s = y[known], s[known]
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError(f"binary labels must be 0/1, got values {np.unique(y)[:6].tolist()}")
    if not np.isfinite(s).all():
        raise InputError("scores contain NaN or infinite values")
    if y.min(initial=1.0) == y.max(initial=0.0):
        raise InputError("the labels hold a single class: no ROC or PR curve")
    return y.astype(int), s


def _cumulative_counts(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives at every distinct threshold, highest score first."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]
    tps = np.cumsum(y_sorted)[last_of_tie].astype(float)
    return tps, last_of_tie + 1.0 - tps


def roc_points(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold, from ``(0, 0)``.

    The same points as ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``, computed
    with NumPy alone: the bootstrap bands call it hundreds of times, where scikit-learn's
    input validation dominates the cost.

    Examples:
        >>> fpr, tpr = roc_points([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    y, s = np.asarray(labels, dtype=float), np.asarray(scores, dtype=float)
    tps, fps = _cumulative_counts(y, s)
    return np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]


def pr_points(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision at every distinct threshold, highest threshold first.

    The points of ``sklearn.metrics.precision_recall_curve`` (without its final
    ``(recall 0, precision 1)`` point), with NumPy alone (see :func:`roc_points`).

    Examples:
        >>> recall, precision = pr_points([0, 1, 0, 1], [0.1, 0.8, 0.9, 0.7])
        >>> recall.tolist(), precision.round(3).tolist()
        ([0.0, 0.5, 1.0, 1.0], [0.0, 0.5, 0.667, 0.5])
    """
    y, s = np.asarray(labels, dtype=float), np.asarray(scores, dtype=float)
    tps, fps = _cumulative_counts(y, s)
    return tps / tps[-1], tps / (tps + fps)


def _roc_on_grid(y: np.ndarray, s: np.ndarray, grid: np.ndarray) -> np.ndarray:
    fpr, tpr = roc_points(y, s)
    values = np.interp(grid, fpr, tpr)
    values[0] = 0.0  # the curve starts at the origin
    return values


def _pr_on_grid(y: np.ndarray, s: np.ndarray, grid: np.ndarray) -> np.ndarray:
    recall, precision = pr_points(y, s)
    # interpolated precision at r: the best precision at any recall >= r (recall increases)
    levels, which = np.unique(recall, return_inverse=True)
    per_level = np.zeros(len(levels))
    np.maximum.at(per_level, which, precision)
    best = np.maximum.accumulate(per_level[::-1])[::-1]
    return np.interp(grid, levels, best)


def _band(
    curve: Any,
    y: np.ndarray,
    s: np.ndarray,
    grid: np.ndarray,
    n: int,
    seed: int | None,
    level: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    point = curve(y, s, grid)
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n):
        idx = resample_indices(len(y), rng, stratify=y)
        samples.append(curve(y[idx], s[idx], grid))
    if not samples:
        return point, point.copy(), point.copy()
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(np.stack(samples), [alpha, 1.0 - alpha], axis=0)
    return point, low, high


def roc_band(
    labels: Any,
    scores: Any,
    *,
    n: int = 200,
    seed: int | None = 0,
    level: float = 0.95,
    grid_size: int = 101,
) -> pd.DataFrame:
    """The ROC curve and its bootstrap band on a fixed false-positive-rate grid.

    Args:
        labels: ``[N]`` 0/1 labels (NaN = unknown, left out).
        scores: ``[N]`` scores, higher = more likely positive.
        n: Bootstrap resamples (stratified by label).
        seed: Seed of the resamples.
        level: Confidence level of the band.
        grid_size: Points of the false-positive-rate grid on [0, 1].

    Returns:
        DataFrame with ``fpr``, ``tpr`` (full data), ``low`` and ``high``.

    Raises:
        InputError: See :func:`binary_data`.

    Examples:
        >>> band = roc_band([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n=10, grid_size=5)
        >>> band["tpr"].tolist()
        [0.0, 1.0, 1.0, 1.0, 1.0]
    """
    y, s = binary_data(labels, scores)
    grid = np.linspace(0.0, 1.0, grid_size)
    tpr, low, high = _band(_roc_on_grid, y, s, grid, n, seed, level)
    return pd.DataFrame({"fpr": grid, "tpr": tpr, "low": low, "high": high})


def pr_band(
    labels: Any,
    scores: Any,
    *,
    n: int = 200,
    seed: int | None = 0,
    level: float = 0.95,
    grid_size: int = 101,
) -> pd.DataFrame:
    """The (interpolated) precision-recall curve and its bootstrap band on a recall grid.

    Precision at recall ``r`` is the best precision reached at any recall ``>= r``.

    Returns:
        DataFrame with ``recall``, ``precision`` (full data), ``low`` and ``high``.

    Raises:
        InputError: See :func:`binary_data`.

    Examples:
        >>> band = pr_band([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n=10, grid_size=3)
        >>> band["precision"].tolist()
        [1.0, 1.0, 1.0]
    """
    y, s = binary_data(labels, scores)
    grid = np.linspace(0.0, 1.0, grid_size)
    precision, low, high = _band(_pr_on_grid, y, s, grid, n, seed, level)
    return pd.DataFrame({"recall": grid, "precision": precision, "low": low, "high": high})


def _ci_text(name: str, result: Any) -> str:
    level = round(result.level * 100)
    if np.isfinite(result.low):
        return f"{name} {result.estimate:.3f} ({level}% CI {result.low:.3f}–{result.high:.3f})"
    return f"{name} {result.estimate:.3f}"


def _axes(ax: Axes | None, size: tuple[float, float] = (4.6, 4.2)) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    return new_figure(*size)


def roc_figure(
    labels: Any,
    scores: Any,
    *,
    n: int = 200,
    seed: int | None = 0,
    level: float = 0.95,
    title: str = "ROC curve",
    ax: Axes | None = None,
) -> Figure:
    """ROC curve with its bootstrap band; the legend gives the AUROC with its CI.

    Args:
        labels: ``[N]`` 0/1 labels (NaN = unknown).
        scores: ``[N]`` scores.
        n: Bootstrap resamples of the band and of the AUROC interval.
        seed: Seed of the resamples.
        level: Confidence level.
        title: Axes title.
        ax: Draw into these axes instead of a new figure.

    Raises:
        InputError: See :func:`binary_data`.

    Examples:
        >>> fig = roc_figure([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], n=20)
        >>> fig.axes[0].get_legend().get_texts()[0].get_text()[:12]
        'AUROC 0.889 '
    """
    y, s = binary_data(labels, scores)
    band = roc_band(y, s, n=n, seed=seed, level=level)
    result = bootstrap(auroc, y, s, n=n, seed=seed, level=level, stratify=y)
    fig, ax = _axes(ax)
    ax.fill_between(band["fpr"], band["low"], band["high"], color=PALETTE[0], alpha=0.2, lw=0)
    fpr, tpr = roc_points(y, s)
    ax.plot(fpr, tpr, color=PALETTE[0], lw=2, label=_ci_text("AUROC", result))
    ax.plot([0, 1], [0, 1], label="chance", **CHANCE_STYLE)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate")
    ax.set_title(f"{title} (n={len(y)}, {int(y.sum())} positive)")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def pr_figure(
    labels: Any,
    scores: Any,
    *,
    n: int = 200,
    seed: int | None = 0,
    level: float = 0.95,
    title: str = "Precision-recall curve",
    ax: Axes | None = None,
) -> Figure:
    """Precision-recall curve with its bootstrap band; the legend gives AP with its CI.

    The dashed line is the prevalence (the precision of a random ranking).

    Raises:
        InputError: See :func:`binary_data`.

    Examples:
        >>> fig = pr_figure([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], n=20)
        >>> fig.axes[0].get_legend().get_texts()[0].get_text()[:3]
        'AP '
    """
    y, s = binary_data(labels, scores)
    band = pr_band(y, s, n=n, seed=seed, level=level)
    result = bootstrap(auprc, y, s, n=n, seed=seed, level=level, stratify=y)
    fig, ax = _axes(ax)
    ax.fill_between(band["recall"], band["low"], band["high"], color=PALETTE[1], alpha=0.2, lw=0)
    ax.plot(band["recall"], band["precision"], color=PALETTE[1], lw=2, label=_ci_text("AP", result))
    prevalence = float(y.mean())
    ax.axhline(prevalence, label=f"prevalence {prevalence:.2f}", **CHANCE_STYLE)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Recall", ylabel="Precision")
    ax.set_title(f"{title} (n={len(y)}, {int(y.sum())} positive)")
    ax.set_aspect("equal")
    ax.legend(loc="lower left", fontsize="small")
    return fig


def calibration_figure(
    labels: Any,
    probs: Any,
    *,
    n_bins: int = 10,
    strategy: str = "uniform",
    title: str = "Calibration",
) -> Figure:
    """Reliability diagram (observed frequency vs mean predicted probability) with bin counts.

    The upper panel shows one point per non-empty bin (its count written next to it) and the
    diagonal of perfect calibration; the lower panel the number of samples per bin. The title
    gives the expected calibration error (ECE).

    Args:
        labels: ``[N]`` 0/1 labels (NaN = unknown).
        probs: ``[N]`` probabilities in [0, 1].
        n_bins: Number of bins.
        strategy: ``"uniform"`` or ``"quantile"`` bins (see :func:`biomm.eval.calibration`).
        title: Title prefix.

    Raises:
        InputError: On probabilities outside [0, 1] (see :func:`biomm.eval.calibration`).

    Examples:
        >>> fig = calibration_figure([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8], n_bins=2)
        >>> fig.axes[0].get_title()
        'Calibration (ECE = 0.250, n=4)'
    """
    y = np.asarray(labels, dtype=float).reshape(-1)
    p = np.asarray(probs, dtype=float).reshape(-1)
    if len(y) != len(p):
        raise InputError(f"{len(y)} labels but {len(p)} probabilities")
    known = np.isfinite(y)
    result = calibration(y[known], p[known], task="binary", n_bins=n_bins, strategy=strategy)  # type: ignore[arg-type]
    bins = result.bins
    filled = bins[bins["count"] > 0]
    fig, (top, bottom) = new_figure(
        4.6, 5.2, nrows=2, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    top.plot([0, 1], [0, 1], label="perfect calibration", **CHANCE_STYLE)
    top.plot(filled["confidence"], filled["accuracy"], "o-", color=PALETTE[0], label="model")
    for _, row in filled.iterrows():
        top.annotate(
            str(int(row["count"])),
            (row["confidence"], row["accuracy"]),
            textcoords="offset points",
            xytext=(4, -10),
            fontsize="x-small",
            color="0.3",
        )
    top.set(xlim=(0, 1), ylim=(-0.02, 1.02), ylabel="Observed frequency")
    top.set_title(f"{title} (ECE = {result.ece:.3f}, n={int(known.sum())})")
    top.legend(loc="upper left", fontsize="small")
    widths = (bins["upper"] - bins["lower"]).to_numpy()
    bottom.bar(
        bins["lower"],
        bins["count"],
        width=widths,
        align="edge",
        color=PALETTE[0],
        alpha=0.6,
        edgecolor="white",
    )
    bottom.set(xlabel="Mean predicted probability", ylabel="Count")
    return fig
