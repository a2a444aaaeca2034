"""Embedders of fundus photos and OCT volumes for cohort runs (``biomm embed``).

Each has ``load(path)`` (read and preprocess one file; raises
:class:`~biomm.errors.ImageReadError`; thread-safe, so it can run in worker threads),
``embed(items)`` (batched, ``inference_mode`` → ``[B, D]`` float32), ``item_info(item)`` (extra
per-item columns), ``embed_dim``, ``modality`` and ``describe()`` (encoder provenance,
including the weights' SHA-256, and the preprocessing settings).

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from skimage.data import retina
    >>> path = Path(tempfile.mkdtemp()) / "eye.png"
    >>> Image.fromarray(retina()[::4, ::4]).save(path)
    >>> embedder = FundusEmbedder(encoder_kwargs={"weights": None})
    >>> item = embedder.load(path)
    >>> embedder.embed([item]).shape, embedder.item_info(item)["gradable"]
    ((1, 1280), True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from typing import Any, Literal

import numpy as np
import torch

from biomm.encoders.base import Encoder
from biomm.errors import ConfigError
from biomm.io.retina import read_fundus, read_oct, resize_bscans, select_bscans
from biomm.preprocess.retina import Contrast, FundusInfo, normalize_oct, preprocess_fundus
from biomm.registries import ENCODERS
from biomm.retina.oct_encoder import OCTVolumeEncoder


def _device(device: str | torch.device) -> torch.device:
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but no CUDA device is available")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r} ({exc})") from None


def _image_encoder(encoder: str | Encoder, kwargs: dict[str, Any] | None) -> Encoder:
    built = ENCODERS.build(encoder, **(kwargs or {})) if isinstance(encoder, str) else encoder
    if getattr(built, "modality", None) != "image" or getattr(built, "input", None) is None:
        raise ConfigError(
            f"{getattr(built, 'name', encoder)!r} is not an image encoder; choose one of "
            f"{[n for n in ENCODERS.names() if n.startswith(('efficientnet', 'monai', 'hf_im'))]}"
        )
    return built


@dataclass
class FundusItem:
    """A loaded fundus photo: the preprocessed pixels and what preprocessing found.

    Attributes:
        pixels: ``[size, size, 3]`` uint8.
        info: The :class:`~biomm.preprocess.retina.FundusInfo`.
        source_shape: ``(height, width)`` of the file's image.
        meta: The reader's metadata.
    """

    pixels: np.ndarray
    info: FundusInfo
    source_shape: tuple[int, int]
    meta: dict[str, Any] = field(default_factory=dict)


class FundusEmbedder:
    """Fundus photos → image-encoder embeddings, with FOV crop and quality per item.

    Args:
        encoder: A registered image encoder name or an :class:`Encoder`.
        encoder_kwargs: Its arguments (e.g. ``{"weights": "path.safetensors"}``).
        size: Side of the FOV crop (default: the encoder's input size).
        contrast: None, ``clahe`` or ``graham``.
        device: ``cpu``, ``cuda``, ``cuda:1`` or ``auto``.
        quality: Score gradability (columns ``gradable``, ``quality_score``…).
        margin: Crop margin around the disc, as a fraction of its radius.
        batch_size: Images per forward pass.

    Examples:
        >>> FundusEmbedder(encoder_kwargs={"weights": None}, contrast="graham").describe()[
        ...     "preprocessing"]["contrast"]
        'graham'
    """

    modality = "fundus"

    def __init__(
        self,
        encoder: str | Encoder = "efficientnet_lite0",
        encoder_kwargs: dict[str, Any] | None = None,
        size: int | None = None,
        contrast: Contrast | None = None,
        device: str = "cpu",
        quality: bool = True,
        margin: float = 0.02,
        batch_size: int = 32,
    ) -> None:
        if contrast not in (None, "clahe", "graham"):
            raise ConfigError(f"contrast must be None, 'clahe' or 'graham', got {contrast!r}")
        self.device = _device(device)
        self.encoder = _image_encoder(encoder, encoder_kwargs).to(self.device).eval()
        self.size = int(size or self.encoder.input.size)  # type: ignore[union-attr]
        self.contrast = contrast
        self.quality = bool(quality)
        self.margin = float(margin)
        self.batch_size = max(1, int(batch_size))
        self.embed_dim = int(self.encoder.embed_dim)

    def load(self, path: str | PathLike[str]) -> FundusItem:
        """Read one photo and preprocess it (FOV, quality, crop, resize, contrast).

        Raises:
            ImageReadError: When the file cannot be read as an image.
        """
        image = read_fundus(path)
        pixels, info = preprocess_fundus(
            image.pixels, self.size, self.contrast, self.margin, quality=self.quality
        )
        return FundusItem(pixels, info, image.shape, image.meta)

    def embed(self, items: list[FundusItem]) -> np.ndarray:
        """Loaded items → ``[B, D]`` float32."""
        outputs = [np.zeros((0, self.embed_dim), np.float32)]
        with torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                chunk = np.stack([item.pixels for item in items[start : start + self.batch_size]])
                x = self.encoder.preprocess(torch.from_numpy(chunk).to(self.device))
                outputs.append(self.encoder(x).float().cpu().numpy())
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def item_info(self, item: FundusItem) -> dict[str, Any]:
        """Per-item columns: source size, FOV and quality (None where quality was skipped)."""
        return {
            "height": item.source_shape[0],
            "width": item.source_shape[1],
            **item.info.to_dict(),
        }

    def describe(self) -> dict[str, Any]:
        """Encoder provenance and preprocessing settings."""
        return {
            "modality": self.modality,
            "encoder": self.encoder.describe(),
            "preprocessing": {
                "steps": "read_fundus > detect_fov > crop_to_fov > resize > contrast",
                "size": self.size,
                "contrast": self.contrast,
                "margin": self.margin,
                "quality": self.quality,
            },
        }


@dataclass
class OCTItem:
    """A loaded OCT volume: the selected, resized uint8 B-scans and where they came from.

    Attributes:
        bscans: ``[n, size, size]`` uint8.
        n_total: B-scans in the file.
        spacing: ``(z, y, x)`` mm of the file (None where unknown).
        meta: The reader's metadata (with ``bscan_indices``).
    """

    bscans: np.ndarray
    n_total: int
    spacing: tuple[float | None, float | None, float | None]
    meta: dict[str, Any] = field(default_factory=dict)


class OCTEmbedder:
    """OCT volumes → per-B-scan image features pooled over the B-scans.

    Args:
        encoder: A registered image encoder name or an :class:`Encoder` (B-scans are
            replicated to three channels).
        encoder_kwargs: Its arguments.
        n_bscans: B-scans kept per volume (at most).
        strategy: ``uniform`` (spread over the volume) or ``center`` (around the fovea).
        size: B-scan side after resizing (default: the encoder's input size).
        pooling: ``mean`` or ``max`` (attention pooling needs training: use
            :class:`~biomm.retina.oct_encoder.OCTVolumeEncoder` with ``abmil``).
        axis_order: Passed to :func:`~biomm.io.retina.read_oct`.
        percentiles: Intensity stretch of non-8-bit volumes.
        device: ``cpu``, ``cuda``, ``cuda:1`` or ``auto``.
        batch_size: B-scans per forward pass.

    Examples:
        >>> import tempfile
        >>> from pathlib import Path
        >>> path = Path(tempfile.mkdtemp()) / "v.npy"
        >>> np.save(path, np.random.default_rng(0).random((20, 64, 48), np.float32))
        >>> embedder = OCTEmbedder(encoder_kwargs={"weights": None}, n_bscans=2, size=64)
        >>> item = embedder.load(path)
        >>> embedder.embed([item]).shape, embedder.item_info(item)["n_bscans"]
        ((1, 1280), 2)
    """

    modality = "oct"

    def __init__(
        self,
        encoder: str | Encoder = "efficientnet_lite0",
        encoder_kwargs: dict[str, Any] | None = None,
        n_bscans: int = 32,
        strategy: Literal["uniform", "center"] = "uniform",
        size: int | None = None,
        pooling: Literal["mean", "max"] = "mean",
        axis_order: str | None = None,
        percentiles: tuple[float, float] = (0.5, 99.5),
        device: str = "cpu",
        batch_size: int = 64,
    ) -> None:
        if pooling not in ("mean", "max"):
            raise ConfigError(
                f"pooling must be 'mean' or 'max', got {pooling!r} (attention pooling is "
                "trained: use OCTVolumeEncoder(pooling='abmil') in a model)"
            )
        if strategy not in ("uniform", "center"):
            raise ConfigError(f"strategy must be 'uniform' or 'center', got {strategy!r}")
        if int(n_bscans) < 1:
            raise ConfigError(f"n_bscans must be at least 1, got {n_bscans}")
        self.device = _device(device)
        image_encoder = _image_encoder(encoder, encoder_kwargs)
        self.encoder = OCTVolumeEncoder(image_encoder, pooling, chunk_size=batch_size)
        self.encoder.to(self.device).eval()
        self.size = int(size or image_encoder.input.size)  # type: ignore[union-attr]
        self.n_bscans = int(n_bscans)
        self.strategy = strategy
        self.pooling = pooling
        self.axis_order = axis_order
        self.percentiles = (float(percentiles[0]), float(percentiles[1]))
        self.embed_dim = int(self.encoder.embed_dim)

    def load(self, path: str | PathLike[str]) -> OCTItem:
        """Read one volume, keep ``n_bscans``, resize them, stretch intensities to uint8.

        Raises:
            ImageReadError: When the file cannot be read as a volume (vendor formats included).
        """
        volume = read_oct(path, axis_order=self.axis_order)
        kept = resize_bscans(select_bscans(volume, self.n_bscans, self.strategy), self.size)
        bscans = normalize_oct(kept.pixels, self.percentiles)
        return OCTItem(bscans, volume.n_bscans, volume.spacing, kept.meta)

    def embed(self, items: list[OCTItem]) -> np.ndarray:
        """Loaded items → ``[B, D]`` float32 (all B-scans of the items, encoded in chunks)."""
        if not items:
            return np.zeros((0, self.embed_dim), np.float32)
        counts = [item.bscans.shape[0] for item in items]
        with torch.inference_mode():
            stacked = torch.from_numpy(np.concatenate([item.bscans for item in items]))
            features = self.encoder.encode_bscans(stacked.to(self.device))
            padded = features.new_zeros(len(items), max(counts), features.shape[-1])
            mask = torch.zeros(len(items), max(counts), dtype=torch.bool, device=self.device)
            for row, chunk in enumerate(torch.split(features, counts)):
                padded[row, : len(chunk)] = chunk
                mask[row, : len(chunk)] = True
            pooled, _ = self.encoder.pool_features(padded, mask)
        return pooled.float().cpu().numpy().astype(np.float32, copy=False)

    def item_info(self, item: OCTItem) -> dict[str, Any]:
        """Per-item columns: B-scans used and in the file, spacing (mm), file format."""
        z, y, x = item.spacing
        return {
            "n_bscans": int(item.bscans.shape[0]),
            "n_bscans_total": item.n_total,
            "spacing_z_mm": z,
            "spacing_y_mm": y,
            "spacing_x_mm": x,
            "format": item.meta.get("format"),
        }

    def describe(self) -> dict[str, Any]:
        """Encoder provenance and preprocessing settings."""
        return {
            "modality": self.modality,
            "encoder": self.encoder.describe(),
            "preprocessing": {
                "steps": "read_oct > select_bscans > resize_bscans > normalize_oct",
                "n_bscans": self.n_bscans,
                "strategy": self.strategy,
                "size": self.size,
                "pooling": self.pooling,
                "axis_order": self.axis_order,
                "percentiles": list(self.percentiles),
            },
        }
