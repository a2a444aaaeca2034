"""Linear probing of frozen embeddings at a fraction of the training labels (1/10/100 %).

The MERL evaluation protocol: a linear classifier (here scikit-learn's logistic regression,
one per class, on standardised embeddings) is trained on a stratified subset of the labelled
training records and evaluated on the full test set with per-class and macro AUROC.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, (200, 2)).astype(float)
    >>> x = y @ rng.normal(size=(2, 8)) + 0.3 * rng.normal(size=(200, 8))
    >>> table = linear_probe(x[:150], y[:150], x[150:], y[150:], ["a", "b"], fractions=(0.1, 1.0))
    >>> table["fraction"].tolist(), bool((table["macro_auroc"] > 0.9).all())
    ([0.1, 1.0], True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from biomm.errors import InputError


def stratified_fraction(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Row indices of a subset of ``fraction`` of the rows keeping ≥1 positive per class.

    The subset has ``max(1, round(fraction · N))`` rows, plus at most one positive and one
    negative per class that a random draw missed, so every class can be fitted.

    Examples:
        >>> y = np.array([[1, 0]] * 50 + [[0, 1]] * 50, float)
        >>> rows = stratified_fraction(y, 0.1)
        >>> len(rows), bool(y[rows].sum(0).min() >= 1)
        (10, True)
    """
    if not 0 < fraction <= 1:
        raise InputError(f"label fraction must be in (0, 1], got {fraction}")
    n = len(labels)
    if fraction == 1:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    size = max(1, round(fraction * n))
    chosen = set(rng.choice(n, size=size, replace=False).tolist())
    for k in range(labels.shape[1]):
        known = np.isfinite(labels[:, k])
        for value in (0.0, 1.0):
            candidates = np.flatnonzero(known & (labels[:, k] == value))
            if len(candidates) and not any(labels[i, k] == value for i in chosen):
                chosen.add(int(rng.choice(candidates)))
    return np.array(sorted(chosen))


def linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    class_names: Sequence[str],
    *,
    fractions: Sequence[float] = (0.01, 0.1, 1.0),
    seed: int = 0,
    max_iter: int = 2000,
) -> pd.DataFrame:
    """Macro and per-class test AUROC of logistic-regression probes per label fraction.

    Labels are ``[N, C]`` 0/1 with NaN for unknown; each class's probe uses its known labels.
    A class without both label values in the subset gets NaN for that fraction.

    Returns:
        One row per fraction: ``fraction``, ``n_train``, ``macro_auroc``, ``auroc_<class>``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train_y = np.asarray(train_y, float)
    test_y = np.asarray(test_y, float)
    if train_x.shape[0] != train_y.shape[0] or test_x.shape[0] != test_y.shape[0]:
        raise InputError("embeddings and labels have different numbers of rows")
    rows = []
    for fraction in fractions:
        subset = stratified_fraction(train_y, fraction, seed)
        result: dict[str, float] = {"fraction": float(fraction), "n_train": float(len(subset))}
        aurocs = []
        for k, name in enumerate(class_names):
            known = subset[np.isfinite(train_y[subset, k])]
            y = train_y[known, k]
            test_known = np.isfinite(test_y[:, k])
            auc = float("nan")
            if len(np.unique(y)) == 2 and len(np.unique(test_y[test_known, k])) == 2:
                clf = make_pipeline(
                    StandardScaler(), LogisticRegression(max_iter=max_iter, class_weight="balanced")
                )
                clf.fit(train_x[known], y)
                scores = clf.predict_proba(test_x[test_known])[:, 1]
                auc = float(roc_auc_score(test_y[test_known, k], scores))
                aurocs.append(auc)
            result[f"auroc_{name}"] = auc
        result["macro_auroc"] = float(np.mean(aurocs)) if aurocs else float("nan")
        rows.append(result)
    table = pd.DataFrame(rows)
    table["n_train"] = table["n_train"].astype(int)
    first = ["fraction", "n_train", "macro_auroc"]
    return table[first + [c for c in table.columns if c not in first]]
