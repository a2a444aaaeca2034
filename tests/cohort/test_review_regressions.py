"""Regressions for defects found in review of the cohort foundation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from biomm import Cohort, CohortSchema, Registry, Sample, collate
from biomm.cohort.tables import LINE_NUMBERS, read_table
from biomm.errors import InputError, RegistryError, SplitError


def test_inf_huge_and_zero_padded_values_survive_reading(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(
        "patient_id,report,age,accession,icd,grade\n"
        "P1,a,61,12345678901234567890,0042,01\n"
        "P2,b,inf,12345678901234567891,0107,02\n"
    )
    cohort = Cohort.from_file(path)
    assert cohort.table["age"].tolist()[1] == float("inf")
    assert cohort.table["accession"].tolist() == ["12345678901234567890", "12345678901234567891"]
    assert cohort.table["icd"].tolist() == ["0042", "0107"]
    assert cohort.table["grade"].tolist() == ["01", "02"]
    assert LINE_NUMBERS not in cohort.table.attrs  # no deep copies of line lists per row access


def test_yaml_yes_no_classes_stay_words(tmp_path):
    schema_path = tmp_path / "s.yaml"
    schema_path.write_text(
        "targets:\n  smoker: {type: binary, column: smoker, classes: [no, yes]}\n"
    )
    schema = CohortSchema.from_yaml(schema_path)
    assert schema.targets["smoker"].classes == ["false", "true"]
    df = pd.DataFrame({"patient_id": ["a", "b", "c"], "smoker": ["yes", "No", "maybe"]})
    parsed = Cohort(df, schema).parse_target("smoker")
    assert parsed.values == [1, 0, None]
    assert [i.code for i in parsed.issues] == ["unknown_class"]


def test_bool_column_with_declared_numeric_classes():
    schema = CohortSchema.from_dict(
        {"targets": {"y": {"type": "binary", "column": "y", "classes": [0, 1]}}}
    )
    df = pd.DataFrame({"patient_id": ["a", "b"], "y": [True, False]})
    assert Cohort(df, schema).parse_target("y").values == [1, 0]


def test_collate_promotes_mixed_dtypes():
    batch = collate(
        [Sample("a", {"x": torch.tensor([1, 2])}), Sample("b", {"x": torch.tensor([0.5, 1.7])})]
    )
    assert batch.modalities["x"].dtype == torch.float32
    assert batch.modalities["x"][1].tolist() == pytest.approx([0.5, 1.7])
    flags = collate([Sample("a", {"f": np.bool_(True)}), Sample("b", {"f": 2.5})])
    assert flags.modalities["f"].tolist() == [1.0, 2.5]
    with pytest.raises(InputError, match="absent key"):
        Sample("a", {}, {"y": np.float32("nan")})
    with pytest.raises(InputError, match="scalars"):
        collate([Sample("a", {"w": torch.tensor(1.0)})], variable_length=("w",))


def test_ehr_table_float_ids_join(tmp_path):
    pd.DataFrame({"patient_id": [1.0, 2.0], "age": [60, 70]}).to_parquet(tmp_path / "e.parquet")
    schema = CohortSchema.from_dict({"ehr": {"table": "e.parquet", "columns": ["age"]}})
    cohort = Cohort(pd.DataFrame({"patient_id": ["1", "2", "3"]}), schema, data_root=tmp_path)
    assert cohort.availability().matrix["ehr"].tolist() == [True, True, False]
    assert "ehr_unmatched" not in cohort.validate().codes()


def test_parquet_index_and_markers(tmp_path):
    df = pd.DataFrame({"patient_id": ["a", "b"], "report": [" text ", "NA"]})
    df.set_index("patient_id").to_parquet(tmp_path / "m.parquet")
    frame = read_table(tmp_path / "m.parquet")
    assert frame.to_dict("list") == {"patient_id": ["a", "b"], "report": ["text", None]}


def test_line_numbers_follow_reordered_rows(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("patient_id,report\nP3,x\nP1,y\nP2,\n")
    df = read_table(path).sort_values("patient_id")
    report = Cohort(df).validate()
    (problem,) = report.problems
    assert problem.code == "no_modalities" and problem.value == "P2" and problem.line == 4


def test_split_spelling_is_not_a_shared_file_leak(tmp_path):
    (tmp_path / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
    df = pd.DataFrame(
        {"patient_id": ["x", "y"], "fundus": ["a.png", "a.png"], "split": ["train", "Training"]}
    )
    codes = Cohort(df, data_root=tmp_path).validate().codes()
    assert "split_leak" not in codes and "shared_file" in codes


def test_non_finite_fold_is_invalid():
    df = pd.DataFrame({"patient_id": ["a", "b"], "report": ["x", "y"], "fold": [1.0, np.inf]})
    assert "invalid_fold" in Cohort(df).validate().codes()


def test_empty_existing_split_column_is_assigned_and_partial_one_refused():
    df = pd.DataFrame({"patient_id": list("abcd"), "split": [None] * 4, "y": [0, 1, 0, 1]})
    out = Cohort(df).split(ratios=(0.5, 0.25, 0.25), seed=0)
    assert out.table["split"].notna().all()
    df.loc[0, "split"] = "train"
    with pytest.raises(SplitError, match="without a value"):
        Cohort(df).split(ratios=(0.5, 0.25, 0.25))


def test_separator_only_cell_is_not_a_slide():
    df = pd.DataFrame({"patient_id": ["a"], "wsi": [" ; "]})
    cohort = Cohort(df)
    assert not cohort.availability().matrix.loc["a", "wsi"]
    assert "no_modalities" in cohort.validate().codes()


def test_registry_add_rejects_empty_names():
    with pytest.raises(RegistryError, match="non-empty"):
        Registry("x").add("", dict)


def test_non_string_column_names():
    df = pd.DataFrame({"patient_id": ["a"], 0: ["x"]})
    assert "missing_column" not in Cohort(df).validate().codes()
