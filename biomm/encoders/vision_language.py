"""Vision–language models as tile encoders with a text tower for zero-shot classification.

CLIP, PLIP and CONCH-style models in Hugging Face format.

Examples:
    >>> from biomm.registries import ENCODERS
    >>> "hf_clip" in ENCODERS
    True
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path

import torch

from biomm.encoders.base import (
    Encoder,
    ImageInput,
    check_hf_source,
    hf_load_error,
    hf_weights_sha256,
)
from biomm.errors import InputError
from biomm.registries import ENCODERS

#: OpenAI CLIP normalisation, used when the model folder has no preprocessor config.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@ENCODERS.register("hf_clip")
class HFCLIPEncoder(Encoder):
    """A CLIP-style model: ``forward`` embeds images, :meth:`encode_text` embeds prompts.

    Args:
        model: Hub id (network on first use) or local folder with the model, its tokenizer
            and optionally ``preprocessor_config.json``.
        trust_pickle: Allow ``pytorch_model.bin`` (pickle) weights when the model has no
            safetensors (it can run code when loaded).

    Examples:
        >>> HFCLIPEncoder.name  # construction needs a model folder: see tests/zeroshot
        'hf_clip'
    """

    name = "hf_clip"
    modality = "image"

    def __init__(self, model: str | PathLike[str], trust_pickle: bool = False) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        source = str(model)
        load_kwargs = check_hf_source(source, trust_pickle=trust_pickle)
        try:
            self.net = AutoModel.from_pretrained(source, **load_kwargs)
            self.tokenizer = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise hf_load_error(
                exc, source, "the vision-language model", trust_pickle=trust_pickle
            ) from None
        if not hasattr(self.net, "get_image_features") or not hasattr(
            self.net, "get_text_features"
        ):
            raise InputError(
                "the model has no image and text towers (CLIP-style expected)", path=source
            )
        config = self.net.config
        self.embed_dim = int(config.projection_dim)
        mean, std = CLIP_MEAN, CLIP_STD
        processor = Path(source) / "preprocessor_config.json"
        if processor.is_file():
            cfg = json.loads(processor.read_text())
            mean = tuple(cfg.get("image_mean", mean))  # type: ignore[assignment]
            std = tuple(cfg.get("image_std", std))  # type: ignore[assignment]
        size = int(config.vision_config.image_size)
        self.input = ImageInput(size=size, mean=mean, std=std)  # type: ignore[arg-type]
        self.name = f"hf_clip:{Path(source).name if Path(source).exists() else source}"
        self.weights = source
        self.weights_sha256 = hf_weights_sha256(source)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images → image embeddings ``[B, D]``."""
        return _features(self.net.get_image_features(pixel_values=x))

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Texts → text embeddings ``[N, D]`` in the image embedding space."""
        tokens = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        tokens = {
            k: v.to(next(self.net.parameters()).device)
            for k, v in tokens.items()
            if k in ("input_ids", "attention_mask")
        }
        return _features(self.net.get_text_features(**tokens)).float().cpu()


def _features(out: object) -> torch.Tensor:
    """The embedding tensor: older transformers return it, newer ones wrap it in an output."""
    if isinstance(out, torch.Tensor):
        return out
    for name in ("image_embeds", "text_embeds", "pooler_output"):
        value = getattr(out, name, None)
        if isinstance(value, torch.Tensor):
            return value
    raise InputError(f"unexpected model output {type(out).__name__}")
