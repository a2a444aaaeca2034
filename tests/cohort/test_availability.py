from __future__ import annotations

import pandas as pd

from biomm import Cohort, CohortSchema


def test_availability_matrix_and_patterns():
    df = pd.DataFrame(
        {
            "patient_id": ["a", "a", "b", "c", "d"],
            "sample_id": ["1", "2", "3", "4", "5"],
            "wsi": ["a1.svs", None, None, "c.svs", None],
            "ecg": [None, "a.hea", "b.hea", None, None],
            "report": [None, None, "  ", "text", None],
            "age": [None, 50, 60, None, None],
        }
    )
    availability = Cohort(df).availability()
    assert availability.matrix.loc["a"].to_dict() == {
        "wsi": True,
        "ecg": True,
        "report": False,
        "ehr": True,
    }
    assert availability.matrix.loc["d"].sum() == 0  # nothing: blank report is not a report
    assert availability.patterns["n_patients"].sum() == 4
    assert availability.counts().to_dict() == {"wsi": 2, "ecg": 2, "report": 1, "ehr": 2}


def test_ehr_table_availability(tmp_path):
    (tmp_path / "ehr.csv").write_text("patient_id,bmi\na,22\nc,30\n")
    schema = CohortSchema.from_dict({"ehr": {"table": "ehr.csv", "columns": ["bmi"]}})
    cohort = Cohort(pd.DataFrame({"patient_id": ["a", "b", "c"]}), schema, data_root=tmp_path)
    assert cohort.availability().matrix["ehr"].to_dict() == {"a": True, "b": False, "c": True}
    (tmp_path / "ehr.csv").write_text("patient_id,bmi\na,22\nc,\n")
    cohort = Cohort(cohort.table, schema, data_root=tmp_path)
    assert cohort.availability().matrix["ehr"].to_dict() == {"a": True, "b": False, "c": False}


def test_samples_hold_references_and_masked_targets(tmp_path):
    df = pd.DataFrame(
        {
            "patient_id": ["a", "b"],
            "wsi": ["s1.svs;s2.svs", None],
            "report": ["Benign.", None],
            "label": [1, None],
            "os_time": [5.0, -1.0],
            "os_event": [1, 1],
        }
    )
    samples = list(Cohort(df, data_root=tmp_path).samples())
    assert samples[0].modalities["wsi"] == [tmp_path / "s1.svs", tmp_path / "s2.svs"]
    assert samples[0].modalities["report"] == "Benign."
    assert samples[0].targets == {"label": 1, "os": (5.0, 1)}
    assert samples[1].modalities == {} and samples[1].targets == {}  # invalid time is masked


def test_ehr_frame_and_samples_from_ehr_table(tmp_path):
    (tmp_path / "ehr.csv").write_text("patient_id,bmi,smoker\na,22.5,no\nc,,\n")
    schema = CohortSchema.from_dict({"ehr": {"table": "ehr.csv"}})
    cohort = Cohort(pd.DataFrame({"patient_id": ["a", "b", "c"]}), schema, data_root=tmp_path)
    frame = cohort.ehr_frame()
    assert frame.index.tolist() == ["a"]  # c has a row but no value
    assert frame.loc["a", "smoker"] == "no"
    samples = {s.patient_id: s for s in cohort.samples()}
    assert samples["a"].modalities["ehr"] == {"bmi": 22.5, "smoker": "no"}
    assert "ehr" not in samples["b"].modalities and "ehr" not in samples["c"].modalities


def test_bad_continuous_ehr_cells_are_masked_not_stringified():
    schema = CohortSchema.from_dict(
        {"ehr": {"columns": ["age", "sex"], "types": {"age": "continuous"}}}
    )
    df = pd.DataFrame(
        {"patient_id": ["a", "b", "c"], "age": ["64", "abc", "inf"], "sex": ["F", "M", None]}
    )
    samples = {s.patient_id: s for s in Cohort(df, schema).samples()}
    assert samples["a"].modalities["ehr"] == {"age": 64.0, "sex": "F"}
    assert samples["b"].modalities["ehr"] == {"sex": "M"}
    assert "ehr" not in samples["c"].modalities
