"""MultiTaskHeads: per-task masking, weights, absent targets and building from a config."""

from __future__ import annotations

import pytest
import torch

from biomm.errors import ConfigError, InputError
from biomm.heads.classification import BinaryHead, MulticlassHead
from biomm.heads.multitask import MultiTaskHeads
from biomm.heads.survival import CoxHead, DiscreteTimeSurvivalHead


def _heads() -> MultiTaskHeads:
    torch.manual_seed(0)
    return MultiTaskHeads(
        {
            "af": BinaryHead(4),
            "dx": MulticlassHead(4, n_classes=3),
            "death": CoxHead(4),
            "relapse": DiscreteTimeSurvivalHead(4, edges=[0.0, 1.0, 2.0]),
        },
        targets={"death": "os"},
        weights={"dx": 2.0},
    )


def _batch():
    targets = {
        "af": torch.tensor([1, 0, 1, 0]),
        "dx": torch.tensor([0, 2, 1, 0]),
        "os": torch.tensor([[1.0, 1.0], [2.0, 0.0], [3.0, 1.0], [0.5, 1.0]]),
    }
    masks = {
        "af": torch.tensor([True, True, False, True]),
        "dx": torch.tensor([False, True, True, True]),
        "os": torch.tensor([True, True, True, False]),
    }
    return targets, masks


def test_forward_loss_and_predict():
    heads = _heads()
    z = torch.randn(4, 4, requires_grad=True)
    outputs = heads(z)
    assert {k: tuple(v.shape) for k, v in outputs.items()} == {
        "af": (4, 1),
        "dx": (4, 3),
        "death": (4, 1),
        "relapse": (4, 2),
    }
    targets, masks = _batch()
    total, per_task = heads.loss(outputs, targets, masks)
    for task, target_key in (("af", "af"), ("dx", "dx"), ("death", "os")):
        expected = heads[task].loss(outputs[task], targets[target_key], masks[target_key])
        torch.testing.assert_close(per_task[task], expected)
    assert per_task["relapse"].item() == 0.0  # no "relapse" target in this batch
    expected_total = per_task["af"] + 2.0 * per_task["dx"] + per_task["death"]
    torch.testing.assert_close(total, expected_total)
    total.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    for p in heads["relapse"].parameters():  # in the graph, with a zero gradient
        assert p.grad is not None and p.grad.abs().sum() == 0
    predictions = heads.predict(outputs)
    assert predictions["af"]["probability"].shape == (4,)
    assert predictions["relapse"]["survival"].shape == (4, 2)


def test_per_task_masking_and_per_call_weights():
    heads = _heads()
    outputs = heads(torch.randn(4, 4))
    targets, masks = _batch()
    total, _ = heads.loss(outputs, targets, masks)
    changed = dict(targets)
    changed["af"] = targets["af"].clone()
    changed["af"][2] = 1 - changed["af"][2]  # unknown for task "af" only
    changed["dx"] = targets["dx"].clone()
    changed["dx"][0] = 2
    assert heads.loss(outputs, changed, masks)[0].item() == total.item()
    reweighted, per_task = heads.loss(outputs, targets, masks, weights={"af": 0.0})
    torch.testing.assert_close(
        reweighted, 2.0 * per_task["dx"] + per_task["death"]
    )  # dx keeps its init weight
    with pytest.raises(InputError, match="unknown tasks"):
        heads.loss(outputs, targets, masks, weights={"nope": 1.0})
    with pytest.raises(InputError, match="no output"):
        heads.loss({"af": outputs["af"]}, targets, masks)


def test_target_without_mask_counts_as_known():
    heads = MultiTaskHeads({"y": BinaryHead(2)})
    out = heads(torch.randn(3, 2))
    target = torch.tensor([1, 0, 1])
    total, _ = heads.loss(out, {"y": target}, {})
    assert total.item() == heads["y"].loss(out["y"], target, torch.ones(3, dtype=bool)).item()


def test_from_config_and_validation():
    heads = MultiTaskHeads.from_config(
        6,
        {
            "grade": {"name": "multiclass", "n_classes": 4, "target": "who_grade"},
            "os": {"name": "survival_cox", "weight": 0.3},
        },
    )
    assert heads["grade"].in_dim == 6 and heads["grade"].n_classes == 4
    assert heads.target_keys == {"grade": "who_grade", "os": "os"}
    assert heads.weights == {"grade": 1.0, "os": 0.3}
    with pytest.raises(ConfigError, match="lacks 'name'"):
        MultiTaskHeads.from_config(6, {"os": {"weight": 1.0}})
    with pytest.raises(InputError, match="reserved"):
        MultiTaskHeads({"loss": BinaryHead(2)})
    with pytest.raises(InputError, match="expected a Head"):
        MultiTaskHeads({"y": torch.nn.Linear(2, 1)})
    with pytest.raises(InputError, match="≥ 0"):
        MultiTaskHeads({"y": BinaryHead(2)}, weights={"y": -1.0})
