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
differently from every report phrase, for zero-shot prompts. :func:`make_ecg_cohort` writes a
whole cohort (WFDB or NumPy records, ``manifest.csv`` with reports, multi-hot labels and the
ground-truth parameters), and :func:`ecg_features` measures hand-crafted features back from a
signal (rate, RR variability, QRS width, ST levels, voltages, axis, PR) for sanity checks and
feature baselines.

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
import shutil
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import signal as sps
from scipy.special import expit

from biomm.errors import InputError
from biomm.io.ecg.leads import LEADS_12
from biomm.utils.atomic import atomic_path, atomic_write_table

__all__ = [
    "COMPATIBLE_FINDINGS",
    "ECG_CLASSES",
    "FEATURE_NAMES",
    "REPORT_PHRASES",
    "ZEROSHOT_CLASSES",
    "ecg_features",
    "generate_ecg",
    "generate_report",
    "make_ecg_cohort",
    "sample_ecg_params",
    "write_wfdb16",
]

#: The diagnostic classes, in the order of the multi-hot label vector.
ECG_CLASSES: tuple[str, ...] = (
    "normal",
    "sinus_tachycardia",
    "sinus_bradycardia",
    "atrial_fibrillation",
    "bundle_branch_block",
    "st_elevation",
    "st_depression",
    "left_ventricular_hypertrophy",
    "left_axis_deviation",
    "low_voltage",
    "first_degree_av_block",
)

#: Secondary findings that may accompany each primary class (physiologically compatible).
COMPATIBLE_FINDINGS: dict[str, tuple[str, ...]] = {
    "normal": (),
    "sinus_tachycardia": ("st_depression", "low_voltage", "left_axis_deviation"),
    "sinus_bradycardia": (
        "first_degree_av_block",
        "left_axis_deviation",
        "left_ventricular_hypertrophy",
    ),
    "atrial_fibrillation": (
        "left_axis_deviation",
        "st_depression",
        "bundle_branch_block",
        "low_voltage",
    ),
    "bundle_branch_block": ("first_degree_av_block", "left_axis_deviation", "atrial_fibrillation"),
    "st_elevation": ("sinus_tachycardia", "sinus_bradycardia", "first_degree_av_block"),
    "st_depression": ("sinus_tachycardia", "left_axis_deviation", "atrial_fibrillation"),
    "left_ventricular_hypertrophy": (
        "left_axis_deviation",
        "first_degree_av_block",
        "sinus_bradycardia",
        "atrial_fibrillation",
    ),
    "left_axis_deviation": (
        "left_ventricular_hypertrophy",
        "first_degree_av_block",
        "bundle_branch_block",
        "atrial_fibrillation",
    ),
    "low_voltage": ("sinus_tachycardia", "atrial_fibrillation"),
    "first_degree_av_block": (
        "sinus_bradycardia",
        "left_axis_deviation",
        "bundle_branch_block",
        "left_ventricular_hypertrophy",
    ),
}

# Pairs that can never be on one record (rhythm exclusivity, opposite findings).
_EXCLUSIVE = (
    {"sinus_tachycardia", "sinus_bradycardia", "atrial_fibrillation"},
    {"atrial_fibrillation", "first_degree_av_block"},
    {"st_elevation", "st_depression"},
    {"left_ventricular_hypertrophy", "low_voltage"},
    {"left_ventricular_hypertrophy", "bundle_branch_block"},
    {"bundle_branch_block", "st_elevation"},
    {"bundle_branch_block", "st_depression"},
)

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
_SQRT3_2 = math.sqrt(3.0) / 2.0

#: Lead groups used for ST territories and voltages (indices into the canonical 12 leads).
_TERRITORY_LEADS = {
    "anterior": (6, 7, 8, 9),  # V1–V4
    "inferior": (1, 2, 5),  # II, III, aVF
    "lateral": (0, 4, 10, 11),  # I, aVL, V5, V6
}
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


def _check_labels(labels: Sequence[str]) -> list[str]:
    labels = [labels] if isinstance(labels, str) else list(labels)
    if not labels:
        raise InputError("at least one ECG class is needed")
    unknown = [c for c in labels if c not in ECG_CLASSES]
    if unknown:
        raise InputError(f"unknown ECG class(es) {unknown}; known: {', '.join(ECG_CLASSES)}")
    if len(set(labels)) != len(labels):
        raise InputError(f"ECG class given twice in {labels}")
    if "normal" in labels and len(labels) > 1:
        raise InputError(f"'normal' cannot be combined with another finding: {labels}")
    for group in _EXCLUSIVE:
        clash = group.intersection(labels)
        if len(clash) > 1:
            raise InputError(f"incompatible ECG findings on one record: {sorted(clash)}")
    return labels


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


# ---- reports --------------------------------------------------------------------------------

# Phrasings per finding; a phrase with a condition is only used when it applies.
_PHRASES: dict[str, tuple[tuple[str, str | None], ...]] = {
    "normal": (
        ("Normal ECG", None),
        ("Normal electrocardiogram", None),
        ("Within normal limits", None),
        ("Normal tracing", None),
        ("WNL", None),
    ),
    "sinus_tachycardia": (
        ("Sinus tachycardia", None),
        ("Sinus tach", None),
        ("Sinus tachycardia, rate > 100", None),
    ),
    "sinus_bradycardia": (
        ("Sinus bradycardia", None),
        ("Sinus brady", None),
        ("Marked sinus bradycardia", "hr<45"),
    ),
    "atrial_fibrillation": (
        ("Atrial fibrillation", None),
        ("A-fib", None),
        ("AF", None),
        ("Atrial fibrillation with rapid ventricular response", "hr>100"),
        ("Atrial fibrillation with RVR", "hr>100"),
        ("Atrial fibrillation with controlled ventricular response", "hr<=100"),
    ),
    "bundle_branch_block": (
        ("Left bundle branch block", None),
        ("Left bundle-branch block", None),
        ("LBBB", None),
        ("Complete left bundle branch block", None),
        ("IVCD, consistent with LBBB", None),
    ),
    "st_elevation": (
        ("ST elevation, consider anterior injury or acute infarct", "anterior"),
        ("Anterior ST elevation", "anterior"),
        ("ST elevation in V1-V4", "anterior"),
        ("Acute anterior infarct", "anterior"),
        ("ST elevation, consider inferior injury or acute infarct", "inferior"),
        ("Inferior ST elevation", "inferior"),
        ("ST elevation in II, III, aVF", "inferior"),
        ("Acute inferior infarct", "inferior"),
        ("STEMI", None),
        ("ST elevation", None),
    ),
    "st_depression": (
        ("ST depression", None),
        ("Lateral ST depression", None),
        ("ST depression, consider subendocardial injury", None),
        ("Diffuse ST depression", None),
        ("ST-segment depression in lateral leads", None),
        ("ST dep, possible ischemia", None),
    ),
    "left_ventricular_hypertrophy": (
        ("Left ventricular hypertrophy", None),
        ("LVH", None),
        ("LVH by voltage criteria", None),
        ("Voltage criteria for left ventricular hypertrophy", None),
        ("Left ventricular hypertrophy with repolarization abnormality", "strain"),
        ("LVH with secondary repolarization abnormality", "strain"),
    ),
    "left_axis_deviation": (
        ("Left axis deviation", None),
        ("LAD", None),
        ("Left axis deviation, possible left anterior fascicular block", None),
        ("Abnormal left axis deviation", None),
        ("Left anterior fascicular block", None),
    ),
    "low_voltage": (
        ("Low QRS voltages", None),
        ("Low voltage QRS", None),
        ("Low QRS voltages in limb and precordial leads", None),
        ("Generalized low QRS voltage", None),
        ("Low voltage, consider pericardial effusion", None),
    ),
    "first_degree_av_block": (
        ("1st degree A-V block", None),
        ("First degree AV block", None),
        ("1st degree AVB", None),
        ("Prolonged PR interval", None),
        ("First degree atrioventricular block", None),
    ),
}

#: Every phrasing a report may use for each class (all conditions), for checks and analyses.
REPORT_PHRASES: dict[str, tuple[str, ...]] = {
    cls: tuple(text for text, _ in _PHRASES[cls]) for cls in ECG_CLASSES
}

_RHYTHM_SINUS = ("Sinus rhythm", "Normal sinus rhythm", "Sinus rhythm", "NSR")
_MILD = {"sinus_tachycardia", "sinus_bradycardia", "left_axis_deviation", "first_degree_av_block"}
_INCIDENTAL_ANY = (
    "Unconfirmed report",
    "No previous ECGs available",
    "When compared with previous ECG, no significant change",
    "Confirmed by physician",
    "Clinical correlation suggested",
    "Lead placement verified",
)
_INCIDENTAL_NOISE = {
    "wander": ("Baseline wander", "Baseline wander in lead(s) V1, V2", "Baseline drift"),
    "emg": ("Muscle artifact", "Artifact present", "Somatic tremor artifact"),
    "mains": ("AC noise", "Powerline interference", "{hz} Hz interference"),
}


def _applies(condition: str | None, p: Mapping[str, Any]) -> bool:
    hr = float(p.get("realised_hr_bpm", p.get("heart_rate_bpm", 75.0)))
    territory = p.get("st_territory", "none")
    return {
        None: True,
        "hr>100": hr > 100,
        "hr<=100": hr <= 100,
        "hr<45": hr < 45,
        "anterior": territory == "anterior",
        "inferior": territory == "inferior",
        "strain": bool(p.get("lvh_strain", False)),
    }[condition]


def generate_report(
    labels: str | Sequence[str], params: Mapping[str, Any], rng: np.random.Generator
) -> str:
    """Write a machine-style free-text ECG report for a record.

    A rhythm statement, one phrase per finding (chosen among several wordings and
    abbreviations, consistent with the record's rate, ST territory and strain), an overall
    statement (Normal/Borderline/Abnormal ECG, sometimes left out), and sometimes incidental
    remarks (artefacts that the record really has, comparison notes), in varied order,
    separators and case.

    Args:
        labels: The record's classes.
        params: The record's parameters (from :func:`generate_ecg`).
        rng: Random generator.

    Raises:
        InputError: On an unknown or incompatible class.

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> _, p = generate_ecg("bundle_branch_block", duration_s=2.0, rng=rng)
        >>> texts = {generate_report(["bundle_branch_block"], p, rng) for _ in range(20)}
        >>> len(texts) > 5, all("bundle" in t.lower() or "lbbb" in t.lower() for t in texts)
        (True, True)
    """
    labels = _check_labels(labels)

    def pick(cls: str) -> str:
        options = [t for t, cond in _PHRASES[cls] if _applies(cond, params)]
        return str(options[rng.integers(len(options))])

    rhythm_cls = next(
        (
            c
            for c in ("atrial_fibrillation", "sinus_tachycardia", "sinus_bradycardia")
            if c in labels
        ),
        None,
    )
    rhythm = pick(rhythm_cls) if rhythm_cls else str(rng.choice(_RHYTHM_SINUS))
    findings = [pick(c) for c in labels if c not in ("normal", rhythm_cls)]
    rng.shuffle(findings)
    if "first_degree_av_block" in labels and rng.random() < 0.3:  # "Sinus rhythm with 1st…"
        avb = next(f for f in findings if f in REPORT_PHRASES["first_degree_av_block"])
        findings.remove(avb)
        rhythm = f"{rhythm} with {avb[0].lower()}{avb[1:]}"
    if "normal" in labels:
        summary: str | None = pick("normal")
    elif set(labels) <= _MILD:
        summary = "Borderline ECG" if rng.random() < 0.8 else None
    else:
        summary = "Abnormal ECG" if rng.random() < 0.75 else None

    extras: list[str] = []
    if float(params.get("wander_mv", 0.0)) > 0.13 and rng.random() < 0.6:
        extras.append(str(rng.choice(_INCIDENTAL_NOISE["wander"])))
    if float(params.get("emg_mv", 0.0)) > 0.018 and rng.random() < 0.6:
        extras.append(str(rng.choice(_INCIDENTAL_NOISE["emg"])))
    if float(params.get("mains_mv", 0.0)) > 0 and rng.random() < 0.6:
        hz = int(params.get("mains_hz", 50))
        extras.append(str(rng.choice(_INCIDENTAL_NOISE["mains"])).format(hz=hz))
    if rng.random() < 0.35:
        extras.append(str(rng.choice(_INCIDENTAL_ANY)))

    body = findings + extras
    rng.shuffle(body)
    statements = [rhythm, *body] if rng.random() < 0.85 else [*body, rhythm]
    if summary:
        statements.append(summary)
    style = rng.random()
    if style < 0.6:
        text = ". ".join(statements) + ("." if rng.random() < 0.7 else "")
    elif style < 0.8:
        text = "\n".join(statements)
    else:
        text = "; ".join(statements)
    return text.upper() if rng.random() < 0.1 else text


#: Zero-shot prompts: a readable name and knowledge-style descriptions per class, worded
#: differently from every report phrase (no description appears in any report).
ZEROSHOT_CLASSES: dict[str, dict[str, Any]] = {
    "normal": {
        "name": "normal ECG",
        "descriptions": (
            "a regular rhythm between 60 and 100 beats per minute with an upright P wave "
            "before every narrow QRS complex",
            "normal conduction times, a frontal axis between minus 30 and plus 90 degrees and "
            "a flat isoelectric segment after each QRS complex",
            "no disturbance of rhythm, conduction, voltage or repolarisation",
        ),
    },
    "sinus_tachycardia": {
        "name": "sinus tachycardia",
        "descriptions": (
            "a regular rhythm driven by the sinus node at more than 100 beats per minute",
            "every QRS complex is preceded by a normal P wave but the rate is fast",
            "short RR intervals with preserved conduction from atria to ventricles",
        ),
    },
    "sinus_bradycardia": {
        "name": "sinus bradycardia",
        "descriptions": (
            "a regular rhythm driven by the sinus node at fewer than 60 beats per minute",
            "long RR intervals with a normal P wave ahead of each QRS complex",
            "a slow heart rate with otherwise normal impulse conduction",
        ),
    },
    "atrial_fibrillation": {
        "name": "atrial fibrillation",
        "descriptions": (
            "an irregularly irregular ventricular rhythm with absent P waves",
            "chaotic atrial activity visible as fine fibrillatory oscillations of the baseline",
            "RR intervals that change randomly from beat to beat with no repeating pattern",
        ),
    },
    "bundle_branch_block": {
        "name": "left bundle branch block",
        "descriptions": (
            "a QRS complex lasting 120 ms or longer with a broad notched R wave in leads I, "
            "aVL, V5 and V6",
            "delayed activation of the left ventricle with a deep QS complex in V1 and no "
            "septal q wave in the lateral leads",
            "secondary repolarisation changes pointing opposite to the main QRS deflection",
        ),
    },
    "st_elevation": {
        "name": "ST elevation",
        "descriptions": (
            "the segment between the QRS complex and the T wave sits above the baseline in "
            "neighbouring leads",
            "a J point raised by at least 0.1 mV in two contiguous leads, a sign of transmural "
            "myocardial injury",
            "an acute coronary occlusion pattern with reciprocal changes in opposing leads",
        ),
    },
    "st_depression": {
        "name": "ST depression",
        "descriptions": (
            "the segment between the QRS complex and the T wave sits below the baseline in "
            "leads with tall R waves",
            "horizontal or downsloping lowering of the J point suggesting subendocardial ischaemia",
            "ischaemic repolarisation change in the lateral leads with a reciprocal rise in aVR",
        ),
    },
    "left_ventricular_hypertrophy": {
        "name": "left ventricular hypertrophy",
        "descriptions": (
            "tall R waves in the left chest leads and deep S waves in the right chest leads",
            "increased QRS amplitude where the S wave in V1 plus the R wave in V5 or V6 "
            "exceeds 3.5 mV",
            "a thickened left ventricular wall that produces large electrical forces",
        ),
    },
    "left_axis_deviation": {
        "name": "left axis deviation",
        "descriptions": (
            "the mean frontal QRS vector points upwards and to the left, beyond minus 30 degrees",
            "a QRS complex mainly positive in lead I and mainly negative in leads II and aVF",
            "a superiorly directed electrical axis, typical of a block in the anterior fascicle",
        ),
    },
    "low_voltage": {
        "name": "low QRS voltage",
        "descriptions": (
            "small QRS complexes, under 0.5 mV in every limb lead and under 1 mV in every "
            "chest lead",
            "reduced electrical amplitude as seen with pericardial fluid, obesity or "
            "infiltrative heart disease",
            "diminished size of ventricular depolarisation in all leads",
        ),
    },
    "first_degree_av_block": {
        "name": "first degree AV block",
        "descriptions": (
            "a PR interval longer than 200 ms with every P wave conducted to the ventricles",
            "slowed conduction through the atrioventricular node with a constant long PR interval",
            "delayed atrioventricular conduction without dropped beats",
        ),
    },
}


# ---- feature measurement --------------------------------------------------------------------

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


# ---- the cohort -----------------------------------------------------------------------------

_WRITE_MODES = ("wfdb", "npz", "npy")
_SUFFIX = {"wfdb": "", "npz": ".npz", "npy": ".npy"}


def _prepare_folder(out_dir: str | PathLike[str]) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder; choose another output folder", path=out)
    if out.is_dir() and any(out.iterdir()):
        if not (out / "manifest.csv").is_file():
            raise InputError(
                "folder is not empty and holds no previous ECG cohort (manifest.csv); "
                "choose a new output folder",
                path=out,
            )
        if (out / "ecg").is_dir():
            shutil.rmtree(out / "ecg")
        (out / "manifest.csv").unlink()
    (out / "ecg").mkdir(parents=True, exist_ok=True)
    return out


def _draw_labels(
    primary: str, classes: Sequence[str], secondary_prob: float, rng: np.random.Generator
) -> list[str]:
    labels = [primary]
    options = [c for c in COMPATIBLE_FINDINGS[primary] if c in classes]
    if options and rng.random() < secondary_prob:
        labels.append(str(options[rng.integers(len(options))]))
    return labels


def _fs_text(fs: float) -> str:
    return str(int(fs)) if float(fs).is_integer() else repr(float(fs))


def write_wfdb16(
    stem: str | PathLike[str], signal: np.ndarray, fs: float, comments: Sequence[str] = ()
) -> None:
    """Write a 12-lead ``[12, T]`` mV signal as a WFDB record (format 16, 1 µV per step).

    Writes ``stem.dat`` (interleaved little-endian int16) and then ``stem.hea``, each
    atomically, so a reader never sees a header without its data. Equivalent to
    ``wfdb.wrsamp`` with ``fmt=16, adc_gain=1000`` but about 20× faster, which matters when
    writing thousands of records. Values beyond ±32.767 mV are clipped (−32768 is the WFDB
    missing-sample code); NaN is written as missing.

    Raises:
        InputError: When the signal is not ``[12, T]``.

    Examples:
        >>> import tempfile, wfdb
        >>> stem = Path(tempfile.mkdtemp()) / "r1"
        >>> write_wfdb16(stem, np.full((12, 100), 0.5, np.float32), 500.0, ["dx: normal"])
        >>> rec = wfdb.rdrecord(str(stem))
        >>> rec.sig_name[:3], float(rec.p_signal[0, 0]), rec.comments
        (['I', 'II', 'III'], 0.5, ['dx: normal'])
    """
    stem = Path(stem)
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(LEADS_12):
        raise InputError(f"expected a [12, samples] signal, got shape {x.shape}", path=stem)
    missing = ~np.isfinite(x)
    digital = np.clip(np.round(np.where(missing, 0.0, x) * 1000.0), -32767, 32767).astype("<i2")
    digital[missing] = -32768
    lines = [f"{stem.name} {x.shape[0]} {_fs_text(fs)} {x.shape[1]}"]
    for k, name in enumerate(LEADS_12):
        first = int(digital[k, 0]) if x.shape[1] else 0
        checksum = int(digital[k].astype(np.int64).sum()) % 65536
        lines.append(f"{stem.name}.dat 16 1000.0(0)/mV 16 0 {first} {checksum} 0 {name}")
    lines += [f"# {c}" for c in comments]
    stem.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(stem.with_name(stem.name + ".dat")) as tmp:
        tmp.write_bytes(np.ascontiguousarray(digital.T).tobytes())
    with atomic_path(stem.with_name(stem.name + ".hea")) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="ascii")


def _write_record(
    stem: Path, signal: np.ndarray, fs: float, labels: Sequence[str], write: str
) -> None:
    if write == "wfdb":
        comments = [f"dx: {', '.join(labels)}", "source: biomm synthetic ECG"]
        write_wfdb16(stem, signal, fs, comments)
    elif write == "npz":
        with atomic_path(stem.with_suffix(".npz")) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, signal=signal, fs=np.float64(fs), leads=np.array(LEADS_12))
    else:
        with atomic_path(stem.with_suffix(".npy")) as tmp, open(tmp, "wb") as fh:
            np.save(fh, signal)


def make_ecg_cohort(
    out_dir: str | PathLike[str],
    n_patients: int,
    *,
    seed: int = 0,
    fs: float = 500.0,
    duration_s: float = 10.0,
    classes: Sequence[str] = ECG_CLASSES,
    secondary_prob: float = 0.2,
    write: str = "wfdb",
) -> pd.DataFrame:
    """Write a synthetic ECG cohort: one record per patient plus ``manifest.csv``.

    Primary classes are balanced (each class ``n_patients / len(classes)`` times, shuffled);
    with probability ``secondary_prob`` a record also carries a compatible secondary finding
    (:data:`COMPATIBLE_FINDINGS`) from ``classes``. Records go to ``out_dir/ecg/`` as WFDB
    (``P0001.hea`` + ``.dat``, 16-bit at 1 µV per step, header comment ``dx: <labels>``),
    ``.npz`` (signal, fs, leads) or plain ``.npy`` (``[12, T]`` float32; the rate is in the
    manifest's ``fs`` column). A folder holding a previous cohort is overwritten.

    Manifest columns: ``patient_id`` (``P0001``…), ``ecg`` (path relative to ``out_dir``),
    ``report``, ``label`` (primary class), ``labels`` (``;``-joined), one 0/1 column per
    class, and ground truth for audit: ``heart_rate_bpm`` (realised), ``rr_cv``, ``qrs_ms``,
    ``pr_ms`` (empty for atrial fibrillation), ``qtc_ms``, ``axis_deg``, ``st_mv``,
    ``st_territory``, ``sokolow_mv``, ``limb_qrs_mv``, ``chest_qrs_mv``, ``noise_mv``,
    ``wander_mv``, ``mains_mv``, ``fs``, ``duration_s``.

    Args:
        out_dir: Output folder (created; must be empty or hold a previous cohort).
        n_patients: Number of patients (records).
        seed: Random seed; the same seed gives the same cohort.
        fs: Sampling rate in Hz.
        duration_s: Record length in seconds.
        classes: The classes to draw (a subset of :data:`ECG_CLASSES`, any order; the
            multi-hot columns follow this order).
        secondary_prob: Probability of a secondary finding.
        write: ``wfdb``, ``npz`` or ``npy``.

    Returns:
        The manifest as a DataFrame.

    Raises:
        InputError: On a bad argument or an unusable output folder (naming it).

    Examples:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> m = make_ecg_cohort(d, 4, classes=("normal", "atrial_fibrillation"), duration_s=3)
        >>> m[["patient_id", "ecg", "label"]].head(2).shape, (d / "manifest.csv").is_file()
        ((2, 3), True)
        >>> sorted(m["label"])
        ['atrial_fibrillation', 'atrial_fibrillation', 'normal', 'normal']
    """
    out_path = Path(out_dir)
    if write not in _WRITE_MODES:
        raise InputError(f"write must be one of {_WRITE_MODES}, got {write!r}", path=out_path)
    if isinstance(n_patients, bool) or not isinstance(n_patients, int) or n_patients < 1:
        raise InputError(f"n_patients must be a positive integer, got {n_patients!r}")
    if not 0.0 <= secondary_prob <= 1.0:
        raise InputError(f"secondary_prob must be in [0, 1], got {secondary_prob!r}")
    classes = tuple(classes)
    if not classes:
        raise InputError("classes is empty")
    bad = [c for c in classes if c not in ECG_CLASSES]
    if bad or len(set(classes)) != len(classes):
        raise InputError(f"classes must be distinct names from {ECG_CLASSES}; got {classes}")
    if not (np.isfinite(fs) and fs > 0 and np.isfinite(duration_s) and duration_s > 0):
        raise InputError(f"fs and duration_s must be positive, got {fs!r} and {duration_s!r}")
    out = _prepare_folder(out_path)

    root = np.random.SeedSequence(seed)
    plan_rng = np.random.default_rng(root.spawn(1)[0])
    primaries = [classes[i % len(classes)] for i in range(n_patients)]
    plan_rng.shuffle(primaries)
    rows = []
    for i, (primary, child) in enumerate(zip(primaries, root.spawn(n_patients), strict=True)):
        rng = np.random.default_rng(child)
        pid = f"P{i + 1:04d}"
        labels = _draw_labels(primary, classes, secondary_prob, rng)
        signal, p = generate_ecg(labels, fs=fs, duration_s=duration_s, rng=rng)
        _write_record(out / "ecg" / pid, signal, fs, labels, write)
        row: dict[str, Any] = {
            "patient_id": pid,
            "ecg": f"ecg/{pid}{_SUFFIX[write]}",
            "report": generate_report(labels, p, rng),
            "label": primary,
            "labels": ";".join(labels),
        }
        row.update({c: int(c in labels) for c in classes})
        pr = float(p["pr_ms"])
        row.update(
            heart_rate_bpm=round(p["realised_hr_bpm"], 2),
            rr_cv=round(p["rr_cv"], 4),
            qrs_ms=round(float(p["qrs_ms"]), 1),
            pr_ms=round(pr, 1) if np.isfinite(pr) else None,
            qtc_ms=round(float(p["qtc_ms"]), 1),
            axis_deg=round(p["axis_deg"], 1),
            st_mv=round(p["st_mv"], 4),
            st_territory=p["st_territory_measured"],
            sokolow_mv=round(p["sokolow_mv"], 3),
            limb_qrs_mv=round(p["limb_qrs_mv"], 3),
            chest_qrs_mv=round(p["chest_qrs_mv"], 3),
            noise_mv=round(float(p["emg_mv"]), 4),
            wander_mv=round(float(p["wander_mv"]), 4),
            mains_mv=round(float(p["mains_mv"]), 4),
            fs=float(fs),
            duration_s=float(duration_s),
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    atomic_write_table(table, out / "manifest.csv")
    return table
