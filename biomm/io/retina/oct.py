"""OCT volumes: multi-frame TIFF / OME-TIFF, DICOM, NumPy and single B-scan images.

A volume is ``[n_bscans, H, W]``: B-scans along the first axis (``z``, the slow scan),
depth down the rows (``y``, axial) and A-scans across the columns (``x``, lateral). Voxel
spacing is in mm as ``(z, y, x)``, with None where the file does not say.

Proprietary vendor files (Heidelberg ``.e2e``/``.sdb``/``.vol``, Zeiss ``.img``, Topcon
``.fds``/``.fda``, Bioptigen/Optovue ``.oct``) are refused with a message that names a
converter: their layouts are undocumented and guessing them yields silently wrong volumes.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "scan.npy"
    >>> np.save(path, np.zeros((5, 64, 32), np.uint8))
    >>> volume = read_oct(path)
    >>> volume.pixels.shape, volume.pixels.dtype, volume.spacing
    ((5, 64, 32), dtype('uint8'), (None, None, None))
    >>> select_bscans(volume, n=3).meta["bscan_indices"]
    [0, 2, 4]
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np

from biomm.errors import ImageReadError, InputError
from biomm.io._files import read_npy_header
from biomm.io.retina._common import check_file, sniff_format

#: Largest volume accepted (voxels), checked from headers before reading: 500 M voxels is
#: 2 GB as float32, above any clinical OCT cube (≈ 200 × 1024 × 1024).
MAX_VOXELS = 500_000_000

#: Vendor extensions refused, with the device they come from.
VENDOR_FORMATS = {
    ".e2e": "Heidelberg Engineering (Spectralis) .e2e",
    ".sdb": "Heidelberg Engineering .sdb",
    ".vol": "Heidelberg Engineering raw export .vol",
    ".img": "Carl Zeiss Meditec (Cirrus) .img",
    ".fds": "Topcon .fds",
    ".fda": "Topcon .fda",
    ".oct": "Bioptigen / Optovue .oct",
}

Spacing = tuple[float | None, float | None, float | None]

_UNIT_TO_MM = {
    "nm": 1e-6,
    "µm": 1e-3,
    "μm": 1e-3,
    "um": 1e-3,
    "micron": 1e-3,
    "microns": 1e-3,
    "mm": 1.0,
    "cm": 10.0,
    "m": 1e3,
}


@dataclass
class OCTVolume:
    """An OCT volume.

    Attributes:
        pixels: ``[n_bscans, H, W]``, uint8 when the file is 8-bit, else float32 (values as
            stored, not rescaled).
        spacing: ``(z, y, x)`` voxel spacing in mm; None where unknown.
        path: The file it came from (None when built in memory).
        meta: ``format``, ``source_shape``, ``axis_order``, ``spacing_source`` and, after
            :func:`select_bscans`, ``bscan_indices``.

    Examples:
        >>> OCTVolume(np.zeros((3, 8, 8), np.uint8)).n_bscans
        3
    """

    pixels: np.ndarray
    spacing: Spacing = (None, None, None)
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_bscans(self) -> int:
        """Number of B-scans."""
        return int(self.pixels.shape[0])


def read_oct(
    path: str | PathLike[str], *, axis_order: str | None = None, max_voxels: int = MAX_VOXELS
) -> OCTVolume:
    """Read an OCT volume as ``[n_bscans, H, W]``.

    Supported, decided by the file's bytes: multi-page TIFF and OME-TIFF (spacing from OME
    ``PhysicalSize*`` or ImageJ metadata), DICOM (Ophthalmic Tomography or any multi-frame
    image; spacing from Pixel Measures), NumPy ``.npy`` and ``.npz`` (key ``volume``, optional
    ``spacing`` of three floats in mm), and a single B-scan as PNG/JPEG/TIFF. A 2-D image is a
    one-B-scan volume; colour is converted to luminance.

    Args:
        path: The volume file.
        axis_order: The axes of the stored array as read (TIFF pages × rows × columns, DICOM
            frames × rows × columns, NumPy axes), as a permutation of ``"zyx"``; default
            ``"zyx"``, or the OME-TIFF's own axes. ``"yzx"`` says the file's first axis is
            depth, and so on.
        max_voxels: Refuse larger volumes, checked before reading.

    Raises:
        ImageReadError: Naming the file and the reason (missing, empty, truncated, too large,
            not a volume, or a vendor format with the converter to use).
        InputError: When ``axis_order`` is not a permutation of ``"zyx"``.

    Examples:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "scan.e2e"
        >>> _ = path.write_bytes(b"CMDb" + bytes(200))
        >>> read_oct(path)
        Traceback (most recent call last):
        ...
        biomm.errors.ImageReadError: ...scan.e2e: Heidelberg Engineering (Spectralis) .e2e is ...
    """
    order = _check_axis_order(axis_order)
    path, head = check_file(path)
    kind = sniff_format(head)
    if kind == "tiff":
        array, spacing, meta = _read_tiff_volume(path, max_voxels, order is not None)
    elif kind == "dicom":
        array, spacing, meta = _read_dicom_volume(path, max_voxels)
    elif kind == "npy":
        array, spacing, meta = _read_npy(path, max_voxels)
    elif kind == "zip" and path.suffix.lower() == ".npz":
        array, spacing, meta = _read_npz(path, max_voxels)
    elif kind in ("png", "jpeg", "bmp"):
        from biomm.io.retina.fundus import read_fundus

        rgb = read_fundus(path, max_pixels=max_voxels).pixels
        array, spacing, meta = rgb, (None, None, None), {"format": kind, "colour": True}
    elif path.suffix.lower() in VENDOR_FORMATS:
        raise ImageReadError(_vendor_message(path.suffix.lower()), path=path)
    else:
        raise ImageReadError(
            "not a supported OCT file: expected TIFF/OME-TIFF, DICOM, .npy, .npz (key "
            "'volume') or a PNG/JPEG B-scan",
            path=path,
        )
    meta["source_shape"] = tuple(int(s) for s in array.shape)
    array = _to_volume(array, path, colour=bool(meta.pop("colour", False)))
    if order is not None and order != "zyx":
        axes = [order.index(c) for c in "zyx"]
        array = np.transpose(array, axes)
        spacing = tuple(spacing[i] for i in axes)  # type: ignore[assignment]
    meta["axis_order"] = order or "zyx"
    return OCTVolume(np.ascontiguousarray(array), spacing, path, meta)


def _check_axis_order(axis_order: str | None) -> str | None:
    if axis_order is None:
        return None
    order = str(axis_order).lower()
    if sorted(order) != ["x", "y", "z"]:
        raise InputError(
            f"axis_order must be a permutation of 'zyx' (e.g. 'zyx', 'yzx'), got {axis_order!r}"
        )
    return order


def _vendor_message(suffix: str) -> str:
    return (
        f"{VENDOR_FORMATS[suffix]} is a proprietary vendor format that biomm does not read. "
        "Export the scan as DICOM (Ophthalmic Tomography) from the device software, or convert "
        "it with oct-converter (pip install oct-converter; its readers E2E, IMG, FDS, FDA, BOCT "
        "and POCT return volumes whose B-scans you can save with numpy.save) and read the "
        "DICOM or .npy file"
    )


def _to_volume(array: np.ndarray, path: Path, *, colour: bool) -> np.ndarray:
    """Colour → luminance, squeeze, 2-D → one B-scan, dtype → uint8 or float32."""
    if colour or (array.ndim == 4 and array.shape[-1] in (3, 4)):
        array = _luminance(array[..., :3])
    while array.ndim > 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or min(array.shape) == 0:
        raise ImageReadError(
            f"not an OCT volume: array of shape {array.shape} (expected [n_bscans, H, W])",
            path=path,
        )
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind not in "uifb":
        raise ImageReadError(f"unsupported voxel type {array.dtype}", path=path)
    volume = array.astype(np.float32)
    bad = int((~np.isfinite(volume)).sum())
    if bad:
        raise ImageReadError(f"volume holds {bad:,} NaN or infinite voxels", path=path)
    return volume


def _luminance(rgb: np.ndarray) -> np.ndarray:
    weights = np.asarray([0.299, 0.587, 0.114], np.float32)
    grey = rgb.astype(np.float32) @ weights
    return np.round(grey).astype(np.uint8) if rgb.dtype == np.uint8 else grey


def _check_voxels(shape: tuple[int, ...], path: Path, max_voxels: int) -> None:
    voxels = int(np.prod(shape, dtype=np.int64))
    if voxels > max_voxels:
        raise ImageReadError(
            f"volume of shape {tuple(shape)} has {voxels:,} voxels, above the limit of "
            f"{max_voxels:,} (max_voxels); a corrupt header?",
            path=path,
        )


def _read_tiff_volume(
    path: Path, max_voxels: int, user_axes: bool
) -> tuple[np.ndarray, Spacing, dict[str, Any]]:
    import tifffile

    from biomm.io.retina.fundus import check_ifd_chain, check_tiff_complete

    try:
        check_ifd_chain(path)
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            _check_voxels(series.shape, path, max_voxels)
            for page in series.pages:
                if page is not None and hasattr(page, "dataoffsets"):
                    check_tiff_complete(page, path)
            array = series.asarray()
            axes = series.axes
            kind = "ome-tiff" if tif.is_ome else "imagej-tiff" if tif.is_imagej else "tiff"
            spacing: Spacing = (None, None, None)
            if tif.is_ome:
                spacing = _ome_spacing(tif.ome_metadata)
            elif tif.is_imagej:
                spacing = _imagej_spacing(tif.imagej_metadata or {}, tif.pages.first)
    except ImageReadError:
        raise
    except (tifffile.TiffFileError, ValueError, OSError, KeyError, IndexError) as exc:
        raise ImageReadError(
            f"cannot read the TIFF ({type(exc).__name__}: {exc})", path=path
        ) from None
    meta: dict[str, Any] = {"format": kind, "tiff_axes": axes}
    array, meta["colour"] = _reorder_tiff_axes(array, axes, path, user_axes)
    meta["spacing_source"] = kind if any(s is not None for s in spacing) else "none"
    return array, spacing, meta


def _reorder_tiff_axes(
    array: np.ndarray, axes: str, path: Path, user_axes: bool
) -> tuple[np.ndarray, bool]:
    """Squeeze singleton axes; return the array and whether its last axis is colour."""
    keep = [i for i, (a, n) in enumerate(zip(axes, array.shape, strict=True)) if n > 1 or a in "YX"]
    array = array.reshape([array.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    colour = bool(axes) and axes[-1] in "SC" and array.shape[-1] in (3, 4)
    stack = [a for a in axes[: -1 if colour else None] if a not in "YX"]
    if len(stack) > 1 and not user_axes:
        raise ImageReadError(
            f"TIFF has more than one stack axis ({axes}, shape {array.shape}): export a single "
            "volume, or read it as NumPy and pass axis_order",
            path=path,
        )
    return array, colour


def _ome_spacing(xml: str | None) -> Spacing:
    import tifffile

    try:
        image = tifffile.xml2dict(xml or "")["OME"]["Image"]
        pixels = (image[0] if isinstance(image, list) else image)["Pixels"]
    except (KeyError, IndexError, TypeError, ValueError):
        return (None, None, None)

    def size(axis: str) -> float | None:
        value = pixels.get(f"PhysicalSize{axis}")
        factor = _UNIT_TO_MM.get(str(pixels.get(f"PhysicalSize{axis}Unit", "µm")))
        return None if value is None or factor is None else float(value) * factor

    return (size("Z"), size("Y"), size("X"))


def _imagej_spacing(meta: dict[str, Any], page: Any) -> Spacing:
    factor = _UNIT_TO_MM.get(str(meta.get("unit", "")).replace("\\u00B5", "µ"))
    if factor is None:
        return (None, None, None)
    z = meta.get("spacing")
    try:
        x_res, y_res = (float(r) for r in page.resolution)
    except (TypeError, ValueError, AttributeError):
        x_res = y_res = 0.0
    return (
        None if z is None else float(z) * factor,
        factor / y_res if y_res > 0 else None,
        factor / x_res if x_res > 0 else None,
    )


def _read_dicom_volume(path: Path, max_voxels: int) -> tuple[np.ndarray, Spacing, dict[str, Any]]:
    from biomm.io.retina.dicom import dicom_frames, dicom_spacing, open_dicom

    ds = open_dicom(path)
    shape = (
        int(ds.get("NumberOfFrames", 1) or 1),
        int(ds.get("Rows", 0) or 0),
        int(ds.get("Columns", 0) or 0),
    )
    _check_voxels(shape, path, max_voxels)
    frames, meta = dicom_frames(ds, path)
    spacing, source = dicom_spacing(ds)
    meta.update(format="dicom", spacing_source=source)
    return frames, spacing, meta


def _check_array(array: np.ndarray, path: Path) -> None:
    if array.dtype.hasobject or array.dtype.kind not in "uifb":
        raise ImageReadError(f"array of type {array.dtype} is not an image volume", path=path)


def _npy_header(handle: Any, path: Path, what: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a ``.npy`` header (the handle is left at the start of the data)."""
    try:
        shape, dtype = read_npy_header(handle)
    except (ValueError, OSError, EOFError) as exc:
        raise ImageReadError(
            f"cannot read the {what}: its header is corrupt ({exc})", path=path
        ) from None
    return tuple(int(n) for n in shape), dtype


def _read_npy(path: Path, max_voxels: int) -> tuple[np.ndarray, Spacing, dict[str, Any]]:
    with open(path, "rb") as handle:
        shape, dtype = _npy_header(handle, path, ".npy file")
        data_start = handle.tell()
    if dtype.hasobject:
        raise ImageReadError(
            "cannot read the .npy file: it holds Python objects (pickled data), which biomm "
            "never loads",
            path=path,
        )
    _check_voxels(shape, path, max_voxels)  # from the header, before anything is mapped
    needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    available = path.stat().st_size - data_start
    if needed > available:
        raise ImageReadError(
            f"cannot read the .npy file: it is truncated (its header declares shape {shape} of "
            f"{dtype}, {needed:,} bytes; the file holds {available:,})",
            path=path,
        )
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        text = str(exc)
        if "object" in text.lower():
            reason = "it holds Python objects (pickled data), which biomm never loads"
        elif "mmap length" in text or "size" in text:
            reason = f"it is truncated ({text})"
        else:
            reason = f"it is corrupt ({text})"
        raise ImageReadError(f"cannot read the .npy file: {reason}", path=path) from None
    _check_array(mapped, path)
    _check_voxels(mapped.shape, path, max_voxels)
    return np.array(mapped), (None, None, None), {"format": "npy", "spacing_source": "none"}


def _read_npz(path: Path, max_voxels: int) -> tuple[np.ndarray, Spacing, dict[str, Any]]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            names = {Path(n).stem: n for n in members}
            twice = sorted({n for n in members if members.count(n) > 1})
            if twice:
                raise ImageReadError(
                    f"the .npz holds {', '.join(twice)} more than once (which one is the scan?)",
                    path=path,
                )
            if "volume" not in names:
                raise ImageReadError(
                    f"the .npz has no 'volume' array (arrays: {sorted(names)})", path=path
                )
            with archive.open(names["volume"]) as member:
                version = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape = read_header(member)[0]
            _check_voxels(tuple(shape), path, max_voxels)
        with np.load(path, allow_pickle=False) as data:
            volume = np.asarray(data["volume"])
            raw_spacing = np.asarray(data["spacing"]) if "spacing" in data else None
    except ImageReadError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ImageReadError(
            f"cannot read the .npz file, truncated or corrupt ({type(exc).__name__}: {exc})",
            path=path,
        ) from None
    _check_array(volume, path)
    spacing: Spacing = (None, None, None)
    if raw_spacing is not None:
        numeric = raw_spacing.dtype.kind in "iuf"
        if (
            not numeric
            or raw_spacing.shape != (3,)
            or not np.all(np.isfinite(raw_spacing))
            or not np.all(raw_spacing > 0)
        ):
            raise ImageReadError(
                f"'spacing' must be three positive numbers (z, y, x) in mm, got {raw_spacing}",
                path=path,
            )
        spacing = tuple(float(s) for s in raw_spacing)  # type: ignore[assignment]
    source = "npz" if raw_spacing is not None else "none"
    return volume, spacing, {"format": "npz", "spacing_source": source}


def select_bscans(
    volume: OCTVolume, n: int, strategy: Literal["uniform", "center"] = "uniform"
) -> OCTVolume:
    """Keep at most ``n`` B-scans: evenly spread (``uniform``) or the central ``n``.

    The central B-scans of a macular cube pass through the fovea. The ``z`` spacing becomes
    the mean distance between kept B-scans; ``meta["bscan_indices"]`` records which were kept.

    Raises:
        InputError: For ``n < 1`` or an unknown strategy.

    Examples:
        >>> vol = OCTVolume(np.zeros((9, 4, 4), np.uint8), spacing=(0.1, 0.004, 0.01))
        >>> kept = select_bscans(vol, 3, "center")
        >>> kept.meta["bscan_indices"], kept.spacing[0]
        ([3, 4, 5], 0.1)
        >>> round(select_bscans(vol, 3).spacing[0], 3)
        0.4
    """
    if int(n) < 1:
        raise InputError(f"n must be at least 1, got {n}")
    total = volume.n_bscans
    if strategy == "uniform":
        indices = np.unique(np.round(np.linspace(0, total - 1, min(n, total))).astype(int))
    elif strategy == "center":
        start = max(0, (total - n) // 2)
        indices = np.arange(start, min(total, start + n))
    else:
        raise InputError(f"strategy must be 'uniform' or 'center', got {strategy!r}")
    z = volume.spacing[0]
    if z is not None and len(indices) > 1:
        z = z * float(np.diff(indices).mean())
    meta = {**volume.meta, "bscan_indices": [int(i) for i in indices]}
    return replace(
        volume,
        pixels=volume.pixels[indices],
        spacing=(z, volume.spacing[1], volume.spacing[2]),
        meta=meta,
    )


def resize_bscans(volume: OCTVolume, height: int, width: int | None = None) -> OCTVolume:
    """Resample every B-scan to ``height × width`` (bilinear, antialiased when shrinking).

    The ``y``/``x`` spacing is scaled to match; uint8 stays uint8.

    Examples:
        >>> vol = OCTVolume(np.zeros((2, 100, 50), np.uint8), spacing=(None, 0.004, 0.01))
        >>> small = resize_bscans(vol, 50, 25)
        >>> small.pixels.shape, small.spacing
        ((2, 50, 25), (None, 0.008, 0.02))
    """
    import torch
    import torch.nn.functional as F

    width = height if width is None else width
    if height < 1 or width < 1:
        raise InputError(f"B-scan size must be positive, got {height} × {width}")
    _, h, w = volume.pixels.shape
    x = torch.from_numpy(np.ascontiguousarray(volume.pixels)).float().unsqueeze(1)
    if (h, w) != (height, width):
        x = F.interpolate(
            x, size=(height, width), mode="bilinear", antialias=True, align_corners=False
        )
    out = x.squeeze(1).numpy()
    if volume.pixels.dtype == np.uint8:
        out = np.clip(np.round(out), 0, 255).astype(np.uint8)
    sz, sy, sx = volume.spacing
    spacing = (
        sz,
        None if sy is None else sy * h / height,
        None if sx is None else sx * w / width,
    )
    return replace(volume, pixels=out, spacing=spacing)
