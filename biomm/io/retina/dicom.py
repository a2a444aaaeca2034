"""DICOM images for the retina readers: ophthalmic photography and tomography (OCT).

Frames come from ``PixelData`` (one frame per B-scan in Ophthalmic Tomography Image
Storage). OCT voxel spacing, in mm as ``(z, y, x)`` = (between B-scans, along a column
(axial depth), along a row (lateral)), is taken from the Pixel Measures functional group
(shared, else the first frame's), else the top-level attributes:

- ``PixelSpacing`` = ``[row spacing, column spacing]`` → ``(y, x)``;
- ``SpacingBetweenSlices``, else ``SliceThickness``, else the distance between the first two
  frames' ``ImagePositionPatient`` → ``z``.

Examples:
    >>> pixel_measures_spacing({"PixelSpacing": [0.0039, 0.0117], "SliceThickness": 0.12})
    ((0.12, 0.0039, 0.0117), 'SliceThickness')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from biomm.errors import ImageReadError


def open_dicom(path: Path) -> Any:
    """Read a DICOM file that holds pixel data.

    Raises:
        ImageReadError: When the file is not DICOM or has no pixel data (e.g. a report or
            a measurement object).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        raise ImageReadError(
            f"not a readable DICOM file ({type(exc).__name__}: {exc})", path=path
        ) from None
    if "PixelData" not in ds:
        kind = _sop_name(ds)
        raise ImageReadError(f"DICOM object has no pixel data ({kind}): not an image", path=path)
    return ds


def _sop_name(ds: Any) -> str:
    uid = ds.get("SOPClassUID")
    if uid is None:
        return "no SOP class"
    name = getattr(uid, "name", "") or ""
    return name if name and name != str(uid) else str(uid)


def dicom_frames(ds: Any, path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Decoded frames ``[n, H, W]`` or ``[n, H, W, 3]`` (MONOCHROME1 inverted) and metadata.

    Raises:
        ImageReadError: When the pixel data cannot be decoded (a missing codec for a
            compressed transfer syntax, or truncated data).
    """
    try:
        array = np.asarray(ds.pixel_array)
    except Exception as exc:  # pydicom raises many types for bad or undecodable pixel data
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        hint = ""
        if syntax is not None and getattr(syntax, "is_compressed", False):
            hint = (
                f"; the pixel data is compressed ({getattr(syntax, 'name', syntax)}): install a "
                "decoder with pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg"
            )
        raise ImageReadError(
            f"cannot decode the DICOM pixel data ({type(exc).__name__}: {exc}){hint}", path=path
        ) from None
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if n_frames == 1:
        array = array[None]
    expected_ndim = 4 if samples > 1 else 3
    if array.ndim != expected_ndim:
        raise ImageReadError(
            f"unexpected DICOM pixel array shape {array.shape} for {n_frames} frame(s) of "
            f"{samples} sample(s)",
            path=path,
        )
    photometric = str(ds.get("PhotometricInterpretation", "") or "")
    if photometric == "MONOCHROME1" and array.dtype.kind in "ui":
        bits = int(ds.get("BitsStored", array.dtype.itemsize * 8) or 8)
        array = (2**bits - 1) - array if array.dtype.kind == "u" else -array
    meta = {
        "sop_class": _sop_name(ds),
        "modality": str(ds.get("Modality", "") or ""),
        "n_frames": n_frames,
        "photometric": photometric,
    }
    return array, meta


def _first_item(container: Any, keyword: str) -> Any:
    sequence = container.get(keyword) if hasattr(container, "get") else None
    return sequence[0] if sequence else None


def _measures(ds: Any) -> list[Any]:
    """Where Pixel Measures may live, most specific first, the dataset itself last."""
    places = []
    for group_keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        group = _first_item(ds, group_keyword)
        if group is not None:
            measures = _first_item(group, "PixelMeasuresSequence")
            if measures is not None:
                places.append(measures)
    places.append(ds)
    return places


def pixel_measures_spacing(
    item: Any,
) -> tuple[tuple[float | None, float | None, float | None], str | None]:
    """``(z, y, x)`` spacing in mm from one Pixel Measures item (or a dataset) and its source.

    Examples:
        >>> pixel_measures_spacing({"PixelSpacing": [0.004, 0.01]})
        ((None, 0.004, 0.01), None)
    """
    y = x = z = None
    source = None
    spacing = item.get("PixelSpacing")
    if spacing is not None and len(spacing) == 2:
        y, x = float(spacing[0]), float(spacing[1])
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        value = item.get(keyword)
        if value not in (None, "") and float(value) > 0:
            z, source = float(value), keyword
            break
    return (z, y, x), source


def dicom_spacing(ds: Any) -> tuple[tuple[float | None, float | None, float | None], str]:
    """OCT voxel spacing ``(z, y, x)`` in mm from a DICOM dataset; unknown parts are None.

    Examples:
        >>> from pydicom.dataset import Dataset
        >>> ds = Dataset(); ds.PixelSpacing = [0.0039, 0.0117]; ds.SpacingBetweenSlices = 0.047
        >>> dicom_spacing(ds)
        ((0.047, 0.0039, 0.0117), 'SpacingBetweenSlices')
    """
    z = y = x = None
    source = "none"
    for item in _measures(ds):
        (iz, iy, ix), isource = pixel_measures_spacing(item)
        if y is None and iy is not None:
            y, x = iy, ix
        if z is None and iz is not None:
            z, source = iz, str(isource)
    if z is None:
        frames = ds.get("PerFrameFunctionalGroupsSequence") or []
        positions = []
        for frame in list(frames)[:2]:
            plane = _first_item(frame, "PlanePositionSequence")
            if plane is not None and plane.get("ImagePositionPatient") is not None:
                positions.append(np.asarray(plane.ImagePositionPatient, dtype=float))
        if len(positions) == 2 and np.linalg.norm(positions[1] - positions[0]) > 0:
            z, source = float(np.linalg.norm(positions[1] - positions[0])), "ImagePositionPatient"
    return (z, y, x), source
