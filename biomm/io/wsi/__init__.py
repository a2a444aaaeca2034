"""Whole-slide images: readers in µm/px over OpenSlide and tifffile, and an in-memory slide.

Examples:
    >>> import numpy as np
    >>> from biomm.io.wsi import VirtualSlide
    >>> VirtualSlide(np.zeros((64, 64, 3), np.uint8), mpp=0.25).thumbnail(mpp=1.0).shape
    (16, 16, 3)
"""

from biomm.io.wsi.base import Slide, SlideDamagedError
from biomm.io.wsi.factory import open_slide
from biomm.io.wsi.mpp import MPP_POLICIES, MppResolution, resolve_mpp
from biomm.io.wsi.openslide_backend import OpenSlideSlide
from biomm.io.wsi.tiff_backend import TiffSlide
from biomm.io.wsi.virtual import VirtualSlide

__all__ = [
    "MPP_POLICIES",
    "MppResolution",
    "OpenSlideSlide",
    "Slide",
    "SlideDamagedError",
    "TiffSlide",
    "VirtualSlide",
    "open_slide",
    "resolve_mpp",
]
