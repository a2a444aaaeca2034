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

from biomm.errors import CheckpointError, InputError
from biomm.utils.checkpoint import read_weights_file, refuse_pickle, sha256_file


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
    Encoders that load weights take ``trust_pickle`` (default False: only safetensors).
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


def load_state_dict(
    path: str | PathLike[str], *, trust_pickle: bool = False
) -> dict[str, torch.Tensor]:
    """Load weights from ``.safetensors``; a pickle-based file only with ``trust_pickle``.

    The format is judged by the file's bytes (see :func:`biomm.utils.checkpoint.weights_format`),
    so a renamed pickle is still refused. Trusted PyTorch files are read with
    ``torch.load(weights_only=True)``, which only accepts tensors and plain containers.
    Weights holding NaN/inf are refused.

    Args:
        path: The weights file.
        trust_pickle: Allow a pickle-based file (``.pt``/``.pth``/``.bin``/``.ckpt``).

    Raises:
        UntrustedFileError: For a pickle-based file without ``trust_pickle``.
        CheckpointError: Naming the file and the reason (missing, damaged, not a state dict).

    Examples:
        >>> import tempfile, pathlib
        >>> from safetensors.torch import save_file
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.safetensors"
        >>> save_file({"w": torch.zeros(2)}, str(p))
        >>> load_state_dict(p)["w"].shape
        torch.Size([2])
    """
    return read_weights_file(path, trust_pickle=trust_pickle)


def load_weights_into(
    module: nn.Module,
    path: str | PathLike[str],
    *,
    name: str,
    ignore_prefix: str,
    trust_pickle: bool = False,
) -> str:
    """Load a state dict file into ``module``; every parameter must be found.

    ``module.`` prefixes (DataParallel) are removed and keys starting with ``ignore_prefix``
    (the classifier) are skipped. Returns the file's SHA-256.

    Raises:
        UntrustedFileError: For a pickle-based file without ``trust_pickle``.
        CheckpointError: Naming the file when keys are missing or unexpected, or shapes differ.

    Examples:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
        >>> torch.save({"weight": torch.ones(1, 1), "bias": torch.zeros(1)}, p)
        >>> len(load_weights_into(nn.Linear(1, 1), p, name="linear", ignore_prefix="fc.",
        ...                       trust_pickle=True))
        64
    """
    path = Path(path)
    state = {
        k.removeprefix("module."): v
        for k, v in load_state_dict(path, trust_pickle=trust_pickle).items()
    }
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefix)}
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise CheckpointError(f"weights do not fit {name}: {str(exc)[:300]}", path=path) from None
    missing = [k for k in missing if not k.startswith(ignore_prefix)]
    if missing or unexpected:
        raise CheckpointError(
            f"weights do not fit {name}: missing {missing[:3]}, unexpected {unexpected[:3]}",
            path=path,
        )
    return sha256_file(path)


#: Weight files of a Hugging Face model folder that are pickles.
HF_PICKLE_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def check_hf_source(source: str | PathLike[str], *, trust_pickle: bool = False) -> dict[str, Any]:
    """``from_pretrained`` arguments for a Hugging Face model, refusing pickle-only folders.

    A local folder must hold ``*.safetensors`` weights unless ``trust_pickle``; a hub id is
    loaded with ``use_safetensors=True`` (transformers then refuses a ``.bin``-only repo, and
    :func:`hf_load_error` turns that into an :class:`UntrustedFileError`).

    Raises:
        UntrustedFileError: Naming the pickle file of a local folder without safetensors.

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "pytorch_model.bin").write_bytes(b"a pickle")
        >>> check_hf_source(folder)
        Traceback (most recent call last):
        ...
        biomm.errors.UntrustedFileError: ...pytorch_model.bin: pickle-based Hugging Face ...
        >>> check_hf_source(folder, trust_pickle=True)
        {}
    """
    if trust_pickle:
        return {}
    folder = Path(source)
    if folder.is_dir() and not any(folder.glob("*.safetensors")):
        pickles = sorted(p for pattern in HF_PICKLE_PATTERNS for p in folder.glob(pattern))
        if pickles:
            raise refuse_pickle(pickles[0], "Hugging Face weights (no .safetensors in the folder)")
    return {"use_safetensors": True}


def hf_load_error(exc: Exception, source: str, what: str, *, trust_pickle: bool) -> Exception:
    """The biomm error for a failed ``from_pretrained`` (to be raised).

    Examples:
        >>> err = hf_load_error(OSError("x does not appear to have a file named "
        ...                             "model.safetensors"), "x", "the text model",
        ...                     trust_pickle=False)
        >>> type(err).__name__
        'UntrustedFileError'
    """
    text = str(exc)
    missing = "does not appear to have" in text or "no file named" in text
    if not trust_pickle and "safetensors" in text and missing:
        return refuse_pickle(source, "Hugging Face weights (the model has no .safetensors)")
    return CheckpointError(f"cannot load {what}: {str(exc)[:500]}", path=source)


def hf_weights_sha256(source: str | PathLike[str]) -> str | None:
    """SHA-256 of a Hugging Face model's weights (local folder, or a hub id in the cache).

    One weights file: its SHA-256. Several (shards): the SHA-256 of the ``name sha256`` lines
    of all of them, sorted. None when no local file is found.

    Examples:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> hf_weights_sha256(folder) is None
        True
        >>> _ = (folder / "model.safetensors").write_bytes(b"abc")
        >>> hf_weights_sha256(folder)[:12]
        'ba7816bf8f01'
    """
    folder = Path(source)
    files: list[Path] = []
    if folder.is_dir():
        files = sorted(folder.glob("*.safetensors")) or sorted(
            p for pattern in HF_PICKLE_PATTERNS for p in folder.glob(pattern)
        )
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            for name in ("model.safetensors", "pytorch_model.bin"):
                cached = try_to_load_from_cache(str(source), name)
                if isinstance(cached, str):
                    files = [Path(cached)]
                    break
        except Exception:  # no cache, odd repo ids: provenance is then unknown
            files = []
    if not files:
        return None
    if len(files) == 1:
        return sha256_file(files[0])
    lines = "".join(f"{p.name} {sha256_file(p)}\n" for p in files)
    return hashlib.sha256(lines.encode()).hexdigest()


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
