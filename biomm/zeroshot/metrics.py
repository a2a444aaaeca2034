"""Per-class and macro metrics of scores against (possibly incomplete) binary labels.

Labels are ``[N, C]`` with NaN where a label is unknown; each class is scored on its known
labels only. A class with only one label value has no AUROC (reported as NaN and left out of
the macro mean, with the reason).

Examples:
    >>> import numpy as np
    >>> y = np.array([[1, 0], [0, 1], [1, 0], [0, 1]], float)
    >>> s = np.array([[0.9, 0.2], [0.1, 0.8], [0.7, 0.4], [0.3, 0.6]])
    >>> m = classification_metrics(y, s, ["a", "b"])
    >>> m["macro_auroc"], m["per_class"]["a"]["best_f1"]
    (1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from biomm.errors import InputError


def best_f1(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The best F1 over all thresholds and that threshold.

    Examples:
        >>> best_f1(np.array([0, 1, 1]), np.array([0.2, 0.5, 0.9]))
        (1.0, 0.5)
    """
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, scores)
    f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
    k = int(np.argmax(f1[:-1])) if len(thresholds) else 0
    return float(f1[k]), float(thresholds[k]) if len(thresholds) else float("nan")


def classification_metrics(
    labels: np.ndarray, scores: np.ndarray, class_names: Sequence[str]
) -> dict[str, Any]:
    """Per-class AUROC, average precision, best F1 (and its threshold); macro AUROC and F1.

    Args:
        labels: ``[N, C]`` 0/1 with NaN for unknown.
        scores: ``[N, C]`` higher = more likely.
        class_names: The C class names.

    Raises:
        InputError: On shape mismatches.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels = np.asarray(labels, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if labels.shape != scores.shape or labels.ndim != 2 or labels.shape[1] != len(class_names):
        raise InputError(
            f"labels {labels.shape}, scores {scores.shape} and {len(class_names)} classes differ"
        )
    per_class: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(class_names):
        known = np.isfinite(labels[:, k]) & np.isfinite(scores[:, k])
        y, s = labels[known, k], scores[known, k]
        positives = int(y.sum())
        entry: dict[str, Any] = {"n": int(known.sum()), "positives": positives}
        if positives == 0 or positives == len(y):
            entry.update(auroc=float("nan"), note="one label value only: no AUROC")
        else:
            f1, threshold = best_f1(y, s)
            entry.update(
                auroc=float(roc_auc_score(y, s)),
                average_precision=float(average_precision_score(y, s)),
                best_f1=f1,
                threshold=threshold,
            )
        per_class[name] = entry
    aurocs = [v["auroc"] for v in per_class.values() if np.isfinite(v["auroc"])]
    f1s = [v["best_f1"] for v in per_class.values() if "best_f1" in v]
    return {
        "macro_auroc": float(np.mean(aurocs)) if aurocs else float("nan"),
        "macro_best_f1": float(np.mean(f1s)) if f1s else float("nan"),
        "classes_scored": len(aurocs),
        "per_class": per_class,
    }
