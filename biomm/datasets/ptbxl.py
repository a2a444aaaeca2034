"""PTB-XL (PhysioNet 1.0.3) as a biomm cohort manifest with aggregated multi-label targets.

Reads the official layout: ``ptbxl_database.csv`` (one row per ECG, index ``ecg_id``, SCP-ECG
statements in ``scp_codes`` as a Python dict literal of code → likelihood),
``scp_statements.csv`` (one row per statement code, with the ``diagnostic``/``form``/
``rhythm`` flags and the ``diagnostic_class``/``diagnostic_subclass`` aggregation) and the WFDB
records under ``records100/`` (100 Hz, ``filename_lr``) and ``records500/`` (500 Hz,
``filename_hr``).

Label sets follow the benchmark of Strodthoff et al. (2021, "Deep learning for ECG analysis:
benchmarks and insights from PTB-XL"):

=============  ====================================================================
``superclass``  ``diagnostic_class`` of every code flagged ``diagnostic`` (5 classes)
``subclass``    ``diagnostic_subclass`` of every diagnostic code (23 classes)
``diagnostic``  the diagnostic codes themselves (44)
``form``        codes flagged ``form`` (19)
``rhythm``      codes flagged ``rhythm`` (12)
``all``         every code (71)
=============  ====================================================================

Classes are every label the set can take according to ``scp_statements.csv``, sorted as
Python sorts strings (the order scikit-learn's ``MultiLabelBinarizer`` gives in the benchmark).
Likelihoods are ignored by the benchmark; ``min_likelihood`` can require one (note that PTB-XL
gives form and rhythm statements a likelihood of 0, so any positive threshold removes them).
The benchmark *drops* records without any label of the chosen set; here they are kept with
all-zero labels and ``has_label == False`` so that one table serves every label set —
:meth:`PTBXL.labelled` gives the benchmark's selection.

Examples:
    >>> import tempfile
    >>> root = write_example_ptbxl(tempfile.mkdtemp())
    >>> ds = load_ptbxl(root, label_set="superclass")
    >>> ds.classes
    ['CD', 'HYP', 'MI', 'NORM', 'STTC']
    >>> ds.frame[["patient_id", "record_id", "split", "has_label"]].head(2)
      patient_id record_id  split  has_label
    0      15709         1  train       True
    1      13243         2  train       True
    >>> ds.labels()[:2].tolist()
    [[0.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]]
"""

from __future__ import annotations

import ast
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal, NamedTuple

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

DATABASE_CSV = "ptbxl_database.csv"
STATEMENTS_CSV = "scp_statements.csv"

#: The label sets :func:`load_ptbxl` can aggregate to.
LABEL_SETS: tuple[str, ...] = ("superclass", "subclass", "diagnostic", "form", "rhythm", "all")
LabelSet = Literal["superclass", "subclass", "diagnostic", "form", "rhythm", "all"]

#: The recommended split of the PTB-XL authors: folds 1–8 train, 9 validation, 10 test.
RECOMMENDED_SPLITS: dict[str, tuple[int, ...]] = {
    "train": (1, 2, 3, 4, 5, 6, 7, 8),
    "val": (9,),
    "test": (10,),
}

#: Prefix of the 0/1 label columns: ``label_NORM``, ``label_LAO/LAE`` …
LABEL_PREFIX = "label_"

_DATABASE_COLUMNS = (
    "ecg_id",
    "patient_id",
    "scp_codes",
    "strat_fold",
    "filename_lr",
    "filename_hr",
)
_STATEMENT_COLUMNS = ("diagnostic", "form", "rhythm", "diagnostic_class", "diagnostic_subclass")
_FILE_COLUMN = {100: "filename_lr", 500: "filename_hr"}
_SEX = {0: "M", 1: "F"}
#: Ages above this are not real ages but PTB-XL's de-identification code for "90 or older".
_AGE_CODE_ABOVE = 120.0


class MissingRecord(NamedTuple):
    """A record listed in ``ptbxl_database.csv`` whose WFDB files are not on disk.

    Examples:
        >>> MissingRecord("7", "/data/records100/00000/00007_lr", "WFDB header (.hea) not found")[0]
        '7'
    """

    record_id: str
    path: str
    reason: str


class ManifestFiles(NamedTuple):
    """The files :meth:`PTBXL.to_manifest` wrote.

    Examples:
        >>> ManifestFiles(Path("ptbxl.csv"), Path("ptbxl.schema.yaml")).schema.name
        'ptbxl.schema.yaml'
    """

    manifest: Path
    schema: Path


@dataclass
class PTBXL:
    """PTB-XL loaded as a manifest table with one 0/1 column per label.

    Attributes:
        frame: One row per ECG: ``patient_id`` (text), ``record_id`` (the ``ecg_id``, text),
            ``ecg`` (WFDB record path without extension, relative to ``root`` unless loaded
            with ``absolute_paths=True``), ``report``, ``age``, ``sex`` (``M``/``F``),
            ``strat_fold``, ``split``, ``codes`` (the record's SCP codes, ``;``-joined),
            ``has_label`` and ``label_<class>`` for every class, plus any extra columns asked
            for.
        classes: The label names, in column order.
        label_set: The label set the labels were aggregated to.
        rate: Sampling rate of the referenced records (100 or 500 Hz).
        root: The dataset folder.
        missing: Records whose files are missing (dropped from ``frame`` unless loaded with
            ``drop_missing=False``).

    Examples:
        >>> import tempfile
        >>> ds = load_ptbxl(write_example_ptbxl(tempfile.mkdtemp()), label_set="rhythm")
        >>> ds.classes[:3], ds.label_columns[:1]
        (['AFIB', 'AFLT', 'BIGU'], ['label_AFIB'])
    """

    frame: pd.DataFrame
    classes: list[str]
    label_set: str
    rate: int
    root: Path
    missing: list[MissingRecord] = field(default_factory=list)

    @property
    def label_columns(self) -> list[str]:
        """The 0/1 label columns of :attr:`frame`, in class order."""
        return [LABEL_PREFIX + c for c in self.classes]

    def __len__(self) -> int:
        return len(self.frame)

    def labels(self, split: str | None = None, *, dtype: Any = np.float32) -> np.ndarray:
        """The ``[N, C]`` 0/1 label matrix (of one split when ``split`` is given).

        Examples:
            >>> import tempfile
            >>> ds = load_ptbxl(write_example_ptbxl(tempfile.mkdtemp()))
            >>> ds.labels().shape, ds.labels("test").shape
            ((6, 5), (2, 5))
        """
        frame = self.frame if split is None else self.split_frame(split)
        return frame[self.label_columns].to_numpy(dtype=dtype)

    def split_frame(self, name: str) -> pd.DataFrame:
        """The rows of split ``name`` (``train``, ``val`` or ``test``), index reset.

        Raises:
            InputError: For a split name that no row has.

        Examples:
            >>> import tempfile
            >>> ds = load_ptbxl(write_example_ptbxl(tempfile.mkdtemp()))
            >>> ds.split_frame("val")["record_id"].tolist()
            ['4']
        """
        known = sorted(s for s in self.frame["split"].dropna().unique())
        if name not in known:
            raise InputError(f"no split {name!r}; this dataset has {known}", path=self.root)
        return self.frame[self.frame["split"] == name].reset_index(drop=True)

    def labelled(self) -> PTBXL:
        """Only the records with at least one label (the Strodthoff et al. benchmark's rows).

        Examples:
            >>> import tempfile
            >>> ds = load_ptbxl(write_example_ptbxl(tempfile.mkdtemp()))
            >>> len(ds), len(ds.labelled())
            (6, 5)
        """
        kept = self.frame[self.frame["has_label"]].reset_index(drop=True)
        return PTBXL(kept, list(self.classes), self.label_set, self.rate, self.root, self.missing)

    def schema(self) -> Any:
        """The :class:`~biomm.cohort.CohortSchema` of :attr:`frame`.

        ``record_id`` is the sample id (a patient has several ECGs), ``split`` and
        ``strat_fold`` the split and fold, ``ecg`` and ``report`` the modalities, ``age`` and
        ``sex`` EHR features, and the label columns one multilabel target named after the
        label set.

        Examples:
            >>> import tempfile
            >>> ds = load_ptbxl(write_example_ptbxl(tempfile.mkdtemp()), label_set="form")
            >>> ds.schema().targets["form"].type
            'multilabel'
        """
        from biomm.cohort.schema import CohortSchema, EHRSpec, ModalitySpec, TargetSpec

        return CohortSchema(
            patient_id="patient_id",
            sample_id="record_id",
            split="split",
            fold="strat_fold",
            modalities={
                "ecg": ModalitySpec(column="ecg"),
                "report": ModalitySpec(column="report"),
            },
            ehr=EHRSpec(columns=["age", "sex"], types={"age": "continuous", "sex": "categorical"}),
            targets={self.label_set: TargetSpec(type="multilabel", columns=self.label_columns)},
        )

    def to_manifest(
        self, path: str | PathLike[str], *, schema_path: str | PathLike[str] | None = None
    ) -> ManifestFiles:
        """Write the manifest (CSV/TSV/Parquet by extension) and its schema YAML.

        ECG paths are written relative to the manifest's folder when the records lie inside
        it, and absolute otherwise, so :meth:`biomm.cohort.Cohort.from_file` resolves them.

        Args:
            path: The manifest file.
            schema_path: The schema file (default: ``<manifest stem>.schema.yaml`` next to it).

        Examples:
            >>> import tempfile
            >>> from biomm.cohort import Cohort
            >>> ds = load_ptbxl(write_example_ptbxl(tempfile.mkdtemp()))
            >>> files = ds.to_manifest(ds.root / "ptbxl.csv")
            >>> cohort = Cohort.from_file(files.manifest, files.schema)
            >>> cohort.validate().ok
            True
        """
        from biomm.utils.atomic import atomic_write_table, atomic_write_text

        path = Path(path)
        folder = Path(os.path.normpath(path.parent.absolute()))
        schema_file = Path(schema_path) if schema_path else path.with_suffix(".schema.yaml")
        table = self.frame.copy()
        table["ecg"] = [_manifest_path(self.root, ref, folder) for ref in table["ecg"]]
        atomic_write_table(table, path)
        atomic_write_text(schema_file, self.schema().to_yaml())
        return ManifestFiles(path, schema_file)


def load_ptbxl(
    root: str | PathLike[str],
    *,
    rate: int = 100,
    label_set: LabelSet = "superclass",
    min_likelihood: float = 0.0,
    splits: Mapping[str, Iterable[int]] | None = None,
    check_files: bool = True,
    drop_missing: bool = True,
    absolute_paths: bool = False,
    extra_columns: Sequence[str] = (),
) -> PTBXL:
    """Load PTB-XL from its official folder layout.

    Args:
        root: The folder holding ``ptbxl_database.csv``, ``scp_statements.csv`` and
            ``records100/``/``records500/``.
        rate: 100 (``filename_lr``) or 500 Hz (``filename_hr``) records.
        label_set: ``superclass``, ``subclass``, ``diagnostic``, ``form``, ``rhythm`` or
            ``all`` (see the module docstring).
        min_likelihood: Only codes with at least this likelihood (0–100) count.
        splits: Split name → folds; default :data:`RECOMMENDED_SPLITS`. Names must be
            ``train``/``val``/``test``; records of unlisted folds get no split.
        check_files: Check that each record's ``.hea`` and ``.dat`` exist.
        drop_missing: Drop records whose files are missing (they are listed in
            :attr:`PTBXL.missing` either way).
        absolute_paths: Write absolute ``ecg`` paths instead of root-relative ones.
        extra_columns: Further ``ptbxl_database.csv`` columns to copy (e.g. ``heart_axis``).

    Raises:
        InputError: Naming the file: a CSV missing or unreadable, a required column absent,
            an unparsable ``scp_codes`` cell (with its ``ecg_id``), a code not in
            ``scp_statements.csv``, a bad ``strat_fold``, or a bad argument.

    Examples:
        >>> import tempfile
        >>> ds = load_ptbxl(write_example_ptbxl(tempfile.mkdtemp()), label_set="subclass")
        >>> ds.frame.loc[3, "codes"], ds.frame[["label_LAFB/LPFB", "label_IRBBB"]].iloc[3].tolist()
        ('AFIB;IRBBB;LAFB', [1, 1])
    """
    root = Path(root).expanduser()
    if rate not in _FILE_COLUMN:
        raise InputError(f"rate must be 100 or 500 Hz, got {rate!r}", path=root)
    if label_set not in LABEL_SETS:
        raise InputError(
            f"unknown label_set {label_set!r}; expected one of {', '.join(LABEL_SETS)}", path=root
        )
    if not (isinstance(min_likelihood, int | float) and 0.0 <= float(min_likelihood) <= 100.0):
        raise InputError(f"min_likelihood must be in [0, 100], got {min_likelihood!r}", path=root)
    fold_to_split = _fold_map(splits if splits is not None else RECOMMENDED_SPLITS, root)

    if not root.is_dir():
        raise InputError("PTB-XL folder not found", path=root)
    database_path = root / DATABASE_CSV
    database = _read_csv(database_path, (*_DATABASE_COLUMNS, *extra_columns))
    statements_path = root / STATEMENTS_CSV
    statements = _read_csv(statements_path, _STATEMENT_COLUMNS, index_col=0)
    statements.index = [str(code).strip() for code in statements.index]

    mapping, classes = label_mapping(statements, label_set)
    ids = [_as_id(v) for v in database["ecg_id"]]
    seen: dict[str | None, int] = {}
    for row, record_id in enumerate(ids):
        if record_id is None:
            raise InputError("ecg_id is empty", path=database_path, row=row)
        if record_id in seen:
            raise InputError(
                f"ecg_id {record_id} appears twice (rows {seen[record_id]} and {row})",
                path=database_path,
                row=row,
            )
        seen[record_id] = row
    codes_per_row = [
        _parse_scp_codes(cell, record_id, row, database_path)
        for row, (cell, record_id) in enumerate(zip(database["scp_codes"], ids, strict=True))
    ]
    known = set(statements.index)
    for row, (codes, record_id) in enumerate(zip(codes_per_row, ids, strict=True)):
        unknown = sorted(set(codes) - known)
        if unknown:
            raise InputError(
                f"ecg_id {record_id}: SCP code(s) {unknown} are not in {STATEMENTS_CSV}",
                path=database_path,
                row=row,
            )
    folds = [
        _as_fold(v, rid, row, database_path)
        for row, (v, rid) in enumerate(zip(database["strat_fold"], ids, strict=True))
    ]

    frame = pd.DataFrame(
        {
            "patient_id": [_as_id(v) for v in database["patient_id"]],
            "record_id": ids,
            "ecg": [_record_ref(v, root, absolute_paths) for v in database[_FILE_COLUMN[rate]]],
            "report": [_text(v) for v in _column(database, "report")],
            "age": [_age(v) for v in _column(database, "age")],
            "sex": [_sex(v) for v in _column(database, "sex")],
            "strat_fold": folds,
            "split": [fold_to_split.get(f) for f in folds],
            "codes": [";".join(sorted(codes)) for codes in codes_per_row],
        }
    )
    for col in extra_columns:
        if col in frame:
            raise InputError(f"extra column {col!r} clashes with a manifest column", path=root)
        frame[col] = database[col].to_numpy()
    matrix = np.zeros((len(frame), len(classes)), dtype=np.int64)
    index = {name: k for k, name in enumerate(classes)}
    for row, codes in enumerate(codes_per_row):
        for code, likelihood in codes.items():
            if likelihood >= min_likelihood and code in mapping:
                matrix[row, index[mapping[code]]] = 1
    frame["has_label"] = matrix.any(axis=1)
    labels = pd.DataFrame(matrix, columns=[LABEL_PREFIX + c for c in classes])
    frame = pd.concat([frame, labels], axis=1)

    missing: list[MissingRecord] = []
    if check_files:
        keep = np.ones(len(frame), dtype=bool)
        column = _FILE_COLUMN[rate]
        for row, ref in enumerate(frame["ecg"]):
            if ref is None:
                reason: str | None = f"no {column} in {DATABASE_CSV}"
            else:
                reason = _missing_reason(root / ref)
            if reason:
                where = "" if ref is None else str(root / ref)
                missing.append(MissingRecord(frame.at[row, "record_id"], where, reason))
                keep[row] = False
        if drop_missing:
            frame = frame[keep].reset_index(drop=True)
    return PTBXL(frame, classes, label_set, rate, root, missing)


def label_mapping(statements: pd.DataFrame, label_set: str) -> tuple[dict[str, str], list[str]]:
    """Map each SCP code to its label in ``label_set``; also return the sorted classes.

    Args:
        statements: ``scp_statements.csv`` indexed by code.
        label_set: One of :data:`LABEL_SETS`.

    Examples:
        >>> st = pd.DataFrame({"diagnostic": [1.0, None], "form": [None, None],
        ...     "rhythm": [None, 1.0], "diagnostic_class": ["NORM", None],
        ...     "diagnostic_subclass": ["NORM", None]}, index=["NORM", "SR"])
        >>> label_mapping(st, "superclass")
        ({'NORM': 'NORM'}, ['NORM'])
        >>> label_mapping(st, "all")[1]
        ['NORM', 'SR']
    """
    if label_set not in LABEL_SETS:
        raise InputError(f"unknown label_set {label_set!r}; expected one of {LABEL_SETS}")

    def flagged(column: str) -> pd.DataFrame:
        return statements[pd.to_numeric(statements[column], errors="coerce") == 1]

    mapping: dict[str, str]
    if label_set in ("superclass", "subclass"):
        column = "diagnostic_class" if label_set == "superclass" else "diagnostic_subclass"
        rows = flagged("diagnostic")
        mapping = {
            str(code): str(value).strip()
            for code, value in rows[column].items()
            if _text(value) is not None
        }
    elif label_set == "all":
        mapping = {str(code): str(code) for code in statements.index}
    else:
        mapping = {str(code): str(code) for code in flagged(label_set).index}
    return mapping, sorted(set(mapping.values()))


def write_example_ptbxl(folder: str | PathLike[str], *, seconds: float = 1.0) -> Path:
    """Write a six-record PTB-XL-shaped folder (real WFDB files, official CSV columns).

    For examples and tests; the statement table holds the real flags of the codes it uses.

    Examples:
        >>> import tempfile
        >>> sorted(p.name for p in write_example_ptbxl(tempfile.mkdtemp()).iterdir())
        ['ptbxl_database.csv', 'records100', 'records500', 'scp_statements.csv']
    """
    from biomm.demo.synthetic import synthetic_ecg

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    statements = pd.DataFrame(
        [
            ("NORM", "normal ECG", 1.0, None, None, "NORM", "NORM"),
            ("IMI", "inferior myocardial infarction", 1.0, None, None, "MI", "IMI"),
            ("NDT", "non-diagnostic T abnormalities", 1.0, 1.0, None, "STTC", "STTC"),
            ("LAFB", "left anterior fascicular block", 1.0, None, None, "CD", "LAFB/LPFB"),
            ("IRBBB", "incomplete right bundle branch block", 1.0, None, None, "CD", "IRBBB"),
            ("ISCAL", "ischemic in anterolateral leads", 1.0, None, None, "STTC", "ISCA"),
            ("LVH", "left ventricular hypertrophy", 1.0, None, None, "HYP", "LVH"),
            ("ABQRS", "abnormal QRS", None, 1.0, None, None, None),
            ("PVC", "ventricular premature complex", None, 1.0, None, None, None),
            ("LVOLT", "low QRS voltages", None, 1.0, None, None, None),
            ("SR", "sinus rhythm", None, None, 1.0, None, None),
            ("AFIB", "atrial fibrillation", None, None, 1.0, None, None),
            ("STACH", "sinus tachycardia", None, None, 1.0, None, None),
            ("AFLT", "atrial flutter", None, None, 1.0, None, None),
            ("BIGU", "bigeminal pattern", None, None, 1.0, None, None),
        ],
        columns=[
            "code",
            "description",
            "diagnostic",
            "form",
            "rhythm",
            "diagnostic_class",
            "diagnostic_subclass",
        ],
    ).set_index("code")
    for col in (
        "Statement Category",
        "SCP-ECG Statement Description",
        "AHA code",
        "aECG REFID",
        "CDISC Code",
        "DICOM Code",
    ):
        statements[col] = None
    statements.index.name = None
    statements.to_csv(root / STATEMENTS_CSV)
    records = [  # ecg_id, patient_id, scp_codes, strat_fold, age, sex, report
        (1, 15709.0, {"NORM": 100.0, "SR": 0.0}, 1, 56.0, 1, "sinusrhythmus normales ekg"),
        (2, 13243.0, {"IMI": 80.0, "ABQRS": 0.0, "SR": 0.0}, 3, 70.0, 0, "inferior infarct"),
        (3, 15709.0, {"NDT": 100.0, "SR": 0.0}, 1, 57.0, 1, "t abnormality"),
        (4, 20372.0, {"LAFB": 100.0, "IRBBB": 50.0, "AFIB": 0.0}, 9, 300.0, 0, "afib lafb"),
        (5, 17014.0, {"PVC": 0.0, "STACH": 0.0}, 10, 33.0, 1, "sinus tachycardia pvc"),
        (6, 19005.0, {"ISCAL": 35.0, "LVOLT": 0.0, "SR": 0.0}, 10, 81.0, 0, "ischemia"),
    ]
    rng = np.random.default_rng(0)
    rows = []
    for ecg_id, patient, codes, fold, age, sex, report in records:
        folder_name = f"{(ecg_id // 1000) * 1000:05d}"
        lr = f"records100/{folder_name}/{ecg_id:05d}_lr"
        hr = f"records500/{folder_name}/{ecg_id:05d}_hr"
        for ref, fs in ((lr, 100), (hr, 500)):
            signal = synthetic_ecg(rng, fs, seconds, 70.0, 0.0)
            _write_ptbxl_record(root / ref, signal, fs)
        rows.append(
            {
                "ecg_id": ecg_id,
                "patient_id": patient,
                "age": age,
                "sex": sex,
                "height": None,
                "weight": None,
                "nurse": None,
                "site": 0.0,
                "device": "CS-12   E",
                "recording_date": "1995-01-01 10:00:00",
                "report": report,
                "scp_codes": repr(codes),
                "heart_axis": None,
                "infarction_stadium1": None,
                "infarction_stadium2": None,
                "validated_by": None,
                "second_opinion": False,
                "initial_autogenerated_report": False,
                "validated_by_human": True,
                "baseline_drift": None,
                "static_noise": None,
                "burst_noise": None,
                "electrodes_problems": None,
                "extra_beats": None,
                "pacemaker": None,
                "strat_fold": fold,
                "filename_lr": lr,
                "filename_hr": hr,
            }
        )
    pd.DataFrame(rows).to_csv(root / DATABASE_CSV, index=False)
    return root


# ---- helpers --------------------------------------------------------------------------------


def _write_ptbxl_record(stem: Path, signal: np.ndarray, fs: int) -> None:
    """A WFDB record as PTB-XL stores it: upper-case augmented lead names, 1 µV resolution."""
    import wfdb

    stem.parent.mkdir(parents=True, exist_ok=True)
    names = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    wfdb.wrsamp(
        record_name=stem.name,
        fs=fs,
        units=["mV"] * 12,
        sig_name=names,
        p_signal=signal,
        fmt=["16"] * 12,
        adc_gain=[1000.0] * 12,
        baseline=[0] * 12,
        write_dir=str(stem.parent),
    )


def _int_or_none(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and number.is_integer() else None


def _sex(value: Any) -> str | None:
    code = _int_or_none(value)
    return None if code is None else _SEX.get(code)


def _age(value: Any) -> float | None:
    if _is_missing(value):
        return None
    try:
        age = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(age) or age < 0:
        return None
    return 90.0 if age > _AGE_CODE_ABOVE else age


def _parse_scp_codes(cell: Any, record_id: str | None, row: int, path: Path) -> dict[str, float]:
    where = f"ecg_id {record_id}: scp_codes"
    if _is_missing(cell):
        return {}
    try:
        value = ast.literal_eval(str(cell))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise InputError(
            f"{where} is not a dict literal like {{'NORM': 100.0}}: {str(cell)[:80]!r}",
            path=path,
            row=row,
        ) from None
    if not isinstance(value, dict):
        raise InputError(f"{where} is a {type(value).__name__}, not a dict", path=path, row=row)
    codes: dict[str, float] = {}
    for code, likelihood in value.items():
        if not isinstance(code, str) or isinstance(likelihood, bool):
            raise InputError(
                f"{where} has a bad entry {code!r}: {likelihood!r}", path=path, row=row
            )
        try:
            codes[code.strip()] = float(likelihood)
        except (TypeError, ValueError):
            raise InputError(
                f"{where}: likelihood of {code!r} is not a number: {likelihood!r}",
                path=path,
                row=row,
            ) from None
    return codes


def _as_fold(value: Any, record_id: str | None, row: int, path: Path) -> int:
    fold = _int_or_none(value)
    if fold is None:
        raise InputError(
            f"ecg_id {record_id}: strat_fold must be an integer, got {value!r}", path=path, row=row
        )
    return fold


def _fold_map(splits: Mapping[str, Iterable[int]], root: Path) -> dict[int, str]:
    fold_to_split: dict[int, str] = {}
    for name, folds in splits.items():
        if name not in RECOMMENDED_SPLITS:
            raise InputError(f"split names must be train, val or test, got {name!r}", path=root)
        for fold in folds:
            if fold in fold_to_split:
                raise InputError(
                    f"fold {fold} is in both {fold_to_split[fold]!r} and {name!r}", path=root
                )
            fold_to_split[int(fold)] = name
    return fold_to_split


def _manifest_path(root: Path, ref: str | None, folder: Path) -> str | None:
    if ref is None:
        return None
    full = Path(os.path.normpath((root / ref).absolute()))
    try:
        return full.relative_to(folder).as_posix()
    except ValueError:
        return str(full)
