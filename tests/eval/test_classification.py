from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    roc_auc_score,
)

from biomm.errors import InputError
from biomm.eval.classification import (
    auprc,
    auroc,
    balanced_accuracy,
    brier_score,
    calibration,
    classification_summary,
    expected_calibration_error,
    infer_task,
)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("ties", [False, True])
def test_binary_auroc_auprc_match_sklearn(ties: bool) -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        n = int(rng.integers(3, 80))
        y = rng.integers(0, 2, n)
        if y.min() == y.max():
            continue
        s = rng.integers(0, 4, n) / 3 if ties else rng.random(n)
        assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert auprc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_multiclass_matches_sklearn_ovr() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 300)
    p = _softmax(rng.normal(size=(300, 4)) + 1.5 * np.eye(4)[y])
    for average in ("macro", "weighted"):
        ref = roc_auc_score(y, p, multi_class="ovr", average=average)
        assert auroc(y, p, average=average) == pytest.approx(ref, abs=1e-12)
    onehot = np.eye(4)[y]
    assert auprc(y, p) == pytest.approx(average_precision_score(onehot, p), abs=1e-12)
    assert auroc(y, p, average="micro") == pytest.approx(
        roc_auc_score(onehot, p, average="micro"), abs=1e-12
    )
    per_class = auroc(y, p, average=None)
    assert per_class.shape == (4,)
    assert np.mean(per_class) == pytest.approx(auroc(y, p))


def test_two_column_binary_and_torch_inputs() -> None:
    y = torch.tensor([0, 1, 1, 0])
    p1 = torch.tensor([0.2, 0.7, 0.6, 0.4])
    two = torch.stack([1 - p1, p1], 1)
    assert auroc(y, two, task="binary") == auroc(y, p1) == 1.0
    assert auroc(y, two) == 1.0  # multiclass with two classes: the same
    assert auroc(y, p1.requires_grad_()) == 1.0


def test_multilabel_with_unknown_labels() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, (200, 3)).astype(float)
    s = y * 0.5 + rng.random((200, 3))
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s, average="macro"), abs=1e-12)
    assert auroc(y, s, average="micro") == pytest.approx(
        roc_auc_score(y, s, average="micro"), abs=1e-12
    )
    y_nan = y.copy()
    y_nan[:50, 1] = np.nan
    per_class = auroc(y_nan, s, average=None)
    assert per_class[1] == pytest.approx(roc_auc_score(y[50:, 1], s[50:, 1]))
    assert per_class[0] == pytest.approx(roc_auc_score(y[:, 0], s[:, 0]))
    y_nan[:, 2] = 1.0  # one label value: undefined, left out of the macro mean
    assert np.isnan(auroc(y_nan, s, average=None)[2])
    assert auroc(y_nan, s) == pytest.approx(np.mean(per_class[:2]))


def test_undefined_metrics_are_nan() -> None:
    assert np.isnan(auroc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert np.isnan(auprc([0, 0], [0.1, 0.2]))
    assert np.isnan(auroc([np.nan, np.nan], [0.1, 0.2]))


def test_balanced_accuracy_matches_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 100)
    p = np.clip(y * 0.3 + rng.random(100) * 0.7, 0, 1)
    assert balanced_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, p >= 0.5))
    assert balanced_accuracy(y, p, threshold=0.3) == pytest.approx(
        balanced_accuracy_score(y, p >= 0.3)
    )
    yc = rng.integers(0, 3, 100)
    pc = _softmax(rng.normal(size=(100, 3)) + np.eye(3)[yc])
    assert balanced_accuracy(yc, pc) == pytest.approx(balanced_accuracy_score(yc, pc.argmax(1)))
    ym = rng.integers(0, 2, (100, 2))
    pm = np.clip(ym * 0.4 + rng.random((100, 2)) * 0.6, 0, 1)
    expected = np.mean([balanced_accuracy_score(ym[:, k], pm[:, k] >= 0.5) for k in range(2)])
    assert balanced_accuracy(ym, pm) == pytest.approx(expected)


def test_brier_score() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 50)
    p = rng.random(50)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p))
    # multiclass: hand computation of sum_k (p_k - onehot_k)^2, averaged over samples
    yc = np.array([0, 2])
    pc = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])
    expected = ((0.25 + 0.0625 + 0.0625) + (0.01 + 0.01 + 0.04)) / 2
    assert brier_score(yc, pc) == pytest.approx(expected)
    with pytest.raises(InputError, match="probabilities"):
        brier_score([0, 1], [-0.5, 2.0])
    with pytest.raises(InputError, match="sum to 1"):
        brier_score([0, 1], [[0.5, 0.9], [0.1, 0.2]])


def test_calibration_bins_match_sklearn_and_ece() -> None:
    rng = np.random.default_rng(6)
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(int)  # perfectly calibrated
    result = calibration(y, p, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10)
    nonempty = result.bins["count"] > 0
    np.testing.assert_allclose(result.bins["accuracy"][nonempty], prob_true, atol=1e-12)
    np.testing.assert_allclose(result.bins["confidence"][nonempty], prob_pred, atol=1e-12)
    assert result.bins["count"].sum() == 20000
    assert result.ece < 0.02
    # over-confident predictions: the true probability is p**2
    y_bad = (rng.random(20000) < p**2).astype(int)
    bad = calibration(y_bad, p, n_bins=10)
    assert bad.ece > 0.1 and bad.mce >= bad.ece
    # ECE by hand from the bins
    b = bad.bins[bad.bins["count"] > 0]
    hand = float((b["count"] * (b["accuracy"] - b["confidence"]).abs()).sum() / 20000)
    assert bad.ece == pytest.approx(hand)
    quantile = calibration(y, p, n_bins=5, strategy="quantile")
    assert (quantile.bins["count"] - 4000).abs().max() <= 1


def test_multiclass_top_label_calibration() -> None:
    y = np.array([0, 1, 2, 2])
    p = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.2, 0.1, 0.7]])
    # one bin: mean confidence (0.9 + 0.6 + 0.7 + 0.7) / 4 = 0.725, accuracy 3/4
    assert expected_calibration_error(y, p, n_bins=1) == pytest.approx(abs(0.75 - 0.725))


def test_summary_and_task_inference() -> None:
    y = np.array([0, 1, 0, 1])
    p = np.array([0.2, 0.8, 0.3, 0.6])
    summary = classification_summary(y, p)
    assert set(summary) == {"auroc", "auprc", "balanced_accuracy", "brier", "ece"}
    assert summary["auroc"] == 1.0 and summary["balanced_accuracy"] == 1.0
    assert summary["brier"] == pytest.approx((0.04 + 0.04 + 0.09 + 0.16) / 4)
    with pytest.raises(InputError, match="unknown metrics"):
        classification_summary(y, p, metrics=["f1"])
    assert infer_task(y, p) == "binary"
    with pytest.raises(InputError, match="fit no task"):
        auroc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(InputError, match="0/1"):
        auroc([0, 2], [0.1, 0.2])
    with pytest.raises(InputError, match="class indices"):
        auroc([0, 3], [[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(InputError, match="NaN"):
        auroc([0, 1], [0.1, np.nan])
