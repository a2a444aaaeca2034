"""Bad tabular EHR tables (read with :func:`biomm.io.ehr.read_ehr_table`, then preprocessed).

A cohort run reads the table and fits the EHR preprocessor on it; both steps run here, so a
value that only the preprocessor refuses (text in a continuous column, an infinite number, a
date that is not a date) is found. When the case folder holds a ``schema.yaml``, its
``ehr.types`` are passed to both, as ``biomm`` does with a cohort schema.

The binary helpers (:func:`pdf_bytes`, :func:`xlsx_bytes`, :func:`gzip_bytes`, ...) are shared
with the other text-reader case modules.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

from tests.data.bad.corpus import Case, Reader


def _read(path: Path) -> None:
    from biomm.cohort.schema import CohortSchema
    from biomm.io.ehr import EHRPreprocessor, read_ehr_table

    types: dict[str, str] = {}
    schema = path.parent / "schema.yaml"
    if schema.is_file():
        ehr = CohortSchema.from_yaml(schema).ehr
        types = dict(ehr.types) if ehr is not None else {}
    frame = read_ehr_table(path, types=types)
    EHRPreprocessor(types=types).fit_transform(frame)


READER = Reader(
    "ehr",
    "biomm.io.ehr.read_ehr_table(path) + EHRPreprocessor().fit_transform(table)",
    _read,
)


# ---- shared byte builders ---------------------------------------------------------------------


def ehr_rows(rng: np.random.Generator, n: int = 12) -> list[list[str]]:
    """``n`` plausible EHR rows: id, age, sex, grade, bmi (as text)."""
    rows = []
    for i in range(n):
        rows.append(
            [
                f"P{i + 1:03d}",
                str(int(rng.integers(30, 90))),
                str(rng.choice(["F", "M"])),
                str(rng.choice(["I", "II", "III"])),
                f"{rng.normal(26, 4):.1f}",
            ]
        )
    return rows


HEADER = ["patient_id", "age", "sex", "grade", "bmi"]


def csv_text(header: list[str], rows: list[list[str]], sep: str = ",") -> str:
    """A delimited table as text (no quoting needed for the values used here)."""
    return "".join(sep.join(r) + "\n" for r in [header, *rows])


def pdf_bytes() -> bytes:
    """The start of a small PDF document."""
    return (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n"
        b"%%EOF\n"
    )


def xlsx_bytes(sheet_text: str) -> bytes:
    """A ZIP archive shaped like an Excel workbook (fixed timestamps: deterministic)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (
            ("[Content_Types].xml", '<?xml version="1.0"?><Types/>'),
            ("xl/workbook.xml", '<?xml version="1.0"?><workbook/>'),
            ("xl/worksheets/sheet1.xml", f'<?xml version="1.0"?><sheet>{sheet_text}</sheet>'),
        ):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, text)
    return buffer.getvalue()


def gzip_bytes(data: bytes) -> bytes:
    """``data`` gzip-compressed with a zero timestamp (deterministic)."""
    return gzip.compress(data, mtime=0)


def parquet_bytes(frame_data: dict[str, list]) -> bytes:
    """A Parquet file of the given columns (pyarrow, no index)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.table(frame_data), buffer)
    return buffer.getvalue()


# ---- cases ------------------------------------------------------------------------------------


def _write(folder: Path, name: str, data: bytes | str) -> str:
    (folder / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return name


def _schema(folder: Path, types: dict[str, str]) -> None:
    lines = ["ehr:", "  types:"] + [f"    {col}: {kind}" for col, kind in types.items()]
    (folder / "schema.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _zero_length(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "ehr.csv", b"")


def _header_only(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "ehr.csv", ",".join(HEADER) + "\n")


def _truncated_quoted(folder: Path, rng: np.random.Generator) -> str:
    rows = ehr_rows(rng)
    text = csv_text([*HEADER, "note"], [[*r, "ok"] for r in rows])
    text += 'P999,61,F,II,24.1,"Admitted with chest pain, history of'  # cut mid-field
    return _write(folder, "ehr.csv", text)


def _truncated_parquet(folder: Path, rng: np.random.Generator) -> str:
    rows = ehr_rows(rng, 40)
    data = parquet_bytes({h: [r[i] for r in rows] for i, h in enumerate(HEADER)})
    return _write(folder, "ehr.parquet", data[: len(data) * 2 // 3])


def _parquet_footer_claims_huge(folder: Path, rng: np.random.Generator) -> str:
    rows = ehr_rows(rng, 20)
    data = parquet_bytes({h: [r[i] for r in rows] for i, h in enumerate(HEADER)})
    # the last 8 bytes are the footer length (uint32 LE) and PAR1: claim a 2 GiB footer
    return _write(folder, "ehr.parquet", data[:-8] + (2**31 - 1).to_bytes(4, "little") + b"PAR1")


def _pdf_as_csv(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "ehr.csv", pdf_bytes())


def _xlsx_as_csv(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "ehr.csv", xlsx_bytes(csv_text(HEADER, ehr_rows(rng))))


def _csv_as_parquet(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "ehr.parquet", csv_text(HEADER, ehr_rows(rng)))


def _xlsx_extension(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "ehr.xlsx", xlsx_bytes(csv_text(HEADER, ehr_rows(rng))))


def _gzip_csv(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "ehr.csv.gz", gzip_bytes(csv_text(HEADER, ehr_rows(rng)).encode()))


def _gzip_named_csv(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "ehr.csv", gzip_bytes(csv_text(HEADER, ehr_rows(rng)).encode()))


def _utf16_no_bom(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "ehr.csv", csv_text(HEADER, ehr_rows(rng)).encode("utf-16-le"))


def _latin1(folder: Path, rng: np.random.Generator) -> str:
    rows = ehr_rows(rng)
    rows[5][3] = "Stadium II (Mäßig)"
    return _write(folder, "ehr.csv", csv_text(HEADER, rows).encode("latin-1"))


def _nul_bytes(folder: Path, rng: np.random.Generator) -> str:
    data = csv_text(HEADER, ehr_rows(rng)).encode()
    return _write(folder, "ehr.csv", data[:60] + b"\x00" * 16 + data[60:])


def _duplicated_columns(folder: Path, rng: np.random.Generator) -> str:
    header = ["patient_id", "age", "sex", "age", "bmi"]
    return _write(folder, "ehr.csv", csv_text(header, ehr_rows(rng)))


def _duplicated_parquet_columns(folder: Path, rng: np.random.Generator) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = ehr_rows(rng)
    arrays = [pa.array([r[i] for r in rows]) for i in range(len(HEADER))]
    table = pa.Table.from_arrays(arrays, names=["patient_id", "age", "sex", "age", "bmi"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return _write(folder, "ehr.parquet", buffer.getvalue())


def _duplicated_ids(folder: Path, rng: np.random.Generator) -> str:
    rows = ehr_rows(rng)
    rows[7][0] = rows[2][0]
    rows[7][1] = str(int(rows[2][1]) + 20)  # the same patient, another age
    return _write(folder, "ehr.csv", csv_text(HEADER, rows))


def _ragged_row(folder: Path, rng: np.random.Generator) -> str:
    rows = ehr_rows(rng)
    rows[4] = [*rows[4], "extra", "values"]
    return _write(folder, "ehr.csv", csv_text(HEADER, rows))


def _mixed_delimiters(folder: Path, rng: np.random.Generator) -> str:
    rows = ehr_rows(rng)
    text = csv_text(HEADER, rows[:6]) + csv_text(HEADER, rows[6:], sep=";").split("\n", 1)[1]
    return _write(folder, "ehr.csv", text)


def _missing_id_column(folder: Path, rng: np.random.Generator) -> str:
    header = ["mrn", *HEADER[1:]]
    return _write(folder, "ehr.csv", csv_text(header, ehr_rows(rng)))


def _age_in_words(folder: Path, rng: np.random.Generator) -> str:
    rows = ehr_rows(rng)
    rows[3][1] = "sixty"
    _schema(folder, {"age": "continuous"})
    return _write(folder, "ehr.csv", csv_text(HEADER, rows))


def _dates_not_dates(folder: Path, rng: np.random.Generator) -> str:
    rows = [[*r, f"2020-{(i % 12) + 1:02d}-15"] for i, r in enumerate(ehr_rows(rng))]
    rows[2][-1] = "2020-13-45"
    rows[6][-1] = "last winter"
    _schema(folder, {"diagnosed": "datetime"})
    return _write(folder, "ehr.csv", csv_text([*HEADER, "diagnosed"], rows))


def _inf_in_numeric(folder: Path, rng: np.random.Generator) -> str:
    rows = ehr_rows(rng)
    rows[1][4] = "inf"
    rows[9][4] = "-Infinity"
    return _write(folder, "ehr.csv", csv_text(HEADER, rows))


def _parquet_inf(folder: Path, rng: np.random.Generator) -> str:
    rows = ehr_rows(rng)
    bmi = [float(r[4]) for r in rows]
    bmi[3] = float("inf")
    data = {"patient_id": [r[0] for r in rows], "bmi": bmi, "age": [int(r[1]) for r in rows]}
    return _write(folder, "ehr.parquet", parquet_bytes(data))


def _all_missing(folder: Path, rng: np.random.Generator) -> str:
    rows = [[r[0], "NA", "", "n/a", "NULL"] for r in ehr_rows(rng)]
    return _write(folder, "ehr.csv", csv_text(HEADER, rows))


def _oversized_cell(folder: Path, rng: np.random.Generator) -> str:
    rows = ehr_rows(rng, 4)
    blob = "iVBORw0KGgoAAAANSUhEUgAA" * 3000  # 72 000 characters of a pasted base64 image
    text = csv_text([*HEADER, "note"], [[*r, "ok"] for r in rows])
    text += f'P999,61,F,II,24.1,"{blob}"\n'
    return _write(folder, "ehr.csv", text)


CASES = [
    Case(
        "zero-length",
        "a CSV of 0 bytes",
        "TableError",
        r"file is empty \(0 bytes\)",
        _zero_length,
        "zero-length",
    ),
    Case(
        "header-only",
        "a header line and no patient row",
        "TableError",
        r"no data rows",
        _header_only,
        "missing",
    ),
    Case(
        "truncated-quoted-field",
        "the file ends inside a quoted free-text cell",
        "TableError",
        r"malformed table near line \d+: unexpected end of data",
        _truncated_quoted,
        "truncated",
    ),
    Case(
        "truncated-parquet",
        "a Parquet file cut to two thirds of its length",
        "TableError",
        r"cannot read Parquet: .*(magic bytes|footer|corrupt)",
        _truncated_parquet,
        "truncated",
    ),
    Case(
        "parquet-footer-2gib",
        "a Parquet file whose footer-length field claims 2 GiB",
        "TableError",
        r"cannot read Parquet: .*size reported by footer",
        _parquet_footer_claims_huge,
        "absurd-dimensions",
    ),
    Case(
        "pdf-as-csv",
        "a PDF document saved as .csv",
        "TableError",
        r"binary content: a PDF document",
        _pdf_as_csv,
        "wrong-magic",
    ),
    Case(
        "xlsx-as-csv",
        "an Excel workbook (ZIP) renamed to .csv",
        "TableError",
        r"binary content: a ZIP archive \(Excel",
        _xlsx_as_csv,
        "wrong-magic",
    ),
    Case(
        "csv-as-parquet",
        "a CSV text file named .parquet",
        "TableError",
        r"not a Parquet file",
        _csv_as_parquet,
        "wrong-magic",
    ),
    Case(
        "xlsx-workbook",
        "an Excel .xlsx workbook (not a supported table format)",
        "TableError",
        r"unsupported table format '\.xlsx': an Excel workbook",
        _xlsx_extension,
        "wrong-magic",
    ),
    Case(
        "gzip-csv",
        "a gzip-compressed CSV (.csv.gz)",
        "TableError",
        r"unsupported table format '\.gz': a gzip-compressed file",
        _gzip_csv,
        "unsupported-compression",
    ),
    Case(
        "gzip-named-csv",
        "gzip-compressed bytes in a file named .csv",
        "TableError",
        r"binary content: gzip-compressed data",
        _gzip_named_csv,
        "unsupported-compression",
    ),
    Case(
        "utf16-without-bom",
        "a UTF-16-LE table without a byte-order mark",
        "TableError",
        r"NUL byte at offset 1 \(UTF-16",
        _utf16_no_bom,
        "non-utf8",
    ),
    Case(
        "latin1-bytes",
        "a Latin-1 byte (ä, ß) in a table read as UTF-8",
        "TableError",
        r"not UTF-8 text: invalid byte 0x[0-9a-f]{2} at byte \d+",
        _latin1,
        "non-utf8",
    ),
    Case(
        "nul-bytes",
        "a run of NUL bytes in the middle of the text",
        "TableError",
        r"NUL byte at offset 60",
        _nul_bytes,
        "other",
    ),
    Case(
        "duplicated-columns",
        "the header names 'age' twice",
        "TableError",
        r"duplicated column name\(s\): \['age'\]",
        _duplicated_columns,
        "duplicated-keys",
    ),
    Case(
        "parquet-duplicated-columns",
        "a Parquet file with two columns named 'age'",
        "TableError",
        r"duplicated column name\(s\): \['age'\]",
        _duplicated_parquet_columns,
        "duplicated-keys",
    ),
    Case(
        "duplicated-patient-ids",
        "one patient twice, with two different ages",
        "TableError",
        r"duplicated patient id\(s\) in 'patient_id'",
        _duplicated_ids,
        "duplicated-keys",
    ),
    Case(
        "ragged-row",
        "a row with more values than the header has columns",
        "TableError",
        r"line \d+ has 7 values but the header has 5 columns",
        _ragged_row,
        "header-vs-data",
    ),
    Case(
        "mixed-delimiters",
        "comma-separated header and first rows, semicolon-separated later rows",
        "TableError",
        r"mixed delimiters",
        _mixed_delimiters,
        "header-vs-data",
    ),
    Case(
        "no-id-column",
        "the id column is called 'mrn', not 'patient_id'",
        "TableError",
        r"no patient id column 'patient_id'",
        _missing_id_column,
        "missing",
    ),
    Case(
        "age-in-words",
        "'sixty' in a column the schema types continuous",
        "TableError",
        r"'age' is continuous but holds non-numeric",
        _age_in_words,
        "wrong-types",
    ),
    Case(
        "dates-not-dates",
        "'2020-13-45' and 'last winter' in a datetime column",
        "TableError",
        r"datetime column but holds .*not dates",
        _dates_not_dates,
        "wrong-types",
    ),
    Case(
        "inf-in-numeric",
        "'inf' and '-Infinity' among BMI values",
        "TableError",
        r"'bmi' holds infinite value",
        _inf_in_numeric,
        "nan-inf",
    ),
    Case(
        "parquet-inf",
        "a float Parquet column holding +inf",
        "TableError",
        r"'bmi' holds infinite value",
        _parquet_inf,
        "nan-inf",
    ),
    Case(
        "all-values-missing",
        "every feature cell is empty or a missing marker (NA, n/a, NULL)",
        "TableError",
        r"no usable EHR column",
        _all_missing,
        "missing",
    ),
    Case(
        "oversized-cell",
        "one quoted cell of 72 000 characters (a pasted base64 image)",
        "TableError",
        r"has a cell of \d+ characters, more than 65536",
        _oversized_cell,
        "absurd-dimensions",
    ),
]
