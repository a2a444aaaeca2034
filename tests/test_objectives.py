from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from biomm.errors import InputError
from biomm.objectives import Matryoshka, infonce, pairwise_infonce, symile


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random(b: int = 16, d: int = 32, modalities=("a", "b", "c"), seed: int = 0):
    g = _gen(seed)
    return {m: torch.randn(b, d, generator=g) for m in modalities}


def _masks(b: int = 16, seed: int = 1, modalities=("a", "b", "c")):
    g = _gen(seed)
    return {m: torch.rand(b, generator=g) < 0.7 for m in modalities}


def _with_garbage(emb, present, value=float("nan")):
    """Absent rows replaced by NaN (or another value), as leaves that require grad."""
    out = {}
    for m, x in emb.items():
        y = x.clone()
        y[~present[m]] = value
        out[m] = y.requires_grad_()
    return out


def test_infonce_limits() -> None:
    eye = torch.eye(8)
    assert float(infonce(eye, eye, 0.05)) < 1e-6  # identical, orthogonal: ~0
    g = _gen(0)
    a, b = torch.randn(128, 1024, generator=g), torch.randn(128, 1024, generator=g)
    loss = pairwise_infonce({"a": a, "b": b}, temperature=1.0)
    assert loss.item() == pytest.approx(math.log(128), abs=0.05)  # random: ~log(B)
    present = {"a": torch.ones(8, dtype=torch.bool), "b": torch.ones(8, dtype=torch.bool)}
    assert float(pairwise_infonce({"a": eye, "b": eye}, present, 0.05)) < 1e-6


def test_pairwise_infonce_is_mean_over_pairs_on_joint_samples() -> None:
    emb, present = _random(), _masks()
    expected = []
    for m1, m2 in (("a", "b"), ("a", "c"), ("b", "c")):
        both = present[m1] & present[m2]
        a = F.normalize(emb[m1][both], dim=-1)
        b = F.normalize(emb[m2][both], dim=-1)
        expected.append(infonce(a, b, 0.1))
    loss = pairwise_infonce(emb, present, 0.1)
    assert torch.allclose(loss, torch.stack(expected).mean())


def test_losses_ignore_absent_rows_and_their_gradients() -> None:
    emb, present = _random(), _masks()
    objectives = {
        "infonce": lambda e: pairwise_infonce(e, present, 0.1),
        "symile": lambda e: symile(e, present, 0.5, generator=_gen(3)),
        "symile_norm": lambda e: symile(e, present, 0.5, normalize=True, generator=_gen(3)),
        "matryoshka": lambda e: Matryoshka(pairwise_infonce, dims=(8, 32))(e, present, 0.1),
    }
    for name, fn in objectives.items():
        reference = fn(_with_garbage(emb, present, 0.0))
        garbage = _with_garbage(emb, present)
        loss = fn(garbage)
        assert torch.isfinite(loss), name
        assert torch.allclose(loss, reference), name
        loss.backward()
        for m, x in garbage.items():
            assert x.grad is not None and torch.isfinite(x.grad).all(), name
            assert (x.grad[~present[m]] == 0).all(), name
        assert any(x.grad[present[m]].abs().sum() > 0 for m, x in garbage.items()), name


def test_no_usable_pair_gives_zero_that_backpropagates() -> None:
    emb = _random(4, 8, ("a", "b"))
    present = {
        "a": torch.tensor([True, True, False, False]),
        "b": torch.tensor([False, False, True, True]),
    }
    leaves = _with_garbage(emb, present)
    for loss in (pairwise_infonce(leaves, present), symile(leaves, present)):
        assert loss.item() == 0.0 and loss.requires_grad
        loss.backward()
    assert (leaves["a"].grad == 0).all()
    # a pair with a single shared sample has no negative: skipped, not NaN
    present["b"] = torch.tensor([True, False, True, True])
    assert pairwise_infonce(_random(4, 8, ("a", "b")), present).item() == 0.0


def test_numpy_masks_and_registry() -> None:
    import numpy as np

    from biomm.objectives import OBJECTIVES

    emb = _random(8, 16, ("a", "b"))
    mask = np.array([True] * 6 + [False] * 2)
    torch.testing.assert_close(
        OBJECTIVES["infonce"](emb, {"a": mask}, 0.1),
        pairwise_infonce(emb, {"a": torch.as_tensor(mask)}, 0.1),
    )
    assert OBJECTIVES["symile"] is symile


def test_temperature_can_be_learned() -> None:
    emb = _random(8, 16, ("a", "b"))
    log_scale = torch.tensor(math.log(10.0), requires_grad=True)
    loss = pairwise_infonce(emb, None, 1 / log_scale.exp())
    loss.backward()
    assert log_scale.grad is not None and log_scale.grad != 0
    with pytest.raises(InputError, match="positive"):
        pairwise_infonce(emb, None, 0.0)
    with pytest.raises(InputError, match="share one shape"):
        pairwise_infonce({"a": torch.zeros(4, 8), "b": torch.zeros(4, 6)})
    with pytest.raises(InputError, match="rows"):
        pairwise_infonce(emb, {"a": torch.ones(3, dtype=torch.bool)})


def test_symile_with_two_modalities_is_clip() -> None:
    emb = _random(12, 16, ("a", "b"))
    for normalize in (False, True):
        a, b = emb["a"], emb["b"]
        if normalize:
            a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
        assert torch.allclose(symile(emb, None, 0.3, normalize=normalize), infonce(a, b, 0.3))
    assert torch.allclose(symile(emb, None, 0.3, normalize=True), pairwise_infonce(emb, None, 0.3))


def test_symile_captures_higher_order_dependence_that_pairwise_misses() -> None:
    # x, y independent random signs, z = x * y: every pair is independent, the triple is not
    g = _gen(5)
    b, d = 32, 64
    x = torch.randint(0, 2, (b, d), generator=g).float() * 2 - 1
    y = torch.randint(0, 2, (b, d), generator=g).float() * 2 - 1
    emb = {"x": x, "y": y, "z": x * y}
    assert symile(emb, None, temperature=4.0, generator=_gen(0)).item() < 0.05
    assert pairwise_infonce(emb, None, 4.0, normalize=False).item() > 2.0
    random = _random(b, d, ("x", "y", "z"))
    assert symile(random, None, 4.0, normalize=True, generator=_gen(0)).item() == pytest.approx(
        math.log(b), abs=0.05
    )


def test_symile_uses_complete_samples_only() -> None:
    emb, present = _random(), _masks()
    complete = present["a"] & present["b"] & present["c"]
    subset = {m: x[complete] for m, x in emb.items()}
    torch.testing.assert_close(
        symile(emb, present, 0.5, generator=_gen(9)), symile(subset, None, 0.5, generator=_gen(9))
    )
    with pytest.raises(InputError, match="at least two"):
        symile({"a": emb["a"]})


def test_matryoshka_sums_losses_over_prefixes() -> None:
    emb, present = _random(16, 64), _masks()
    dims = (8, 16, 64)
    mat = Matryoshka(pairwise_infonce, dims=dims)
    parts = []
    for d in dims:
        prefix = {m: F.normalize(x[:, :d], dim=-1) for m, x in emb.items()}
        parts.append(pairwise_infonce(prefix, present, 0.1))
    total = mat(emb, present, 0.1)
    torch.testing.assert_close(total, sum(parts))
    per_dim = mat.per_dim(emb, present, 0.1)
    assert list(per_dim) == list(dims)
    torch.testing.assert_close(per_dim[8], parts[0])
    weighted = Matryoshka(pairwise_infonce, dims=dims, weights=(1, 2, 3), reduction="mean")
    torch.testing.assert_close(
        weighted(emb, present, temperature=0.1),
        (parts[0] + 2 * parts[1] + 3 * parts[2]) / 6,
    )
    sym = Matryoshka(symile, dims=(16, 64))
    assert torch.isfinite(sym(emb, present, 0.5, generator=_gen(0)))
    assert "dims=(8, 16, 64)" in repr(mat)


def test_matryoshka_validation() -> None:
    with pytest.raises(InputError, match="increasing"):
        Matryoshka(pairwise_infonce, dims=(64, 32))
    with pytest.raises(InputError, match="weights"):
        Matryoshka(pairwise_infonce, dims=(8, 16), weights=(1.0,))
    with pytest.raises(InputError, match="reduction"):
        Matryoshka(pairwise_infonce, dims=(8,), reduction="max")
    with pytest.raises(InputError, match="exceeds"):
        Matryoshka(pairwise_infonce, dims=(8, 128))(_random(4, 64), None)
