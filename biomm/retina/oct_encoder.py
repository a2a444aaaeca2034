"""An OCT volume encoder: a 2-D image encoder on every B-scan, pooled over the B-scans.

B-scans (uint8, greyscale) are replicated to three channels and prepared by the image
encoder's own recipe (:meth:`~biomm.encoders.base.Encoder.preprocess`: resize and
normalisation), encoded in chunks, then pooled per volume by a registered bag aggregator:
``mean`` (``mil_mean``), ``max`` (``mil_max``) or ``abmil`` (gated attention, trainable).
Padded B-scans (``mask`` False) are never encoded and never influence the result.

Examples:
    >>> import torch
    >>> enc = OCTVolumeEncoder("efficientnet_lite0", encoder_kwargs={"weights": None})
    >>> volumes = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)  # one volume, 3 B-scans
    >>> mask = torch.tensor([[True, False, False]])  # only the first is real
    >>> enc(volumes, mask).shape, enc.modality
    (torch.Size([1, 1280]), 'oct')
"""

from __future__ import annotations

from typing import Any

import torch

from biomm.encoders.base import Encoder
from biomm.errors import InputError
from biomm.registries import ENCODERS

#: Pooling name → registered aggregator.
POOLINGS = {"mean": "mil_mean", "max": "mil_max", "abmil": "abmil"}


class OCTVolumeEncoder(Encoder):
    """Per-B-scan features from an image encoder, pooled over each volume.

    Args:
        image_encoder: A registered image encoder name or an :class:`Encoder` instance.
        pooling: ``mean``, ``max`` or ``abmil``.
        encoder_kwargs: Arguments of the image encoder when built by name.
        pool_kwargs: Arguments of the aggregator (e.g. ``hidden_dim`` for ``abmil``).
        chunk_size: B-scans per forward pass of the image encoder.

    Examples:
        >>> enc = OCTVolumeEncoder("efficientnet_lite0", "abmil",
        ...                        encoder_kwargs={"weights": None}, pool_kwargs={"hidden_dim": 8})
        >>> enc.describe()["pooling"], enc.embed_dim
        ('abmil', 1280)
    """

    modality = "oct"

    def __init__(
        self,
        image_encoder: str | Encoder = "efficientnet_lite0",
        pooling: str = "mean",
        *,
        encoder_kwargs: dict[str, Any] | None = None,
        pool_kwargs: dict[str, Any] | None = None,
        chunk_size: int = 64,
    ) -> None:
        super().__init__()
        if isinstance(image_encoder, str):
            image_encoder = ENCODERS.build(image_encoder, **(encoder_kwargs or {}))
        if image_encoder.modality != "image" or image_encoder.input is None:
            raise InputError(
                f"encoder {image_encoder.name!r} is not an image encoder "
                f"(modality {image_encoder.modality!r})"
            )
        if pooling not in POOLINGS:
            raise InputError(f"pooling must be one of {sorted(POOLINGS)}, got {pooling!r}")
        self.image_encoder = image_encoder
        self.pooling = pooling
        self.pool = ENCODERS.build(
            POOLINGS[pooling], in_dim=image_encoder.embed_dim, **(pool_kwargs or {})
        )
        self.chunk_size = max(1, int(chunk_size))
        self.embed_dim = int(self.pool.embed_dim)
        self.input = image_encoder.input
        self.name = f"oct:{image_encoder.name}+{pooling}"
        self.weights = image_encoder.weights
        self.weights_sha256 = image_encoder.weights_sha256

    def describe(self) -> dict[str, Any]:
        """Provenance: the image encoder's description and the pooling.

        Examples:
            >>> OCTVolumeEncoder(encoder_kwargs={"weights": None}).describe()["image_encoder"][
            ...     "encoder"]
            'efficientnet_lite0'
        """
        return {
            **super().describe(),
            "image_encoder": self.image_encoder.describe(),
            "pooling": self.pooling,
        }

    def encode_bscans(self, bscans: torch.Tensor) -> torch.Tensor:
        """uint8 B-scans ``[M, H, W]`` → features ``[M, D]`` (in chunks of ``chunk_size``).

        Examples:
            >>> enc = OCTVolumeEncoder(encoder_kwargs={"weights": None})
            >>> enc.encode_bscans(torch.zeros(1, 40, 30, dtype=torch.uint8)).shape
            torch.Size([1, 1280])
        """
        if bscans.ndim != 3 or bscans.dtype != torch.uint8:
            raise InputError(
                f"B-scans must be uint8 [M, H, W], got {bscans.dtype} {tuple(bscans.shape)}"
            )
        outputs = []
        for start in range(0, bscans.shape[0], self.chunk_size):
            chunk = bscans[start : start + self.chunk_size]
            rgb = chunk.unsqueeze(-1).expand(*chunk.shape, 3)
            outputs.append(self.image_encoder(self.image_encoder.preprocess(rgb)))
        if not outputs:
            return torch.zeros(0, self.image_encoder.embed_dim, device=bscans.device)
        return torch.cat(outputs).float()

    def pool_features(
        self, features: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Pool ``[B, N, D]`` B-scan features with a ``[B, N]`` mask → ``([B, D'], attention)``.

        Examples:
            >>> enc = OCTVolumeEncoder(encoder_kwargs={"weights": None})
            >>> z, attention = enc.pool_features(torch.ones(1, 4, 1280))
            >>> z.shape, attention is None
            (torch.Size([1, 1280]), True)
        """
        return self.pool(features, mask)

    def forward(self, volumes: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 volumes ``[B, N, H, W]`` (padded) and a ``[B, N]`` mask → ``[B, D]``."""
        if volumes.ndim != 4:
            raise InputError(f"volumes must be [B, N, H, W], got {tuple(volumes.shape)}")
        if mask is None:
            mask = torch.ones(volumes.shape[:2], dtype=torch.bool, device=volumes.device)
        mask = mask.bool()
        real = self.encode_bscans(volumes[mask])
        features = real.new_zeros(*volumes.shape[:2], real.shape[-1])
        features[mask] = real
        return self.pool_features(features, mask)[0]
