"""Read the per-slide feature files of ``biomm wsi embed`` back as bags for slide-level models.

Examples:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from biomm.wsi.embed_job import write_features
    >>> from biomm.wsi.features import TileFeatures
    >>> p = Path(tempfile.mkdtemp()) / "s.h5"
    >>> write_features(p, TileFeatures(np.ones((3, 4), np.float32), np.zeros((3, 2), np.int64),
    ...                np.array([False, True, False])), np.ones(3, np.float32), {"encoder": "e"})
    >>> bag = read_bag(p)
    >>> tuple(bag.features.shape), bag.attrs["encoder"]
    ((2, 4), 'e')
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from biomm.errors import InputError


@dataclass
class Bag:
    """The tiles of one slide.

    Attributes:
        features: ``[N, D]`` float32 tensor.
        coords: ``[N, 2]`` level-0 ``(x, y)``.
        attrs: The file's attributes (mpp, patch sizes, encoder, provenance).
    """

    features: torch.Tensor
    coords: np.ndarray
    attrs: dict[str, Any]


def read_bag(path: str | PathLike[str], *, drop_bad: bool = True) -> Bag:
    """Read a features HDF5 (``features``, ``coords`` and optionally ``bad``).

    Args:
        path: The file.
        drop_bad: Leave out tiles flagged as unreadable (they were encoded as white).

    Raises:
        InputError: Naming the file when it is missing, not HDF5, or lacks the datasets.
    """
    path = Path(path)
    try:
        with h5py.File(path, "r") as h5:
            if "features" not in h5 or "coords" not in h5:
                raise InputError("not a features file (needs 'features' and 'coords')", path=path)
            features = np.asarray(h5["features"], dtype=np.float32)
            coords = np.asarray(h5["coords"], dtype=np.int64)
            bad = np.asarray(h5["bad"], dtype=bool) if "bad" in h5 else None
            attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in h5.attrs.items()}
    except (OSError, KeyError) as exc:
        raise InputError(f"cannot read features: {exc}", path=path) from None
    if len(features) != len(coords):
        raise InputError(f"{len(features)} feature rows but {len(coords)} coordinates", path=path)
    if drop_bad and bad is not None:
        features, coords = features[~bad], coords[~bad]
    return Bag(torch.from_numpy(features), coords, attrs)
