"""MONAI training transforms: missing keys pass through, seeded streams, shared OCT draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import Compose

from biomm.errors import InputError
from biomm.retina.transforms import (
    FOVCropd,
    FundusToTensord,
    OCTToTensord,
    fundus_train_transforms,
    oct_train_transforms,
)

RNG = np.random.default_rng(5)
FUNDUS = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)
OCT = RNG.random((4, 48, 32)).astype(np.float32)


def test_samples_without_the_keys_pass_through_untouched():
    fundus, oct_ = fundus_train_transforms(size=32, seed=0), oct_train_transforms(seed=0)
    sample = {"ecg": np.zeros((12, 100), np.float32), "label": 1}
    assert fundus(sample) is sample and oct_(sample) is sample
    assert isinstance(sample["ecg"], np.ndarray) and set(sample) == {"ecg", "label"}

    both = Compose([fundus, oct_])
    only_oct = both({"oct": OCT, "ecg": np.ones(3)})
    assert set(only_oct) == {"oct", "ecg"} and isinstance(only_oct["ecg"], np.ndarray)
    assert tuple(only_oct["oct"].shape) == (4, 48, 32)
    only_fundus = both({"fundus": FUNDUS})
    assert set(only_fundus) == {"fundus"} and tuple(only_fundus["fundus"].shape) == (3, 32, 32)


def test_outputs_are_plain_float_tensors_in_unit_range():
    out = fundus_train_transforms(prob=1.0, seed=1)({"fundus": FUNDUS})["fundus"]
    assert type(out) is torch.Tensor and out.dtype == torch.float32
    assert out.shape == (3, 64, 64) and out.min() >= 0.0 and out.max() <= 1.0
    volume = oct_train_transforms(size=24, prob=1.0, seed=1)({"oct": OCT})["oct"]
    assert type(volume) is torch.Tensor and volume.shape == (4, 24, 24)
    assert volume.min() >= 0.0 and volume.max() <= 1.0


def test_seeded_pipelines_are_reproducible_and_random():
    runs = [
        fundus_train_transforms(prob=1.0, seed=s)({"fundus": FUNDUS})["fundus"] for s in (7, 7, 8)
    ]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    pipeline = fundus_train_transforms(prob=1.0, seed=7)
    first, second = pipeline({"fundus": FUNDUS})["fundus"], pipeline({"fundus": FUNDUS})["fundus"]
    assert torch.equal(first, runs[0]) and not torch.equal(first, second)
    volumes = [oct_train_transforms(prob=1.0, seed=3)({"oct": OCT})["oct"] for _ in range(2)]
    assert torch.equal(*volumes)


def test_every_bscan_of_a_volume_gets_the_same_spatial_draw():
    bscan = RNG.random((40, 40)).astype(np.float32)
    volume = np.stack([bscan] * 5)
    pipeline = oct_train_transforms(prob=1.0, noise_std=0.0, seed=2)
    out = pipeline({"oct": volume})["oct"]
    for k in range(1, 5):
        torch.testing.assert_close(out[k], out[0])
    assert not torch.allclose(out[0], torch.from_numpy(bscan))  # something did happen


def test_fov_crop_pipeline_on_the_real_photo(retina_small):
    out = fundus_train_transforms(size=64, crop_fov=True, contrast="graham", seed=0)(
        {"fundus": retina_small}
    )["fundus"]
    assert out.shape == (3, 64, 64)
    cropped = FOVCropd("fundus", size=48)({"fundus": retina_small})["fundus"]
    assert cropped.shape == (48, 48, 3) and cropped.dtype == np.uint8 and not cropped[0, 0].any()
    with pytest.raises(InputError, match="needs a size"):
        fundus_train_transforms(crop_fov=True)


def test_tensor_conversions_check_their_input():
    grey = FundusToTensord("f")({"f": FUNDUS[..., 0]})["f"]
    assert grey.shape == (3, 64, 64) and torch.equal(grey[0], grey[2])
    with pytest.raises(InputError, match="uint8"):
        FundusToTensord("f")({"f": FUNDUS.astype(np.float32)})
    single = OCTToTensord("o")({"o": (OCT[0] * 255).astype(np.uint8)})["o"]
    assert single.shape == (1, 48, 32)
    with pytest.raises(InputError, match="OCT volume"):
        OCTToTensord("o")({"o": np.zeros((2, 3, 4, 5))})
