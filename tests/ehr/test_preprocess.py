"""EHRPreprocessor: fit on train only, transform any split, save/load, every bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from biomm.errors import ConfigError, TableError
from biomm.io.ehr import EHRPreprocessor, read_ehr_table


@pytest.fixture
def train() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame(
        {
            "patient_id": [f"P{i}" for i in range(n)],
            "age": rng.normal(60, 10, n),
            "grade": rng.choice(["I", "II", "III"], n),
            "smoker": rng.choice([0, 1], n),
            "visit": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
        }
    )


def test_fit_on_train_only(train):
    prep = EHRPreprocessor(id_column="patient_id").fit(train)
    state = prep.to_dict()
    test = train.head(3).copy()
    test["age"] = [1e6, -1e6, np.nan]  # values only the test split has
    test["grade"] = ["IV", "I", None]  # an unseen category, a known one, a missing one
    batch = prep.transform(test)
    assert prep.to_dict() == state  # transforming never refits
    # refitting on train + test would change the statistics; fitting on train alone does not
    assert EHRPreprocessor(id_column="patient_id").fit(pd.concat([train, test])).to_dict() != state
    g = batch.columns.index("grade")
    assert batch.values[:, g].tolist() == [0.0, 1.0, 0.0]  # unseen → code 0 (unknown)
    assert batch.observed[:, g].tolist() == [True, True, False]  # missing ≠ unknown
    a = batch.columns.index("age")
    s = prep.stats_["age"]
    upper = (s["upper"] - s["mean"]) / s["std"]
    lower = (s["lower"] - s["mean"]) / s["std"]
    np.testing.assert_allclose(batch.values[:2, a], [upper, lower], rtol=1e-5)  # clipped
    assert batch.values[2, a] == 0.0 and not batch.observed[2, a]  # never imputed
    assert batch.ids == ["P0", "P1", "P2"]
    assert prep.columns_ == ["age", "grade", "smoker", "visit"]
    assert prep.kinds == ["continuous", "categorical", "categorical", "datetime"]
    assert prep.cardinalities == [0, 4, 3, 0]


def test_quantile_clipping_and_standardisation():
    values = np.concatenate([np.arange(1000.0), [1e9]])
    prep = EHRPreprocessor(clip_quantiles=(0.01, 0.99)).fit(pd.DataFrame({"x": values}))
    s = prep.stats_["x"]
    lo, hi = np.quantile(values, (0.01, 0.99))
    assert (s["lower"], s["upper"]) == (pytest.approx(lo), pytest.approx(hi))
    z = prep.transform(pd.DataFrame({"x": values})).values[:, 0].astype(np.float64)
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-5  # standardised after clipping
    assert z.max() == pytest.approx((hi - s["mean"]) / s["std"], rel=1e-5)
    unclipped = EHRPreprocessor(clip_quantiles=None).fit(pd.DataFrame({"x": values}))
    assert unclipped.stats_["x"]["upper"] is None
    assert unclipped.stats_["x"]["std"] > 1e6  # the outlier dominates without clipping


def test_min_category_count_and_constant_column():
    frame = pd.DataFrame({"g": ["a"] * 5 + ["b"] * 5 + ["rare"], "c": [3.0] * 11})
    prep = EHRPreprocessor(min_category_count=2, types={"c": "continuous"}).fit(frame)
    assert prep.categories_["g"] == ["a", "b"]
    batch = prep.transform(frame)
    assert batch.values[-1, 0] == 0.0 and batch.observed[-1, 0]
    assert np.all(batch.values[:, 1] == 0.0)  # constant column: std 1, no division by 0


def test_datetime_columns_are_years_and_invert(train):
    prep = EHRPreprocessor(
        id_column="patient_id", datetime_reference="2000-01-01", clip_quantiles=None
    ).fit(train)
    batch = prep.transform(train)
    back = prep.inverse_transform(batch)
    delta = (back["visit"] - train.set_index("patient_id")["visit"]).abs().max()
    assert delta < pd.Timedelta(minutes=1)
    assert back["grade"].tolist() == train["grade"].tolist()
    np.testing.assert_allclose(back["age"], train["age"], rtol=1e-5)
    mean_years = prep.stats_["visit"]["mean"]
    assert 20.0 < mean_years < 23.0  # 2020–2022 measured from 2000


def test_save_load_round_trip(train, tmp_path):
    prep = EHRPreprocessor(id_column="patient_id", min_category_count=2).fit(train)
    path = prep.save(tmp_path / "sub" / "ehr_preprocessor.json")
    assert json.loads(path.read_text())["format"] == "biomm-ehr-preprocessor"
    assert not list(path.parent.glob(".*.tmp"))  # atomic write left no temporary
    loaded = EHRPreprocessor.load(path)
    assert loaded.to_dict() == prep.to_dict()
    assert loaded.fingerprint == prep.fingerprint
    a, b = prep.transform(train), loaded.transform(train)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.observed, b.observed)
    refit = EHRPreprocessor(id_column="patient_id", min_category_count=2).fit(train.iloc[1:])
    assert refit.fingerprint != prep.fingerprint


def test_load_errors(tmp_path):
    with pytest.raises(TableError, match="not found"):
        EHRPreprocessor.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TableError, match=r"bad\.json: cannot read"):
        EHRPreprocessor.load(bad)
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(TableError, match="not a saved EHR preprocessor"):
        EHRPreprocessor.load(bad)
    good = EHRPreprocessor().fit(pd.DataFrame({"x": [1.0, 2.0]})).to_dict()
    del good["state"]["stats"]
    bad.write_text(json.dumps(good))
    with pytest.raises(TableError, match="incomplete"):
        EHRPreprocessor.load(bad)
    with pytest.raises(TableError, match="not fitted"):
        EHRPreprocessor().transform(pd.DataFrame({"x": [1.0]}))


def test_unknown_and_missing_columns(train):
    prep = EHRPreprocessor(id_column="patient_id").fit(train)
    with pytest.raises(TableError, match=r"not seen .*\['bmi'\]"):
        prep.transform(train.assign(bmi=1.0))
    with pytest.raises(TableError, match=r"absent from the table: \['grade'\]"):
        prep.transform(train.drop(columns=["grade"]))
    lenient = EHRPreprocessor(
        id_column="patient_id", allow_missing_columns=True, allow_extra_columns=True
    ).fit(train)
    batch = lenient.transform(train.drop(columns=["grade"]).assign(bmi=1.0))
    g = batch.columns.index("grade")
    assert not batch.observed[:, g].any() and batch.observed[:, 0].all()


def test_bad_values_name_the_column(train):
    bad = train.astype({"age": object})
    bad.loc[3, "age"] = "sixty"
    with pytest.raises(
        TableError, match=r"'age' is continuous but holds .*'sixty' at row\(s\) \[3\]"
    ):
        EHRPreprocessor(id_column="patient_id", types={"age": "continuous"}).fit(bad)
    prep = EHRPreprocessor(id_column="patient_id").fit(train)
    with pytest.raises(TableError, match="'age' is continuous"):
        prep.transform(bad)
    inf = train.copy()
    inf.loc[5, "age"] = np.inf
    with pytest.raises(TableError, match=r"'age' holds infinite value\(s\) at row\(s\) \[5\]"):
        prep.transform(inf)
    dates = train.astype({"visit": object})
    dates.loc[0, "visit"] = "not a date"
    with pytest.raises(TableError, match="'visit' is a datetime column"):
        prep.transform(dates)


def test_empty_rows_kept_dropped_or_reported():
    train = pd.DataFrame({"a": [1.0, 2.0, None], "g": ["x", "y", None]})
    kept = EHRPreprocessor().fit(train).transform(train)
    assert kept.empty_rows == [2] and len(kept) == 3 and not kept.observed[2].any()
    assert np.all(kept.values[2] == 0.0)
    dropped = EHRPreprocessor(empty_rows="drop").fit(train).transform(train)
    assert len(dropped) == 2 and dropped.ids == ["0", "1"] and dropped.empty_rows == [2]
    with pytest.raises(TableError, match=r"1 row\(s\) have no EHR value at all: ids \[2\]"):
        EHRPreprocessor(empty_rows="error").fit(train).transform(train)


def test_no_usable_columns_and_other_structural_errors():
    with pytest.raises(TableError, match=r"no usable EHR column: x \(no value"):
        EHRPreprocessor().fit(pd.DataFrame({"x": [None, None]}))
    with pytest.raises(TableError, match="no rows"):
        EHRPreprocessor().fit(pd.DataFrame({"x": []}))
    with pytest.raises(TableError, match="duplicated column"):
        EHRPreprocessor().fit(pd.DataFrame([[1.0, 2.0]], columns=["x", "x"]))
    prep = EHRPreprocessor().fit(pd.DataFrame({"x": [1.0, 2.0], "empty": [None, None]}))
    assert prep.dropped_ == {"empty": "no value in the training table"}
    assert prep.transform(pd.DataFrame({"x": [1.0], "empty": [5.0]})).columns == ["x"]
    with pytest.raises(TableError, match="duplicated column"):
        prep.transform(pd.DataFrame([[1.0, 2.0]], columns=["x", "x"]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"clip_quantiles": (0.9, 0.1)}, "clip_quantiles"),
        ({"min_category_count": 0}, "min_category_count"),
        ({"datetime_reference": "someday"}, "datetime_reference"),
        ({"empty_rows": "ignore"}, "empty_rows"),
        ({"types": {"a": "numeric"}}, "unknown type"),
    ],
)
def test_invalid_parameters(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        EHRPreprocessor(**kwargs)


def test_read_ehr_table_formats_and_errors(tmp_path, train):
    csv = tmp_path / "ehr.csv"
    csv.write_text("patient_id,age,grade,code\n001,61,II,0042\nP2,,I,0043\n")
    frame = read_ehr_table(csv, types={"grade": "categorical"})
    assert frame.index.tolist() == ["001", "P2"] and frame.index.name == "patient_id"
    assert frame["age"].tolist()[0] == 61 and np.isnan(frame["age"].tolist()[1])
    assert frame["code"].tolist() == ["0042", "0043"]
    tsv = tmp_path / "ehr.tsv"
    tsv.write_text("pid\tage\nA\t1.5\n")
    assert read_ehr_table(tsv, id_column="pid")["age"].tolist() == [1.5]
    pytest.importorskip("pyarrow")
    parquet = tmp_path / "ehr.parquet"
    train.to_parquet(parquet)
    back = read_ehr_table(parquet)
    assert back.index.tolist() == train["patient_id"].tolist()
    prep = EHRPreprocessor().fit(back)
    assert prep.columns_ == ["age", "grade", "smoker", "visit"]
    bad = back.astype({"age": object})
    bad.iloc[0, 0] = "old"
    with pytest.raises(TableError, match=r"ehr.parquet: column 'age'"):
        prep.transform(bad)  # the file name travels with the frame


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("id,age\n1,2\n", "no patient id column 'patient_id'"),
        ("patient_id,age\nP1,2\nP1,3\n", "duplicated patient id"),
        ("patient_id,age,age\nP1,2,3\n", "duplicated column name"),
        ("patient_id,age\n,2\n", "missing patient id on line"),
        ("patient_id,age\n", "no data rows"),
        ("patient_id,age,sex\nP1,50,F\nP2;61;M\nP3;70;F\n", "mixed delimiters"),
        ("patient_id,age\nP1,5\x000\n", "NUL byte at offset 19"),
    ],
)
def test_read_ehr_table_errors(tmp_path, text, match):
    path = tmp_path / "ehr.csv"
    path.write_text(text)
    with pytest.raises(TableError, match=match) as info:
        read_ehr_table(path)
    assert str(path) in str(info.value)


def test_read_ehr_table_missing_file(tmp_path):
    with pytest.raises(TableError, match="file not found"):
        read_ehr_table(tmp_path / "none.csv")
