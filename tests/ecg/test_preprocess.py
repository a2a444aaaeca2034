"""ECG building blocks on a real MIT-BIH excerpt and on signals with known answers."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import signal as sps

from biomm.demo.synthetic import synthetic_ecg
from biomm.errors import InputError
from biomm.preprocess.ecg import (
    NORMALISE_METHODS,
    bandpass,
    crop_plan,
    fit_length,
    flat_leads,
    interpolate_nans,
    normalise,
    notch,
    remove_baseline,
    resample,
    resample_ratio,
    windows,
)

REAL = Path(__file__).parents[1] / "data" / "ecg" / "mitdb208_mlii_30s.npz"


@pytest.fixture(scope="module")
def real() -> tuple[np.ndarray, float]:
    """30 s of MIT-BIH record 208, lead MLII, in mV at 360 Hz."""
    data = np.load(REAL)
    return data["adu"].astype(np.float64) / float(data["gain_adu_per_mv"]), float(data["fs"])


def r_peak_times(x: np.ndarray, fs: float) -> np.ndarray:
    peaks, _ = sps.find_peaks(x, prominence=1.0, distance=int(0.25 * fs))
    return peaks / fs


def r_peak_heights(x: np.ndarray, fs: float) -> np.ndarray:
    peaks, _ = sps.find_peaks(x, prominence=1.0, distance=int(0.25 * fs))
    return x[peaks]


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def test_real_excerpt_is_what_the_readme_says(real):
    x, fs = real
    assert fs == 360.0 and x.shape == (10800,)
    beats = r_peak_times(x, fs)
    assert 45 <= len(beats) <= 70  # ~ 60-140 bpm over 30 s
    assert 0.3 < np.median(np.diff(beats)) < 1.5


# ---- resample -------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [500.0, 250.0, 100.0, 1000.0])
def test_resample_keeps_r_peak_times(real, target):
    x, fs = real
    y = resample(x, fs, target)
    up, down = resample_ratio(fs, target)
    assert y.dtype == np.float32 and y.shape == (math.ceil(len(x) * up / down),)
    original, moved = r_peak_times(x, fs), r_peak_times(y, target)
    assert len(moved) >= 0.95 * len(original)
    gap = np.abs(moved[:, None] - original[None, :]).min(axis=1)
    assert gap.max() <= 1.0 / min(fs, target) + 1e-9


def test_resample_suppresses_content_above_the_new_nyquist(real):
    x, fs = real
    t = np.arange(len(x)) / fs
    hum = 0.5 * np.sin(2 * np.pi * 120 * t)  # 120 Hz would alias to 20 Hz at 100 Hz
    clean, noisy = resample(x, fs, 100.0), resample(x + hum, fs, 100.0)
    assert np.abs(noisy - clean)[50:-50].max() < 0.005
    # the test can fail: naive interpolation lets the tone through as a 20 Hz alias
    tn = np.arange(len(clean)) / 100.0
    naive = np.interp(tn, t, x + hum) - np.interp(tn, t, x)
    assert np.abs(naive).max() > 0.2


def test_resample_200hz_tone_to_100hz_is_near_zero():
    t = np.arange(10_000) / 1000
    y = resample(np.sin(2 * np.pi * 200 * t), 1000, 100)
    assert y.shape == (1000,)
    assert rms(y) < 0.01 and np.abs(y[20:-20]).max() < 0.01


def test_resample_round_trip_is_close(real):
    x, fs = real
    back = resample(resample(x, fs, 500.0), 500.0, fs)
    assert back.shape == x.shape
    assert np.abs(back - x).max() < 0.02  # mV; the recording is band-limited well below 180 Hz


def test_resample_identity_nan_and_errors():
    x = np.arange(12.0).reshape(2, 6)
    same = resample(x, 500, 500)
    assert same.dtype == np.float32 and np.array_equal(same, x)
    gappy = np.vstack([np.sin(np.linspace(0, 20, 600)), np.full(600, np.nan)])
    gappy[0, 100:120] = np.nan
    y = resample(gappy, 300, 100)
    assert np.isfinite(y[0]).all() and np.isnan(y[1]).all()
    assert resample(np.zeros((3, 0)), 500, 100).shape == (3, 0)
    with pytest.raises(InputError, match="positive"):
        resample(x, 0, 100)
    with pytest.raises(InputError, match="positive"):
        resample(x, 500, float("nan"))
    up, down = resample_ratio(257.3, 500)
    assert down <= 1000 and up / down == pytest.approx(500 / 257.3, rel=1e-5)


# ---- filters --------------------------------------------------------------------------------


def _lag(y: np.ndarray, x: np.ndarray, max_lag: int = 20) -> int:
    """Delay of ``y`` relative to ``x`` (samples) at the cross-correlation maximum."""
    core = slice(max_lag, len(x) - max_lag)
    scores = [
        float(np.dot(y[max_lag + k : len(x) - max_lag + k], x[core]))
        for k in range(-max_lag, max_lag + 1)
    ]
    return int(np.argmax(scores)) - max_lag


def test_bandpass_is_zero_phase_on_real_beats(real):
    x, fs = real
    y = bandpass(x, fs, 0.5, 40.0)
    assert _lag(y, x) == 0
    peaks, _ = sps.find_peaks(x, prominence=1.0, distance=int(0.25 * fs))
    inner = peaks[(peaks > fs) & (peaks < len(x) - fs)]
    shifts = np.array([int(np.argmax(y[p - 10 : p + 11])) - 10 for p in inner])
    assert np.median(np.abs(shifts)) == 0 and np.mean(np.abs(shifts) <= 1) >= 0.9
    # a causal filter of the same design does delay the beats, so the checks have teeth
    sos = sps.butter(4, [0.5, 40.0], btype="bandpass", fs=fs, output="sos")
    causal = sps.sosfilt(sos, x)
    assert _lag(causal, x) >= 2
    assert np.median([int(np.argmax(causal[p - 10 : p + 11])) - 10 for p in inner]) >= 2


def test_bandpass_sides_and_errors(real):
    x, fs = real
    hp = bandpass(x + 2.0, fs, low_hz=0.5)
    assert abs(float(hp[360:-360].mean())) < 0.05  # the 2 mV offset is gone
    t = np.arange(3600) / fs
    tone = np.sin(2 * np.pi * 100 * t)
    assert np.abs(bandpass(tone, fs, high_hz=40.0)[100:-100]).max() < 0.01
    assert np.array_equal(bandpass(x, fs), x.astype(np.float32))
    with pytest.raises(InputError, match="Nyquist"):
        bandpass(x, 100.0, 0.5, 50.0)
    with pytest.raises(InputError, match="below"):
        bandpass(x, fs, 40.0, 0.5)
    with pytest.raises(InputError, match="positive"):
        bandpass(x, fs, -1.0, 40.0)
    with pytest.raises(InputError, match="order"):
        bandpass(x, fs, 0.5, 40.0, order=0)


def test_bandpass_short_record_falls_back_to_short_padding():
    for n in (1, 2, 7, 40):
        y = bandpass(np.sin(np.arange(n, dtype=float)), 500.0, 0.5, 40.0)
        assert y.shape == (n,) and np.isfinite(y).all()


def test_bandpass_keeps_absent_leads_and_repairs_gaps(real):
    x, fs = real
    stack = np.vstack([x, np.full_like(x, np.nan), x])
    stack[2, 1000:1050] = np.nan
    y = bandpass(stack, fs, 0.5, 40.0)
    assert np.isnan(y[1]).all() and np.isfinite(y[[0, 2]]).all()
    assert np.abs(y[0, :900] - y[2, :900]).max() < 0.05


def test_notch_removes_hum_and_keeps_qrs(real):
    x, fs = real
    t = np.arange(len(x)) / fs
    hum = 0.3 * np.sin(2 * np.pi * 50 * t + 0.4)
    clean, noisy = notch(x, fs), notch(x + hum, fs)
    inner = slice(int(fs), -int(fs))
    assert rms((noisy - clean)[inner]) < 0.1 * rms(hum)
    assert rms((x + hum - x)[inner]) == pytest.approx(rms(hum[inner]))
    heights_before = r_peak_heights(x[inner], fs)
    heights_after = r_peak_heights(noisy[inner], fs)
    assert len(heights_after) == len(heights_before)
    assert np.median(heights_after / heights_before) > 0.9


def test_notch_harmonics_and_errors(real):
    x, fs = real
    t = np.arange(len(x)) / fs
    second = 0.2 * np.sin(2 * np.pi * 100 * t)
    inner = slice(int(fs), -int(fs))
    one = notch(x + second, fs, 50.0, harmonics=1) - notch(x, fs, 50.0, harmonics=1)
    two = notch(x + second, fs, 50.0, harmonics=2) - notch(x, fs, 50.0, harmonics=2)
    assert rms(one[inner]) > 0.9 * rms(second) and rms(two[inner]) < 0.1 * rms(second)
    assert np.isfinite(notch(x, fs, 60.0, harmonics=5)).all()  # 300 Hz > Nyquist: skipped
    with pytest.raises(InputError, match="Nyquist"):
        notch(x, 100.0, 50.0)
    with pytest.raises(InputError, match="quality"):
        notch(x, fs, 50.0, quality=0)


@pytest.mark.parametrize("method", ["highpass", "median"])
def test_baseline_wander_removed(real, method):
    x, fs = real
    t = np.arange(len(x)) / fs
    wander = 0.5 * np.sin(2 * np.pi * 0.2 * t + 1.0)
    clean, drifted = remove_baseline(x, fs, method), remove_baseline(x + wander, fs, method)
    inner = slice(int(2 * fs), -int(2 * fs))
    assert rms((drifted - clean)[inner]) < 0.15 * rms(wander)
    # what is left of the drift in the output is small; in the input it was not
    slow = bandpass(drifted, fs, high_hz=0.3)
    assert rms(slow[inner]) < 0.25 * rms(wander)
    assert np.median(r_peak_heights(drifted[inner], fs)) > 0.7 * np.median(
        r_peak_heights(x[inner] - np.median(x), fs)
    )


def test_baseline_errors_and_sampling_rates():
    with pytest.raises(InputError, match="unknown baseline"):
        remove_baseline(np.zeros(100), 100.0, "wavelet")  # type: ignore[arg-type]
    for fs in (100, 500, 1000):
        sig = synthetic_ecg(np.random.default_rng(0), fs, 4.0, 70.0, 0.0).T
        out = remove_baseline(sig, fs, "median")
        assert out.shape == sig.shape and np.isfinite(out).all()
        assert abs(float(np.median(out))) < 0.05


# ---- NaN, flat leads ------------------------------------------------------------------------


def test_interpolate_nans_counts_and_values(real):
    x, _ = real
    stack = np.vstack([x, x, np.full_like(x, np.nan)])
    stack[0, 500:540] = np.nan
    stack[1, :10] = np.nan
    stack[1, -3:] = np.inf
    y, counts = interpolate_nans(stack)
    assert counts.tolist() == [40, 13, 0]
    assert np.isnan(y[2]).all() and np.isfinite(y[:2]).all()
    line = np.linspace(x[499], x[540], 42)[1:-1]
    assert np.allclose(y[0, 500:540], line, atol=1e-5)
    assert np.allclose(y[1, :10], x[10]) and np.allclose(y[1, -3:], x[-4])
    assert np.array_equal(y[0, :500], x[:500].astype(np.float32))


def test_interpolate_nans_max_gap():
    x = np.arange(20.0)
    x[2:4] = np.nan  # 2 samples
    x[8:15] = np.nan  # 7 samples
    y, n = interpolate_nans(x, max_gap_s=0.05, fs=100.0)  # ≤ 5 samples
    assert int(n) == 2 and np.isfinite(y[2:4]).all() and np.isnan(y[8:15]).all()
    with pytest.raises(InputError, match="fs"):
        interpolate_nans(x, max_gap_s=1.0)


def test_flat_leads(real):
    x, fs = real
    n = len(x)
    rng = np.random.default_rng(1)
    half_off = x.copy()
    half_off[: int(0.6 * n)] = 0.2  # electrode off for 60 % of the record
    mostly_on = x.copy()
    mostly_on[: int(0.3 * n)] = 0.2
    stack = np.vstack(
        [
            x,
            np.full(n, 0.7),
            rng.normal(0, 0.001, n),
            half_off,
            mostly_on,
            np.full(n, np.nan),
        ]
    )
    assert flat_leads(stack, fs).tolist() == [False, True, True, True, False, False]
    assert bool(flat_leads(np.zeros(50), 360.0))  # shorter than a second: one window
    assert not bool(flat_leads(x[:50], 360.0))


# ---- length ---------------------------------------------------------------------------------


def test_fit_length_modes():
    x = np.arange(10.0).reshape(1, 10)
    assert fit_length(x, 4).tolist() == [[0, 1, 2, 3]]
    assert fit_length(x, 4, mode="center").tolist() == [[3, 4, 5, 6]]
    starts = {int(fit_length(x, 4, mode="random", rng=s)[0, 0]) for s in range(40)}
    assert starts <= set(range(7)) and len(starts) > 3
    assert np.array_equal(
        fit_length(x, 4, mode="random", rng=5), fit_length(x, 4, mode="random", rng=5)
    )
    padded = fit_length(x, 13, mode="center", pad_value=-1.0)
    assert padded.tolist() == [[-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1, -1]]
    assert np.isnan(fit_length(x, 12, pad_value=np.nan)[0, 10:]).all()
    assert fit_length(x, 10).dtype == np.float32
    assert crop_plan(100, 40, "center") == (30, 0, 0)
    with pytest.raises(InputError, match="crop mode"):
        fit_length(x, 4, mode="middle")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="positive"):
        fit_length(x, 0)


def test_windows_shape_and_content(real):
    x, _ = real
    stack = np.vstack([x, -x])
    w = windows(stack, 2500, 1250)
    assert w.shape == (1 + (len(x) - 2500) // 1250, 2, 2500) and w.dtype == np.float32
    assert np.array_equal(w[3, 1], (-x[3750:6250]).astype(np.float32))
    assert windows(stack[:, :100], 2500, 10).shape == (0, 2, 2500)
    with pytest.raises(InputError, match="stride"):
        windows(stack, 10, 0)


# ---- normalisation --------------------------------------------------------------------------


@pytest.fixture
def leads(real) -> np.ndarray:
    x, _ = real
    n = 3600
    stack = np.vstack([x[:n], 0.5 * x[n : 2 * n] + 0.3, np.full(n, 0.25), np.full(n, np.nan)])
    return stack


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kwargs)


def test_minmax_record(leads):
    y = _quiet(normalise, leads, "minmax_record")
    body = y[:3]
    assert body.min() == pytest.approx(0.0) and body.max() == pytest.approx(1.0)
    assert np.isnan(y[3]).all()
    # one scale for the whole record: ratios between leads survive
    span = np.nanmax(leads[:3]) - np.nanmin(leads[:3])
    assert np.ptp(y[1]) == pytest.approx(np.ptp(leads[1]) / span, rel=1e-5)
    # a lead marked absent does not count towards the min and max
    loud = leads.copy()
    loud[2] = 50.0
    masked = normalise(loud, "minmax_record", present=[True, True, False, False])
    assert np.isnan(masked[2]).all() and np.nanmax(masked) == pytest.approx(1.0)
    assert np.allclose(masked[:2], y[:2], atol=1e-6)


def test_per_lead_methods(leads):
    z = _quiet(normalise, leads, "zscore_lead")
    assert np.allclose(z[:2].mean(axis=1), 0, atol=1e-5) and np.allclose(
        z[:2].std(axis=1), 1, atol=1e-4
    )
    m = _quiet(normalise, leads, "minmax_lead")
    assert np.allclose(m[:2].min(axis=1), 0) and np.allclose(m[:2].max(axis=1), 1)
    a = _quiet(normalise, leads, "maxabs_lead")
    assert np.allclose(np.abs(a[:2]).max(axis=1), 1) and np.array_equal(
        np.sign(a[0]), np.sign(leads[0])
    )
    pm = _quiet(normalise, leads, "minmax_lead_pm1")
    assert np.allclose(pm[:2].min(axis=1), -1) and np.allclose(pm[:2].max(axis=1), 1)
    zr = _quiet(normalise, leads, "zscore_record")
    assert zr[:3].mean() == pytest.approx(0, abs=1e-5) and zr[:3].std() == pytest.approx(
        1, abs=1e-4
    )
    for method, out in (("zscore_lead", z), ("minmax_lead", m), ("minmax_lead_pm1", pm)):
        assert np.array_equal(out[2], np.zeros(leads.shape[1], np.float32)), method
        assert np.isnan(out[3]).all(), method
    assert np.allclose(a[2], 1.0)  # a constant non-zero lead is its own max-abs
    assert np.array_equal(_quiet(normalise, leads, "none")[:3], leads[:3].astype(np.float32))


def test_normalise_constant_record_and_errors():
    flat = np.zeros((3, 100))
    for method in NORMALISE_METHODS:
        out = _quiet(normalise, flat, method)
        assert np.array_equal(out, np.zeros((3, 100), np.float32)), method
        assert np.isnan(_quiet(normalise, np.full((2, 5), np.nan), method)).all(), method
    with pytest.raises(InputError, match="unknown normalisation"):
        normalise(flat, "robust")
    with pytest.raises(InputError, match="present"):
        normalise(flat, "zscore_lead", present=[True, False])


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 40)),
        elements=st.floats(-50, 50, allow_nan=False),
    ),
    st.sampled_from(NORMALISE_METHODS),
)
def test_normalise_ranges_property(x, method):
    y = _quiet(normalise, x, method)
    assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all()
    bounds = {
        "minmax_record": (0, 1),
        "minmax_lead": (0, 1),
        "maxabs_lead": (-1, 1),
        "minmax_lead_pm1": (-1, 1),
    }
    if method in bounds:
        lo, hi = bounds[method]
        assert y.min() >= lo - 1e-5 and y.max() <= hi + 1e-5
