"""OpenSlide backend: SVS, NDPI, MRXS, SCN, BIF, generic tiled TIFF, DICOM and more.

Examples:
    >>> import numpy as np, tempfile, pathlib
    >>> from biomm.demo.synthetic import write_pyramidal_svs
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.svs"
    >>> write_pyramidal_svs(p, np.full((512, 512, 3), 200, np.uint8), mpp=0.5)
    >>> with OpenSlideSlide(p) as slide:
    ...     slide.vendor, slide.mpp
    ('aperio', (0.5, 0.5))
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np

from biomm.errors import SlideReadError
from biomm.io.wsi.base import Slide, white_canvas
from biomm.io.wsi.mpp import MppPolicy


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


class OpenSlideSlide(Slide):
    """A slide read through OpenSlide.

    Args:
        path: The slide file.
        mpp: Level-0 µm/px overriding the metadata.
        mpp_policy: What to do when the metadata has no mpp.

    Raises:
        SlideReadError: When OpenSlide cannot open the file (unsupported or corrupt).

    Examples:
        >>> from pathlib import Path
        >>> OpenSlideSlide(Path(__file__).parents[3] / "tests/data/wsi/CMU-1-Small-Region.svs")
        OpenSlideSlide('.../CMU-1-Small-Region.svs', 2220×2967, levels=1, mpp=0.499)
    """

    backend = "openslide"

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        mpp: float | tuple[float, float] | None = None,
        mpp_policy: MppPolicy = "require",
    ) -> None:
        import openslide

        path = Path(path)
        try:
            handle = openslide.OpenSlide(str(path))
        except openslide.OpenSlideUnsupportedFormatError:
            raise SlideReadError("OpenSlide does not recognise this format", path=path) from None
        except (openslide.OpenSlideError, OSError, ValueError) as exc:
            raise SlideReadError(f"OpenSlide cannot open the slide: {exc}", path=path) from None
        self._handle = handle
        props = dict(handle.properties)
        mpp_x = _float(props.get("openslide.mpp-x"))
        mpp_y = _float(props.get("openslide.mpp-y"))
        metadata = (mpp_x, mpp_y) if mpp_x and mpp_y else None
        super().__init__(
            path=path,
            level_dimensions=tuple(handle.level_dimensions),
            level_downsamples=tuple(handle.level_downsamples),
            metadata_mpp=metadata,
            objective_power=_float(props.get("openslide.objective-power")),
            vendor=props.get("openslide.vendor"),
            properties=props,
            mpp=mpp,
            mpp_policy=mpp_policy,
        )

    def read_level(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """Read a region of one level; transparent (outside) pixels become white.

        Raises:
            SlideReadError: When a tile cannot be decoded (OpenSlide's error, with the region).
        """
        import openslide

        if not 0 <= level < self.level_count:
            raise SlideReadError(f"level {level} does not exist", path=self.path)
        # snap to the level's pixel grid, as the other backends do (OpenSlide would otherwise
        # resample sub-pixel offsets, and backends would disagree by interpolation)
        ds = self.level_downsamples[level]
        x, y = round(round(x / ds) * ds), round(round(y / ds) * ds)
        try:
            rgba = np.asarray(self._handle.read_region((x, y), level, (width, height)))
        except (openslide.OpenSlideError, ValueError) as exc:
            self._reopen()  # OpenSlide stays in an error state after a failed read
            raise SlideReadError(
                f"cannot read region x={x} y={y} level={level} size={width}×{height}: {exc}",
                path=self.path,
            ) from None
        alpha = rgba[..., 3:4].astype(np.uint16)
        if alpha.min() == 255:
            return np.ascontiguousarray(rgba[..., :3])
        out = white_canvas(width, height).astype(np.uint16)
        out = (rgba[..., :3] * alpha + out * (255 - alpha)) // 255
        return out.astype(np.uint8)

    def _reopen(self) -> None:
        import openslide

        try:
            self._handle.close()
            self._handle = openslide.OpenSlide(str(self.path))
        except (openslide.OpenSlideError, OSError):  # pragma: no cover - file vanished
            pass

    def close(self) -> None:
        """Close the OpenSlide handle."""
        self._handle.close()
