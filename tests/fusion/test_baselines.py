"""Contract and learning tests of the parallel fusions (and MultiModN through the same contract)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from biomm.errors import InputError

# Importing the modules registers concat, late, attention and multimodn.
from biomm.fusion.baselines import AttentionFusion, ConcatFusion, LateFusion
from biomm.fusion.multimodn import MultiModN, multimodn_loss
from biomm.heads.base import Head, masked_mean
from biomm.registries import FUSIONS

DIMS = {"a": 6, "b": 4, "c": 5}
NAMES = ["concat", "late", "attention", "multimodn"]
SMALL = {
    "concat": {"proj_dim": 8, "hidden": 32},
    "late": {"hidden": None},
    "attention": {"d_model": 16, "heads": 2, "layers": 2},
    "multimodn": {"hidden": 32},
}


class BinaryHead(Head):
    """Logistic head used by the tests (the real heads live in biomm.heads)."""

    def __init__(self, in_dim: int) -> None:
        super().__init__(in_dim)
        self.linear = nn.Linear(in_dim, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z).squeeze(-1)

    def loss(self, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        per = nn.functional.binary_cross_entropy_with_logits(
            output, target.float(), reduction="none"
        )
        return masked_mean(per, mask)

    def predict(self, output: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"probability": torch.sigmoid(output)}


def auroc(score: torch.Tensor, label: torch.Tensor) -> float:
    """Mann-Whitney AUROC (ties count one half)."""
    pos, neg = score[label.bool()], score[~label.bool()]
    diff = pos.unsqueeze(1) - neg.unsqueeze(0)
    return float(((diff > 0).float() + 0.5 * (diff == 0).float()).mean())


def make_task(n: int, seed: int, p_present: float = 0.7, complete: bool = False):
    """Three modalities; the label depends on ``a`` and ``b`` only, ``c`` is noise.

    Absent rows are filled with NaN so that every consumer must mask them.
    """
    g = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(n, d, generator=g) for m, d in DIMS.items()}
    score = x["a"][:, 0] - x["a"][:, 1] + x["b"][:, 0] + x["b"][:, 1]
    y = (score + 0.3 * torch.randn(n, generator=g) > 0).float()
    present = {
        m: torch.ones(n, dtype=torch.bool) if complete else torch.rand(n, generator=g) < p_present
        for m in DIMS
    }
    for m in DIMS:
        x[m][~present[m]] = float("nan")
    return x, present, y


def build(name: str, out_dim: int = 8, **extra) -> nn.Module:
    torch.manual_seed(0)
    return FUSIONS.build(name, embed_dims=DIMS, out_dim=out_dim, **{**SMALL[name], **extra})


def modality_modules(fusion: nn.Module, m: str) -> nn.Module:
    return fusion.encoders[m] if isinstance(fusion, MultiModN) else fusion.proj[m]


def random_batch(n: int = 16, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(n, d, generator=g) for m, d in DIMS.items()}
    present = {m: torch.rand(n, generator=g) < 0.6 for m in DIMS}
    present["a"][0], present["b"][0], present["c"][0] = True, False, False  # single modality
    for m in DIMS:
        present[m][1] = False  # no modality at all
    return x, present


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one intra-op thread is faster and steadier than contending for cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_registered_and_documented():
    for name in NAMES:
        factory = FUSIONS.get(name)
        assert "Examples:" in (factory.__doc__ or "")
    assert isinstance(build("concat"), ConcatFusion)
    assert isinstance(build("late"), LateFusion)
    assert isinstance(build("attention"), AttentionFusion)


@pytest.mark.parametrize("name", NAMES)
def test_absent_rows_never_change_the_output(name):
    fusion = build(name).eval()
    x, present = random_batch()
    out = fusion(x, present)
    assert out.shape == (16, 8) and torch.isfinite(out).all()
    for garbage in (float("nan"), float("inf"), 1e6):
        dirty = {m: v.clone() for m, v in x.items()}
        for m in DIMS:
            dirty[m][~present[m]] = garbage
        assert torch.equal(fusion(dirty, present), out), garbage
    # Present rows do matter.
    changed = {m: v.clone() for m, v in x.items()}
    changed["a"][present["a"]] += 1.0
    moved = (fusion(changed, present) - out).abs().sum(1)
    assert (moved[present["a"]] > 0).all() and (moved[~present["a"]] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_single_modality_sample_matches_running_it_alone(name):
    fusion = build(name).eval()
    x, present = random_batch()
    out = fusion(x, present)
    alone = fusion({"a": x["a"][:1]}, {"a": torch.tensor([True])})
    torch.testing.assert_close(out[:1], alone, rtol=1e-5, atol=1e-6)
    # A sample without any modality gets the same output whatever the batch holds.
    nothing = fusion({"b": torch.randn(1, 4)}, {"b": torch.tensor([False])})
    torch.testing.assert_close(out[1:2], nothing, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_modality_absent_for_the_whole_batch(name):
    fusion = build(name)
    x, present = random_batch()
    present["c"] = torch.zeros(16, dtype=torch.bool)
    x["c"] = torch.full_like(x["c"], float("nan"))
    fusion.eval()
    with_key = fusion(x, present)
    without = fusion({m: x[m] for m in "ab"}, {m: present[m] for m in "ab"})
    assert torch.equal(with_key, without)
    fusion.train()
    head = BinaryHead(8)
    head(fusion(x, present)).sum().backward()
    grads_c = [p.grad for p in modality_modules(fusion, "c").parameters()]
    assert all(g is None or torch.count_nonzero(g) == 0 for g in grads_c)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_present_modalities_only(name):
    fusion = build(name).train()
    x, present = random_batch()
    for m in DIMS:
        x[m][~present[m]] = float("nan")
        x[m].requires_grad_(True)
    BinaryHead(8)(fusion(x, present)).sum().backward()
    for m in DIMS:
        grad = x[m].grad
        assert torch.isfinite(grad).all(), m
        assert (grad[~present[m]] == 0).all(), m
        assert (grad[present[m]].abs().sum(1) > 0).all(), m
        params = list(modality_modules(fusion, m).parameters())
        assert params and any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), m


def test_raw_concat_and_missing_indicators():
    fusion = ConcatFusion({"a": 2, "b": 3}, out_dim=2, proj_dim=None, hidden=None)
    assert fusion.mlp.in_features == 2 + 3 + 2
    with torch.no_grad():
        fusion.mlp.weight.zero_()
        fusion.mlp.bias.zero_()
        fusion.mlp.weight[0, 5] = 1.0  # reads the indicator of "a"
        fusion.mlp.weight[1, 2] = 1.0  # reads the first feature of "b"
    x = {"a": torch.ones(3, 2), "b": torch.full((3, 3), 7.0)}
    present = {"a": torch.tensor([True, False, True]), "b": torch.tensor([True, True, False])}
    assert fusion(x, present).tolist() == [[1.0, 7.0], [0.0, 7.0], [1.0, 0.0]]


def test_late_fusion_equals_average_of_linear_predictions():
    fusion = build("late", hidden=None).eval()
    head = BinaryHead(8)
    x, present = random_batch()
    fused = head(fusion(x, present))
    per = torch.stack([head(fusion.proj[m](x[m])) for m in DIMS], 1)
    mask = torch.stack([present[m] for m in DIMS], 1)
    has_any = mask.any(1)
    average = (per * mask).sum(1) / mask.sum(1).clamp_min(1)
    torch.testing.assert_close(fused[has_any], average[has_any])
    torch.testing.assert_close(fused[~has_any], head(fusion.none).expand(int((~has_any).sum())))


def test_bad_arguments_are_rejected():
    with pytest.raises(InputError, match="proj_dim"):
        ConcatFusion(DIMS, 4, proj_dim=0)
    with pytest.raises(InputError, match="dropout"):
        LateFusion(DIMS, 4, dropout=1.0)
    with pytest.raises(InputError, match="heads dividing d_model"):
        AttentionFusion(DIMS, 4, d_model=10, heads=4)
    with pytest.raises(InputError, match="unknown modalities"):
        build("concat")({"z": torch.zeros(1, 2)}, {})
    with pytest.raises(InputError, match="embedding size"):
        build("late")({"a": torch.zeros(1, 2)}, {})


def fusion_loss(fusion: nn.Module, head: Head, x, present, y) -> torch.Tensor:
    known = torch.ones_like(y, dtype=torch.bool)
    if isinstance(fusion, MultiModN):
        return multimodn_loss(fusion.trajectory(x, present), {"y": head}, {"y": y}, {"y": known})
    return head.loss(head(fusion(x, present)), y, known)


@pytest.mark.parametrize("name", NAMES)
def test_each_fusion_learns_the_synthetic_task(name):
    """Adam on mini-batches with 30% of each modality missing; AUROC on complete test data."""
    x, present, y = make_task(1024, seed=0)
    x_test, present_test, y_test = make_task(1024, seed=1, complete=True)
    extra = {"layers": 1} if name == "attention" else {}
    fusion = build(name, out_dim=16, **extra)
    head = BinaryHead(16)
    optimizer = torch.optim.Adam([*fusion.parameters(), *head.parameters()], lr=3e-3)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = auroc(head(fusion.eval()(x_test, present_test)), y_test)
    fusion.train()
    for _ in range(200):
        idx = torch.randint(0, 1024, (128,), generator=g)
        xb = {m: v[idx] for m, v in x.items()}
        pb = {m: v[idx] for m, v in present.items()}
        optimizer.zero_grad()
        fusion_loss(fusion, head, xb, pb, y[idx]).backward()
        optimizer.step()
    fusion.eval()
    with torch.no_grad():
        score = head(fusion(x_test, present_test))
        partial = head(fusion(*make_task(512, seed=2)[:2]))
    assert auroc(score, y_test) > 0.9 > before, name
    assert torch.isfinite(partial).all()
