"""Bad cohort manifests (read with :meth:`biomm.Cohort.from_file`, then validated).

``biomm cohort validate`` and every cohort command read the manifest and validate it before
anything runs; the reader here does the same and raises the validation errors
(:meth:`~biomm.cohort.report.ValidationReport.raise_if_errors`). Convention: when the case
folder holds a ``schema.yaml``, it is passed as ``schema=``; otherwise the schema is inferred
from the column names. A case about the schema itself has ``schema.yaml`` as its primary
file (the error names it) and the manifest ``cohort.csv`` next to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.data.bad.cases_ehr import csv_text, gzip_bytes, parquet_bytes, pdf_bytes, xlsx_bytes
from tests.data.bad.cases_pipeline import BILLION_LAUGHS
from tests.data.bad.corpus import Case, Reader


def _read(path: Path) -> None:
    from biomm import Cohort

    if path.suffix in (".yaml", ".yml"):  # a case about the schema: the manifest is beside it
        schema, path = path, path.parent / "cohort.csv"
    else:
        schema = path.parent / "schema.yaml"
    cohort = Cohort.from_file(path, schema=schema if schema.is_file() else None)
    cohort.validate(probe_files=True).raise_if_errors()


READER = Reader(
    "manifest",
    "biomm.Cohort.from_file(path, schema=).validate().raise_if_errors()",
    _read,
)

HEADER = ["patient_id", "report", "age", "os_time", "os_event"]
_REPORTS = ("Invasive carcinoma.", "Benign tissue.", "No tumour seen.", "Carcinoma in situ.")


def manifest_rows(rng: np.random.Generator, n: int = 10) -> list[list[str]]:
    """``n`` rows: id, inline report, age, survival time (months) and event."""
    return [
        [
            f"P{i + 1:03d}",
            str(rng.choice(_REPORTS)),
            str(int(rng.integers(30, 90))),
            f"{rng.uniform(1, 60):.1f}",
            str(int(rng.integers(0, 2))),
        ]
        for i in range(n)
    ]


def _write(folder: Path, name: str, data: bytes | str) -> str:
    (folder / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return name


def _zero_length(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "cohort.csv", b"")


def _header_only(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "cohort.csv", ",".join(HEADER) + "\r\n")


def _truncated_quoted(folder: Path, rng: np.random.Generator) -> str:
    text = csv_text(HEADER, manifest_rows(rng))
    text += 'P099,"Invasive ductal carcinoma, grade'  # the export stopped mid-cell
    return _write(folder, "cohort.csv", text)


def _truncated_parquet(folder: Path, rng: np.random.Generator) -> str:
    rows = manifest_rows(rng, 30)
    data = parquet_bytes({h: [r[i] for r in rows] for i, h in enumerate(HEADER)})
    return _write(folder, "cohort.parquet", data[: len(data) // 2])


def _pdf_as_csv(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "cohort.csv", pdf_bytes())


def _xlsx_as_csv(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "cohort.csv", xlsx_bytes(csv_text(HEADER, manifest_rows(rng))))


def _gzip_named_tsv(folder: Path, rng: np.random.Generator) -> str:
    text = csv_text(HEADER, manifest_rows(rng), sep="\t")
    return _write(folder, "cohort.tsv", gzip_bytes(text.encode()))


def _utf16_no_bom(folder: Path, rng: np.random.Generator) -> str:
    text = csv_text(HEADER, manifest_rows(rng), sep="\t")
    return _write(folder, "cohort.tsv", text.encode("utf-16-le"))


def _latin1(folder: Path, rng: np.random.Generator) -> str:
    rows = manifest_rows(rng)
    rows[3][1] = "Tumorgröße 2 cm; mäßig differenziert."
    return _write(folder, "cohort.csv", csv_text(HEADER, rows).encode("cp1252"))


def _duplicated_columns(folder: Path, rng: np.random.Generator) -> str:
    header = ["patient_id", "report", "age", "os_time", "age"]
    return _write(folder, "cohort.csv", csv_text(header, manifest_rows(rng)))


def _duplicate_ids(folder: Path, rng: np.random.Generator) -> str:
    rows = manifest_rows(rng)
    rows[6] = [rows[1][0], rows[1][1], rows[1][2], rows[1][3], str(1 - int(rows[1][4]))]
    return _write(folder, "cohort.csv", csv_text(HEADER, rows))


def _survival_time_in_words(folder: Path, rng: np.random.Generator) -> str:
    rows = manifest_rows(rng)
    rows[2][3] = "sixty"
    return _write(folder, "cohort.csv", csv_text(HEADER, rows))


def _negative_time_event_two(folder: Path, rng: np.random.Generator) -> str:
    rows = manifest_rows(rng)
    rows[4][3] = "-3.5"
    rows[8][4] = "2"
    return _write(folder, "cohort.csv", csv_text(HEADER, rows))


def _inf_in_ehr(folder: Path, rng: np.random.Generator) -> str:
    rows = manifest_rows(rng)
    rows[5][2] = "inf"
    (folder / "schema.yaml").write_text(
        "ehr:\n  columns: [age]\n  types: {age: continuous}\n"
        "modalities:\n  report: {column: report}\n",
        encoding="utf-8",
    )
    return _write(folder, "cohort.csv", csv_text(HEADER[:3], [r[:3] for r in rows]))


def _path_outside_root(folder: Path, rng: np.random.Generator) -> str:
    (folder / "ecg").mkdir()
    rows = []
    for i in range(4):
        name = f"ecg/P{i + 1:03d}.npy"
        np.save(folder / name, rng.normal(0, 0.1, (100, 12)).astype(np.float32))
        rows.append([f"P{i + 1:03d}", name])
    rows.append(["P005", "../../../../etc/passwd"])
    return _write(folder, "cohort.csv", csv_text(["patient_id", "ecg"], rows))


def _missing_file(folder: Path, rng: np.random.Generator) -> str:
    rows = [[f"P{i + 1:03d}", f"fundus/P{i + 1:03d}.png"] for i in range(5)]
    return _write(folder, "cohort.csv", csv_text(["patient_id", "fundus"], rows))


def _ragged_row(folder: Path, rng: np.random.Generator) -> str:
    rows = manifest_rows(rng)
    rows[3] = [*rows[3], "1", "extra"]
    return _write(folder, "cohort.csv", csv_text(HEADER, rows))


def _mixed_delimiters(folder: Path, rng: np.random.Generator) -> str:
    rows = manifest_rows(rng)
    text = csv_text(HEADER, rows[:5]) + csv_text(HEADER, rows[5:], sep="\t").split("\n", 1)[1]
    return _write(folder, "cohort.csv", text)


def _nul_bytes(folder: Path, rng: np.random.Generator) -> str:
    data = csv_text(HEADER, manifest_rows(rng)).encode()
    return _write(folder, "cohort.csv", data[:80] + b"\x00\x00\x00\x00" + data[80:])


def _oversized_cell(folder: Path, rng: np.random.Generator) -> str:
    rows = manifest_rows(rng, 3)
    rows[1][1] = '"' + "Findings: " + "no change. " * 6_600 + '"'  # 72 600 characters
    return _write(folder, "cohort.csv", csv_text(HEADER, rows))


def _schema_file(folder: Path, rng: np.random.Generator, text: str) -> str:
    _write(folder, "cohort.csv", csv_text(HEADER, manifest_rows(rng)))
    return _write(folder, "schema.yaml", text)


def _schema_duplicated_keys(folder: Path, rng: np.random.Generator) -> str:
    return _schema_file(
        folder,
        rng,
        "patient_id: patient_id\n"
        "targets:\n"
        "  os: {type: survival, time: os_time, event: os_event}\n"
        "  os: {type: continuous, column: age}\n",
    )


def _schema_python_tag(folder: Path, rng: np.random.Generator) -> str:
    return _schema_file(
        folder,
        rng,
        "patient_id: !!python/object/apply:os.system ['echo pwned']\n",
    )


def _schema_billion_laughs(folder: Path, rng: np.random.Generator) -> str:
    return _schema_file(folder, rng, BILLION_LAUGHS + "targets: *l9\n")


def _schema_unknown_column(folder: Path, rng: np.random.Generator) -> str:
    _schema_file(
        folder, rng, "targets:\n  os: {type: survival, time: os_months, event: os_event}\n"
    )
    return "cohort.csv"


def _schema_is_pdf(folder: Path, rng: np.random.Generator) -> str:
    _write(folder, "cohort.csv", csv_text(HEADER, manifest_rows(rng)))
    return _write(folder, "schema.yaml", pdf_bytes())


CASES = [
    Case(
        "zero-length",
        "a manifest of 0 bytes",
        "ManifestError",
        r"file is empty \(0 bytes\)",
        _zero_length,
        "zero-length",
    ),
    Case(
        "header-only",
        "a header line and no patient row",
        "ManifestError",
        r"\[empty_manifest\] the manifest has no rows",
        _header_only,
        "missing",
    ),
    Case(
        "truncated-quoted-field",
        "the export stops inside a quoted report cell",
        "ManifestError",
        r"malformed table near line \d+: unexpected end of data",
        _truncated_quoted,
        "truncated",
    ),
    Case(
        "truncated-parquet",
        "a Parquet manifest cut in half",
        "ManifestError",
        r"cannot read Parquet: .*(magic bytes|footer|corrupt)",
        _truncated_parquet,
        "truncated",
    ),
    Case(
        "pdf-as-csv",
        "a PDF document named .csv",
        "ManifestError",
        r"binary content: a PDF document",
        _pdf_as_csv,
        "wrong-magic",
    ),
    Case(
        "xlsx-as-csv",
        "an Excel workbook (ZIP) renamed to .csv",
        "ManifestError",
        r"binary content: a ZIP archive \(Excel",
        _xlsx_as_csv,
        "wrong-magic",
    ),
    Case(
        "gzip-named-tsv",
        "gzip-compressed bytes in a file named .tsv",
        "ManifestError",
        r"binary content: gzip-compressed data",
        _gzip_named_tsv,
        "unsupported-compression",
    ),
    Case(
        "utf16-without-bom",
        "a UTF-16-LE manifest without a byte-order mark (Excel 'Unicode text')",
        "ManifestError",
        r"NUL byte at offset 1 \(UTF-16",
        _utf16_no_bom,
        "non-utf8",
    ),
    Case(
        "cp1252-bytes",
        "Windows-1252 umlauts in a manifest read as UTF-8",
        "ManifestError",
        r"not UTF-8 text: invalid byte 0x[0-9a-f]{2} at byte \d+",
        _latin1,
        "non-utf8",
    ),
    Case(
        "nul-bytes",
        "NUL bytes inside the manifest text",
        "ManifestError",
        r"NUL byte at offset 80",
        _nul_bytes,
        "other",
    ),
    Case(
        "duplicated-columns",
        "the header names 'age' twice",
        "ManifestError",
        r"duplicated column name\(s\): \['age'\]",
        _duplicated_columns,
        "duplicated-keys",
    ),
    Case(
        "duplicate-ids-conflicting-targets",
        "one patient on two rows with different survival events",
        "ManifestError",
        r"\[duplicate_id\] row 6 .*duplicate patient id",
        _duplicate_ids,
        "duplicated-keys",
    ),
    Case(
        "survival-time-in-words",
        "'sixty' as a survival time",
        "ManifestError",
        r"survival time is not a number",
        _survival_time_in_words,
        "wrong-types",
    ),
    Case(
        "negative-time-event-2",
        "a negative survival time and an event coded 2",
        "ManifestError",
        r"survival time is negative.*survival event must be 0",
        _negative_time_event_two,
        "wrong-types",
    ),
    Case(
        "inf-in-continuous-ehr",
        "'inf' in an EHR column the schema types continuous",
        "ManifestError",
        r"\[non_finite\].*continuous EHR value is not finite",
        _inf_in_ehr,
        "nan-inf",
    ),
    Case(
        "path-outside-data-root",
        "an ECG reference '../../../../etc/passwd'",
        "ManifestError",
        r"\[path_escapes_root\].*outside the data root",
        _path_outside_root,
        "other",
    ),
    Case(
        "referenced-files-missing",
        "fundus paths to files that do not exist",
        "ManifestError",
        r"5 problem\(s\): error \[file_not_found\]",
        _missing_file,
        "missing",
    ),
    Case(
        "ragged-row",
        "a row with more values than the header has columns",
        "ManifestError",
        r"line \d+ has 7 values but the header has 5 columns",
        _ragged_row,
        "header-vs-data",
    ),
    Case(
        "mixed-delimiters",
        "comma-separated header and first rows, tab-separated later rows",
        "ManifestError",
        r"mixed delimiters",
        _mixed_delimiters,
        "header-vs-data",
    ),
    Case(
        "oversized-cell",
        "one inline report cell of 72 600 characters",
        "ManifestError",
        r"has a cell of \d+ characters, more than 65536",
        _oversized_cell,
        "absurd-dimensions",
    ),
    Case(
        "schema-duplicated-keys",
        "a schema.yaml declaring target 'os' twice (YAML would keep the last silently)",
        "SchemaError",
        r"duplicated key 'os' on line 4 \(first on line 3\)",
        _schema_duplicated_keys,
        "duplicated-keys",
    ),
    Case(
        "schema-python-tag",
        "a schema.yaml with a !!python/object/apply tag (code execution)",
        "SchemaError",
        r"tag '!!python/object/apply:os\.system' .*is not plain YAML",
        _schema_python_tag,
        "other",
    ),
    Case(
        "schema-billion-laughs",
        "a schema.yaml whose nested aliases expand to 10^9 nodes",
        "SchemaError",
        r"aliases expand the document to more than \d+ nodes",
        _schema_billion_laughs,
        "absurd-dimensions",
    ),
    Case(
        "schema-names-missing-column",
        "the schema's survival time column 'os_months' is not in the manifest",
        "ManifestError",
        r"\[missing_column\] column 'os_months': no such column",
        _schema_unknown_column,
        "missing",
    ),
    Case(
        "schema-is-pdf",
        "a PDF document saved as schema.yaml",
        "SchemaError",
        r"binary content: a PDF document",
        _schema_is_pdf,
        "wrong-magic",
    ),
]
