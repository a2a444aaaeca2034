"""Survival heads: a discrete-time hazard model and a Cox proportional-hazards model.

Targets are ``[B, 2]`` float32 ``(time, event)`` with event 1 = observed, 0 = censored, and
times ≥ 0. Both heads give a ``risk`` score where **higher = worse** (earlier events) and
survival curves ``S(t | x)`` on an explicit time grid.

* ``survival_discrete`` (:class:`DiscreteTimeSurvivalHead`): fixed time-bin edges
  ``e_0 < e_1 < … < e_K`` (e.g. from :func:`time_bins`), one logit per bin giving the
  conditional hazard ``h_j = P(T ∈ (e_j, e_{j+1}] | T > e_j)``; the loss is the negative
  log-likelihood of the censored discrete-time model (the logistic-hazard likelihood of
  nnet-survival and pycox's ``LogisticHazard``), see :func:`discrete_time_nll`.
* ``survival_cox`` (:class:`CoxHead`): one output, the log-risk ``η``; the loss is the
  negative Cox partial log-likelihood with Breslow's handling of ties over the batch's known
  targets (:func:`cox_partial_nll`); :meth:`CoxHead.fit_baseline` estimates Breslow's
  baseline cumulative hazard, after which :meth:`CoxHead.predict` also returns
  ``S(t | x) = exp(-H_0(t) · exp(η))``.

Examples:
    >>> import torch
    >>> edges = time_bins(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([1, 1, 0, 1]), 2)
    >>> edges
    [0.0, 2.0, 4.0]
    >>> head = DiscreteTimeSurvivalHead(in_dim=4, edges=edges)
    >>> out = head(torch.randn(3, 4))
    >>> target = torch.tensor([[1.5, 1.0], [3.0, 0.0], [0.0, 0.0]])
    >>> loss = head.loss(out, target, torch.tensor([True, True, False]))
    >>> pred = head.predict(out)
    >>> pred["survival"].shape, pred["time_grid"].tolist(), pred["risk"].shape
    (torch.Size([3, 2]), [2.0, 4.0], torch.Size([3]))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from biomm.errors import InputError
from biomm.heads.base import Head, masked_mean
from biomm.heads.classification import full_precision, known_mask, projection
from biomm.registries import HEADS


def _numpy(values: Any, what: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    try:
        return np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numeric: {exc}") from None


def time_bins(times: Any, events: Any, n_bins: int, scheme: str = "quantiles") -> list[float]:
    """Bin edges ``[0, e_1, …, e_K]`` for :class:`DiscreteTimeSurvivalHead` from training data.

    Args:
        times: ``[N]`` follow-up times (≥ 0).
        events: ``[N]`` event indicators (1 = observed).
        n_bins: Number of bins wanted.
        scheme: ``"quantiles"`` (edges at the ``i / n_bins`` quantiles of the observed event
            times, so each bin holds about as many events) or ``"equidistant"`` (equal widths
            up to the last event time).

    Returns:
        Strictly increasing edges starting at 0 and ending at the last event time. Tied
        quantiles are merged, so there may be fewer than ``n_bins`` bins.

    Raises:
        InputError: On negative or non-finite times, mismatched lengths, no event, or an
            unknown scheme.

    Examples:
        >>> time_bins([1.0, 2.0, 2.0, 8.0], [1, 1, 1, 1], 2, scheme="equidistant")
        [0.0, 4.0, 8.0]
        >>> time_bins([1.0, 2.0, 2.0, 8.0], [1, 1, 1, 0], 4)  # tied quantiles merge
        [0.0, 1.5, 2.0]
    """
    t = _numpy(times, "times")
    e = _numpy(events, "events")
    if t.shape != e.shape:
        raise InputError(f"times ({t.size}) and events ({e.size}) differ in length")
    if int(n_bins) < 1:
        raise InputError(f"n_bins must be positive, got {n_bins}")
    if not np.isfinite(t).all() or (t < 0).any():
        raise InputError("times must be finite and non-negative")
    event_times = t[e > 0.5]
    if event_times.size == 0:
        raise InputError("time_bins needs at least one observed event")
    if scheme == "quantiles":
        inner = np.quantile(event_times, np.arange(1, int(n_bins) + 1) / int(n_bins))
    elif scheme == "equidistant":
        inner = np.linspace(0.0, event_times.max(), int(n_bins) + 1)[1:]
    else:
        raise InputError(f"scheme must be 'quantiles' or 'equidistant', got {scheme!r}")
    edges = np.unique(np.concatenate([[0.0], inner]))
    if edges.size < 2:
        raise InputError("all event times are 0: no time bins can be made")
    return [float(v) for v in edges]


def survival_target(
    target: torch.Tensor, mask: torch.Tensor, batch: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split a ``[B, 2]`` ``(time, event)`` target into times, bool events and a bool mask.

    Unknown rows get time 0 and no event, whatever they held.

    Raises:
        InputError: On a wrong shape, or a known row with a negative or non-finite time or an
            event indicator other than 0/1.

    Examples:
        >>> t, e, m = survival_target(torch.tensor([[2.0, 1.0], [float("nan"), 0.0]]),
        ...                           torch.tensor([True, False]), 2, torch.device("cpu"),
        ...                           torch.float32)
        >>> t.tolist(), e.tolist(), m.tolist()
        ([2.0, 0.0], [True, False], [True, False])
    """
    target = torch.as_tensor(target, device=device)
    if tuple(target.shape) != (batch, 2):
        raise InputError(f"survival target must be [B, 2] (time, event), got {list(target.shape)}")
    mask = known_mask(mask, batch, device)
    target = target.to(dtype)
    time = torch.where(mask, target[:, 0], torch.zeros_like(target[:, 0]))
    event = torch.where(mask, target[:, 1], torch.zeros_like(target[:, 1]))
    if not (torch.isfinite(time) & (time >= 0)).all():
        raise InputError("survival times must be finite and non-negative where known")
    if not ((event == 0) | (event == 1)).all():
        raise InputError("survival event indicators must be 0 or 1 where known")
    return time, event == 1, mask


def discrete_time_nll(
    logits: torch.Tensor,
    time: torch.Tensor,
    event: torch.Tensor,
    edges: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Negative log-likelihood of the censored discrete-time (logistic-hazard) model.

    With hazards ``h_j = sigmoid(logits_j)`` for bins ``(e_j, e_{j+1}]``:

    * an event at ``t`` in bin ``j`` contributes ``-Σ_{k<j} log(1 - h_k) - log h_j``;
    * a subject censored at ``t`` has survived every bin whose right edge is ``≤ t`` and
      contributes ``-Σ_{k: e_{k+1} ≤ t} log(1 - h_k)`` (a censoring inside a bin counts for
      the bins before it only, as pycox does);
    * an event after the last edge counts as censored at the last edge.

    The result is the mean over known subjects (0, still differentiable, when none is known).

    Args:
        logits: ``[B, K]`` hazard logits.
        time: ``[B]`` times.
        event: ``[B]`` bool (or 0/1) event indicators.
        edges: ``[K + 1]`` increasing bin edges.
        mask: ``[B]`` bool, True where the target is known (default: all).

    Examples:
        >>> import math
        >>> logits = torch.zeros(1, 2)  # every hazard 0.5
        >>> loss = discrete_time_nll(logits, torch.tensor([1.5]), torch.tensor([True]),
        ...                          torch.tensor([0.0, 1.0, 2.0]))
        >>> round(loss.item(), 6) == round(2 * math.log(2), 6)
        True
    """
    logits = full_precision(logits)
    batch, k = logits.shape
    edges = torch.as_tensor(edges, device=logits.device)
    if edges.shape != (k + 1,):
        raise InputError(f"{k} hazard logits need {k + 1} edges, got {list(edges.shape)}")
    mask = known_mask(
        torch.ones(batch, dtype=torch.bool) if mask is None else mask, batch, logits.device
    )
    logits = torch.where(mask.unsqueeze(1), logits, torch.zeros_like(logits))
    right = edges[1:].to(logits.dtype).contiguous()
    t = time.to(device=logits.device, dtype=logits.dtype).contiguous()
    event = event.to(device=logits.device).bool() & mask
    bin_of_event = (right.unsqueeze(0) < t.unsqueeze(1)).sum(1)  # right edges < t
    bins_survived = (right.unsqueeze(0) <= t.unsqueeze(1)).sum(1)  # right edges ≤ t
    observed = event & (bin_of_event < k)
    survived = torch.where(observed, bin_of_event, bins_survived)
    index = torch.arange(k, device=logits.device)
    alive = index.unsqueeze(0) < survived.unsqueeze(1)
    died = observed.unsqueeze(1) & (index.unsqueeze(0) == bin_of_event.unsqueeze(1))
    zeros = torch.zeros_like(logits)
    nll = torch.where(alive, F.softplus(logits), zeros) + torch.where(
        died, F.softplus(-logits), zeros
    )
    return masked_mean(nll.sum(1), mask)


def cox_partial_nll(
    log_risk: torch.Tensor,
    time: torch.Tensor,
    event: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Negative Cox partial log-likelihood (Breslow ties), averaged over observed events.

    ``-(1 / n_events) Σ_{i: event} [η_i - log Σ_{j known: t_j ≥ t_i} exp(η_j)]``, computed
    in ``O(B log B)`` with a sort and a reverse log-cumsum-exp; tied times share one risk set
    (Breslow). Unknown targets take no part, neither as events nor in risk sets. A batch
    without an observed event gives 0 (still differentiable).

    Args:
        log_risk: ``[B]`` or ``[B, 1]`` log-risk scores ``η``.
        time: ``[B]`` times.
        event: ``[B]`` bool (or 0/1) event indicators.
        mask: ``[B]`` bool, True where the target is known (default: all).

    Examples:
        >>> import math
        >>> eta = torch.tensor([0.0, 0.0])
        >>> loss = cox_partial_nll(eta, torch.tensor([1.0, 2.0]), torch.tensor([True, False]))
        >>> round(loss.item(), 6) == round(math.log(2), 6)
        True
    """
    eta = full_precision(log_risk).reshape(-1)
    batch = eta.shape[0]
    mask = known_mask(
        torch.ones(batch, dtype=torch.bool) if mask is None else mask, batch, eta.device
    )
    eta = torch.where(mask, eta, torch.zeros_like(eta))
    t = time.to(device=eta.device, dtype=eta.dtype).reshape(-1)
    t = torch.where(mask, t, torch.full_like(t, -torch.inf))  # unknown: before everyone
    event = event.to(device=eta.device).bool().reshape(-1) & mask
    t_sorted, order = torch.sort(t)
    eta_sorted = eta[order]
    # log Σ_{j ≥ p} exp(η_j) in ascending time order, read at the first position of p's tie
    # group (a running maximum of group starts; O(B), no searchsorted).
    suffix = torch.logcumsumexp(eta_sorted.flip(0), 0).flip(0)
    position = torch.arange(batch, device=eta.device)
    starts = torch.ones_like(position, dtype=torch.bool)
    starts[1:] = t_sorted[1:] != t_sorted[:-1]
    first = torch.cummax(torch.where(starts, position, torch.zeros_like(position)), 0).values
    log_risk_set = suffix[first]
    observed = event[order]
    terms = torch.where(observed, eta_sorted - log_risk_set, torch.zeros_like(eta_sorted))
    return -terms.sum() / observed.sum().clamp_min(1).to(terms.dtype)


def _edges(edges: Sequence[float]) -> torch.Tensor:
    try:
        e = torch.as_tensor(list(edges), dtype=torch.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"edges must be numbers: {exc}") from None
    if e.ndim != 1 or e.numel() < 2 or not torch.isfinite(e).all():
        raise InputError(f"edges must be at least 2 finite numbers, got {list(edges)}")
    if (e[0] < 0) or not (e[1:] > e[:-1]).all():
        raise InputError(f"edges must start at ≥ 0 and increase strictly, got {list(edges)}")
    return e.float()


@HEADS.register("survival_discrete")
class DiscreteTimeSurvivalHead(Head):
    """Discrete-time survival: one hazard logit per time bin, censored-likelihood loss.

    Survival at the right edge of bin ``j`` is ``S(e_{j+1}) = Π_{k ≤ j} (1 - h_k)``; the
    prediction grid is ``e_1 … e_K`` (``S(e_0) = 1``). The ``risk`` score (higher = worse)
    is, by default, minus the restricted mean survival time up to ``e_K``,
    ``-∫_{e_0}^{e_K} S(t) dt`` with ``S`` linear within a bin; with ``risk="failure"`` it is
    the probability of an event by the last edge, ``1 - S(e_K)``.

    Args:
        in_dim: Size of the representation.
        edges: ``K + 1`` strictly increasing bin edges (e.g. from :func:`time_bins`).
        risk: ``"rmst"`` (default) or ``"failure"``.
        hidden_dim: Hidden size of an MLP head (``None``: linear).
        dropout: Dropout of the head.

    Examples:
        >>> import torch
        >>> head = DiscreteTimeSurvivalHead(in_dim=2, edges=[0.0, 1.0, 3.0])
        >>> pred = head.predict(torch.zeros(1, 2))  # hazards 0.5, 0.5
        >>> pred["survival"].tolist(), pred["risk"].tolist()
        ([[0.5, 0.25]], [-1.5])
    """

    name = "survival_discrete"
    task = "survival"

    def __init__(
        self,
        in_dim: int,
        edges: Sequence[float],
        risk: str = "rmst",
        hidden_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(in_dim)
        if risk not in ("rmst", "failure"):
            raise InputError(f"risk must be 'rmst' or 'failure', got {risk!r}")
        edge_tensor = _edges(edges)
        self.n_bins = self.out_dim = int(edge_tensor.numel() - 1)
        self.risk = risk
        self.layers = projection(self.in_dim, self.n_bins, hidden_dim, dropout)
        self.register_buffer("edges", edge_tensor)

    @property
    def time_grid(self) -> torch.Tensor:
        """The prediction grid: the bins' right edges ``[K]``.

        Examples:
            >>> DiscreteTimeSurvivalHead(2, edges=[0.0, 1.0, 3.0]).time_grid.tolist()
            [1.0, 3.0]
        """
        return self.edges[1:]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Hazard logits ``[B, K]``.

        Examples:
            >>> DiscreteTimeSurvivalHead(3, edges=[0, 1, 2])(torch.zeros(4, 3)).shape
            torch.Size([4, 2])
        """
        return self.layers(z)

    def loss(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean discrete-time NLL over samples with a known ``(time, event)``.

        Raises:
            InputError: On a wrong shape or an invalid known target.


        Examples:
            >>> head = DiscreteTimeSurvivalHead(2, edges=[0.0, 1.0, 2.0])
            >>> y = torch.tensor([[1.5, 0.0]])  # censored after surviving bin 0
            >>> round(head.loss(torch.zeros(1, 2), y, torch.tensor([True])).item(), 4)
            0.6931
        """
        logits = full_precision(output)
        if logits.ndim != 2 or logits.shape[1] != self.n_bins:
            raise InputError(
                f"survival_discrete output must be [B, {self.n_bins}], got {list(output.shape)}"
            )
        time, event, mask = survival_target(
            target, mask, logits.shape[0], logits.device, logits.dtype
        )
        return discrete_time_nll(logits, time, event, self.edges, mask)

    def predict(self, output: torch.Tensor) -> dict[str, Any]:
        """``hazard`` and ``survival`` ``[B, K]``, ``time_grid`` ``[K]``, ``risk`` ``[B]``.

        Examples:
            >>> head = DiscreteTimeSurvivalHead(2, edges=[0.0, 1.0, 2.0], risk="failure")
            >>> head.predict(torch.zeros(1, 2))["risk"].tolist()
            [0.75]
        """
        logits = full_precision(output)
        hazard = torch.sigmoid(logits)
        survival = torch.exp(torch.cumsum(-F.softplus(logits), dim=1))  # Π (1 - h_k)
        grid = self.time_grid.to(survival)
        if self.risk == "failure":
            risk = 1.0 - survival[:, -1]
        else:
            before = torch.cat([torch.ones_like(survival[:, :1]), survival[:, :-1]], dim=1)
            widths = (self.edges[1:] - self.edges[:-1]).to(survival)
            risk = -((before + survival) / 2 * widths).sum(1)
        return {"hazard": hazard, "survival": survival, "time_grid": grid, "risk": risk}


@HEADS.register("survival_cox")
class CoxHead(Head):
    """Cox proportional hazards: one output, the log-risk ``η`` (higher = worse).

    The loss is :func:`cox_partial_nll` over the batch's known targets, so batches should be
    large enough to hold events (a batch without any gives 0). After
    :meth:`fit_baseline` on training data (Breslow's estimator), :meth:`predict` also returns
    survival curves ``S(t | x) = exp(-H_0(t) exp(η))`` on ``time_grid``: the one passed to
    ``predict``, else the one given at init, else the distinct training event times.

    Args:
        in_dim: Size of the representation.
        time_grid: Default prediction grid (increasing times).
        hidden_dim: Hidden size of an MLP head (``None``: linear, the classic Cox model).
        dropout: Dropout of the head.

    Examples:
        >>> import torch
        >>> head = CoxHead(in_dim=2)
        >>> eta = torch.tensor([[0.0], [0.0], [0.0]])
        >>> head = head.fit_baseline(eta, torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1, 1, 0]))
        >>> [round(v, 4) for v in head.baseline_cumulative_hazard()[1].tolist()]  # 1/3, +1/2
        [0.3333, 0.8333]
        >>> pred = head.predict(eta[:1], time_grid=[0.5, 1.0, 2.5])
        >>> [round(v, 4) for v in pred["survival"][0].tolist()]
        [1.0, 0.7165, 0.4346]
    """

    name = "survival_cox"
    task = "survival"
    _baseline_keys = ("baseline_times", "baseline_cumhaz", "baseline_offset")

    def __init__(
        self,
        in_dim: int,
        time_grid: Sequence[float] | None = None,
        hidden_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(in_dim)
        self.out_dim = 1
        self.layers = projection(self.in_dim, 1, hidden_dim, dropout)
        grid = None if time_grid is None else _grid(time_grid)
        self.register_buffer("time_grid", grid, persistent=False)
        self.register_buffer("baseline_times", torch.zeros(0))
        self.register_buffer("baseline_cumhaz", torch.zeros(0))
        self.register_buffer("baseline_offset", torch.zeros(()))

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit_baseline` has been run (or loaded from a checkpoint).

        Examples:
            >>> CoxHead(2).fitted
            False
        """
        return self.baseline_times.numel() > 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Log-risk ``[B, 1]``.

        Examples:
            >>> CoxHead(3)(torch.zeros(4, 3)).shape
            torch.Size([4, 1])
        """
        return self.layers(z)

    def loss(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Negative partial log-likelihood over the batch's known targets (Breslow ties).

        Raises:
            InputError: On a wrong shape or an invalid known target.


        Examples:
            >>> y = torch.tensor([[1.0, 1.0], [2.0, 1.0], [2.0, 0.0]])
            >>> loss = CoxHead(2).loss(torch.zeros(3, 1), y, torch.tensor([True, True, True]))
            >>> round(loss.item(), 4)  # (log 3 + log 2) / 2
            0.8959
        """
        eta = full_precision(output)
        if eta.ndim != 2 or eta.shape[1] != 1:
            raise InputError(f"survival_cox output must be [B, 1], got {list(output.shape)}")
        time, event, mask = survival_target(target, mask, eta.shape[0], eta.device, eta.dtype)
        return cox_partial_nll(eta[:, 0], time, event, mask)

    def fit_baseline(self, risk: Any, time: Any, event: Any) -> CoxHead:
        """Fit Breslow's baseline cumulative hazard from training log-risks, times and events.

        ``H_0(t) = Σ_{τ ≤ t} d_τ / Σ_{j: t_j ≥ τ} exp(η_j)`` over the distinct event times
        ``τ`` (``d_τ`` events at ``τ``). Stored as buffers, so it is saved with the weights.

        Args:
            risk: ``[N]`` (or ``[N, 1]``) log-risks from this head on the training set.
            time: ``[N]`` times.
            event: ``[N]`` event indicators.

        Returns:
            ``self``.

        Raises:
            InputError: On mismatched lengths, non-finite values or no observed event.

        Examples:
            >>> head = CoxHead(1).fit_baseline([0.0, 0.0], [1.0, 2.0], [1, 0])
            >>> head.baseline_cumulative_hazard()[1].tolist()
            [0.5]
        """
        eta, t, e = _numpy(risk, "risk"), _numpy(time, "time"), _numpy(event, "event")
        if not eta.size == t.size == e.size:
            raise InputError(f"risk ({eta.size}), time ({t.size}), event ({e.size}) differ")
        if not (np.isfinite(eta).all() and np.isfinite(t).all()) or (t < 0).any():
            raise InputError("risk and time must be finite (and time non-negative)")
        if not np.isin(e, (0.0, 1.0)).all():
            raise InputError("event indicators must be 0 or 1")
        if not (e == 1).any():
            raise InputError("fit_baseline needs at least one observed event")
        offset = float(eta.max())
        weight = np.exp(eta - offset)
        times, inverse = np.unique(t, return_inverse=True)
        weight_at = np.bincount(inverse, weights=weight, minlength=times.size)
        events_at = np.bincount(inverse, weights=e, minlength=times.size)
        at_risk = np.cumsum(weight_at[::-1])[::-1]
        keep = events_at > 0
        cumhaz = np.cumsum(events_at[keep] / at_risk[keep])
        device = self.baseline_offset.device
        self.baseline_times = torch.as_tensor(times[keep], dtype=torch.float32, device=device)
        self.baseline_cumhaz = torch.as_tensor(cumhaz, dtype=torch.float32, device=device)
        self.baseline_offset = torch.tensor(offset, dtype=torch.float32, device=device)
        return self

    def baseline_cumulative_hazard(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(event times, H_0)`` of the fitted baseline (at log-risk 0).

        Raises:
            InputError: When the baseline has not been fitted.

        Examples:
            >>> head = CoxHead(1).fit_baseline([1.0], [2.0], [1])
            >>> [round(v, 4) for v in head.baseline_cumulative_hazard()[1].tolist()]
            [0.3679]
        """
        if not self.fitted:
            raise InputError("the Cox baseline hazard is not fitted: call fit_baseline first")
        return self.baseline_times, self.baseline_cumhaz * torch.exp(-self.baseline_offset)

    def predict(self, output: torch.Tensor, time_grid: Any = None) -> dict[str, Any]:
        """``risk`` ``[B]`` (= log-risk); once fitted also ``survival`` ``[B, T]``, ``time_grid``.

        Raises:
            InputError: When ``time_grid`` is given but the baseline is not fitted.

        Examples:
            >>> sorted(CoxHead(2).predict(torch.zeros(3, 1)))
            ['risk']
        """
        eta = full_precision(output).reshape(-1)
        out: dict[str, Any] = {"risk": eta}
        if not self.fitted:
            if time_grid is not None:
                raise InputError("survival curves need the baseline: call fit_baseline first")
            return out
        if time_grid is not None:
            grid = _grid(time_grid).to(eta.device)
        elif self.time_grid is not None:
            grid = self.time_grid.to(eta.device)
        else:
            grid = self.baseline_times.to(eta.device)
        times = self.baseline_times.to(eta.device).contiguous()
        cumhaz = torch.cat([self.baseline_cumhaz.new_zeros(1), self.baseline_cumhaz])
        h0 = cumhaz.to(eta)[torch.searchsorted(times, grid.contiguous(), right=True)]
        scale = torch.exp(eta - self.baseline_offset.to(eta))
        out["survival"] = torch.exp(-h0.unsqueeze(0) * scale.unsqueeze(1))
        out["time_grid"] = grid.to(eta)
        return out

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # The fitted baseline's length is only known once fitted: resize before loading.
        for key in self._baseline_keys:
            value = state_dict.get(prefix + key)
            if isinstance(value, torch.Tensor):
                current = getattr(self, key)
                setattr(self, key, torch.empty_like(value, device=current.device))
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


def _grid(values: Any) -> torch.Tensor:
    g = torch.as_tensor(_numpy(values, "time_grid"), dtype=torch.float32)
    if g.numel() == 0 or not torch.isfinite(g).all() or not (g[1:] >= g[:-1]).all():
        raise InputError("time_grid must be non-empty, finite and non-decreasing")
    return g
