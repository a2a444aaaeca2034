"""Kaplan–Meier curves by predicted-risk group, with the log-rank test and numbers at risk.

Patients are split into groups by quantiles of the predicted risk (higher = worse, as biomm's
survival heads return it): a median split (2 groups), tertiles (3, the default) or any number
of quantile groups. Curves are fitted with lifelines' ``KaplanMeierFitter``; the p-value is
lifelines' ``multivariate_logrank_test`` across the groups.

Examples:
    >>> import numpy as np
    >>> risk_groups(np.array([0.1, 0.5, 0.9, 0.3]), 2).tolist()
    ['low risk', 'high risk', 'high risk', 'low risk']
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from biomm.errors import InputError
from biomm.report.plotting import PALETTE, new_figure

__all__ = ["group_names", "km_figure", "n_risk_groups", "risk_groups"]


def group_names(n_groups: int) -> list[str]:
    """Names of ``n_groups`` risk groups, lowest risk first.

    Examples:
        >>> group_names(3)
        ['low risk', 'intermediate risk', 'high risk']
        >>> group_names(4)
        ['risk Q1 (lowest)', 'risk Q2', 'risk Q3', 'risk Q4 (highest)']
    """
    if n_groups == 2:
        return ["low risk", "high risk"]
    if n_groups == 3:
        return ["low risk", "intermediate risk", "high risk"]
    names = [f"risk Q{k + 1}" for k in range(n_groups)]
    names[0] += " (lowest)"
    names[-1] += " (highest)"
    return names


def n_risk_groups(groups: int | str) -> int:
    """The number of groups of a risk grouping.

    Args:
        groups: A number (at least 2) or ``"median"`` / ``"tertiles"`` / ``"quartiles"``.

    Raises:
        InputError: On fewer than 2 groups or an unknown name.

    Examples:
        >>> n_risk_groups("median"), n_risk_groups(5)
        (2, 5)
    """
    named = {"median": 2, "tertiles": 3, "quartiles": 4}
    if isinstance(groups, str):
        if groups not in named:
            raise InputError(
                f"unknown risk grouping {groups!r}; use a number or one of {list(named)}"
            )
        return named[groups]
    if int(groups) < 2:
        raise InputError(f"risk groups must be at least 2, got {groups}")
    return int(groups)


def risk_groups(risk: Any, groups: int | str = 3) -> np.ndarray:
    """The risk group of every patient, by quantiles of the predicted risk.

    Args:
        risk: ``[N]`` risk scores, higher = worse.
        groups: Number of quantile groups (2 = median split, 3 = tertiles), or ``"median"``
            / ``"tertiles"`` / ``"quartiles"``.

    Returns:
        ``[N]`` object array of group names (see :func:`group_names`); groups have equal
        sizes (± 1), tied risks are split in input order.

    Raises:
        InputError: On fewer than 2 groups, an unknown name, or fewer patients than groups.

    Examples:
        >>> risk_groups([3.0, 1.0, 2.0], "tertiles").tolist()
        ['high risk', 'low risk', 'intermediate risk']
    """
    n_groups = n_risk_groups(groups)
    values = np.asarray(risk, dtype=float).reshape(-1)
    if len(values) < n_groups:
        raise InputError(f"{len(values)} patients cannot form {n_groups} risk groups")
    ranks = pd.Series(values).rank(method="first")
    codes = np.asarray(pd.qcut(ranks, n_groups, labels=False), dtype=int)
    return np.array(group_names(n_groups), dtype=object)[codes]


def _at_risk(durations: np.ndarray, ticks: np.ndarray) -> list[int]:
    return [int((durations >= t).sum()) for t in ticks]


def km_figure(
    time: Any,
    event: Any,
    risk: Any,
    *,
    groups: int | str = 3,
    title: str = "Kaplan–Meier by predicted risk",
    time_label: str = "Time",
    ci: bool = True,
) -> Figure:
    """Kaplan–Meier curves per predicted-risk group, log-rank p-value and numbers at risk.

    Args:
        time: ``[N]`` event or censoring times.
        event: ``[N]`` 1 = event observed, 0 = censored.
        risk: ``[N]`` predicted risk, higher = worse.
        groups: Risk grouping (see :func:`risk_groups`).
        title: Title; the log-rank p-value is appended.
        time_label: Label of the time axis (e.g. ``"Months"``).
        ci: Draw each curve's 95% confidence band.

    Raises:
        InputError: On arrays of different lengths, non-finite values or events other than 0/1.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> risk = rng.normal(size=60)
        >>> time = rng.exponential(np.exp(-risk))
        >>> fig = km_figure(time, np.ones(60), risk, groups=2)
        >>> "log-rank p" in fig.axes[0].get_title(), len(fig.axes[0].get_lines()) >= 2
        (True, True)
    """
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    t = np.asarray(time, dtype=float).reshape(-1)
    e = np.asarray(event, dtype=float).reshape(-1)
    r = np.asarray(risk, dtype=float).reshape(-1)
    if not len(t) == len(e) == len(r):
        raise InputError(f"time ({len(t)}), event ({len(e)}) and risk ({len(r)}) differ in length")
    if not (np.isfinite(t).all() and np.isfinite(e).all() and np.isfinite(r).all()):
        raise InputError("time, event and risk must be finite (drop unknown outcomes)")
    if not np.isin(e, (0.0, 1.0)).all():
        raise InputError("event must be 0/1 (1 = event observed)")
    if len(t) < 2:
        raise InputError(f"a Kaplan–Meier comparison needs at least 2 patients, got {len(t)}")
    n_groups = min(n_risk_groups(groups), len(t))
    labels = risk_groups(r, n_groups)
    order = group_names(n_groups)
    test = multivariate_logrank_test(t, labels, e)
    p = float(test.p_value)

    fig, (ax, table) = new_figure(
        5.6, 5.0, nrows=2, sharex=True, gridspec_kw={"height_ratios": [4, 1]}
    )
    ticks = MaxNLocator(nbins=6, min_n_ticks=3).tick_values(0.0, float(t.max()))
    ticks = ticks[(ticks >= 0) & (ticks <= t.max())]
    for k, name in enumerate(order):
        mask = labels == name
        fitter = KaplanMeierFitter(
            label=f"{name} (n={int(mask.sum())}, {int(e[mask].sum())} events)"
        )
        fitter.fit(t[mask], e[mask])
        fitter.plot_survival_function(
            ax=ax,
            ci_show=ci,
            color=PALETTE[k % len(PALETTE)],
            show_censors=True,
            censor_styles={"ms": 4, "marker": "|"},
        )
        counts = _at_risk(t[mask], ticks)
        for tick, count in zip(ticks, counts, strict=True):
            table.text(
                tick,
                len(order) - 1 - k,
                str(count),
                ha="center",
                va="center",
                fontsize="small",
                color=PALETTE[k % len(PALETTE)],
            )
    p_text = f"p = {p:.3g}" if p >= 1e-4 else "p < 0.0001"
    ax.set_title(f"{title}\nlog-rank {p_text}")
    ax.set(ylim=(0, 1.02), ylabel="Survival probability", xlabel="")
    ax.legend(loc="upper right", fontsize="small")
    table.set_xticks(ticks)
    table.set_xlim(-0.04 * float(t.max()), float(t.max()) * 1.04)
    table.set_ylim(-0.5, len(order) - 0.5)
    table.set_yticks(
        range(len(order)), [order[len(order) - 1 - k] for k in range(len(order))], fontsize="small"
    )
    table.set_xlabel(time_label)
    table.set_title("Number at risk", fontsize="small", loc="left")
    for side in ("top", "right", "left"):
        table.spines[side].set_visible(False)
    table.tick_params(axis="y", length=0)
    return fig
