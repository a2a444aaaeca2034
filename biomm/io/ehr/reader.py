"""Read an EHR table (CSV, TSV or Parquet) with one row per patient.

Examples:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "ehr.csv"
    >>> _ = p.write_text("patient_id,age,grade\\n007,61,II\\nP2,NA,I\\n")
    >>> frame = read_ehr_table(p)
    >>> frame.index.tolist(), frame["age"].tolist(), frame["grade"].tolist()
    (['007', 'P2'], [61.0, nan], ['II', 'I'])
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import pandas as pd

from biomm.cohort.tables import (
    LINE_NUMBERS,
    coerce_numeric,
    normalise_ids,
    read_table,
)
from biomm.errors import ManifestError, TableError
from biomm.io.ehr.preprocess import SOURCE_ATTR
from biomm.io.ehr.types import check_types


def read_ehr_table(
    path: str | PathLike[str],
    *,
    id_column: str = "patient_id",
    types: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet EHR table, indexed by patient id.

    Cells are read as text first (so ids like ``"007"`` survive; empty cells and markers such
    as ``NA`` are missing, see :func:`biomm.cohort.tables.read_table`); columns whose values
    are all numbers become numeric, except those typed ``categorical`` or ``identifier`` in
    ``types``. The file name is kept in ``frame.attrs`` so that the preprocessor's errors name
    it.

    Args:
        path: ``.csv``, ``.tsv``/``.txt`` or ``.parquet`` file.
        id_column: The patient id column (becomes the index, as text).
        types: Optional ``column → kind`` entries (see :mod:`biomm.io.ehr.types`).

    Raises:
        TableError: Naming the file: unreadable table (binary, compressed, not UTF-8,
            malformed; see :func:`biomm.cohort.tables.read_table`), no data row, duplicated
            column names, no id column, missing or duplicated ids, or an unknown type.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "ehr.tsv"
        >>> _ = p.write_text("patient_id\\tage\\nP1\\t50\\nP1\\t51\\n")
        >>> read_ehr_table(p)
        Traceback (most recent call last):
        ...
        biomm.errors.TableError: ...ehr.tsv: duplicated patient id(s) in 'patient_id': ['P1']
    """
    path = Path(path)
    kinds = check_types(types, source=str(path))
    try:
        raw = read_table(path)
    except ManifestError as exc:
        raise TableError(exc.reason, path=path) from None
    lines = raw.attrs.get(LINE_NUMBERS)
    if raw.empty:
        raise TableError("the table has no data rows (a header only?)", path=path)
    if id_column not in raw.columns:
        raise TableError(
            f"no patient id column {id_column!r}; the columns are {list(raw.columns)}", path=path
        )
    keep = (id_column, *(c for c, k in kinds.items() if k in ("categorical", "identifier")))
    frame = coerce_numeric(raw, keep_text=keep)
    frame.attrs.pop(LINE_NUMBERS, None)
    ids = normalise_ids(frame[id_column])
    if ids.isna().any():
        rows = ids.index[ids.isna()].tolist()
        where = [lines[i] for i in rows] if lines else [r + 1 for r in rows]
        raise TableError(f"missing patient id on line(s) {where[:5]}", path=path)
    duplicated = sorted(set(ids[ids.duplicated()]))
    if duplicated:
        raise TableError(f"duplicated patient id(s) in {id_column!r}: {duplicated[:5]}", path=path)
    frame = frame.drop(columns=[id_column])
    frame.index = pd.Index(ids.tolist(), name=id_column)
    frame.attrs[SOURCE_ATTR] = str(path)
    return frame
