"""Hand-crafted features measured back from a 12-lead ECG (rate, intervals, ST, voltage, axis).

:func:`ecg_features` works on any ``[12, T]`` signal in mV in canonical lead order; it checks
the synthetic generator (:mod:`biomm.ecg.synthetic`) and serves as a feature baseline.

Examples:
    >>> from biomm.ecg.synthetic import generate_ecg
    >>> sig, p = generate_ecg("left_axis_deviation", rng=np.random.default_rng(1))
    >>> f = ecg_features(sig, 500.0)
    >>> list(f) == list(FEATURE_NAMES), f["axis_deg"] < -30
    (True, True)
"""

from __future__ import annotations

import math

import numpy as np
from scipy import signal as sps

from biomm.errors import InputError

__all__ = ["FEATURE_NAMES", "ecg_features"]

# sin(60°): the inferior component of lead II's axis (aVF = sqrt(3)/2 times the y component).
_SQRT3_2 = math.sqrt(3.0) / 2.0

#: Lead groups used for ST territories and voltages (indices into the canonical 12 leads).
_TERRITORY_LEADS = {
    "anterior": (6, 7, 8, 9),  # V1–V4
    "inferior": (1, 2, 5),  # II, III, aVF
    "lateral": (0, 4, 10, 11),  # I, aVL, V5, V6
}

#: Names of the features :func:`ecg_features` returns, in order.
FEATURE_NAMES: tuple[str, ...] = (
    "heart_rate_bpm",
    "rr_cv",
    "qrs_ms",
    "pr_ms",
    "p_mv",
    "st_anterior_mv",
    "st_inferior_mv",
    "st_lateral_mv",
    "sokolow_mv",
    "limb_qrs_mv",
    "chest_qrs_mv",
    "axis_deg",
)


def ecg_features(signal: np.ndarray, fs: float) -> dict[str, float]:
    """Measure hand-crafted features of a 12-lead ECG (canonical order, mV).

    Band-pass filters (0.5–40 Hz), detects QRS complexes on the 8–25 Hz energy of I, II and
    V1–V6, builds a median beat, and measures on it: QRS onset/offset (first and last sample
    within ±140 ms of the detection where the smoothed spatial velocity exceeds 15 % of its
    peak and four times its median, capped at half the peak), PR
    baseline, ST level 60 ms after the J point per territory (anterior
    V1–V4, inferior II/III/aVF, lateral I/aVL/V5/V6), Sokolow–Lyon voltage, largest limb and
    chest QRS peak-to-peak, frontal axis from net QRS area in I and aVF, and the P wave (largest
    deflection of II before the QRS; PR from its peak + 50 ms). Rate and RR variability come
    from the detected beats.

    Args:
        signal: ``[12, T]`` array in mV.
        fs: Sampling rate in Hz.

    Returns:
        A dict with the keys of :data:`FEATURE_NAMES` (NaN when fewer than 3 beats are found).

    Raises:
        InputError: When the array is not ``[12, T]`` or shorter than 2 s.

    Examples:
        >>> from biomm.ecg.synthetic import generate_ecg
        >>> sig, p = generate_ecg("sinus_bradycardia", rng=np.random.default_rng(2))
        >>> f = ecg_features(sig, 500.0)
        >>> abs(f["heart_rate_bpm"] - p["realised_hr_bpm"]) < 3
        True
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != 12:
        raise InputError(f"expected a [12, samples] ECG array, got shape {x.shape}")
    if x.shape[1] < 2 * fs:
        raise InputError(f"ECG too short for feature measurement: {x.shape[1] / fs:.2f} s < 2 s")
    nan = dict.fromkeys(FEATURE_NAMES, float("nan"))
    x = np.nan_to_num(x)
    sos = sps.butter(2, [0.5, min(40.0, 0.45 * fs)], btype="band", fs=fs, output="sos")
    filt = sps.sosfiltfilt(sos, x, axis=1)
    # QRS detection on 8–25 Hz energy of the independent leads (T waves and hum fall outside)
    sos_qrs = sps.butter(2, [8.0, min(25.0, 0.45 * fs)], btype="band", fs=fs, output="sos")
    energy = (sps.sosfiltfilt(sos_qrs, x[[0, 1, 6, 7, 8, 9, 10, 11]], axis=1) ** 2).sum(axis=0)
    width = max(1, int(0.06 * fs))
    energy = np.convolve(energy, np.ones(width) / width, "same")
    peaks, _ = sps.find_peaks(
        energy, distance=int(0.26 * fs), height=0.25 * np.percentile(energy, 99.5)
    )
    if len(peaks) < 3:
        return nan
    rr = np.diff(peaks) / fs
    out = dict(nan)
    out["heart_rate_bpm"] = float(60.0 / rr.mean())
    out["rr_cv"] = float(rr.std() / rr.mean())

    pre, post = int(0.45 * fs), int(0.6 * fs)
    usable = peaks[(peaks >= pre) & (peaks + post < filt.shape[1])]
    if len(usable) == 0:
        return out
    beat = np.median(np.stack([filt[:, k - pre : k + post] for k in usable]), axis=0)
    bvel = np.sqrt((np.diff(beat[[0, 1, 6, 7, 8, 9, 10, 11]], axis=1) ** 2).sum(axis=0))
    box = max(1, int(0.008 * fs))
    bvel = np.convolve(bvel, np.ones(box) / box, "same")
    lo, hi = pre - int(0.14 * fs), pre + int(0.14 * fs)
    peak = float(bvel[lo:hi].max())
    level = min(max(0.15 * peak, 4.0 * float(np.median(bvel))), 0.5 * peak)
    above = np.flatnonzero(bvel[lo:hi] > level)
    onset, offset = lo + int(above[0]), lo + int(above[-1]) + 1
    out["qrs_ms"] = float((offset - onset) / fs * 1000.0)

    base_lo = max(0, onset - int(0.03 * fs))
    baseline = beat[:, base_lo : max(base_lo + 1, onset - int(0.01 * fs))].mean(axis=1)
    rel = beat - baseline[:, None]
    st_at = min(offset + int(0.06 * fs), rel.shape[1] - 1)
    st = rel[:, st_at]
    for name, leads in _TERRITORY_LEADS.items():
        out[f"st_{name}_mv"] = float(st[list(leads)].mean())
    qrs = rel[:, onset : offset + 1]
    out["sokolow_mv"] = float(-qrs[6].min() + max(qrs[10].max(), qrs[11].max()))
    out["limb_qrs_mv"] = float(np.ptp(qrs[:6], axis=1).max())
    out["chest_qrs_mv"] = float(np.ptp(qrs[6:], axis=1).max())
    out["axis_deg"] = float(math.degrees(math.atan2(qrs[5].sum() / _SQRT3_2, qrs[0].sum())))

    p_lo = max(0, onset - int(min(0.33, 0.5 * float(np.median(rr))) * fs))
    p_hi = onset - int(0.05 * fs)
    if p_hi > p_lo:
        seg = rel[1, p_lo:p_hi]
        k = int(np.argmax(np.abs(seg)))
        out["p_mv"] = float(seg[k])
        out["pr_ms"] = float((onset - (p_lo + k)) / fs * 1000.0 + 50.0)
    return out
