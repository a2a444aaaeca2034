"""Classification metrics for binary, multiclass and multilabel predictions.

Every function takes labels and scores as arrays (NumPy, lists, CPU tensors) and works out the
task from their shapes (see :func:`infer_task`) unless ``task`` is given:

* **binary**: labels ``[N]`` in {0, 1}, scores ``[N]`` (probability or score of class 1);
* **multiclass**: labels ``[N]`` class indices, scores ``[N, C]`` (probabilities or logits);
* **multilabel**: labels ``[N, C]`` 0/1, scores ``[N, C]``.

Float labels may hold NaN for unknown labels: those samples (for multilabel, those entries) are
left out. A metric that is undefined on the data (AUROC with a single label value, no known
labels) is NaN rather than an error, so that :func:`biomm.eval.bootstrap` can skip such
resamples. Calibration metrics (Brier score, expected calibration error, reliability bins) and
balanced accuracy need probabilities; ranking metrics (AUROC, AUPRC) accept any scores.

Binary AUROC and average precision are computed with NumPy/SciPy (rank statistics) rather than
by calling scikit-learn: they give the same numbers as ``roc_auc_score`` and
``average_precision_score`` (see the tests) at a fraction of the per-call overhead, which
matters when :func:`biomm.eval.bootstrap` calls them thousands of times.

Examples:
    >>> y = [0, 0, 1, 1]
    >>> p = [0.1, 0.6, 0.4, 0.9]
    >>> auroc(y, p), balanced_accuracy(y, p), round(brier_score(y, p), 3)
    (0.75, 0.5, 0.185)
    >>> auroc([0, 1, 2], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.2, 0.2, 0.6]])  # one-vs-rest macro
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from biomm.errors import InputError

Task = Literal["binary", "multiclass", "multilabel"]
Average = Literal["macro", "weighted", "micro"]

__all__ = [
    "CalibrationResult",
    "auprc",
    "auroc",
    "balanced_accuracy",
    "brier_score",
    "calibration",
    "classification_summary",
    "expected_calibration_error",
    "infer_task",
]


def _as_float_array(x: Any, what: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensors (possibly on GPU / with grad)
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numeric: {exc}") from None


def infer_task(labels: Any, scores: Any) -> Task:
    """The task implied by the shapes of ``labels`` and ``scores``.

    Args:
        labels: ``[N]`` or ``[N, C]``.
        scores: ``[N]`` or ``[N, C]``.

    Returns:
        ``"binary"`` (both 1-D), ``"multiclass"`` (labels 1-D, scores 2-D) or
        ``"multilabel"`` (both 2-D of the same shape).

    Raises:
        InputError: When the shapes fit none of these.

    Examples:
        >>> infer_task([0, 1], [0.2, 0.9]), infer_task([0, 2], [[1, 0, 0], [0, 0, 1]])
        ('binary', 'multiclass')
        >>> infer_task([[0, 1]], [[0.1, 0.7]])
        'multilabel'
    """
    y = _as_float_array(labels, "labels")
    s = _as_float_array(scores, "scores")
    if y.ndim == 1 and s.ndim == 1 and len(y) == len(s):
        return "binary"
    if y.ndim == 1 and s.ndim == 2 and len(y) == len(s):
        return "multiclass"
    if y.ndim == 2 and y.shape == s.shape:
        return "multilabel"
    raise InputError(
        f"labels {y.shape} and scores {s.shape} fit no task: expected [N] and [N] (binary), "
        "[N] and [N, C] (multiclass) or [N, C] and [N, C] (multilabel)"
    )


def _prepare(labels: Any, scores: Any, task: Task | None) -> tuple[Task, np.ndarray, np.ndarray]:
    """Validated (task, labels, scores); binary/multiclass rows with NaN labels are dropped."""
    y = _as_float_array(labels, "labels")
    s = _as_float_array(scores, "scores")
    task = task or infer_task(y, s)
    if task == "binary":
        if s.ndim == 2 and s.shape[1] == 2:
            s = s[:, 1]  # two-column probabilities: the column of class 1
        if y.ndim != 1 or s.ndim != 1 or len(y) != len(s):
            raise InputError(
                f"binary task needs labels [N] and scores [N], got {y.shape}, {s.shape}"
            )
    elif task == "multiclass":
        if y.ndim != 1 or s.ndim != 2 or len(y) != len(s):
            raise InputError(
                f"multiclass task needs labels [N] and scores [N, C], got {y.shape}, {s.shape}"
            )
    elif task == "multilabel":
        if y.ndim != 2 or y.shape != s.shape:
            raise InputError(
                f"multilabel task needs labels and scores [N, C], got {y.shape}, {s.shape}"
            )
    else:
        raise InputError(f"unknown task {task!r}; use 'binary', 'multiclass' or 'multilabel'")
    if task != "multilabel":
        known = np.isfinite(y)
        y, s = y[known], s[known]
        if task == "binary":
            if not np.isin(y, (0.0, 1.0)).all():
                raise InputError(f"binary labels must be 0/1, got values {np.unique(y)[:6]}")
        elif len(y) and ((y != np.round(y)).any() or y.min() < 0 or y.max() >= s.shape[1]):
            raise InputError(f"multiclass labels must be class indices in [0, {s.shape[1]})")
    elif not np.isin(y[np.isfinite(y)], (0.0, 1.0)).all():
        raise InputError("multilabel labels must be 0/1 (NaN for unknown)")
    if not np.isfinite(s).all():
        raise InputError("scores contain NaN or infinite values")
    return task, y, s


def _one_vs_rest(task: Task, y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary ``[N, K]`` label and score columns (NaN label = unknown) for any task."""
    if task == "binary":
        return y[:, None], s[:, None]
    if task == "multiclass":
        onehot = (y[:, None] == np.arange(s.shape[1])[None, :]).astype(float)
        return onehot, s
    return y, s


def _averaged(
    fn: Any, task: Task, y: np.ndarray, s: np.ndarray, average: Average | None
) -> float | np.ndarray:
    cols_y, cols_s = _one_vs_rest(task, y, s)
    if average == "micro":
        known = np.isfinite(cols_y)
        yy, ss = cols_y[known], cols_s[known]
        if yy.size == 0 or yy.min() == yy.max():
            return float("nan")
        return float(fn(yy, ss))
    values = np.full(cols_y.shape[1], np.nan)
    positives = np.zeros(cols_y.shape[1])
    for k in range(cols_y.shape[1]):
        known = np.isfinite(cols_y[:, k])
        yy, ss = cols_y[known, k], cols_s[known, k]
        positives[k] = yy.sum()
        if yy.size and yy.min() != yy.max():
            values[k] = fn(yy, ss)
    if average is None:
        return values if task != "binary" else float(values[0])
    defined = np.isfinite(values)
    if not defined.any():
        return float("nan")
    if average == "macro":
        return float(values[defined].mean())
    if average == "weighted":
        return float(np.average(values[defined], weights=positives[defined]))
    raise InputError(f"unknown average {average!r}; use 'macro', 'weighted', 'micro' or None")


def _binary_auroc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann–Whitney AUROC with mid-ranks for ties (equals ``sklearn.metrics.roc_auc_score``)."""
    from scipy.stats import rankdata

    positive = y == 1
    n_pos = float(positive.sum())
    n_neg = float(len(y) - n_pos)
    ranks = rankdata(s)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _binary_average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """``sum_k (R_k - R_{k-1}) P_k`` over distinct thresholds (equals scikit-learn's AP)."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), len(s_sorted) - 1]
    tp = np.cumsum(y_sorted)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def auroc(
    labels: Any, scores: Any, *, task: Task | None = None, average: Average | None = "macro"
) -> float | np.ndarray:
    """Area under the ROC curve (one-vs-rest for multiclass, per label for multilabel).

    Args:
        labels: Labels (see the module docstring); NaN = unknown.
        scores: Scores, higher = more likely the (positive) class.
        task: ``"binary"``, ``"multiclass"`` or ``"multilabel"`` (default: from the shapes).
        average: ``"macro"`` (mean over classes with both label values), ``"weighted"`` (by
            number of positives), ``"micro"`` (all class columns pooled) or None (per-class
            array, NaN where undefined).

    Returns:
        The AUROC; NaN when undefined (a single label value).

    Examples:
        >>> auroc([0, 1, 1], [0.2, 0.3, 0.9])
        1.0
        >>> auroc([[1, 0], [0, 0], [1, float("nan")]], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.5]],
        ...       average=None).tolist()  # label 2 has a single known value
        [1.0, nan]
    """
    task, y, s = _prepare(labels, scores, task)
    return _averaged(_binary_auroc, task, y, s, average)


def auprc(
    labels: Any, scores: Any, *, task: Task | None = None, average: Average | None = "macro"
) -> float | np.ndarray:
    """Area under the precision-recall curve (average precision), like :func:`auroc`.

    Examples:
        >>> round(auprc([0, 1, 0, 1], [0.1, 0.8, 0.9, 0.7]), 4)
        0.5833
    """
    task, y, s = _prepare(labels, scores, task)
    return _averaged(_binary_average_precision, task, y, s, average)


def _check_probabilities(task: Task, s: np.ndarray) -> None:
    if s.size and (s.min() < 0 or s.max() > 1):
        raise InputError(
            f"{task} calibration and accuracy metrics need probabilities in [0, 1], got scores "
            f"in [{s.min():.3g}, {s.max():.3g}] (apply a sigmoid/softmax first)"
        )
    if task == "multiclass" and s.size and not np.allclose(s.sum(1), 1.0, atol=1e-3):
        raise InputError("multiclass probabilities must sum to 1 per sample (apply a softmax)")


def balanced_accuracy(
    labels: Any, probs: Any, *, task: Task | None = None, threshold: float = 0.5
) -> float:
    """Mean recall over the classes present in the labels.

    Binary and multilabel predictions are ``probs >= threshold``; multiclass predictions are
    the arg-max. Multilabel: the mean over labels of each label's binary balanced accuracy.

    Returns:
        The balanced accuracy; NaN when no label is known.

    Examples:
        >>> round(balanced_accuracy([0, 0, 0, 1], [0.1, 0.2, 0.7, 0.9]), 4)  # (2/3 + 1) / 2
        0.8333
        >>> balanced_accuracy([0, 1, 2], [[0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4]])
        0.6666666666666666
    """
    task, y, s = _prepare(labels, probs, task)
    if task == "multiclass":
        pred = s.argmax(1)
        recalls = [np.mean(pred[y == c] == c) for c in np.unique(y)]
        return float(np.mean(recalls)) if recalls else float("nan")
    cols_y, cols_s = _one_vs_rest(task, y, s)
    per_label = []
    for k in range(cols_y.shape[1]):
        known = np.isfinite(cols_y[:, k])
        yy, pred = cols_y[known, k], cols_s[known, k] >= threshold
        recalls = [np.mean(pred[yy == c] == bool(c)) for c in np.unique(yy)]
        if recalls:
            per_label.append(np.mean(recalls))
    return float(np.mean(per_label)) if per_label else float("nan")


def brier_score(labels: Any, probs: Any, *, task: Task | None = None) -> float:
    """Brier score: mean squared difference between probabilities and outcomes.

    Binary: ``mean((p - y)^2)``. Multiclass: ``mean over samples of sum_k (p_k - 1[y = k])^2``
    (Brier's original definition, in [0, 2]). Multilabel: mean over known entries.

    Examples:
        >>> round(brier_score([0, 1], [0.2, 0.6]), 6)  # (0.04 + 0.16) / 2
        0.1
        >>> round(brier_score([1], [[0.2, 0.8]]), 6)  # multiclass: 0.2^2 + 0.2^2
        0.08
    """
    task, y, s = _prepare(labels, probs, task)
    _check_probabilities(task, s)
    cols_y, cols_s = _one_vs_rest(task, y, s)
    if task == "multiclass":
        return float(np.mean(((cols_s - cols_y) ** 2).sum(1))) if len(y) else float("nan")
    known = np.isfinite(cols_y)
    return float(np.mean((cols_s[known] - cols_y[known]) ** 2)) if known.any() else float("nan")


@dataclass(frozen=True)
class CalibrationResult:
    """Calibration of predicted probabilities.

    Attributes:
        ece: Expected calibration error: ``sum_b n_b / n * |accuracy_b - confidence_b|``.
        mce: Maximum calibration error over non-empty bins.
        bins: One row per bin: ``lower``, ``upper``, ``count``, ``confidence`` (mean predicted
            probability) and ``accuracy`` (observed frequency); empty bins have NaN means.
    """

    ece: float
    mce: float
    bins: pd.DataFrame


def _confidence_outcome(task: Task, y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flattened (predicted probability, observed 0/1) pairs the calibration is measured on."""
    if task == "multiclass":  # top-label calibration
        return s.max(1), (s.argmax(1) == y).astype(float)
    cols_y, cols_s = _one_vs_rest(task, y, s)
    known = np.isfinite(cols_y)
    return cols_s[known], cols_y[known]


def calibration(
    labels: Any,
    probs: Any,
    *,
    task: Task | None = None,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
) -> CalibrationResult:
    """Reliability bins, expected and maximum calibration error.

    Binary: calibration of ``P(y = 1)``. Multiclass: top-label calibration (confidence = the
    largest probability, outcome = whether the arg-max is right). Multilabel: all known
    (sample, label) pairs pooled.

    Args:
        labels: Labels (NaN = unknown).
        probs: Probabilities in [0, 1].
        task: The task (default: from the shapes).
        n_bins: Number of bins.
        strategy: ``"uniform"`` (equal-width bins on [0, 1]) or ``"quantile"`` (equal-count).

    Raises:
        InputError: On scores outside [0, 1] or ``n_bins < 1``.

    Examples:
        >>> r = calibration([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8], n_bins=2)
        >>> round(r.ece, 3), r.bins["count"].tolist()  # (2 * |0 - 0.2| + 2 * |1 - 0.7|) / 4
        (0.25, [2, 2])
    """
    if n_bins < 1:
        raise InputError(f"n_bins must be at least 1, got {n_bins}")
    task, y, s = _prepare(labels, probs, task)
    _check_probabilities(task, s)
    conf, outcome = _confidence_outcome(task, y, s)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        if conf.size == 0:
            edges = np.linspace(0.0, 1.0, n_bins + 1)
        else:
            edges = np.quantile(conf, np.linspace(0.0, 1.0, n_bins + 1))
            edges[0], edges[-1] = 0.0, 1.0
    else:
        raise InputError(f"unknown strategy {strategy!r}; use 'uniform' or 'quantile'")
    # bin b holds lower < p <= upper (the first bin also holds p == 0)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(which, minlength=n_bins)
    sum_conf = np.bincount(which, weights=conf, minlength=n_bins)
    sum_out = np.bincount(which, weights=outcome, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, sum_conf / counts, np.nan)
        mean_out = np.where(counts > 0, sum_out / counts, np.nan)
    gaps = np.abs(mean_out - mean_conf)
    total = counts.sum()
    ece = float(np.nansum(gaps * counts) / total) if total else float("nan")
    mce = float(np.nanmax(gaps)) if total else float("nan")
    bins = pd.DataFrame(
        {
            "lower": edges[:-1],
            "upper": edges[1:],
            "count": counts.astype(int),
            "confidence": mean_conf,
            "accuracy": mean_out,
        }
    )
    return CalibrationResult(ece=ece, mce=mce, bins=bins)


def expected_calibration_error(
    labels: Any,
    probs: Any,
    *,
    task: Task | None = None,
    n_bins: int = 10,
    strategy: Literal["uniform", "quantile"] = "uniform",
) -> float:
    """The expected calibration error of :func:`calibration` alone (handy for bootstrapping).

    Examples:
        >>> expected_calibration_error([0, 1], [0.0, 1.0])
        0.0
    """
    return calibration(labels, probs, task=task, n_bins=n_bins, strategy=strategy).ece


def classification_summary(
    labels: Any,
    probs: Any,
    *,
    task: Task | None = None,
    n_bins: int = 10,
    threshold: float = 0.5,
    metrics: Sequence[str] = ("auroc", "auprc", "balanced_accuracy", "brier", "ece"),
) -> dict[str, float]:
    """Several metrics at once (macro averages for multiclass/multilabel).

    Args:
        labels: Labels (NaN = unknown).
        probs: Probabilities (see :func:`calibration`).
        task: The task (default: from the shapes).
        n_bins: Bins of the expected calibration error.
        threshold: Decision threshold of binary/multilabel balanced accuracy.
        metrics: Which of ``auroc``, ``auprc``, ``balanced_accuracy``, ``brier``, ``ece``.

    Examples:
        >>> m = classification_summary([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
        >>> m["auroc"], m["balanced_accuracy"]
        (0.75, 0.75)
    """
    fns = {
        "auroc": lambda: auroc(labels, probs, task=task),
        "auprc": lambda: auprc(labels, probs, task=task),
        "balanced_accuracy": lambda: balanced_accuracy(
            labels, probs, task=task, threshold=threshold
        ),
        "brier": lambda: brier_score(labels, probs, task=task),
        "ece": lambda: expected_calibration_error(labels, probs, task=task, n_bins=n_bins),
    }
    unknown = sorted(set(metrics) - set(fns))
    if unknown:
        raise InputError(f"unknown metrics {unknown}; choose from {sorted(fns)}")
    return {name: float(fns[name]()) for name in metrics}
