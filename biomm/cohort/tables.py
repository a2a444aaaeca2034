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
from biomm.utils.config import binary_content

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")
#: Extensions refused with a hint: compressed files and spreadsheets.
_REFUSED_SUFFIXES = {
    ".gz": "a gzip-compressed file: decompress it first",
    ".bz2": "a bzip2-compressed file: decompress it first",
    ".xz": "an xz-compressed file: decompress it first",
    ".zst": "a zstd-compressed file: decompress it first",
    ".zip": "a ZIP archive: extract the table first",
    ".xlsx": "an Excel workbook: export the sheet as CSV (UTF-8) first",
    ".xlsm": "an Excel workbook: export the sheet as CSV (UTF-8) first",
    ".xls": "an Excel workbook: export the sheet as CSV (UTF-8) first",
    ".ods": "an OpenDocument spreadsheet: export the sheet as CSV (UTF-8) first",
}
#: Longest cell (characters) a CSV/TSV table may hold; longer ones are pasted blobs.
MAX_CELL_CHARS = 65_536
#: Delimiters that, found in a one-cell row of a multi-column table, reveal a mixed-up file.
_OTHER_DELIMITERS = {",": (";", "\t"), ";": (",", "\t"), "\t": (",", ";")}


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

    Text is decoded strictly: UTF-8 (with or without a byte-order mark), or UTF-16/UTF-32
    with a byte-order mark (Excel's "Unicode text" export).

    Args:
        path: ``.csv``, ``.tsv``/``.txt`` (tab-separated) or ``.parquet``.

    Raises:
        ManifestError: Naming the file and the reason: missing, a folder, empty, an
            unsupported extension (``.xlsx``, ``.gz``, ...), binary content (PDF, an Excel
            or other ZIP file, compressed data, NUL bytes as in UTF-16 without a byte-order
            mark), not UTF-8 (with the byte offset), malformed quoting, a row with more
            values than the header, several rows written with another delimiter, a cell of
            more than :data:`MAX_CELL_CHARS` characters, duplicated column names, or an
            unreadable Parquet file.

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
    if suffix in _REFUSED_SUFFIXES:
        raise ManifestError(
            f"unsupported table format {suffix!r}: {_REFUSED_SUFFIXES[suffix]}; use one of "
            f"{', '.join(TABLE_SUFFIXES)}",
            path=path,
        )
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
        return _read_parquet(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read the file: {exc.strerror or exc}", path=path) from None
    return _parse_delimited(_decode_table(data, path), suffix, path)


def _decode_table(data: bytes, path: Path) -> str:
    """Decode a CSV/TSV file: UTF-8 (BOM optional) or UTF-16/32 with a BOM; binary refused."""
    from biomm.utils.config import decode_text_bytes

    try:
        return decode_text_bytes(data, source=path, error=ManifestError)
    except ManifestError as exc:
        reason = exc.reason.replace("re-save the file", "re-save the table")
        if reason.startswith("binary content"):
            reason += f"; not a {path.suffix.lower()} table"
        raise ManifestError(reason, path=path) from None


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read a Parquet table; duplicated column names are refused before reading the data."""
    try:
        import pyarrow.parquet as pq

        with path.open("rb") as handle:
            head = handle.read(256)
        if not head.startswith(b"PAR1"):
            what = binary_content(head) or "not a Parquet file"
            raise ManifestError(f"{what} (a Parquet file starts with 'PAR1')", path=path)
        names = [str(n) for n in pq.read_schema(path).names]
    except ManifestError:
        raise
    except Exception as exc:  # pyarrow raises many types on corrupt input
        raise ManifestError(f"cannot read Parquet: {_first_line(exc)}", path=path) from None
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ManifestError(f"duplicated column name(s): {duplicated}", path=path)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types on corrupt input
        raise ManifestError(f"cannot read Parquet: {_first_line(exc)}", path=path) from None
    if frame.index.name is not None or not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()  # a saved index (e.g. patient_id) is a column
    frame.columns = [str(c).strip() for c in frame.columns]
    columns = list(frame.columns)
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise ManifestError(f"duplicated column name(s): {duplicated}", path=path)
    for col in frame.columns:
        if frame[col].dtype == object or str(frame[col].dtype).startswith("string"):
            frame[col] = clean_text_cells(frame[col])
    return frame.reset_index(drop=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _parse_delimited(text: str, suffix: str, path: Path) -> pd.DataFrame:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    sep = "\t" if suffix != ".csv" else ("," if "," in first_line or ";" not in first_line else ";")
    others = _OTHER_DELIMITERS[sep]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    header: list[str] | None = None
    rows: list[list[str | None]] = []
    lines: list[int] = []
    mixed: list[tuple[int, str]] = []  # one-value rows that another delimiter would split
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
            longest = max(len(c) for c in cells)
            if longest > MAX_CELL_CHARS:
                raise ManifestError(
                    f"line {start} has a cell of {longest} characters, more than "
                    f"{MAX_CELL_CHARS} (a pasted file or image?)",
                    path=path,
                )
            if len(header) > 2 and len([c for c in cells if c]) == 1 and cells[0]:
                for other in others:  # the row fits the header when split at another delimiter
                    n = len(record[0].split(other))
                    if n == len(header) or (n == len(header) + 1 and record[0].endswith(other)):
                        mixed.append((start, other))
                        break
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
        if "field larger than field limit" in str(exc):
            raise ManifestError(
                f"line {reader.line_num} has a cell of more than {csv.field_size_limit()} "
                "characters (a pasted file or image?), or an unclosed quote",
                path=path,
            ) from None
        raise ManifestError(
            f"malformed table near line {reader.line_num}: {exc}", path=path
        ) from None
    if not header:
        raise ManifestError("no header row", path=path)
    if len(mixed) >= 2:  # one such row may be a value with commas; several are a mixed file
        line, other = mixed[0]
        raise ManifestError(
            f"{len(mixed)} rows (first on line {line}) are one value holding {other!r} "
            f"characters, but the header has {len(header)} columns separated by {sep!r}: "
            "mixed delimiters?",
            path=path,
        )
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
