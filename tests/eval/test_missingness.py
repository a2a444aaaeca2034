from __future__ import annotations

import numpy as np
import pytest
import torch

from biomm.errors import InputError
from biomm.eval.missingness import mnar_shift, removal_rates, simulate_missingness


def _present(n: int = 1000, seed: int = 0, p: float = 1.0):
    rng = np.random.default_rng(seed)
    masks = {m: rng.random(n) < p for m in ("ecg", "wsi", "ehr")}
    masks["ehr"] |= ~(masks["ecg"] | masks["wsi"])  # everyone has something
    return masks


def _check_only_removed(before, after) -> None:
    for m in before:
        assert not (np.asarray(after[m]) & ~np.asarray(before[m])).any()


def test_mcar_hits_rates_exactly_and_never_empties() -> None:
    before = _present(p=0.7)
    after = simulate_missingness(before, "MCAR", 0.3, seed=1)
    _check_only_removed(before, after)
    for m, r in removal_rates(before, after).items():
        n_present = before[m].sum()
        assert r == pytest.approx(round(0.3 * n_present) / n_present)
    assert np.stack(list(after.values())).any(0).all()
    labels = np.random.default_rng(2).integers(0, 2, 1000)
    pos = removal_rates(before, after, within=labels == 1)["wsi"]
    neg = removal_rates(before, after, within=labels == 0)["wsi"]
    assert abs(pos - neg) < 0.1  # completely at random: unrelated to the label


def test_per_modality_rates_and_reproducibility() -> None:
    before = _present()
    after = simulate_missingness(before, "MCAR", {"wsi": 0.5, "ecg": 0.1}, seed=3)
    rates = removal_rates(before, after)
    assert rates == {"ecg": 0.1, "wsi": 0.5, "ehr": 0.0}
    again = simulate_missingness(before, "MCAR", {"wsi": 0.5, "ecg": 0.1}, seed=3)
    other = simulate_missingness(before, "MCAR", {"wsi": 0.5, "ecg": 0.1}, seed=4)
    assert all(np.array_equal(after[m], again[m]) for m in before)
    assert not np.array_equal(after["wsi"], other["wsi"])
    assert before["wsi"].all()  # the input is not modified


def test_mnar_ties_missingness_to_label() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 1000)
    before = _present()
    after = simulate_missingness(before, "MNAR", 0.6, modalities=["wsi"], labels=y, seed=0)
    assert removal_rates(before, after, within=y == 1)["wsi"] == pytest.approx(
        round(0.6 * (y == 1).sum()) / (y == 1).sum()
    )
    assert removal_rates(before, after, within=y == 0)["wsi"] == 0.0
    both = simulate_missingness(
        before, "MNAR", 0.6, modalities=["wsi"], labels=y, target_class=0, other_rate=0.1
    )
    assert removal_rates(before, both, within=y == 0)["wsi"] == pytest.approx(0.6, abs=0.002)
    assert removal_rates(before, both, within=y == 1)["wsi"] == pytest.approx(0.1, abs=0.002)
    # missingness now predicts the label: P(y = 0 | wsi missing) = 0.6 * n0 / (0.6 n0 + 0.1 n1)
    assert y[~both["wsi"]].mean() < 0.25


def test_mnar_shift_reverses_class_between_splits() -> None:
    rng = np.random.default_rng(6)
    y_train, y_test = rng.integers(0, 2, 500), rng.integers(0, 2, 300)
    p_train, p_test = _present(500, 1), _present(300, 2)
    train, test = mnar_shift(p_train, y_train, p_test, y_test, 0.8, modalities=["wsi", "ecg"])
    assert removal_rates(p_train, train, within=y_train == 0) == {
        "wsi": 0.0,
        "ecg": 0.0,
        "ehr": 0.0,
    }
    assert removal_rates(p_test, test, within=y_test == 1)["wsi"] == 0.0
    assert removal_rates(p_train, train, within=y_train == 1)["wsi"] > 0.75
    assert removal_rates(p_test, test, within=y_test == 0)["ecg"] > 0.75


def test_mar_depends_on_covariate() -> None:
    rng = np.random.default_rng(7)
    age = rng.normal(60, 10, 1000)
    before = _present()
    after = simulate_missingness(before, "MAR", 0.3, modalities=["ecg"], covariate=age, seed=0)
    removed = before["ecg"] & ~after["ecg"]
    assert removed.sum() == 300
    assert age[removed].mean() > age[~removed].mean() + 5
    reverse = simulate_missingness(
        before, "MAR", 0.3, modalities=["ecg"], covariate=age, strength=-2.0, seed=0
    )
    removed_r = before["ecg"] & ~reverse["ecg"]
    assert age[removed_r].mean() < age[~removed_r].mean() - 5


def test_last_modality_is_kept_unless_allowed() -> None:
    before = {"ecg": np.array([1, 1, 0, 1], bool), "wsi": np.array([0, 1, 1, 1], bool)}
    with pytest.warns(RuntimeWarning, match="emptying"):
        after = simulate_missingness(before, "MCAR", 1.0, seed=0)
    assert np.stack(list(after.values())).any(0).all()
    empty = simulate_missingness(before, "MCAR", 1.0, allow_empty=True)
    assert not any(m.any() for m in empty.values())


def test_torch_masks_round_trip_and_errors() -> None:
    before = {"ecg": torch.ones(10, dtype=torch.bool), "wsi": torch.ones(10, dtype=torch.bool)}
    after = simulate_missingness(before, "MCAR", 0.5, modalities=["wsi"])
    assert isinstance(after["wsi"], torch.Tensor) and after["wsi"].dtype == torch.bool
    assert int(after["wsi"].sum()) == 5 and after["ecg"].all()
    with pytest.raises(InputError, match="mechanism"):
        simulate_missingness(before, "random", 0.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="labels"):
        simulate_missingness(before, "MNAR", 0.5)
    with pytest.raises(InputError, match="covariate"):
        simulate_missingness(before, "MAR", 0.5)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        simulate_missingness(before, "MCAR", 1.5)
    with pytest.raises(InputError, match="unknown modalities"):
        simulate_missingness(before, "MCAR", 0.5, modalities=["fundus"])
    with pytest.raises(InputError, match="rows"):
        simulate_missingness(before, "MNAR", 0.5, labels=[0, 1])
