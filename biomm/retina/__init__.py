"""Retina workflows: training transforms, the OCT volume encoder and cohort embedders.

Names load on first use (MONAI and the encoders are imported only when needed).

Examples:
    >>> import biomm.retina as retina
    >>> retina.FundusEmbedder.modality, retina.OCTEmbedder.modality
    ('fundus', 'oct')
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FundusEmbedder": "biomm.retina.embedding",
    "OCTEmbedder": "biomm.retina.embedding",
    "OCTVolumeEncoder": "biomm.retina.oct_encoder",
    "FOVCropd": "biomm.retina.transforms",
    "FundusToTensord": "biomm.retina.transforms",
    "ModalityCompose": "biomm.retina.transforms",
    "OCTToTensord": "biomm.retina.transforms",
    "fundus_train_transforms": "biomm.retina.transforms",
    "oct_train_transforms": "biomm.retina.transforms",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'biomm.retina' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = sorted(_LAZY)
