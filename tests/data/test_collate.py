"""collate over random availability patterns (hypothesis) and concrete cases."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from biomm import Sample, collate
from biomm.errors import InputError

MODALITIES = ("wsi", "ecg", "fundus", "report")


@st.composite
def sample_lists(draw) -> list[Sample]:
    n = draw(st.integers(min_value=1, max_value=8))
    samples = []
    for i in range(n):
        mods = {}
        if draw(st.booleans()):
            mods["wsi"] = torch.randn(draw(st.integers(1, 5)), 4)  # bag of tiles, variable N
        if draw(st.booleans()):
            mods["ecg"] = torch.randn(12, 16)
        if draw(st.booleans()):
            mods["report"] = f"report {i}"
        targets = {}
        if draw(st.booleans()):
            targets["y"] = draw(st.integers(0, 1))
        if draw(st.booleans()):
            targets["os"] = (float(draw(st.integers(1, 100))), draw(st.integers(0, 1)))
        samples.append(Sample(f"p{i}", mods, targets))
    return samples


@settings(max_examples=60, deadline=None)
@given(samples=sample_lists())
def test_masks_match_availability(samples):
    batch = collate(samples, modalities=MODALITIES, variable_length=("wsi",))
    assert len(batch) == len(samples)
    for name in MODALITIES:
        expected = [name in s.modalities for s in samples]
        assert batch.present[name].tolist() == expected
        assert (name in batch.modalities) == any(expected)
    if "ecg" in batch.modalities:
        for i, s in enumerate(samples):
            if "ecg" in s.modalities:
                assert torch.equal(batch.modalities["ecg"][i], s.modalities["ecg"])
            else:
                assert not batch.modalities["ecg"][i].any()
    if "wsi" in batch.modalities:
        lengths = batch.token_masks["wsi"].sum(1).tolist()
        assert lengths == [
            s.modalities["wsi"].shape[0] if "wsi" in s.modalities else 0 for s in samples
        ]
    if "report" in batch.modalities:
        assert batch.modalities["report"] == [s.modalities.get("report") for s in samples]
    for name, mask in batch.target_masks.items():
        assert mask.tolist() == [name in s.targets for s in samples]
    if "os" in batch.targets:
        assert batch.targets["os"].shape == (len(samples), 2)
        assert batch.targets["os"].dtype == torch.float32
    if "y" in batch.targets:
        assert batch.targets["y"].dtype == torch.int64


def test_placeholders_are_rejected():
    with pytest.raises(InputError, match="absent key"):
        Sample("p1", {"ecg": None})
    with pytest.raises(InputError, match="absent key"):
        Sample("p1", {}, {"y": float("nan")})


def test_incompatible_shapes_name_the_patients():
    samples = [Sample("a", {"ecg": torch.zeros(12, 10)}), Sample("b", {"ecg": torch.zeros(8, 5)})]
    with pytest.raises(InputError, match="a: \\(12, 10\\)"):
        collate(samples)


def test_empty_batch_is_an_error():
    with pytest.raises(InputError):
        collate([])


def test_numpy_and_multilabel_targets():
    import numpy as np

    samples = [
        Sample("a", {"x": np.ones(3, np.float32)}, {"dx": [1, 0, 1]}),
        Sample("b", {}, {"dx": [0, 0, 1]}),
    ]
    batch = collate(samples)
    assert batch.modalities["x"].dtype == torch.float32
    assert batch.targets["dx"].tolist() == [[1, 0, 1], [0, 0, 1]]
    assert batch.to("cpu").present["x"].tolist() == [True, False]
