"""MI-Zero-style zero-shot slide classification: pool tile–class similarities per class.

For each class, the slide score is the mean of its ``k`` highest tile similarities (top-K
mean pooling, Lu et al., MI-Zero); scores are then softmaxed over classes.

Examples:
    >>> import torch
    >>> sims = torch.tensor([[0.1, 0.9], [0.2, 0.1], [0.3, 0.2]])  # 3 tiles × 2 classes
    >>> topk_pool(sims, k=1).tolist()
    [0.30000001192092896, 0.8999999761581421]
"""

from __future__ import annotations

import torch

from biomm.errors import InputError
from biomm.zeroshot.classifier import ZeroShotClassifier


def topk_pool(similarities: torch.Tensor, k: int = 50) -> torch.Tensor:
    """Per-class mean of the ``k`` largest tile similarities (all tiles when fewer).

    Args:
        similarities: ``[N_tiles, C]``.
        k: Tiles pooled per class.

    Examples:
        >>> topk_pool(torch.tensor([[1.0], [3.0], [2.0]]), k=2).tolist()
        [2.5]
    """
    if similarities.ndim != 2 or similarities.shape[0] == 0:
        raise InputError(f"need [N_tiles > 0, C] similarities, got {tuple(similarities.shape)}")
    k = max(1, min(int(k), similarities.shape[0]))
    return similarities.topk(k, dim=0).values.mean(0)


def classify_slide(
    classifier: ZeroShotClassifier, tile_embeddings: torch.Tensor, k: int = 50
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-shot slide probabilities and the tile–class similarities (for heatmaps).

    Args:
        classifier: Built with the vision–language model's text tower.
        tile_embeddings: ``[N, D]`` image-tower embeddings of the slide's tiles.
        k: Tiles pooled per class.

    Returns:
        ``(probabilities [C], similarities [N, C])``.

    Examples:
        >>> import torch
        >>> enc = lambda texts: torch.eye(2)[[0 if "tumor" in t else 1 for t in texts]]
        >>> clf = ZeroShotClassifier(enc, ["tumor", "normal"])
        >>> tiles = torch.tensor([[0.0, 1.0]] * 8 + [[1.0, 0.0]] * 2)
        >>> probs, _ = classify_slide(clf, tiles, k=2)
        >>> clf.class_names[int(probs.argmax())]
        'tumor'
    """
    similarities = classifier.similarity(tile_embeddings)
    pooled = topk_pool(similarities, k)
    return (classifier.temperature * pooled).softmax(-1), similarities
