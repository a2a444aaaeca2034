"""MONAI dictionary transforms for fundus photos and OCT volumes (training augmentation).

Every transform takes ``allow_missing_keys=True``, and each pipeline is a
:class:`ModalityCompose` that returns a sample lacking all of its keys unchanged — the very
same dict, untouched (a bare MONAI ``Compose`` may convert the other arrays of such a sample
to tensors). So a fundus pipeline and an OCT pipeline can be chained over samples that have
either, both or neither.

Layouts: a fundus enters as uint8 ``[H, W, 3]`` (what :func:`~biomm.io.retina.read_fundus` and
:func:`~biomm.preprocess.retina.preprocess_fundus` return) and leaves as float32
``[3, H, W]`` in [0, 1]. An OCT volume enters as ``[n_bscans, H, W]`` (uint8, or float
stretched by :func:`~biomm.preprocess.retina.normalize_oct`) and leaves as float32
``[n_bscans, H, W]`` in [0, 1]; the B-scans are the channels of a 2-D image, so every B-scan
of a volume gets the same flip, rotation and zoom.

Randomness: pass ``seed`` (or call ``set_random_state``) for a reproducible stream.

Examples:
    >>> import numpy as np
    >>> pipeline = fundus_train_transforms(size=64, seed=0)
    >>> sample = {"fundus": np.zeros((80, 80, 3), np.uint8), "label": 1}
    >>> out = pipeline(sample)
    >>> tuple(out["fundus"].shape), out["label"]
    ((3, 64, 64), 1)
    >>> other = {"ecg": np.zeros((12, 5000), np.float32)}
    >>> pipeline(other) is other
    True
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai import transforms as mt
from monai.config import KeysCollection

from biomm.errors import InputError
from biomm.preprocess.retina import Contrast, normalize_oct, preprocess_fundus


class ModalityCompose(mt.Compose):
    """A MONAI ``Compose`` applied only to samples that have at least one of ``keys``.

    Args:
        transforms: The transforms.
        keys: The keys the transforms work on.

    Examples:
        >>> pipeline = ModalityCompose([mt.Lambdad("x", lambda v: v + 1)], keys=["x"])
        >>> pipeline({"x": 1})["x"], pipeline({"y": 1})
        (2, {'y': 1})
    """

    def __init__(self, transforms: Sequence[Any], keys: KeysCollection) -> None:
        super().__init__(list(transforms))
        self.keys = (keys,) if isinstance(keys, str) else tuple(keys)

    def __call__(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        """Apply the transforms, or return ``data`` itself when it has none of the keys."""
        if isinstance(data, Mapping) and not any(k in data for k in self.keys):
            return data
        return super().__call__(data, *args, **kwargs)


class FundusToTensord(mt.MapTransform):
    """uint8 ``[H, W, 3]`` (or ``[H, W]``) → float32 ``[3, H, W]`` in [0, 1].

    A float tensor already ``[3, H, W]`` passes unchanged.

    Examples:
        >>> out = FundusToTensord("fundus")({"fundus": np.full((4, 5, 3), 255, np.uint8)})
        >>> tuple(out["fundus"].shape), float(out["fundus"].max())
        ((3, 4, 5), 1.0)
    """

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = True) -> None:
        super().__init__(keys, allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Convert each present key."""
        d = dict(data)
        for key in self.key_iterator(d):
            value = d[key]
            if isinstance(value, torch.Tensor) and value.is_floating_point() and value.ndim == 3:
                if value.shape[0] != 3:
                    raise InputError(f"{key}: a float fundus must be [3, H, W], got {value.shape}")
                continue
            array = np.asarray(value)
            if array.dtype != np.uint8 or array.ndim not in (2, 3):
                raise InputError(
                    f"{key}: expected a uint8 [H, W, 3] fundus, got {array.dtype} {array.shape}"
                )
            if array.ndim == 2:
                array = np.repeat(array[..., None], 3, axis=2)
            tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
            d[key] = tensor.float().div_(255.0)
        return d


class OCTToTensord(mt.MapTransform):
    """``[n_bscans, H, W]`` uint8 or float → float32 in [0, 1] (float via ``normalize_oct``).

    Examples:
        >>> v = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
        >>> out = OCTToTensord("oct")({"oct": v})["oct"]
        >>> tuple(out.shape), float(out.min()), float(out.max())
        ((2, 3, 4), 0.0, 1.0)
    """

    def __init__(
        self,
        keys: KeysCollection,
        percentiles: tuple[float, float] = (0.5, 99.5),
        allow_missing_keys: bool = True,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.percentiles = percentiles

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Convert each present key."""
        d = dict(data)
        for key in self.key_iterator(d):
            array = np.asarray(d[key])
            if array.ndim == 2:
                array = array[None]
            if array.ndim != 3:
                raise InputError(f"{key}: expected an OCT volume [n, H, W], got {array.shape}")
            array = normalize_oct(array, self.percentiles)
            d[key] = torch.from_numpy(np.ascontiguousarray(array)).float().div_(255.0)
        return d


class FOVCropd(mt.MapTransform):
    """Raw fundus (uint8 ``[H, W, 3]``) → FOV-cropped, resized, optionally contrast-normalised.

    Runs :func:`~biomm.preprocess.retina.preprocess_fundus` (without the quality check).

    Examples:
        >>> yy, xx = np.mgrid[:100, :120]
        >>> disc = (((yy - 50) ** 2 + (xx - 60) ** 2) < 45**2)[..., None] * np.uint8([200, 90, 40])
        >>> out = FOVCropd("fundus", size=32)({"fundus": disc})["fundus"]
        >>> out.shape, int(out[0, 0, 0]), int(out[16, 16, 0])
        ((32, 32, 3), 0, 200)
    """

    def __init__(
        self,
        keys: KeysCollection,
        size: int = 512,
        margin: float = 0.02,
        contrast: Contrast | None = None,
        allow_missing_keys: bool = True,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.size, self.margin, self.contrast = int(size), float(margin), contrast

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        """Crop each present key."""
        d = dict(data)
        for key in self.key_iterator(d):
            d[key], _ = preprocess_fundus(
                np.asarray(d[key]), self.size, self.contrast, self.margin, quality=False
            )
        return d


def _intensity(
    keys: Sequence[str],
    prob: float,
    brightness: float,
    contrast: float,
    gamma: tuple[float, float],
    noise_std: float,
) -> list[Any]:
    return [
        mt.RandScaleIntensityd(keys, factors=brightness, prob=prob, allow_missing_keys=True),
        mt.RandScaleIntensityFixedMeand(
            keys, factors=contrast, fixed_mean=True, prob=prob, allow_missing_keys=True
        ),
        mt.RandAdjustContrastd(keys, gamma=gamma, prob=prob, allow_missing_keys=True),
        mt.RandGaussianNoised(keys, std=noise_std, prob=prob, allow_missing_keys=True),
        mt.ScaleIntensityRanged(keys, 0.0, 1.0, 0.0, 1.0, clip=True, allow_missing_keys=True),
        mt.EnsureTyped(keys, data_type="tensor", track_meta=False, allow_missing_keys=True),
    ]


def _spatial(
    keys: Sequence[str], prob: float, rotate_degrees: float, zoom: tuple[float, float]
) -> list[Any]:
    return [
        mt.RandRotated(
            keys,
            range_x=float(np.deg2rad(rotate_degrees)),
            prob=prob,
            padding_mode="zeros",
            allow_missing_keys=True,
        ),
        mt.RandZoomd(
            keys,
            prob=prob,
            min_zoom=zoom[0],
            max_zoom=zoom[1],
            mode="bilinear",
            padding_mode="constant",
            allow_missing_keys=True,
        ),
    ]


def fundus_train_transforms(
    keys: Sequence[str] = ("fundus",),
    size: int | None = None,
    *,
    crop_fov: bool = False,
    contrast: Contrast | None = None,
    prob: float = 0.5,
    rotate_degrees: float = 15.0,
    zoom: tuple[float, float] = (0.9, 1.1),
    brightness: float = 0.2,
    contrast_factor: float = 0.2,
    gamma: tuple[float, float] = (0.8, 1.25),
    noise_std: float = 0.02,
    seed: int | None = None,
) -> ModalityCompose:
    """Training augmentation for fundus photos.

    Pipeline: [FOV crop (``crop_fov``)] → tensor → [resize to ``size``] → horizontal and
    vertical flips → rotation (± ``rotate_degrees``, black fill) → zoom → brightness,
    contrast (around the mean) and gamma → Gaussian noise → clip to [0, 1].

    Args:
        keys: Sample keys holding fundus photos.
        size: Output side (None keeps the input size).
        crop_fov: Start with :class:`FOVCropd` (raw photos); needs ``size``.
        contrast: Contrast normalisation of the FOV crop (``clahe``/``graham``).
        prob: Probability of each random transform.
        rotate_degrees: Largest rotation.
        zoom: Zoom range.
        brightness: Intensity scaled by ``1 + U(-b, b)``.
        contrast_factor: Contrast scaled around the mean by ``1 + U(-c, c)``.
        gamma: Gamma range.
        noise_std: Largest Gaussian noise standard deviation.
        seed: Seed of the random stream.

    Examples:
        >>> import numpy as np
        >>> image = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
        >>> a = fundus_train_transforms(seed=3)({"fundus": image})["fundus"]
        >>> b = fundus_train_transforms(seed=3)({"fundus": image})["fundus"]
        >>> bool((a == b).all()), 0.0 <= float(a.min()) <= float(a.max()) <= 1.0
        (True, True)
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    steps: list[Any] = []
    if crop_fov:
        if size is None:
            raise InputError("crop_fov=True needs a size")
        steps.append(FOVCropd(keys, size=size, contrast=contrast))
    steps.append(FundusToTensord(keys))
    if size is not None and not crop_fov:
        steps.append(mt.Resized(keys, (size, size), mode="area", allow_missing_keys=True))
    steps += [
        mt.RandFlipd(keys, prob=prob, spatial_axis=1, allow_missing_keys=True),
        mt.RandFlipd(keys, prob=prob, spatial_axis=0, allow_missing_keys=True),
        *_spatial(keys, prob, rotate_degrees, zoom),
        *_intensity(keys, prob, brightness, contrast_factor, gamma, noise_std),
    ]
    pipeline = ModalityCompose(steps, keys)
    if seed is not None:
        pipeline.set_random_state(seed=seed)
    return pipeline


def oct_train_transforms(
    keys: Sequence[str] = ("oct",),
    size: int | tuple[int, int] | None = None,
    *,
    prob: float = 0.5,
    rotate_degrees: float = 10.0,
    zoom: tuple[float, float] = (0.9, 1.1),
    brightness: float = 0.15,
    contrast_factor: float = 0.15,
    gamma: tuple[float, float] = (0.8, 1.25),
    noise_std: float = 0.03,
    seed: int | None = None,
) -> ModalityCompose:
    """Training augmentation for OCT volumes (the same draw for every B-scan of a volume).

    Pipeline: tensor in [0, 1] → [resize B-scans to ``size``] → lateral flip (left/right
    eyes mirror each other; depth is never flipped) → in-plane rotation → zoom → brightness,
    contrast, gamma → Gaussian noise → clip.

    Args:
        keys: Sample keys holding ``[n_bscans, H, W]`` volumes.
        size: B-scan size, an int (square) or ``(H, W)``; None keeps it.
        prob: Probability of each random transform.
        rotate_degrees: Largest in-plane rotation.
        zoom: Zoom range.
        brightness: Intensity scaled by ``1 + U(-b, b)``.
        contrast_factor: Contrast scaled around the mean by ``1 + U(-c, c)``.
        gamma: Gamma range.
        noise_std: Largest Gaussian noise standard deviation.
        seed: Seed of the random stream.

    Examples:
        >>> import numpy as np
        >>> out = oct_train_transforms(size=(32, 16), seed=0)({"oct": np.zeros((5, 64, 40))})
        >>> tuple(out["oct"].shape)
        (5, 32, 16)
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    steps: list[Any] = [OCTToTensord(keys)]
    if size is not None:
        shape = (size, size) if isinstance(size, int) else tuple(size)
        steps.append(mt.Resized(keys, shape, mode="area", allow_missing_keys=True))
    steps += [
        mt.RandFlipd(keys, prob=prob, spatial_axis=1, allow_missing_keys=True),
        *_spatial(keys, prob, rotate_degrees, zoom),
        *_intensity(keys, prob, brightness, contrast_factor, gamma, noise_std),
    ]
    pipeline = ModalityCompose(steps, keys)
    if seed is not None:
        pipeline.set_random_state(seed=seed)
    return pipeline
