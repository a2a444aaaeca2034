"""ECG signal building blocks: resampling, zero-phase filters, NaN repair, length, scaling.

Every function is pure: it takes a ``[leads, samples]`` array (a single lead as ``[samples]``
works too and comes back 1-D), never modifies its input and returns float32. Work is
vectorised over leads; nothing loops over samples in Python.

NaN policy of the filters (:func:`resample`, :func:`bandpass`, :func:`notch`,
:func:`remove_baseline`): a NaN would spread through a whole lead, so NaN (and ±inf) samples
inside a lead are first repaired by linear interpolation (:func:`interpolate_nans`) and the
output has no NaN there; a lead that is entirely NaN is absent and stays NaN. Call
:func:`interpolate_nans` yourself first when you need to know how much was repaired.

Examples:
    >>> import numpy as np
    >>> fs = 500.0
    >>> t = np.arange(5000) / fs
    >>> x = np.stack([np.sin(2 * np.pi * 1.0 * t), 0.3 * np.sin(2 * np.pi * 100 * t)])
    >>> y = resample(bandpass(x, fs, 0.5, 40.0), fs, 100.0)
    >>> y.shape, y.dtype
    ((2, 1000), dtype('float32'))
    >>> bool(np.abs(y[1, 100:-100]).max() < 0.01), bool(np.abs(y[0]).max() > 0.95)
    (True, True)
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from biomm.errors import InputError

NormaliseMethod = Literal[
    "none",
    "minmax_record",
    "zscore_record",
    "zscore_lead",
    "minmax_lead",
    "maxabs_lead",
    "minmax_lead_pm1",
]
#: The methods :func:`normalise` accepts.
NORMALISE_METHODS: tuple[str, ...] = (
    "none",
    "minmax_record",
    "zscore_record",
    "zscore_lead",
    "minmax_lead",
    "maxabs_lead",
    "minmax_lead_pm1",
)
CropMode = Literal["start", "center", "random"]
CROP_MODES: tuple[str, ...] = ("start", "center", "random")

__all__ = [
    "CROP_MODES",
    "NORMALISE_METHODS",
    "bandpass",
    "crop_plan",
    "fit_length",
    "flat_leads",
    "interpolate_nans",
    "normalise",
    "notch",
    "remove_baseline",
    "resample",
    "resample_ratio",
    "windows",
]


# ---- helpers --------------------------------------------------------------------------------


def _as_2d(signal: np.ndarray) -> tuple[np.ndarray, bool]:
    """A float64 ``[leads, samples]`` copy, and whether the input was 1-D."""
    x = np.array(signal, dtype=np.float64, copy=True)
    if x.ndim == 1:
        return x[None, :], True
    if x.ndim != 2:
        raise InputError(f"expected a [leads, samples] array, got shape {x.shape}")
    return x, False


def _out(x: np.ndarray, was_1d: bool) -> np.ndarray:
    y = x.astype(np.float32, copy=False)
    return y[0] if was_1d else y


def _check_rate(value: float, what: str) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number in Hz, got {value!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise InputError(f"{what} must be a positive number of Hz, got {value!r}")
    return rate


def _check_cutoff(value: float, what: str, nyquist: float, fs: float) -> float:
    cut = float(value)
    if not math.isfinite(cut) or cut <= 0:
        raise InputError(f"{what} must be a positive frequency in Hz, got {value!r}")
    if cut >= nyquist:
        raise InputError(
            f"{what} {cut:g} Hz is at or above the Nyquist frequency ({nyquist:g} Hz) of a "
            f"{fs:g} Hz record"
        )
    return cut


def _fill_gaps(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate non-finite samples in place-copied ``x``; all-NaN leads become 0.

    Returns the filled array and the mask of all-NaN (absent) leads.
    """
    filled, _ = _interpolate(x, None)
    absent = ~np.isfinite(filled).any(axis=1)
    filled[absent] = 0.0
    return filled, absent


def _interpolate(x: np.ndarray, max_gap: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of non-finite runs (edges: nearest value), runs ≤ ``max_gap``."""
    out = x.copy()
    bad = ~np.isfinite(out)
    out[bad] = np.nan
    counts = np.zeros(out.shape[0], dtype=np.int64)
    rows = np.flatnonzero(bad.any(axis=1) & ~bad.all(axis=1))
    n = out.shape[1]
    index = np.arange(n)
    for row in rows:  # a loop over leads (≤ 12), never over samples
        miss = bad[row]
        if max_gap is not None:
            miss = miss & _short_runs(miss, max_gap)
        good = ~bad[row]
        out[row, miss] = np.interp(index[miss], index[good], out[row, good])
        counts[row] = int(miss.sum())
    return out, counts


def _short_runs(mask: np.ndarray, max_len: int) -> np.ndarray:
    """True on the runs of ``mask`` that are at most ``max_len`` samples long."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    lengths = ends - starts
    keep = np.zeros(mask.size + 1, dtype=np.int64)
    ok = lengths <= max_len
    np.add.at(keep, starts[ok], 1)
    np.add.at(keep, ends[ok], -1)
    return np.cumsum(keep[:-1]) > 0


def _filtfilt_sos(sos: np.ndarray, x: np.ndarray, *, highpass: bool) -> np.ndarray:
    """``sosfiltfilt`` along the last axis; never fails on short records.

    scipy's default edge padding is an odd extension (point reflection about the last
    sample) of ``3 × filter order`` samples. That suits a low-pass or a notch, but for a
    filter with a high-pass part it goes badly wrong on ECGs: a record that ends on an R
    peak is extended by a mirrored beat shifted by twice the peak amplitude, a step the
    high-pass turns into a slow transient of up to ~2 mV (measured on MIT-BIH record 208
    excerpts cut at R peaks; 0.5–40 Hz band-pass). With ``highpass`` we therefore pad by
    even (mirror) extension, five time constants of the slowest pole long, which kept the
    edge error on the same excerpts below 0.4 mV. The padding is capped at the record
    length minus one, so short records are filtered instead of raising.
    """
    n = x.shape[-1]
    if n < 2:
        return x.copy()
    zeros = min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    padlen = 3 * (2 * len(sos) + 1 - zeros)
    padtype = "odd"
    if highpass:
        padtype = "even"
        radius = max(float(np.abs(np.roots(section[3:])).max()) for section in sos)
        if 0.0 < radius < 1.0:
            padlen = max(padlen, math.ceil(5.0 / -math.log(radius)))
    return sps.sosfiltfilt(sos, x, axis=-1, padtype=padtype, padlen=min(padlen, n - 1))


def _odd(n: float) -> int:
    k = max(1, round(n))
    return k if k % 2 else k + 1


# ---- resampling -----------------------------------------------------------------------------


def resample_ratio(fs: float, target_fs: float) -> tuple[int, int]:
    """The ``(up, down)`` factors :func:`resample` uses: ``target_fs / fs`` as a fraction.

    The ratio is approximated with a denominator of at most 1000
    (``Fraction(target_fs / fs).limit_denominator(1000)``); for rates that are not such a
    fraction (e.g. 257.3 Hz → 500 Hz) the effective output rate is ``fs * up / down``.

    Examples:
        >>> resample_ratio(360, 500), resample_ratio(500, 100), resample_ratio(257, 500)
        ((25, 18), (1, 5), (500, 257))
    """
    fs = _check_rate(fs, "fs")
    target_fs = _check_rate(target_fs, "target_fs")
    ratio = Fraction(target_fs / fs).limit_denominator(1000)
    if ratio.numerator == 0:
        raise InputError(f"cannot resample {fs:g} Hz to {target_fs:g} Hz: ratio below 1/1000")
    return ratio.numerator, ratio.denominator


def resample(signal: np.ndarray, fs: float, target_fs: float) -> np.ndarray:
    """Polyphase resampling with an anti-aliasing low-pass filter.

    Uses :func:`scipy.signal.resample_poly` (Kaiser-windowed FIR, zero phase) with the
    ``(up, down)`` of :func:`resample_ratio` and ``padtype="line"`` so that a DC offset or a
    drift does not ring at the record edges. Output length is ``ceil(samples * up / down)``.
    When the rates are equal (to that precision) the result is a float32 copy, NaN untouched;
    otherwise partial NaN gaps are interpolated first and all-NaN leads stay NaN.

    Args:
        signal: ``[leads, samples]`` (or ``[samples]``).
        fs: Input rate in Hz.
        target_fs: Output rate in Hz.

    Returns:
        float32 ``[leads, ceil(samples * up / down)]``.

    Raises:
        InputError: On a non-positive rate or a ratio below 1/1000.

    Examples:
        >>> import numpy as np
        >>> t = np.arange(1000) / 1000
        >>> tone = np.sin(2 * np.pi * 200 * t)  # 200 Hz: above the 50 Hz Nyquist of 100 Hz
        >>> y = resample(tone, 1000, 100)
        >>> y.shape, bool(np.abs(y[10:-10]).max() < 0.01)
        ((100,), True)
    """
    up, down = resample_ratio(fs, target_fs)
    x, was_1d = _as_2d(signal)
    if up == down or x.shape[1] == 0:
        return _out(x, was_1d)
    filled, absent = _fill_gaps(x)
    # float32 halves the FIR cost; ECG amplitudes need nowhere near float64 precision
    # a line needs two samples: a one-sample record is extended with its own value instead
    padtype = "line" if x.shape[1] > 1 else "edge"
    y = sps.resample_poly(filled.astype(np.float32), up, down, axis=-1, padtype=padtype)
    y[absent] = np.nan
    return _out(y, was_1d)


# ---- filters --------------------------------------------------------------------------------


def bandpass(
    signal: np.ndarray,
    fs: float,
    low_hz: float | None = None,
    high_hz: float | None = None,
    order: int = 4,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass (or high-/low-pass when one side is None).

    The filter is designed as second-order sections and run forwards and backwards
    (:func:`scipy.signal.sosfiltfilt`), so peaks do not move and the effective order doubles.
    For records shorter than filtfilt's default edge padding, the padding is shortened to the
    record length minus one instead of failing. Both sides None returns a float32 copy.

    Args:
        signal: ``[leads, samples]`` (or ``[samples]``) at ``fs``.
        fs: Sampling rate in Hz.
        low_hz: High-pass corner in Hz, or None for low-pass only.
        high_hz: Low-pass corner in Hz, or None for high-pass only. Must be below Nyquist.
        order: Butterworth order of each side (per pass).

    Raises:
        InputError: On a cut-off ≤ 0 or at/above Nyquist (``fs / 2``), ``low ≥ high``, or an
            order below 1.

    Examples:
        >>> import numpy as np
        >>> x = np.zeros(1000); x[500] = 1.0
        >>> int(np.argmax(bandpass(x, 500.0, 0.5, 40.0)))  # zero phase: the peak stays put
        500
        >>> bandpass(x, 100.0, 0.5, 60.0)
        Traceback (most recent call last):
        ...
        biomm.errors.InputError: high_hz 60 Hz is at or above the Nyquist frequency (50 Hz) ...
    """
    fs = _check_rate(fs, "fs")
    nyquist = fs / 2
    if int(order) != order or order < 1:
        raise InputError(f"filter order must be a positive integer, got {order!r}")
    low = None if low_hz is None else _check_cutoff(low_hz, "low_hz", nyquist, fs)
    high = None if high_hz is None else _check_cutoff(high_hz, "high_hz", nyquist, fs)
    x, was_1d = _as_2d(signal)
    if low is None and high is None:
        return _out(x, was_1d)
    if low is not None and high is not None:
        if low >= high:
            raise InputError(f"band-pass low_hz ({low:g}) must be below high_hz ({high:g})")
        sos = sps.butter(int(order), [low, high], btype="bandpass", fs=fs, output="sos")
    elif low is not None:
        sos = sps.butter(int(order), low, btype="highpass", fs=fs, output="sos")
    else:
        sos = sps.butter(int(order), high, btype="lowpass", fs=fs, output="sos")
    filled, absent = _fill_gaps(x)
    y = _filtfilt_sos(sos, filled, highpass=low is not None)
    y[absent] = np.nan
    return _out(y, was_1d)


def notch(
    signal: np.ndarray,
    fs: float,
    freq: float = 50.0,
    quality: float = 30.0,
    harmonics: int = 1,
) -> np.ndarray:
    """Zero-phase notch at the mains frequency (and optionally its harmonics).

    A second-order IIR notch (:func:`scipy.signal.iirnotch`, −3 dB width ``freq / quality``)
    run forwards and backwards. ``harmonics=3`` also removes ``2·freq`` and ``3·freq``;
    harmonics at or above Nyquist are skipped (the record cannot contain them).

    Args:
        signal: ``[leads, samples]`` (or ``[samples]``) at ``fs``.
        fs: Sampling rate in Hz.
        freq: Mains frequency in Hz (50 in Europe/Asia, 60 in the Americas).
        quality: Quality factor Q; higher is narrower.
        harmonics: How many multiples of ``freq`` to remove, the fundamental included.

    Raises:
        InputError: When ``freq`` is ≤ 0 or at/above Nyquist, or ``quality``/``harmonics`` < 1.

    Examples:
        >>> import numpy as np
        >>> t = np.arange(2000) / 500
        >>> hum = np.sin(2 * np.pi * 50 * t)
        >>> y = notch(hum, 500.0)
        >>> bool(np.abs(y[250:-250]).max() < 0.05)  # the first/last 0.5 s hold the transient
        True
    """
    fs = _check_rate(fs, "fs")
    nyquist = fs / 2
    base = _check_cutoff(freq, "notch freq", nyquist, fs)
    if not quality > 0:
        raise InputError(f"notch quality must be positive, got {quality!r}")
    if int(harmonics) != harmonics or harmonics < 1:
        raise InputError(f"harmonics must be a positive integer, got {harmonics!r}")
    x, was_1d = _as_2d(signal)
    filled, absent = _fill_gaps(x)
    for k in range(1, int(harmonics) + 1):
        f = base * k
        if f >= nyquist:
            break
        b, a = sps.iirnotch(f, quality, fs=fs)
        filled = _filtfilt_sos(sps.tf2sos(b, a), filled, highpass=False)
    filled[absent] = np.nan
    return _out(filled, was_1d)


def remove_baseline(
    signal: np.ndarray,
    fs: float,
    method: Literal["highpass", "median"] = "highpass",
    cutoff_hz: float = 0.5,
) -> np.ndarray:
    """Remove baseline wander.

    ``"highpass"``: zero-phase Butterworth high-pass at ``cutoff_hz`` (:func:`bandpass`).
    ``"median"``: the baseline is estimated with two median filters in a row — 200 ms (wide
    enough to remove the QRS) then 600 ms (removes P and T waves) — and subtracted;
    ``cutoff_hz`` is not used. The baseline is slow, so the medians run on every
    ``fs // 100``-th sample and are linearly interpolated back, which keeps the cost the
    same at any sampling rate; window lengths are rounded to an odd number of samples.

    Args:
        signal: ``[leads, samples]`` (or ``[samples]``) at ``fs``.
        fs: Sampling rate in Hz.
        method: ``"highpass"`` or ``"median"``.
        cutoff_hz: High-pass corner for ``"highpass"``.

    Raises:
        InputError: On an unknown method or an invalid cut-off.

    Examples:
        >>> import numpy as np
        >>> t = np.arange(5000) / 500
        >>> drift = 0.5 * np.sin(2 * np.pi * 0.2 * t) + 0.3
        >>> [bool(np.abs(remove_baseline(drift, 500.0, m)[1000:-1000]).max() < 0.02)
        ...  for m in ("highpass", "median")]
        [True, True]
    """
    fs = _check_rate(fs, "fs")
    if method == "highpass":
        return bandpass(signal, fs, low_hz=cutoff_hz)
    if method != "median":
        raise InputError(f"unknown baseline method {method!r}; use 'highpass' or 'median'")
    x, was_1d = _as_2d(signal)
    filled, absent = _fill_gaps(x)
    n = filled.shape[1]
    if n:
        step = max(1, int(fs // 100))
        grid = np.arange(0, n, step)
        coarse = filled[:, grid]
        rate = fs / step
        first = ndimage.median_filter(coarse, size=(1, _odd(0.2 * rate)), mode="nearest")
        level = ndimage.median_filter(first, size=(1, _odd(0.6 * rate)), mode="nearest")
        if step > 1:
            index = np.arange(n)
            level = np.stack([np.interp(index, grid, row) for row in level])
        filled = filled - level
    filled[absent] = np.nan
    return _out(filled, was_1d)


# ---- repair and quality ---------------------------------------------------------------------


def interpolate_nans(
    signal: np.ndarray, max_gap_s: float | None = None, fs: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaN (and ±inf) samples by linear interpolation inside each lead.

    Gaps at the start or end take the nearest recorded value. A lead that is entirely NaN is
    absent, not repaired: it stays NaN and counts 0. With ``max_gap_s``, gaps longer than
    ``max_gap_s * fs`` samples are left NaN (and not counted).

    Args:
        signal: ``[leads, samples]`` (or ``[samples]``).
        max_gap_s: Longest gap to fill, in seconds; None fills every gap.
        fs: Sampling rate in Hz; required with ``max_gap_s``.

    Returns:
        The float32 repaired signal and the int64 number of filled samples per lead
        (a 0-d count for 1-D input).

    Raises:
        InputError: When ``max_gap_s`` is given without ``fs`` or is negative.

    Examples:
        >>> import numpy as np
        >>> x = np.array([[np.nan, 1.0, np.nan, 3.0, np.nan], [np.nan] * 5])
        >>> y, n = interpolate_nans(x)
        >>> y.tolist(), n.tolist()
        ([[1.0, 1.0, 2.0, 3.0, 3.0], [nan, nan, nan, nan, nan]], [3, 0])
    """
    max_gap = None
    if max_gap_s is not None:
        if fs is None:
            raise InputError("interpolate_nans: max_gap_s needs the sampling rate fs")
        if not max_gap_s >= 0:
            raise InputError(f"max_gap_s must be ≥ 0, got {max_gap_s!r}")
        max_gap = math.floor(float(max_gap_s) * _check_rate(fs, "fs") + 1e-9)
    x, was_1d = _as_2d(signal)
    y, counts = _interpolate(x, max_gap)
    return _out(y, was_1d), (counts[0] if was_1d else counts)


def flat_leads(
    signal: np.ndarray,
    fs: float,
    min_range_mv: float = 0.01,
    max_flat_fraction: float = 0.5,
) -> np.ndarray:
    """Leads that look disconnected: flat in most 1-second windows.

    The record is cut into non-overlapping 1-s windows (one window when it is shorter than a
    second; a trailing partial window is ignored). A window is flat when its peak-to-peak
    amplitude is below ``min_range_mv``; a lead is flat when more than ``max_flat_fraction`` of
    its windows are flat (a constant lead always is). NaN samples are ignored; an all-NaN lead
    is absent, not flat (False).

    Args:
        signal: ``[leads, samples]`` (or ``[samples]``) in mV.
        fs: Sampling rate in Hz.
        min_range_mv: Peak-to-peak below which a window counts as flat.
        max_flat_fraction: Fraction of flat windows above which the lead is flat.

    Returns:
        bool ``[leads]`` (a 0-d bool for 1-D input).

    Examples:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = np.stack([rng.normal(0, 0.2, 5000), np.full(5000, 0.3),
        ...               rng.normal(0, 0.001, 5000)])
        >>> flat_leads(x, 500.0).tolist()
        [False, True, True]
    """
    fs = _check_rate(fs, "fs")
    x, was_1d = _as_2d(signal)
    n_leads, n = x.shape
    if n == 0:
        flat = np.zeros(n_leads, dtype=bool)
        return flat[0] if was_1d else flat
    win = max(1, round(fs))
    n_win = n // win
    if n_win == 0:
        n_win, win = 1, n
    blocks = x[:, : n_win * win].reshape(n_leads, n_win, win)
    valid = np.isfinite(blocks)
    hi = np.where(valid, blocks, -np.inf).max(axis=2)
    lo = np.where(valid, blocks, np.inf).min(axis=2)
    has = valid.any(axis=2)
    ptp = np.where(has, hi - lo, np.inf)
    flat_windows = (ptp < min_range_mv) & has
    counted = has.sum(axis=1)
    fraction = flat_windows.sum(axis=1) / np.maximum(counted, 1)
    flat = (counted > 0) & (fraction > max_flat_fraction)
    return flat[0] if was_1d else flat


# ---- length ---------------------------------------------------------------------------------


def crop_plan(
    n: int,
    n_samples: int,
    mode: CropMode = "start",
    rng: np.random.Generator | int | None = None,
) -> tuple[int, int, int]:
    """Where :func:`fit_length` crops or pads: ``(start, pad_before, pad_after)``.

    ``start`` is the first kept input sample (0 when padding). Exposed so that callers can
    record the crop, or apply the same crop to a companion array.

    Examples:
        >>> crop_plan(10, 4, "center"), crop_plan(3, 6, "center"), crop_plan(3, 6, "start")
        ((3, 0, 0), (0, 1, 2), (0, 0, 3))
    """
    if mode not in CROP_MODES:
        raise InputError(f"unknown crop mode {mode!r}; use one of {', '.join(CROP_MODES)}")
    if int(n_samples) != n_samples or n_samples < 1:
        raise InputError(f"n_samples must be a positive integer, got {n_samples!r}")
    n, n_samples = int(n), int(n_samples)
    if n >= n_samples:
        extra = n - n_samples
        if mode == "start":
            return 0, 0, 0
        if mode == "center":
            return extra // 2, 0, 0
        return int(np.random.default_rng(rng).integers(0, extra + 1)), 0, 0
    missing = n_samples - n
    if mode == "center":
        return 0, missing // 2, missing - missing // 2
    return 0, 0, missing


def _apply_plan(
    x: np.ndarray, n_samples: int, plan: tuple[int, int, int], pad_value: float
) -> np.ndarray:
    start, before, after = plan
    if before or after:
        return np.pad(x, ((0, 0), (before, after)), constant_values=pad_value)
    return x[:, start : start + int(n_samples)]


def fit_length(
    signal: np.ndarray,
    n_samples: int,
    *,
    mode: CropMode = "start",
    rng: np.random.Generator | int | None = None,
    pad_value: float = 0.0,
) -> np.ndarray:
    """Crop or pad to exactly ``n_samples``.

    Longer records are cropped: ``"start"`` keeps the first ``n_samples``, ``"center"`` the
    middle, ``"random"`` a window at a random offset drawn from ``rng``. Shorter records are
    padded with ``pad_value``: at the end (``"start"``, ``"random"``) or equally on both sides
    (``"center"``).

    Args:
        signal: ``[leads, samples]`` (or ``[samples]``).
        n_samples: Output length.
        mode: ``"start"``, ``"center"`` or ``"random"``.
        rng: Generator or seed for ``"random"``; None draws fresh entropy.
        pad_value: Value of padded samples (``np.nan`` to mark them).

    Examples:
        >>> import numpy as np
        >>> x = np.arange(6.0)
        >>> fit_length(x, 4).tolist(), fit_length(x, 4, mode="center").tolist()
        ([0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0])
        >>> fit_length(x, 8, mode="center").tolist()
        [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 0.0]
        >>> fit_length(x, 3, mode="random", rng=0).shape
        (3,)
    """
    x, was_1d = _as_2d(signal)
    plan = crop_plan(x.shape[1], n_samples, mode, rng)
    return _out(_apply_plan(x, n_samples, plan, pad_value), was_1d)


def windows(signal: np.ndarray, n_samples: int, stride: int) -> np.ndarray:
    """Sliding windows ``[W, leads, n_samples]`` with ``W = 1 + (samples − n) // stride``.

    A record shorter than one window gives ``W = 0`` (pad it with :func:`fit_length` first if
    you need one window). A 1-D input gives ``[W, n_samples]``.

    Examples:
        >>> import numpy as np
        >>> w = windows(np.arange(20.0).reshape(2, 10), 4, 3)
        >>> w.shape, w[1, 0].tolist()
        ((3, 2, 4), [3.0, 4.0, 5.0, 6.0])
    """
    for value, what in ((n_samples, "n_samples"), (stride, "stride")):
        if int(value) != value or value < 1:
            raise InputError(f"{what} must be a positive integer, got {value!r}")
    x, was_1d = _as_2d(signal)
    n_samples, stride = int(n_samples), int(stride)
    if x.shape[1] < n_samples:
        out = np.zeros((0, x.shape[0], n_samples), dtype=np.float32)
    else:
        view = np.lib.stride_tricks.sliding_window_view(x, n_samples, axis=1)[:, ::stride]
        out = np.ascontiguousarray(view.transpose(1, 0, 2), dtype=np.float32)
    return out[:, 0] if was_1d else out


# ---- normalisation --------------------------------------------------------------------------


def normalise(
    signal: np.ndarray,
    method: str,
    present: np.ndarray | None = None,
    eps: float = 1e-8,
) -> np.ndarray:
    """Scale amplitudes by one of the published recipes.

    ``none``
        Unchanged (mV).
    ``minmax_record``
        ``(x − min) / (max − min)`` with one min and max over every present lead and sample:
        the record lands in [0, 1] and leads keep their relative amplitudes (MERL, Liu et al.
        2024).
    ``zscore_record``
        One mean and standard deviation over the whole record.
    ``zscore_lead``
        Per lead: mean 0, standard deviation 1 (fairseq-signals / ECG-FM).
    ``minmax_lead``
        Per lead to [0, 1].
    ``maxabs_lead``
        Per lead ``x / max|x|``, in [−1, 1] without shifting the baseline.
    ``minmax_lead_pm1``
        Per lead ``2 (x − min) / (max − min) − 1``, exactly [−1, 1]: the HuBERT-ECG
        ``scaling`` (Coppola et al. 2024), which is a min–max to [−1, 1], not a max-abs.

    Statistics use finite samples only; NaN stays NaN. Leads that are all NaN, or False in
    ``present``, are absent: excluded from record statistics and returned as NaN (the caller
    fills them and keeps the mask). A constant lead (range or standard deviation ≤ ``eps``)
    maps to 0 instead of dividing by zero (for ``maxabs_lead`` only an all-zero lead does).

    Args:
        signal: ``[leads, samples]`` (or ``[samples]``).
        method: One of :data:`NORMALISE_METHODS`.
        present: bool ``[leads]``; None means "every lead that has a finite sample".
        eps: Spread below which a lead (or record) counts as constant.

    Raises:
        InputError: On an unknown method or a ``present`` of the wrong length.

    Examples:
        >>> import numpy as np
        >>> x = np.array([[0.0, 1.0, 2.0], [4.0, 4.0, 4.0], [np.nan] * 3])
        >>> normalise(x, "minmax_lead").tolist()
        [[0.0, 0.5, 1.0], [0.0, 0.0, 0.0], [nan, nan, nan]]
        >>> normalise(x, "minmax_record").tolist()[:2]
        [[0.0, 0.25, 0.5], [1.0, 1.0, 1.0]]
        >>> normalise(x, "minmax_lead_pm1").tolist()[0]
        [-1.0, 0.0, 1.0]
    """
    if method not in NORMALISE_METHODS:
        raise InputError(
            f"unknown normalisation {method!r}; use one of {', '.join(NORMALISE_METHODS)}"
        )
    x, was_1d = _as_2d(signal)
    finite = np.isfinite(x)
    keep = finite.any(axis=1)
    if present is not None:
        mask = np.asarray(present, dtype=bool).reshape(-1)
        if mask.shape[0] != x.shape[0]:
            raise InputError(f"present has {mask.shape[0]} entries for {x.shape[0]} leads")
        keep &= mask
    x[~finite] = np.nan
    x[~keep] = np.nan
    valid = finite & keep[:, None]
    if method == "none":
        return _out(x, was_1d)
    if method.endswith("_record"):
        values = x[valid]
        if values.size == 0:
            return _out(x, was_1d)
        if method == "minmax_record":
            lo, span = values.min(), values.max() - values.min()
            out = (x - lo) / span if span > eps else np.where(valid, 0.0, np.nan)
        else:
            mean, std = values.mean(), values.std()
            out = (x - mean) / std if std > eps else np.where(valid, 0.0, np.nan)
        return _out(out, was_1d)
    count = np.maximum(valid.sum(axis=1, keepdims=True), 1)
    zeroed = np.where(valid, x, 0.0)
    if method == "zscore_lead":
        mean = zeroed.sum(axis=1, keepdims=True) / count
        std = np.sqrt((np.where(valid, x - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / count)
        out = np.where(std > eps, (x - mean) / np.where(std > eps, std, 1.0), 0.0 * x)
    elif method == "maxabs_lead":
        peak = np.abs(zeroed).max(axis=1, keepdims=True)
        out = x / np.where(peak > eps, peak, 1.0)
    else:
        has = valid.any(axis=1, keepdims=True)
        lo = np.where(has, np.where(valid, x, np.inf).min(axis=1, keepdims=True), 0.0)
        hi = np.where(has, np.where(valid, x, -np.inf).max(axis=1, keepdims=True), 0.0)
        span = hi - lo
        scaled = (x - lo) / np.where(span > eps, span, 1.0)
        if method == "minmax_lead":
            out = np.where(span > eps, scaled, 0.0 * x)
        else:
            out = np.where(span > eps, 2.0 * scaled - 1.0, 0.0 * x)
    return _out(out, was_1d)
