"""Modality encoders, built by name from :data:`biomm.registries.ENCODERS`.

Examples:
    >>> from biomm.encoders import list_encoders
    >>> "efficientnet_lite0" in list_encoders()
    True
"""

from __future__ import annotations

from typing import Any

from biomm.encoders import ecg as _ecg  # noqa: F401  (registers resnet1d*/vit1d_*)
from biomm.encoders import image as _image  # noqa: F401  (registers the image encoders)
from biomm.encoders import mil as _mil  # noqa: F401  (registers the bag aggregators)
from biomm.encoders import resnet as _resnet  # noqa: F401  (registers resnet18/50)
from biomm.encoders import retina as _retina  # noqa: F401  (registers monai_densenet121/resnet)
from biomm.encoders import tabular as _tabular  # noqa: F401  (registers tabular_transformer)
from biomm.encoders import text as _text  # noqa: F401  (registers hf_text)
from biomm.encoders import vision_language as _vl  # noqa: F401  (registers hf_clip)
from biomm.encoders.base import Encoder, ImageInput
from biomm.registries import ENCODERS


def build_encoder(name: str, /, **kwargs: Any) -> Encoder:
    """Build a registered encoder by name (``efficientnet_lite0``, ``hf_image``, …).

    Examples:
        >>> build_encoder("efficientnet_lite0", weights=None).embed_dim
        1280
    """
    return ENCODERS.build(name, **kwargs)


def list_encoders() -> list[str]:
    """Registered encoder names.

    Examples:
        >>> list_encoders()
        ['abmil', 'efficientnet_lite0', 'hf_clip', 'hf_image', 'hf_text', 'mil_max', 'mil_mean',
         'monai_densenet121', 'monai_resnet', 'resnet18', 'resnet1d18', 'resnet1d34', 'resnet1d50',
         'resnet50', 'tabular_transformer', 'vit1d_base', 'vit1d_small', 'vit1d_tiny']
    """
    return ENCODERS.names()


__all__ = ["Encoder", "ImageInput", "build_encoder", "list_encoders"]
