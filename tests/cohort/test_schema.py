from __future__ import annotations

import pandas as pd
import pytest

from biomm import Cohort, CohortSchema, infer_schema
from biomm.cohort.schema import TargetSpec
from biomm.errors import SchemaError


def test_yaml_schema_round_trip(tmp_path):
    text = """
patient_id: case
sample_id: slide_id
modalities:
  wsi: {column: slides, separator: "|"}
  report: {column: note}
ehr:
  columns: [age, stage]
  types: {age: continuous, stage: categorical}
targets:
  os: {type: survival, time: months, event: dead}
  subtype: {type: multiclass, column: st, classes: [A, B, C]}
  findings: {type: multilabel, column: dx, separator: ","}
"""
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    schema = CohortSchema.from_yaml(path)
    assert schema.modalities["wsi"].separator == "|"
    assert schema.targets["os"].columns_list() == ["months", "dead"]
    assert CohortSchema.from_dict(__import__("yaml").safe_load(schema.to_yaml())) == schema


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"modalities": {"xray": {"column": "x"}}}, "modalities.xray"),
        ({"targets": {"os": {"type": "survival", "time": "t"}}}, "targets.os"),
        ({"targets": {"y": {"type": "ordinal", "column": "y"}}}, "targets.y.type"),
        (
            {"targets": {"y": {"type": "binary", "column": "y", "classes": [1, 2, 3]}}},
            "exactly 2 classes",
        ),
        ({"patient_idd": "x"}, "patient_idd"),
        ({"ehr": {"columns": ["a"], "types": {"b": "continuous"}}}, "'types' names columns"),
        (["not", "a", "mapping"], "mapping"),
    ],
)
def test_invalid_schema_names_the_key(data, fragment):
    with pytest.raises(SchemaError) as err:
        CohortSchema.from_dict(data, source="s.yaml")
    assert fragment in str(err.value)
    assert "s.yaml" in str(err.value)


def test_schema_file_errors(tmp_path):
    with pytest.raises(SchemaError, match="not found"):
        CohortSchema.from_yaml(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("modalities: [unclosed\n")
    with pytest.raises(SchemaError, match="invalid YAML"):
        CohortSchema.from_yaml(bad)


def test_inference_from_conventional_names():
    df = pd.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "slide_path": ["a.svs", "b.svs", "c.svs"],
            "ecg": ["e1", "e2", None],
            "strat_fold": [1, 2, 3],
            "pfs_time": [1.0, 2.0, 3.0],
            "pfs_event": [0, 1, 1],
            "label": ["LUAD", "LUSC", "LUAD"],
            "target_grade": ["G1", "G2", "G3"],
            "age": [50, 60, 70],
        }
    )
    schema = infer_schema(df)
    assert schema.patient_id == "case_id"
    assert schema.fold == "strat_fold"
    assert schema.modalities["wsi"].column == "slide_path"
    assert schema.targets["pfs"] == TargetSpec(type="survival", time="pfs_time", event="pfs_event")
    assert schema.targets["label"].type == "binary"
    assert schema.targets["grade"].type == "multiclass"
    assert schema.ehr is not None and schema.ehr.columns == ["age"]


def test_ids_stay_text_when_read_from_csv(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("patient_id,ecg,age\n007,100,61\n010,101,\n")
    cohort = Cohort.from_file(path)
    assert cohort.patient_ids == ["007", "010"]
    assert cohort.references("ecg", 0) == ["100"]
    assert cohort.table["age"].dtype.kind == "f"


def test_schema_typo_suggests_the_key():
    with pytest.raises(SchemaError, match="modalitys: unknown key; did you mean 'modalities'"):
        CohortSchema.from_dict({"modalitys": {}})


def test_inference_is_case_insensitive_and_flags_stray_binary_values():
    df = pd.DataFrame(
        {
            "Patient_ID": ["a", "b", "c"],
            "Slide": ["a.svs", "b.svs", "c.svs"],
            "OS_Time": [1.0, 2.0, 3.0],
            "OS_Event": [1, 0, 1],
            "Label": ["yes", "no", "maybe"],
        }
    )
    schema = infer_schema(df)
    assert schema.patient_id == "Patient_ID"
    assert schema.modalities["wsi"].column == "Slide"
    assert schema.targets["OS"].type == "survival"
    assert schema.targets["Label"].type == "binary"
    report = Cohort(df).validate(probe_files=False)
    assert [(p.code, p.row) for p in report.errors] == [("target_type_mismatch", 2)]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "targets:\n  y: {type: binary, column: a}\n  y: {type: binary, column: b}\n",
            r"duplicated key 'y' on line 3 \(first on line 2\)",
        ),
        ("patient_id: !!python/name:os.system\n", r"tag '!!python/name:os\.system'"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"b{i}: &b{i} [{', '.join(['*a' if i == 0 else f'*b{i - 1}'] * 10)}]\n"
                for i in range(6)
            ),
            "aliases expand the document",
        ),
    ],
)
def test_schema_yaml_is_read_strictly(tmp_path, text, match):
    path = tmp_path / "schema.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SchemaError, match=match) as info:
        CohortSchema.from_yaml(path)
    assert str(path) in str(info.value)


def test_schema_that_is_not_text(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_bytes(b"PK\x03\x04\x14\x00")
    with pytest.raises(SchemaError, match="binary content: a ZIP archive"):
        CohortSchema.from_yaml(path)
