"""Fundus photographs (JPEG, PNG, TIFF, DICOM ophthalmic photography) → RGB uint8.

Whatever the file holds, :func:`read_fundus` returns ``H × W × 3`` uint8 RGB: greyscale is
replicated, alpha is composited onto black (the background of a fundus photo), 16-bit data is
scaled to 8 bits by the type's range (``÷ 257``), so a dark 16-bit image stays dark.

Reads are strict, so a cohort run records a bad file rather than embedding garbage: a
truncated JPEG or PNG is refused (Pillow is asked to fail, and the end-of-image marker must be
present, because Pillow loads a PNG that lacks its last chunk without complaint), as is an
image larger than :data:`MAX_PIXELS` (checked from the header, before anything is decoded).

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> path = Path(tempfile.mkdtemp()) / "eye.png"
    >>> Image.new("L", (40, 30), 128).save(path)
    >>> image = read_fundus(path)
    >>> image.pixels.shape, image.pixels.dtype, image.meta["mode"]
    ((30, 40, 3), dtype('uint8'), 'L')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from biomm.errors import ImageReadError
from biomm.io.retina._common import check_file, sniff_format

#: Largest image accepted (pixels). Fundus cameras make ≤ 24 MP; this leaves room and stops
#: a corrupt or hostile header from allocating gigabytes (a "decompression bomb").
MAX_PIXELS = 60_000_000

_TAIL_BYTES = 65_536


@dataclass
class FundusImage:
    """A fundus photograph.

    Attributes:
        pixels: ``[H, W, 3]`` uint8 RGB.
        path: The file it came from (None when built in memory).
        meta: What the reader learned: ``format``, ``mode`` (source pixel layout),
            ``bit_depth``, ``n_frames`` and, when they happened, ``scaled_from``,
            ``alpha_composited``, ``exif_transposed``.

    Examples:
        >>> FundusImage(np.zeros((4, 6, 3), np.uint8)).shape
        (4, 6)
    """

    pixels: np.ndarray
    path: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in pixels."""
        return int(self.pixels.shape[0]), int(self.pixels.shape[1])


def read_fundus(path: str | PathLike[str], *, max_pixels: int = MAX_PIXELS) -> FundusImage:
    """Read a fundus photograph as RGB uint8.

    JPEG, PNG, BMP and other formats Pillow opens go through Pillow; TIFF (8/16-bit,
    greyscale, RGB, RGBA, palette) through tifffile; DICOM (ophthalmic photography) through
    pydicom. The format is decided by the file's bytes, not its extension.

    Args:
        path: The image file.
        max_pixels: Refuse larger images (width × height), checked before decoding.

    Raises:
        ImageReadError: Naming the file and the reason: missing, empty, not an image,
            truncated, too large, or an unsupported pixel layout.

    Examples:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = Path(tempfile.mkdtemp()) / "eye.jpg"
        >>> Image.new("RGB", (64, 48), (200, 80, 30)).save(path)
        >>> read_fundus(path).shape
        (48, 64)
        >>> _ = path.write_bytes(b"not a photo")
        >>> read_fundus(path)
        Traceback (most recent call last):
        ...
        biomm.errors.ImageReadError: ...eye.jpg: not an image Pillow can identify ...
    """
    path, head = check_file(path)
    kind = sniff_format(head)
    if kind == "tiff":
        pixels, meta = _read_tiff(path, max_pixels)
    elif kind == "dicom":
        pixels, meta = _read_dicom(path, max_pixels)
    else:
        pixels, meta = _read_pillow(path, max_pixels)
    return FundusImage(np.ascontiguousarray(pixels), path, meta)


def check_pixel_count(height: int, width: int, path: Path, max_pixels: int) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` pixels.

    Raises:
        ImageReadError: Saying the declared size and the limit.

    Examples:
        >>> check_pixel_count(100, 100, Path("a.png"), 1_000)
        Traceback (most recent call last):
        ...
        biomm.errors.ImageReadError: a.png: image is 100 × 100 = 10,000 pixels, above the limit ...
    """
    if height <= 0 or width <= 0:
        raise ImageReadError(f"image has an empty size ({width} × {height})", path=path)
    if height * width > max_pixels:
        raise ImageReadError(
            f"image is {width} × {height} = {width * height:,} pixels, above the limit of "
            f"{max_pixels:,} (max_pixels); a corrupt header or a decompression bomb?",
            path=path,
        )


def to_rgb_uint8(array: np.ndarray, path: Path, *, source: str = "") -> tuple[np.ndarray, dict]:
    """``[H, W]``, ``[H, W, 1 | 3 | 4]`` of uint8/uint16/bool/float in [0, 1] → RGB uint8.

    Raises:
        ImageReadError: For other channel counts or pixel types (int16, float outside [0, 1]).

    Examples:
        >>> rgb, meta = to_rgb_uint8(np.full((2, 2), 65535, np.uint16), Path("x.tif"))
        >>> rgb.shape, int(rgb.max()), meta["scaled_from"]
        ((2, 2, 3), 255, 'uint16')
        >>> to_rgb_uint8(np.zeros((2, 2, 2), np.uint8), Path("x.tif"))
        Traceback (most recent call last):
        ...
        biomm.errors.ImageReadError: x.tif: unsupported image mode: 2 channels ...
    """
    meta: dict[str, Any] = {}
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        channels = array.shape[2] if array.ndim == 3 else f"{array.ndim}-D"
        raise ImageReadError(
            f"unsupported image mode: {channels} channels {source}(expected grey, RGB or RGBA)",
            path=path,
        )
    if array.dtype == np.uint8:
        data = array
    elif array.dtype == np.uint16:
        data = np.round(array / 257.0).astype(np.uint8)
        meta["scaled_from"] = "uint16"
    elif array.dtype == np.bool_:
        data = array.astype(np.uint8) * 255
    elif array.dtype.kind == "f" and not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise ImageReadError(
            f"image holds {bad:,} NaN or infinite (non-finite) pixel values {source}".rstrip(),
            path=path,
        )
    elif array.dtype.kind == "f" and np.isfinite(array).all() and array.min() >= 0:
        if array.max() > 1.0:
            raise ImageReadError(
                "unsupported image mode: float pixels outside [0, 1] "
                f"(max {float(array.max()):.4g}); save as 8- or 16-bit",
                path=path,
            )
        data = np.round(array * 255.0).astype(np.uint8)
        meta["scaled_from"] = str(array.dtype)
    else:
        raise ImageReadError(
            f"unsupported image mode: pixel type {array.dtype} {source}"
            "(expected 8- or 16-bit unsigned, or float in [0, 1])",
            path=path,
        )
    if data.ndim == 2:
        return np.repeat(data[..., None], 3, axis=2), meta
    if data.shape[2] == 4:
        alpha = data[..., 3:4].astype(np.float32) / 255.0
        data = np.round(data[..., :3] * alpha).astype(np.uint8)
        meta["alpha_composited"] = True
    return data, meta


def _read_pillow(path: Path, max_pixels: int) -> tuple[np.ndarray, dict[str, Any]]:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            check_pixel_count(height, width, path, max_pixels)
            meta: dict[str, Any] = {
                "format": (image.format or "unknown").lower(),
                "mode": image.mode,
                "n_frames": int(getattr(image, "n_frames", 1)),
            }
            image.load()
            _check_complete(path, meta["format"])
            upright = image
            if _exif_orientation(image) not in (0, 1):
                upright = ImageOps.exif_transpose(image)
                meta["exif_transposed"] = True
            pixels, extra = _pil_to_rgb(upright, path)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            f"image dimensions exceed Pillow's decompression-bomb limit ({exc})", path=path
        ) from None
    except UnidentifiedImageError:
        raise ImageReadError(
            "not an image Pillow can identify (wrong extension, or a corrupt header)", path=path
        ) from None
    except OSError as exc:
        if "truncated" in str(exc).lower():
            raise ImageReadError(f"image data is truncated ({exc})", path=path) from None
        raise ImageReadError(f"cannot decode the image ({exc})", path=path) from None
    except (ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ImageReadError(
            f"cannot decode the image ({type(exc).__name__}: {exc})", path=path
        ) from None
    meta.update(extra)
    meta["bit_depth"] = 16 if "scaled_from" in extra else 8
    return pixels, meta


def _exif_orientation(image: Any) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # malformed EXIF: treat as upright, as Pillow's exif_transpose does
        return 1


def _pil_to_rgb(image: Any, path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    mode = image.mode
    if mode in ("RGB", "L", "1", "CMYK", "YCbCr") or (
        mode == "P" and "transparency" not in image.info
    ):
        return np.asarray(image.convert("RGB")), {}
    if mode in ("RGBA", "LA", "PA", "P", "RGBa", "La"):
        return to_rgb_uint8(np.asarray(image.convert("RGBA")), path)
    if mode.startswith("I;16") or mode == "I":
        array = np.asarray(image)
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ImageReadError(
                f"unsupported image mode {mode!r}: values outside the 16-bit range", path=path
            )
        return to_rgb_uint8(array.astype(np.uint16), path)
    if mode == "F":
        return to_rgb_uint8(np.asarray(image), path)
    raise ImageReadError(
        f"unsupported image mode {mode!r} (expected greyscale, RGB, RGBA or palette)", path=path
    )


def _check_complete(path: Path, fmt: str) -> None:
    """Refuse a PNG without its ``IEND`` chunk or a JPEG without its end-of-image marker."""
    markers = {"png": b"IEND\xaeB`\x82", "jpeg": b"\xff\xd9", "mpo": b"\xff\xd9"}
    marker = markers.get(fmt)
    if marker is None:
        return
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - _TAIL_BYTES))
        tail = handle.read()
    if marker not in tail:
        name = "IEND chunk" if fmt == "png" else "end-of-image marker (FFD9)"
        raise ImageReadError(f"image data is truncated: the {name} is missing", path=path)


def _read_tiff(path: Path, max_pixels: int) -> tuple[np.ndarray, dict[str, Any]]:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            check_pixel_count(int(page.imagelength), int(page.imagewidth), path, max_pixels)
            check_tiff_complete(page, path)
            array = page.asarray()
            if page.axes.startswith("S") and array.ndim == 3:  # planar (separate) samples
                array = np.moveaxis(array, 0, -1)
            photometric = getattr(page.photometric, "name", str(page.photometric))
            if photometric == "PALETTE" and page.colormap is not None:
                array = np.moveaxis(page.colormap[:, array], 0, -1)
            elif photometric == "MINISWHITE" and array.dtype.kind == "u":
                array = np.iinfo(array.dtype).max - array
            elif photometric not in ("MINISBLACK", "RGB", "YCBCR", "MINISWHITE"):
                raise ImageReadError(
                    f"unsupported image mode: TIFF photometric {photometric}", path=path
                )
            meta: dict[str, Any] = {
                "format": "tiff",
                "mode": f"{photometric.lower()} {array.dtype}",
                "n_frames": len(tif.pages),
                "bit_depth": int(page.bitspersample),
            }
    except ImageReadError:
        raise
    except (tifffile.TiffFileError, ValueError, OSError, KeyError, IndexError) as exc:
        raise ImageReadError(
            f"cannot read the TIFF ({type(exc).__name__}: {exc})", path=path
        ) from None
    pixels, extra = to_rgb_uint8(array, path, source=f"in a {meta['mode']} TIFF ")
    meta.update(extra)
    return pixels, meta


def check_tiff_complete(page: Any, path: Path) -> None:
    """Refuse a TIFF page whose strips or tiles point past the end of the file.

    Raises:
        ImageReadError: Saying how many bytes are missing.
    """
    offsets, counts = page.dataoffsets, page.databytecounts
    if not len(offsets):
        return
    end = max(int(o) + int(c) for o, c in zip(offsets, counts, strict=False))
    size = path.stat().st_size
    if end > size:
        raise ImageReadError(
            f"image data is truncated: the TIFF needs {end:,} bytes, the file has {size:,}",
            path=path,
        )


def check_ifd_chain(path: Path, max_pages: int = 1_000_000) -> int:
    """Walk a TIFF's chain of image directories; refuse one that points past the file's end.

    A multi-page TIFF cut between pages otherwise reads as a shorter stack without an error.
    Returns the number of pages.

    Raises:
        ImageReadError: When a directory offset lies beyond the end of the file, or loops.

    Examples:
        >>> import tempfile, tifffile
        >>> path = Path(tempfile.mkdtemp()) / "v.tif"
        >>> tifffile.imwrite(path, np.zeros((5, 8, 8), np.uint8), photometric="minisblack")
        >>> check_ifd_chain(path)
        5
    """
    import struct

    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(0)
        header = handle.read(16)
        order = "<" if header[:2] == b"II" else ">"
        big = struct.unpack(order + "H", header[2:4])[0] == 43
        count_fmt, entry_size, offset_fmt = ("Q", 20, "Q") if big else ("H", 12, "I")
        offset = struct.unpack(order + offset_fmt, header[8:16] if big else header[4:8])[0]
        seen: set[int] = set()
        while offset:
            if offset in seen or len(seen) >= max_pages:
                raise ImageReadError("TIFF page directories form a loop", path=path)
            seen.add(offset)
            count_size = struct.calcsize(count_fmt)
            if offset + count_size > size:
                raise ImageReadError(
                    f"image data is truncated: TIFF page {len(seen)} starts at byte {offset:,}, "
                    f"the file has {size:,}",
                    path=path,
                )
            handle.seek(offset)
            (n_entries,) = struct.unpack(order + count_fmt, handle.read(count_size))
            handle.seek(offset + count_size + n_entries * entry_size)
            raw = handle.read(struct.calcsize(offset_fmt))
            if len(raw) < struct.calcsize(offset_fmt):
                raise ImageReadError(
                    f"image data is truncated inside TIFF page {len(seen)}", path=path
                )
            (offset,) = struct.unpack(order + offset_fmt, raw)
    return len(seen)


def _read_dicom(path: Path, max_pixels: int) -> tuple[np.ndarray, dict[str, Any]]:
    from biomm.io.retina.dicom import dicom_frames, open_dicom

    ds = open_dicom(path)
    check_pixel_count(int(ds.get("Rows", 0)), int(ds.get("Columns", 0)), path, max_pixels)
    frames, meta = dicom_frames(ds, path)
    first = frames[0]
    bits = int(ds.get("BitsStored", 8) or 8)
    if first.dtype != np.uint8 and bits <= 16 and first.dtype.kind == "u":
        first = (first.astype(np.float64) / (2**bits - 1)).clip(0, 1)
    pixels, extra = to_rgb_uint8(first, path, source="in a DICOM ")
    meta.update(extra, format="dicom", bit_depth=bits)
    return pixels, meta
