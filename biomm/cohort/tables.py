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
import io
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from biomm.errors import ManifestError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


#: Cell values read as missing (besides empty cells), as hospital exports write them.
#: ``None`` is deliberately absent: it is a real class in many clinical fields.
MISSING_MARKERS = frozenset({"NA", "N/A", "n/a", "na", "NaN", "nan", "NULL", "null", "#N/A"})

#: ``DataFrame.attrs`` key holding the 1-based file line of each row of a CSV/TSV table.
LINE_NUMBERS = "biomm_line_numbers"


def read_table(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a CSV/TSV/Parquet table; every CSV/TSV cell stays text (missing cells are None).

    Text is kept so that ids such as ``"007"`` survive; :func:`coerce_numeric` converts the
    columns that should be numbers once their roles are known. Cells are stripped; empty cells
    and :data:`MISSING_MARKERS` are missing. Blank lines and rows with no value at all (Excel's
    empty rows) are skipped; a trailing delimiter on every row is tolerated; a ``.csv`` whose
    header has semicolons but no commas is read as semicolon-separated. The 1-based file line
    of each row is kept in ``frame.attrs[LINE_NUMBERS]``.

    Args:
        path: ``.csv``, ``.tsv``/``.txt`` (tab-separated) or ``.parquet``.

    Raises:
        ManifestError: Naming the file and the reason (missing, a folder, empty, not UTF-8,
            a row with more values than the header, duplicated column names, unknown extension).

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.csv"
        >>> _ = p.write_text("patient_id,age,\\nP1,NA,\\n\\nP2, 70 ,\\n")
        >>> df = read_table(p)
        >>> df.to_dict("list"), df.attrs[LINE_NUMBERS]
        ({'patient_id': ['P1', 'P2'], 'age': [None, '70']}, [2, 4])
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise ManifestError("is a folder, not a table file", path=path)
    if suffix not in TABLE_SUFFIXES:
        raise ManifestError(
            f"unknown table format {suffix or '(no extension)'!r}; use one of "
            f"{', '.join(TABLE_SUFFIXES)}",
            path=path,
        )
    if not path.exists():
        raise ManifestError("file not found", path=path)
    if path.stat().st_size == 0:
        raise ManifestError("file is empty (0 bytes)", path=path)
    if suffix in (".parquet", ".pq"):
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types on corrupt input
            raise ManifestError(f"cannot read Parquet: {exc}", path=path) from None
        if frame.index.name is not None or not isinstance(frame.index, pd.RangeIndex):
            frame = frame.reset_index()  # a saved index (e.g. patient_id) is a column
        frame.columns = [str(c).strip() for c in frame.columns]
        for col in frame.columns:
            if frame[col].dtype == object or str(frame[col].dtype).startswith("string"):
                frame[col] = clean_text_cells(frame[col])
        return frame.reset_index(drop=True)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"not UTF-8 text (invalid byte at offset {exc.start}); re-save the table as UTF-8",
            path=path,
        ) from None
    return _parse_delimited(text, suffix, path)


def _parse_delimited(text: str, suffix: str, path: Path) -> pd.DataFrame:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    sep = "\t" if suffix != ".csv" else ("," if "," in first_line or ";" not in first_line else ";")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    header: list[str] | None = None
    rows: list[list[str | None]] = []
    lines: list[int] = []
    previous_end = 0
    try:
        for record in reader:
            start, previous_end = previous_end + 1, reader.line_num
            cells = [c.strip() for c in record]
            if not any(cells):
                continue
            if header is None:
                header = cells
                while header and not header[-1]:  # trailing delimiter on the header
                    header.pop()
                continue
            if len(cells) > len(header):
                extra = cells[len(header) :]
                if any(extra):
                    raise ManifestError(
                        f"line {start} has {len(cells)} values but the header has "
                        f"{len(header)} columns (a stray delimiter or an unquoted "
                        f"{sep!r} inside a value?)",
                        path=path,
                    )
                cells = cells[: len(header)]
            cells += [""] * (len(header) - len(cells))
            rows.append([None if c == "" or c in MISSING_MARKERS else c for c in cells])
            lines.append(start)
    except csv.Error as exc:
        raise ManifestError(
            f"malformed table near line {reader.line_num}: {exc}", path=path
        ) from None
    if not header:
        raise ManifestError("no header row", path=path)
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise ManifestError(f"duplicated column name(s): {duplicated}", path=path)
    if "" in header:
        raise ManifestError(f"column {header.index('') + 1} has no name in the header", path=path)
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame.attrs[LINE_NUMBERS] = lines
    return frame


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


#: Integers beyond this cannot round-trip through float64; such columns stay text.
_EXACT_INTEGER = 2**53


def _numeric_if_possible(series: pd.Series) -> pd.Series:
    non_null = series.dropna()
    if non_null.empty:
        return series
    texts = non_null.astype(str).str.strip()
    if texts.str.match(r"^[+-]?0\d").any():  # codes with leading zeros ("0042") stay text
        return series
    converted = pd.to_numeric(texts, errors="coerce")
    if not converted.notna().all():
        return series
    finite = np.isfinite(converted)
    if (converted[finite].abs() >= _EXACT_INTEGER).any():  # accession numbers etc. stay text
        return series
    out = pd.to_numeric(series, errors="coerce").astype("float64")
    whole = finite.all() and (converted == converted.round()).all()
    if whole and not out.isna().any():
        return out.astype("int64")
    return out


def clean_text_cells(series: pd.Series) -> pd.Series:
    """Strip text cells; empty cells and :data:`MISSING_MARKERS` become None.

    Examples:
        >>> clean_text_cells(pd.Series([" a ", "NA", "", 3, None])).tolist()
        ['a', None, None, 3, None]
    """

    def one(value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            return None if text == "" or text in MISSING_MARKERS else text
        if value is pd.NA:
            return None
        return value

    return pd.Series([one(v) for v in series.tolist()], index=series.index, dtype=object)


def normalise_ids(series: pd.Series) -> pd.Series:
    """Identifiers as stripped text: ``" P1 "`` → ``"P1"``, ``7.0`` → ``"7"``; missing → None.

    Examples:
        >>> normalise_ids(pd.Series([" P1", 7.0, None, "007"])).tolist()
        ['P1', '7', None, '007']
    """

    def one(value: object) -> str | None:
        if value is None or (isinstance(value, float) and value != value):
            return None
        if value is pd.NA:
            return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        text = str(value).strip()
        return text or None

    return pd.Series([one(v) for v in series.tolist()], index=series.index, dtype=object)
