"""Classification and regression heads against torch's reference losses, with masking."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from biomm.errors import InputError
from biomm.heads.classification import BinaryHead, MulticlassHead, MultilabelHead, projection
from biomm.heads.regression import RegressionHead, standardisation

MASK = torch.tensor([True, False, True, True, False, True])


@pytest.fixture
def z() -> torch.Tensor:
    return torch.randn(6, 5, generator=torch.Generator().manual_seed(0))


def test_binary_matches_torch_and_ignores_unknown_rows(z):
    head = BinaryHead(in_dim=5, pos_weight=2.5)
    out = head(z)
    assert out.shape == (6, 1)
    target = torch.tensor([1, 0, 0, 1, 1, 1])
    loss = head.loss(out, target, MASK)
    reference = F.binary_cross_entropy_with_logits(
        out[MASK, 0], target[MASK].float(), pos_weight=torch.tensor([2.5])
    )
    torch.testing.assert_close(loss, reference)
    garbage = target.float().clone()
    garbage[~MASK] = torch.tensor([float("nan"), 7.0])
    torch.testing.assert_close(head.loss(out, garbage.unsqueeze(1), MASK), reference)
    pred = head.predict(out)["probability"]
    torch.testing.assert_close(pred, torch.sigmoid(out[:, 0]))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        head.loss(out, torch.full((6,), 2), MASK)
    with pytest.raises(InputError, match="6 rows"):
        head.loss(out, torch.ones(5), MASK)
    with pytest.raises(InputError, match="mask"):
        head.loss(out, target, torch.ones(3, dtype=torch.bool))


@pytest.mark.parametrize("weights", [None, [1.0, 3.0, 0.5]])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_multiclass_matches_torch(z, weights, smoothing):
    head = MulticlassHead(in_dim=5, n_classes=3, class_weights=weights, label_smoothing=smoothing)
    out = head(z)
    target = torch.tensor([2, -100, 0, 1, 99, 2])  # unknown rows hold out-of-range values
    loss = head.loss(out, target, MASK)
    reference = F.cross_entropy(
        out[MASK],
        target[MASK],
        weight=None if weights is None else torch.tensor(weights),
        label_smoothing=smoothing,
    )
    torch.testing.assert_close(loss, reference)
    pred = head.predict(out)
    torch.testing.assert_close(pred["probabilities"].sum(1), torch.ones(6))
    assert torch.equal(pred["class"], out.argmax(1))


def test_multiclass_rejects_bad_targets(z):
    head = MulticlassHead(in_dim=5, n_classes=3)
    out = head(z)
    with pytest.raises(InputError, match=r"\[0, 3\)"):
        head.loss(out, torch.tensor([3, 0, 0, 0, 0, 0]), MASK)
    with pytest.raises(InputError, match="class indices"):
        head.loss(out, torch.zeros(6), MASK)
    with pytest.raises(InputError, match="at least 2"):
        MulticlassHead(in_dim=5, n_classes=1)
    with pytest.raises(InputError, match="class_weights"):
        MulticlassHead(in_dim=5, n_classes=3, class_weights=[1.0, 2.0])


def test_multilabel_matches_torch_with_per_label_unknowns(z):
    head = MultilabelHead(in_dim=5, n_labels=4, pos_weight=[1.0, 2.0, 1.0, 0.5], threshold=0.3)
    out = head(z)
    target = (torch.rand(6, 4, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    target[0, 1] = float("nan")  # label 1 unknown for sample 0 only
    target[3, 3] = float("nan")
    known = MASK.unsqueeze(1) & ~torch.isnan(target)
    loss = head.loss(out, target, MASK)
    pos_weight = torch.tensor([1.0, 2.0, 1.0, 0.5]).expand(6, 4)
    reference = F.binary_cross_entropy_with_logits(
        out[known], target[known], pos_weight=pos_weight[known]
    )
    torch.testing.assert_close(loss, reference)
    # the NaN label takes no gradient, the other labels of that sample do
    (grad,) = torch.autograd.grad(loss, out)
    assert grad[0, 1] == 0 and grad[0, 0] != 0 and (grad[~MASK] == 0).all()
    pred = head.predict(out)
    assert torch.equal(pred["labels"], torch.sigmoid(out) >= 0.3)
    with pytest.raises(InputError, match=r"\[B, 4\]"):
        head.loss(out, target[:, :3], MASK)


@pytest.mark.parametrize("kind", ["mse", "huber"])
def test_regression_matches_torch_on_the_standardised_scale(z, kind):
    mean, std = [50.0, -1.0], [10.0, 2.0]
    head = RegressionHead(
        in_dim=5, n_targets=2, loss=kind, huber_delta=0.5, target_mean=mean, target_std=std
    )
    out = head(z)
    target = torch.randn(6, 2, generator=torch.Generator().manual_seed(2)) * torch.tensor(std)
    target = target + torch.tensor(mean)
    target[2, 1] = float("nan")  # one unknown value
    loss = head.loss(out, target, MASK)
    known = MASK.unsqueeze(1) & ~torch.isnan(target)
    scaled = (target - torch.tensor(mean)) / torch.tensor(std)
    if kind == "mse":
        reference = F.mse_loss(out[known], scaled[known])
    else:
        reference = F.huber_loss(out[known], scaled[known], delta=0.5)
    torch.testing.assert_close(loss, reference)
    value = head.predict(out)["value"]
    torch.testing.assert_close(value, out * torch.tensor(std) + torch.tensor(mean))


def test_regression_single_target_and_errors(z):
    head = RegressionHead(in_dim=5)
    out = head(z)
    assert out.shape == (6, 1) and head.predict(out)["value"].shape == (6,)
    target = torch.randn(6)
    torch.testing.assert_close(head.loss(out, target, MASK), F.mse_loss(out[MASK, 0], target[MASK]))
    with pytest.raises(InputError, match="finite"):
        head.loss(out, torch.full((6,), float("inf")), MASK)
    with pytest.raises(InputError, match="'mse' or 'huber'"):
        RegressionHead(in_dim=5, loss="l1")
    with pytest.raises(InputError, match="target_std must be positive"):
        RegressionHead(in_dim=5, target_std=0.0)


def test_standardisation_ignores_nan():
    mean, std = standardisation([[1.0, 5.0], [3.0, 5.0], [float("nan"), 5.0]])
    assert mean == [2.0, 5.0] and std == [1.0, 1.0]  # constant column → std 1
    with pytest.raises(InputError, match="no finite value"):
        standardisation([[float("nan")], [float("nan")]])


def test_mlp_heads_train_and_dropout_is_validated(single_thread):
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = (x[:, 0] * x[:, 1] > 0).long()  # not linearly separable
    head = MulticlassHead(in_dim=3, n_classes=2, hidden_dim=32, dropout=0.0)
    optimiser = torch.optim.Adam(head.parameters(), lr=0.03)
    known = torch.ones(64, dtype=torch.bool)
    for _ in range(150):
        optimiser.zero_grad()
        head.loss(head(x), y, known).backward()
        optimiser.step()
    accuracy = (head.predict(head(x))["class"] == y).float().mean()
    assert accuracy > 0.85
    with pytest.raises(InputError, match="dropout"):
        projection(3, 2, dropout=1.0)
