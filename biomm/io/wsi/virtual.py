"""An in-memory slide for tests and notebooks: an RGB array with a resolution and a pyramid.

Examples:
    >>> import numpy as np
    >>> slide = VirtualSlide(np.zeros((512, 1024, 3), np.uint8), mpp=0.5, levels=3)
    >>> slide.level_dimensions
    ((1024, 512), (512, 256), (256, 128))
"""

from __future__ import annotations

import numpy as np

from biomm.errors import SlideReadError
from biomm.io.wsi.base import Slide, resize_rgb, white_canvas
from biomm.io.wsi.mpp import MppPolicy


def crop_padded(image: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """Crop ``image[y:y+height, x:x+width]``, white where the window leaves the image.

    Examples:
        >>> crop_padded(np.zeros((2, 2, 3), np.uint8), 1, 1, 2, 2)[..., 0].tolist()
        [[0, 255], [255, 255]]
    """
    out = white_canvas(width, height)
    h, w = image.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + width, w), min(y + height, h)
    if x1 > x0 and y1 > y0:
        out[y0 - y : y1 - y, x0 - x : x1 - x] = image[y0:y1, x0:x1, :3]
    return out


class VirtualSlide(Slide):
    """A slide held in memory.

    Args:
        image: RGB uint8 array ``[height, width, 3]`` (level 0).
        mpp: Level-0 µm/px (None: unknown, as for a slide without metadata).
        levels: Pyramid levels to build, each half the size of the previous.
        objective_power: Reported magnification, if any.
        mpp_policy: What to do when ``mpp`` is None (see :mod:`biomm.io.wsi.mpp`).
    """

    backend = "virtual"

    def __init__(
        self,
        image: np.ndarray,
        mpp: float | None = 0.5,
        *,
        levels: int = 1,
        objective_power: float | None = None,
        mpp_policy: MppPolicy = "require",
    ) -> None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] < 3 or image.dtype != np.uint8:
            raise SlideReadError(
                f"a virtual slide needs an RGB uint8 array [H, W, 3], got {image.dtype} "
                f"{image.shape}",
                path="<memory>",
            )
        pyramid = [np.ascontiguousarray(image[..., :3])]
        for _ in range(1, max(1, levels)):
            prev = pyramid[-1]
            if min(prev.shape[:2]) < 2:
                break
            pyramid.append(resize_rgb(prev, prev.shape[1] // 2, prev.shape[0] // 2))
        self._pyramid = pyramid
        w0 = image.shape[1]
        super().__init__(
            path=None,
            level_dimensions=tuple((p.shape[1], p.shape[0]) for p in pyramid),
            level_downsamples=tuple(w0 / p.shape[1] for p in pyramid),
            objective_power=objective_power,
            vendor="virtual",
            mpp=mpp,
            mpp_policy=mpp_policy,
        )

    def read_level(self, x: int, y: int, level: int, width: int, height: int) -> np.ndarray:
        """Read a region of one level (see :meth:`Slide.read_level`).

        Examples:
            >>> s = VirtualSlide(np.zeros((4, 4, 3), np.uint8), mpp=0.5)
            >>> s.read_level(2, 2, 0, 4, 4).shape
            (4, 4, 3)
        """
        if not 0 <= level < len(self._pyramid):
            raise SlideReadError(f"level {level} does not exist", path="<memory>")
        ds = self.level_downsamples[level]
        return crop_padded(self._pyramid[level], round(x / ds), round(y / ds), width, height)
