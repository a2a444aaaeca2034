"""Property tests over every registered fusion: any availability pattern, any batch.

For availability patterns drawn by hypothesis (including patients with no modality at all),
every fusion must give finite outputs, ignore whatever sits in absent rows, and — in eval
mode — give each patient the same output whoever else is in the batch.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import biomm.fusion  # noqa: F401  (registers the fusions)
from biomm.registries import FUSIONS
from tests.fusion.test_contract import DIMS, _kwargs

_BUILT: dict[str, torch.nn.Module] = {}


def _fusion(name: str) -> torch.nn.Module:
    if name not in _BUILT:
        torch.manual_seed(0)
        _BUILT[name] = FUSIONS.build(name, embed_dims=DIMS, out_dim=5, **_kwargs(name)).eval()
    return _BUILT[name]


patterns = st.lists(st.fixed_dictionaries({m: st.booleans() for m in DIMS}), min_size=1, max_size=9)


@pytest.mark.parametrize("name", FUSIONS.names())
@settings(max_examples=10, deadline=None)
@given(pattern=patterns, seed=st.integers(0, 2**16))
def test_any_availability_pattern(name, pattern, seed):
    fusion = _fusion(name)
    n = len(pattern)
    gen = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(n, d, generator=gen) for m, d in DIMS.items()}
    present = {m: torch.tensor([row[m] for row in pattern]) for m in DIMS}
    with torch.no_grad():
        out = fusion(x, present)
        assert out.shape == (n, 5) and torch.isfinite(out).all()
        noise = {
            m: torch.where(present[m].unsqueeze(1), v, torch.randn(v.shape, generator=gen) * 1e3)
            for m, v in x.items()
        }
        torch.testing.assert_close(fusion(noise, present), out)
        # each patient alone gets what it got in the batch
        for i in range(n):
            alone = fusion(
                {m: v[i : i + 1] for m, v in x.items()},
                {m: p[i : i + 1] for m, p in present.items()},
            )
            torch.testing.assert_close(alone, out[i : i + 1], rtol=1e-4, atol=1e-5)
