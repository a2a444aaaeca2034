"""Property tests of the EHR preprocessor: whatever the table, outputs are finite and honest.

Tables are drawn with random missingness, category sets that differ between train and test,
extreme numbers and constant columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from biomm.errors import TableError
from biomm.io.ehr import EHRPreprocessor

CATEGORIES = ["F", "M", "X", "unknown", "n/a-ish", "ÄÖ"]


@st.composite
def tables(draw, min_rows: int = 1, max_rows: int = 30) -> pd.DataFrame:
    n = draw(st.integers(min_rows, max_rows))
    number = st.one_of(
        st.none(),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        st.integers(-1000, 1000),
    )
    category = st.one_of(st.none(), st.sampled_from(CATEGORIES))
    return pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(n)],
            "age": draw(st.lists(number, min_size=n, max_size=n)),
            "lab": draw(st.lists(number, min_size=n, max_size=n)),
            "sex": draw(st.lists(category, min_size=n, max_size=n)),
        }
    ).astype({"age": "float64", "lab": "float64", "sex": "object"})


def _fit(train: pd.DataFrame) -> EHRPreprocessor:
    """Fit, or skip the example when no column has a value (refused, by design)."""
    try:
        return EHRPreprocessor(types={"sex": "categorical"}, id_column="patient_id").fit(train)
    except TableError as exc:
        assert "no usable EHR column" in str(exc)
        assume(False)
        raise


@settings(max_examples=25, deadline=None)
@given(train=tables(min_rows=2), test=tables())
def test_transform_is_finite_and_observed_matches_the_table(train, test):
    prep = _fit(train)
    batch = prep.transform(test)
    assert batch.values.shape == batch.observed.shape == (len(test), len(batch.columns))
    assert np.isfinite(batch.values).all()
    assert (batch.values[~batch.observed] == 0).all()  # nothing imputed where nothing observed
    for j, column in enumerate(batch.columns):
        np.testing.assert_array_equal(batch.observed[:, j], test[column].notna().to_numpy())
    assert batch.ids == test["patient_id"].tolist()
    empty = [i for i in range(len(test)) if not batch.observed[i].any()]
    assert batch.empty_rows == empty


@settings(max_examples=25, deadline=None)
@given(train=tables(min_rows=2), test=tables())
def test_categories_unseen_in_training_get_the_unknown_code(train, test):
    prep = _fit(train)
    batch = prep.transform(test)
    assume("sex" in batch.columns)  # a column without training values is dropped
    j = batch.columns.index("sex")
    seen = set(train["sex"].dropna())
    for i, value in enumerate(test["sex"]):
        if value is None:
            continue
        code = batch.values[i, j]
        assert (code == 0) == (value not in seen), (value, code, seen)


@settings(max_examples=20, deadline=None)
@given(train=tables(min_rows=2))
def test_fitted_state_round_trips_and_rows_are_independent(train, tmp_path_factory):
    prep = _fit(train)
    path = tmp_path_factory.mktemp("prep") / "prep.json"
    prep.save(path)
    again = EHRPreprocessor.load(path)
    full = prep.transform(train)
    np.testing.assert_array_equal(again.transform(train).values, full.values)
    # a row's encoding does not depend on which other rows are transformed with it
    last = prep.transform(train.iloc[[-1]])
    np.testing.assert_array_equal(last.values[0], full.values[-1])
