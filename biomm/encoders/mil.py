"""Slide-level aggregators over bags of tile features: mean, max and gated attention (ABMIL).

Every aggregator maps a padded bag ``[B, N, D]`` with a token mask ``[B, N]`` (True = real
tile) to a slide embedding ``[B, D_out]`` and, where it has one, per-tile attention ``[B, N]``
(masked tiles get 0). Padded positions never influence the result.

Examples:
    >>> import torch
    >>> from biomm.registries import ENCODERS
    >>> abmil = ENCODERS.build("abmil", in_dim=8, hidden_dim=4)
    >>> z, attention = abmil(torch.randn(2, 5, 8), torch.ones(2, 5, dtype=torch.bool))
    >>> z.shape, [round(v, 5) for v in attention.sum(1).tolist()]
    (torch.Size([2, 8]), [1.0, 1.0])
"""

from __future__ import annotations

import torch
from torch import nn

from biomm.encoders.base import Encoder
from biomm.errors import InputError
from biomm.registries import ENCODERS


def _check(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if x.ndim != 3:
        raise InputError(f"a bag batch is [B, N, D]; got shape {tuple(x.shape)}")
    if mask is None:
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    if mask.shape != x.shape[:2]:
        raise InputError(f"mask shape {tuple(mask.shape)} does not match bag {tuple(x.shape[:2])}")
    return mask.bool()


class MILAggregator(Encoder):
    """Base of bag aggregators (``modality = "wsi"``); parameter-free pools keep ``in_dim``."""

    modality = "wsi"
    input = None

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.embed_dim = in_dim

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``[B, N, D]`` bag and ``[B, N]`` mask → ``([B, D_out], attention or None)``."""
        raise NotImplementedError


@ENCODERS.register("mil_mean")
class MeanPool(MILAggregator):
    """Mean of the real tiles of each bag.

    Examples:
        >>> x = torch.tensor([[[1.0], [3.0], [100.0]]]); m = torch.tensor([[True, True, False]])
        >>> MeanPool(in_dim=1)(x, m)[0].tolist()
        [[2.0]]
    """

    name = "mil_mean"

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Masked mean; an empty bag gives zeros."""
        mask = _check(x, mask)
        weights = mask.float()
        total = (x * weights.unsqueeze(-1)).sum(1)
        return total / weights.sum(1, keepdim=True).clamp_min(1.0), None


@ENCODERS.register("mil_max")
class MaxPool(MILAggregator):
    """Per-feature maximum over the real tiles of each bag.

    Examples:
        >>> x = torch.tensor([[[1.0], [3.0], [100.0]]]); m = torch.tensor([[True, True, False]])
        >>> MaxPool(in_dim=1)(x, m)[0].tolist()
        [[3.0]]
    """

    name = "mil_max"

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Masked max; an empty bag gives zeros."""
        mask = _check(x, mask)
        filled = x.masked_fill(~mask.unsqueeze(-1), float("-inf"))
        out = filled.max(1).values
        return torch.where(torch.isfinite(out), out, torch.zeros_like(out)), None


@ENCODERS.register("abmil")
class GatedAttentionMIL(MILAggregator):
    """Gated attention MIL (Ilse et al., 2018): ``a = softmax(w · (tanh(Vh) ⊙ σ(Uh)))``.

    Args:
        in_dim: Tile feature size.
        hidden_dim: Attention hidden size.
        out_dim: Optional projection of tiles before pooling (default: keep ``in_dim``).
        dropout: Dropout on the projected tiles during training.

    Examples:
        >>> m = GatedAttentionMIL(in_dim=6, hidden_dim=3, out_dim=4)
        >>> z, a = m(torch.randn(1, 7, 6), torch.tensor([[True] * 5 + [False] * 2]))
        >>> z.shape, a[0, 5:].sum().item()
        (torch.Size([1, 4]), 0.0)
    """

    name = "abmil"

    def __init__(
        self, in_dim: int, hidden_dim: int = 128, out_dim: int | None = None, dropout: float = 0.0
    ) -> None:
        super().__init__(out_dim or in_dim)
        self.project = (
            nn.Sequential(nn.Linear(in_dim, self.embed_dim), nn.ReLU(), nn.Dropout(dropout))
            if out_dim
            else nn.Identity()
        )
        self.attention_v = nn.Linear(self.embed_dim, hidden_dim)
        self.attention_u = nn.Linear(self.embed_dim, hidden_dim)
        self.attention_w = nn.Linear(hidden_dim, 1)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attention-weighted mean of the (projected) tiles, and the attention."""
        mask = _check(x, mask)
        h = self.project(x)
        logits = self.attention_w(
            torch.tanh(self.attention_v(h)) * torch.sigmoid(self.attention_u(h))
        ).squeeze(-1)
        logits = logits.masked_fill(~mask, float("-inf"))
        attention = torch.softmax(logits, dim=1)
        attention = torch.nan_to_num(attention, nan=0.0)  # a bag with no tile: all zeros
        return (attention.unsqueeze(-1) * h).sum(1), attention
