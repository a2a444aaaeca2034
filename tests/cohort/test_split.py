"""Patient-level splits: properties over random cohorts (hypothesis) and concrete cases."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biomm import Cohort
from biomm.cohort.split import iter_folds, splits_from_folds
from biomm.errors import SplitError


@st.composite
def cohorts(draw) -> pd.DataFrame:
    n_patients = draw(st.integers(min_value=6, max_value=60))
    rows = []
    for i in range(n_patients):
        label = draw(st.sampled_from([0, 1, 2, None]))
        for j in range(draw(st.integers(min_value=1, max_value=3))):
            rows.append({"patient_id": f"p{i}", "sample_id": f"p{i}-{j}", "label": label})
    return pd.DataFrame(rows)


def _patients_per_group(table: pd.DataFrame, column: str) -> pd.Series:
    return table.groupby("patient_id")[column].nunique()


@settings(max_examples=40, deadline=None)
@given(table=cohorts(), folds=st.integers(min_value=2, max_value=5), seed=st.integers(0, 99))
def test_kfold_never_leaks_and_is_reproducible(table, folds, seed):
    n_patients = table["patient_id"].nunique()
    if n_patients < folds:
        with pytest.raises(SplitError):
            Cohort(table).split(folds=folds, stratify="label", seed=seed)
        return
    out = Cohort(table).split(folds=folds, stratify="label", seed=seed)
    assert (_patients_per_group(out.table, "fold") == 1).all()
    assert set(out.table["fold"]) == set(range(1, folds + 1))
    again = Cohort(table).split(folds=folds, stratify="label", seed=seed)
    assert out.table["fold"].tolist() == again.table["fold"].tolist()
    assert out.validate(probe_files=False).codes().isdisjoint({"split_leak", "invalid_fold"})


@settings(max_examples=40, deadline=None)
@given(table=cohorts(), seed=st.integers(0, 99))
def test_train_val_test_never_leaks(table, seed):
    out = Cohort(table).split(ratios=(0.6, 0.2, 0.2), stratify="label", seed=seed)
    assert (_patients_per_group(out.table, "split") == 1).all()
    patients = out.table.drop_duplicates("patient_id")["split"].value_counts()
    n = table["patient_id"].nunique()
    assert abs(patients.get("test", 0) - max(1, round(0.2 * n))) == 0
    assert abs(patients.get("val", 0) - max(1, round(0.2 * n))) == 0


@settings(max_examples=25, deadline=None)
@given(
    n_per_class=st.lists(st.integers(min_value=5, max_value=40), min_size=2, max_size=4),
    folds=st.integers(min_value=2, max_value=5),
    seed=st.integers(0, 99),
)
def test_strata_are_balanced_across_folds(n_per_class, folds, seed):
    labels = [k for k, n in enumerate(n_per_class) for _ in range(n)]
    table = pd.DataFrame({"patient_id": [f"p{i}" for i in range(len(labels))], "label": labels})
    out = Cohort(table).split(folds=folds, stratify="label", seed=seed).table
    counts = out.groupby(["label", "fold"]).size().unstack(fill_value=0)
    # each class is spread over the folds within one patient of perfect balance
    assert (counts.max(axis=1) - counts.min(axis=1)).max() <= 1


def test_survival_stratifies_by_event():
    table = pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(40)],
            "os_time": range(1, 41),
            "os_event": [1] * 10 + [0] * 30,
        }
    )
    out = Cohort(table).split(folds=5, stratify="os", seed=3).table
    assert out.groupby("fold")["os_event"].sum().tolist() == [2, 2, 2, 2, 2]


def test_continuous_target_stratified_by_quartile():
    table = pd.DataFrame(
        {"patient_id": [f"p{i}" for i in range(40)], "target_bp": [i + 0.5 for i in range(40)]}
    )
    out = Cohort(table).split(folds=4, stratify="bp", seed=0).table
    high = out[out["target_bp"] >= 30].groupby("fold").size()
    assert high.tolist() == [3, 3, 2, 2] or sorted(high.tolist()) == [2, 2, 3, 3]


def test_existing_split_is_honoured_and_checked():
    table = pd.DataFrame({"patient_id": ["a", "b", "c"], "split": ["train", "val", "test"]})
    cohort = Cohort(table)
    assert cohort.split(ratios=(0.5, 0.25, 0.25)).table["split"].tolist() == [
        "train",
        "val",
        "test",
    ]
    leaking = pd.DataFrame(
        {
            "patient_id": ["a", "a", "b", "c"],
            "sample_id": ["1", "2", "3", "4"],
            "split": ["train", "test", "val", "train"],
        }
    )
    with pytest.raises(SplitError, match="split_leak"):
        Cohort(leaking).split(ratios=(0.5, 0.25, 0.25))
    replaced = Cohort(leaking).split(ratios=(0.4, 0.0, 0.6), overwrite=True, seed=0)
    assert replaced.table.groupby("patient_id")["split"].nunique().max() == 1
    assert set(replaced.table["split"]) == {"train", "test"}


def test_ptbxl_style_folds_to_splits_and_iteration():
    table = pd.DataFrame(
        {"patient_id": [f"p{i}" for i in range(10)], "strat_fold": list(range(1, 11))}
    )
    cohort = Cohort(table)
    assert cohort.schema.fold == "strat_fold"
    split = splits_from_folds(cohort, val_folds=[9], test_folds=[10])
    assert split.table["split"].value_counts().to_dict() == {"train": 8, "val": 1, "test": 1}
    folds = list(iter_folds(cohort))
    assert len(folds) == 10
    assert all(set(train).isdisjoint(held) for _, train, held in folds)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one"),
        ({"folds": 2, "ratios": (0.5, 0.25, 0.25)}, "exactly one"),
        ({"folds": 1}, "at least 2"),
        ({"ratios": (0.5, 0.5)}, "three non-negative"),
        ({"folds": 2, "stratify": "nope"}, "not a declared target"),
    ],
)
def test_impossible_requests(kwargs, message):
    table = pd.DataFrame({"patient_id": list("abcd"), "label": [0, 1, 0, 1]})
    with pytest.raises(SplitError, match=message):
        Cohort(table).split(**kwargs)


def test_split_keeps_the_data_root_semantics(tmp_path):
    outside = tmp_path / "elsewhere" / "s.svs"
    table = pd.DataFrame({"patient_id": list("abcd"), "slide": [str(outside)] * 4})
    cohort = Cohort(table)  # no explicit root: absolute paths anywhere are fine
    folded = cohort.split(folds=2, seed=0)
    assert not folded.root_is_explicit
    assert "path_escapes_root" not in folded.validate().codes()


def test_invalid_existing_split_values_are_not_kept():
    table = pd.DataFrame({"patient_id": list("abcd"), "split": ["train", "bogus", "val", "test"]})
    with pytest.raises(SplitError, match="invalid_split"):
        Cohort(table).split(ratios=(0.5, 0.25, 0.25))


def test_folds_are_integers_and_meta_is_normalised():
    table = pd.DataFrame(
        {"patient_id": list("abcd"), "split": ["Train", "VAL", "holdout", "test"], "y": [0, 1] * 2}
    )
    samples = list(Cohort(table).samples())
    assert [s.meta["split"] for s in samples] == ["train", "val", "test", "test"]
    folds = Cohort(table).split(folds=2, seed=0).table["fold"]
    assert str(folds.dtype) == "Int64"
    with pytest.raises(SplitError, match="integer"):
        Cohort(table).split(folds=2.5)
