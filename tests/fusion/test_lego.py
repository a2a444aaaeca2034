"""MM-Lego: frequency-domain LegoBlock, LegoMerge (per-sample, N blocks) and LegoFuse."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from biomm.errors import InputError
from biomm.fusion.lego import (
    LegoBlock,
    LegoFuse,
    LegoMerge,
    from_frequency,
    merge_heads,
    merge_latents,
    packed_to_complex,
    slerp,
    spherical_mean,
    to_frequency,
)
from biomm.registries import FUSIONS

SMALL = dict(latent_dim=8, num_latents=6, depth=2, num_heads=2, tokens_per_input=2)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest (and steadiest on a busy machine) on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def auroc(scores: torch.Tensor, labels: torch.Tensor) -> float:
    """Rank-based AUROC (Mann–Whitney U); scores are continuous, so ties do not occur."""
    s = scores.detach().double().numpy()
    y = labels.numpy().astype(bool)
    ranks = np.empty(len(s))
    ranks[np.argsort(s)] = np.arange(1, len(s) + 1)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def blocks3(head: int | None = 1) -> dict[str, LegoBlock]:
    return {
        "a": LegoBlock(3, head=head, name="a", **SMALL),
        "b": LegoBlock(5, head=head, name="b", **SMALL),
        "c": LegoBlock(4, head=head, name="c", **SMALL),  # a token sequence [B, N, 4]
    }


def batch3(b: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = {
        "a": torch.randn(b, 3, generator=g),
        "b": torch.randn(b, 5, generator=g),
        "c": torch.randn(b, 5, 4, generator=g),
    }
    lengths = torch.randint(1, 6, (b,), generator=g)
    token_masks = {"c": torch.arange(5)[None] < lengths[:, None]}
    return x, token_masks


# ----------------------------------------------------------------------------- frequency domain


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 17), d=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_frequency_round_trip_and_orthogonality(n, d, seed):
    x = torch.randn(2, n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    f = to_frequency(x)
    assert f.shape == x.shape and f.dtype == x.dtype
    torch.testing.assert_close(from_frequency(f), x)
    torch.testing.assert_close(f.norm(), x.norm())  # orthonormal: Parseval
    spectrum = torch.fft.rfft(x, dim=-2, norm="ortho")
    torch.testing.assert_close(packed_to_complex(f), spectrum)


def test_frequency_transform_is_a_dft_over_the_latent_axis():
    # a pure cosine on the latent axis lands in one bin (real part), a sine in its imaginary part
    n = 8
    k = torch.arange(n, dtype=torch.float64)
    wave = torch.stack([torch.cos(2 * math.pi * k / n), torch.sin(2 * math.pi * k / n)], dim=-1)
    f = to_frequency(wave)
    # rows: DC, Re1, Re2, Re3, Nyquist, Im1, Im2, Im3
    assert torch.allclose(f[:, 0], torch.tensor([0, 2, 0, 0, 0, 0, 0, 0.0], dtype=f.dtype))
    assert torch.allclose(f[:, 1], torch.tensor([0, 0, 0, 0, 0, -2, 0, 0.0], dtype=f.dtype))


def test_block_updates_its_latent_in_the_frequency_domain():
    block = LegoBlock(3, latent_dim=8, num_latents=6, depth=1, num_heads=2)
    x = torch.randn(4, 3)
    context, mask = block.tokens(x)
    latent = block.initial_latent(4)
    empty = torch.zeros(4, dtype=torch.bool)
    expected = block.layers[0](to_frequency(latent), context, mask, empty)
    torch.testing.assert_close(block.encode(x), expected)
    # the same parameters without the transform give a different function
    plain = LegoBlock(3, latent_dim=8, num_latents=6, depth=1, num_heads=2, frequency_domain=False)
    plain.load_state_dict(block.state_dict())
    assert not torch.allclose(plain.encode(x), block.encode(x), atol=1e-4)
    torch.testing.assert_close(plain.encode(x), block.layers[0](latent, context, mask, empty))


# ----------------------------------------------------------------------------------- LegoBlock


def test_block_shapes_heads_and_shared_initialisation():
    a, b = LegoBlock(3, head=2, **SMALL), LegoBlock(11, head=2, **SMALL)
    assert a(torch.randn(4, 3)).shape == (4, 8)
    assert a.head_output(torch.randn(4, 3)).shape == (4, 2)
    torch.testing.assert_close(a.latent, b.latent)
    torch.testing.assert_close(a.head.weight, b.head.weight)
    torch.testing.assert_close(a.layers.state_dict(), b.layers.state_dict())
    c = LegoBlock(3, head=2, shared_seed=1, **SMALL)
    assert not torch.allclose(a.latent, c.latent)
    with pytest.raises(InputError, match="has no task head"):
        LegoBlock(3, **SMALL).head_output(torch.randn(1, 3))
    with pytest.raises(InputError, match="reads 5 features"):
        LegoBlock(3, head=nn.Linear(5, 1), **SMALL)


def test_block_token_padding_never_changes_output_and_rows_are_independent():
    block = LegoBlock(4, **SMALL).eval()
    x = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 1, 0, 0]], dtype=torch.bool)
    out = block(x, mask)
    garbage = torch.where(mask[..., None], x, torch.full_like(x, float("nan")))
    torch.testing.assert_close(block(garbage, mask), out)
    garbage = torch.where(mask[..., None], x, 1e6 * torch.randn_like(x))
    torch.testing.assert_close(block(garbage, mask), out)
    torch.testing.assert_close(block(x[1:2], mask[1:2]), out[1:2])  # no batch interaction
    # a row without any real token gives a finite output (cross-attention skipped)
    empty = block(x[:1], torch.zeros(1, 5, dtype=torch.bool))
    assert torch.isfinite(empty).all()


def test_block_rejects_bad_inputs():
    block = LegoBlock(4, **SMALL)
    with pytest.raises(InputError, match="feature size 3, expected 4"):
        block(torch.randn(2, 3))
    with pytest.raises(InputError, match=r"\[B, D\] or \[B, N, D\]"):
        block(torch.randn(4))
    with pytest.raises(InputError, match="token mask shape"):
        block(torch.randn(2, 3, 4), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(InputError, match="num_latents"):
        LegoBlock(4, num_latents=0)


def test_block_wraps_any_encoder_without_a_final_linear_layer():
    encoder = nn.Sequential(nn.Conv1d(2, 6, 5), nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten())
    block = LegoBlock.wrap(encoder, torch.randn(2, 2, 40), head=1, **SMALL)
    assert block.in_dim == 6 and encoder.training
    assert block.head_output(torch.randn(3, 2, 40)).shape == (3, 1)
    # an encoder that returns a token sequence [B, T, 5]
    seq_encoder = nn.Sequential(nn.Conv1d(2, 5, 3), _Transpose())
    tokens = LegoBlock.wrap(seq_encoder, torch.randn(1, 2, 9), **SMALL)
    assert tokens.in_dim == 5 and tokens(torch.randn(2, 2, 9)).shape == (2, 8)


class _Transpose(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


# ------------------------------------------------------------------------------ head merging


def test_slerp_identical_heads_and_orthogonal_unit_vectors():
    head = nn.Linear(6, 2)
    for method in ("slerp", "linear"):
        merged = merge_heads([head, head, head], method)
        torch.testing.assert_close(merged.weight, head.weight)
        torch.testing.assert_close(merged.bias, head.bias)
        assert merged is not head
    e1, e2 = torch.eye(5)[0], torch.eye(5)[3]
    mid = slerp(e1, e2, 0.5)
    assert abs(float(mid.norm()) - 1.0) < 1e-6
    torch.testing.assert_close(mid, (e1 + e2) / math.sqrt(2))
    # linear interpolation of the same vectors is shorter: SLERP keeps the norm
    assert float(((e1 + e2) / 2).norm()) < 0.71
    torch.testing.assert_close(slerp(e1, e2, 0.0), e1)
    torch.testing.assert_close(slerp(e1, e2, 1.0), e2)
    angle = torch.arccos(slerp(e1, e2, 0.25) @ e1)
    assert abs(float(angle) - math.pi / 8) < 1e-5  # constant angular speed


@settings(max_examples=20, deadline=None)
@given(t=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_spherical_mean_of_two_is_slerp(t, seed):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(3, 4, generator=g), 3 * torch.randn(3, 4, generator=g)
    torch.testing.assert_close(
        spherical_mean([a, b], [1 - t, t]), slerp(a, b, t), atol=1e-5, rtol=1e-5
    )


def test_spherical_mean_of_n_is_symmetric_and_on_the_sphere():
    vs = [torch.randn(10) for _ in range(4)]
    vs = [v / v.norm() for v in vs]
    m = spherical_mean(vs)
    torch.testing.assert_close(spherical_mean(vs[::-1]), m, atol=1e-6, rtol=1e-6)
    assert abs(float(m.norm()) - 1.0) < 1e-6
    # first-order optimality: the weighted log-maps sum to zero at the Karcher mean
    logs = []
    for v in vs:
        cos = torch.clamp(v @ m, -1, 1)
        tangent = v - cos * m
        logs.append(torch.arccos(cos) * tangent / tangent.norm())
    assert float(torch.stack(logs).sum(0).norm()) < 1e-5


def test_merge_heads_weights_errors_and_linear():
    a, b = nn.Linear(4, 2), nn.Linear(4, 2)
    torch.testing.assert_close(
        merge_heads([a, b], "linear", [3, 1]).weight, 0.75 * a.weight + 0.25 * b.weight
    )
    torch.testing.assert_close(merge_heads([a, b], "slerp", [1, 0]).weight, a.weight)
    with pytest.raises(InputError, match="architecture"):
        merge_heads([a, nn.Linear(4, 3)])
    with pytest.raises(InputError, match="different classes"):
        merge_heads([a, nn.Sequential(nn.Linear(4, 2))])
    with pytest.raises(InputError, match="unknown head merge"):
        merge_heads([a, b], "ties")


# ------------------------------------------------------------------------------ latent merging


def test_merge_latents_per_sample_and_harmonic_definition():
    g = torch.Generator().manual_seed(0)
    lat = torch.randn(3, 2, 6, 4, generator=g)
    mask = torch.tensor([[True, False], [True, True], [False, True]])
    lat_garbage = lat.clone()
    lat_garbage[0, 1] = float("nan")
    lat_garbage[2, 0] = 1e9
    for method in ("sum", "mean", "harmonic"):
        merged = merge_latents(lat_garbage, mask, method)
        assert torch.isfinite(merged).all()
        torch.testing.assert_close(merged[0], lat[0, 0], atol=1e-5, rtol=1e-5)  # only block 0
        torch.testing.assert_close(merged[2], lat[2, 1], atol=1e-5, rtol=1e-5)  # only block 1
    torch.testing.assert_close(merge_latents(lat, mask, "mean")[1], lat[1].mean(0))
    torch.testing.assert_close(merge_latents(lat, mask, "sum")[1], lat[1].sum(0))
    # harmonic: harmonic mean of magnitudes, circular mean of phases of the complex spectrum
    z = packed_to_complex(lat[1])
    magnitude = 2 / (1 / z[0].abs() + 1 / z[1].abs())
    phase = torch.angle(z[0] / z[0].abs() + z[1] / z[1].abs())
    expected = magnitude * torch.exp(1j * phase)
    got = packed_to_complex(merge_latents(lat, mask, "harmonic")[1])
    torch.testing.assert_close(got, expected.to(got.dtype), atol=1e-5, rtol=1e-4)
    with pytest.raises(InputError, match="unknown latent merge"):
        merge_latents(lat, mask, "max")


# --------------------------------------------------------------------------------- LegoMerge


@pytest.mark.parametrize("latent_merge", ["sum", "mean", "harmonic"])
def test_lego_merge_single_modality_sample_equals_that_block(latent_merge):
    blocks = blocks3()
    for block in blocks.values():
        block.eval()
    merge = LegoMerge.from_blocks(blocks, latent_merge=latent_merge).eval()
    x, tm = batch3()
    present = {
        "a": torch.tensor([1, 0, 0, 1, 1, 0], dtype=torch.bool),
        "b": torch.tensor([0, 1, 0, 1, 0, 0], dtype=torch.bool),
        "c": torch.tensor([0, 0, 1, 1, 1, 0], dtype=torch.bool),
    }
    with torch.no_grad():
        out = merge(x, present, tm)
        torch.testing.assert_close(out[0], blocks["a"](x["a"][:1])[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out[1], blocks["b"](x["b"][1:2])[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            out[2], blocks["c"](x["c"][2:3], tm["c"][2:3])[0], atol=1e-5, rtol=1e-5
        )
        # no modality: the pooled prior, finite
        torch.testing.assert_close(out[5], LegoBlock.pool(merge.prior_frequency()))
        if latent_merge == "mean":
            fa, fc = blocks["a"].encode(x["a"][4:5]), blocks["c"].encode(x["c"][4:5], tm["c"][4:5])
            torch.testing.assert_close(
                out[4], LegoBlock.pool((fa + fc) / 2)[0], atol=1e-5, rtol=1e-5
            )
            # a sample with two modalities is not just one of them
            assert not torch.allclose(out[4], blocks["a"](x["a"][4:5])[0], atol=1e-3)


FUSION_CASES = [
    ("lego_merge", {"latent_merge": "mean"}),
    ("lego_merge", {"latent_merge": "sum"}),
    ("lego_merge", {"latent_merge": "harmonic"}),
    ("lego_fuse", {"mode": "stack"}),
    ("lego_fuse", {"mode": "weave"}),
]


@pytest.mark.parametrize(("name", "kwargs"), FUSION_CASES)
def test_absent_rows_never_change_the_output_and_gradients_stay_finite(name, kwargs):
    torch.manual_seed(0)
    fusion = FUSIONS.build(
        name,
        embed_dims={"a": 3, "b": 5, "c": 4},
        out_dim=8,
        num_latents=6,
        depth=2,
        num_heads=2,
        head=1,
        **kwargs,
    )
    x, tm = batch3(b=7, seed=1)
    g = torch.Generator().manual_seed(2)
    present = {m: torch.rand(7, generator=g) < 0.5 for m in x}
    present["a"][0], present["b"][0], present["c"][0] = True, False, False  # single modality
    present["a"][1], present["b"][1], present["c"][1] = False, False, False  # none
    out = fusion(x, present, tm)
    assert out.shape == (7, 8) and torch.isfinite(out).all()
    garbage = {
        m: torch.where(
            present[m].view(-1, *[1] * (v.ndim - 1)), v, torch.full_like(v, float("nan"))
        )
        for m, v in x.items()
    }
    torch.testing.assert_close(fusion(garbage, present, tm), out)
    # a modality absent for the whole batch is the same as leaving it out of the dict
    all_absent = dict(present, b=torch.zeros(7, dtype=torch.bool))
    without_b = {m: v for m, v in garbage.items() if m != "b"}
    torch.testing.assert_close(fusion(without_b, all_absent, tm), fusion(garbage, all_absent, tm))
    # gradients flow and stay finite despite NaN in absent rows
    fusion.merged_head(fusion(garbage, present, tm)).sum().backward()
    grads = [p.grad for p in fusion.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(gr).all() for gr in grads)


def test_lego_fuse_skips_absent_blocks_per_sample():
    blocks = blocks3()
    x, tm = batch3(b=3, seed=3)
    present = {
        "a": torch.tensor([True, False, True]),
        "b": torch.tensor([False, False, True]),
        "c": torch.tensor([False, True, True]),
    }
    stack = LegoFuse.from_blocks(blocks, mode="stack").eval()
    with torch.no_grad():
        out = stack(x, present, tm)
        start = stack.init_latent.unsqueeze(0)
        only_a = blocks["a"].encode(x["a"][:1], latent=start)
        torch.testing.assert_close(out[0], LegoBlock.pool(only_a)[0], atol=1e-5, rtol=1e-5)
        only_c = blocks["c"].encode(x["c"][1:2], tm["c"][1:2], latent=start)
        torch.testing.assert_close(out[1], LegoBlock.pool(only_c)[0], atol=1e-5, rtol=1e-5)
        # all three: a, then b, then c on the shared latent
        lat = blocks["a"].to_latent(blocks["a"].encode(x["a"][2:3], latent=start))
        lat = blocks["b"].to_latent(blocks["b"].encode(x["b"][2:3], latent=lat))
        full = blocks["c"].encode(x["c"][2:3], tm["c"][2:3], latent=lat)
        torch.testing.assert_close(out[2], LegoBlock.pool(full)[0], atol=1e-5, rtol=1e-5)
        steps = stack.steps(x, present, tm)
        assert len(steps) == 3 and torch.equal(steps[-1], out)
        torch.testing.assert_close(steps[0][1], LegoBlock.pool(to_frequency(start))[0])  # c not yet
    weave = LegoFuse.from_blocks(blocks, mode="weave", order=["c", "b", "a"]).eval()
    with torch.no_grad():
        out = weave(x, present, tm)
        ctx, mask = blocks["a"].tokens(x["a"][:1])
        lat = blocks["a"].to_latent(blocks["a"].layer(0, start, ctx, mask))
        expected = blocks["a"].layer(1, lat, ctx, mask)
        torch.testing.assert_close(out[0], LegoBlock.pool(expected)[0], atol=1e-5, rtol=1e-5)
        assert len(weave.steps(x, present, tm)) == 2


def test_lego_fusions_validate_blocks_and_inputs():
    blocks = blocks3()
    with pytest.raises(InputError, match="share"):
        LegoMerge.from_blocks({"a": blocks["a"], "z": LegoBlock(3, latent_dim=16)})
    with pytest.raises(InputError, match="unknown latent merge"):
        LegoMerge.from_blocks(blocks, latent_merge="median")
    with pytest.raises(InputError, match="unknown LegoFuse mode"):
        LegoFuse.from_blocks(blocks, mode="zip")
    with pytest.raises(InputError, match="order"):
        LegoFuse.from_blocks(blocks, order=["a", "b"])
    with pytest.raises(InputError, match="block in_dim"):
        LegoMerge({"a": 4, "b": 5, "c": 4}, 8, blocks=blocks)
    with pytest.raises(InputError, match="weights for unknown"):
        LegoMerge.from_blocks(blocks, weights={"q": 1.0})
    merge = LegoMerge.from_blocks(blocks)
    x, _ = batch3()
    with pytest.raises(InputError, match="unknown modalities"):
        merge({"ecg": x["a"]}, {})
    with pytest.raises(InputError, match="embedding size"):
        merge({"a": x["b"]}, {})
    with pytest.raises(InputError, match="present mask shape"):
        merge({"a": x["a"]}, {"a": torch.ones(2, dtype=torch.bool)})
    with pytest.raises(InputError, match="no modality"):
        merge({}, {})
    # from_blocks copies: the originals are not tied to the fusion's parameters
    assert merge.blocks["a"] is not blocks["a"]
    assert LegoMerge.from_blocks(blocks, copy_blocks=False).blocks["a"] is blocks["a"]


def test_blocks_with_raw_input_encoders_inside_a_fusion():
    encoder = nn.Sequential(nn.Conv1d(1, 4, 5), nn.AdaptiveAvgPool1d(1), nn.Flatten())
    blocks = {
        "ecg": LegoBlock.wrap(encoder, torch.randn(1, 1, 30), head=1, **SMALL),
        "ehr": LegoBlock(5, head=1, **SMALL),
    }
    merge = LegoMerge.from_blocks(blocks)
    x = {"ecg": torch.randn(3, 1, 30), "ehr": torch.randn(3, 5)}
    present = {"ecg": torch.tensor([True, False, True]), "ehr": torch.tensor([True, True, False])}
    out = merge(x, present)
    x["ecg"][1] = float("nan")
    torch.testing.assert_close(merge(x, present), out)


# ------------------------------------------------------------- synthetic merge / fuse evidence


def _synthetic(n: int, seed: int, strength: float = 0.6):
    """Three modalities, each a noisy view of the label: two vectors and a padded token bag."""
    g = torch.Generator().manual_seed(seed)
    directions = torch.Generator().manual_seed(1234)  # the same signal directions for all splits
    u = {
        m: F.normalize(torch.randn(d, generator=directions), dim=0)
        for m, d in (("a", 8), ("b", 12), ("c", 4))
    }
    y = torch.randint(0, 2, (n,), generator=g)
    s = (2 * y - 1).float()[:, None]
    lengths = torch.randint(3, 7, (n,), generator=g)
    token_mask = torch.arange(6)[None] < lengths[:, None]
    tokens = torch.randn(n, 6, 4, generator=g) + 0.5 * strength * s[:, :, None] * u["c"]
    x = {
        "a": strength * s * u["a"] + torch.randn(n, 8, generator=g),
        "b": strength * s * u["b"] + torch.randn(n, 12, generator=g),
        "c": torch.where(token_mask[..., None], tokens, torch.full_like(tokens, float("nan"))),
    }
    return x, {"c": token_mask}, y


def _train(model_fn, params, x, tm, y, steps: int, lr: float, seed: int) -> None:
    opt = torch.optim.Adam(params, lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(y), (128,), generator=g)
        logits = model_fn({m: v[idx] for m, v in x.items()}, {m: v[idx] for m, v in tm.items()})
        loss = F.binary_cross_entropy_with_logits(logits.squeeze(-1), y[idx].float())
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.fixture(scope="module")
def trained():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_blocks()
    finally:
        torch.set_num_threads(threads)


def _train_blocks():
    torch.manual_seed(0)
    x, tm, y = _synthetic(800, seed=0)
    kw = dict(latent_dim=16, num_latents=8, depth=1, num_heads=2, tokens_per_input=2, head=1)
    blocks = {"a": LegoBlock(8, **kw), "b": LegoBlock(12, **kw), "c": LegoBlock(4, **kw)}
    for i, (m, block) in enumerate(blocks.items()):
        # unimodal: each block sees only its own modality (and a different half of patients)
        rows = torch.arange(len(y))[(torch.arange(len(y)) % 3 != i)]
        sub_tm = {m: tm[m][rows]} if m in tm else {}
        _train(
            lambda xs, tms, b=block, m=m: b.head_output(xs[m], tms.get(m)),
            block.parameters(),
            {m: x[m][rows]},
            sub_tm,
            y[rows],
            60,
            1e-2,
            seed=i,
        )
        block.eval()
    return blocks, (x, tm, y)


def test_merged_blocks_reach_unimodal_performance_and_fuse_is_at_least_as_good(trained):
    blocks, (x_train, tm_train, y_train) = trained
    x, tm, y = _synthetic(600, seed=100)
    with torch.no_grad():
        single = {
            m: auroc(b.head_output(x[m], tm.get(m)).squeeze(-1), y) for m, b in blocks.items()
        }
    assert all(0.65 < a < 0.9 for a in single.values()), single
    full = {m: torch.ones(len(y), dtype=torch.bool) for m in blocks}
    merged = {}
    for latent_merge in ("mean", "harmonic"):
        merge = LegoMerge.from_blocks(blocks, latent_merge=latent_merge, head_merge="slerp").eval()
        with torch.no_grad():
            merged[latent_merge] = auroc(merge.merged_head(merge(x, full, tm)).squeeze(-1), y)
        assert merged[latent_merge] > max(single.values()) - 0.03, (merged, single)
    assert merged["mean"] > max(single.values()) + 0.03  # three views beat any single one

    # per-sample missingness: each test patient has a random non-empty subset of modalities
    g = torch.Generator().manual_seed(7)
    present = {m: torch.rand(len(y), generator=g) < 0.6 for m in blocks}
    present["a"] |= ~(present["b"] | present["c"])
    merge = LegoMerge.from_blocks(blocks).eval()
    with torch.no_grad():
        partial = auroc(merge.merged_head(merge(x, present, tm)).squeeze(-1), y)
    assert min(single.values()) - 0.03 < partial < merged["mean"] + 0.01, partial

    # LegoFuse: the blocks, a shared latent and the merged head, briefly fine-tuned on pairs
    fuse = LegoFuse.from_blocks(blocks, mode="stack")
    _train(
        lambda xs, tms: fuse.merged_head(fuse(xs, {}, tms)),
        fuse.parameters(),
        x_train,
        tm_train,
        y_train,
        30,
        3e-3,
        seed=9,
    )
    fuse.eval()
    with torch.no_grad():
        fused = auroc(fuse.merged_head(fuse(x, full, tm)).squeeze(-1), y)
    assert fused >= merged["mean"] - 0.015, (fused, merged)
    # fine-tuning the fusion left the original blocks untouched
    with torch.no_grad():
        again = auroc(blocks["a"].head_output(x["a"]).squeeze(-1), y)
    assert again == single["a"]
