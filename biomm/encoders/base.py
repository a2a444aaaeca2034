"""The encoder contract: an ``nn.Module`` with a modality, an output size and its input recipe.

Examples:
    >>> from biomm.encoders import build_encoder
    >>> enc = build_encoder("efficientnet_lite0", weights=None)
    >>> enc.modality, enc.embed_dim, enc.input.size
    ('image', 1280, 224)
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from biomm.errors import InputError


@dataclass(frozen=True)
class ImageInput:
    """How an image encoder wants its input.

    Attributes:
        size: Square input size in pixels (tiles of another size are resized).
        mean: Per-channel mean on the [0, 1] scale.
        std: Per-channel standard deviation on the [0, 1] scale.
    """

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class Encoder(nn.Module):
    """Base class of biomm encoders.

    Subclasses set ``name``, ``modality``, ``embed_dim`` and, for images, ``input``, and
    implement ``forward(x) -> [B, D]``. ``weights`` and ``weights_sha256`` record provenance.
    """

    name: str = "encoder"
    modality: str = "image"
    embed_dim: int = 0
    input: ImageInput | None = None
    weights: str | None = None
    weights_sha256: str | None = None

    def describe(self) -> dict[str, Any]:
        """Provenance of the encoder (recorded with every output).

        Examples:
            >>> from biomm.encoders import build_encoder
            >>> build_encoder("efficientnet_lite0", weights=None).describe()["weights"]
            'random-init'
        """
        return {
            "encoder": self.name,
            "modality": self.modality,
            "embed_dim": self.embed_dim,
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "input": asdict(self.input) if self.input else None,
        }

    def preprocess(self, tiles: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B, H, W, 3]`` tiles → normalised float ``[B, 3, size, size]``.

        Runs on the tiles' device; resizes (bilinear, antialiased) when sizes differ.

        Examples:
            >>> from biomm.encoders import build_encoder
            >>> enc = build_encoder("efficientnet_lite0", weights=None)
            >>> enc.preprocess(torch.zeros(2, 256, 256, 3, dtype=torch.uint8)).shape
            torch.Size([2, 3, 224, 224])
        """
        if self.input is None:
            raise InputError(f"encoder {self.name!r} takes no images")
        x = tiles.permute(0, 3, 1, 2).float().div_(255.0)
        size = self.input.size
        if x.shape[-1] != size or x.shape[-2] != size:
            x = F.interpolate(
                x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
        mean = torch.tensor(self.input.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.input.std, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std


def sha256_file(path: str | PathLike[str]) -> str:
    """SHA-256 of a file, read in chunks.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w"
        >>> _ = p.write_bytes(b"abc")
        >>> sha256_file(p)[:12]
        'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_state_dict(path: str | PathLike[str]) -> dict[str, torch.Tensor]:
    """Load weights from ``.safetensors`` or a PyTorch file, never running pickled code.

    PyTorch files are read with ``torch.load(weights_only=True)``, which only accepts tensors
    and plain containers.

    Raises:
        InputError: Naming the file and the reason.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("weights file not found", path=path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or unsafe files raise many types
        raise InputError(f"cannot load weights ({type(exc).__name__}: {exc})", path=path) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(
            f"weights file holds a {type(state).__name__}, not a state dict", path=path
        )
    return state


def load_weights_into(
    module: nn.Module, path: str | PathLike[str], *, name: str, ignore_prefix: str
) -> str:
    """Load a state dict file into ``module``; every parameter must be found.

    ``module.`` prefixes (DataParallel) are removed and keys starting with ``ignore_prefix``
    (the classifier) are skipped. Returns the file's SHA-256.

    Raises:
        InputError: Naming the file when keys are missing or unexpected, or shapes differ.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
        >>> torch.save({"weight": torch.ones(1, 1), "bias": torch.zeros(1)}, p)
        >>> len(load_weights_into(nn.Linear(1, 1), p, name="linear", ignore_prefix="fc."))
        64
    """
    path = Path(path)
    state = {k.removeprefix("module."): v for k, v in load_state_dict(path).items()}
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefix)}
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise InputError(f"weights do not fit {name}: {str(exc)[:300]}", path=path) from None
    missing = [k for k in missing if not k.startswith(ignore_prefix)]
    if missing or unexpected:
        raise InputError(
            f"weights do not fit {name}: missing {missing[:3]}, unexpected {unexpected[:3]}",
            path=path,
        )
    return sha256_file(path)


def to_uint8_tiles(tiles: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Tiles as a uint8 ``[B, H, W, 3]`` tensor (from numpy or torch).

    Examples:
        >>> to_uint8_tiles(np.zeros((1, 4, 4, 3), np.uint8)).dtype
        torch.uint8
    """
    tensor = torch.as_tensor(tiles)
    if tensor.dtype != torch.uint8 or tensor.ndim != 4 or tensor.shape[-1] != 3:
        raise InputError(
            f"tiles must be uint8 [B, H, W, 3], got {tensor.dtype} {tuple(tensor.shape)}"
        )
    return tensor
