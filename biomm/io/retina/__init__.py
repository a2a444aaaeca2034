"""Retinal images: fundus photographs and OCT volumes, read strictly with their metadata.

Examples:
    >>> from biomm.io.retina import OCTVolume, read_fundus, read_oct
    >>> sorted(VENDOR_FORMATS)[:3]
    ['.e2e', '.fda', '.fds']
"""

from biomm.io.retina.fundus import MAX_PIXELS, FundusImage, read_fundus
from biomm.io.retina.oct import (
    MAX_VOXELS,
    VENDOR_FORMATS,
    OCTVolume,
    read_oct,
    resize_bscans,
    select_bscans,
)

__all__ = [
    "MAX_PIXELS",
    "MAX_VOXELS",
    "VENDOR_FORMATS",
    "FundusImage",
    "OCTVolume",
    "read_fundus",
    "read_oct",
    "resize_bscans",
    "select_bscans",
]
