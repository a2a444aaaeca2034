from __future__ import annotations

import numpy as np
import pytest
import torch

from biomm.errors import InputError
from biomm.eval.availability import availability_patterns, by_availability
from biomm.eval.classification import auroc, brier_score


def _cohort(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    present = {
        "ecg": rng.random(n) < 0.8,
        "wsi": rng.random(n) < 0.6,
        "ehr": np.ones(n, bool),
    }
    # the model is better when the slide is there
    noise = np.where(present["wsi"], 0.3, 1.0)
    p = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, 1, n) * noise * 2)))
    return y, p, present


def test_patterns() -> None:
    present = {"a": torch.tensor([True, False, True]), "b": np.array([True, False, False])}
    assert availability_patterns(present).tolist() == ["a+b", "none", "a"]
    assert availability_patterns(present, empty="-").tolist()[1] == "-"
    with pytest.raises(InputError, match="differ in length"):
        availability_patterns({"a": [True], "b": [True, False]})
    with pytest.raises(InputError, match="empty"):
        availability_patterns({})


def test_rows_match_metric_on_subsets() -> None:
    y, p, present = _cohort()
    df = by_availability(auroc, y, p, present=present, n=50, seed=0, name="auroc")
    patterns = availability_patterns(present)
    assert df["pattern"].iloc[0] == "all" and df["n"].iloc[0] == len(y)
    assert list(df["n"].iloc[1:]) == sorted(df["n"].iloc[1:], reverse=True)
    assert df["n"].iloc[1:].sum() == len(y)
    for _, row in df.iterrows():
        mask = np.ones(len(y), bool) if row["pattern"] == "all" else patterns == row["pattern"]
        assert row["n"] == mask.sum()
        assert row["auroc"] == pytest.approx(auroc(y[mask], p[mask]))
        assert row["auroc_low"] <= row["auroc"] <= row["auroc_high"]
        assert row["auroc_n_valid"] == 50
    by_pattern = df.set_index("pattern")["auroc"]
    assert by_pattern["ecg+wsi+ehr"] > by_pattern["ecg+ehr"]


def test_several_metrics_min_n_and_undefined_patterns() -> None:
    y = np.array([0, 1, 0, 1, 1, 1])
    p = np.array([0.2, 0.8, 0.4, 0.7, 0.6, 0.9])
    present = {"ecg": np.ones(6, bool), "wsi": np.array([1, 1, 1, 1, 0, 0], bool)}
    df = by_availability(
        {"auroc": auroc, "brier": brier_score}, y, p, present=present, n=20, seed=1
    )
    assert list(df.columns[:2]) == ["pattern", "n"]
    assert {"auroc", "auroc_low", "brier", "brier_high"} <= set(df.columns)
    ecg_only = df.set_index("pattern").loc["ecg"]
    assert np.isnan(ecg_only["auroc"])  # only positives without the slide
    assert ecg_only["brier"] == pytest.approx((0.4**2 + 0.1**2) / 2)
    small = by_availability(auroc, y, p, present=present, n=0, min_n=3, include_all=False)
    assert small["pattern"].tolist() == ["ecg+wsi"]


def test_raising_metric_gives_nan_for_pattern_but_errors_surface() -> None:
    def roc_auc_score(y: np.ndarray, p: np.ndarray) -> float:
        if y.min() == y.max():
            raise ValueError("one class only")
        return float(auroc(y, p))

    y = np.array([0, 1, 0, 1, 1, 1])
    p = np.array([0.2, 0.8, 0.4, 0.7, 0.6, 0.9])
    present = {"ecg": np.ones(6, bool), "wsi": np.array([1, 1, 1, 1, 0, 0], bool)}
    df = by_availability(roc_auc_score, y, p, present=present, n=10)
    assert np.isnan(df.set_index("pattern").loc["ecg", "metric"])
    with pytest.raises(InputError, match="rows"):
        by_availability(auroc, y[:5], p[:5], present=present, n=0)
    with pytest.raises(InputError, match="fit no task"):
        by_availability(auroc, y, np.zeros((6, 3, 2)), present=present, include_all=False)


def test_cluster_bootstrap_per_pattern() -> None:
    y, p, present = _cohort(200, 1)
    patients = np.arange(200) // 2
    df = by_availability(auroc, y, p, present=present, n=30, cluster=patients, stratify=None)
    assert (df["metric_n_valid"] > 0).all()
