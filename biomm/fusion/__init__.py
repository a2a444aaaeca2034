"""Fusion of per-modality embeddings with per-sample missingness.

Parallel baselines (``concat`` with missing indicators, ``late``, ``attention``), sequential
MultiModN (``multimodn``: a state updated one modality at a time, predictions after every
step) and MM-Lego (``lego_merge`` of independently trained blocks, ``lego_fuse``).

Examples:
    >>> from biomm.registries import FUSIONS
    >>> {"concat", "late", "attention", "multimodn", "lego_merge", "lego_fuse"} <= set(FUSIONS)
    True
"""

from biomm.fusion import baselines as _baselines  # noqa: F401  (registers the fusions)
from biomm.fusion import lego as _lego  # noqa: F401
from biomm.fusion import multimodn as _multimodn  # noqa: F401
from biomm.fusion.base import Fusion

__all__ = ["Fusion"]
