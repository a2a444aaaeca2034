"""Survival metrics: Harrell's and Uno's C, time-dependent AUC and the (integrated) Brier score.

Conventions:

* ``time`` ``[N]`` is the event or censoring time, ``event`` ``[N]`` is 1 (or True) where the
  event was observed and 0 where the sample is right-censored.
* ``risk`` ``[N]`` is a risk score, **higher = worse** (earlier event), as biomm's survival
  heads return it. (lifelines' ``concordance_index`` expects the opposite; :func:`harrell_c`
  flips the sign for you.)
* ``surv`` ``[N, T]`` is a survival curve per sample, ``S(t_k | x_i) = P(T_i > t_k)``, on an
  explicit, increasing time grid ``times`` ``[T]``.
* Inverse probability of censoring weights (IPCW) use the Kaplan–Meier estimate ``G`` of the
  censoring distribution ``P(C > t)``, fitted on ``train_time``/``train_event`` when given
  (recommended: the training set), otherwise on the evaluated data. Ties between events and
  censorings at the same time count the events first, as in scikit-survival.

A metric without any usable pair or case is NaN rather than an error, so that bootstrap
resamples where it is undefined can be skipped.

Examples:
    >>> import numpy as np
    >>> time = np.array([2.0, 4.0, 6.0, 8.0])
    >>> event = np.array([1, 1, 0, 1])
    >>> risk = np.array([4.0, 3.0, 2.0, 1.0])  # earlier events have higher risk
    >>> harrell_c(time, event, risk), uno_c(time, event, risk)
    (1.0, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from biomm.errors import InputError

__all__ = [
    "KaplanMeier",
    "cumulative_dynamic_auc",
    "harrell_c",
    "integrated_brier_score",
    "kaplan_meier",
    "time_brier_score",
    "uno_c",
]


def _arr(x: Any, what: str, ndim: int | None = 1) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        out = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numeric: {exc}") from None
    if ndim is not None and out.ndim != ndim:
        raise InputError(f"{what} must be {ndim}-D, got shape {out.shape}")
    return out


def _survival_data(time: Any, event: Any, what: str = "") -> tuple[np.ndarray, np.ndarray]:
    t = _arr(time, f"{what}time")
    e = _arr(event, f"{what}event")
    if t.shape != e.shape:
        raise InputError(f"{what}time {t.shape} and {what}event {e.shape} differ in length")
    if not np.isfinite(t).all() or not np.isfinite(e).all():
        raise InputError(f"{what}time and {what}event must be finite (drop unknown outcomes)")
    if (t < 0).any():
        raise InputError(f"{what}time must be non-negative")
    if not np.isin(e, (0.0, 1.0)).all():
        raise InputError(f"{what}event must be 0/1 (1 = event observed)")
    return t, e.astype(bool)


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier step function ``S(t)``, right-continuous.

    Attributes:
        times: Unique observed times, increasing.
        survival: ``S`` just after each of ``times``.
    """

    times: np.ndarray
    survival: np.ndarray

    def __call__(self, t: Any) -> np.ndarray:
        """``S(t)`` at times ``t`` (1 before the first time).

        Raises:
            InputError: For ``t`` beyond the last observed time while ``S`` is still positive
                there (the estimate is undefined).

        Examples:
            >>> km = kaplan_meier([1.0, 2.0, 3.0], [1, 1, 1])
            >>> km([0.5, 1.0, 2.5, 3.0]).round(3).tolist()
            [1.0, 0.667, 0.333, 0.0]
        """
        t = np.asarray(t, dtype=float)
        if len(self.times) and self.survival[-1] > 0 and (t > self.times[-1]).any():
            raise InputError(
                f"time {float(t.max()):g} is beyond the last observed time "
                f"{float(self.times[-1]):g}, where the Kaplan-Meier estimate is undefined"
            )
        idx = np.searchsorted(self.times, t, side="right") - 1
        values = np.concatenate([[1.0], self.survival])
        return values[idx + 1]


def kaplan_meier(time: Any, event: Any, *, reverse: bool = False) -> KaplanMeier:
    """Kaplan–Meier estimate of the survival (or, with ``reverse``, the censoring) function.

    Args:
        time: ``[N]`` event or censoring times.
        event: ``[N]`` 1 = event observed, 0 = censored.
        reverse: Estimate ``G(t) = P(C > t)`` of the censoring time instead: censorings are
            the "events"; at tied times, events leave the risk set first.

    Examples:
        >>> km = kaplan_meier([1, 2, 2, 3], [1, 0, 1, 0])
        >>> km.times.tolist(), km.survival.round(3).tolist()
        ([1.0, 2.0, 3.0], [0.75, 0.5, 0.5])
        >>> g = kaplan_meier([1, 2, 2, 3], [1, 0, 1, 0], reverse=True)
        >>> g.survival.round(3).tolist()
        [1.0, 0.5, 0.0]
    """
    t, e = _survival_data(time, event)
    if t.size == 0:
        return KaplanMeier(np.zeros(0), np.zeros(0))
    uniq, inverse = np.unique(t, return_inverse=True)
    n_events = np.bincount(inverse, weights=e.astype(float), minlength=len(uniq))
    n_total = np.bincount(inverse, minlength=len(uniq)).astype(float)
    at_risk = n_total[::-1].cumsum()[::-1]  # number with time >= u
    if reverse:
        numer, denom = n_total - n_events, at_risk - n_events
    else:
        numer, denom = n_events, at_risk
    with np.errstate(invalid="ignore", divide="ignore"):
        hazard = np.where(numer > 0, numer / np.where(denom > 0, denom, 1.0), 0.0)
    return KaplanMeier(uniq, np.cumprod(1.0 - hazard))


def _censoring(
    time: np.ndarray,
    event: np.ndarray,
    train_time: Any | None,
    train_event: Any | None,
) -> KaplanMeier:
    if (train_time is None) != (train_event is None):
        raise InputError("give both train_time and train_event, or neither")
    if train_time is None:
        return kaplan_meier(time, event, reverse=True)
    tt, te = _survival_data(train_time, train_event, "train_")
    return kaplan_meier(tt, te, reverse=True)


def harrell_c(time: Any, event: Any, risk: Any) -> float:
    """Harrell's concordance index of risk scores (higher = worse), via lifelines.

    A pair is comparable when the shorter time is an observed event; tied risks count 1/2.

    Returns:
        The C-index; NaN without comparable pairs.

    Examples:
        >>> harrell_c([1, 2, 3], [1, 1, 1], [3.0, 2.0, 1.0])
        1.0
        >>> harrell_c([1, 2, 3], [1, 1, 1], [1.0, 2.0, 3.0])
        0.0
    """
    from lifelines.utils import concordance_index

    t, e = _survival_data(time, event)
    r = _arr(risk, "risk")
    if r.shape != t.shape:
        raise InputError(f"risk {r.shape} and time {t.shape} differ in length")
    if not np.isfinite(r).all():
        raise InputError("risk contains NaN or infinite values")
    try:
        return float(concordance_index(t, -r, e))
    except ZeroDivisionError:  # lifelines: "No admissable pairs in the dataset."
        return float("nan")


def uno_c(
    time: Any,
    event: Any,
    risk: Any,
    *,
    train_time: Any | None = None,
    train_event: Any | None = None,
    tau: float | None = None,
    tied_tol: float = 1e-8,
) -> float:
    """Uno's IPCW concordance index (Uno et al., Stat Med 2011).

    ``C = sum_ij D_i G(T_i)^-2 1[T_i < T_j, T_i < tau] (1[r_i > r_j] + 1[r_i = r_j] / 2)
    / sum_ij D_i G(T_i)^-2 1[T_i < T_j, T_i < tau]``, where ``G`` is the Kaplan–Meier
    censoring survival function. An event is also comparable with a sample censored at the same
    time. Without censoring ``G = 1`` and this is Harrell's C.

    Args:
        time: ``[N]`` times of the evaluated data.
        event: ``[N]`` 1 = event observed.
        risk: ``[N]`` risk scores, higher = worse.
        train_time: Times the censoring distribution is estimated from (default: ``time``).
        train_event: Events matching ``train_time``.
        tau: Truncation time: only events before ``tau`` count.
        tied_tol: Risks closer than this are tied.

    Returns:
        The C-index; NaN without comparable pairs.

    Raises:
        InputError: When ``G`` is zero (or undefined) at an event time that counts; choose a
            smaller ``tau``.

    Examples:
        >>> round(uno_c([1, 2, 3, 4], [1, 0, 1, 0], [4.0, 1.0, 2.0, 3.0]), 4)  # 3 / (3 + 1.5^2)
        0.5714
    """
    t, e = _survival_data(time, event)
    r = _arr(risk, "risk")
    if r.shape != t.shape:
        raise InputError(f"risk {r.shape} and time {t.shape} differ in length")
    if not np.isfinite(r).all():
        raise InputError("risk contains NaN or infinite values")
    counted = e if tau is None else e & (t < tau)
    if not counted.any():
        return float("nan")
    g_fn = _censoring(t, e, train_time, train_event)
    g = g_fn(t[counted])
    if (g <= 0).any():
        raise InputError(
            "the censoring survival function is zero at some event times; set tau below "
            f"{float(t[counted][g <= 0].min()):g}"
        )
    idx = np.flatnonzero(counted)
    w = 1.0 / g**2
    numerator = denominator = 0.0
    chunk = max(1, 2_000_000 // max(len(t), 1))
    for start in range(0, len(idx), chunk):
        rows = idx[start : start + chunk]
        ti, ri = t[rows, None], r[rows, None]
        comparable = (t[None, :] > ti) | ((t[None, :] == ti) & ~e[None, :])
        diff = ri - r[None, :]
        tied = np.abs(diff) <= tied_tol
        score = np.where(tied, 0.5, (diff > 0).astype(float)) * comparable
        wi = w[start : start + chunk]
        numerator += float((wi * score.sum(1)).sum())
        denominator += float((wi * comparable.sum(1)).sum())
    return numerator / denominator if denominator > 0 else float("nan")


def _check_grid(times: Any, time: np.ndarray) -> np.ndarray:
    grid = _arr(times, "times")
    if grid.size == 0:
        raise InputError("times is empty")
    if (np.diff(grid) <= 0).any():
        raise InputError("times must be strictly increasing")
    if grid[0] < time.min() or grid[-1] >= time.max():
        raise InputError(
            f"times [{grid[0]:g}, {grid[-1]:g}] must lie within the follow-up of the evaluated "
            f"data [{time.min():g}, {time.max():g}) (drop grid points at or beyond the last time)"
        )
    return grid


def cumulative_dynamic_auc(
    time: Any,
    event: Any,
    risk: Any,
    times: Any,
    *,
    train_time: Any | None = None,
    train_event: Any | None = None,
    tied_tol: float = 1e-8,
) -> tuple[np.ndarray, float]:
    """Cumulative/dynamic time-dependent AUC with IPCW (Uno 2007; Hung & Chiang 2010).

    At time ``t``, cases are samples with an observed event at ``T_i <= t`` (weighted by
    ``1 / G(T_i)``), controls are samples still event-free at ``T_j > t``:
    ``AUC(t) = sum_ij w_i 1[T_i <= t < T_j] 1[r_i > r_j] / (sum_i w_i 1[T_i <= t] * #controls)``,
    ties counting 1/2. The mean AUC weights each ``AUC(t_k)`` by the drop of the Kaplan–Meier
    survival of the evaluated data over ``(t_{k-1}, t_k]``, normalised by ``1 - S(t_last)``
    (as in scikit-survival).

    Args:
        time: ``[N]`` times of the evaluated data.
        event: ``[N]`` 1 = event observed.
        risk: ``[N]`` risk scores (higher = worse) or ``[N, T]`` time-dependent risk scores
            (e.g. ``1 - surv``).
        times: ``[T]`` increasing evaluation times within the follow-up.
        train_time: Times the censoring distribution is estimated from (default: ``time``).
        train_event: Events matching ``train_time``.
        tied_tol: Risks closer than this are tied.

    Returns:
        ``(auc [T], mean_auc)``; NaN at times without cases or controls.

    Raises:
        InputError: On bad shapes, a grid outside the follow-up, or a zero censoring weight.

    Examples:
        >>> auc, mean = cumulative_dynamic_auc(
        ...     [1, 2, 3, 4, 5], [1, 1, 0, 1, 0], [5.0, 4.0, 3.0, 2.0, 1.0], [1.5, 3.5])
        >>> auc.tolist(), mean
        ([1.0, 1.0], 1.0)
    """
    t, e = _survival_data(time, event)
    grid = _check_grid(times, t)
    r = _arr(risk, "risk", ndim=None)
    if r.ndim == 1:
        r = np.broadcast_to(r[:, None], (len(r), len(grid)))
    if r.shape != (len(t), len(grid)):
        raise InputError(f"risk must be [N] or [N, T] = {(len(t), len(grid))}, got {r.shape}")
    if not np.isfinite(r).all():
        raise InputError("risk contains NaN or infinite values")
    g_fn = _censoring(t, e, train_time, train_event)
    w = np.zeros(len(t))
    if e.any():
        g = g_fn(t[e])
        if (g <= 0).any():
            raise InputError("the censoring survival function is zero at some event times")
        w[e] = 1.0 / g
    auc = np.full(len(grid), np.nan)
    for k, tk in enumerate(grid):
        cases = e & (t <= tk)
        controls = t > tk
        if not cases.any() or not controls.any():
            continue
        ctrl = np.sort(r[controls, k])
        rc = r[cases, k]
        below = np.searchsorted(ctrl, rc - tied_tol, side="left")
        at_or_below = np.searchsorted(ctrl, rc + tied_tol, side="right")
        wins = below + 0.5 * (at_or_below - below)
        auc[k] = float((w[cases] * wins).sum() / (w[cases].sum() * len(ctrl)))
    if len(grid) == 1:
        return auc, float(auc[0])
    s = kaplan_meier(t, e)(grid)
    drop = -np.diff(np.concatenate([[1.0], s]))
    defined = np.isfinite(auc)
    denom = (1.0 - s[-1]) if defined.all() else drop[defined].sum()
    mean_auc = float((auc[defined] * drop[defined]).sum() / denom) if denom > 0 else float("nan")
    return auc, mean_auc


def time_brier_score(
    time: Any,
    event: Any,
    surv: Any,
    times: Any,
    *,
    train_time: Any | None = None,
    train_event: Any | None = None,
) -> np.ndarray:
    """IPCW Brier score at each time of the grid (Graf et al., Stat Med 1999).

    ``BS(t) = mean_i [S_i(t)^2 1[T_i <= t, D_i = 1] / G(T_i) + (1 - S_i(t))^2 1[T_i > t] / G(t)]``:
    samples censored before ``t`` contribute zero. Terms whose censoring weight is zero are
    dropped (as in scikit-survival).

    Args:
        time: ``[N]`` times of the evaluated data.
        event: ``[N]`` 1 = event observed.
        surv: ``[N, T]`` predicted survival probabilities at ``times``.
        times: ``[T]`` increasing times within the follow-up of the evaluated data.
        train_time: Times the censoring distribution is estimated from (default: ``time``).
        train_event: Events matching ``train_time``.

    Returns:
        ``[T]`` Brier scores (lower = better; 0.25 for a constant 0.5 without censoring).

    Examples:
        >>> time_brier_score([1, 2, 3], [1, 1, 1], [[0.5], [0.5], [0.5]], [1.5]).tolist()
        [0.25]
    """
    t, e = _survival_data(time, event)
    grid = _check_grid(times, t)
    s = _arr(surv, "surv", ndim=2)
    if s.shape != (len(t), len(grid)):
        raise InputError(f"surv must be [N, T] = {(len(t), len(grid))}, got {s.shape}")
    if not np.isfinite(s).all() or s.min() < 0 or s.max() > 1:
        raise InputError("surv must hold survival probabilities in [0, 1]")
    g_fn = _censoring(t, e, train_time, train_event)
    g_obs = g_fn(t)
    g_grid = g_fn(grid)
    with np.errstate(divide="ignore"):
        inv_obs = np.where(g_obs > 0, 1.0 / np.where(g_obs > 0, g_obs, 1.0), 0.0)
        inv_grid = np.where(g_grid > 0, 1.0 / np.where(g_grid > 0, g_grid, 1.0), 0.0)
    cases = e[:, None] & (t[:, None] <= grid[None, :])
    controls = t[:, None] > grid[None, :]
    terms = s**2 * cases * inv_obs[:, None] + (1.0 - s) ** 2 * controls * inv_grid[None, :]
    return terms.mean(0)


def integrated_brier_score(
    time: Any,
    event: Any,
    surv: Any,
    times: Any,
    *,
    train_time: Any | None = None,
    train_event: Any | None = None,
) -> float:
    """Integrated IPCW Brier score: the trapezoidal mean of :func:`time_brier_score` over the grid.

    ``IBS = integral of BS(t) dt over [t_1, t_T] / (t_T - t_1)``.

    Args:
        time: ``[N]`` times of the evaluated data.
        event: ``[N]`` 1 = event observed.
        surv: ``[N, T]`` predicted survival curves on ``times``.
        times: ``[T >= 2]`` increasing grid within the follow-up.
        train_time: Times the censoring distribution is estimated from (default: ``time``).
        train_event: Events matching ``train_time``.

    Examples:
        >>> import numpy as np
        >>> time, grid = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.5, 3.5])
        >>> perfect = (time[:, None] > grid[None, :]).astype(float)
        >>> integrated_brier_score(time, [1, 1, 1, 1], perfect, grid)
        0.0
    """
    grid = _arr(times, "times")
    if grid.size < 2:
        raise InputError("the integrated Brier score needs at least two grid times")
    bs = time_brier_score(time, event, surv, grid, train_time=train_time, train_event=train_event)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # NumPy < 2 has only trapz
    return float(trapezoid(bs, grid) / (grid[-1] - grid[0]))
