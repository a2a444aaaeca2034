from __future__ import annotations

import pandas as pd
import pytest

from biomm import Cohort
from biomm.cohort.tables import read_table
from biomm.errors import ManifestError


def test_parquet_and_tsv_manifests(tmp_path):
    table = pd.DataFrame({"patient_id": ["a", "b"], "report": ["x", "y"], "label": [0, 1]})
    table.to_parquet(tmp_path / "m.parquet", index=False)
    table.to_csv(tmp_path / "m.tsv", sep="\t", index=False)
    for name in ("m.parquet", "m.tsv"):
        cohort = Cohort.from_file(tmp_path / name)
        assert cohort.patient_ids == ["a", "b"]
        assert cohort.parse_target("label").values == [0, 1]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("m.csv", b"", "empty"),
        ("m.csv", b"patient_id,age,age\na,1,2\n", "duplicated column"),
        ("m.csv", b"patient_id,x\n\xff\xfe\x00a,1\n", "UTF-8"),
        ("m.csv", b'patient_id,x\n"a,1\nb,2\n', "malformed"),
        ("m.xlsx", b"PK\x03\x04", "unsupported table format '.xlsx': an Excel workbook"),
        ("m.csv.gz", b"\x1f\x8b\x08\x00", "unsupported table format '.gz': a gzip-compressed"),
        ("m.csv", b"PK\x03\x04\x14\x00", "binary content: a ZIP archive"),
        ("m.tsv", b"\x1f\x8b\x08\x00\x00", "binary content: gzip-compressed data"),
        ("m.csv", b"patient_id,x\na,1\x00\n", "NUL byte at offset 16"),
        ("m.csv", "patient_id,x\n".encode("utf-16-le"), r"NUL byte at offset 1 \(UTF-16"),
        ("m.csv", b"patient_id,x\na,\xe9\n", "not UTF-8 text: invalid byte 0xe9 at byte 15"),
        ("m.parquet", b"patient_id,x\na,1\n", "not a Parquet file"),
        ("m.parquet", b"PAR1 not really", "Parquet"),
        ("m.csv", b"\n\n", "no header"),
    ],
)
def test_unreadable_tables_name_file_and_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ManifestError, match=reason) as err:
        read_table(path)
    assert str(path) in str(err.value)


def test_missing_table(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_table(tmp_path / "none.csv")


def _write(tmp_path, text: str, name: str = "m.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_trailing_delimiter_on_every_row_keeps_columns_aligned(tmp_path):
    path = _write(tmp_path, "patient_id,slide,age\r\nP1,s1.svs,50,\r\nP2,s2.svs,60,\r\n")
    frame = read_table(path)
    assert frame.to_dict("list") == {
        "patient_id": ["P1", "P2"],
        "slide": ["s1.svs", "s2.svs"],
        "age": ["50", "60"],
    }


def test_extra_values_are_an_error_with_the_line(tmp_path):
    path = _write(tmp_path, "patient_id,age\nP1,5\nP2,5,6\n")
    with pytest.raises(ManifestError, match="line 3 has 3 values but the header has 2"):
        read_table(path)


def test_missing_markers_but_none_is_a_value(tmp_path):
    path = _write(tmp_path, "patient_id,grade,bmi\nP1,None,NA\nP2,Mild,null\nP3,#N/A,n/a\n")
    frame = read_table(path)
    assert frame["grade"].tolist() == ["None", "Mild", None]
    assert frame["bmi"].tolist() == [None, None, None]


def test_semicolon_csv_from_european_excel(tmp_path):
    path = _write(tmp_path, "\ufeffpatient_id;slide;age\nP1;s.svs;5,5\n")
    assert read_table(path).to_dict("list") == {
        "patient_id": ["P1"],
        "slide": ["s.svs"],
        "age": ["5,5"],
    }


def test_line_numbers_skip_blank_and_empty_rows_and_follow_multiline_cells(tmp_path):
    text = 'patient_id,report\nP1,"two\nlines"\n\n,\nP2,x\n'
    frame = read_table(_write(tmp_path, text))
    assert frame["patient_id"].tolist() == ["P1", "P2"]
    assert frame.attrs["biomm_line_numbers"] == [2, 6]
    report = Cohort(frame).validate(probe_files=False)
    assert report.ok


def test_folder_given_as_table(tmp_path):
    with pytest.raises(ManifestError, match="is a folder"):
        read_table(tmp_path)


def test_ids_are_normalised_for_dataframes():
    frame = pd.DataFrame({"patient_id": ["P1", "P1 ", 3.0], "sample_id": ["a", "b", "c"]})
    cohort = Cohort(frame)
    assert cohort.patient_ids == ["P1", "3"]


def test_utf16_with_byte_order_mark_is_read(tmp_path):
    # Excel's "Unicode text" export: UTF-16-LE with a byte-order mark, tab-separated
    path = tmp_path / "m.tsv"
    path.write_bytes("patient_id\tsite\nP1\tMünchen\n".encode("utf-16"))
    assert read_table(path).to_dict("list") == {"patient_id": ["P1"], "site": ["München"]}


def test_mixed_delimiters_are_refused_but_one_value_rows_are_not(tmp_path):
    path = _write(tmp_path, "patient_id,age,sex\nP1,50,F\nP2;61;M\nP3;;\n")
    with pytest.raises(ManifestError, match=r"2 rows \(first on line 3\) .* mixed delimiters"):
        read_table(path)
    path = _write(tmp_path, "patient_id,age,sex\nP1,50,F\nP2;b\nP3;c\n")  # ids with one ';'
    assert read_table(path)["patient_id"].tolist() == ["P1", "P2;b", "P3;c"]
    path = _write(tmp_path, "report\tage\tsex\nBenign, no tumour, clear\t\t\n", "m.tsv")
    assert read_table(path)["report"].tolist() == ["Benign, no tumour, clear"]  # one row: text


def test_a_huge_cell_is_refused_whatever_the_csv_field_limit(tmp_path, monkeypatch):
    import csv

    from biomm.cohort import tables

    monkeypatch.setattr(tables, "MAX_CELL_CHARS", 100)
    path = _write(tmp_path, "patient_id,note\nP1," + "x" * 101 + "\n")
    with pytest.raises(ManifestError, match="line 2 has a cell of 101 characters"):
        read_table(path)
    old = csv.field_size_limit()
    try:
        csv.field_size_limit(50)
        with pytest.raises(ManifestError, match="cell of more than 50 characters"):
            read_table(path)
    finally:
        csv.field_size_limit(old)


def test_parquet_duplicated_columns_are_refused(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([pa.array(["a"]), pa.array([1]), pa.array([2])], ["id", "x", "x"])
    pq.write_table(table, tmp_path / "m.parquet")
    with pytest.raises(ManifestError, match=r"duplicated column name\(s\): \['x'\]"):
        read_table(tmp_path / "m.parquet")
