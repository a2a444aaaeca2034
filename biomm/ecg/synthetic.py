"""Synthetic 12-lead ECG cohorts with physiologically meaningful classes and free-text reports.

Each beat is a sum of Gaussian waves (P, septal q, main R, terminal S, an asymmetric T and an
ST-segment plateau). Every wave carries a 3-D heart vector (x = patient's left, y = inferior,
z = anterior); a lead's voltage is the projection of that vector onto the lead axis, so the
classes are changes of physiology, not labels painted on: a left axis deviation rotates the
QRS vector, left ventricular hypertrophy enlarges it, an anterior injury adds an ST vector
pointing forward (elevation in V1–V4, reciprocal change elsewhere), atrial fibrillation
removes the P wave, adds f-waves and draws irregular RR intervals. Leads I and II are
projected (plus noise); III, aVR, aVL and aVF are derived from them exactly as an ECG machine
does (Einthoven/Goldberger), so ``III = II − I`` holds sample for sample. Baseline wander,
EMG-like noise and optional mains hum are added per record.

:func:`generate_report` writes a machine-style report with several phrasings per finding;
:data:`ZEROSHOT_CLASSES` holds readable class names and knowledge-style descriptions worded
differently from every report phrase, for zero-shot prompts. :func:`ecg_features` measures
hand-crafted features back from a signal (rate, RR variability, QRS width, ST levels,
voltages, axis, PR) for sanity checks and feature baselines.
:func:`biomm.ecg.synthetic_cohort.make_ecg_cohort` writes a whole cohort (WFDB or NumPy
records, ``manifest.csv`` with reports, multi-hot labels and the ground-truth parameters).

This module holds the signal generator; the cohort writer is :mod:`biomm.ecg.synthetic_cohort`,
the class vocabulary :mod:`biomm.ecg.synthetic_classes`, the reports and zero-shot descriptions in
:mod:`biomm.ecg.synthetic_reports`, the feature measurement in :mod:`biomm.ecg.ecg_features`
and the WFDB writer in :mod:`biomm.io.ecg.writers`. Their public names are re-exported here.

Examples:
    >>> rng = np.random.default_rng(0)
    >>> signal, params = generate_ecg("atrial_fibrillation", rng=rng)
    >>> signal.shape, signal.dtype, params["labels"]
    ((12, 5000), dtype('float32'), ['atrial_fibrillation'])
    >>> bool(np.allclose(signal[2], signal[1] - signal[0], atol=1e-5))  # III = II - I
    True
    >>> report = generate_report(params["labels"], params, rng)
    >>> any(ph.lower() in report.lower() for ph in REPORT_PHRASES["atrial_fibrillation"])
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import expit

from biomm.ecg.ecg_features import _SQRT3_2, _TERRITORY_LEADS, FEATURE_NAMES, ecg_features
from biomm.ecg.synthetic_classes import COMPATIBLE_FINDINGS, ECG_CLASSES, _check_labels
from biomm.ecg.synthetic_reports import REPORT_PHRASES, ZEROSHOT_CLASSES, generate_report
from biomm.errors import InputError
from biomm.io.ecg.writers import write_wfdb16

__all__ = [
    "COMPATIBLE_FINDINGS",
    "ECG_CLASSES",
    "FEATURE_NAMES",
    "REPORT_PHRASES",
    "ZEROSHOT_CLASSES",
    "ecg_features",
    "generate_ecg",
    "generate_report",
    "sample_ecg_params",
    "write_wfdb16",
]

# Canonical order in which the class modifiers are applied to the base (normal) parameters.
_APPLY_ORDER = (
    "sinus_tachycardia",
    "sinus_bradycardia",
    "atrial_fibrillation",
    "bundle_branch_block",
    "left_ventricular_hypertrophy",
    "left_axis_deviation",
    "low_voltage",
    "first_degree_av_block",
    "st_elevation",
    "st_depression",
)

# ---- lead geometry --------------------------------------------------------------------------

# Chest electrodes: angle in the horizontal plane from the patient's left (V6) towards anterior,
# and a proximity gain (chest electrodes sit close to the heart and record larger voltages).
_CHEST_ANGLE_DEG = np.array([115.0, 95.0, 75.0, 60.0, 30.0, 0.0])
_CHEST_GAIN = np.array([1.1, 1.6, 1.7, 1.6, 1.3, 1.0])
# The ST territories' lead groups (_TERRITORY_LEADS) and _SQRT3_2 come from ecg_features, so
# the generator and the measurement agree on them.
# Unit directions of the injury current for each ST territory (x left, y inferior, z anterior).
_ST_DIRECTION = {
    "anterior": (0.17, -0.10, 0.98),
    "inferior": (-0.17, 0.98, 0.10),
    "lateral": (-0.70, -0.45, -0.30),  # subendocardial: away from the lateral leads, towards aVR
}


def _unit(v: Sequence[float]) -> np.ndarray:
    arr = np.asarray(v, dtype=np.float64)
    return arr / np.linalg.norm(arr)


def _vector(frontal_deg: float, elevation_deg: float, magnitude: float) -> np.ndarray:
    """A heart vector from its frontal angle (0° = left, +90° = inferior) and anterior tilt."""
    th, ps = math.radians(frontal_deg), math.radians(elevation_deg)
    return magnitude * np.array(
        [math.cos(th) * math.cos(ps), math.sin(th) * math.cos(ps), math.sin(ps)]
    )


def _lead_matrix(params: Mapping[str, Any]) -> np.ndarray:
    """``[8, 3]`` lead vectors of the independent leads I, II, V1–V6 for one record."""
    angles = np.radians(_CHEST_ANGLE_DEG + np.asarray(params["chest_angle_jitter_deg"]))
    gains = _CHEST_GAIN * np.asarray(params["chest_gain_jitter"])
    chest = np.stack([np.cos(angles), np.zeros(6), np.sin(angles)], axis=1) * gains[:, None]
    limb = np.array([[1.0, 0.0, 0.0], [0.5, _SQRT3_2, 0.0]])
    return np.concatenate([limb, chest])


def _nominal_leads() -> np.ndarray:
    return _lead_matrix({"chest_angle_jitter_deg": np.zeros(6), "chest_gain_jitter": np.ones(6)})


def _to_12(eight: np.ndarray) -> np.ndarray:
    """Expand ``[8, T]`` (I, II, V1–V6) to the canonical 12 leads (Einthoven/Goldberger)."""
    lead_i, lead_ii = eight[0], eight[1]
    limb = np.stack(
        [
            lead_i,
            lead_ii,
            lead_ii - lead_i,
            -(lead_i + lead_ii) / 2.0,
            lead_i - lead_ii / 2.0,
            lead_ii - lead_i / 2.0,
        ]
    )
    return np.concatenate([limb, eight[2:]])


# ---- parameters -----------------------------------------------------------------------------

#: Keys of a parameter dict that :func:`generate_ecg` renders (the model's knobs).
_KNOBS = (
    "labels",
    "rhythm",
    "heart_rate_bpm",
    "rr_variability",
    "pr_ms",
    "qrs_ms",
    "qtc_ms",
    "qrs_axis_deg",
    "qrs_elevation_deg",
    "qrs_mv",
    "qrs_gain",
    "chest_qrs_gain",
    "qrs_notch",
    "septal_vector_mv",
    "terminal_vector_mv",
    "p_mv",
    "p_axis_deg",
    "t_vector_mv",
    "t_width_s",
    "st_vector_mv",
    "st_territory",
    "f_wave_mv",
    "lvh_strain",
    "chest_angle_jitter_deg",
    "chest_gain_jitter",
    "emg_mv",
    "wander_mv",
    "mains_mv",
    "mains_hz",
)
# Keys generate_ecg adds (measured on the noiseless beat or the beat series); ignored on input.
_AUDIT = (
    "realised_hr_bpm",
    "rr_cv",
    "axis_deg",
    "st_mv",
    "sokolow_mv",
    "limb_qrs_mv",
    "chest_qrs_mv",
    "qrs_onsets_s",
    "fs",
    "duration_s",
)


def _base_params(rng: np.random.Generator) -> dict[str, Any]:
    """A normal adult ECG with per-record variation (all amplitudes in mV, times in ms/s)."""
    qrs_axis = float(rng.uniform(5.0, 75.0))
    mains = rng.random() < 0.25
    return {
        "rhythm": "sinus",
        "heart_rate_bpm": float(rng.uniform(60.0, 95.0)),
        "rr_variability": float(rng.uniform(0.01, 0.05)),
        "pr_ms": float(rng.uniform(130.0, 195.0)),
        "qrs_ms": float(rng.uniform(80.0, 104.0)),
        "qtc_ms": float(rng.uniform(380.0, 440.0)),
        "qrs_axis_deg": qrs_axis,
        "qrs_elevation_deg": float(rng.uniform(-22.0, -8.0)),
        "qrs_mv": float(rng.uniform(1.1, 1.6)),
        "qrs_gain": 1.0,
        "chest_qrs_gain": 1.0,
        "qrs_notch": 0.0,
        "septal_vector_mv": _vector(
            rng.uniform(150, 190), rng.uniform(30, 50), rng.uniform(0.12, 0.25)
        ).tolist(),
        "terminal_vector_mv": _vector(
            rng.uniform(-150, -100), rng.uniform(-40, -20), rng.uniform(0.2, 0.4)
        ).tolist(),
        "p_mv": float(rng.uniform(0.1, 0.2)),
        "p_axis_deg": float(rng.uniform(30.0, 75.0)),
        "t_vector_mv": _vector(
            qrs_axis + rng.normal(0, 12), rng.uniform(5, 25), rng.uniform(0.25, 0.45)
        ).tolist(),
        "t_width_s": float(rng.uniform(0.030, 0.040)),
        "st_vector_mv": (rng.normal(0.0, 0.015, 3) + np.array([0.0, 0.0, 0.03])).tolist(),
        "st_territory": "none",
        "f_wave_mv": 0.0,
        "lvh_strain": False,
        "chest_angle_jitter_deg": rng.normal(0.0, 5.0, 6).tolist(),
        "chest_gain_jitter": rng.uniform(0.9, 1.1, 6).tolist(),
        "emg_mv": float(np.exp(rng.uniform(np.log(0.003), np.log(0.03)))),
        "wander_mv": float(rng.uniform(0.02, 0.2)),
        "mains_mv": float(rng.uniform(0.005, 0.03)) if mains else 0.0,
        "mains_hz": float(rng.choice([50.0, 60.0])),
    }


def _st_vector_for(territory: str, level_mv: float) -> np.ndarray:
    """The ST vector whose mean projection on the territory's (nominal) leads is ``level_mv``."""
    direction = _unit(_ST_DIRECTION[territory])
    per_lead = _to_12((_nominal_leads() @ direction)[:, None])[:, 0]
    gain = float(np.mean(per_lead[list(_TERRITORY_LEADS[territory])]))
    return direction * level_mv / gain


def _apply_class(p: dict[str, Any], cls: str, labels: Sequence[str], rng: np.random.Generator):
    """Change the base parameters in place for one finding."""
    u = rng.uniform
    if cls == "sinus_tachycardia":
        p["heart_rate_bpm"] = float(u(105.0, 150.0))
        p["rr_variability"] = float(u(0.003, 0.015))
        p["pr_ms"] = float(u(115.0, 170.0))
    elif cls == "sinus_bradycardia":
        p["heart_rate_bpm"] = float(u(38.0, 55.0))
        p["rr_variability"] = float(u(0.02, 0.07))
    elif cls == "atrial_fibrillation":
        p["rhythm"] = "af"
        p["heart_rate_bpm"] = float(u(65.0, 150.0))
        p["rr_variability"] = float(u(0.15, 0.35))  # coefficient of variation of RR
        p["p_mv"] = 0.0
        p["pr_ms"] = float("nan")
        p["f_wave_mv"] = float(u(0.03, 0.10))
    elif cls == "bundle_branch_block":  # left bundle branch block morphology
        axis = float(u(-20.0, 45.0))
        elev = float(u(-45.0, -30.0))
        p["qrs_ms"] = float(u(130.0, 175.0))
        p["qrs_axis_deg"], p["qrs_elevation_deg"] = axis, elev
        p["qrs_mv"] = float(u(1.6, 2.3))
        p["qrs_notch"] = float(u(0.22, 0.38))
        # septum activated right-to-left: the initial vector points left, no septal q in I/V6
        p["septal_vector_mv"] = _vector(u(-10, 20), u(-25, -5), u(0.15, 0.3)).tolist()
        p["terminal_vector_mv"] = _vector(u(-60, 0), u(-30, -10), u(0.05, 0.15)).tolist()
        # secondary, discordant repolarisation: ST and T opposite the main QRS vector
        main = _vector(axis, elev, 1.0)
        p["st_vector_mv"] = (-u(0.08, 0.15) * main).tolist()
        p["t_vector_mv"] = _vector(
            axis + 180 + rng.normal(0, 15), -elev + rng.normal(0, 8), u(0.3, 0.5)
        ).tolist()
    elif cls == "left_ventricular_hypertrophy":
        # a larger, more leftward-posterior QRS vector; the enlarged heart lies closer to the
        # chest wall, so the chest leads gain more than the limb leads
        p["qrs_ms"] = float(u(98.0, 116.0))
        p["qrs_axis_deg"] = float(u(-10.0, 50.0))
        p["qrs_elevation_deg"] = float(u(-35.0, -20.0))
        p["chest_gain_jitter"] = (np.asarray(p["chest_gain_jitter"]) * u(1.1, 1.3)).tolist()
        p["lvh_strain"] = bool(rng.random() < 0.4)
        if p["lvh_strain"]:  # strain: lateral ST depression with inverted, asymmetric T
            main = _vector(p["qrs_axis_deg"], p["qrs_elevation_deg"], 1.0)
            p["st_vector_mv"] = (-u(0.03, 0.06) * main).tolist()
            p["t_vector_mv"] = _vector(
                p["qrs_axis_deg"] + 180 + rng.normal(0, 20), u(-10, 10), u(0.12, 0.3)
            ).tolist()
    elif cls == "left_axis_deviation":  # left anterior fascicular block pattern
        p["qrs_axis_deg"] = float(u(-80.0, -45.0))
        if "bundle_branch_block" not in labels:
            p["septal_vector_mv"] = _vector(u(100, 130), u(10, 30), u(0.12, 0.25)).tolist()
            p["terminal_vector_mv"] = _vector(u(-120, -80), u(-30, -10), u(0.15, 0.3)).tolist()
            p["t_vector_mv"] = _vector(u(-10, 50), u(5, 25), u(0.2, 0.4)).tolist()
    elif cls == "low_voltage":
        p["p_mv"] *= 0.7
        p["t_vector_mv"] = (0.6 * np.asarray(p["t_vector_mv"])).tolist()
    elif cls == "first_degree_av_block":
        p["pr_ms"] = float(u(220.0, 320.0))
    elif cls == "st_elevation":
        territory = "anterior" if rng.random() < 0.6 else "inferior"
        p["st_territory"] = territory
        p["_st_target_mv"] = float(u(0.2, 0.45))
        p["st_vector_mv"] = _st_vector_for(territory, p["_st_target_mv"]).tolist()
        t = np.asarray(p["t_vector_mv"])  # hyperacute T: taller, turned towards the injury
        p["t_vector_mv"] = (t * u(1.1, 1.5) + np.asarray(p["st_vector_mv"]) * u(0.5, 1.0)).tolist()
    elif cls == "st_depression":
        p["st_territory"] = "lateral"
        p["_st_target_mv"] = -float(u(0.14, 0.3))
        p["st_vector_mv"] = _st_vector_for("lateral", p["_st_target_mv"]).tolist()
        p["t_vector_mv"] = (np.asarray(p["t_vector_mv"]) * u(0.3, 0.7)).tolist()


def _finalise_voltage(p: dict[str, Any], labels: Sequence[str], rng: np.random.Generator):
    """Scale the QRS so voltage criteria hold exactly for LVH/low voltage and fail otherwise.

    ``qrs_gain`` scales the QRS in every lead; when that alone would make the limb leads
    implausibly large (a superior or posterior vector projects weakly on the chest leads),
    ``chest_qrs_gain`` raises the chest-lead QRS instead.
    """
    p["qrs_gain"], p["chest_qrs_gain"] = 1.0, 1.0
    beat = _template(p, 500.0)
    sokolow, limb_pp, chest_pp = beat["sokolow_mv"], beat["limb_qrs_mv"], beat["chest_qrs_mv"]
    limb_cap = rng.uniform(2.8, 3.8)
    chest_boost = 1.0
    if "left_ventricular_hypertrophy" in labels:  # Sokolow–Lyon SV1 + RV5/6 ≥ 3.5 mV
        gain = rng.uniform(3.7, 5.5) / sokolow
        if limb_pp * gain > limb_cap:
            chest_boost = gain * limb_pp / limb_cap
            gain = limb_cap / limb_pp
    elif "low_voltage" in labels:  # < 0.5 mV in all limb leads and < 1 mV in all chest leads
        gain = min(rng.uniform(0.25, 0.45) / limb_pp, rng.uniform(0.55, 0.95) / chest_pp)
    else:
        gain = 1.0
        if sokolow > 3.2:
            gain = rng.uniform(2.4, 3.2) / sokolow
        if limb_pp * gain < 0.65:
            gain = rng.uniform(0.65, 0.9) / limb_pp
        if chest_pp * gain < 1.2:
            chest_boost = rng.uniform(1.2, 1.6) / (chest_pp * gain)
        if sokolow * gain * chest_boost > 3.2:
            chest_boost = rng.uniform(2.4, 3.2) / (sokolow * gain)
    p["qrs_gain"], p["chest_qrs_gain"] = float(gain), float(chest_boost)


def _finalise_st(p: dict[str, Any]) -> None:
    """Shift the ST vector so the territory's ST level 60 ms after J equals its target.

    The T wave's upstroke and the per-record electrode jitter also move the measured level;
    the correction runs along the injury direction, so the pattern keeps its shape.
    """
    target = p.pop("_st_target_mv", None)
    if target is None:
        return
    territory = str(p["st_territory"])
    direction = _unit(_ST_DIRECTION[territory])
    per_lead = _to_12((_lead_matrix(p) @ direction)[:, None])[:, 0]
    gain = float(np.mean(per_lead[list(_TERRITORY_LEADS[territory])]))
    current = _template(p, 500.0)["st_mv"]
    p["st_vector_mv"] = (
        np.asarray(p["st_vector_mv"]) + direction * (target - current) / gain
    ).tolist()


def sample_ecg_params(labels: str | Sequence[str], rng: np.random.Generator) -> dict[str, Any]:
    """Draw the generator's parameters for a record carrying ``labels``.

    Starts from a normal adult ECG with per-record variation, applies each finding's
    physiological change (rate, rhythm, conduction, QRS vector, ST vector…) in a fixed order,
    then scales the QRS so that voltage criteria hold for left ventricular hypertrophy and low
    voltage, and do not hold for any other class, and sets the ST level of an ST elevation
    (0.2–0.45 mV) or depression (−0.14 to −0.3 mV) exactly, measured on the noiseless beat
    60 ms after the J point as the mean over the territory's leads.

    Args:
        labels: One class name or several compatible ones (see :data:`COMPATIBLE_FINDINGS`).
        rng: Random generator.

    Returns:
        A dict of plain Python values (lists, floats, strings) that :func:`generate_ecg`
        renders; edit it to make a custom record.

    Raises:
        InputError: On an unknown class or incompatible findings.

    Examples:
        >>> p = sample_ecg_params(["sinus_bradycardia", "first_degree_av_block"],
        ...                       np.random.default_rng(1))
        >>> p["heart_rate_bpm"] < 60, p["pr_ms"] > 200
        (True, True)
    """
    labels = _check_labels(labels)
    params = _base_params(rng)
    for cls in _APPLY_ORDER:
        if cls in labels:
            _apply_class(params, cls, labels, rng)
    _finalise_voltage(params, labels, rng)
    _finalise_st(params)
    params["labels"] = list(labels)
    return {k: params[k] for k in _KNOBS}


# ---- rendering ------------------------------------------------------------------------------


def _beat_onsets(
    p: Mapping[str, Any], duration_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """QRS onset times (s) covering ``[-0.6, duration + 0.3]`` and each beat's preceding RR."""
    rr0 = 60.0 / float(p["heart_rate_bpm"])
    var = float(p["rr_variability"])
    if p["rhythm"] == "af":
        n_max = int((duration_s + 1.5) / 0.27) + 3
        sigma = math.sqrt(math.log1p(var**2))
        rr = rr0 * rng.lognormal(-(sigma**2) / 2.0, sigma, n_max)
        rr = np.clip(rr, 0.27, 2.5)
    else:  # respiratory sinus arrhythmia plus a little beat-to-beat jitter
        n_max = int((duration_s + 1.5) / (rr0 * (1.0 - var) * 0.97)) + 3
        t_approx = np.arange(n_max) * rr0
        resp = rng.uniform(0.15, 0.33)
        rr = rr0 * (
            1.0
            + var * np.sin(2 * np.pi * resp * t_approx + rng.uniform(0, 2 * np.pi))
            + rng.normal(0.0, 0.006, n_max)
        )
    start = -rng.uniform(0.3, 0.3 + rr0)
    onsets = start + np.concatenate([[0.0], np.cumsum(rr[:-1])])
    keep = onsets < duration_s + 0.3
    return onsets[keep], rr[: len(onsets)][keep]


def _bumps(
    n: int,
    fs: float,
    centers: np.ndarray,
    sigma_left: float | np.ndarray,
    sigma_right: float | np.ndarray,
    half_width_s: float,
) -> np.ndarray:
    """Sum of unit-height (asymmetric) Gaussians at ``centers`` on an ``n``-sample grid."""
    centers = np.asarray(centers, dtype=np.float64)
    half = math.ceil(half_width_s * fs)
    idx = np.round(centers * fs).astype(np.int64)[:, None] + np.arange(-half, half + 1)
    t_rel = idx / fs - centers[:, None]
    sl = np.broadcast_to(np.asarray(sigma_left, dtype=np.float64).reshape(-1, 1), t_rel.shape)
    sr = np.broadcast_to(np.asarray(sigma_right, dtype=np.float64).reshape(-1, 1), t_rel.shape)
    vals = np.exp(-0.5 * (t_rel / np.where(t_rel < 0, sl, sr)) ** 2)
    ok = (idx >= 0) & (idx < n)
    return np.bincount(idx[ok], weights=vals[ok], minlength=n)


def _plateaus(
    n: int, fs: float, starts: np.ndarray, ends: np.ndarray, rise_s: float, fall_s: float
) -> np.ndarray:
    """Sum of smooth plateaus from ``starts`` to ``ends`` (logistic edges)."""
    lead_in = 6 * rise_s
    length = float(np.max(ends - starts)) + lead_in + 6 * fall_s
    span = np.arange(math.ceil(length * fs) + 1)
    idx = np.round((starts - lead_in) * fs).astype(np.int64)[:, None] + span
    t = idx / fs
    vals = expit((t - starts[:, None]) / rise_s) * expit((ends[:, None] - t) / fall_s)
    ok = (idx >= 0) & (idx < n)
    return np.bincount(idx[ok], weights=vals[ok], minlength=n)


def _beat_courses(
    p: Mapping[str, Any], onsets: np.ndarray, rr_prev: np.ndarray, fs: float, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Time courses and heart vectors of the beat-locked waves: QRS, then P/ST/T.

    Returns ``(qrs_courses [3, n], qrs_vectors [3, 3], other_courses [C, n],
    other_vectors [3, C])``.
    """
    d = float(p["qrs_ms"]) / 1000.0
    notch = float(p["qrs_notch"])
    gain = float(p["qrs_gain"])
    sigma_main = 0.12 * d
    if notch > 0:
        main = _bumps(n, fs, onsets + (0.47 - notch / 2) * d, sigma_main, sigma_main, 0.6 * d)
        main += _bumps(n, fs, onsets + (0.47 + notch / 2) * d, sigma_main, sigma_main, 0.6 * d)
        main *= 0.62
    else:
        main = _bumps(n, fs, onsets + 0.45 * d, sigma_main, sigma_main, 0.6 * d)
    qrs_courses = np.stack(
        [
            _bumps(n, fs, onsets + 0.15 * d, 0.07 * d, 0.07 * d, 0.4 * d),  # septal
            main,
            _bumps(n, fs, onsets + 0.8 * d, 0.07 * d, 0.07 * d, 0.4 * d),  # terminal
        ]
    )
    main_vector = _vector(float(p["qrs_axis_deg"]), float(p["qrs_elevation_deg"]), 1.0)
    qrs_vectors = gain * np.stack(
        [
            np.asarray(p["septal_vector_mv"], dtype=np.float64),
            float(p["qrs_mv"]) * main_vector,
            np.asarray(p["terminal_vector_mv"], dtype=np.float64),
        ],
        axis=1,
    )

    qt = float(p["qtc_ms"]) / 1000.0 * np.sqrt(np.clip(rr_prev, 0.25, 2.5))
    t_sr = float(p["t_width_s"])
    courses = [
        _plateaus(n, fs, onsets + d, onsets + qt - 0.01, 0.006, 0.025),
        _bumps(n, fs, onsets + qt - 2.4 * t_sr, 1.8 * t_sr, t_sr, 0.35),
    ]
    vectors = [
        np.asarray(p["st_vector_mv"], dtype=np.float64),
        np.asarray(p["t_vector_mv"], dtype=np.float64),
    ]
    if p["p_mv"] > 0 and np.isfinite(p["pr_ms"]):
        p_center = onsets - float(p["pr_ms"]) / 1000.0 + 0.05
        courses.append(_bumps(n, fs, p_center, 0.02, 0.02, 0.1))
        vectors.append(_vector(float(p["p_axis_deg"]), 10.0, float(p["p_mv"])))
    return qrs_courses, qrs_vectors, np.stack(courses), np.stack(vectors, axis=1)


def _project_beats(
    p: Mapping[str, Any], onsets: np.ndarray, rr_prev: np.ndarray, fs: float, n: int
) -> np.ndarray:
    """The beats on the 8 independent leads ``[8, n]`` (I, II, V1–V6), noiseless.

    The QRS on the chest leads is further scaled by ``chest_qrs_gain`` (electrode proximity
    to the ventricular wall, which a single dipole does not capture).
    """
    qrs_c, qrs_v, other_c, other_v = _beat_courses(p, onsets, rr_prev, fs, n)
    leads = _lead_matrix(p)
    chest = np.ones((8, 1))
    chest[2:] = float(p["chest_qrs_gain"])
    return (leads * chest) @ (qrs_v @ qrs_c) + leads @ (other_v @ other_c)


def _smooth_sines(
    freqs: np.ndarray, phases: np.ndarray, amps: np.ndarray, fs: float, n: int, step_s: float
) -> np.ndarray:
    """Sum over the last axis of ``amps * sin(2π f t + φ)``, evaluated on a coarse grid.

    The sines are slow compared with ``step_s``, so linear interpolation of the coarse grid
    is exact to well under a microvolt, and far cheaper than ``sin`` on every sample.
    """
    t = np.arange(n) / fs
    coarse = np.arange(0.0, n / fs + 2 * step_s, step_s)
    waves = amps[..., None] * np.sin(2 * np.pi * freqs[..., None] * coarse + phases[..., None])
    waves = waves.sum(axis=-2)
    return np.stack([np.interp(t, coarse, row) for row in waves.reshape(-1, coarse.size)])


def _f_waves(p: Mapping[str, Any], fs: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Fibrillatory atrial activity (4–9 Hz, amplitude-modulated) as a heart-vector course."""
    freqs = rng.uniform(4.0, 9.0, 3)
    wave = _smooth_sines(
        freqs, rng.uniform(0, 2 * np.pi, 3), rng.uniform(0.5, 1.0, 3), fs, n, 0.004
    )[0]
    t = np.arange(n) / fs
    wave *= 1.0 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6.3))
    wave *= float(p["f_wave_mv"]) / max(float(np.std(wave)) * 2.0, 1e-9)
    return wave


def _noise(p: Mapping[str, Any], fs: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Baseline wander, EMG-like broadband noise and mains hum on the 8 independent leads."""
    out = rng.standard_normal((8, n)) * float(p["emg_mv"])
    amps = float(p["wander_mv"]) * rng.uniform(0.3, 1.0, (8, 2)) / 1.5
    freqs, phases = rng.uniform(0.05, 0.5, (8, 2)), rng.uniform(0, 2 * np.pi, (8, 2))
    out += _smooth_sines(freqs, phases, amps, fs, n, 0.05)
    hz = float(p["mains_hz"])
    if float(p["mains_mv"]) > 0 and fs > 2.5 * hz:  # hum is only representable below Nyquist
        scale = float(p["mains_mv"]) * rng.uniform(0.5, 1.0, 8)
        phase = rng.uniform(0, 2 * np.pi, 8)
        arg = 2 * np.pi * hz * np.arange(n) / fs
        # sin(wt + phi) = sin(wt) cos(phi) + cos(wt) sin(phi): two sines for all leads
        out += np.outer(scale * np.cos(phase), np.sin(arg)) + np.outer(
            scale * np.sin(phase), np.cos(arg)
        )
    return out


_TEMPLATE_ONSET_S = 0.5


def _template(p: Mapping[str, Any], fs: float) -> dict[str, Any]:
    """Render one noiseless beat (onset at 0.5 s) and measure axis, voltages and ST levels."""
    n = round(1.6 * fs)
    rr = np.array([60.0 / float(p["heart_rate_bpm"])])
    beat = _to_12(_project_beats(p, np.array([_TEMPLATE_ONSET_S]), rr, fs, n))
    onset = round(_TEMPLATE_ONSET_S * fs)
    end = onset + round(float(p["qrs_ms"]) / 1000.0 * fs)
    qrs = beat[:, onset : end + 1]
    st_at = end + round(0.06 * fs)
    st = beat[:, st_at]
    area_i, area_avf = qrs[0].sum(), qrs[5].sum()
    if p["st_territory"] in _TERRITORY_LEADS:
        territory = str(p["st_territory"])
    else:  # the territory with the largest absolute mean deviation
        territory = max(_TERRITORY_LEADS, key=lambda k: abs(st[list(_TERRITORY_LEADS[k])].mean()))
    return {
        "beat": beat,
        "axis_deg": math.degrees(math.atan2(area_avf / _SQRT3_2, area_i)),
        "sokolow_mv": float(-qrs[6].min() + max(qrs[10].max(), qrs[11].max())),
        "limb_qrs_mv": float(np.ptp(qrs[:6], axis=1).max()),
        "chest_qrs_mv": float(np.ptp(qrs[6:], axis=1).max()),
        "st_mv": float(st[list(_TERRITORY_LEADS[territory])].mean()),
        "st_territory_measured": territory,
    }


def _resolve_params(cls_or_params: Any, rng: np.random.Generator) -> dict[str, Any]:
    if isinstance(cls_or_params, Mapping):
        given = dict(cls_or_params)
        if "labels" not in given:
            raise InputError("a parameter dict needs 'labels' (a list of ECG classes)")
        unknown = sorted(set(given) - set(_KNOBS) - set(_AUDIT) - {"st_territory_measured"})
        if unknown:
            raise InputError(f"unknown ECG parameter(s) {unknown}; known: {', '.join(_KNOBS)}")
        params = sample_ecg_params(given["labels"], rng)
        params.update({k: v for k, v in given.items() if k in _KNOBS})
        params["labels"] = _check_labels(params["labels"])
        return params
    return sample_ecg_params(cls_or_params, rng)


def generate_ecg(
    cls_or_params: str | Sequence[str] | Mapping[str, Any],
    *,
    fs: float = 500.0,
    duration_s: float = 10.0,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Generate one 12-lead ECG of a class (or several compatible classes, or given parameters).

    Args:
        cls_or_params: A class name from :data:`ECG_CLASSES`, a list of compatible class names,
            or a parameter dict (from :func:`sample_ecg_params` or a previous call, possibly
            edited; missing knobs are drawn for its ``labels``).
        fs: Sampling rate in Hz.
        duration_s: Length in seconds.
        rng: Random generator (a fresh unseeded one when None).

    Returns:
        ``(signal, params)``: ``signal`` is float32 ``[12, round(fs * duration_s)]`` in mV in
        canonical lead order; ``params`` holds the knobs plus what they produced:
        ``realised_hr_bpm`` and ``rr_cv`` (from the beat series), ``axis_deg`` (net QRS area
        in I and aVF), ``st_mv`` (mean ST level 60 ms after the J point over the ST
        territory's leads), ``sokolow_mv`` (SV1 + max RV5/RV6), ``limb_qrs_mv`` and
        ``chest_qrs_mv`` (largest QRS peak-to-peak), measured on the noiseless beat, and
        ``qrs_onsets_s``.

    Raises:
        InputError: On an unknown class, incompatible findings, an unknown parameter, or a
            non-positive rate or duration.

    Examples:
        >>> sig, p = generate_ecg("sinus_tachycardia", fs=250.0, duration_s=4.0,
        ...                       rng=np.random.default_rng(3))
        >>> sig.shape, p["heart_rate_bpm"] > 100
        ((12, 1000), True)
        >>> sig2, _ = generate_ecg(p, fs=250.0, duration_s=4.0, rng=np.random.default_rng(4))
        >>> float(np.corrcoef(sig[1], sig2[1])[0, 1]) < 0.99  # same morphology, new beats/noise
        True
    """
    if not (np.isfinite(fs) and fs > 0):
        raise InputError(f"sampling rate must be a positive number, got {fs!r}")
    if not (np.isfinite(duration_s) and duration_s > 0):
        raise InputError(f"duration must be a positive number of seconds, got {duration_s!r}")
    fs, duration_s = float(fs), float(duration_s)
    rng = rng if rng is not None else np.random.default_rng()
    params = _resolve_params(cls_or_params, rng)
    n = round(fs * duration_s)
    onsets, rr_prev = _beat_onsets(params, duration_s, rng)
    eight = _project_beats(params, onsets, rr_prev, fs, n)
    if float(params["f_wave_mv"]) > 0:
        f_vector = _lead_matrix(params) @ _unit((-0.35, 0.55, 0.75))
        eight += np.outer(f_vector, _f_waves(params, fs, n, rng))
    eight += _noise(params, fs, n, rng)
    signal = _to_12(eight).astype(np.float32)

    inside = onsets[(onsets >= 0) & (onsets < duration_s)]
    rr = np.diff(inside)
    beat = _template(params, fs)
    out = dict(params)
    out.update(
        realised_hr_bpm=float(60.0 / rr.mean()) if rr.size else float(params["heart_rate_bpm"]),
        rr_cv=float(rr.std() / rr.mean()) if rr.size > 1 else 0.0,
        axis_deg=beat["axis_deg"],
        st_mv=beat["st_mv"],
        st_territory_measured=beat["st_territory_measured"],
        sokolow_mv=beat["sokolow_mv"],
        limb_qrs_mv=beat["limb_qrs_mv"],
        chest_qrs_mv=beat["chest_qrs_mv"],
        qrs_onsets_s=[round(float(x), 4) for x in inside],
        fs=float(fs),
        duration_s=float(duration_s),
    )
    return signal, out
