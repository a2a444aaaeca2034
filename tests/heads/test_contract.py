"""Contract over every registered head: shapes, masked losses, gradients, predictions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import biomm.heads.classification
import biomm.heads.regression
import biomm.heads.survival  # noqa: F401  (registers the heads)
from biomm.heads.base import Head
from biomm.registries import HEADS

IN_DIM = 6


def _binary(g: torch.Generator, b: int) -> torch.Tensor:
    return torch.randint(0, 2, (b,), generator=g)


def _classes(g: torch.Generator, b: int) -> torch.Tensor:
    return torch.randint(0, 3, (b,), generator=g)


def _multihot(g: torch.Generator, b: int) -> torch.Tensor:
    y = (torch.rand(b, 4, generator=g) > 0.5).float()
    y[torch.rand(b, 4, generator=g) < 0.2] = float("nan")  # per-label unknowns
    return y


def _real(g: torch.Generator, b: int) -> torch.Tensor:
    return torch.randn(b, 2, generator=g) * 5 + 3


def _survival(g: torch.Generator, b: int) -> torch.Tensor:
    time = torch.rand(b, generator=g) * 10
    time[: b // 3] = 2.0  # ties
    return torch.stack([time, (torch.rand(b, generator=g) < 0.5).float()], 1)


# name → (arguments, target generator, raw output width)
TABLE: dict[str, tuple[dict[str, Any], Callable[[torch.Generator, int], torch.Tensor], int]] = {
    "binary": ({"pos_weight": 2.0}, _binary, 1),
    "multiclass": ({"n_classes": 3, "label_smoothing": 0.1}, _classes, 3),
    "multilabel": ({"n_labels": 4}, _multihot, 4),
    "regression": ({"n_targets": 2, "loss": "huber", "target_mean": 3.0}, _real, 2),
    "survival_discrete": ({"edges": [0.0, 2.0, 5.0, 10.0]}, _survival, 3),
    "survival_cox": ({"hidden_dim": 8}, _survival, 1),
}


def _entry(name: str):
    assert name in TABLE, f"head {name!r} has no entry in the contract test: add an entry"
    return TABLE[name]


def _garbage(target: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
    out = target.clone()
    fill = -7 if not out.is_floating_point() else float("nan")
    out[unknown] = fill
    return out


def _finite(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(torch.isfinite(value.float()).all())
    return True


@pytest.mark.parametrize("name", HEADS.names())
def test_head_contract(name):
    kwargs, make_target, width = _entry(name)
    torch.manual_seed(0)
    head = HEADS.build(name, in_dim=IN_DIM, **kwargs)
    assert isinstance(head, Head) and head.in_dim == IN_DIM
    assert HEADS.get(name).__doc__ and "Examples:" in HEADS.get(name).__doc__
    g = torch.Generator().manual_seed(1)
    batch = 9
    target = make_target(g, batch)
    patterns = {
        "random": torch.rand(batch, generator=g) < 0.6,
        "all known": torch.ones(batch, dtype=torch.bool),
        "all unknown": torch.zeros(batch, dtype=torch.bool),
        "single known": torch.arange(batch) == 4,
    }
    for pattern, mask in patterns.items():
        z = torch.randn(batch, IN_DIM, requires_grad=True)
        out = head(z)
        assert out.shape == (batch, width), pattern
        loss = head.loss(out, target, mask)
        assert loss.ndim == 0 and torch.isfinite(loss), pattern
        assert loss.requires_grad, pattern
        head.zero_grad()
        loss.backward()
        assert torch.isfinite(z.grad).all(), pattern
        assert all(torch.isfinite(p.grad).all() for p in head.parameters()), pattern
        if not mask.any():
            assert loss.item() == 0.0 and z.grad.abs().sum() == 0
        # the values of unknown targets never matter
        again = head.loss(out.detach(), _garbage(target, ~mask), mask)
        assert again.item() == pytest.approx(loss.item(), abs=1e-6), pattern
    with torch.no_grad():
        pred = head.predict(head(torch.randn(batch, IN_DIM)))
    assert isinstance(pred, dict) and pred
    for key, value in pred.items():
        assert _finite(value), key
        if isinstance(value, torch.Tensor) and key != "time_grid":
            assert value.shape[0] == batch, key
    if head.task == "survival":
        assert pred["risk"].shape == (batch,)
    # heads move with the model (buffers included) and run in double precision
    double = HEADS.build(name, in_dim=IN_DIM, **kwargs).double()
    out = double(torch.randn(batch, IN_DIM, dtype=torch.float64))
    assert (
        double.loss(
            out, target.double() if target.is_floating_point() else target, patterns["random"]
        ).dtype
        == torch.float64
    )
