"""Slide-level MIL: ABMIL learns a few-positive-tiles task and points at the right tiles."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from biomm import Sample, collate
from biomm.encoders.mil import GatedAttentionMIL
from biomm.io.wsi import open_slide
from biomm.preprocess.tiling import grid_tiles
from biomm.wsi.bags import read_bag
from biomm.wsi.embed_job import write_features
from biomm.wsi.features import TileFeatures
from biomm.wsi.heatmap import colormap, save_heatmap, score_heatmap

from ..io.conftest import REAL_SLIDE


def _bags(n: int, seed: int) -> tuple[list[torch.Tensor], np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    bags, labels, positives = [], [], []
    for k in range(n):
        size = int(rng.integers(20, 60))
        x = rng.normal(0, 1, (size, 16)).astype(np.float32)
        hot = np.zeros(size, bool)
        if k % 2:
            hot[rng.choice(size, int(rng.integers(1, 4)), replace=False)] = True
            x[hot, :4] += 3.0
        bags.append(torch.from_numpy(x))
        labels.append(k % 2)
        positives.append(hot)
    return bags, np.array(labels), positives


def test_abmil_learns_and_attends_to_positive_tiles():
    torch.manual_seed(0)
    model = GatedAttentionMIL(in_dim=16, hidden_dim=16)
    head = torch.nn.Linear(16, 1)
    optimizer = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=1e-2)
    bags, labels, _ = _bags(96, seed=1)
    batch = collate(
        [Sample(f"p{k}", {"wsi": b}) for k, b in enumerate(bags)], variable_length=("wsi",)
    )
    x, mask = batch.modalities["wsi"], batch.token_masks["wsi"]
    y = torch.tensor(labels, dtype=torch.float32)
    for _ in range(150):
        optimizer.zero_grad()
        z, _ = model(x, mask)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(z).squeeze(1), y)
        loss.backward()
        optimizer.step()
    test_bags, test_labels, hot = _bags(64, seed=2)
    test = collate(
        [Sample(f"t{k}", {"wsi": b}) for k, b in enumerate(test_bags)], variable_length=("wsi",)
    )
    with torch.inference_mode():
        z, attention = model(test.modalities["wsi"], test.token_masks["wsi"])
        scores = head(z).squeeze(1).numpy()
    assert roc_auc_score(test_labels, scores) > 0.95
    # in positive bags the attention concentrates on the planted tiles
    ratios = []
    for k in np.flatnonzero(test_labels):
        a = attention[k, : len(test_bags[k])].numpy()
        ratios.append(a[hot[k]].mean() / a[~hot[k]].mean())
    assert np.median(ratios) > 5


def test_bag_round_trip_and_heatmap(tmp_path):
    slide = open_slide(REAL_SLIDE)
    grid = grid_tiles(slide, target_mpp=2.0, patch_size=64, min_tissue=0)
    brightness = np.array([slide.read(x, y, 64, 64, mpp=2.0).mean() for x, y in grid.coords])
    features = np.stack([brightness, -brightness], axis=1).astype(np.float32)
    bad = np.zeros(len(grid), bool)
    bad[0] = True
    path = tmp_path / "slide.h5"
    write_features(
        path,
        TileFeatures(features, grid.coords, bad),
        grid.tissue_fraction,
        {"patch_size_level0": grid.patch_size_level0},
    )
    bag = read_bag(path)
    assert bag.features.shape == (len(grid) - 1, 2)  # the bad tile is left out
    dark = -brightness[1:]  # darker tile (tissue) → higher score
    image = score_heatmap(slide, bag.coords, dark, grid.patch_size_level0, mpp=8.0, alpha=1.0)
    ds = slide.dimensions[0] / image.shape[1]
    top, bottom = bag.coords[np.argmax(dark)], bag.coords[np.argmin(dark)]
    top_px = image[round(top[1] / ds) + 1, round(top[0] / ds) + 1]
    bottom_px = image[round(bottom[1] / ds) + 1, round(bottom[0] / ds) + 1]
    assert top_px.tolist() == colormap(np.array([1.0]))[0].tolist()
    assert bottom_px.tolist() == colormap(np.array([0.0]))[0].tolist()
    assert save_heatmap(tmp_path / "heat.png", image).stat().st_size > 0
