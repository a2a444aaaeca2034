"""Masked-cell reconstruction pretraining (+ the optional CLIP loss)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biomm.ehr.pretrain import (
    TabularReconstruction,
    mask_cells,
    pretrain_tabular,
    reconstruction_accuracy_by_column,
)
from biomm.encoders.tabular import TabularTransformer
from biomm.errors import ConfigError, InputError

CARDS = [5, 5, 0, 0]


def structured_table(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One latent class (0..3) seen through four noisy columns; codes 1..4 (0 = unknown)."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 4, n)
    flip = rng.random(n) < 0.1
    other = np.where(flip, rng.integers(0, 4, n), z)
    values = np.stack(
        [z + 1, other + 1, z - 1.5 + 0.2 * rng.normal(size=n), 1.5 - z + 0.2 * rng.normal(size=n)],
        axis=1,
    ).astype(np.float32)
    observed = rng.random(values.shape) > 0.1
    values[~observed] = np.nan
    return torch.from_numpy(values), torch.from_numpy(observed)


@pytest.fixture(scope="module")
def pretrained() -> tuple[TabularTransformer, object, torch.Tensor, torch.Tensor]:
    values, observed = structured_table()
    torch.manual_seed(0)
    enc = TabularTransformer(CARDS, dim=16, depth=1, heads=2, dropout=0.0)
    result = pretrain_tabular(
        enc, (values, observed), epochs=15, mask_rate=0.3, lr=5e-3, seed=0, batch_size=128
    )
    return enc, result, values, observed


def test_pretraining_reduces_the_reconstruction_loss(pretrained):
    _, result, _, _ = pretrained
    first, last = result.history[0], result.history[-1]
    assert len(result.history) == 16 and np.isnan(first["loss"])
    assert last["reconstruction"] < 0.6 * first["reconstruction"]
    assert np.isnan(last["contrastive"])


def test_masked_categories_are_reconstructed_better_than_chance(pretrained):
    _, result, values, observed = pretrained
    held_out, held_obs = structured_table(200, seed=1)  # new rows from the same structure
    accuracy = reconstruction_accuracy_by_column(result.reconstruction, held_out, held_obs)
    counts = np.bincount(values[observed[:, 0], 0].long().numpy())
    chance = counts.max() / counts.sum()
    assert set(accuracy) == {0, 1}
    assert min(accuracy.values()) > chance + 0.3  # chance ≈ 0.27 (the commonest code)


def test_pretraining_is_seeded():
    values, observed = structured_table(64)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        enc = TabularTransformer(CARDS, dim=8, depth=1, heads=2)
        runs.append(pretrain_tabular(enc, (values, observed), epochs=3, seed=5).history)
    assert runs[0] == runs[1] or all(
        np.allclose(a[k], b[k], equal_nan=True) for a, b in zip(*runs, strict=True) for k in a
    )


def test_loss_only_uses_hidden_observed_cells():
    torch.manual_seed(0)
    enc = TabularTransformer([3, 0], dim=8, depth=1, heads=2)
    rec = TabularReconstruction(enc)
    values = torch.tensor([[1.0, 0.5], [2.0, float("nan")]])
    observed = torch.tensor([[True, True], [True, False]])
    hide = torch.tensor([[False, True], [False, True]])  # row 1's hidden cell is unobserved
    parts = rec.loss(values, observed, hide)
    assert int(parts["cells"]) == 1 and torch.isfinite(parts["loss"])
    assert np.isnan(float(parts["categorical"]))
    none = rec.loss(values, observed, torch.zeros_like(hide))
    assert float(none["loss"].detach()) == 0.0 and int(none["cells"]) == 0
    none["loss"].backward()  # still differentiable
    assert mask_cells(observed, 1.0).tolist() == observed.tolist()


def test_contrastive_pretraining_with_paired_image_embeddings():
    values, observed = structured_table(128)
    z = np.nan_to_num(values[:, 0].numpy())
    rng = np.random.default_rng(0)
    images = np.eye(5, dtype=np.float32)[z.astype(int)] + 0.05 * rng.normal(size=(128, 5))
    images[:10] = np.nan  # ten rows without an image
    torch.manual_seed(0)
    enc = TabularTransformer(CARDS, dim=16, depth=1, heads=2)
    result = pretrain_tabular(
        enc, (values, observed), epochs=8, seed=0, lr=3e-3, batch_size=64, contrastive=images
    )
    clip = [h["contrastive"] for h in result.history[1:]]
    assert np.isfinite(clip).all() and clip[-1] < clip[0]
    assert result.projections is not None and set(result.projections) == {"ehr", "image"}
    with pytest.raises(InputError, match="contrastive image embeddings"):
        pretrain_tabular(enc, (values, observed), epochs=1, contrastive=images[:5])


def test_pretrain_rejects_bad_settings():
    enc = TabularTransformer(CARDS, dim=8, depth=1, heads=2)
    values, observed = structured_table(8)
    with pytest.raises(ConfigError, match="mask_rate"):
        pretrain_tabular(enc, (values, observed), mask_rate=0.0)
    with pytest.raises(InputError, match="columns"):
        pretrain_tabular(enc, (values[:, :2], observed[:, :2]))
    with pytest.raises(InputError, match="TabularTransformer"):
        TabularReconstruction(torch.nn.Linear(1, 1))  # type: ignore[arg-type]
