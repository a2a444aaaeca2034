"""Survival heads: hand-computed losses, gradients, masking, curves and a lifelines check."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from biomm.errors import InputError
from biomm.heads.interop import concordance_index
from biomm.heads.survival import (
    CoxHead,
    DiscreteTimeSurvivalHead,
    cox_partial_nll,
    discrete_time_nll,
    time_bins,
)


def _pairwise_cox(eta, time, event, mask):
    """Reference: the Breslow partial likelihood with an explicit B × B risk-set matrix."""
    eta, time, event, mask = (x.double() for x in (eta, time, event.float(), mask.float()))
    at_risk = (time.unsqueeze(0) >= time.unsqueeze(1)) & (mask.unsqueeze(0) > 0)
    log_sums = torch.logsumexp(torch.where(at_risk, eta.unsqueeze(0), -torch.inf), dim=1)
    d = (event > 0) & (mask > 0)
    if not d.any():
        return torch.zeros((), dtype=torch.float64)
    return -(eta[d] - log_sums[d]).sum() / d.sum()


# --- Cox partial likelihood ---------------------------------------------------------------


def test_cox_loss_equals_hand_computation_with_a_tie():
    eta = [0.1, 0.5, -0.2, 0.3]
    time = [1.0, 2.0, 2.0, 3.0]  # samples 1 and 2 tie at t = 2 and both have events
    event = [1, 1, 1, 0]
    e = [math.exp(v) for v in eta]
    all_four = math.log(sum(e))
    from_two = math.log(e[1] + e[2] + e[3])  # Breslow: both tied events share {1, 2, 3}
    expected = -((0.1 - all_four) + (0.5 - from_two) + (-0.2 - from_two)) / 3
    perm = [2, 0, 3, 1]  # the input order must not matter
    loss = cox_partial_nll(
        torch.tensor([eta[i] for i in perm]),
        torch.tensor([time[i] for i in perm]),
        torch.tensor([event[i] for i in perm]),
    )
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    head = CoxHead(in_dim=2)
    target = torch.tensor([[t, float(d)] for t, d in zip(time, event, strict=True)])
    via_head = head.loss(torch.tensor(eta).unsqueeze(1), target, torch.ones(4, dtype=torch.bool))
    assert via_head.item() == pytest.approx(expected, rel=1e-6)


def test_cox_loss_matches_pairwise_reference_with_ties_and_masks(single_thread):
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        n = int(torch.randint(2, 40, (1,), generator=g))
        eta = torch.randn(n, generator=g, dtype=torch.float64) * 2
        time = torch.randint(0, 6, (n,), generator=g).double()  # many ties
        event = torch.rand(n, generator=g) < 0.5
        mask = torch.rand(n, generator=g) < 0.8
        got = cox_partial_nll(eta, time, event, mask)
        torch.testing.assert_close(got, _pairwise_cox(eta, time, event, mask))


def test_cox_gradcheck():
    time = torch.tensor([1.0, 2.0, 2.0, 3.0, 5.0], dtype=torch.float64)
    event = torch.tensor([1, 1, 0, 1, 0])
    mask = torch.tensor([True, True, True, False, True])
    eta = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: cox_partial_nll(x, time, event, mask), (eta,))


def test_cox_batch_without_events_gives_zero_and_a_graph():
    head = CoxHead(in_dim=3)
    z = torch.randn(4, 3, requires_grad=True)
    target = torch.tensor([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]])
    loss = head.loss(head(z), target, torch.ones(4, dtype=torch.bool))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))
    # events only among unknown targets: still no event
    target[:, 1] = 1.0
    loss = head.loss(head(z), target, torch.zeros(4, dtype=torch.bool))
    assert loss.item() == 0.0


def test_cox_masked_targets_are_ignored():
    torch.manual_seed(1)
    eta = torch.randn(6, 1, requires_grad=True)
    target = torch.tensor([[1.0, 1.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0], [0.5, 1], [9.0, 0]])
    mask = torch.tensor([True, True, True, True, False, False])
    head = CoxHead(in_dim=1)
    loss = head.loss(eta, target, mask)
    (grad,) = torch.autograd.grad(loss, eta)
    changed = target.clone()
    changed[4] = torch.tensor([float("nan"), 7.0])  # garbage in unknown rows
    changed[5] = torch.tensor([-3.0, 1.0])
    loss2 = head.loss(eta, changed, mask)
    (grad2,) = torch.autograd.grad(loss2, eta)
    assert loss2.item() == loss.item()
    torch.testing.assert_close(grad2, grad)
    assert grad[4:].abs().sum() == 0
    # the same as dropping the unknown rows
    assert loss.item() == pytest.approx(
        head.loss(eta[:4], target[:4], torch.ones(4, dtype=torch.bool)).item()
    )


def test_cox_rejects_bad_known_targets():
    head = CoxHead(in_dim=1)
    mask = torch.ones(2, dtype=torch.bool)
    with pytest.raises(InputError, match="non-negative"):
        head.loss(torch.zeros(2, 1), torch.tensor([[-1.0, 1.0], [1.0, 0.0]]), mask)
    with pytest.raises(InputError, match="0 or 1"):
        head.loss(torch.zeros(2, 1), torch.tensor([[1.0, 2.0], [1.0, 0.0]]), mask)
    with pytest.raises(InputError, match=r"\[B, 2\]"):
        head.loss(torch.zeros(2, 1), torch.ones(2), mask)


def test_cox_baseline_survival_curves_and_checkpoint_round_trip():
    torch.manual_seed(0)
    head = CoxHead(in_dim=3)
    with pytest.raises(InputError, match="fit_baseline"):
        head.predict(torch.zeros(2, 1), time_grid=[1.0])
    z = torch.randn(50, 3)
    time = torch.rand(50) * 10
    event = (torch.rand(50) < 0.6).float()
    with torch.no_grad():
        eta = head(z)
    head.fit_baseline(eta, time, event)
    pred = head.predict(eta)
    surv = pred["survival"]
    assert surv.shape == (50, int(torch.unique(time[event == 1]).numel()))
    assert torch.equal(pred["time_grid"], torch.unique(time[event == 1]))
    assert ((surv >= 0) & (surv <= 1)).all()
    assert (surv[:, 1:] <= surv[:, :-1] + 1e-7).all()  # non-increasing
    # higher risk → lower survival at every time
    order = torch.argsort(pred["risk"])
    assert (surv[order][1:] <= surv[order][:-1] + 1e-7).all()
    # an explicit grid, including times before the first event
    grid = [0.0, 2.0, 5.0, 20.0]
    on_grid = head.predict(eta, time_grid=grid)
    assert on_grid["survival"].shape == (50, 4)
    assert torch.equal(on_grid["survival"][:, 0], torch.ones(50))  # before any event
    # the fitted baseline is saved with the weights and restored into a fresh head
    fresh = CoxHead(in_dim=3)
    fresh.load_state_dict(head.state_dict())
    assert fresh.fitted
    torch.testing.assert_close(fresh.predict(eta, time_grid=grid), on_grid)


def test_cox_fit_baseline_rejects_bad_input():
    head = CoxHead(in_dim=1)
    with pytest.raises(InputError, match="differ"):
        head.fit_baseline([0.0, 1.0], [1.0], [1, 0])
    with pytest.raises(InputError, match="at least one observed event"):
        head.fit_baseline([0.0, 1.0], [1.0, 2.0], [0, 0])
    with pytest.raises(InputError, match="finite"):
        head.fit_baseline([float("nan"), 1.0], [1.0, 2.0], [1, 0])


# --- discrete-time likelihood ------------------------------------------------------------


def _neg_log_sigmoid(x: float) -> float:
    return -math.log(1 / (1 + math.exp(-x)))


def _neg_log_one_minus_sigmoid(x: float) -> float:
    return -math.log(1 - 1 / (1 + math.exp(-x)))


def test_discrete_nll_equals_hand_computation():
    edges = [0.0, 1.0, 2.0]
    phi = [[0.3, -0.4], [1.2, 0.1], [-0.7, 0.8], [0.2, -1.5], [0.9, 0.4]]
    target = torch.tensor(
        [
            [1.5, 1.0],  # event in bin 1: survived bin 0, died in bin 1
            [0.5, 0.0],  # censored inside bin 0: no bin fully survived
            [1.0, 0.0],  # censored at the edge 1.0: survived bin 0
            [2.5, 1.0],  # event after the last edge: survived both bins
            [1.0, 1.0],  # event exactly at 1.0 belongs to bin 0 = (0, 1]
        ]
    )
    per_subject = [
        _neg_log_one_minus_sigmoid(phi[0][0]) + _neg_log_sigmoid(phi[0][1]),
        0.0,
        _neg_log_one_minus_sigmoid(phi[2][0]),
        _neg_log_one_minus_sigmoid(phi[3][0]) + _neg_log_one_minus_sigmoid(phi[3][1]),
        _neg_log_sigmoid(phi[4][0]),
    ]
    head = DiscreteTimeSurvivalHead(in_dim=2, edges=edges)
    loss = head.loss(torch.tensor(phi), target, torch.ones(5, dtype=torch.bool))
    assert loss.item() == pytest.approx(sum(per_subject) / 5, rel=1e-6)
    # unknown rows do not count in the mean
    mask = torch.tensor([True, False, True, False, False])
    loss = head.loss(torch.tensor(phi), target, mask)
    assert loss.item() == pytest.approx((per_subject[0] + per_subject[2]) / 2, rel=1e-6)


def test_discrete_nll_gradcheck():
    edges = torch.tensor([0.0, 1.0, 2.0, 4.0], dtype=torch.float64)
    time = torch.tensor([0.5, 1.5, 3.0, 5.0, 2.0], dtype=torch.float64)
    event = torch.tensor([1, 0, 1, 1, 0])
    mask = torch.tensor([True, True, True, True, False])
    logits = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: discrete_time_nll(x, time, event, edges, mask), (logits,)
    )


def test_discrete_head_without_events_or_known_targets():
    head = DiscreteTimeSurvivalHead(in_dim=3, edges=[0.0, 1.0, 2.0])
    z = torch.randn(3, 3, requires_grad=True)
    censored = torch.tensor([[1.5, 0.0], [0.2, 0.0], [3.0, 0.0]])
    loss = head.loss(head(z), censored, torch.ones(3, dtype=torch.bool))
    assert torch.isfinite(loss) and loss.item() > 0  # censored subjects still inform S(t)
    loss.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    z.grad = None
    garbage = torch.full((3, 2), float("nan"))
    loss = head.loss(head(z), garbage, torch.zeros(3, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_discrete_survival_curves_are_monotone_and_risk_ranks_hazards():
    torch.manual_seed(0)
    head = DiscreteTimeSurvivalHead(in_dim=4, edges=[0.0, 1.0, 2.5, 4.0, 10.0])
    out = torch.randn(20, 4) * 3
    pred = head.predict(out)
    surv = pred["survival"]
    assert surv.shape == (20, 4) and pred["hazard"].shape == (20, 4)
    assert pred["time_grid"].tolist() == [1.0, 2.5, 4.0, 10.0]
    assert ((surv >= 0) & (surv <= 1)).all()
    assert (surv[:, 1:] <= surv[:, :-1]).all()
    torch.testing.assert_close(surv, torch.cumprod(1 - torch.sigmoid(out), dim=1))
    # raising every hazard raises the risk (higher = worse), for both risk scores
    moderate = torch.randn(20, 4)  # away from saturation, where float32 risks would tie
    for risk in ("rmst", "failure"):
        h = DiscreteTimeSurvivalHead(in_dim=4, edges=[0.0, 1.0, 2.5, 4.0, 10.0], risk=risk)
        assert (h.predict(moderate + 0.5)["risk"] > h.predict(moderate)["risk"]).all()
    # rmst: integral of the piecewise-linear S over [0, 10], negated
    s = torch.cat([torch.ones(20, 1), surv], 1)
    widths = torch.tensor([1.0, 1.5, 1.5, 6.0])
    torch.testing.assert_close(pred["risk"], -((s[:, 1:] + s[:, :-1]) / 2 * widths).sum(1))


def test_discrete_head_rejects_bad_edges():
    for edges in ([1.0], [0.0, 2.0, 1.0], [-1.0, 1.0], [0.0, float("inf")]):
        with pytest.raises(InputError):
            DiscreteTimeSurvivalHead(in_dim=2, edges=edges)


def test_time_bins_from_event_quantiles():
    rng = np.random.default_rng(0)
    times = rng.exponential(10.0, 1000)
    events = rng.random(1000) < 0.7
    edges = time_bins(times, events, 5)
    assert len(edges) == 6 and edges[0] == 0.0
    assert edges[-1] == pytest.approx(times[events].max())
    counts = np.histogram(times[events], bins=edges)[0]
    assert counts.min() >= 0.19 * events.sum()  # about as many events per bin
    with pytest.raises(InputError, match="at least one observed event"):
        time_bins(times, np.zeros(1000), 5)
    with pytest.raises(InputError, match="non-negative"):
        time_bins([-1.0, 2.0], [1, 1], 2)


# --- validation on lifelines' Rossi recidivism data ---------------------------------------


@pytest.fixture(scope="module")
def rossi():
    from lifelines import CoxPHFitter
    from lifelines.datasets import load_rossi

    df = load_rossi()
    covariates = [c for c in df.columns if c not in ("week", "arrest")]
    x = df[covariates].to_numpy(float)
    x = (x - x.mean(0)) / x.std(0)
    frame = pd.DataFrame(x, columns=covariates).assign(week=df["week"], arrest=df["arrest"])
    cph = CoxPHFitter().fit(frame, duration_col="week", event_col="arrest")
    return frame, covariates, x, cph


def test_linear_cox_head_reproduces_lifelines_on_rossi(rossi, single_thread):
    frame, covariates, x, cph = rossi
    torch.manual_seed(0)
    head = CoxHead(in_dim=len(covariates))
    inputs = torch.tensor(x, dtype=torch.float32)
    target = torch.tensor(frame[["week", "arrest"]].to_numpy(), dtype=torch.float32)
    known = torch.ones(len(frame), dtype=torch.bool)
    optimiser = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(300):
        optimiser.zero_grad()
        head.loss(head(inputs), target, known).backward()
        optimiser.step()
    with torch.no_grad():
        risk = head(inputs)[:, 0].numpy()
    ours = concordance_index(frame["week"], risk, frame["arrest"])
    assert abs(ours - cph.concordance_index_) < 0.01
    coefficients = head.layers.weight.detach().numpy()[0]
    reference = cph.params_[covariates].to_numpy()
    assert np.corrcoef(coefficients, reference)[0, 1] > 0.95


def test_breslow_baseline_matches_lifelines(rossi):
    frame, covariates, x, cph = rossi
    eta = x @ cph.params_[covariates].to_numpy()  # x is centred, as lifelines' baseline is
    head = CoxHead(in_dim=len(covariates)).fit_baseline(eta, frame["week"], frame["arrest"])
    times, cumhaz = head.baseline_cumulative_hazard()
    reference = cph.baseline_cumulative_hazard_.iloc[:, 0]
    np.testing.assert_allclose(
        cumhaz.numpy(), reference.loc[times.numpy().astype(float)].to_numpy(), rtol=1e-5
    )
    grid = [5.0, 20.0, 40.0, 52.0]
    ours = head.predict(torch.tensor(eta[:10]), time_grid=grid)["survival"].numpy()
    theirs = cph.predict_survival_function(frame.iloc[:10], times=grid).to_numpy().T
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
