"""``open_slide``: one factory over the slide backends.

``backend="auto"`` reads plain TIFF-family files (``.svs``, ``.tif``, ``.tiff``, OME-TIFF)
with tifffile first — it decodes tiles straight from the file, several times faster than
OpenSlide's region compositing, with identical pixels — and falls back to OpenSlide; every
other format (NDPI, MRXS, SCN, BIF, DICOM, …) goes to OpenSlide first. Backends are registered
in :data:`biomm.registries.SLIDE_BACKENDS`.

Examples:
    >>> from pathlib import Path
    >>> slide = open_slide(Path(__file__).parents[3] / "tests/data/wsi/CMU-1-Small-Region.svs")
    >>> slide.backend, slide.dimensions, round(slide.mpp[0], 3), slide.objective_power
    ('tifffile', (2220, 2967), 0.499, 20.0)
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from biomm.errors import SlideReadError
from biomm.io._files import missing_reason
from biomm.io.wsi.base import Slide, SlideDamagedError
from biomm.io.wsi.mpp import MppPolicy
from biomm.io.wsi.openslide_backend import OpenSlideSlide
from biomm.io.wsi.tiff_backend import TiffSlide
from biomm.registries import SLIDE_BACKENDS

TIFF_SUFFIXES = (".tif", ".tiff", ".svs", ".ome.tif", ".ome.tiff", ".qptiff", ".btf")
#: Read with tifffile first under ``auto`` (plain TIFF layouts with standard codecs).
TIFFFILE_FIRST = (".tif", ".tiff", ".svs", ".ome.tif", ".ome.tiff", ".btf")

SLIDE_BACKENDS.add("openslide", OpenSlideSlide)
SLIDE_BACKENDS.add("tifffile", TiffSlide)


def open_slide(
    path: str | PathLike[str],
    backend: str = "auto",
    *,
    mpp: float | tuple[float, float] | None = None,
    mpp_policy: MppPolicy = "require",
) -> Slide:
    """Open a whole-slide image.

    Args:
        path: The slide file (or, for DICOM, one file of the series).
        backend: ``"auto"`` or a name in :data:`biomm.registries.SLIDE_BACKENDS`
            (``"openslide"``, ``"tifffile"``).
        mpp: Level-0 µm/px overriding the metadata (e.g. from a manifest column).
        mpp_policy: ``"require"`` (no mpp → an error when a read needs it) or
            ``"objective-power"`` (assume 10 µm / objective magnification).

    Raises:
        SlideReadError: Naming the file and, for ``auto``, why each backend refused it.

    Examples:
        >>> open_slide("/no/such/slide.svs")
        Traceback (most recent call last):
        ...
        biomm.errors.SlideReadError: /no/such/slide.svs: file not found
    """
    path = Path(path)
    reason = missing_reason(path)
    if reason is not None:
        raise SlideReadError(reason, path=path)
    if path.is_dir():
        raise SlideReadError("is a folder; give one file of the slide", path=path)
    if path.stat().st_size == 0:
        raise SlideReadError("file is empty (0 bytes)", path=path)
    if backend != "auto":
        factory = SLIDE_BACKENDS.get(backend)
        return factory(path, mpp=mpp, mpp_policy=mpp_policy)
    name = path.name.lower()
    order: list[type[Slide]] = [OpenSlideSlide]
    if name.endswith(TIFFFILE_FIRST):
        order = [TiffSlide, OpenSlideSlide]
    elif name.endswith(TIFF_SUFFIXES):
        order = [OpenSlideSlide, TiffSlide]
    reasons = []
    for backend_class in order:
        try:
            return backend_class(path, mpp=mpp, mpp_policy=mpp_policy)  # type: ignore[call-arg]
        except SlideDamagedError:
            raise  # truncated or impossible: no other backend can read around it
        except SlideReadError as exc:
            reasons.append(f"{backend_class.backend}: {exc.reason}")
    raise SlideReadError("cannot open the slide (" + "; ".join(reasons) + ")", path=path)
