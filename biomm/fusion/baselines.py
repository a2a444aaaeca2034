"""Parallel baseline fusions: concatenation, late fusion and attention over modality tokens.

All three mask missing modalities per sample and never read the rows of absent samples (those
are zeroed, NaN included, before any layer sees them), so the output of a sample depends only
on the modalities it has.

* ``concat`` — (optionally projected) embeddings, zero-filled where absent, concatenated with
  one missing-indicator per modality, then an MLP.
* ``late`` — one projection per modality to ``out_dim`` and a masked average over the present
  modalities; a sample with no modality gets a learned "none" vector.
* ``attention`` — one token per modality (projection + learned modality embedding) and a CLS
  token through a small transformer encoder whose key-padding mask hides absent modalities.

Examples:
    >>> import torch
    >>> from biomm.registries import FUSIONS
    >>> fusion = FUSIONS.build("concat", embed_dims={"ecg": 4, "wsi": 6}, out_dim=3)
    >>> x = {"ecg": torch.randn(2, 4), "wsi": torch.full((2, 6), float("nan"))}
    >>> present = {"ecg": torch.tensor([True, True]), "wsi": torch.tensor([False, False])}
    >>> fusion(x, present).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from biomm.errors import InputError
from biomm.fusion.base import Fusion
from biomm.registries import FUSIONS


def _mlp(in_dim: int, hidden: int | None, out_dim: int, dropout: float) -> nn.Module:
    """A linear layer (``hidden=None``) or a one-hidden-layer GELU MLP.

    Examples:
        >>> _mlp(4, None, 2, 0.0)
        Linear(in_features=4, out_features=2, bias=True)
        >>> len(_mlp(4, 8, 2, 0.1))
        4
    """
    if hidden is None:
        return nn.Linear(in_dim, out_dim)
    if hidden <= 0:
        raise InputError(f"hidden size must be positive or None, got {hidden}")
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim)
    )


def _check_dropout(dropout: float) -> float:
    if not 0.0 <= float(dropout) < 1.0:
        raise InputError(f"dropout must be in [0, 1), got {dropout}")
    return float(dropout)


@FUSIONS.register("concat")
class ConcatFusion(Fusion):
    """Concatenation with missing indicators, then an MLP.

    The input of the MLP is ``[e_1, ..., e_M, 1[m_1 present], ..., 1[m_M present]]`` where
    ``e_m`` is the (projected) embedding of modality ``m``, zero for samples without it.
    Projection happens before zero-filling, so an absent modality contributes exactly zero.

    Args:
        embed_dims: Modality name → embedding size, in canonical order.
        out_dim: Size of the fused representation.
        proj_dim: Project every modality to this size first (``None``: use raw embeddings).
        hidden: Hidden size of the MLP (``None``: a single linear layer).
        dropout: Dropout inside the MLP.

    Examples:
        >>> import torch
        >>> f = ConcatFusion({"a": 3, "b": 5}, out_dim=4, proj_dim=8, hidden=16)
        >>> present = {"a": torch.tensor([True, False]), "b": torch.tensor([True, True])}
        >>> f({"a": torch.randn(2, 3), "b": torch.randn(2, 5)}, present).shape
        torch.Size([2, 4])
    """

    name = "concat"

    def __init__(
        self,
        embed_dims: Mapping[str, int],
        out_dim: int,
        proj_dim: int | None = None,
        hidden: int | None = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(embed_dims, out_dim)
        if proj_dim is not None and proj_dim <= 0:
            raise InputError(f"proj_dim must be positive or None, got {proj_dim}")
        dropout = _check_dropout(dropout)
        self.proj = nn.ModuleDict(
            {
                m: nn.Linear(d, proj_dim) if proj_dim else nn.Identity()
                for m, d in self.embed_dims.items()
            }
        )
        width = sum(proj_dim or d for d in self.embed_dims.values()) + len(self.modalities)
        self.mlp = _mlp(width, hidden, self.out_dim, dropout)

    def forward(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """Fuse ``[B, D_m]`` embeddings into ``[B, out_dim]``.

        Examples:
            >>> import torch
            >>> f = ConcatFusion({"a": 2}, out_dim=1, hidden=None)
            >>> f({"a": torch.ones(3, 2)}, {}).shape
            torch.Size([3, 1])
        """
        masks = self.masks(embeddings, present)
        clean = self.clean(embeddings, masks)
        parts = []
        for m in self.modalities:
            keep = masks[m].unsqueeze(-1)
            z = self.proj[m](clean[m])
            parts.append(torch.where(keep, z, torch.zeros_like(z)))
        indicators = torch.stack([masks[m] for m in self.modalities], 1).to(parts[0].dtype)
        return self.mlp(torch.cat([*parts, indicators], dim=-1))


@FUSIONS.register("late")
class LateFusion(Fusion):
    """Late fusion: one projection per modality, averaged over the present modalities.

    ``z = mean_{m present} p_m(e_m)``. With a linear head ``h(z) = W z + b`` on top this is
    exactly the average of the per-modality linear predictions ``h(p_m(e_m))`` over present
    modalities (an affine map commutes with an average), i.e. classic late fusion of
    unimodal predictors that share the head. A sample with no modality gets the learned
    ``none`` vector instead.

    Args:
        embed_dims: Modality name → embedding size, in canonical order.
        out_dim: Size of the fused representation (and of each per-modality projection).
        hidden: Hidden size of each per-modality MLP (``None``: a linear projection).
        dropout: Dropout inside the per-modality MLPs.

    Examples:
        >>> import torch
        >>> f = LateFusion({"a": 2, "b": 2}, out_dim=2)
        >>> x = {"a": torch.randn(2, 2), "b": torch.randn(2, 2)}
        >>> present = {"a": torch.tensor([True, False]), "b": torch.tensor([False, False])}
        >>> z = f(x, present)
        >>> torch.allclose(z[0], f.proj["a"](x["a"][0])), torch.equal(z[1], f.none)
        (True, True)
    """

    name = "late"

    def __init__(
        self,
        embed_dims: Mapping[str, int],
        out_dim: int,
        hidden: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(embed_dims, out_dim)
        dropout = _check_dropout(dropout)
        self.proj = nn.ModuleDict(
            {m: _mlp(d, hidden, self.out_dim, dropout) for m, d in self.embed_dims.items()}
        )
        self.none = nn.Parameter(torch.zeros(self.out_dim))

    def per_modality(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-modality projections ``[B, M, out_dim]`` (absent → 0) and masks ``[B, M]``.

        Examples:
            >>> import torch
            >>> f = LateFusion({"a": 2, "b": 3}, out_dim=4)
            >>> z, m = f.per_modality({"a": torch.ones(1, 2)}, {})
            >>> z.shape, m.tolist(), z[0, 1].abs().sum().item()
            (torch.Size([1, 2, 4]), [[True, False]], 0.0)
        """
        masks = self.masks(embeddings, present)
        clean = self.clean(embeddings, masks)
        zs = []
        for m in self.modalities:
            z = self.proj[m](clean[m])
            zs.append(torch.where(masks[m].unsqueeze(-1), z, torch.zeros_like(z)))
        return torch.stack(zs, 1), torch.stack([masks[m] for m in self.modalities], 1)

    def forward(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """Masked average of the per-modality projections, ``[B, out_dim]``.

        Examples:
            >>> import torch
            >>> f = LateFusion({"a": 2}, out_dim=3)
            >>> f({"a": torch.ones(2, 2)}, {"a": torch.tensor([True, False])}).shape
            torch.Size([2, 3])
        """
        z, mask = self.per_modality(embeddings, present)
        count = mask.sum(1, keepdim=True)
        mean = z.sum(1) / count.clamp_min(1).to(z.dtype)
        return torch.where(count > 0, mean, self.none.to(z.dtype).expand_as(mean))


@FUSIONS.register("attention")
class AttentionFusion(Fusion):
    """A small transformer encoder over one token per modality, read out through a CLS token.

    Token of modality ``m``: ``proj_m(e_m) + emb_m`` (a learned modality embedding, so the
    encoder knows which modality a token is). Absent modalities are hidden by the key-padding
    mask, so no token ever attends to them; the CLS token is always present, so a sample with
    no modality still gets a (learned) output.

    Args:
        embed_dims: Modality name → embedding size, in canonical order.
        out_dim: Size of the fused representation.
        d_model: Token width.
        heads: Attention heads (must divide ``d_model``).
        layers: Transformer encoder layers.
        dropout: Dropout in the encoder layers.

    Examples:
        >>> import torch
        >>> f = AttentionFusion({"a": 3, "b": 5}, out_dim=4, d_model=16, heads=2, layers=1)
        >>> present = {"a": torch.tensor([True, False]), "b": torch.tensor([False, False])}
        >>> f({"a": torch.randn(2, 3), "b": torch.randn(2, 5)}, present).shape
        torch.Size([2, 4])
    """

    name = "attention"

    def __init__(
        self,
        embed_dims: Mapping[str, int],
        out_dim: int,
        d_model: int = 64,
        heads: int = 4,
        layers: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(embed_dims, out_dim)
        if d_model <= 0 or heads <= 0 or layers <= 0 or d_model % heads:
            raise InputError(
                f"need positive d_model, heads, layers with heads dividing d_model; got "
                f"d_model={d_model}, heads={heads}, layers={layers}"
            )
        dropout = _check_dropout(dropout)
        self.proj = nn.ModuleDict({m: nn.Linear(d, d_model) for m, d in self.embed_dims.items()})
        self.modality_embedding = nn.Parameter(torch.randn(len(self.modalities), d_model) * 0.02)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model,
            heads,
            dim_feedforward=2 * d_model,
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, self.out_dim)

    def forward(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]
    ) -> torch.Tensor:
        """CLS read-out of the encoded modality tokens, ``[B, out_dim]``.

        Examples:
            >>> import torch
            >>> f = AttentionFusion({"a": 2}, out_dim=3, d_model=8, heads=2, layers=1)
            >>> f({"a": torch.ones(2, 2)}, {"a": torch.tensor([False, False])}).shape
            torch.Size([2, 3])
        """
        masks = self.masks(embeddings, present)
        clean = self.clean(embeddings, masks)
        tokens = torch.stack([self.proj[m](clean[m]) for m in self.modalities], 1)
        tokens = tokens + self.modality_embedding.to(tokens.dtype)
        keep = torch.stack([masks[m] for m in self.modalities], 1)
        # Zero absent tokens too: the key-padding mask already hides them, this keeps them finite.
        tokens = torch.where(keep.unsqueeze(-1), tokens, torch.zeros_like(tokens))
        cls = self.cls.to(tokens.dtype).expand(tokens.shape[0], -1, -1)
        padding = torch.cat([torch.zeros_like(keep[:, :1]), ~keep], 1)
        encoded = self.encoder(torch.cat([cls, tokens], 1), src_key_padding_mask=padding)
        return self.out(self.norm(encoded[:, 0]))
