"""MultiModN: per-sample skipping, encoding orders, trajectories and the step-wise loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from biomm.errors import InputError
from biomm.fusion.multimodn import MultiModN, StateEncoder, Trajectory, multimodn_loss
from biomm.heads.base import Head, masked_mean
from tests.fusion.test_baselines import DIMS, BinaryHead, auroc, make_task
from tests.fusion.test_baselines import one_thread as one_thread  # autouse fixture

ORDERS = ["fixed", "random", "per_sample"]


def model(order: str = "fixed", **kw) -> MultiModN:
    torch.manual_seed(0)
    return MultiModN(DIMS, out_dim=8, hidden=16, order=order, **kw)


def batch(n: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(n, d, generator=g) for m, d in DIMS.items()}
    present = {m: torch.rand(n, generator=g) < 0.5 for m in DIMS}
    for m in DIMS:
        x[m][~present[m]] = float("nan")
    return x, present


@pytest.mark.parametrize("order", ORDERS)
def test_absent_modality_leaves_the_state_bit_for_bit(order):
    f = model(order).train()
    x, present = batch()
    traj = f.trajectory(x, present)
    keep = torch.stack([present[m] for m in DIMS], 1)
    assert torch.equal(traj.applied, keep.gather(1, traj.order))
    assert len(traj.states) == len(DIMS) + 1
    for k in range(len(DIMS)):
        skipped = ~traj.applied[:, k]
        assert skipped.any() and (~skipped).any()
        assert torch.equal(traj.states[k + 1][skipped], traj.states[k][skipped])
        moved = (traj.states[k + 1] - traj.states[k]).abs().sum(1)
        assert (moved[~skipped] > 0).all()
    assert all(torch.isfinite(s).all() for s in traj.states)


def test_steps_has_one_state_per_modality_plus_the_initial_one():
    f = model().eval()
    x, present = batch(4)
    for given in (x, {"a": x["a"]}, {"b": x["b"], "c": x["c"]}):
        states = f.steps(given, present)
        assert len(states) == len(DIMS) + 1
        assert torch.equal(states[0], f.initial_state.expand(4, -1))
        assert torch.equal(states[-1], f(given, present))
    nothing = f.steps({"a": x["a"]}, {"a": torch.zeros(4, dtype=torch.bool)})
    assert all(torch.equal(s, nothing[0]) for s in nothing)


def test_random_order_changes_per_batch_and_is_fixed_in_eval():
    f = model("random").train()
    x, present = batch(8)
    torch.manual_seed(1)
    orders = set()
    for _ in range(20):
        traj = f.trajectory(x, present)
        assert (traj.order == traj.order[0]).all()  # one permutation for the batch
        assert sorted(traj.order[0].tolist()) == [0, 1, 2]
        orders.add(tuple(traj.order[0].tolist()))
        keep = torch.stack([present[m] for m in DIMS], 1)
        assert torch.equal(traj.applied, keep.gather(1, traj.order))  # masked still skipped
    assert len(orders) > 2
    f.eval()
    assert f.trajectory(x, present).order.tolist() == [[0, 1, 2]] * 8


def test_per_sample_order_differs_between_samples():
    f = model("per_sample").train()
    x, present = batch(64)
    traj = f.trajectory(x, present)
    rows = {tuple(r) for r in traj.order.tolist()}
    assert len(rows) > 3
    assert all(sorted(r) == [0, 1, 2] for r in rows)
    assert f.eval().trajectory(x, present).order.unique(dim=0).tolist() == [[0, 1, 2]]


def test_the_order_used_is_the_order_reported():
    f = model("random").train()
    x, present = batch(8)
    torch.manual_seed(3)
    traj = f.trajectory(x, present)
    names = [f.modalities[i] for i in traj.order[0].tolist()]
    replay = f.trajectory(x, present, order=names)
    assert all(torch.equal(a, b) for a, b in zip(traj.states, replay.states, strict=True))
    per = model("per_sample").train()
    traj = per.trajectory(x, present)
    for i in range(8):
        alone = per.trajectory(
            {m: v[i : i + 1] for m, v in x.items()},
            {m: v[i : i + 1] for m, v in present.items()},
            order=traj.order[i],
        )
        torch.testing.assert_close(alone.final, traj.final[i : i + 1], rtol=1e-5, atol=1e-6)
        labels = traj.labels(i)
        assert labels[0] == "initial" and len(labels) == 4
        assert labels[1].split()[0] == f.modalities[int(traj.order[i, 0])]
        assert labels[1].endswith("(absent)") != bool(traj.applied[i, 0])


def test_order_changes_the_result_for_order_sensitive_encoders():
    f = model().eval()
    x, _ = batch(4)
    full = {m: torch.ones(4, dtype=torch.bool) for m in DIMS}
    one = f.trajectory(x, full, order=["a", "b", "c"]).final
    other = f.trajectory(x, full, order=["c", "b", "a"]).final
    assert not torch.allclose(one, other)


@pytest.mark.parametrize("order", ORDERS)
def test_gradients_reach_every_present_encoder_and_the_initial_state(order):
    f = model(order).train()
    x, present = batch()
    present["c"] = torch.zeros(32, dtype=torch.bool)
    head = BinaryHead(8)
    y = torch.randint(0, 2, (32,)).float()
    multimodn_loss(f.trajectory(x, present), {"y": head}, {"y": y}).backward()
    assert f.initial_state.grad is not None and f.initial_state.grad.abs().sum() > 0
    for m in "ab":
        assert all(
            p.grad is not None and p.grad.abs().sum() > 0 for p in f.encoders[m].parameters()
        )
    assert all(p.grad is None or not p.grad.any() for p in f.encoders["c"].parameters())


class FirstValue(Head):
    """Head whose output is the first state value and whose loss is its masked mean."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z[:, 0]

    def loss(self, output, target, mask):
        return masked_mean(output, mask)


def test_loss_pools_the_sample_steps_that_count():
    states = [
        torch.tensor([[1.0], [2.0]]),
        torch.tensor([[3.0], [4.0]]),
        torch.tensor([[5.0], [6.0]]),
    ]
    states = [s.requires_grad_(True) for s in states]
    applied = torch.tensor([[True, False], [False, True]])
    traj = Trajectory(states, torch.tensor([[0, 1], [0, 1]]), applied, ("a", "b"))
    head, y = {"t": FirstValue(1)}, {"t": torch.zeros(2)}
    assert multimodn_loss(traj, head, y).item() == pytest.approx((1 + 2 + 3 + 6) / 4)
    assert multimodn_loss(traj, head, y, include_initial=False).item() == pytest.approx(4.5)
    known = {"t": torch.tensor([True, False])}
    assert multimodn_loss(traj, head, y, known).item() == pytest.approx(2.0)
    assert multimodn_loss(states, head, y).item() == pytest.approx(3.5)
    two = {"t": FirstValue(1), "u": FirstValue(1)}
    targets = {"t": torch.zeros(2), "u": torch.zeros(2)}
    masks = {"u": torch.tensor([False, True])}  # u: initial 2, step 2 → 6 → 4
    weighted = multimodn_loss(traj, two, targets, masks, task_weights={"t": 1.0, "u": 3.0})
    assert weighted.item() == pytest.approx((3.0 + 3 * 4.0) / 4)
    nothing = multimodn_loss(traj, head, y, {"t": torch.zeros(2, dtype=torch.bool)})
    assert nothing.item() == 0.0 and nothing.requires_grad
    assert multimodn_loss(traj, head, {}).item() == 0.0  # no target for any task
    with pytest.raises(InputError, match="at least one encoding step"):
        multimodn_loss(states[:1], head, y, include_initial=False)


def test_stepwise_predictions_improve_as_informative_modalities_arrive():
    """Order a → b → c with the label a function of a and b: the loss drops at a, then at b."""
    x, present, y = make_task(1024, seed=0)
    x_test, present_test, y_test = make_task(1024, seed=1, complete=True)
    torch.manual_seed(0)
    f = MultiModN(DIMS, out_dim=16, hidden=32, order="fixed")
    head = BinaryHead(16)
    optimizer = torch.optim.Adam([*f.parameters(), *head.parameters()], lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        idx = torch.randint(0, 1024, (128,), generator=g)
        traj = f.trajectory(
            {m: v[idx] for m, v in x.items()}, {m: v[idx] for m, v in present.items()}
        )
        optimizer.zero_grad()
        multimodn_loss(traj, {"y": head}, {"y": y[idx]}).backward()
        optimizer.step()
    f.eval()
    with torch.no_grad():
        outs = [head(s) for s in f.steps(x_test, present_test)]
    known = torch.ones(1024, dtype=torch.bool)
    losses = [head.loss(o, y_test, known).item() for o in outs]
    aucs = [auroc(o, y_test) for o in outs[1:]]
    assert losses[1] < losses[0] - 0.1 and losses[2] < losses[1] - 0.1, losses
    assert losses[3] < losses[2] + 0.05, losses  # the noise modality does not undo it
    assert 0.7 < aucs[0] < aucs[1] and aucs[1] > 0.9, aucs


@pytest.mark.parametrize("update", ["gated", "residual", "replace"])
def test_update_rules(update):
    enc = StateEncoder(4, 3, hidden=8, update=update)
    s, x = torch.randn(5, 4), torch.randn(5, 3)
    out = enc(s, x)
    assert out.shape == (5, 4) and torch.isfinite(out).all()
    if update == "gated":
        nn.init.constant_(enc.gate.bias, -1e4)  # a closed gate keeps the state
        torch.testing.assert_close(enc(s, x), s)


def test_custom_encoders_and_bad_arguments():
    class Add(nn.Module):
        def forward(self, state, x):
            return state + x.sum(-1, keepdim=True)

    f = MultiModN({"a": 2, "b": 2}, out_dim=3, hidden=4, encoders={"a": Add()})
    assert isinstance(f.encoders["a"], Add) and isinstance(f.encoders["b"], StateEncoder)
    out = f({"a": torch.ones(2, 2)}, {})
    torch.testing.assert_close(out, f.initial_state.detach().expand(2, -1) + 2.0)
    with pytest.raises(InputError, match="encoding order"):
        MultiModN(DIMS, 4, order="shuffled")
    with pytest.raises(InputError, match="state update"):
        MultiModN(DIMS, 4, update="lstm")
    with pytest.raises(InputError, match="unknown modalities"):
        MultiModN(DIMS, 4, encoders={"z": Add()})
    x, present = batch(2)
    with pytest.raises(InputError, match="unknown modalities"):
        model().trajectory(x, present, order=["a", "b", "z"])
    with pytest.raises(InputError, match="permutation"):
        model().trajectory(x, present, order=["a", "a", "b"])
    with pytest.raises(InputError, match="permutation"):
        model().trajectory(x, present, order=torch.tensor([0, 1]))
