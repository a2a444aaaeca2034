from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from biomm.errors import InputError
from biomm.eval.bootstrap import bootstrap, resample_indices
from biomm.eval.classification import auroc


def test_ci_of_mean_covers_truth_at_nominal_rate() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(60):
        x = rng.normal(2.0, 1.0, 80)
        r = bootstrap(np.mean, x, n=300, seed=trial)
        covered += r.low <= 2.0 <= r.high
        assert r.low < r.estimate < r.high
    assert covered >= 50  # nominal 95%: 57 of 60 expected


def test_ci_of_auroc_covers_binormal_truth() -> None:
    rng = np.random.default_rng(1)
    mu = 1.0
    truth = norm.cdf(mu / np.sqrt(2))  # AUROC of N(mu, 1) vs N(0, 1)
    covered = 0
    for trial in range(25):
        y = np.repeat([0, 1], 60)
        s = rng.normal(mu * y, 1.0)
        r = bootstrap(auroc, y, s, n=200, seed=trial, stratify=y)
        covered += r.low <= truth <= r.high
    assert covered >= 20


def test_undefined_resamples_are_skipped_and_counted() -> None:
    y = np.array([1] + [0] * 9)
    s = np.linspace(0, 1, 10)
    r = bootstrap(auroc, y, s, n=300, seed=0)
    # a resample lacks the single positive with probability 0.9^10 ~ 35%
    assert 60 < r.n_skipped < 150
    assert r.n_valid + r.n_skipped == 300 == r.n_resamples
    assert r.samples.shape == (r.n_valid,)

    def strict(y: np.ndarray, s: np.ndarray) -> float:
        if y.sum() == 0:
            raise ValueError("no positives")
        return float(auroc(y, s))

    r2 = bootstrap(strict, y, s, n=300, seed=0)
    assert r2.n_skipped == r.n_skipped and r2.low == r.low


def test_stratified_resampling_keeps_strata_sizes() -> None:
    y = np.array([0] * 30 + [1] * 10)
    r = bootstrap(np.sum, y, n=100, seed=0, stratify=y)
    assert r.low == r.high == r.estimate == 10
    unstratified = bootstrap(np.sum, y, n=100, seed=0)
    assert unstratified.high > unstratified.low


def test_cluster_bootstrap_takes_whole_patients_and_widens_interval() -> None:
    rng = np.random.default_rng(2)
    patient_values = rng.normal(size=60)
    x = np.repeat(patient_values, 5)  # five identical samples per patient
    patients = np.repeat(np.arange(60), 5)
    idx = resample_indices(len(x), rng, cluster=patients)
    counts = np.bincount(patients[idx], minlength=60)
    assert (counts % 5 == 0).all() and len(idx) == 300
    naive = bootstrap(np.mean, x, n=400, seed=0)
    clustered = bootstrap(np.mean, x, n=400, seed=0, cluster=patients)
    # rows are not independent: the patient-level interval is ~sqrt(5) times wider
    ratio = (clustered.high - clustered.low) / (naive.high - naive.low)
    assert 1.6 < ratio < 3.0


def test_cluster_with_strata_checks_consistency() -> None:
    rng = np.random.default_rng(3)
    patients = np.array(["a", "a", "b", "b", "c", "c", "d", "d", "e", "e"])
    labels = np.array([1, 1, 0, 0, 1, 1, 0, 0, 0, 0])
    for _ in range(20):  # 2 positive and 3 negative patients of 2 rows each, every time
        idx = resample_indices(10, rng, stratify=labels, cluster=patients)
        assert len(idx) == 10 and labels[idx].sum() == 4
    with pytest.raises(InputError, match="several strata"):
        resample_indices(10, rng, stratify=np.roll(labels, 1), cluster=patients)


def test_reproducible_and_errors() -> None:
    x = np.arange(20.0)
    a = bootstrap(np.mean, x, n=50, seed=7)
    b = bootstrap(np.mean, x, n=50, seed=7)
    assert a == b and np.array_equal(a.samples, b.samples)
    assert bootstrap(np.mean, x, n=0).n_valid == 0 and np.isnan(bootstrap(np.mean, x, n=0).low)
    with pytest.raises(InputError, match="differ in length"):
        bootstrap(auroc, [0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="must return a number"):
        bootstrap(lambda v: "x", x, n=5)
    with pytest.raises(InputError, match="level"):
        bootstrap(np.mean, x, level=1.5)
    with pytest.raises(InputError, match="fit no task"):  # errors on the full data surface
        bootstrap(auroc, np.zeros((4, 2)), np.zeros(4))
