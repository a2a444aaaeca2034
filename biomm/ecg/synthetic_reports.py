"""Machine-style free-text reports and zero-shot class descriptions for synthetic ECGs.

:func:`generate_report` writes a report for a record of :mod:`biomm.ecg.synthetic`, using one
of several phrasings per finding (:data:`REPORT_PHRASES`); :data:`ZEROSHOT_CLASSES` holds
readable class names and knowledge-style descriptions worded differently from every report
phrase, for zero-shot prompts.

Examples:
    >>> from biomm.ecg.synthetic import generate_ecg
    >>> rng = np.random.default_rng(0)
    >>> _, params = generate_ecg("st_elevation", duration_s=2.0, rng=rng)
    >>> report = generate_report(params["labels"], params, rng)
    >>> any(ph.lower() in report.lower() for ph in REPORT_PHRASES["st_elevation"])
    True
    >>> ZEROSHOT_CLASSES["st_elevation"]["name"]
    'ST elevation'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from biomm.ecg.synthetic_classes import ECG_CLASSES, _check_labels

__all__ = ["REPORT_PHRASES", "ZEROSHOT_CLASSES", "generate_report"]

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
        params: The record's parameters (from :func:`~biomm.ecg.synthetic.generate_ecg`).
        rng: Random generator.

    Raises:
        InputError: On an unknown or incompatible class.

    Examples:
        >>> from biomm.ecg.synthetic import generate_ecg
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
