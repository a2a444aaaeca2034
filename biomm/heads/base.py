"""The head contract: a fused representation → task outputs, a masked loss and predictions.

A head reads ``[B, in_dim]`` and returns raw outputs (logits, risk scores, hazard logits).
:meth:`Head.loss` takes the batch's target tensor and a ``[B]`` bool mask (True where the
target is known) and averages over known targets only; a batch without any known target gives
a zero loss that still back-propagates (so multitask training never skips a batch).
:meth:`Head.predict` turns outputs into interpretable predictions (probabilities, risk
scores where higher = worse, survival curves on an explicit time grid).

Targets follow :class:`biomm.data.Batch`: class indices (int64), multi-hot or real values
(float32), and survival as ``[B, 2]`` float32 ``(time, event)`` with event 1 = observed.

Examples:
    >>> import torch
    >>> masked_mean(torch.tensor([1.0, 3.0]), torch.tensor([True, False]))
    tensor(1.)
    >>> masked_mean(torch.tensor([1.0, 3.0]), torch.tensor([False, False]))
    tensor(0.)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from biomm.errors import InputError


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` ``[B, ...]`` over rows where ``mask`` ``[B]`` is True (0 if none).

    Keeps the autograd graph when nothing is known, so the loss is always differentiable.
    """
    mask = mask.to(values.device, torch.bool)
    if values.ndim > 1:
        values = values.reshape(values.shape[0], -1).mean(1)
    weights = mask.to(values.dtype)
    return (
        torch.where(mask, values, torch.zeros_like(values)) * weights
    ).sum() / weights.sum().clamp_min(1.0)


class Head(nn.Module):
    """Base class of task heads.

    Args:
        in_dim: Size of the representation the head reads.

    Subclasses set ``task`` and implement ``forward``, ``loss`` and ``predict``.
    """

    name: str = "head"
    task: str = "head"

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        if in_dim <= 0:
            raise InputError(f"in_dim must be positive, got {in_dim}")
        self.in_dim = int(in_dim)

    def loss(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean loss over samples whose target is known."""
        raise NotImplementedError

    def predict(self, output: torch.Tensor) -> dict[str, Any]:
        """Interpretable predictions from raw outputs."""
        raise NotImplementedError
