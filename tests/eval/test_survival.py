from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from sklearn.metrics import roc_auc_score

from biomm.errors import InputError
from biomm.eval.survival import (
    cumulative_dynamic_auc,
    harrell_c,
    integrated_brier_score,
    kaplan_meier,
    time_brier_score,
    uno_c,
)


def _data(n: int, seed: int, censor_scale: float | None = 2.0):
    """Exponential event times with hazard exp(risk); uniform censoring (None: none)."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    event_time = rng.exponential(np.exp(-risk))
    if censor_scale is None:
        return event_time, np.ones(n, int), risk
    censor = rng.uniform(0, censor_scale, n)
    return np.minimum(event_time, censor), (event_time <= censor).astype(int), risk


def _brute_harrell(time, event, risk):
    num = den = 0.0
    for i in range(len(time)):
        if not event[i]:
            continue
        for j in range(len(time)):
            if time[j] > time[i]:
                den += 1
                num += 1.0 if risk[i] > risk[j] else 0.5 if risk[i] == risk[j] else 0.0
    return num / den


def test_kaplan_meier_matches_lifelines() -> None:
    time, event, _ = _data(200, 0)
    time = np.round(time, 1)  # ties
    km = kaplan_meier(time, event)
    fitter = KaplanMeierFitter().fit(time, event)
    grid = np.linspace(0, time.max(), 50)
    expected = fitter.survival_function_at_times(grid).to_numpy()
    np.testing.assert_allclose(km(grid), expected, atol=1e-12)


def test_harrell_sign_and_brute_force() -> None:
    time, event, risk = _data(150, 1)
    risk = np.round(risk, 1)  # tied risks count 1/2
    c = harrell_c(time, event, risk)
    assert c == pytest.approx(_brute_harrell(time, event, risk), abs=1e-12)
    assert c > 0.6  # higher risk = earlier events in this simulation
    assert harrell_c(time, event, -risk) == pytest.approx(1 - c, abs=1e-12)
    assert np.isnan(harrell_c([1.0, 2.0], [0, 0], [0.1, 0.2]))


def test_uno_equals_harrell_without_censoring() -> None:
    time, event, risk = _data(300, 2, censor_scale=None)
    assert uno_c(time, event, risk) == pytest.approx(harrell_c(time, event, risk), abs=1e-12)


def test_uno_hand_computation() -> None:
    # events at 1 (risk 4) and 3 (risk 2); censored at 2 and 4. G(1) = 1, G(3) = 2/3.
    # pairs: event 1 vs {2, 3, 4}: all concordant (weight 1 each);
    # event 3 vs {4}: discordant (weight (3/2)^2)
    assert uno_c([1, 2, 3, 4], [1, 0, 1, 0], [4.0, 1.0, 2.0, 3.0]) == pytest.approx(3 / (3 + 2.25))
    # tau = 2.5 keeps only the first event
    assert uno_c([1, 2, 3, 4], [1, 0, 1, 0], [4.0, 1.0, 2.0, 3.0], tau=2.5) == 1.0


def test_uno_zero_censoring_weight_needs_tau() -> None:
    # the censoring KM drops to 0 at t = 3 (last censored), an event at 3 afterwards in ties
    time = np.array([1.0, 2.0, 3.0, 3.0])
    event = np.array([1, 1, 0, 1])
    with pytest.raises(InputError, match="tau"):
        uno_c(time, event, [4.0, 3.0, 2.0, 1.0])
    assert uno_c(time, event, [4.0, 3.0, 2.0, 1.0], tau=2.5) == 1.0


def test_cumulative_dynamic_auc_without_censoring_is_auroc() -> None:
    time, event, risk = _data(200, 3, censor_scale=None)
    grid = np.quantile(time, [0.2, 0.5, 0.8])
    auc, mean_auc = cumulative_dynamic_auc(time, event, risk, grid)
    for k, t in enumerate(grid):
        assert auc[k] == pytest.approx(roc_auc_score(time <= t, risk), abs=1e-12)
    assert min(auc) <= mean_auc <= max(auc)
    # time-dependent risk: a different score per time column
    risk_2d = np.stack([risk, -risk, risk], 1)
    auc2, _ = cumulative_dynamic_auc(time, event, risk_2d, grid)
    assert auc2[1] == pytest.approx(1 - auc[1], abs=1e-12)


def test_brier_of_km_without_censoring_is_p_times_1_minus_p() -> None:
    time, event, _ = _data(400, 4, censor_scale=None)
    grid = np.quantile(time, [0.1, 0.3, 0.6, 0.9])
    km = kaplan_meier(time, event)(grid)
    surv = np.tile(km, (len(time), 1))
    bs = time_brier_score(time, event, surv, grid)
    p = (time[:, None] <= grid[None, :]).mean(0)
    np.testing.assert_allclose(bs, p * (1 - p), atol=1e-12)


def test_ibs_of_perfect_predictor_is_zero_with_censoring() -> None:
    time, event, _ = _data(300, 5)
    grid = np.linspace(np.quantile(time, 0.05), np.quantile(time, 0.9), 20)
    # the truth: event samples die at their time; censored samples alive up to censoring
    # (after it their curve is irrelevant: zero IPCW weight)
    surv = np.where(event[:, None].astype(bool), (time[:, None] > grid[None, :]).astype(float), 1.0)
    assert integrated_brier_score(time, event, surv, grid) == pytest.approx(0.0, abs=1e-12)
    km = kaplan_meier(time, event)(grid)
    ibs_km = integrated_brier_score(time, event, np.tile(km, (len(time), 1)), grid)
    assert 0.05 < ibs_km < 0.25


def test_grid_and_shape_errors() -> None:
    time, event, risk = _data(50, 6)
    with pytest.raises(InputError, match="follow-up"):
        time_brier_score(time, event, np.ones((50, 1)), [time.max() + 1])
    with pytest.raises(InputError, match="increasing"):
        cumulative_dynamic_auc(time, event, risk, [0.5, 0.4])
    with pytest.raises(InputError, match="at least two"):
        integrated_brier_score(time, event, np.ones((50, 1)), [np.median(time)])
    with pytest.raises(InputError, match="surv must be"):
        time_brier_score(time, event, np.ones((50, 3)), [np.median(time)])
    with pytest.raises(InputError, match="0/1"):
        harrell_c(time, np.full(50, 2), risk)
    with pytest.raises(InputError, match="both"):
        uno_c(time, event, risk, train_time=time)


# --- reference numbers from scikit-survival (optional test dependency) -------------------------


@pytest.fixture
def sksurv_metrics():
    return pytest.importorskip("sksurv.metrics")


def _surv(event, time):
    from sksurv.util import Surv

    return Surv.from_arrays(event.astype(bool), time)


def test_uno_matches_sksurv(sksurv_metrics) -> None:
    t_train, e_train, _ = _data(400, 7)
    time, event, risk = _data(200, 8)
    risk = np.round(risk, 1)
    tau = float(np.quantile(t_train, 0.8))
    ref = sksurv_metrics.concordance_index_ipcw(
        _surv(e_train, t_train), _surv(event, time), risk, tau=tau
    )[0]
    ours = uno_c(time, event, risk, train_time=t_train, train_event=e_train, tau=tau)
    assert ours == pytest.approx(ref, abs=1e-12)
    ref_self = sksurv_metrics.concordance_index_ipcw(
        _surv(event, time), _surv(event, time), risk, tau=tau
    )[0]
    assert uno_c(time, event, risk, tau=tau) == pytest.approx(ref_self, abs=1e-12)


def test_reverse_km_matches_sksurv() -> None:
    nonparametric = pytest.importorskip("sksurv.nonparametric")
    time, event, _ = _data(100, 9)
    time = np.round(time, 1)
    times, prob = nonparametric.kaplan_meier_estimator(event.astype(bool), time, reverse=True)
    g = kaplan_meier(time, event, reverse=True)
    np.testing.assert_allclose(g.times, times)
    np.testing.assert_allclose(g.survival, prob, atol=1e-12)


def test_td_auc_and_brier_match_sksurv(sksurv_metrics) -> None:
    t_train, e_train, _ = _data(400, 10)
    time, event, risk = _data(200, 11)
    train, test = _surv(e_train, t_train), _surv(event, time)
    grid = np.quantile(time[event == 1], np.linspace(0.1, 0.8, 8))
    ref_auc, ref_mean = sksurv_metrics.cumulative_dynamic_auc(train, test, risk, grid)
    auc, mean_auc = cumulative_dynamic_auc(
        time, event, risk, grid, train_time=t_train, train_event=e_train
    )
    np.testing.assert_allclose(auc, ref_auc, atol=1e-12)
    assert mean_auc == pytest.approx(ref_mean, abs=1e-12)
    # survival curves of an exponential model with the right hazards, plus noise
    rng = np.random.default_rng(12)
    surv = np.exp(-np.exp(risk + rng.normal(0, 0.3, len(risk)))[:, None] * grid[None, :])
    _, ref_bs = sksurv_metrics.brier_score(train, test, surv, grid)
    bs = time_brier_score(time, event, surv, grid, train_time=t_train, train_event=e_train)
    np.testing.assert_allclose(bs, ref_bs, atol=1e-12)
    ref_ibs = sksurv_metrics.integrated_brier_score(train, test, surv, grid)
    ibs = integrated_brier_score(time, event, surv, grid, train_time=t_train, train_event=e_train)
    assert ibs == pytest.approx(ref_ibs, abs=1e-12)
    # a KM-only predictor: the reference IBS, and worse than the informative model
    km = np.tile(kaplan_meier(t_train, e_train)(grid), (len(time), 1))
    ref_km = sksurv_metrics.integrated_brier_score(train, test, km, grid)
    ibs_km = integrated_brier_score(time, event, km, grid, train_time=t_train, train_event=e_train)
    assert ibs_km == pytest.approx(ref_km, abs=1e-12)
    assert ibs < ibs_km
