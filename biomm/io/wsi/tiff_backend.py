"""tifffile backend: tiled or stripped (Big)TIFF and OME-TIFF pyramids that OpenSlide refuses.

Regions are read segment by segment (only the tiles or strips a region touches are read and
decoded, with ``os.pread`` so that threads can share one handle), so memory does not grow with
slide size.

Examples:
    >>> import numpy as np, tempfile, pathlib, tifffile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "plain.tif"
    >>> tifffile.imwrite(p, np.full((300, 500, 3), 9, np.uint8), tile=(128, 128),
    ...                  resolution=(20000, 20000), resolutionunit="CENTIMETER")
    >>> with TiffSlide(p) as slide:
    ...     slide.mpp, slide.read_level(450, 250, 0, 100, 100)[0, 0].tolist()
    ((0.5, 0.5), [9, 9, 9])
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from biomm.errors import SlideReadError
from biomm.io.wsi.base import Slide, SlideDamagedError, white_canvas
from biomm.io.wsi.mpp import MppPolicy, tiff_resolution_mpp


def _tag(page: Any, name: str) -> Any:
    tag = page.tags.get(name)
    return None if tag is None else tag.value


def _pyramid_pages(tif: Any) -> list[Any]:
    """Level pages, largest first.

    The series' own levels (SubIFDs, OME) when it has several, else the top-level tiled pages
    that share page 0's samples and aspect ratio (generic and SVS pyramids).
    """
    series = tif.series[0]
    if len(series.levels) > 1:
        return [level.keyframe for level in series.levels]
    base = tif.pages[0]
    pages = [base]
    aspect = base.imagewidth / base.imagelength
    for page in tif.pages[1:]:
        page = page.keyframe if hasattr(page, "keyframe") else page
        if not page.is_tiled or page.samplesperpixel != base.samplesperpixel:
            continue
        if page.imagewidth >= pages[-1].imagewidth:
            continue
        if abs(page.imagewidth / page.imagelength - aspect) / aspect > 0.02:
            continue
        pages.append(page)
    return pages


class _TifffileMessages(logging.Filter):
    """Hold back what tifffile logs while this thread opens a slide, to put it in the error.

    tifffile logs the real cause of some failures ("invalid offset to first page 609822") and
    then raises something vague (``IndexError``); a cohort run should show one clear error per
    slide, not stray log lines. Other threads and other times are untouched.
    """

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        held = getattr(self._local, "messages", None)
        if held is None:
            return True
        held.append(record.getMessage().split("> ", 1)[-1])  # drop tifffile's object repr
        return False

    @contextlib.contextmanager
    def held(self) -> Iterator[list[str]]:
        self._local.messages = messages = []
        try:
            yield messages
        finally:
            self._local.messages = None


_TIFFFILE_MESSAGES = _TifffileMessages()
logging.getLogger("tifffile").addFilter(_TIFFFILE_MESSAGES)


def _with_cause(reason: str, messages: list[str]) -> str:
    """``reason`` plus what tifffile logged while failing (its first distinct lines)."""
    said = list(dict.fromkeys(m for m in messages if m))[:2]
    return f"{reason}; tifffile: {'; '.join(said)}" if said else reason


class TiffSlide(Slide):
    """A TIFF/OME-TIFF slide read with tifffile (+ imagecodecs for JPEG, JPEG 2000, LZW…).

    Args:
        path: The TIFF file.
        mpp: Level-0 µm/px overriding the metadata.
        mpp_policy: What to do when the file has no resolution.

    Raises:
        SlideReadError: When the file is not a readable TIFF image.

    Examples:
        >>> from pathlib import Path
        >>> TiffSlide(Path(__file__).parents[3] / "tests/data/wsi/CMU-1-Small-Region.svs").mpp
        (0.499, 0.499)
    """

    backend = "tifffile"

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        mpp: float | tuple[float, float] | None = None,
        mpp_policy: MppPolicy = "require",
    ) -> None:
        import tifffile

        path = Path(path)
        with _TIFFFILE_MESSAGES.held() as messages:
            try:
                tif = tifffile.TiffFile(path)
            except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError) as exc:
                reason = _with_cause(f"not a readable TIFF: {exc}", messages)
                raise SlideReadError(reason, path=path) from None
            except Exception as exc:  # tifffile raises other types on corrupt directories
                reason = f"not a readable TIFF ({type(exc).__name__}: {exc})"
                raise SlideReadError(_with_cause(reason, messages), path=path) from None
            try:
                pages = _pyramid_pages(tif)
                _check_pages(pages, path)
            except SlideReadError:
                tif.close()
                raise
            except Exception as exc:  # corrupt tags: zero sizes, missing tile tags, bad values
                tif.close()
                reason = f"not a readable TIFF ({type(exc).__name__}: {exc})"
                raise SlideReadError(_with_cause(reason, messages), path=path) from None
        base = pages[0]
        self._tif = tif
        self._pages = pages
        self._fd = os.open(path, os.O_RDONLY)
        description = str(_tag(base, "ImageDescription") or "")
        properties = {"tiff.ImageDescription": description[:2000]}
        metadata = tiff_resolution_mpp(
            _tag(base, "XResolution"), _tag(base, "YResolution"), _tag(base, "ResolutionUnit")
        )
        objective = None
        if "|" in description:  # Aperio-style key = value pairs
            for item in description.split("|")[1:]:
                key, _, value = item.partition("=")
                properties[f"aperio.{key.strip()}"] = value.strip()
            objective = _number(properties.get("aperio.AppMag"))
        mpp_values = [v.strip() for k, v in _key_values(description) if k == "MPP"]
        mpp_note = None
        if len(set(mpp_values)) > 1:
            metadata = None
            mpp_note = f"conflicting MPP values in the description: {', '.join(mpp_values)}"
        elif mpp_values:
            value = _number(mpp_values[0])
            if value is None:
                metadata = None
                mpp_note = f"MPP {mpp_values[0]!r} in the description is not a number"
            else:
                metadata = (value, value)
        super().__init__(
            path=path,
            level_dimensions=tuple((p.imagewidth, p.imagelength) for p in pages),
            metadata_mpp=metadata,
            objective_power=objective,
            vendor=(
                "aperio"
                if description.startswith("Aperio")
                else "ome-tiff"
                if tif.is_ome
                else "generic-tiff"
            ),
            properties=properties,
            mpp=mpp,
            mpp_policy=mpp_policy,
            metadata_warning=mpp_note,
        )

    def _segment(self, page: Any, index: int) -> np.ndarray:
        offset, count = page.dataoffsets[index], page.databytecounts[index]
        data = os.pread(self._fd, count, offset) if count else None
        segment, _, shape = page.decode(data, index, jpegtables=page.jpegtables)
        if segment is None:  # missing (sparse) segment: white
            return np.full(shape[-3:], 255, np.uint8)
        return np.asarray(segment).reshape(shape[-3:])

    def read_level(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """Read a region of one level from the segments it touches.

        Raises:
            SlideReadError: When a segment cannot be decoded.
        """
        if not 0 <= level < self.level_count:
            raise SlideReadError(f"level {level} does not exist", path=self.path)
        page = self._pages[level]
        ds = self.level_downsamples[level]
        lx, ly = round(x / ds), round(y / ds)
        img_w, img_h = page.imagewidth, page.imagelength
        inside = lx >= 0 and ly >= 0 and lx + width <= img_w and ly + height <= img_h
        # every pixel of a region inside the image is overwritten below: skip the white fill
        out = np.empty((height, width, 3), np.uint8) if inside else white_canvas(width, height)
        if page.is_tiled:
            seg_w, seg_h = page.tilewidth, page.tilelength
        else:
            seg_w, seg_h = img_w, page.rowsperstrip or img_h
        across = -(-img_w // seg_w)
        x0, y0 = max(lx, 0), max(ly, 0)
        x1, y1 = min(lx + width, img_w), min(ly + height, img_h)
        if x1 <= x0 or y1 <= y0:
            return out
        for ty in range(y0 // seg_h, (y1 - 1) // seg_h + 1):
            for tx in range(x0 // seg_w, (x1 - 1) // seg_w + 1):
                index = ty * across + tx
                try:
                    segment = self._segment(page, index)
                except Exception as exc:  # codecs raise many types on corrupt data
                    raise SlideReadError(
                        f"cannot decode {'tile' if page.is_tiled else 'strip'} {index} of "
                        f"level {level} ({type(exc).__name__}: {exc})",
                        path=self.path,
                    ) from None
                if segment.ndim == 2:
                    segment = segment[..., None]
                if segment.shape[2] == 1:
                    segment = np.repeat(segment, 3, axis=2)
                if segment.dtype.kind == "f" and not np.isfinite(segment).all():
                    raise SlideReadError(
                        f"{'tile' if page.is_tiled else 'strip'} {index} of level {level} holds "
                        "NaN or infinite (non-finite) pixel values",
                        path=self.path,
                    )
                sx, sy = tx * seg_w, ty * seg_h
                ix0, iy0 = max(x0, sx), max(y0, sy)
                ix1 = min(x1, sx + segment.shape[1])
                iy1 = min(y1, sy + segment.shape[0])
                if ix1 <= ix0 or iy1 <= iy0:
                    continue
                out[iy0 - ly : iy1 - ly, ix0 - lx : ix1 - lx] = _to_uint8(
                    segment[iy0 - sy : iy1 - sy, ix0 - sx : ix1 - sx, :3]
                )
        return out

    def close(self) -> None:
        """Close the file."""
        self._tif.close()
        os.close(self._fd)


def _key_values(description: str) -> list[tuple[str, str]]:
    """The ``key = value`` items of an Aperio-style description (after the first ``|``)."""
    if "|" not in description:
        return []
    items = [item.partition("=") for item in description.split("|")[1:]]
    return [(key.strip(), value.strip()) for key, sep, value in items if sep]


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _check_pages(pages: list[Any], path: Path) -> None:
    """Refuse layouts this backend cannot read, and data that lies past the end of the file.

    Raises:
        SlideReadError: For a pixel layout or compression tifffile cannot decode (another
            backend may still read the file).
        SlideDamagedError: When a level's tiles or strips end past the end of the file (a
            truncated copy), or one tile or strip would decode to more than 1 GiB.
    """
    import tifffile

    size = path.stat().st_size
    base = pages[0]
    if base.samplesperpixel == 2 or (base.samplesperpixel < 3 and base.photometric not in (0, 1)):
        raise SlideReadError(
            f"unsupported TIFF layout: {base.samplesperpixel} samples per pixel, "
            f"photometric {base.photometric}",
            path=path,
        )
    for level, page in enumerate(pages):
        code = int(page.compression)
        if code not in tifffile.TIFF.DECOMPRESSORS:
            name = getattr(page.compression, "name", "unknown")
            raise SlideReadError(
                f"unsupported TIFF compression {code} ({name}) in level {level}: no installed "
                "codec decodes it",
                path=path,
            )
        seg_w = page.tilewidth if page.is_tiled else page.imagewidth
        seg_h = page.tilelength if page.is_tiled else (page.rowsperstrip or page.imagelength)
        seg_h = min(seg_h, page.imagelength)
        seg_bytes = seg_w * seg_h * page.samplesperpixel * max(1, page.bitspersample // 8)
        if seg_bytes > 1 << 30:
            raise SlideDamagedError(
                f"level {level} is stored in {'tiles' if page.is_tiled else 'strips'} of "
                f"{seg_w:,} × {seg_h:,} pixels ({seg_bytes:,} bytes each), too large to read "
                "piecewise (a corrupt header?)",
                path=path,
            )
        n = min(len(page.dataoffsets), len(page.databytecounts))
        offsets = np.asarray(page.dataoffsets[:n], np.int64)
        counts = np.asarray(page.databytecounts[:n], np.int64)
        ends = (offsets + counts)[counts > 0]  # a count of 0 is a sparse (empty) segment
        if len(ends) and int(ends.max()) > size:
            missing = int((ends > size).sum())
            raise SlideDamagedError(
                f"the file is truncated: {missing} of {len(ends)} "
                f"{'tiles' if page.is_tiled else 'strips'} of level {level} end past the end "
                f"of the file (it needs {int(ends.max()):,} bytes, it has {size:,})",
                path=path,
            )


def _to_uint8(values: np.ndarray) -> np.ndarray:
    if values.dtype == np.uint8:
        return values
    if values.dtype == np.uint16:
        return (values >> 8).astype(np.uint8)
    if values.dtype == bool:
        return values.astype(np.uint8) * 255
    values = values.astype(np.float32)
    top = float(values.max()) or 1.0
    return np.clip(values / top * 255, 0, 255).astype(np.uint8)
