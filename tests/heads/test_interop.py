"""Interop: lifelines C-index sign, scikit-survival structured arrays, pycox frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lifelines.utils import concordance_index as lifelines_cindex

from biomm.errors import InputError
from biomm.heads.interop import (
    SKSURV_DTYPE,
    concordance_index,
    from_sksurv,
    survival_frame,
    to_sksurv,
)
from biomm.heads.survival import DiscreteTimeSurvivalHead


def test_concordance_sign_is_higher_risk_worse():
    rng = np.random.default_rng(0)
    time = rng.exponential(5.0, 50)
    event = rng.random(50) < 0.7
    assert concordance_index(time, -time, event) == 1.0  # perfect risk
    assert concordance_index(time, time, event) == 0.0
    risk = rng.normal(size=50)
    ours = concordance_index(torch.tensor(time), torch.tensor(risk), torch.tensor(event))
    assert ours == pytest.approx(lifelines_cindex(time, -risk, event))
    assert ours == pytest.approx(1 - lifelines_cindex(time, risk, event))  # no ties in risk
    assert concordance_index(time, -time) == 1.0  # events default to observed


def test_concordance_errors():
    with pytest.raises(InputError, match="differ in length"):
        concordance_index([1.0, 2.0], [0.1])
    with pytest.raises(InputError, match="finite"):
        concordance_index([1.0, 2.0], [0.1, float("nan")])
    with pytest.raises(InputError, match="no comparable pair"):
        concordance_index([1.0, 2.0], [0.1, 0.2], [0, 0])
    with pytest.raises(InputError, match="0 or 1"):
        concordance_index([1.0, 2.0], [0.1, 0.2], [0, 2])


def test_sksurv_structured_arrays_round_trip():
    y = to_sksurv(torch.tensor([3.0, 1.5, 7.0]), np.array([1, 0, 1]))
    assert y.dtype == SKSURV_DTYPE
    assert y["event"].tolist() == [True, False, True]
    assert y["time"].tolist() == [3.0, 1.5, 7.0]
    time, event = from_sksurv(y)
    assert time.tolist() == [3.0, 1.5, 7.0] and event.tolist() == [True, False, True]
    other = np.array([(5.0, True)], dtype=[("futime", "<f4"), ("status", "?")])
    assert from_sksurv(other)[0].tolist() == [5.0]
    with pytest.raises(InputError, match="has 1 values"):
        to_sksurv([1.0, 2.0], [1])
    with pytest.raises(InputError, match="structured array"):
        from_sksurv(np.zeros(3))


def test_sksurv_accepts_our_arrays_if_installed():
    sksurv = pytest.importorskip("sksurv.metrics")
    y = to_sksurv([1.0, 2.0, 3.0, 4.0], [1, 1, 0, 1])
    c = sksurv.concordance_index_censored(y["event"], y["time"], np.array([4.0, 3.0, 2.0, 1.0]))
    assert c[0] == 1.0


def test_survival_frame_from_a_head():
    head = DiscreteTimeSurvivalHead(in_dim=2, edges=[0.0, 1.0, 3.0, 6.0])
    pred = head.predict(torch.randn(4, 3))
    frame = survival_frame(pred["survival"], pred["time_grid"], columns=["a", "b", "c", "d"])
    assert frame.shape == (3, 4)
    assert frame.index.name == "time" and frame.index.tolist() == [1.0, 3.0, 6.0]
    np.testing.assert_allclose(frame["c"].to_numpy(), pred["survival"][2].numpy(), rtol=1e-6)
    assert list(survival_frame(pred["survival"], pred["time_grid"]).columns) == [0, 1, 2, 3]
    with pytest.raises(InputError, match="time points"):
        survival_frame(pred["survival"], [1.0, 2.0])
    with pytest.raises(InputError, match="non-decreasing"):
        survival_frame(pred["survival"], [3.0, 2.0, 1.0])
    with pytest.raises(InputError, match="column labels"):
        survival_frame(pred["survival"], pred["time_grid"], columns=["a"])
