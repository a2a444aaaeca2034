"""Classification heads: binary, multiclass and multilabel, with masked losses.

Every head maps a fused representation ``[B, in_dim]`` to raw logits ``[B, out_dim]`` (a
linear layer, or a small MLP when ``hidden_dim`` is given). Losses average over samples whose
target is known (``mask`` True); rows of unknown targets may hold anything (zeros, NaN,
out-of-range class indices) and never change the loss or its gradient.

Examples:
    >>> import torch
    >>> from biomm.registries import HEADS
    >>> head = HEADS.build("binary", in_dim=4)
    >>> logits = head(torch.randn(3, 4))
    >>> logits.shape
    torch.Size([3, 1])
    >>> loss = head.loss(logits, torch.tensor([1, 0, 1]), torch.tensor([True, True, False]))
    >>> loss.ndim, bool(loss > 0)
    (0, True)
    >>> head.predict(logits)["probability"].shape
    torch.Size([3])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from biomm.errors import InputError
from biomm.heads.base import Head, masked_mean
from biomm.registries import HEADS


def projection(
    in_dim: int, out_dim: int, hidden_dim: int | None = None, dropout: float = 0.0
) -> nn.Module:
    """The layers of a head: ``Linear`` or ``Linear → GELU → Dropout → Linear``.

    Args:
        in_dim: Input size.
        out_dim: Number of raw outputs.
        hidden_dim: Hidden size of a one-hidden-layer MLP (``None``: a linear map, so that
            late fusion's average of per-modality representations equals the average of
            per-modality predictions).
        dropout: Dropout before the last linear layer (applied to the input when linear).

    Raises:
        InputError: On non-positive sizes or a dropout outside ``[0, 1)``.

    Examples:
        >>> projection(8, 2)
        Linear(in_features=8, out_features=2, bias=True)
        >>> len(projection(8, 2, hidden_dim=4, dropout=0.1))
        4
    """
    if out_dim <= 0 or (hidden_dim is not None and hidden_dim <= 0):
        raise InputError(f"head sizes must be positive: out_dim={out_dim}, hidden_dim={hidden_dim}")
    if not 0.0 <= float(dropout) < 1.0:
        raise InputError(f"dropout must be in [0, 1), got {dropout}")
    if hidden_dim is None:
        linear = nn.Linear(in_dim, out_dim)
        return linear if dropout == 0 else nn.Sequential(nn.Dropout(dropout), linear)
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden_dim, out_dim),
    )


def full_precision(x: torch.Tensor) -> torch.Tensor:
    """``x`` as float32 unless it already is float32 or float64 (losses avoid fp16/bf16).

    Examples:
        >>> full_precision(torch.ones(1, dtype=torch.float16)).dtype
        torch.float32
        >>> full_precision(torch.ones(1, dtype=torch.float64)).dtype
        torch.float64
    """
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def known_mask(mask: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    """Validate a ``[B]`` target mask and return it as a bool tensor on ``device``.

    Raises:
        InputError: When the mask does not have one entry per sample.

    Examples:
        >>> known_mask(torch.tensor([1, 0]), 2, torch.device("cpu")).tolist()
        [True, False]
    """
    mask = torch.as_tensor(mask).to(device=device, dtype=torch.bool)
    if mask.shape != (batch,):
        raise InputError(f"target mask must have shape [{batch}], got {list(mask.shape)}")
    return mask


def _check_rows(target: torch.Tensor, batch: int, what: str) -> None:
    if target.ndim == 0 or target.shape[0] != batch:
        raise InputError(f"{what} target must have {batch} rows, got shape {list(target.shape)}")


def _weight_vector(values: Sequence[float] | None, size: int, what: str) -> torch.Tensor | None:
    if values is None:
        return None
    w = torch.as_tensor(values, dtype=torch.float32).reshape(-1)
    if w.numel() != size or not torch.isfinite(w).all() or (w < 0).any():
        raise InputError(f"{what} must be {size} finite non-negative numbers, got {list(values)}")
    return w


@HEADS.register("binary")
class BinaryHead(Head):
    """Binary classification: one logit, binary cross-entropy (optional ``pos_weight``).

    Targets are ``[B]`` (or ``[B, 1]``) with values in ``[0, 1]`` (class indices 0/1 or
    soft labels). :meth:`predict` gives the probability of the positive class.

    Args:
        in_dim: Size of the representation.
        pos_weight: Weight of positive examples in the loss (e.g. ``n_neg / n_pos``).
        hidden_dim: Hidden size of an MLP head (``None``: linear).
        dropout: Dropout of the head.

    Examples:
        >>> import torch
        >>> head = BinaryHead(in_dim=2, pos_weight=3.0)
        >>> _ = torch.nn.init.zeros_(head.layers.bias)
        >>> out = head(torch.zeros(2, 2))  # logit 0 → p = 0.5
        >>> round(head.loss(out, torch.tensor([1, 0]), torch.tensor([True, True])).item(), 4)
        1.3863
        >>> head.predict(out)["probability"].tolist()
        [0.5, 0.5]
    """

    name = "binary"
    task = "binary"

    def __init__(
        self,
        in_dim: int,
        pos_weight: float | None = None,
        hidden_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(in_dim)
        self.out_dim = 1
        self.layers = projection(self.in_dim, 1, hidden_dim, dropout)
        pw = _weight_vector(None if pos_weight is None else [pos_weight], 1, "pos_weight")
        self.register_buffer("pos_weight", pw, persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, 1]``.

        Examples:
            >>> BinaryHead(3)(torch.zeros(2, 3)).shape
            torch.Size([2, 1])
        """
        return self.layers(z)

    def loss(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean binary cross-entropy over samples with a known target.

        Raises:
            InputError: On a wrong shape or a known target outside ``[0, 1]``.


        Examples:
            >>> head = BinaryHead(2)
            >>> out = torch.zeros(2, 1)
            >>> round(head.loss(out, torch.tensor([1, 0]), torch.tensor([True, False])).item(), 4)
            0.6931
        """
        logit = full_precision(output).reshape(output.shape[0], -1)
        if logit.shape[1] != 1:
            raise InputError(f"binary head output must be [B, 1], got {list(output.shape)}")
        logit = logit[:, 0]
        batch = logit.shape[0]
        target = torch.as_tensor(target, device=logit.device)
        _check_rows(target, batch, "binary")
        target = target.reshape(batch, -1)
        if target.shape[1] != 1:
            raise InputError(f"binary target must be [B] or [B, 1], got {list(target.shape)}")
        mask = known_mask(mask, batch, logit.device)
        y = torch.where(mask, target[:, 0].to(logit.dtype), torch.zeros_like(logit))
        if not (torch.isfinite(y) & (y >= 0) & (y <= 1)).all():
            raise InputError("binary targets must be in [0, 1] where known")
        pw = None if self.pos_weight is None else self.pos_weight.to(logit)
        values = F.binary_cross_entropy_with_logits(logit, y, pos_weight=pw, reduction="none")
        return masked_mean(values, mask)

    def predict(self, output: torch.Tensor) -> dict[str, Any]:
        """``probability`` ``[B]`` of the positive class.

        Examples:
            >>> BinaryHead(2).predict(torch.tensor([[0.0], [100.0]]))["probability"].tolist()
            [0.5, 1.0]
        """
        return {"probability": torch.sigmoid(full_precision(output).reshape(-1))}


@HEADS.register("multiclass")
class MulticlassHead(Head):
    """Single-label classification over ``n_classes``: softmax cross-entropy.

    Targets are class indices ``[B]`` (int64). With ``class_weights`` the loss is the
    weighted mean of :func:`torch.nn.functional.cross_entropy` (divided by the summed weights
    of the known targets' classes, as torch does); ``label_smoothing`` as in torch.

    Args:
        in_dim: Size of the representation.
        n_classes: Number of classes (≥ 2).
        class_weights: Optional weight per class.
        label_smoothing: Label smoothing in ``[0, 1)``.
        hidden_dim: Hidden size of an MLP head (``None``: linear).
        dropout: Dropout of the head.

    Examples:
        >>> import torch
        >>> head = MulticlassHead(in_dim=4, n_classes=3)
        >>> out = head(torch.randn(2, 4))
        >>> pred = head.predict(out)
        >>> pred["probabilities"].shape, pred["class"].shape
        (torch.Size([2, 3]), torch.Size([2]))
        >>> mask = torch.tensor([True, False])
        >>> a = head.loss(out, torch.tensor([2, 0]), mask)
        >>> b = head.loss(out, torch.tensor([2, -100]), mask)  # unknown rows never matter
        >>> bool(a == b)
        True
    """

    name = "multiclass"
    task = "multiclass"

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        class_weights: Sequence[float] | None = None,
        label_smoothing: float = 0.0,
        hidden_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(in_dim)
        if int(n_classes) < 2:
            raise InputError(f"n_classes must be at least 2, got {n_classes}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise InputError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.n_classes = self.out_dim = int(n_classes)
        self.label_smoothing = float(label_smoothing)
        self.layers = projection(self.in_dim, self.n_classes, hidden_dim, dropout)
        weights = _weight_vector(class_weights, self.n_classes, "class_weights")
        self.register_buffer("class_weights", weights, persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, n_classes]``.

        Examples:
            >>> MulticlassHead(3, n_classes=4)(torch.zeros(2, 3)).shape
            torch.Size([2, 4])
        """
        return self.layers(z)

    def loss(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(Weighted) mean cross-entropy over samples with a known target.

        Raises:
            InputError: On a wrong shape or a known class index out of range.


        Examples:
            >>> head = MulticlassHead(2, n_classes=4)
            >>> out = torch.zeros(1, 4)  # uniform: loss = log 4
            >>> round(head.loss(out, torch.tensor([3]), torch.tensor([True])).item(), 4)
            1.3863
        """
        logits = full_precision(output)
        if logits.ndim != 2 or logits.shape[1] != self.n_classes:
            raise InputError(
                f"multiclass output must be [B, {self.n_classes}], got {list(output.shape)}"
            )
        batch = logits.shape[0]
        target = torch.as_tensor(target, device=logits.device)
        _check_rows(target, batch, "multiclass")
        if target.is_floating_point() or target.is_complex():
            raise InputError(f"multiclass targets must be class indices, got {target.dtype}")
        target = target.reshape(batch, -1)
        if target.shape[1] != 1:
            raise InputError(f"multiclass target must be [B], got {list(target.shape)}")
        mask = known_mask(mask, batch, logits.device)
        y = torch.where(mask, target[:, 0].long(), torch.zeros_like(target[:, 0].long()))
        if ((y < 0) | (y >= self.n_classes)).any():
            raise InputError(f"multiclass targets must be in [0, {self.n_classes}) where known")
        weight = None if self.class_weights is None else self.class_weights.to(logits)
        values = F.cross_entropy(
            logits, y, weight=weight, label_smoothing=self.label_smoothing, reduction="none"
        )
        if weight is None:
            return masked_mean(values, mask)
        w = torch.where(mask, weight[y], torch.zeros_like(values))
        return (torch.where(mask, values, torch.zeros_like(values))).sum() / w.sum().clamp_min(
            torch.finfo(values.dtype).tiny
        )

    def predict(self, output: torch.Tensor) -> dict[str, Any]:
        """``probabilities`` ``[B, C]`` and the most probable ``class`` ``[B]``.

        Examples:
            >>> head = MulticlassHead(2, n_classes=3)
            >>> head.predict(torch.tensor([[0.0, 5.0, 1.0]]))["class"].tolist()
            [1]
        """
        probabilities = torch.softmax(full_precision(output), dim=-1)
        return {"probabilities": probabilities, "class": probabilities.argmax(-1)}


@HEADS.register("multilabel")
class MultilabelHead(Head):
    """Multilabel classification: one logit per label, binary cross-entropy per label.

    Targets are multi-hot ``[B, n_labels]`` float32. A NaN in a known row marks that one
    label as unknown for that sample; the loss is the mean over known (sample, label) pairs.

    Args:
        in_dim: Size of the representation.
        n_labels: Number of labels.
        pos_weight: Optional positive weight per label.
        threshold: Probability threshold of the predicted ``labels``.
        hidden_dim: Hidden size of an MLP head (``None``: linear).
        dropout: Dropout of the head.

    Examples:
        >>> import torch
        >>> head = MultilabelHead(in_dim=4, n_labels=3)
        >>> out = head(torch.randn(2, 4))
        >>> target = torch.tensor([[1.0, 0.0, float("nan")], [0.0, 1.0, 1.0]])
        >>> loss = head.loss(out, target, torch.tensor([True, True]))
        >>> bool(torch.isfinite(loss))
        True
        >>> head.predict(out)["labels"].dtype
        torch.bool
    """

    name = "multilabel"
    task = "multilabel"

    def __init__(
        self,
        in_dim: int,
        n_labels: int,
        pos_weight: Sequence[float] | None = None,
        threshold: float = 0.5,
        hidden_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(in_dim)
        if int(n_labels) < 1:
            raise InputError(f"n_labels must be positive, got {n_labels}")
        if not 0.0 < float(threshold) < 1.0:
            raise InputError(f"threshold must be in (0, 1), got {threshold}")
        self.n_labels = self.out_dim = int(n_labels)
        self.threshold = float(threshold)
        self.layers = projection(self.in_dim, self.n_labels, hidden_dim, dropout)
        pw = _weight_vector(pos_weight, self.n_labels, "pos_weight")
        self.register_buffer("pos_weight", pw, persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, n_labels]``.

        Examples:
            >>> MultilabelHead(3, n_labels=5)(torch.zeros(2, 3)).shape
            torch.Size([2, 5])
        """
        return self.layers(z)

    def loss(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean binary cross-entropy over known (sample, label) pairs.

        Raises:
            InputError: On a wrong shape or a known label outside ``[0, 1]``.


        Examples:
            >>> head = MultilabelHead(2, n_labels=2)
            >>> y = torch.tensor([[1.0, float("nan")]])  # label 1 unknown
            >>> round(head.loss(torch.zeros(1, 2), y, torch.tensor([True])).item(), 4)
            0.6931
        """
        logits = full_precision(output)
        if logits.ndim != 2 or logits.shape[1] != self.n_labels:
            raise InputError(
                f"multilabel output must be [B, {self.n_labels}], got {list(output.shape)}"
            )
        batch = logits.shape[0]
        target = torch.as_tensor(target, device=logits.device)
        _check_rows(target, batch, "multilabel")
        if tuple(target.shape) != (batch, self.n_labels):
            raise InputError(
                f"multilabel target must be [B, {self.n_labels}], got {list(target.shape)}"
            )
        mask = known_mask(mask, batch, logits.device)
        target = target.to(logits.dtype)
        known = mask.unsqueeze(1) & ~torch.isnan(target)
        y = torch.where(known, target, torch.zeros_like(target))
        if not (torch.isfinite(y) & (y >= 0) & (y <= 1)).all():
            raise InputError("multilabel targets must be in [0, 1] (or NaN = unknown)")
        pw = None if self.pos_weight is None else self.pos_weight.to(logits)
        values = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw, reduction="none")
        weights = known.to(values.dtype)
        return (torch.where(known, values, torch.zeros_like(values))).sum() / weights.sum().clamp(
            min=1.0
        )

    def predict(self, output: torch.Tensor) -> dict[str, Any]:
        """``probabilities`` ``[B, L]`` and thresholded ``labels`` ``[B, L]`` (bool).

        Examples:
            >>> head = MultilabelHead(2, n_labels=2)
            >>> head.predict(torch.tensor([[3.0, -3.0]]))["labels"].tolist()
            [[True, False]]
        """
        probabilities = torch.sigmoid(full_precision(output))
        return {"probabilities": probabilities, "labels": probabilities >= self.threshold}
