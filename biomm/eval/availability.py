"""Metrics broken down by modality-availability pattern.

A sample's *pattern* is the set of modalities it has, written as their names joined by ``+``
in the order of the ``present`` dict (e.g. ``"ecg+wsi"``; ``"none"`` when it has none).
:func:`by_availability` computes one or several metrics, with bootstrap confidence intervals,
on all samples and on each pattern separately, so that a model's dependence on what is
available shows at a glance.

Examples:
    >>> import numpy as np
    >>> present = {"ecg": np.array([1, 1, 1, 0], bool), "wsi": np.array([1, 0, 1, 1], bool)}
    >>> availability_patterns(present).tolist()
    ['ecg+wsi', 'ecg', 'ecg+wsi', 'wsi']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from biomm.errors import InputError
from biomm.eval.bootstrap import UNDEFINED_ERRORS, bootstrap, to_numpy

__all__ = ["ALL_PATTERNS", "availability_patterns", "by_availability"]

#: Label of the row that holds every sample.
ALL_PATTERNS = "all"


def _masks(present: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not present:
        raise InputError("present is empty: give at least one modality mask")
    masks = {name: to_numpy(m).astype(bool).reshape(-1) for name, m in present.items()}
    lengths = {len(m) for m in masks.values()}
    if len(lengths) != 1:
        raise InputError(
            "presence masks differ in length: "
            + ", ".join(f"{k}={len(v)}" for k, v in masks.items())
        )
    return masks


def availability_patterns(present: Mapping[str, Any], *, empty: str = "none") -> np.ndarray:
    """The availability pattern of every sample.

    Args:
        present: Modality → ``[N]`` bool mask (NumPy or torch).
        empty: Label of samples without any modality.

    Returns:
        ``[N]`` object array of pattern labels (names joined by ``+`` in dict order).

    Raises:
        InputError: On an empty dict or masks of different lengths.

    Examples:
        >>> availability_patterns({"a": [True, False], "b": [False, False]}).tolist()
        ['a', 'none']
    """
    masks = _masks(present)
    names = list(masks)
    stacked = np.stack([masks[n] for n in names], axis=1)
    labels = ["+".join(n for n, has in zip(names, row, strict=True) if has) for row in stacked]
    return np.array([lab or empty for lab in labels], dtype=object)


def by_availability(
    metric_fn: Callable[..., Any] | Mapping[str, Callable[..., Any]],
    *arrays: Any,
    present: Mapping[str, Any],
    n: int = 1000,
    seed: int | None = 0,
    level: float = 0.95,
    stratify: Any | None = None,
    cluster: Any | None = None,
    min_n: int = 1,
    include_all: bool = True,
    name: str = "metric",
) -> pd.DataFrame:
    """Metrics with bootstrap CIs on all samples and on each availability pattern.

    Args:
        metric_fn: A metric ``fn(*arrays) -> number`` or a mapping name → metric.
        *arrays: Arrays with the same first dimension ``N`` (e.g. labels, scores).
        present: Modality → ``[N]`` bool mask of the evaluated samples.
        n: Bootstrap resamples per row (0: no intervals).
        seed: Seed of the bootstrap (the same for every row).
        level: Confidence level.
        stratify: Optional ``[N]`` strata for the bootstrap (e.g. labels).
        cluster: Optional ``[N]`` patient ids for a patient-level bootstrap.
        min_n: Patterns with fewer samples are left out.
        include_all: Add a first row ``"all"`` over every sample.
        name: Column name of a single metric.

    Returns:
        A DataFrame with columns ``pattern``, ``n`` and, per metric ``m``, ``m``, ``m_low``,
        ``m_high`` and ``m_n_valid`` (valid resamples). Rows: ``"all"`` first, then patterns
        by decreasing size. A metric undefined on a pattern (NaN or a ``ValueError``) is NaN
        there.

    Raises:
        InputError: On masks and arrays of different lengths. Errors of a metric on all
            samples together are raised as they are.

    Examples:
        >>> from biomm.eval.classification import auroc
        >>> y = np.array([0, 1, 0, 1, 0, 1])
        >>> s = np.array([0.2, 0.9, 0.3, 0.8, 0.6, 0.4])
        >>> present = {"ecg": np.ones(6, bool), "wsi": np.array([1, 1, 1, 1, 0, 0], bool)}
        >>> df = by_availability(auroc, y, s, present=present, n=0, name="auroc")
        >>> df[["pattern", "n", "auroc"]].to_dict("list")
        {'pattern': ['all', 'ecg+wsi', 'ecg'], 'n': [6, 4, 2], 'auroc': [0.888..., 1.0, 0.0]}
    """
    metrics = dict(metric_fn) if isinstance(metric_fn, Mapping) else {name: metric_fn}
    if not metrics:
        raise InputError("no metric given")
    patterns = availability_patterns(present)
    data = [to_numpy(a) for a in arrays]
    bad = [len(a) for a in data if len(a) != len(patterns)]
    if bad:
        raise InputError(
            f"arrays have {sorted(set(bad))} rows but the presence masks {len(patterns)}"
        )
    strata = None if stratify is None else to_numpy(stratify)
    clusters = None if cluster is None else to_numpy(cluster)
    for what, extra in (("stratify", strata), ("cluster", clusters)):
        if extra is not None and len(extra) != len(patterns):
            raise InputError(f"{what} has {len(extra)} rows but the presence masks {len(patterns)}")

    groups: list[tuple[str, np.ndarray]] = []
    if include_all:
        groups.append((ALL_PATTERNS, np.ones(len(patterns), dtype=bool)))
    labels, counts = np.unique(patterns.astype(str), return_counts=True)
    for label, _count in sorted(zip(labels, counts, strict=True), key=lambda lc: (-lc[1], lc[0])):
        groups.append((str(label), patterns == label))

    if not include_all:  # still surface input errors: evaluate every metric on all samples once
        for fn in metrics.values():
            fn(*data)

    rows = []
    for label, mask in groups:
        size = int(mask.sum())
        if size < min_n:
            continue
        row: dict[str, Any] = {"pattern": label, "n": size}
        subset = [a[mask] for a in data]
        for metric_name, fn in metrics.items():
            try:
                result = bootstrap(
                    fn,
                    *subset,
                    n=n,
                    seed=seed,
                    level=level,
                    stratify=None if strata is None else strata[mask],
                    cluster=None if clusters is None else clusters[mask],
                )
                values = (result.estimate, result.low, result.high, result.n_valid)
            except UNDEFINED_ERRORS:
                if label == ALL_PATTERNS:
                    raise
                values = (float("nan"), float("nan"), float("nan"), 0)
            row[metric_name] = values[0]
            row[f"{metric_name}_low"] = values[1]
            row[f"{metric_name}_high"] = values[2]
            row[f"{metric_name}_n_valid"] = values[3]
        rows.append(row)
    columns = ["pattern", "n"] + [
        f"{m}{suffix}" for m in metrics for suffix in ("", "_low", "_high", "_n_valid")
    ]
    return pd.DataFrame(rows, columns=columns)
