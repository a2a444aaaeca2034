"""Zero-shot: class embeddings, MI-Zero pooling with a planted signal, and a real CLIP model
(tiny, built in the test) wired end to end over a slide."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biomm.encoders import build_encoder
from biomm.errors import InputError
from biomm.io.wsi import open_slide
from biomm.preprocess.tiling import grid_tiles
from biomm.wsi.features import extract_features
from biomm.zeroshot import ZeroShotClassifier, build_class_embeddings, topk_pool
from biomm.zeroshot.mil import classify_slide

from ..io.conftest import REAL_SLIDE


def _space(dim: int = 8, seed: int = 0):
    """A fake shared space: each class word owns one direction."""
    rng = np.random.default_rng(seed)
    basis = {
        w: torch.tensor(rng.normal(size=dim), dtype=torch.float32)
        for w in ("tumor", "normal", "stroma")
    }

    def encode_text(texts: list[str]) -> torch.Tensor:
        rows = []
        for t in texts:
            word = next(w for w in basis if w in t)
            rows.append(basis[word] + 0.05 * torch.randn(dim))
        return torch.stack(rows)

    return basis, encode_text


def test_templates_and_descriptions_are_averaged_and_normalised():
    basis, encode = _space()
    emb = build_class_embeddings(
        encode,
        ["tumor", "normal"],
        ["a {}.", "an image of {}."],
        {"tumor": ["tumor with atypical cells"]},
    )
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
    cos = torch.nn.functional.cosine_similarity(emb[0], basis["tumor"], dim=0)
    assert cos > 0.99
    with pytest.raises(InputError, match="placeholder"):
        build_class_embeddings(encode, ["tumor"], ["no placeholder"])
    with pytest.raises(InputError, match="at least one class"):
        build_class_embeddings(encode, [], ["{}"])


def test_mi_zero_finds_the_few_diagnostic_tiles():
    torch.manual_seed(0)
    basis, encode = _space()
    clf = ZeroShotClassifier(encode, ["tumor", "normal"], ["an image of {}."], temperature=50)
    correct = 0
    for trial in range(20):
        label = ["tumor", "normal"][trial % 2]
        # mostly non-diagnostic background (stroma is not a class), a few tiles of the class
        tiles = [basis["stroma"] + 0.3 * torch.randn(8) for _ in range(60)]
        tiles += [basis[label] + 0.3 * torch.randn(8) for _ in range(5)]
        probs, sims = classify_slide(clf, torch.stack(tiles), k=5)
        assert sims.shape == (65, 2)
        torch.testing.assert_close(probs.sum(), torch.tensor(1.0))
        correct += clf.class_names[int(probs.argmax())] == label
    assert correct >= 19
    assert topk_pool(torch.tensor([[0.0], [1.0]]), k=10).item() == 0.5  # k > tiles: all tiles


def test_dimension_mismatch_is_explained():
    _, encode = _space()
    clf = ZeroShotClassifier(encode, ["tumor"])
    with pytest.raises(InputError, match="matching image"):
        clf.similarity(torch.zeros(2, 5))


def test_tiny_clip_end_to_end_on_a_real_slide(tiny_clip):
    model = build_encoder("hf_clip", model=str(tiny_clip))
    assert model.embed_dim == 16 and model.input.size == 32
    text = model.encode_text(["an image of tumor .", "an image of normal tissue ."])
    assert text.shape == (2, 16) and torch.isfinite(text).all()
    slide = open_slide(REAL_SLIDE)
    grid = grid_tiles(slide, target_mpp=4.0, patch_size=32, min_tissue=0)
    tiles = extract_features(slide, grid, model, batch_size=16)
    assert tiles.features.shape == (len(grid), 16)
    clf = ZeroShotClassifier(
        model.encode_text, ["tumor", "normal"], ["an image of {} .", "a photo of {} tissue ."]
    )
    probs, sims = classify_slide(clf, torch.from_numpy(tiles.features), k=10)
    assert probs.shape == (2,) and abs(float(probs.sum()) - 1) < 1e-5
    again, _ = classify_slide(clf, torch.from_numpy(tiles.features), k=10)
    torch.testing.assert_close(probs, again)
    assert sims.shape == (len(grid), 2)
