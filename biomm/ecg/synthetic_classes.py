"""The diagnostic classes of the synthetic ECG cohort and the rules for combining them.

Shared by the signal generator (:mod:`biomm.ecg.synthetic`) and the report writer
(:mod:`biomm.ecg.synthetic_reports`), so that neither has to import the other.

Examples:
    >>> ECG_CLASSES[:3]
    ('normal', 'sinus_tachycardia', 'sinus_bradycardia')
    >>> "st_depression" in COMPATIBLE_FINDINGS["sinus_tachycardia"]
    True
    >>> _check_labels("low_voltage")
    ['low_voltage']
    >>> _check_labels(["st_elevation", "st_depression"])
    Traceback (most recent call last):
    ...
    biomm.errors.InputError: incompatible ECG findings on one record: ...
"""

from __future__ import annotations

from collections.abc import Sequence

from biomm.errors import InputError

__all__ = ["COMPATIBLE_FINDINGS", "ECG_CLASSES"]

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
