"""The :class:`Slide` record: a pyramid with a resolution in µm/px, read in µm/px.

Backends implement one method, :meth:`Slide.read_level` (a region of one pyramid level as RGB
uint8, white outside the slide); everything expressed in µm/px — :meth:`Slide.read`,
:meth:`Slide.thumbnail`, level choice — is shared.

Examples:
    >>> import numpy as np
    >>> from biomm.io.wsi.virtual import VirtualSlide
    >>> slide = VirtualSlide(np.zeros((400, 600, 3), np.uint8), mpp=0.25)
    >>> slide.read(0, 0, 100, 50, mpp=0.5).shape  # 100×50 px at 0.5 µm/px = 200×100 at level 0
    (50, 100, 3)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from PIL import Image

from biomm.errors import SlideReadError
from biomm.io.wsi.mpp import MppPolicy, MppResolution, resolve_mpp

#: A level is used for a target mpp when it is at most this much coarser (rounding slack).
LEVEL_TOLERANCE = 0.01
#: Largest level-0 size accepted (pixels): a 75 × 50 mm double-width glass slide scanned whole
#: at 0.1 µm/px is 3.75·10¹¹ px. A larger header is corrupt or hostile and is refused on open.
MAX_SLIDE_PIXELS = 4 * 10**11
#: Largest source window (pixels per side) one thumbnail chunk reads, bounding its memory on
#: slides without a pyramid (4096² RGB = 48 MiB).
MAX_CHUNK_SOURCE = 4096


class SlideDamagedError(SlideReadError):
    """The file is damaged in a way no backend can read around (truncated, impossible header).

    :func:`biomm.io.wsi.open_slide` does not try another backend after this error.
    """


class Slide(ABC):
    """A whole-slide image opened by one backend.

    Attributes:
        path: The slide file (None for in-memory slides).
        backend: Backend name (``"openslide"``, ``"tifffile"``, ``"virtual"``, ``"cucim"``).
        level_dimensions: ``(width, height)`` of each pyramid level, level 0 first.
        level_downsamples: Downsample of each level relative to level 0.
        objective_power: Scanner magnification when known.
        vendor: Format/vendor name when known (``"aperio"``, ``"generic-tiff"``, …).
        properties: Raw metadata as strings.
        mpp_resolution: Level-0 µm/px and its source (see :mod:`biomm.io.wsi.mpp`).
    """

    backend: str = "abstract"

    def __init__(
        self,
        *,
        path: Path | None,
        level_dimensions: tuple[tuple[int, int], ...],
        level_downsamples: tuple[float, ...] | None = None,
        metadata_mpp: tuple[float, float] | None = None,
        objective_power: float | None = None,
        vendor: str | None = None,
        properties: dict[str, str] | None = None,
        mpp: float | tuple[float, float] | None = None,
        mpp_policy: MppPolicy = "require",
        metadata_warning: str | None = None,
    ) -> None:
        if not level_dimensions or any(w <= 0 or h <= 0 for w, h in level_dimensions):
            raise SlideReadError(f"invalid level dimensions {level_dimensions}", path=path)
        w0, h0 = (int(v) for v in level_dimensions[0])
        if w0 * h0 > MAX_SLIDE_PIXELS:
            raise SlideDamagedError(
                f"the header claims level-0 dimensions of {w0:,} × {h0:,} = {w0 * h0:,} pixels, "
                f"above the {MAX_SLIDE_PIXELS:.2g} pixels of any real slide (a corrupt header?)",
                path=path,
            )
        self.path = path
        self.level_dimensions = tuple((int(w), int(h)) for w, h in level_dimensions)
        if level_downsamples is None:
            w0 = self.level_dimensions[0][0]
            level_downsamples = tuple(w0 / w for w, _ in self.level_dimensions)
        self.level_downsamples = tuple(float(d) for d in level_downsamples)
        self.objective_power = objective_power
        self.vendor = vendor
        self.properties = dict(properties or {})
        #: Thumbnail chunks that could not be decoded in the last :meth:`thumbnail` call.
        self.thumbnail_bad_chunks = 0
        self.mpp_resolution: MppResolution = resolve_mpp(
            metadata=metadata_mpp, objective_power=objective_power, user=mpp, policy=mpp_policy
        )
        if metadata_warning and self.mpp_resolution.source in (None, "objective-power"):
            warning = "; ".join(w for w in (metadata_warning, self.mpp_resolution.warning) if w)
            self.mpp_resolution = replace(self.mpp_resolution, warning=warning)

    # ---- geometry -----------------------------------------------------------------------

    @property
    def dimensions(self) -> tuple[int, int]:
        """Level-0 ``(width, height)`` in pixels."""
        return self.level_dimensions[0]

    @property
    def level_count(self) -> int:
        """Number of pyramid levels."""
        return len(self.level_dimensions)

    @property
    def mpp(self) -> tuple[float, float] | None:
        """Level-0 ``(x, y)`` µm/px, or None when unknown."""
        return self.mpp_resolution.mpp

    def require_mpp(self) -> float:
        """Level-0 µm/px (mean of x and y), or a clear error when it is unknown.

        Raises:
            SlideReadError: Naming the file and how to supply the value.

        Examples:
            >>> from biomm.io.wsi.virtual import VirtualSlide
            >>> VirtualSlide(np.zeros((8, 8, 3), np.uint8), mpp=None).require_mpp()
            Traceback (most recent call last):
            ...
            biomm.errors.SlideReadError: <memory>: the slide has no resolution (mpp) ...
        """
        mpp = self.mpp
        if mpp is None:
            extra = f" ({self.mpp_resolution.warning})" if self.mpp_resolution.warning else ""
            hint = (
                f"; its objective power is {self.objective_power:g}×: "
                "mpp_policy='objective-power' would assume "
                f"{10 / self.objective_power:g} µm/px"
                if self.objective_power
                else ""
            )
            raise SlideReadError(
                "the slide has no resolution (mpp) in its metadata"
                f"{extra}; pass mpp=... (CLI: --slide-mpp, manifest column 'mpp'){hint}",
                path=self.path or "<memory>",
            )
        return (mpp[0] + mpp[1]) / 2

    def level_mpp(self, level: int) -> float:
        """µm/px of pyramid ``level``.

        Examples:
            >>> from biomm.io.wsi.virtual import VirtualSlide
            >>> VirtualSlide(np.zeros((64, 64, 3), np.uint8), mpp=0.5, levels=2).level_mpp(1)
            1.0
        """
        return self.require_mpp() * self.level_downsamples[level]

    def best_level_for_downsample(self, downsample: float) -> int:
        """The coarsest level whose downsample does not exceed ``downsample`` (+1 % slack).

        Examples:
            >>> from biomm.io.wsi.virtual import VirtualSlide
            >>> s = VirtualSlide(np.zeros((64, 64, 3), np.uint8), mpp=0.5, levels=3)
            >>> s.level_downsamples, s.best_level_for_downsample(3.0)
            ((1.0, 2.0, 4.0), 1)
        """
        best = 0
        for level, ds in enumerate(self.level_downsamples):
            if ds <= downsample * (1 + LEVEL_TOLERANCE) and ds >= self.level_downsamples[best]:
                best = level
        return best

    # ---- reading ------------------------------------------------------------------------

    @abstractmethod
    def read_level(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """Read ``width × height`` pixels of ``level`` whose top-left is level-0 ``(x, y)``.

        Returns:
            RGB uint8 array ``[height, width, 3]``; pixels outside the slide are white.

        Raises:
            SlideReadError: When the region cannot be read or decoded.
        """

    def read(self, x: int, y: int, width: int, height: int, mpp: float | None = None) -> np.ndarray:
        """Read a region at any resolution: best pyramid level, then resize.

        Args:
            x: Left edge in level-0 pixels.
            y: Top edge in level-0 pixels.
            width: Output width in pixels at ``mpp``.
            height: Output height in pixels at ``mpp``.
            mpp: Output resolution in µm/px; None reads level 0 as is.

        Returns:
            RGB uint8 array ``[height, width, 3]``.

        Raises:
            SlideReadError: When mpp is needed but unknown, or the region cannot be read.

        Examples:
            >>> from biomm.io.wsi.virtual import VirtualSlide
            >>> s = VirtualSlide(np.full((100, 100, 3), 7, np.uint8), mpp=0.5)
            >>> s.read(90, 90, 20, 20)[15, 15].tolist()  # outside the slide: white
            [255, 255, 255]
        """
        if width <= 0 or height <= 0:
            raise SlideReadError(
                f"region size must be positive, got {width}×{height}", path=self.path or "<memory>"
            )
        if mpp is None:
            return self.read_level(x, y, 0, width, height)
        level, src_w, src_h = self._source_window(width, height, mpp)
        region = self.read_level(x, y, level, src_w, src_h)
        if (src_w, src_h) == (width, height):
            return region
        return resize_rgb(region, width, height)

    def _source_window(self, width: int, height: int, mpp: float) -> tuple[int, int, int]:
        """The level to read for output ``mpp`` and the source size there."""
        scale = mpp / self.require_mpp()  # level-0 pixels per output pixel
        level = self.best_level_for_downsample(scale)
        ds = self.level_downsamples[level]
        src_w = max(1, math.ceil(width * scale / ds - 1e-9))
        src_h = max(1, math.ceil(height * scale / ds - 1e-9))
        return level, src_w, src_h

    def read_tiles(self, coords: np.ndarray, size: int, mpp: float) -> np.ndarray:
        """Read several square tiles with one region read, pixel-identical to :meth:`read`.

        The union of the tiles is read once from the chosen pyramid level; each tile is cut
        from it and resized on its own, exactly as a separate ``read`` would.

        Args:
            coords: ``[N, 2]`` level-0 ``(x, y)`` of the tiles (ideally neighbours).
            size: Tile size in pixels at ``mpp``.
            mpp: Output resolution in µm/px.

        Returns:
            uint8 ``[N, size, size, 3]``.

        Examples:
            >>> from biomm.io.wsi.virtual import VirtualSlide
            >>> s = VirtualSlide(np.random.default_rng(0).integers(0, 255, (300, 300, 3),
            ...                  dtype=np.uint8), mpp=0.3, levels=2)
            >>> xy = np.array([[0, 0], [110, 0], [0, 110]])
            >>> tiles = s.read_tiles(xy, 50, mpp=0.7)
            >>> single = [s.read(x, y, 50, 50, mpp=0.7) for x, y in xy]
            >>> all((tiles[k] == single[k]).all() for k in range(3))
            True
        """
        level, src, _ = self._source_window(size, size, mpp)
        ds = self.level_downsamples[level]
        coords = np.asarray(coords, dtype=np.int64)
        lx = np.array([round(x / ds) for x in coords[:, 0]], dtype=np.int64)
        ly = np.array([round(y / ds) for y in coords[:, 1]], dtype=np.int64)
        k0 = int(np.argmin(lx)) if len(lx) else 0
        j0 = int(np.argmin(ly)) if len(ly) else 0
        width = int(lx.max() - lx.min()) + src
        height = int(ly.max() - ly.min()) + src
        # level-0 origin whose level-grid position is (min lx, min ly)
        region = self.read_level(int(coords[k0, 0]), int(coords[j0, 1]), level, width, height)
        out = np.empty((len(coords), size, size, 3), np.uint8)
        for k in range(len(coords)):
            ox, oy = int(lx[k] - lx.min()), int(ly[k] - ly.min())
            crop = region[oy : oy + src, ox : ox + src]
            out[k] = crop if src == size else resize_rgb(np.ascontiguousarray(crop), size, size)
        return out

    def thumbnail(self, mpp: float = 8.0, max_size: int = 4096, chunk: int = 1024) -> np.ndarray:
        """The whole slide at ``mpp`` µm/px (coarser if it would exceed ``max_size`` px).

        Read in chunks of ``chunk`` output pixels, so memory stays bounded on slides without
        a pyramid; a chunk that cannot be decoded (a corrupt tile) is left white and counted
        in :attr:`thumbnail_bad_chunks` instead of failing the slide.

        Examples:
            >>> from biomm.io.wsi.virtual import VirtualSlide
            >>> VirtualSlide(np.zeros((800, 1600, 3), np.uint8), mpp=0.5).thumbnail(8.0).shape
            (50, 100, 3)
        """
        base = self.require_mpp()
        w0, h0 = self.dimensions
        mpp = max(mpp, base * max(w0, h0) / max_size)
        width = max(1, round(w0 * base / mpp))
        height = max(1, round(h0 * base / mpp))
        out = white_canvas(width, height)
        self.thumbnail_bad_chunks = 0
        self._thumbnail_error: str | None = None
        _, src, _ = self._source_window(chunk, chunk, mpp)
        if src > MAX_CHUNK_SOURCE:  # no pyramid level near mpp: read smaller chunks
            chunk = max(1, chunk * MAX_CHUNK_SOURCE // src)
        for oy in range(0, height, chunk):
            for ox in range(0, width, chunk):
                cw, ch = min(chunk, width - ox), min(chunk, height - oy)
                self._read_into(out, ox, oy, cw, ch, mpp)
        if self.thumbnail_bad_chunks and out.min() == 255 and out.max() == 255:
            last = f" (last error: {self._thumbnail_error})" if self._thumbnail_error else ""
            raise SlideReadError(
                f"no part of the slide could be decoded for a thumbnail{last}",
                path=self.path or "<memory>",
            )
        return out

    def _read_into(self, out: np.ndarray, ox: int, oy: int, cw: int, ch: int, mpp: float) -> None:
        """Read one output chunk into ``out``.

        On a decode error the chunk is split in four, down to ~256 source pixels; what still
        fails stays white and is counted.
        """
        scale = mpp / self.require_mpp()
        try:
            out[oy : oy + ch, ox : ox + cw] = self.read(
                round(ox * scale), round(oy * scale), cw, ch, mpp=mpp
            )
            return
        except SlideReadError as exc:
            self._thumbnail_error = exc.reason
            _, src_w, src_h = self._source_window(cw, ch, mpp)
        if max(src_w, src_h) <= 256 or max(cw, ch) <= 1:
            self.thumbnail_bad_chunks += 1
            return
        hw, hh = max(1, cw // 2), max(1, ch // 2)
        for dy, sh in ((0, hh), (hh, ch - hh)):
            for dx, sw in ((0, hw), (hw, cw - hw)):
                if sw > 0 and sh > 0:
                    self._read_into(out, ox + dx, oy + dy, sw, sh, mpp)

    # ---- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - optional hook for backends holding handles
        """Release file handles (the slide cannot be read afterwards)."""

    def __enter__(self) -> Slide:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        """Metadata as a JSON-ready dictionary (for provenance and ``biomm wsi info``).

        Examples:
            >>> from biomm.io.wsi.virtual import VirtualSlide
            >>> VirtualSlide(np.zeros((8, 8, 3), np.uint8), mpp=0.5).describe()["mpp_source"]
            'user'
        """
        return {
            "path": str(self.path) if self.path else None,
            "backend": self.backend,
            "vendor": self.vendor,
            "dimensions": list(self.dimensions),
            "level_dimensions": [list(d) for d in self.level_dimensions],
            "level_downsamples": list(self.level_downsamples),
            "mpp": list(self.mpp) if self.mpp else None,
            "mpp_source": self.mpp_resolution.source,
            "mpp_warning": self.mpp_resolution.warning,
            "objective_power": self.objective_power,
        }

    def __repr__(self) -> str:
        mpp = f"{self.mpp[0]:.4g}" if self.mpp else "unknown"
        return (
            f"{type(self).__name__}({str(self.path or '<memory>')!r}, {self.dimensions[0]}×"
            f"{self.dimensions[1]}, levels={self.level_count}, mpp={mpp})"
        )


def resize_rgb(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize an RGB uint8 image (area averaging when shrinking, bicubic when enlarging).

    Examples:
        >>> resize_rgb(np.zeros((10, 20, 3), np.uint8), 5, 4).shape
        (4, 5, 3)
    """
    shrinking = width <= image.shape[1] and height <= image.shape[0]
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(image).resize((width, height), method))


def white_canvas(width: int, height: int) -> np.ndarray:
    """An all-white RGB uint8 canvas ``[height, width, 3]``.

    Examples:
        >>> white_canvas(2, 1).tolist()
        [[[255, 255, 255], [255, 255, 255]]]
    """
    return np.full((height, width, 3), 255, dtype=np.uint8)
