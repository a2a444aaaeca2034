"""Percentile bootstrap confidence intervals for any metric, by sample or by patient.

:func:`bootstrap` resamples the rows of all given arrays together (with replacement), within
strata if asked (e.g. keep the number of positives), and by cluster if asked (all samples of a
resampled patient come along, so that several samples per patient do not make the interval too
narrow). A resample on which the metric is undefined (it raises ``ValueError``/
``ZeroDivisionError`` or returns NaN, e.g. AUROC of a resample with one class) is skipped and
counted; the interval is the percentile interval of the valid resamples.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(1.0, 1.0, size=200)
    >>> r = bootstrap(np.mean, x, n=500, seed=0)
    >>> r.low < 1.0 < r.high, r.n_valid
    (True, 500)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from biomm.errors import InputError

__all__ = ["BootstrapResult", "bootstrap", "resample_indices", "to_numpy"]

#: Errors a metric may raise on a resample where it is undefined; such resamples are skipped.
UNDEFINED_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    ZeroDivisionError,
    FloatingPointError,
)


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy view of an array, list, pandas object or (CPU/GPU, grad) torch tensor.

    Examples:
        >>> import torch
        >>> to_numpy(torch.tensor([1.0, 2.0], requires_grad=True)).tolist()
        [1.0, 2.0]
    """
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


@dataclass(frozen=True)
class BootstrapResult:
    """A point estimate with its percentile bootstrap confidence interval.

    Attributes:
        estimate: The metric on the full data (NaN when undefined there).
        low: Lower bound of the interval (NaN without valid resamples).
        high: Upper bound of the interval.
        level: Confidence level, e.g. 0.95.
        n_resamples: Number of resamples drawn.
        n_valid: Resamples on which the metric was defined.
        n_skipped: Resamples skipped because the metric was undefined.
        samples: The metric on every valid resample.
    """

    estimate: float
    low: float
    high: float
    level: float
    n_resamples: int
    n_valid: int
    n_skipped: int
    samples: np.ndarray = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, float | int]:
        """The result without the samples, e.g. for a DataFrame row.

        Examples:
            >>> r = bootstrap(np.mean, np.arange(10.0), n=20, seed=1)
            >>> sorted(r.as_dict())
            ['estimate', 'high', 'level', 'low', 'n_resamples', 'n_skipped', 'n_valid']
        """
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "n_resamples": self.n_resamples,
            "n_valid": self.n_valid,
            "n_skipped": self.n_skipped,
        }


def _groups(codes: np.ndarray) -> list[np.ndarray]:
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return np.split(order, bounds)


class _Resampler:
    """Draws resample indices; strata and clusters are grouped once, not per resample."""

    def __init__(self, n_rows: int, stratify: Any | None, cluster: Any | None) -> None:
        if stratify is not None:
            strata = to_numpy(stratify).reshape(-1)
            if len(strata) != n_rows:
                raise InputError(f"stratify has {len(strata)} rows, the data {n_rows}")
            _, strata_codes = np.unique(strata.astype(str), return_inverse=True)
        else:
            strata_codes = np.zeros(n_rows, dtype=int)
        self.members: list[np.ndarray] | None = None
        if cluster is None:
            self.groups = _groups(strata_codes)
            return
        clusters = to_numpy(cluster).reshape(-1)
        if len(clusters) != n_rows:
            raise InputError(f"cluster has {len(clusters)} rows, the data {n_rows}")
        _, cluster_codes = np.unique(clusters.astype(str), return_inverse=True)
        self.members = _groups(cluster_codes)
        for m in self.members:
            if stratify is not None and len(np.unique(strata_codes[m])) > 1:
                raise InputError(
                    f"cluster {clusters[m[0]]!r} has rows in several strata; stratify by a "
                    "cluster-level variable"
                )
        cluster_stratum = np.array([strata_codes[m[0]] for m in self.members], dtype=int)
        self.groups = _groups(cluster_stratum)

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        picks = [g[rng.integers(0, len(g), size=len(g))] for g in self.groups]
        drawn = np.concatenate(picks) if picks else np.zeros(0, dtype=int)
        if self.members is None:
            return drawn
        rows = [self.members[c] for c in drawn]
        return np.concatenate(rows) if rows else np.zeros(0, dtype=int)


def resample_indices(
    n_rows: int,
    rng: np.random.Generator,
    *,
    stratify: Any | None = None,
    cluster: Any | None = None,
) -> np.ndarray:
    """Row indices of one bootstrap resample.

    Args:
        n_rows: Number of rows.
        rng: The random generator.
        stratify: ``[n_rows]`` stratum per row: each stratum is resampled to its own size
            (with ``cluster``: clusters are resampled within strata, and each cluster must lie
            in one stratum).
        cluster: ``[n_rows]`` cluster (patient) per row: clusters are resampled and all rows of
            a drawn cluster are taken.

    Raises:
        InputError: On lengths that differ from ``n_rows`` or a cluster in several strata.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> idx = resample_indices(6, rng, cluster=["a", "a", "b", "b", "c", "c"])
        >>> len(idx), bool((np.bincount(idx // 2, minlength=3) % 2 == 0).all())  # whole patients
        (6, True)
    """
    return _Resampler(n_rows, stratify, cluster)(rng)


def _scalar(value: Any, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(
            f"the metric must return a number, got {type(value).__name__} {where}"
        ) from None
    return out


def bootstrap(
    metric_fn: Callable[..., Any],
    *arrays: Any,
    n: int = 1000,
    seed: int | None = 0,
    level: float = 0.95,
    stratify: Any | None = None,
    cluster: Any | None = None,
) -> BootstrapResult:
    """Point estimate and percentile bootstrap confidence interval of ``metric_fn(*arrays)``.

    Args:
        metric_fn: Called as ``metric_fn(*resampled_arrays)``; returns a number.
        *arrays: Arrays with the same first dimension (labels, scores, times, ...); resampled
            together along axis 0.
        n: Number of resamples (0: the estimate only).
        seed: Seed of the random generator (None: fresh entropy).
        level: Confidence level of the two-sided percentile interval.
        stratify: Optional ``[N]`` strata (e.g. labels) resampled to their own sizes.
        cluster: Optional ``[N]`` patient ids: whole patients are resampled.

    Returns:
        A :class:`BootstrapResult`. Errors of ``metric_fn`` on the full data are raised;
        on resamples they mark the resample as undefined.

    Raises:
        InputError: On no arrays, arrays of different lengths, a bad ``n``/``level``, or a
            metric that does not return a number.

    Examples:
        >>> from biomm.eval.classification import auroc
        >>> y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
        >>> s = np.array([0.1, 0.2, 0.3, 0.6, 0.4, 0.7, 0.8, 0.9])
        >>> r = bootstrap(auroc, y, s, n=200, seed=0, stratify=y)
        >>> r.estimate, r.n_skipped, bool(r.low <= r.estimate <= r.high)
        (0.9375, 0, True)
    """
    if not arrays:
        raise InputError("bootstrap needs at least one array")
    if n < 0:
        raise InputError(f"n must be non-negative, got {n}")
    if not 0.0 < level < 1.0:
        raise InputError(f"level must be in (0, 1), got {level}")
    data = [to_numpy(a) for a in arrays]
    lengths = {len(a) for a in data}
    if len(lengths) != 1:
        raise InputError(f"arrays differ in length: {sorted(lengths)}")
    n_rows = lengths.pop()
    estimate = _scalar(metric_fn(*data), "on the full data")
    resampler = _Resampler(n_rows, stratify, cluster)
    rng = np.random.default_rng(seed)
    samples: list[float] = []
    skipped = 0
    for _ in range(n):
        idx = resampler(rng)
        try:
            raw = metric_fn(*(a[idx] for a in data))
        except UNDEFINED_ERRORS:
            skipped += 1
            continue
        value = _scalar(raw, "on a resample")
        if math.isfinite(value):
            samples.append(value)
        else:
            skipped += 1
    values = np.asarray(samples, dtype=float)
    if values.size:
        alpha = (1.0 - level) / 2.0
        low, high = (float(q) for q in np.quantile(values, [alpha, 1.0 - alpha]))
    else:
        low = high = float("nan")
    return BootstrapResult(
        estimate=estimate,
        low=low,
        high=high,
        level=level,
        n_resamples=n,
        n_valid=int(values.size),
        n_skipped=skipped,
        samples=values,
    )
