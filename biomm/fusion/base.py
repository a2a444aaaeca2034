"""The fusion contract: per-modality embeddings + per-sample presence → one representation.

Every fusion is an ``nn.Module`` built with the modalities it fuses and their embedding sizes,
and exposes ``out_dim``, the size of the fused representation that heads read. Missing
modalities are masked **per sample** (``present[m]`` is a ``[B]`` bool tensor); a modality
absent from the ``embeddings`` dict altogether is absent for every sample. Rows of absent
samples may hold anything (zeros, NaN, stale values): a fusion must never let them change its
output.

Sequential fusions (MultiModN) also expose :meth:`Fusion.steps`, the representation after
each modality step, so heads can predict after every step.

Examples:
    >>> import torch
    >>> class Mean(Fusion):
    ...     def forward(self, embeddings, present):
    ...         x, m = self.stack(embeddings, present)
    ...         return (x * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True).clamp_min(1)
    >>> f = Mean({"a": 2, "b": 2}, out_dim=2)
    >>> out = f({"a": torch.ones(1, 2)}, {"a": torch.tensor([True])})
    >>> out.tolist()
    [[1.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from biomm.errors import InputError


class Fusion(nn.Module):
    """Base class of fusions.

    Args:
        embed_dims: Modality name → embedding size, in the fusion's canonical order.
        out_dim: Size of the fused representation.

    Subclasses implement ``forward(embeddings, present) -> [B, out_dim]``.
    """

    name: str = "fusion"

    def __init__(self, embed_dims: Mapping[str, int], out_dim: int) -> None:
        super().__init__()
        if not embed_dims:
            raise InputError("a fusion needs at least one modality")
        bad = {m: d for m, d in embed_dims.items() if int(d) <= 0}
        if bad or out_dim <= 0:
            raise InputError(f"embedding sizes must be positive: {bad or {'out_dim': out_dim}}")
        self.modalities = tuple(embed_dims)
        self.embed_dims = {m: int(d) for m, d in embed_dims.items()}
        self.out_dim = int(out_dim)

    def masks(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """``[B]`` bool mask for every fused modality (all False when the modality is absent).

        Raises:
            InputError: On unknown modalities, batch sizes that differ, or a wrong size.

        Examples:
            >>> f = Fusion({"a": 2, "b": 3}, out_dim=1)
            >>> m = f.masks({"a": torch.zeros(2, 2)}, {"a": torch.tensor([True, False])})
            >>> m["a"].tolist(), m["b"].tolist()
            ([True, False], [False, False])
        """
        unknown = sorted(set(embeddings) - set(self.modalities))
        if unknown:
            raise InputError(f"unknown modalities {unknown}; this fusion takes {self.modalities}")
        sizes = {int(x.shape[0]) for x in embeddings.values()}
        if len(sizes) != 1:
            raise InputError(f"modalities have different batch sizes: {sorted(sizes)}")
        batch = sizes.pop()
        device = next(iter(embeddings.values())).device
        out = {}
        for m in self.modalities:
            if m in embeddings:
                x = embeddings[m]
                if x.shape[-1] != self.embed_dims[m]:
                    raise InputError(
                        f"modality {m!r}: embedding size {x.shape[-1]}, "
                        f"expected {self.embed_dims[m]}"
                    )
                mask = present.get(m)
                mask = torch.ones(batch, dtype=torch.bool, device=device) if mask is None else mask
                out[m] = mask.to(device=device, dtype=torch.bool)
            else:
                out[m] = torch.zeros(batch, dtype=torch.bool, device=device)
        return out

    def stack(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, M, D]`` embeddings (absent → 0, needs equal sizes) and ``[B, M]`` masks.

        Examples:
            >>> f = Fusion({"a": 2, "b": 2}, out_dim=1)
            >>> nan = torch.full((1, 2), float("nan"))
            >>> x, m = f.stack({"b": nan}, {"b": torch.tensor([False])})
            >>> x.tolist(), m.tolist()
            ([[[0.0, 0.0], [0.0, 0.0]]], [[False, False]])
        """
        masks = self.masks(embeddings, present)
        if len(set(self.embed_dims.values())) != 1:
            raise InputError("stack() needs equal embedding sizes; project first")
        batch = next(iter(masks.values())).shape[0]
        device = next(iter(masks.values())).device
        xs = []
        for m in self.modalities:
            if m in embeddings:
                x = torch.where(masks[m].unsqueeze(-1), embeddings[m], 0.0)
                xs.append(torch.nan_to_num(x, nan=0.0))
            else:
                xs.append(torch.zeros(batch, self.embed_dims[m], device=device))
        return torch.stack(xs, 1), torch.stack([masks[m] for m in self.modalities], 1)

    def clean(
        self, embeddings: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Embeddings with absent rows zeroed (NaN-safe), absent modalities as zeros.

        Examples:
            >>> f = Fusion({"a": 2}, out_dim=1)
            >>> x = torch.tensor([[1.0, float("nan")]])
            >>> f.clean({"a": x}, {"a": torch.tensor([False])})["a"].tolist()
            [[0.0, 0.0]]
        """
        batch = next(iter(masks.values())).shape[0]
        device = next(iter(masks.values())).device
        out = {}
        for m in self.modalities:
            if m in embeddings:
                x = torch.where(
                    masks[m].unsqueeze(-1), embeddings[m], torch.zeros_like(embeddings[m])
                )
                out[m] = torch.nan_to_num(x, nan=0.0)
            else:
                out[m] = torch.zeros(batch, self.embed_dims[m], device=device)
        return out

    def steps(
        self, embeddings: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]
    ) -> list[torch.Tensor]:
        """Representations after each step; one step (the output) for parallel fusions.

        Examples:
            >>> Fusion.steps.__name__
            'steps'
        """
        return [self(embeddings, present)]
