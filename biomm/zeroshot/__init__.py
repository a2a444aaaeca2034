"""Zero-shot classification from text prompts, shared by slides, tiles, ECGs and reports."""

from biomm.zeroshot.classifier import ZeroShotClassifier, build_class_embeddings
from biomm.zeroshot.mil import topk_pool

__all__ = ["ZeroShotClassifier", "build_class_embeddings", "topk_pool"]
