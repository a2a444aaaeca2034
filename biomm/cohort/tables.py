"""Read manifest-like tables (CSV, TSV, Parquet) with errors that name the file.

Examples:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = p.write_text("patient_id,age\\n007,61\\n")
    >>> df = coerce_numeric(read_table(p), keep_text=("patient_id",))
    >>> df["patient_id"].tolist(), df["age"].tolist()
    (['007'], [61])
"""

from __future__ import annotations

import csv
from os import PathLike
from pathlib import Path

import pandas as pd

from biomm.errors import ManifestError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


def read_table(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet table; every CSV/TSV cell stays text (empty cells are NaN).

    Text is kept so that ids such as ``"007"`` survive; :func:`coerce_numeric` converts the
    columns that should be numbers once their roles are known.

    Args:
        path: ``.csv``, ``.tsv``/``.txt`` (tab-separated) or ``.parquet``.

    Raises:
        ManifestError: Naming the file and the reason (missing, empty, not UTF-8, malformed,
            duplicated column names, unknown extension).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ManifestError(
            f"unknown table format {suffix or '(no extension)'!r}; use one of "
            f"{', '.join(TABLE_SUFFIXES)}",
            path=path,
        )
    if not path.is_file():
        raise ManifestError("file not found" if not path.exists() else "not a file", path=path)
    if path.stat().st_size == 0:
        raise ManifestError("file is empty (0 bytes)", path=path)
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types on corrupt input
            raise ManifestError(f"cannot read Parquet: {exc}", path=path) from None
        return frame.reset_index(drop=True)

    sep = "," if suffix == ".csv" else "\t"
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh, delimiter=sep), None)
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"not UTF-8 text (invalid byte at offset {exc.start}); re-save the table as UTF-8",
            path=path,
        ) from None
    if not header or all(not h.strip() for h in header):
        raise ManifestError("no header row", path=path)
    stripped = [h.strip() for h in header]
    duplicated = sorted({h for h in stripped if stripped.count(h) > 1})
    if duplicated:
        raise ManifestError(f"duplicated column name(s): {duplicated}", path=path)
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, encoding="utf-8-sig", skipinitialspace=True)
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"not UTF-8 text (invalid byte at offset {exc.start})", path=path
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ManifestError(f"malformed table: {exc}".strip(), path=path) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    for col in frame.columns:
        frame[col] = frame[col].str.strip()
    return frame.reset_index(drop=True)


def coerce_numeric(frame: pd.DataFrame, *, keep_text: tuple[str, ...] = ()) -> pd.DataFrame:
    """Return a copy where every text column whose non-empty cells are all numbers is numeric.

    Whole-number columns without gaps become ``int64``; others ``float64``. Columns in
    ``keep_text`` are left alone.

    Examples:
        >>> df = pd.DataFrame({"a": ["1", "2"], "b": ["1.5", None], "c": ["x", "1"]})
        >>> coerce_numeric(df).dtypes.astype(str).tolist()
        ['int64', 'float64', 'object']
    """
    out = frame.copy()
    for col in out.columns:
        if col in keep_text or out[col].dtype != object:
            continue
        out[col] = _numeric_if_possible(out[col])
    return out


def _numeric_if_possible(series: pd.Series) -> pd.Series:
    non_null = series.dropna()
    if non_null.empty:
        return series
    converted = pd.to_numeric(non_null, errors="coerce")
    if not converted.notna().all():
        return series
    out = pd.to_numeric(series, errors="coerce")
    if not out.isna().any() and (out == out.round()).all():
        return out.astype("int64")
    return out.astype("float64")
