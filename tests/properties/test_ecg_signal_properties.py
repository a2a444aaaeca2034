"""Property tests of ECG preprocessing: lengths, rates, finiteness and filter stability.

Hypothesis draws sampling rates (including the odd ones hospital archives hold: 257 Hz, 360 Hz,
1 kHz), record lengths down to one sample, lead counts and amplitudes; each property must hold
for all of them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from biomm.errors import InputError
from biomm.preprocess.ecg import (
    bandpass,
    fit_length,
    notch,
    remove_baseline,
    resample,
    resample_ratio,
    windows,
)

RATES = st.sampled_from([100.0, 125.0, 128.0, 200.0, 250.0, 257.0, 360.0, 400.0, 500.0, 1000.0])
FAST = settings(max_examples=40, deadline=None)


def _signal(seed: int, leads: int, n: int, scale: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((leads, n)) * scale).astype(np.float32)


@FAST
@given(fs=RATES, target=RATES, n=st.integers(1, 3000), leads=st.integers(1, 12))
@example(fs=100.0, target=125.0, n=1, leads=1)  # a one-sample record gave NaN (fixed)
def test_resample_length_and_rate(fs, target, n, leads):
    up, down = resample_ratio(fs, target)
    assert math.isclose(fs * up / down, target, rel_tol=1e-3)  # all listed rates are exact
    y = resample(_signal(n, leads, n, 1.0), fs, target)
    assert y.shape == (leads, math.ceil(n * up / down))
    assert y.dtype == np.float32
    assert np.isfinite(y).all()


@FAST
@given(fs=RATES, target=RATES, n=st.integers(200, 3000), level=st.floats(-5, 5))
def test_resample_keeps_a_constant_signal(fs, target, n, level):
    y = resample(np.full((2, n), level, np.float32), fs, target)
    # the polyphase FIR has a DC gain ripple of about 0.1 % between output phases
    np.testing.assert_allclose(y, level, rtol=3e-3, atol=1e-4)


@FAST
@given(fs=RATES, target=RATES, n=st.integers(50, 2000), gap=st.integers(1, 40))
def test_resample_keeps_absent_leads_absent_and_fills_partial_gaps(fs, target, n, gap):
    x = _signal(1, 3, n, 1.0)
    x[1] = np.nan  # an absent lead
    x[2, : min(gap, n - 1)] = np.nan  # a partial gap
    y = resample(x, fs, target)
    assert np.isnan(y[1]).all()
    if fs == target:  # documented: equal rates return a copy, gaps untouched
        np.testing.assert_array_equal(np.isnan(y), np.isnan(x))
    else:
        assert np.isfinite(y[[0, 2]]).all()


@FAST
@given(
    fs=st.sampled_from([250.0, 360.0, 500.0, 1000.0]),
    n=st.integers(2, 4000),
    scale=st.floats(1e-3, 1e3),
    seed=st.integers(0, 10_000),
)
def test_bandpass_is_stable(fs, n, scale, seed):
    x = _signal(seed, 2, n, scale)
    y = bandpass(x, fs, 0.5, 40.0)
    assert y.shape == x.shape and np.isfinite(y).all()
    # a stable zero-phase band-pass never amplifies a signal far beyond its input
    assert np.abs(y).max() <= 4 * np.abs(x).max() + 1e-6
    assert np.array_equal(bandpass(np.zeros_like(x), fs, 0.5, 40.0), np.zeros_like(x))


@FAST
@given(
    fs=st.sampled_from([250.0, 500.0, 1000.0]),
    n=st.integers(2, 4000),
    freq=st.sampled_from([50.0, 60.0]),
    harmonics=st.integers(1, 3),
)
def test_notch_is_stable(fs, n, freq, harmonics):
    assume(freq * harmonics < fs / 2)
    x = _signal(n, 2, n, 1.0)
    y = notch(x, fs, freq, harmonics=harmonics)
    assert y.shape == x.shape and np.isfinite(y).all()
    assert np.abs(y).max() <= 4 * np.abs(x).max() + 1e-6


@FAST
@given(
    fs=st.sampled_from([250.0, 500.0]),
    n=st.integers(2, 3000),
    method=st.sampled_from(["highpass", "median"]),
    drift=st.floats(-10, 10),
)
def test_baseline_removal_is_stable_and_removes_offsets(fs, n, method, drift):
    x = _signal(n, 1, n, 0.1) + drift
    y = remove_baseline(x, fs, method=method)
    assert y.shape == x.shape and np.isfinite(y).all()
    if n >= 4 * fs:  # long enough for the baseline estimate to settle
        assert abs(float(np.median(y))) < 0.2 + 0.05 * abs(drift)


@FAST
@given(
    n=st.integers(1, 2000),
    target=st.integers(1, 2000),
    mode=st.sampled_from(["start", "center", "random"]),
    seed=st.integers(0, 99),
)
def test_fit_length_is_exact_and_keeps_samples(n, target, mode, seed):
    x = np.arange(n, dtype=np.float32)[None, :] + 1  # all values > 0 so padding (0) is visible
    y = fit_length(x, target, mode=mode, rng=seed)
    assert y.shape == (1, target)
    kept = y[y != 0]
    assert len(kept) == min(n, target)
    assert np.all(np.diff(kept) == 1)  # a contiguous, in-order piece of the record


@FAST
@given(n=st.integers(0, 500), size=st.integers(1, 100), stride=st.integers(1, 100))
def test_windows_count_and_content(n, size, stride):
    x = np.arange(n, dtype=np.float32)[None, :]
    w = windows(x, size, stride)
    expected = 0 if n < size else 1 + (n - size) // stride
    assert w.shape == (expected, 1, size)
    for i in range(expected):
        assert w[i, 0, 0] == i * stride and w[i, 0, -1] == i * stride + size - 1


@given(bad=st.sampled_from([0.0, -1.0, float("nan"), float("inf")]))
def test_rates_that_make_no_sense_are_refused(bad):
    with pytest.raises(InputError):
        resample(np.zeros((1, 10)), bad, 100.0)
    with pytest.raises(InputError):
        bandpass(np.zeros((1, 10)), bad, 0.5, 40.0)
