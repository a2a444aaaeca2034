"""The cohort manifest: one validated table of patients, their modality files and targets.

Examples:
    >>> import pandas as pd
    >>> from biomm import Cohort
    >>> df = pd.DataFrame({
    ...     "patient_id": ["p1", "p2", "p3"],
    ...     "report": ["Invasive carcinoma.", None, "Benign."],
    ...     "label": [1, 0, 0],
    ... })
    >>> cohort = Cohort(df)
    >>> cohort.modalities
    ['report']
    >>> cohort.availability().patterns["n_patients"].tolist()
    [2, 1]
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from biomm.cohort.report import ValidationReport
from biomm.cohort.schema import CohortSchema, infer_schema
from biomm.cohort.tables import LINE_NUMBERS, coerce_numeric, normalise_ids, read_table
from biomm.cohort.targets import ParsedTarget, parse_target
from biomm.cohort.validate import normalise_split
from biomm.errors import BiommError, ManifestError

if TYPE_CHECKING:  # torch is imported only when samples are made, keeping the CLI fast
    from biomm.data.sample import Sample

#: Extensions that make a ``report`` cell a file path rather than inline text.
REPORT_FILE_SUFFIXES = (".txt", ".md", ".text")


@dataclass(frozen=True)
class Availability:
    """Which patient has which modality.

    Attributes:
        matrix: Boolean DataFrame, patients (index) × modalities (columns).
        patterns: One row per availability pattern: a boolean column per modality,
            ``n_patients`` and ``fraction``, most frequent first.
    """

    matrix: pd.DataFrame
    patterns: pd.DataFrame

    def counts(self) -> pd.Series:
        """Patients with each modality.

        Examples:
            >>> import pandas as pd
            >>> m = pd.DataFrame({"ecg": [True, False]}, index=["a", "b"])
            >>> Availability(m, pd.DataFrame()).counts().to_dict()
            {'ecg': 1}
        """
        return self.matrix.sum().astype(int)


class Cohort:
    """A cohort manifest: patients (or samples) × modality references, EHR and targets.

    Construction never fails on bad rows: :meth:`validate` reports every problem. It fails only
    when the table cannot be read at all.

    Args:
        table: One row per patient, or per sample with a patient id column.
        schema: Column roles; inferred from conventional names when None.
        data_root: Folder that relative paths resolve against (default: the manifest's
            folder, or the working directory for a DataFrame).
        source: The manifest file the table came from, used in messages.

    Examples:
        >>> Cohort(pd.DataFrame({"patient_id": ["a"], "ecg": ["ecg/a.hea"]})).modalities
        ['ecg']
    """

    def __init__(
        self,
        table: pd.DataFrame,
        schema: CohortSchema | None = None,
        *,
        data_root: str | PathLike[str] | None = None,
        source: str | PathLike[str] | None = None,
    ) -> None:
        if not isinstance(table, pd.DataFrame):
            raise ManifestError(f"a cohort table must be a pandas DataFrame, got {type(table)}")
        self.schema = schema if schema is not None else infer_schema(table)
        self.source = None if source is None else Path(source)
        self.root_is_explicit = data_root is not None
        if data_root is not None:
            root = Path(data_root).expanduser()
        elif self.source is not None:
            root = self.source.parent
        else:
            root = Path.cwd()
        self.data_root = Path(os.path.normpath(root.absolute()))
        #: 1-based file line of each row (CSV/TSV manifests), else None.
        self.line_numbers = _line_numbers(table)
        keep_text = tuple(self.schema.text_columns())
        table = coerce_numeric(table.reset_index(drop=True), keep_text=keep_text)
        table.attrs.pop(LINE_NUMBERS, None)  # pandas deep-copies attrs on every indexing
        table.columns = [str(c) for c in table.columns]
        for col in (self.schema.patient_id, self.schema.sample_id):
            if col and col in table:
                table[col] = normalise_ids(table[col])
        self.table = table
        self._ehr_table: pd.DataFrame | None = None
        #: 1-based file line of each row of the EHR table (once read), else None.
        self.ehr_line_numbers: list[int] | None = None

    # ---- construction -------------------------------------------------------------------

    @classmethod
    def from_file(
        cls,
        path: str | PathLike[str],
        schema: CohortSchema | str | PathLike[str] | None = None,
        *,
        data_root: str | PathLike[str] | None = None,
    ) -> Cohort:
        """Read a manifest from CSV, TSV or Parquet.

        Args:
            path: The manifest file.
            schema: A :class:`CohortSchema`, a path to a schema YAML, or None to infer.
            data_root: Folder for relative paths (default: the manifest's folder).

        Raises:
            ManifestError: When the file cannot be read as a table.
            SchemaError: When the schema file is invalid.

        Examples:
            >>> import tempfile, pathlib
            >>> d = pathlib.Path(tempfile.mkdtemp())
            >>> _ = (d / "cohort.csv").write_text("patient_id,fundus\\np1,img/p1.png\\n")
            >>> Cohort.from_file(d / "cohort.csv").resolve("img/p1.png") == d / "img/p1.png"
            True
        """
        if schema is not None and not isinstance(schema, CohortSchema):
            schema = CohortSchema.from_yaml(schema)
        return cls(read_table(path), schema, data_root=data_root, source=path)

    # ---- basic views --------------------------------------------------------------------

    @property
    def modalities(self) -> list[str]:
        """Declared modalities, in canonical order, with ``ehr`` last when declared."""
        names = list(self.schema.modalities)
        if self.schema.ehr is not None and (self.schema.ehr.columns or self.schema.ehr.table):
            names.append("ehr")
        return names

    @property
    def patient_ids(self) -> list[str]:
        """Unique patient ids in manifest order (blank ids excluded)."""
        col = self.schema.patient_id
        if col not in self.table:
            return []
        ids = self.table[col].dropna().astype(str)
        return list(dict.fromkeys(i for i in ids if i.strip()))

    @property
    def target_names(self) -> list[str]:
        """Declared target names."""
        return list(self.schema.targets)

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        src = f", source={str(self.source)!r}" if self.source else ""
        return (
            f"Cohort(rows={len(self)}, patients={len(self.patient_ids)}, "
            f"modalities={self.modalities}, targets={self.target_names}{src})"
        )

    # ---- references ---------------------------------------------------------------------

    def references(self, modality: str, row: int) -> list[str]:
        """The raw references of ``modality`` in manifest ``row`` (several for ``a.svs;b.svs``).

        Examples:
            >>> c = Cohort(pd.DataFrame({"patient_id": ["a"], "wsi": ["s1.svs; s2.svs"]}))
            >>> c.references("wsi", 0)
            ['s1.svs', 's2.svs']
        """
        spec = self.schema.modalities.get(modality)  # type: ignore[call-overload]
        if spec is None or spec.column not in self.table:
            return []
        return self.split_cell(modality, self.table.at[row, spec.column])

    def split_cell(self, modality: str, value: Any) -> list[str]:
        """Split one manifest cell of ``modality`` into its references (none when empty).

        Examples:
            >>> c = Cohort(pd.DataFrame({"patient_id": ["a"], "wsi": ["x.svs"]}))
            >>> c.split_cell("wsi", "a.svs;b.svs"), c.split_cell("report", "A; B.")
            (['a.svs', 'b.svs'], ['A; B.'])
            >>> c.split_cell("wsi", None)
            []
        """
        if _missing(value):
            return []
        if modality == "report":
            return [str(value)]
        separator = self.schema.modalities[modality].separator  # type: ignore[index]
        return [part.strip() for part in str(value).split(separator) if part.strip()]

    def resolve(self, reference: str | PathLike[str]) -> Path:
        """Resolve a file reference against the data root (absolute paths stay as they are).

        Examples:
            >>> c = Cohort(pd.DataFrame({"patient_id": ["a"]}), data_root="/data")
            >>> str(c.resolve("slides/a.svs"))
            '/data/slides/a.svs'
        """
        path = Path(os.path.expanduser(str(reference)))
        return path if path.is_absolute() else self.data_root / path

    def is_report_file(self, value: str) -> bool:
        """True when a ``report`` cell names a file rather than holding inline text.

        A file reference ends in ``.txt``/``.md``/``.text`` (or a format the report reader
        refuses with a conversion hint, such as ``.rtf`` or ``.pdf``), is one line, and either
        has a folder separator or no space (``See addendum.txt`` is text, ``my reports/r 1.txt``
        a path).

        Examples:
            >>> c = Cohort(pd.DataFrame({"patient_id": ["a"]}))
            >>> c.is_report_file("Benign tissue."), c.is_report_file("See addendum.txt")
            (False, False)
            >>> c.is_report_file("reports/P1.txt"), c.is_report_file("P1.md")
            (True, True)
        """
        from biomm.io.reports.reader import looks_like_report_file

        return looks_like_report_file(value)

    def report_text(self, row: int) -> str | None:
        """The report of ``row``: inline text, or the content of the file it names.

        Files are decoded as :func:`biomm.io.reports.read_report` does (UTF-8, UTF-16 with a
        byte-order mark, then cp1252 when the bytes are clearly text).

        Raises:
            InputError: When the report file is missing, empty, binary or not decodable text.
        """
        refs = self.references("report", row)
        if not refs:
            return None
        if not self.is_report_file(refs[0]):
            return refs[0]
        from biomm.io.reports.reader import read_report

        path = self.resolve(refs[0])
        if not path.is_file():
            raise ManifestError("report file not found", path=path, row=row)
        try:
            return read_report(path).text
        except BiommError as exc:
            raise ManifestError(exc.reason, path=path, row=row) from None

    def ehr_table(self) -> pd.DataFrame | None:
        """The separate EHR table declared in the schema, read once, or None.

        Raises:
            ManifestError: When the declared table cannot be read.
        """
        ehr = self.schema.ehr
        if ehr is None or not ehr.table:
            return None
        if self._ehr_table is None:
            table = read_table(self.resolve(ehr.table))
            self.ehr_line_numbers = _line_numbers(table)
            keep = (
                self.schema.patient_id,
                *(c for c, k in ehr.types.items() if k in ("categorical", "identifier")),
            )
            table = coerce_numeric(table, keep_text=keep)
            table.attrs.pop(LINE_NUMBERS, None)
            self._ehr_table = table
        return self._ehr_table

    def ehr_frame(self) -> pd.DataFrame:
        """EHR features per patient (index: patient id), from the manifest or the EHR table.

        With EHR columns in a sample-level manifest, a patient's first row with any EHR value
        is used. Patients without EHR data are absent. Cells of ``continuous`` columns that are
        not finite numbers (reported by :meth:`validate`) are masked.

        Examples:
            >>> df = pd.DataFrame({"patient_id": ["a", "b"], "age": [61, None], "sex": ["F", None]})
            >>> Cohort(df).ehr_frame()
                         age sex
            patient_id
            a           61.0   F
        """
        ehr = self.schema.ehr
        pid = self.schema.patient_id
        if ehr is None or pid not in self.table:
            return pd.DataFrame(index=pd.Index([], name="patient_id"))
        if ehr.table:
            source = self.ehr_table()
            assert source is not None
            if pid not in source:
                return pd.DataFrame(index=pd.Index([], name="patient_id"))
            columns = ehr.columns or [c for c in source.columns if c != pid]
        else:
            source = self.table
            columns = ehr.columns
        columns = [c for c in columns if c in source]
        frame = source[[pid, *columns]].copy()
        for col, kind in ehr.types.items():  # bad cells of a continuous column are masked
            if kind == "continuous" and col in frame:
                numbers = pd.to_numeric(frame[col], errors="coerce").astype("float64")
                frame[col] = numbers.where(np.isfinite(numbers))
        frame[pid] = normalise_ids(frame[pid])
        frame = frame[frame[pid].notna() & frame[columns].notna().any(axis=1)]
        frame = frame.drop_duplicates(pid).set_index(pid)
        frame.index.name = "patient_id"
        return frame

    # ---- availability and targets -------------------------------------------------------

    def availability(self) -> Availability:
        """The patients × modalities matrix and the count of each availability pattern.

        A modality is available for a patient when any of the patient's rows references it
        (``ehr``: any non-empty EHR cell, or a row in the EHR table). File existence is checked
        by :meth:`validate`, not here.

        Examples:
            >>> df = pd.DataFrame({"patient_id": ["a", "b"], "ecg": ["a.hea", None],
            ...                    "fundus": ["a.png", "b.png"]})
            >>> Cohort(df).availability().matrix.sum().to_dict()
            {'ecg': 1, 'fundus': 2}
        """
        pid = self.schema.patient_id
        if pid not in self.table:
            empty = pd.DataFrame(columns=self.modalities, dtype=bool)
            return Availability(empty, pd.DataFrame(columns=[*self.modalities, "n_patients"]))
        ids = self.table[pid].astype("string")
        flags = pd.DataFrame(index=self.table.index)
        for modality, spec in self.schema.modalities.items():
            if spec.column in self.table:
                cells = self.table[spec.column].tolist()
                flags[modality] = [bool(self.split_cell(modality, v)) for v in cells]
            else:
                flags[modality] = False
        if "ehr" in self.modalities:
            flags["ehr"] = self._ehr_presence(ids)
        flags["__pid"] = ids
        flags = flags[flags["__pid"].notna() & (flags["__pid"].str.strip() != "")]
        matrix = flags.groupby("__pid", sort=False).any().astype(bool)
        matrix.index.name = "patient_id"
        if matrix.empty:
            patterns = pd.DataFrame(columns=[*matrix.columns, "n_patients", "fraction"])
        else:
            patterns = matrix.value_counts(sort=True).rename("n_patients").reset_index()
            patterns["fraction"] = patterns["n_patients"] / len(matrix)
        return Availability(matrix=matrix, patterns=patterns)

    def _ehr_presence(self, ids: pd.Series) -> pd.Series:
        """Per row: does the row's patient have any EHR value (an unreadable table: no)."""
        try:
            known = set(self.ehr_frame().index.astype(str))
        except ManifestError:
            known = set()
        return ids.isin(known).fillna(False).astype(bool)

    def parse_target(self, name: str) -> ParsedTarget:
        """Parse target ``name`` into model-ready per-row values.

        See :func:`biomm.cohort.targets.parse_target` for the value of each target type.

        Examples:
            >>> c = Cohort(pd.DataFrame({"patient_id": ["a", "b"], "label": ["yes", "no"]}))
            >>> c.parse_target("label").values
            [1, 0]
        """
        if name not in self.schema.targets:
            raise KeyError(f"unknown target {name!r}; declared: {self.target_names}")
        return parse_target(self.schema.targets[name], self.table)

    # ---- samples ------------------------------------------------------------------------

    def samples(self) -> Iterator[Sample]:
        """One :class:`~biomm.data.sample.Sample` per manifest row, holding references.

        A modality's value is the resolved path (a list of paths for several slides), the
        report text, or for ``ehr`` a dict of the patient's non-empty EHR values; absent
        modalities are absent keys. Invalid or missing targets are absent
        keys too, so they are masked in a batch.

        Examples:
            >>> c = Cohort(pd.DataFrame({"patient_id": ["a"], "ecg": ["a.hea"], "y": [1]}))
            >>> s = next(c.samples())
            >>> sorted(s.modalities), s.targets
            (['ecg'], {'y': 1})
        """
        from biomm.data.sample import Sample

        parsed = {name: self.parse_target(name) for name in self.target_names}
        ehr_frame = self.ehr_frame() if "ehr" in self.modalities else None
        ehr: dict[str, dict[str, Any]] = {}
        if ehr_frame is not None:
            for patient_key, record in zip(
                ehr_frame.index, ehr_frame.to_dict("records"), strict=True
            ):
                ehr[str(patient_key)] = {k: v for k, v in record.items() if not _missing(v)}
        pid = self.schema.patient_id
        sid = self.schema.sample_id
        for row in range(len(self.table)):
            patient = self.table.at[row, pid] if pid in self.table else None
            if _missing(patient):
                continue
            modalities: dict[str, Any] = {}
            for modality in self.schema.modalities:
                refs = self.references(modality, row)
                if not refs:
                    continue
                if modality == "report" and not self.is_report_file(refs[0]):
                    modalities[modality] = refs[0]
                elif modality == "wsi":
                    modalities[modality] = [self.resolve(r) for r in refs]
                else:
                    modalities[modality] = self.resolve(refs[0])
            if str(patient) in ehr:
                modalities["ehr"] = dict(ehr[str(patient)])
            targets = {n: p.values[row] for n, p in parsed.items() if p.values[row] is not None}
            meta: dict[str, Any] = {"row": row}
            split_col, fold_col = self.schema.split, self.schema.fold
            if split_col in self.table and not _missing(self.table.at[row, split_col]):
                raw = self.table.at[row, split_col]
                meta["split"] = normalise_split(raw) or raw
            if fold_col in self.table and not _missing(self.table.at[row, fold_col]):
                meta["fold"] = _fold_value(self.table.at[row, fold_col])
            sample_id = (
                str(self.table.at[row, sid])
                if sid and sid in self.table and not _missing(self.table.at[row, sid])
                else None
            )
            yield Sample(
                patient_id=str(patient),
                modalities=modalities,
                targets=targets,
                meta=meta,
                sample_id=sample_id,
            )

    # ---- validation and splits (implemented in sibling modules) --------------------------

    def validate(self, *, probe_files: bool = True) -> ValidationReport:
        """Check the manifest and return every problem (see :mod:`biomm.cohort.validate`).

        Args:
            probe_files: Also check that referenced files exist and look like their modality.

        Examples:
            >>> df = pd.DataFrame({"patient_id": ["a", "a"], "report": ["x", "y"]})
            >>> sorted(Cohort(df).validate().codes())
            ['duplicate_id']
        """
        from biomm.cohort.validate import validate_cohort

        return validate_cohort(self, probe_files=probe_files)

    def split(self, **kwargs: Any) -> Cohort:
        """Assign patient-level splits or folds; see :func:`biomm.cohort.split.split_cohort`.

        Examples:
            >>> df = pd.DataFrame({"patient_id": list("abcdef"), "label": [0, 1] * 3})
            >>> Cohort(df).split(folds=3, stratify="label", seed=0).table["fold"].nunique()
            3
        """
        from biomm.cohort.split import split_cohort

        return split_cohort(self, **kwargs)

    def with_table(self, table: pd.DataFrame, schema: CohortSchema | None = None) -> Cohort:
        """A copy with another table (and optionally schema), same root and source.

        Examples:
            >>> c = Cohort(pd.DataFrame({"patient_id": ["a", "b"]}))
            >>> len(c.with_table(c.table.head(1)))
            1
        """
        clone = Cohort(table, schema or self.schema, data_root=self.data_root, source=self.source)
        clone.root_is_explicit = self.root_is_explicit
        return clone

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the manifest table atomically as CSV/TSV/Parquet (by extension).

        Examples:
            >>> import tempfile, pathlib
            >>> out = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
            >>> Cohort(pd.DataFrame({"patient_id": ["a"]})).save(out).exists()
            True
        """
        from biomm.utils.atomic import atomic_write_table

        return atomic_write_table(self.table, path)


def _line_numbers(table: pd.DataFrame) -> list[int] | None:
    """File lines of the rows, following the index labels when the table was reordered."""
    lines = table.attrs.get(LINE_NUMBERS)
    if lines is None:
        return None
    labels = table.index
    if not pd.api.types.is_integer_dtype(labels) or len(labels) == 0:
        return list(lines) if len(lines) == len(table) else None
    if labels.min() < 0 or labels.max() >= len(lines):
        return None
    return [lines[label] for label in labels]


def _fold_value(raw: Any) -> Any:
    try:
        return int(raw) if float(raw).is_integer() else raw
    except (TypeError, ValueError):
        return raw


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        if pd.isna(value):
            return True
    except (TypeError, ValueError):
        return False
    return isinstance(value, str) and not value.strip()
