"""Contract over every registered fusion: random availability, garbage in absent rows."""

from __future__ import annotations

import pytest
import torch

import biomm.fusion  # noqa: F401  (registers the fusions)
from biomm.registries import FUSIONS

DIMS = {"a": 6, "b": 6, "c": 4}


def _kwargs(name: str) -> dict:
    table = {
        "concat": {},
        "late": {},
        "attention": {"d_model": 16, "heads": 2, "layers": 1},
        "multimodn": {"hidden": 16},
        "lego_merge": {"num_latents": 4, "depth": 1, "num_heads": 2},
        "lego_fuse": {"num_latents": 4, "depth": 1, "num_heads": 2},
    }
    assert name in table, f"fusion {name!r} has no entry in the contract test: add one"
    return table[name]


@pytest.mark.parametrize("name", FUSIONS.names())
def test_fusion_contract(name):
    torch.manual_seed(0)
    fusion = FUSIONS.build(name, embed_dims=DIMS, out_dim=8, **_kwargs(name)).eval()
    assert fusion.out_dim == 8 and set(fusion.modalities) == set(DIMS)
    batch = 7
    x = {m: torch.randn(batch, d) for m, d in DIMS.items()}
    present = {m: torch.rand(batch) > 0.4 for m in DIMS}
    present["a"][0], present["b"][0], present["c"][0] = True, False, False  # a single modality
    present["a"][1], present["b"][1], present["c"][1] = False, False, False  # none at all
    with torch.no_grad():
        out = fusion(x, present)
        assert out.shape == (batch, 8) and torch.isfinite(out).all()
        # garbage in absent rows never matters
        garbage = {
            m: torch.where(present[m].unsqueeze(1), v, torch.full_like(v, float("nan")))
            for m, v in x.items()
        }
        torch.testing.assert_close(fusion(garbage, present), out)
        # a modality absent for the whole batch equals leaving it out
        no_c = {
            m: p if m != "c" else torch.zeros(batch, dtype=torch.bool) for m, p in present.items()
        }
        without = fusion(
            {m: v for m, v in x.items() if m != "c"}, {m: p for m, p in no_c.items() if m != "c"}
        )
        torch.testing.assert_close(fusion(x, no_c), without)
        steps = fusion.steps(x, present)
        assert len(steps) >= 1 and steps[-1].shape == (batch, 8)
    fusion.train()
    loss = fusion(x, present).pow(2).mean()
    loss.backward()
    grads = [p.grad for p in fusion.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
