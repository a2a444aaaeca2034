from __future__ import annotations

import pandas as pd

from biomm.cohort.schema import TargetSpec
from biomm.cohort.targets import parse_target


def test_binary_text_values():
    frame = pd.DataFrame({"y": ["Yes", "no", None, "TRUE"]})
    parsed = parse_target(TargetSpec(type="binary", column="y"), frame)
    assert parsed.values == [1, 0, None, 1]
    assert parsed.classes == ["0", "1"]


def test_binary_two_named_classes_sorted():
    frame = pd.DataFrame({"y": ["tumour", "normal", "tumour"]})
    parsed = parse_target(TargetSpec(type="binary", column="y"), frame)
    assert parsed.classes == ["normal", "tumour"]
    assert parsed.values == [1, 0, 1]


def test_declared_classes_define_order():
    frame = pd.DataFrame({"g": ["G3", "G1", "G2"]})
    parsed = parse_target(
        TargetSpec(type="multiclass", column="g", classes=["G3", "G2", "G1"]), frame
    )
    assert parsed.values == [0, 2, 1]


def test_multilabel_delimited_and_indicator_columns():
    frame = pd.DataFrame({"dx": ["AF;LBBB", "", "NORM"], "af": [1, 0, None], "norm": [0, 1, 1]})
    delimited = parse_target(TargetSpec(type="multilabel", column="dx"), frame)
    assert delimited.classes == ["AF", "LBBB", "NORM"]
    assert delimited.values == [[1, 1, 0], None, [0, 0, 1]]
    indicator = parse_target(TargetSpec(type="multilabel", columns=["af", "norm"]), frame)
    assert indicator.values == [[1, 0], [0, 1], None]


def test_continuous_rejects_inf():
    frame = pd.DataFrame({"v": [1.5, float("inf"), "2"]})
    parsed = parse_target(TargetSpec(type="continuous", column="v"), frame)
    assert parsed.values == [1.5, None, 2.0]
    assert [i.code for i in parsed.issues] == ["non_finite"]


def test_survival_values_and_issues():
    frame = pd.DataFrame({"t": [3.0, 4.0, None, "x"], "e": [1, 0.0, None, 1]})
    parsed = parse_target(TargetSpec(type="survival", time="t", event="e"), frame)
    assert parsed.values == [(3.0, 1), (4.0, 0), None, None]
    assert [i.code for i in parsed.issues] == ["target_type_mismatch"]
