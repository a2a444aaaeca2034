"""MERL-style ECG–report model: an ECG encoder and a text encoder in one embedding space.

Losses (Liu et al., "Zero-Shot ECG Classification with Multimodal Learning and Test-time
Clinical Knowledge Enhancement", ICML 2024):

- **CMA** (cross-modal alignment): symmetric InfoNCE/CLIP loss between projected ECG and
  report embeddings of the same record.
- **UMA** (uni-modal alignment): the pooled ECG feature goes through two linear maps, each
  followed by dropout (the "latent augmentation"); the two views of one record are positives
  in a second InfoNCE loss, the other records of the batch negatives.

The text language model is frozen by default (only its projection trains), so report features
can be computed once and cached. Checkpoints are a folder with ``model.safetensors`` and
``config.json`` (everything needed to rebuild the model, the input profile included); the
frozen language model's weights are not copied, only named and hashed.

Examples:
    >>> import torch
    >>> model = MERLModel({"name": "resnet1d18", "kwargs": {"width": 8}}, {"model": "minilm"},
    ...                   proj_dim=32)
    >>> text = model.text_features(["sinus rhythm", "atrial fibrillation"])
    >>> losses = model.losses(torch.randn(2, 12, 1000), None, text)
    >>> sorted(losses), losses["loss"].ndim
    (['cma', 'loss', 'uma'], 0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biomm._version import __version__
from biomm.encoders import build_encoder
from biomm.encoders.text import HFTextEncoder
from biomm.errors import CheckpointError, ConfigError, InputError
from biomm.utils.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    load_checkpoint_folder,
    save_checkpoint_folder,
)

CHECKPOINT_KIND = "biomm-merl"


def clip_loss(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE between row-aligned embeddings ``a`` and ``b`` (normalised inside).

    Examples:
        >>> x = torch.eye(4)
        >>> float(clip_loss(x, x, 100.0)) < 1e-3 < float(clip_loss(x, x.roll(1, 0), 100.0))
        True
    """
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = logit_scale * a @ b.T
    target = torch.arange(a.shape[0], device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def _mlp(d_in: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_out), nn.GELU(), nn.Linear(d_out, d_out))


class MERLModel(nn.Module):
    """ECG encoder + projections + frozen text encoder with the CMA and UMA losses.

    Args:
        ecg_encoder: ``{"name": registered ECG encoder, "kwargs": {...}}``.
        text_encoder: ``{"model": path/hub id/minilm, "pooling": ..., "max_length": ...}``.
        proj_dim: Size of the shared embedding space.
        temperature: Initial softmax temperature (logit scale = 1/temperature).
        learn_temperature: Learn the temperature (CLIP) instead of keeping it fixed.
        uma_dropout: Dropout rate of the latent augmentation.
        uma_weight: Weight of the UMA loss (0 turns it off).
        freeze_text: Keep the language model frozen (its projection trains).

    Examples:
        >>> m = MERLModel({"name": "vit1d_tiny", "kwargs": {"depth": 1, "patch": 25}},
        ...               {"model": "minilm"}, proj_dim=16)
        >>> m.encode_ecg(torch.randn(3, 12, 500)).shape
        torch.Size([3, 16])
    """

    def __init__(
        self,
        ecg_encoder: Mapping[str, Any],
        text_encoder: Mapping[str, Any],
        *,
        proj_dim: int = 256,
        temperature: float = 0.07,
        learn_temperature: bool = False,
        uma_dropout: float = 0.1,
        uma_weight: float = 1.0,
        freeze_text: bool = True,
    ) -> None:
        super().__init__()
        if not 0 < temperature < 10:
            raise InputError(f"temperature must be in (0, 10), got {temperature}")
        self.spec = {
            "ecg_encoder": {
                "name": ecg_encoder["name"],
                "kwargs": dict(ecg_encoder.get("kwargs", {})),
            },
            "text_encoder": dict(text_encoder),
            "proj_dim": proj_dim,
            "temperature": temperature,
            "learn_temperature": learn_temperature,
            "uma_dropout": uma_dropout,
            "uma_weight": uma_weight,
            "freeze_text": freeze_text,
        }
        try:
            self.ecg = build_encoder(ecg_encoder["name"], **self.spec["ecg_encoder"]["kwargs"])
        except TypeError as exc:
            raise ConfigError(f"ecg_encoder {ecg_encoder['name']!r}: {exc}") from None
        if getattr(self.ecg, "modality", None) != "ecg":
            raise InputError(f"{ecg_encoder['name']!r} is not an ECG encoder")
        text_kwargs = {
            k: v
            for k, v in text_encoder.items()
            if k in ("model", "pooling", "max_length", "batch_size")
        }
        self.text = HFTextEncoder(**text_kwargs, freeze=freeze_text)
        self.ecg_proj = _mlp(self.ecg.embed_dim, proj_dim)
        self.text_proj = _mlp(self.text.backbone_dim, proj_dim)
        self.uma_views = nn.ModuleList([nn.Linear(self.ecg.embed_dim, proj_dim) for _ in range(2)])
        self.uma_dropout = nn.Dropout(uma_dropout)
        scale = torch.tensor(math.log(1.0 / temperature))
        if learn_temperature:
            self.log_logit_scale = nn.Parameter(scale)
        else:
            self.register_buffer("log_logit_scale", scale)
        self.uma_weight = uma_weight

    @property
    def logit_scale(self) -> torch.Tensor:
        """1 / temperature, capped at 100 as in CLIP."""
        return self.log_logit_scale.exp().clamp(max=100.0)

    def text_features(self, texts: Sequence[str]) -> torch.Tensor:
        """Language-model features ``[N, backbone_dim]`` (cacheable when the LM is frozen).

        Examples:
            >>> MERLModel.text_features.__name__
            'text_features'
        """
        return self.text.encode_backbone(list(texts))

    def encode_ecg(self, x: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        """Signals → unit-norm embeddings ``[B, proj_dim]`` in the shared space."""
        return F.normalize(self.ecg_proj(self.ecg(x, present)), dim=-1)

    def encode_text(self, texts: list[str]) -> torch.Tensor:
        """Texts → unit-norm embeddings ``[N, proj_dim]`` (zero-shot prompts), on CPU.

        Examples:
            >>> MERLModel.encode_text.__name__
            'encode_text'
        """
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            out = F.normalize(self.text_proj(self.text_features(texts)), dim=-1).float().cpu()
        self.train(was_training)
        return out

    def losses(
        self,
        x: torch.Tensor,
        present: torch.Tensor | None,
        text_feats: torch.Tensor,
        gather: Any = None,
    ) -> dict[str, torch.Tensor]:
        """CMA + weighted UMA losses of one batch.

        Args:
            x: Signals ``[B, leads, samples]``.
            present: Presence mask ``[B, leads]`` or None.
            text_feats: Language-model features of the batch's reports.
            gather: Optional function gathering embeddings across processes (DDP), so the
                negatives come from the global batch.
        """
        pooled = self.ecg(x, present)
        ecg_emb = self.ecg_proj(pooled)
        text_emb = self.text_proj(text_feats.to(pooled.dtype))
        view_a = self.uma_dropout(self.uma_views[0](pooled))
        view_b = self.uma_dropout(self.uma_views[1](pooled))
        if gather is not None:
            ecg_emb, text_emb, view_a, view_b = (
                gather(t) for t in (ecg_emb, text_emb, view_a, view_b)
            )
        scale = self.logit_scale
        cma = clip_loss(ecg_emb.float(), text_emb.float(), scale)
        uma = clip_loss(view_a.float(), view_b.float(), scale)
        return {"loss": cma + self.uma_weight * uma, "cma": cma.detach(), "uma": uma.detach()}

    def forward(
        self,
        x: torch.Tensor,
        present: torch.Tensor | None,
        text_feats: torch.Tensor,
        gather: Any = None,
    ) -> dict[str, torch.Tensor]:
        """The training losses (see :meth:`losses`); ``forward`` so DDP can wrap the model."""
        return self.losses(x, present, text_feats, gather)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Parameters and buffers to save: all but a frozen language model's weights."""
        state = self.state_dict()
        if self.spec["freeze_text"]:
            state = {k: v for k, v in state.items() if not k.startswith("text.lm.")}
        return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def save_checkpoint(
    model: MERLModel,
    folder: str | PathLike[str],
    *,
    profile: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model.safetensors`` and ``config.json`` into ``folder`` (atomically).

    The config records the weights' SHA-256 (``weights_sha256``), checked on load.

    Examples:
        >>> save_checkpoint.__name__
        'save_checkpoint'
    """
    config = {
        "kind": CHECKPOINT_KIND,
        "biomm_version": __version__,
        "model": model.spec,
        "text_weights": model.text.weights,
        "text_weights_sha256": model.text.weights_sha256,
        "ecg_encoder": model.ecg.describe(),
        "profile": dict(profile),
        **dict(extra or {}),
    }
    return save_checkpoint_folder(folder, model.trainable_state_dict(), config)


def load_checkpoint(
    folder: str | PathLike[str], *, map_location: str = "cpu"
) -> tuple[MERLModel, dict[str, Any]]:
    """Rebuild a :class:`MERLModel` and its config from a checkpoint folder.

    The returned config holds ``weights_sha256`` (verified when the checkpoint recorded it,
    computed otherwise).

    Raises:
        CheckpointError: When the folder is not a biomm MERL checkpoint, the weights are
            damaged, changed since saving (hash mismatch), non-finite, or do not fit, or the
            text model differs from the one used in training.

    Examples:
        >>> load_checkpoint.__name__
        'load_checkpoint'
    """
    folder = Path(folder)
    config, state = load_checkpoint_folder(folder, CHECKPOINT_KIND, device=map_location)
    config_path = folder / CONFIG_FILE
    weights = folder / WEIGHTS_FILE
    try:
        spec = dict(config["model"])
        model = MERLModel(
            spec.pop("ecg_encoder"),
            spec.pop("text_encoder"),
            **spec,
        )
    except CheckpointError:
        raise
    except (InputError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"config.json model spec cannot be built ({type(exc).__name__}: {exc})",
            path=config_path,
        ) from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise CheckpointError(
            f"weights do not fit the model: {str(exc)[:300]}", path=weights
        ) from None
    missing = [k for k in missing if not (model.spec["freeze_text"] and k.startswith("text.lm."))]
    if missing or unexpected:
        raise CheckpointError(
            f"weights do not fit the model: missing {missing[:3]}, unexpected {unexpected[:3]}",
            path=weights,
        )
    expected = config.get("text_weights_sha256")
    if expected and model.text.weights_sha256 and expected != model.text.weights_sha256:
        raise CheckpointError(
            "the text model differs from the one used in training (weights hash mismatch): "
            f"{model.text.weights}",
            path=config_path,
        )
    model.eval()
    return model, config
