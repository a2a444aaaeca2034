"""Regression head: MSE or Huber loss on (optionally standardised) real-valued targets.

Targets are ``[B]`` or ``[B, n_targets]`` float32. When standardisation statistics are given
(e.g. from the training set with :func:`standardisation`), the network predicts standardised
values, the loss compares them with standardised targets, and :meth:`RegressionHead.predict`
returns values in the original units. A NaN in a known row marks that one value as unknown.

Examples:
    >>> import torch
    >>> from biomm.registries import HEADS
    >>> head = HEADS.build("regression", in_dim=4, target_mean=50.0, target_std=10.0)
    >>> out = head(torch.randn(3, 4))
    >>> loss = head.loss(out, torch.tensor([40.0, 55.0, 0.0]), torch.tensor([True, True, False]))
    >>> loss.ndim
    0
    >>> head.predict(out)["value"].shape
    torch.Size([3])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from biomm.errors import InputError
from biomm.heads.base import Head
from biomm.heads.classification import full_precision, known_mask, projection
from biomm.registries import HEADS


def standardisation(values: Any) -> tuple[list[float], list[float]]:
    """Per-column mean and standard deviation of training targets, ignoring NaN.

    Args:
        values: ``[N]`` or ``[N, K]`` array-like of real targets (NaN = unknown).

    Returns:
        ``(mean, std)`` as lists of ``K`` floats; a constant column gets std 1.

    Raises:
        InputError: When a column has no finite value.

    Examples:
        >>> standardisation([1.0, 3.0, float("nan")])
        ([2.0], [1.0])
    """
    x = np.asarray(values.detach().cpu() if isinstance(values, torch.Tensor) else values, float)
    x = x.reshape(x.shape[0], -1) if x.ndim else x.reshape(1, 1)
    finite = np.isfinite(x)
    if not finite.any(axis=0).all():
        raise InputError("standardisation: a target column has no finite value")
    x = np.where(finite, x, np.nan)
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    std = np.where(std > 0, std, 1.0)
    return [float(v) for v in mean], [float(v) for v in std]


def _stats(value: float | Sequence[float] | None, size: int, default: float, what: str) -> Any:
    if value is None:
        return torch.full((size,), default)
    t = torch.as_tensor(value, dtype=torch.float32).reshape(-1)
    if t.numel() == 1:
        t = t.expand(size).clone()
    if t.numel() != size or not torch.isfinite(t).all():
        raise InputError(f"{what} must be 1 or {size} finite numbers, got {value!r}")
    return t


@HEADS.register("regression")
class RegressionHead(Head):
    """Real-valued targets with a mean-squared-error or Huber loss.

    Args:
        in_dim: Size of the representation.
        n_targets: Number of values per sample.
        loss: ``"mse"`` or ``"huber"``.
        huber_delta: Threshold of the Huber loss (in standardised units).
        target_mean: Training-set mean (one per target, or one for all); default 0.
        target_std: Training-set standard deviation; default 1.
        hidden_dim: Hidden size of an MLP head (``None``: linear).
        dropout: Dropout of the head.

    Examples:
        >>> import torch
        >>> head = RegressionHead(in_dim=2, target_mean=10.0, target_std=2.0)
        >>> out = torch.tensor([[0.0], [1.0]])  # standardised predictions
        >>> head.predict(out)["value"].tolist()
        [10.0, 12.0]
        >>> head.loss(out, torch.tensor([10.0, 14.0]), torch.tensor([True, True])).item()
        0.5
    """

    name = "regression"
    task = "regression"

    def __init__(
        self,
        in_dim: int,
        n_targets: int = 1,
        loss: str = "mse",
        huber_delta: float = 1.0,
        target_mean: float | Sequence[float] | None = None,
        target_std: float | Sequence[float] | None = None,
        hidden_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(in_dim)
        if int(n_targets) < 1:
            raise InputError(f"n_targets must be positive, got {n_targets}")
        if loss not in ("mse", "huber"):
            raise InputError(f"regression loss must be 'mse' or 'huber', got {loss!r}")
        if not float(huber_delta) > 0:
            raise InputError(f"huber_delta must be positive, got {huber_delta}")
        self.n_targets = self.out_dim = int(n_targets)
        self.loss_name = loss
        self.huber_delta = float(huber_delta)
        self.layers = projection(self.in_dim, self.n_targets, hidden_dim, dropout)
        mean = _stats(target_mean, self.n_targets, 0.0, "target_mean")
        std = _stats(target_std, self.n_targets, 1.0, "target_std")
        if (std <= 0).any():
            raise InputError(f"target_std must be positive, got {target_std!r}")
        self.register_buffer("target_mean", mean)
        self.register_buffer("target_std", std)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Standardised predictions ``[B, n_targets]``.

        Examples:
            >>> RegressionHead(3, n_targets=2)(torch.zeros(4, 3)).shape
            torch.Size([4, 2])
        """
        return self.layers(z)

    def loss(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean MSE/Huber over known values, on the standardised scale.

        Raises:
            InputError: On a wrong shape or an infinite known target.


        Examples:
            >>> head = RegressionHead(2, loss="huber", huber_delta=1.0)
            >>> known = torch.tensor([True, True])
            >>> head.loss(torch.zeros(2, 1), torch.tensor([3.0, 0.5]), known).item()
            1.3125
        """
        pred = full_precision(output)
        if pred.ndim != 2 or pred.shape[1] != self.n_targets:
            raise InputError(
                f"regression output must be [B, {self.n_targets}], got {list(output.shape)}"
            )
        batch = pred.shape[0]
        target = torch.as_tensor(target, device=pred.device).to(pred.dtype)
        if target.ndim == 0 or target.shape[0] != batch or target[0].numel() != self.n_targets:
            raise InputError(
                f"regression target must be [B] or [B, {self.n_targets}] with B={batch}, "
                f"got {list(target.shape)}"
            )
        target = target.reshape(batch, self.n_targets)
        mask = known_mask(mask, batch, pred.device)
        known = mask.unsqueeze(1) & ~torch.isnan(target)
        if torch.isinf(torch.where(known, target, torch.zeros_like(target))).any():
            raise InputError("regression targets must be finite where known")
        y = (target - self.target_mean.to(pred)) / self.target_std.to(pred)
        y = torch.where(known, y, pred.detach())
        if self.loss_name == "mse":
            values = F.mse_loss(pred, y, reduction="none")
        else:
            values = F.huber_loss(pred, y, reduction="none", delta=self.huber_delta)
        weights = known.to(values.dtype)
        return torch.where(known, values, torch.zeros_like(values)).sum() / weights.sum().clamp(
            min=1.0
        )

    def predict(self, output: torch.Tensor) -> dict[str, Any]:
        """``value`` in original units: ``[B]`` for one target, else ``[B, n_targets]``.

        Examples:
            >>> RegressionHead(2, n_targets=2).predict(torch.zeros(3, 2))["value"].shape
            torch.Size([3, 2])
        """
        value = full_precision(output) * self.target_std.to(output.device) + self.target_mean.to(
            output.device
        )
        return {"value": value[:, 0] if self.n_targets == 1 else value}
