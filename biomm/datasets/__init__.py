"""Adapters that turn public ECG datasets (PTB-XL, MIMIC-IV-ECG) into biomm cohort manifests.

Examples:
    >>> from biomm.datasets import LABEL_SETS
    >>> LABEL_SETS[0]
    'superclass'
"""

from biomm.datasets.mimic_iv_ecg import clean_report, load_mimic_iv_ecg, mimic_iv_ecg_schema
from biomm.datasets.ptbxl import LABEL_SETS, PTBXL, RECOMMENDED_SPLITS, load_ptbxl

__all__ = [
    "LABEL_SETS",
    "PTBXL",
    "RECOMMENDED_SPLITS",
    "clean_report",
    "load_mimic_iv_ecg",
    "load_ptbxl",
    "mimic_iv_ecg_schema",
]
