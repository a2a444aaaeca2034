"""Column-kind inference and its explicit overrides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biomm.errors import TableError
from biomm.io.ehr import infer_column_type, infer_column_types


def test_inference_rules():
    n = 40
    frame = pd.DataFrame(
        {
            "patient_code": [f"P{i:04d}" for i in range(n)],  # unique text → identifier
            "record_id": list(range(1000, 1000 + n)),  # id-like name, unique numbers
            "age": np.linspace(30.5, 80.0, n),  # floats → continuous
            "ecog": [i % 4 for i in range(n)],  # dense small integer codes → categorical
            "sex": [1, 2] * (n // 2),  # binary codes → categorical
            "karnofsky": [50 + 10 * (i % 6) for i in range(n)],  # sparse codes → continuous
            "grade": ["I", "II", "III", "II"] * (n // 4),  # text → categorical
            "smoker": [True, False] * (n // 2),  # booleans → categorical
            "admitted": [f"2021-03-{i % 28 + 1:02d}" for i in range(n)],  # dates → datetime
            "zip": ["0042", "0043"] * (n // 2),  # leading-zero codes stay text → categorical
            "empty": [None] * n,  # no value → continuous (dropped when fitting)
            "count_text": [str(i % 3) for i in range(n)],  # numbers as text → codes
        }
    )
    assert infer_column_types(frame) == {
        "patient_code": "identifier",
        "record_id": "identifier",
        "age": "continuous",
        "ecog": "categorical",
        "sex": "categorical",
        "karnofsky": "continuous",
        "grade": "categorical",
        "smoker": "categorical",
        "admitted": "datetime",
        "zip": "categorical",
        "empty": "continuous",
        "count_text": "categorical",
    }


def test_datetime_dtype_and_few_unique_texts():
    stamps = pd.Series(pd.to_datetime(["2020-01-01", "2021-06-30"]))
    assert infer_column_type("when", stamps) == "datetime"
    # three distinct texts in three rows: too few to call an identifier
    assert infer_column_type("sex", pd.Series(["F", "M", "X"])) == "categorical"
    # a word that dateutil would parse is not a date
    assert infer_column_type("month", pd.Series(["May", "June"] * 5)) == "categorical"


def test_explicit_types_override_and_are_checked():
    frame = pd.DataFrame({"ecog": [0, 1, 2, 3] * 5, "name": ["a", "b"] * 10})
    assert infer_column_types(frame, {"ecog": "continuous"})["ecog"] == "continuous"
    with pytest.raises(TableError, match="unknown type 'number'"):
        infer_column_types(frame, {"ecog": "number"})
    with pytest.raises(TableError, match=r"does not have: \['bmi'\]"):
        infer_column_types(frame, {"bmi": "continuous"})


def test_duplicated_column_names():
    frame = pd.DataFrame([[1, 2, 3]], columns=["a", "b", "a"])
    with pytest.raises(TableError, match=r"duplicated column name\(s\): \['a'\]"):
        infer_column_types(frame)
