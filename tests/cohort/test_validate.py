"""Malformed manifests: each must produce its specific problem code, with row and column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from biomm import Cohort, CohortSchema
from biomm.cli.main import app  # noqa: F401  (import check: CLI importable with the library)
from biomm.errors import ManifestError


def _cohort(table: pd.DataFrame, root: Path, schema: dict | None = None, **kw) -> Cohort:
    parsed = CohortSchema.from_dict(schema) if schema is not None else None
    return Cohort(table, parsed, data_root=root, **kw)


def test_clean_manifest_has_no_problem(good_table, real_files):
    report = _cohort(good_table, real_files).validate()
    assert report.ok_strict, str(report)


def _edit(table: pd.DataFrame, row: int, column: str, value) -> pd.DataFrame:
    out = table.copy()
    out[column] = out[column].astype(object)
    out.at[row, column] = value
    return out


# (name, edit of the good table, expected code, expected row, expected column, schema)
CASES = [
    (
        "duplicate patient id",
        lambda t: _edit(t, 2, "patient_id", "p1"),
        "duplicate_id",
        2,
        "patient_id",
        None,
    ),
    (
        "blank patient id",
        lambda t: _edit(t, 1, "patient_id", None),
        "missing_id",
        1,
        "patient_id",
        None,
    ),
    (
        "missing slide file",
        lambda t: _edit(t, 0, "slide", "slides/missing.svs"),
        "file_not_found",
        0,
        "slide",
        None,
    ),
    (
        "unknown slide extension",
        lambda t: _edit(t, 0, "slide", "reports/r.txt"),
        "unknown_format",
        0,
        "slide",
        None,
    ),
    (
        "text file named .svs",
        lambda t: _edit(t, 0, "slide", "bad/fake.svs"),
        "format_mismatch",
        0,
        "slide",
        None,
    ),
    (
        "zero-byte slide",
        lambda t: _edit(t, 2, "slide", "bad/empty.svs"),
        "empty_file",
        2,
        "slide",
        None,
    ),
    (
        "path escaping the root",
        lambda t: _edit(t, 0, "slide", "../outside.svs"),
        "path_escapes_root",
        0,
        "slide",
        None,
    ),
    (
        "missing WFDB signal file",
        lambda t: _edit(t, 0, "ecg", "bad/nodat"),
        "file_not_found",
        0,
        "ecg",
        None,
    ),
    (
        "WFDB header with bad sampling rate",
        lambda t: _edit(t, 0, "ecg", "bad/badfs.hea"),
        "format_mismatch",
        0,
        "ecg",
        None,
    ),
    (
        "PNG that is a JPEG",
        lambda t: _edit(t, 1, "fundus", "bad/jpeg.png"),
        "format_mismatch",
        1,
        "fundus",
        None,
    ),
    (
        "report file missing",
        lambda t: _edit(t, 0, "report", "reports/none.txt"),
        "file_not_found",
        0,
        "report",
        None,
    ),
    (
        "report file is a PDF",
        lambda t: _edit(t, 0, "report", "bad/scan.txt"),
        "format_mismatch",
        0,
        "report",
        None,
    ),
    (
        "negative survival time",
        lambda t: _edit(t, 1, "os_time", -3.0),
        "negative_time",
        1,
        "os_time",
        None,
    ),
    (
        "event outside {0,1}",
        lambda t: _edit(t, 2, "os_event", 2),
        "invalid_event",
        2,
        "os_event",
        None,
    ),
    (
        "non-numeric survival time",
        lambda t: _edit(t, 3, "os_time", "unknown"),
        "target_type_mismatch",
        3,
        "os_time",
        None,
    ),
    (
        "binary target with a third value",
        lambda t: _edit(t, 3, "label", 7),
        "target_type_mismatch",
        3,
        "label",
        {
            "modalities": {"wsi": {"column": "slide"}},
            "targets": {"label": {"type": "binary", "column": "label"}},
        },
    ),
    (
        "class outside the declared classes",
        lambda t: _edit(t, 3, "label", 5),
        "unknown_class",
        3,
        "label",
        {
            "modalities": {"wsi": {"column": "slide"}},
            "targets": {"label": {"type": "multiclass", "column": "label", "classes": [0, 1]}},
        },
    ),
    (
        "continuous target not a number",
        lambda t: _edit(t, 1, "label", "high"),
        "target_type_mismatch",
        1,
        "label",
        {
            "modalities": {"wsi": {"column": "slide"}},
            "targets": {"label": {"type": "continuous", "column": "label"}},
        },
    ),
    (
        "patient in two splits",
        lambda t: pd.concat(
            [
                t.assign(split=["train", "train", "val", "test"], sample_id=["a", "b", "c", "d"]),
                t.head(1).assign(split=["test"], sample_id=["e"]),
            ],
            ignore_index=True,
        ),
        "split_leak",
        4,
        "split",
        None,
    ),
    (
        "unknown split value",
        lambda t: t.assign(split=["train", "tain", "val", "test"]),
        "invalid_split",
        1,
        "split",
        None,
    ),
    (
        "non-integer fold",
        lambda t: t.assign(fold=["1", "2", "two", "1"]),
        "invalid_fold",
        2,
        "fold",
        None,
    ),
    (
        "schema column missing from manifest",
        lambda t: t.drop(columns=["slide"]),
        "missing_column",
        None,
        "slide",
        {"modalities": {"wsi": {"column": "slide"}}},
    ),
    (
        "no patient id column",
        lambda t: t.rename(columns={"patient_id": "pid"}),
        "missing_column",
        None,
        "patient_id",
        {"modalities": {"wsi": {"column": "slide"}}},
    ),
    (
        "continuous EHR value not a number",
        lambda t: _edit(t, 0, "age", "sixty"),
        "type_mismatch",
        0,
        "age",
        {
            "modalities": {"wsi": {"column": "slide"}},
            "ehr": {"columns": ["age"], "types": {"age": "continuous"}},
        },
    ),
    ("empty manifest", lambda t: t.iloc[0:0], "empty_manifest", None, None, None),
]


@pytest.fixture(scope="module")
def bad_files(real_files: Path) -> Path:
    bad = real_files / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "fake.svs").write_text("this is not a slide")
    (bad / "empty.svs").write_bytes(b"")
    (bad / "nodat.hea").write_text("nodat 1 500 1000\nnodat.dat 16 200 16 0 0 0 0 I\n")
    (bad / "badfs.hea").write_text("badfs 12 fast 5000\n")
    (bad / "jpeg.png").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    (bad / "latin1.txt").write_bytes("Befund: gutartig, Größe 3 cm".encode("latin-1") * 3)
    (bad / "scan.txt").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    return bad


@pytest.mark.parametrize(
    ("name", "edit", "code", "row", "column", "schema"), CASES, ids=[c[0] for c in CASES]
)
def test_malformed_manifest_reports_specific_problem(
    name, edit, code, row, column, schema, good_table, real_files, bad_files
):
    cohort = _cohort(edit(good_table), real_files, schema)
    report = cohort.validate()
    matching = [p for p in report.problems if p.code == code]
    assert matching, f"{name}: expected {code}, got {report}"
    problem = matching[0]
    assert problem.row == row
    assert problem.column == column
    assert problem.message
    assert not report.ok
    # every problem of the clean table's other rows stays absent: nothing unrelated is flagged
    assert all(
        p.code == code or p.severity == "warning" or p.code in {"missing_column"}
        for p in report.errors
    ), str(report)


def test_all_problems_reported_at_once(good_table, real_files, bad_files):
    table = _edit(_edit(good_table, 0, "slide", "slides/nope.svs"), 1, "os_time", -1.0)
    table = _edit(table, 2, "patient_id", "p1")
    report = _cohort(table, real_files).validate()
    assert {"file_not_found", "negative_time", "duplicate_id"} <= report.codes()


def test_absolute_path_outside_explicit_root_is_flagged(good_table, real_files, tmp_path):
    outside = tmp_path / "x.svs"
    outside.write_bytes(b"II*\x00")
    report = _cohort(_edit(good_table, 0, "slide", str(outside)), real_files).validate()
    assert "path_escapes_root" in report.codes()


def test_absolute_path_allowed_without_explicit_root(good_table, real_files):
    table = _edit(good_table, 0, "slide", str(real_files / "slides" / "a.svs"))
    table = table.drop(columns=["ecg", "fundus", "report"])
    report = Cohort(table).validate()
    assert "path_escapes_root" not in report.codes(), str(report)
    assert not [p for p in report.problems if p.row == 0], str(report)
    # the relative path of row 2 resolves against the working directory and is missing there
    assert [(p.code, p.row) for p in report.errors] == [("file_not_found", 2)]


def test_missing_target_is_masked_not_an_error(good_table, real_files):
    table = _edit(good_table, 1, "label", None)
    report = _cohort(table, real_files).validate()
    assert report.ok_strict, str(report)


def test_incomplete_survival_is_a_warning(good_table, real_files):
    report = _cohort(_edit(good_table, 1, "os_event", None), real_files).validate()
    assert report.ok and not report.ok_strict
    assert [p.code for p in report.warnings] == ["incomplete_survival"]


def test_patient_without_modality_is_a_warning(good_table, real_files):
    table = good_table.drop(columns=["age"])
    table = _edit(table, 3, "report", None)
    report = _cohort(table, real_files).validate()
    assert [(p.code, p.row) for p in report.warnings] == [("no_modalities", 3)]


def test_probe_can_be_disabled(good_table, real_files):
    report = _cohort(_edit(good_table, 0, "slide", "slides/nope.svs"), real_files).validate(
        probe_files=False
    )
    assert report.ok


def test_ehr_table_join_problems(good_table, real_files, tmp_path):
    ehr = pd.DataFrame({"patient_id": ["p1", "p1", "zz"], "bmi": [20, 21, 22]})
    ehr.to_csv(real_files / "ehr_dup.csv", index=False)
    schema = {
        "modalities": {"wsi": {"column": "slide"}},
        "ehr": {"table": "ehr_dup.csv", "columns": ["bmi", "hba1c"]},
    }
    report = _cohort(good_table, real_files, schema).validate()
    assert {"duplicate_id", "ehr_unmatched", "missing_column"} <= report.codes()


def test_unreadable_ehr_table(good_table, real_files):
    schema = {"modalities": {"wsi": {"column": "slide"}}, "ehr": {"table": "nope.csv"}}
    report = _cohort(good_table, real_files, schema).validate()
    assert "unreadable_ehr_table" in report.codes()


def test_report_serialisations(good_table, real_files):
    table = _edit(good_table, 0, "slide", "slides/nope.svs")
    report = _cohort(table, real_files).validate()
    frame = report.to_frame()
    assert frame.loc[0, "code"] == "file_not_found"
    assert report.to_dict()["n_errors"] == 1
    assert "row 0" in str(report)


def test_line_numbers_in_problems(tmp_path, real_files):
    path = tmp_path / "m.csv"
    path.write_text("patient_id,report,split\n\nA,x,train\nB,y,tset\n")
    report = Cohort.from_file(path).validate()
    (problem,) = report.problems
    assert (problem.code, problem.row, problem.line) == ("invalid_split", 1, 4)
    assert "row 1 (line 4)" in str(problem)


def test_shared_files_between_patients(good_table, real_files):
    table = _edit(good_table, 2, "slide", "slides/a.svs")  # p3 now shares p1's slide
    report = _cohort(table, real_files).validate()
    assert [(p.code, p.severity, p.row) for p in report.problems] == [("shared_file", "warning", 2)]
    leaking = table.assign(split=["train", "train", "test", "train"])
    report = _cohort(leaking, real_files).validate()
    assert [(p.code, p.row) for p in report.errors] == [("split_leak", 2)]
    assert "patient 'p1' (row 0)" in report.errors[0].message


def test_same_file_twice_in_one_cell(good_table, real_files):
    table = _edit(good_table, 0, "slide", "slides/a.svs; slides/a.svs")
    report = _cohort(table, real_files).validate()
    assert [p.code for p in report.problems] == ["duplicate_reference"]


def test_ehr_table_problems_point_at_the_ehr_table(good_table, real_files):
    (real_files / "ehr_bad.csv").write_text("patient_id,age\np1,61\n,70\np2,abc\np4,inf\n")
    schema = {
        "modalities": {"wsi": {"column": "slide"}},
        "ehr": {"table": "ehr_bad.csv", "columns": ["age"], "types": {"age": "continuous"}},
    }
    report = _cohort(good_table, real_files, schema).validate()
    found = {(p.code, p.row, p.line) for p in report.errors}
    assert found == {("missing_id", 1, 3), ("type_mismatch", 2, 4), ("non_finite", 3, 5)}
    assert all(p.table and p.table.endswith("ehr_bad.csv") for p in report.errors)
    assert str(report.errors[0]).startswith("error [missing_id] in /")
    # p2 and p4 lose their only modality, the masked EHR values, so they get a warning
    assert {(p.code, p.row) for p in report.warnings} == {
        ("no_modalities", 1),
        ("no_modalities", 3),
    }


def test_ehr_table_outside_the_root(good_table, real_files):
    schema = {"modalities": {"wsi": {"column": "slide"}}, "ehr": {"table": "../ehr.csv"}}
    report = _cohort(good_table, real_files, schema).validate()
    assert [p.code for p in report.errors] == ["path_escapes_root"]


def test_windows_paths_get_a_hint(good_table, real_files):
    report = _cohort(_edit(good_table, 0, "slide", "slides\\a.svs"), real_files).validate()
    assert "forward" not in report.errors[0].message
    assert "backslashes" in report.errors[0].message


def test_missing_column_suggests_the_close_match(good_table, real_files):
    schema = {"modalities": {"wsi": {"column": "Slide"}}}
    report = _cohort(good_table, real_files, schema).validate()
    (problem,) = report.errors
    assert "did you mean 'slide'?" in problem.message
    assert "Columns found: patient_id, slide" in problem.message


def test_inline_report_ending_in_txt_is_text(good_table, real_files):
    report = _cohort(_edit(good_table, 1, "report", "See addendum.txt"), real_files).validate()
    assert report.ok_strict, str(report)


def test_report_files_decode_like_the_report_reader(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r/latin.txt").write_bytes("Befund: gutartig, Größe 3 cm.".encode("cp1252"))
    (tmp_path / "r/utf16.txt").write_bytes("Impression: no effusion.".encode("utf-16"))
    (tmp_path / "r/empty.txt").write_bytes(b"")
    (tmp_path / "r/old.rtf").write_bytes(b"{\\rtf1 report}")
    table = pd.DataFrame(
        {
            "patient_id": ["a", "b", "c", "d"],
            "report": ["r/latin.txt", "r/utf16.txt", "r/empty.txt", "r/old.rtf"],
        }
    )
    cohort = Cohort(table, data_root=tmp_path)
    assert cohort.report_text(0) == "Befund: gutartig, Größe 3 cm."
    assert cohort.report_text(1) == "Impression: no effusion."
    with pytest.raises(ManifestError, match="empty"):
        cohort.report_text(2)
    with pytest.raises(ManifestError, match="RTF"):
        cohort.report_text(3)  # a file name, refused with a conversion hint, not inline text
    problems = {(p.row, p.code) for p in cohort.validate().errors}
    assert problems == {(2, "empty_file"), (3, "unknown_format")}  # latin-1 and UTF-16 pass
