"""MIMIC-IV-ECG (PhysioNet 1.0) as a biomm manifest, with reports cleaned the MERL way.

Reads the official layout: ``record_list.csv`` (``subject_id``, ``study_id``, ``file_name``,
``ecg_time``, ``path`` — the WFDB record relative to the root, e.g.
``files/p1000/p10000032/s40689238/40689238``), ``machine_measurements.csv`` (``subject_id``,
``study_id``, ``cart_id``, ``ecg_time``, ``report_0`` … ``report_17``, ``bandwidth``,
``filtering``, ``rr_interval``, ``p_onset``, ``p_end``, ``qrs_onset``, ``qrs_end``, ``t_end``,
``p_axis``, ``qrs_axis``, ``t_axis``) and the WFDB records under ``files/``.

The machine report of a study is its ``report_*`` fields in order, cleaned by
:func:`clean_report` as MERL (Liu et al., ICML 2024, "Zero-Shot ECG Classification with
Multimodal Learning and Test-time Clinical Knowledge Enhancement") prepares its pre-training
text; with ``clean=True`` the records MERL drops are dropped too (see
:func:`load_mimic_iv_ecg`).

Examples:
    >>> import tempfile
    >>> frame = load_mimic_iv_ecg(write_example_mimic_iv_ecg(tempfile.mkdtemp()))
    >>> frame.loc[0, ["patient_id", "record_id", "report"]].tolist()
    ['10000032', '40689238', 'sinus rhythm. possible left atrial enlargement. borderline ecg.']
    >>> frame.attrs["dropped"]
    {'no_measurements': 1, 'short_report': 1, 'missing_files': 0}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biomm.datasets._common import as_id as _as_id
from biomm.datasets._common import as_text as _text
from biomm.datasets._common import column as _column
from biomm.datasets._common import is_missing as _is_missing
from biomm.datasets._common import missing_reason as _missing_reason
from biomm.datasets._common import read_csv as _read_csv
from biomm.datasets._common import record_ref as _record_ref
from biomm.errors import InputError

RECORD_LIST_CSV = "record_list.csv"
MEASUREMENTS_CSV = "machine_measurements.csv"

#: Machine measurement columns copied into the manifest when present.
MEASUREMENTS: tuple[str, ...] = (
    "cart_id",
    "bandwidth",
    "filtering",
    "rr_interval",
    "p_onset",
    "p_end",
    "qrs_onset",
    "qrs_end",
    "t_end",
    "p_axis",
    "qrs_axis",
    "t_axis",
)
#: MERL keeps reports with at least this many words.
MERL_MIN_WORDS = 4

_REPORT_FIELD = re.compile(r"^report_(\d+)$")
_NUMERIC_MEASUREMENTS = MEASUREMENTS[3:]


def clean_report(fields: Sequence[str | None], *, dedupe: bool = False) -> str:
    """Join and clean the ``report_0`` … ``report_17`` fields of one study, MERL style.

    Rules taken from MERL's MIMIC-IV-ECG preprocessing (``pretrain/preprocess.ipynb`` of
    github.com/cheliu-computation/MERL-ICML2024), in order:

    1. missing fields (None/NaN) are skipped;
    2. the remaining fields are joined with ``". "``;
    3. ``EKG`` → ``ECG`` and ``ekg`` → ``ecg`` (case-sensitive, before lower-casing);
    4. spaces and ``*`` are stripped from both ends of the joined text, then ``=`` and ``-``
       (one pass each: a space exposed by the second pass stays);
    5. the text is lower-cased;
    6. a text without any word gives ``""`` (MERL writes ``"empty"``; those reports are
       dropped anyway as shorter than 4 words);
    7. newlines, carriage returns and tabs become spaces, and one ``"."`` is appended.

    biomm additions: fields that are empty or only whitespace are skipped like missing ones
    (``pandas.read_csv`` already reads empty cells as NaN, so MERL's output is unchanged for
    the official CSV); with ``dedupe=True`` a field repeating an earlier one (compared
    stripped and case-insensitively) is skipped — MERL does not do this, so it is off by
    default. No other rule is applied: MERL keeps inner whitespace and punctuation as is.

    Args:
        fields: The report fields in order (``report_0`` first).
        dedupe: Skip repeated fields.

    Examples:
        >>> clean_report(["Sinus rhythm", None, "Normal EKG"])
        'sinus rhythm. normal ecg.'
        >>> clean_report(["*** Critical Test Result: STEMI", "Acute MI ***"])
        'critical test result: stemi. acute mi.'
        >>> clean_report([None, "  ", float("nan")])
        ''
        >>> clean_report(["Sinus rhythm", "sinus rhythm", "Normal ECG"], dedupe=True)
        'sinus rhythm. normal ecg.'
    """
    parts: list[str] = []
    seen: set[str] = set()
    for value in fields:
        if _is_missing(value):
            continue
        text = str(value)
        if not text.strip():
            continue
        if dedupe:
            key = text.strip().lower()
            if key in seen:
                continue
            seen.add(key)
        parts.append(text)
    report = ". ".join(parts)
    report = report.replace("EKG", "ECG").replace("ekg", "ecg")
    report = report.strip(" *").strip("=-")
    report = report.lower()
    if not report.split():
        return ""
    for char in ("\n", "\r", "\t"):
        report = report.replace(char, " ")
    return report + "."


def word_count(report: str | None) -> int:
    """Words (whitespace-separated) in a report, as MERL counts them; 0 for None.

    Examples:
        >>> word_count("sinus rhythm. normal ecg."), word_count(None)
        (4, 0)
    """
    return len(report.split()) if report else 0


def load_mimic_iv_ecg(
    root: str | PathLike[str],
    *,
    clean: bool = True,
    min_words: int = MERL_MIN_WORDS,
    dedupe: bool = False,
    check_files: bool = True,
    drop_missing: bool = True,
    absolute_paths: bool = False,
) -> pd.DataFrame:
    """Load MIMIC-IV-ECG as a manifest table, one row per study (ECG).

    Columns: ``patient_id`` (``subject_id`` as text), ``record_id`` (``study_id`` as text),
    ``ecg`` (the WFDB record without extension, relative to ``root`` unless
    ``absolute_paths``), ``ecg_time``, ``report`` and the :data:`MEASUREMENTS` present in
    ``machine_measurements.csv`` (numeric ones as numbers).

    With ``clean=True`` (MERL's preprocessing), reports are built by :func:`clean_report` and
    these records are dropped, as MERL drops them: studies without a row in
    ``machine_measurements.csv`` (``no_measurements``; MERL keeps only ``study_id`` values of
    the cleaned report table) and reports of fewer than ``min_words`` words
    (``short_report``; MERL uses 4). With ``clean=False`` the report is the non-empty fields
    joined with ``". "``, unchanged, and no record is dropped for its report. Either way,
    records whose ``.hea``/``.dat`` are missing are dropped when ``check_files`` and
    ``drop_missing`` (``missing_files``; MERL would fail reading them).

    ``frame.attrs["dropped"]`` holds the count per reason and ``frame.attrs["dropped_ids"]``
    the dropped ``study_id`` values per reason; ``frame.attrs["missing"]`` lists
    ``(study_id, path, reason)`` for every record whose files are missing, dropped or not
    (pandas may not carry ``attrs`` through every operation: read them straight away).

    Args:
        root: The folder holding ``record_list.csv``, ``machine_measurements.csv`` and
            ``files/``.
        clean: Clean reports and drop records MERL's way.
        min_words: Minimum words in a cleaned report (``clean=True`` only).
        dedupe: Passed to :func:`clean_report` (not MERL; off by default).
        check_files: Check that each record's ``.hea`` and ``.dat`` exist (one ``stat`` per
            file: a minute or so for the full 800,000 records on a local disk).
        drop_missing: Drop records whose files are missing.
        absolute_paths: Write absolute ``ecg`` paths.

    Raises:
        InputError: Naming the file: a CSV missing or unreadable, a required column absent,
            a duplicated ``study_id``, a ``study_id`` whose ``subject_id`` differs between the
            two CSVs, or a bad argument.

    Examples:
        >>> import tempfile
        >>> root = write_example_mimic_iv_ecg(tempfile.mkdtemp())
        >>> len(load_mimic_iv_ecg(root)), len(load_mimic_iv_ecg(root, clean=False))
        (2, 4)
    """
    root = Path(root).expanduser()
    if not isinstance(min_words, int) or isinstance(min_words, bool) or min_words < 0:
        raise InputError(f"min_words must be a non-negative integer, got {min_words!r}", path=root)
    if not root.is_dir():
        raise InputError("MIMIC-IV-ECG folder not found", path=root)
    records_path = root / RECORD_LIST_CSV
    measures_path = root / MEASUREMENTS_CSV
    records = _read_csv(records_path, ("subject_id", "study_id", "path"), low_memory=False)
    measures = _read_csv(measures_path, ("subject_id", "study_id"), low_memory=False)
    report_fields = sorted(
        (c for c in measures.columns if _REPORT_FIELD.match(str(c))),
        key=lambda c: int(_REPORT_FIELD.match(str(c)).group(1)),  # type: ignore[union-attr]
    )
    if not report_fields:
        raise InputError("no report_0 … report_17 columns", path=measures_path)

    records = records.assign(
        _study=[_as_id(v) for v in records["study_id"]],
        _subject=[_as_id(v) for v in records["subject_id"]],
    )
    measures = measures.assign(
        _study=[_as_id(v) for v in measures["study_id"]],
        _subject=[_as_id(v) for v in measures["subject_id"]],
    )
    _check_unique(records, records_path)
    _check_unique(measures, measures_path)
    present_measures = [m for m in MEASUREMENTS if m in measures.columns]
    keep_measures = ["_study", "_subject", *report_fields, *present_measures]
    if "ecg_time" in measures.columns:
        keep_measures.append("ecg_time")
    merged = records.merge(
        measures[keep_measures].rename(columns={"_subject": "_mm_subject", "ecg_time": "_mm_time"}),
        on="_study",
        how="left",
        indicator="_found",
    )
    dropped_ids: dict[str, list[str]] = {
        "no_measurements": [],
        "short_report": [],
        "missing_files": [],
    }
    missing: list[tuple[str, str, str]] = []
    rows: list[dict[str, Any]] = []
    records_time = _column(merged, "ecg_time")
    measures_time = _column(merged, "_mm_time")
    field_values = [merged[c].tolist() for c in report_fields]
    measure_values = {c: merged[c].tolist() for c in present_measures}
    for i, (study, subject, mm_subject, found, path) in enumerate(
        zip(
            merged["_study"],
            merged["_subject"],
            merged["_mm_subject"],
            merged["_found"] == "both",
            merged["path"],
            strict=True,
        )
    ):
        if study is None or subject is None:
            raise InputError("subject_id and study_id are required", path=records_path, row=i)
        row: dict[str, Any] = {
            "patient_id": subject,
            "record_id": study,
            "ecg": _record_ref(path, root, absolute_paths, normalize=True),
            "ecg_time": _text(records_time[i]) or _text(measures_time[i]),
            "report": None,
        }
        if found:
            if mm_subject != subject:
                raise InputError(
                    f"study_id {study}: subject_id {mm_subject} here but {subject} in "
                    f"{RECORD_LIST_CSV}",
                    path=measures_path,
                )
            fields = [values[i] for values in field_values]
            if clean:
                row["report"] = clean_report(fields, dedupe=dedupe) or None
            else:
                raw = [str(f).strip() for f in fields if _text(f) is not None]
                row["report"] = ". ".join(raw) or None
            for col in present_measures:
                row[col] = measure_values[col][i]
        elif clean:
            dropped_ids["no_measurements"].append(study)
            continue
        if clean and word_count(row["report"]) < min_words:
            dropped_ids["short_report"].append(study)
            continue
        if check_files:
            ref = row["ecg"]
            reason = f"no path in {RECORD_LIST_CSV}" if ref is None else _missing_reason(root / ref)
            if reason:
                missing.append((study, "" if ref is None else str(root / ref), reason))
                if drop_missing:
                    dropped_ids["missing_files"].append(study)
                    continue
        rows.append(row)

    columns = ["patient_id", "record_id", "ecg", "ecg_time", "report", *present_measures]
    frame = pd.DataFrame(rows, columns=columns)
    for col in present_measures:
        if col in _NUMERIC_MEASUREMENTS:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    frame.attrs["dropped"] = {reason: len(ids) for reason, ids in dropped_ids.items()}
    frame.attrs["dropped_ids"] = dropped_ids
    frame.attrs["missing"] = missing
    frame.attrs["source"] = str(root)
    return frame


def mimic_iv_ecg_schema(frame: pd.DataFrame | None = None) -> Any:
    """The :class:`~biomm.cohort.CohortSchema` of a :func:`load_mimic_iv_ecg` table.

    ``record_id`` is the sample id (a patient has many ECGs), ``ecg`` and ``report`` the
    modalities, and the numeric machine measurements (those in ``frame``, when given)
    continuous EHR features.

    Examples:
        >>> mimic_iv_ecg_schema().sample_id, sorted(mimic_iv_ecg_schema().modalities)
        ('record_id', ['ecg', 'report'])
    """
    from biomm.cohort.schema import CohortSchema, EHRSpec, ModalitySpec

    numeric = [m for m in _NUMERIC_MEASUREMENTS if frame is None or m in frame.columns]
    return CohortSchema(
        patient_id="patient_id",
        sample_id="record_id",
        modalities={
            "ecg": ModalitySpec(column="ecg"),
            "report": ModalitySpec(column="report"),
        },
        ehr=EHRSpec(columns=numeric, types=dict.fromkeys(numeric, "continuous"))
        if numeric
        else None,
    )


def write_example_mimic_iv_ecg(folder: str | PathLike[str], *, seconds: float = 1.0) -> Path:
    """Write a four-study MIMIC-IV-ECG-shaped folder (real WFDB files, official columns).

    Study 4 has no machine measurements and study 3 a two-word report, so MERL's cleaning
    drops both.

    Examples:
        >>> import tempfile
        >>> sorted(p.name for p in write_example_mimic_iv_ecg(tempfile.mkdtemp()).iterdir())
        ['files', 'machine_measurements.csv', 'record_list.csv']
    """
    from biomm.demo.synthetic import synthetic_ecg, write_wfdb

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    studies = [  # subject, study, report fields
        (
            10000032,
            40689238,
            ["Sinus rhythm", "Possible left atrial enlargement", "Borderline ECG"],
        ),
        (10000032, 44458630, ["Sinus bradycardia", "Normal EKG", "Unconfirmed report"]),
        (10000117, 45090959, ["*** Normal ECG ***"]),
        (10000560, 40000017, None),
    ]
    rng = np.random.default_rng(0)
    record_rows, measure_rows = [], []
    for subject, study, fields in studies:
        path = f"files/p{str(subject)[:4]}/p{subject}/s{study}/{study}"
        write_wfdb(root / path, synthetic_ecg(rng, 500, seconds, 70.0, 0.0), 500, [])
        record_rows.append(
            {
                "subject_id": subject,
                "study_id": study,
                "file_name": study,
                "ecg_time": "2180-07-23 08:44:00",
                "path": path,
            }
        )
        if fields is None:
            continue
        row: dict[str, Any] = {
            "subject_id": subject,
            "study_id": study,
            "cart_id": 6848296,
            "ecg_time": "2180-07-23 08:44:00",
        }
        row.update({f"report_{k}": (fields[k] if k < len(fields) else None) for k in range(18)})
        row.update(
            {
                "bandwidth": "0.005-150 Hz",
                "filtering": "60 Hz  Notch Filter",
                "rr_interval": 659,
                "p_onset": 40,
                "p_end": 128,
                "qrs_onset": 170,
                "qrs_end": 258,
                "t_end": 518,
                "p_axis": 81,
                "qrs_axis": 77,
                "t_axis": 79,
            }
        )
        measure_rows.append(row)
    pd.DataFrame(record_rows).to_csv(root / RECORD_LIST_CSV, index=False)
    pd.DataFrame(measure_rows).to_csv(root / MEASUREMENTS_CSV, index=False)
    return root


# ---- helpers --------------------------------------------------------------------------------


def _check_unique(frame: pd.DataFrame, path: Path) -> None:
    duplicated = frame["_study"].dropna().duplicated()
    if duplicated.any():
        first = frame["_study"].dropna()[duplicated].iloc[0]
        count = int(duplicated.sum())
        raise InputError(f"study_id {first} appears more than once ({count} repeats)", path=path)
