"""Fundus preprocessing (field of view, square crop, contrast, quality) and OCT intensities.

The field of view (FOV) is the bright disc of a fundus photograph on its black surround.
:func:`detect_fov` finds it on a copy whose long side is about :data:`WORK_SIZE` pixels:

1. brightness = the largest of R, G, B (the red channel on a colour fundus);
2. threshold = Otsu's, clipped to ``[THRESHOLD_FLOOR, THRESHOLD_CAP] × p99`` (the 99th
   percentile of brightness), so the threshold adapts to under-exposure and never cuts into
   the disc when there is no black surround (a cropped photo, where Otsu would split the disc);
3. opening (radius 2 px), the largest connected component, holes filled;
4. a least-squares circle through the mask's boundary pixels that are not on the image edge,
   so a disc cut by the image edges still gets its true centre and radius.

A photo whose ``p99`` brightness is below :data:`MIN_BRIGHTNESS` (all black) has no FOV:
``found`` is False and :func:`fundus_quality` flags it ungradable. An under-exposed (dark)
photo still gets its disc (the threshold is relative) and is flagged by the quality check.

Examples:
    >>> from skimage.data import retina
    >>> rgb = retina()
    >>> fov = detect_fov(rgb)
    >>> fov.found, 690 < fov.radius < 705, 0.7 < fov.fraction < 0.8
    (True, True, True)
    >>> out, info = preprocess_fundus(rgb, size=256, contrast="graham")
    >>> out.shape, info.quality.gradable
    ((256, 256, 3), True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from PIL import Image
from scipy import ndimage

from biomm.errors import InputError

#: Long side (px) of the working copy on which the FOV is found.
WORK_SIZE = 256
#: Below this 99th-percentile brightness (0–1) the image is black: no FOV.
MIN_BRIGHTNESS = 0.04
#: The FOV threshold is Otsu's, clipped to [FLOOR, CAP] × the 99th-percentile brightness.
THRESHOLD_FLOOR = 0.02
THRESHOLD_CAP = 0.25
#: Focus is measured with the FOV radius rescaled to this many pixels.
FOCUS_RADIUS = 256

Contrast = Literal["clahe", "graham"]


@dataclass(frozen=True)
class FOV:
    """The field of view of a fundus photograph.

    Attributes:
        mask: ``[H, W]`` bool, True inside the disc.
        center: ``(row, col)`` of the fitted circle, in pixels (may lie outside the image).
        radius: Circle radius in pixels.
        fraction: Fraction of the image inside the mask.
        found: False when the image is black (then the mask is empty).
        circle_fit: False when no disc edge is visible (the disc covers the whole photo):
            the centre is then the image centre and the radius half the longer side.
        threshold: The brightness threshold used (0–1).
    """

    mask: np.ndarray
    center: tuple[float, float]
    radius: float
    fraction: float
    found: bool = True
    circle_fit: bool = True
    threshold: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Everything but the mask, as plain numbers.

        Examples:
            >>> FOV(np.ones((2, 2), bool), (1.0, 1.0), 1.0, 1.0).summary()["fraction"]
            1.0
        """
        return {
            "found": self.found,
            "center": (round(self.center[0], 2), round(self.center[1], 2)),
            "radius": round(self.radius, 2),
            "fraction": round(self.fraction, 4),
            "circle_fit": self.circle_fit,
            "threshold": round(self.threshold, 4),
        }


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or min(rgb.shape[:2]) < 8:
        raise InputError(
            f"expected an RGB uint8 image [H, W, 3] of at least 8 × 8 px, got {rgb.dtype} "
            f"{rgb.shape}"
        )
    return rgb


def detect_fov(rgb: np.ndarray) -> FOV:
    """Find the fundus disc: threshold, clean-up, largest component, filled, circle fit.

    Args:
        rgb: ``[H, W, 3]`` uint8.

    Returns:
        The :class:`FOV`; ``found`` is False for a black image.

    Examples:
        >>> yy, xx = np.mgrid[:200, :300]
        >>> disc = ((yy - 100) ** 2 + (xx - 150) ** 2 < 90**2)[..., None] * np.uint8([180, 80, 30])
        >>> fov = detect_fov(disc)
        >>> [round(v) for v in fov.center], round(fov.radius), bool(fov.mask[100, 150])
        ([100, 150], 90, True)
        >>> detect_fov(np.zeros((64, 64, 3), np.uint8)).found
        False
    """
    from skimage import filters, measure, transform

    rgb = _check_rgb(rgb)
    h, w = rgb.shape[:2]
    factor = max(1, int(np.ceil(max(h, w) / WORK_SIZE)))
    hs, ws = max(1, h // factor), max(1, w // factor)
    value = rgb[: hs * factor, : ws * factor].max(axis=2).astype(np.float32) / 255.0
    small = transform.downscale_local_mean(value, (factor, factor)) if factor > 1 else value
    p99 = float(np.percentile(small, 99))
    centre = ((h - 1) / 2, (w - 1) / 2)
    if p99 < MIN_BRIGHTNESS:
        return FOV(np.zeros((h, w), bool), centre, 0.0, 0.0, found=False, circle_fit=False)
    otsu = float(filters.threshold_otsu(small)) if small.max() > small.min() else 0.0
    threshold = float(np.clip(otsu, THRESHOLD_FLOOR * p99, THRESHOLD_CAP * p99))
    mask = ndimage.binary_opening(small > threshold, structure=_disk(2))
    labels, count = ndimage.label(mask)
    if count == 0:
        return FOV(np.zeros((h, w), bool), centre, 0.0, 0.0, False, False, threshold)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    mask = ndimage.binary_fill_holes(labels == sizes.argmax())

    edge = mask & ~ndimage.binary_erosion(mask, border_value=1)
    rows, cols = np.nonzero(edge)
    inner = (rows > 0) & (rows < hs - 1) & (cols > 0) & (cols < ws - 1)
    points = np.column_stack([cols[inner], rows[inner]]).astype(float)
    model = measure.CircleModel.from_estimate(points) if len(points) >= 10 else None
    circle_fit = bool(model) and 0.02 * min(hs, ws) < model.radius < 2 * np.hypot(hs, ws)
    if circle_fit:
        cx, cy = model.center
        center = (cy * factor + (factor - 1) / 2, cx * factor + (factor - 1) / 2)
        radius = (float(model.radius) + 0.5) * factor
    else:
        center, radius = centre, max(h, w) / 2

    full = _resize_mask(mask, (hs * factor, ws * factor))
    full = np.pad(full, ((0, h - full.shape[0]), (0, w - full.shape[1])), mode="edge")
    return FOV(
        full,
        (float(center[0]), float(center[1])),
        float(radius),
        float(full.mean()),
        True,
        circle_fit,
        threshold,
    )


def _disk(radius: int) -> np.ndarray:
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return yy**2 + xx**2 <= radius**2


def _resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == shape:
        return mask.copy()
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.BILINEAR)) > 127


def fov_box(fov: FOV, shape: tuple[int, ...], margin: float = 0.02) -> tuple[int, int, int]:
    """``(top, left, side)`` of the square around the disc, ``side = 2 r (1 + margin)``.

    Without a FOV the square is centred on the image and spans its longer side.

    Examples:
        >>> fov = FOV(np.ones((100, 100), bool), (50.0, 40.0), 30.0, 1.0)
        >>> fov_box(fov, (100, 100), margin=0.0)
        (20, 10, 60)
    """
    if margin < 0:
        raise InputError(f"margin must be ≥ 0, got {margin}")
    h, w = shape[:2]
    if not fov.found or fov.radius <= 0:
        side = max(h, w)
        return (h - side) // 2, (w - side) // 2, side
    side = max(1, round(2 * fov.radius * (1 + margin)))
    top = round(fov.center[0] + 0.5 - side / 2)
    left = round(fov.center[1] + 0.5 - side / 2)
    return int(top), int(left), int(side)


def crop_square(array: np.ndarray, top: int, left: int, side: int, fill: Any = 0) -> np.ndarray:
    """Cut ``array[top : top + side, left : left + side]``, padding with ``fill`` outside.

    Examples:
        >>> crop_square(np.ones((2, 2), np.uint8), -1, -1, 4).tolist()
        [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    """
    h, w = array.shape[:2]
    out = np.full((side, side, *array.shape[2:]), fill, dtype=array.dtype)
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + side, h), min(left + side, w)
    if y1 > y0 and x1 > x0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = array[y0:y1, x0:x1]
    return out


def crop_to_fov(rgb: np.ndarray, fov: FOV, margin: float = 0.02) -> np.ndarray:
    """Square crop centred on the disc, padded with black where the disc leaves the image.

    Examples:
        >>> fov = FOV(np.ones((60, 80), bool), (30.0, 40.0), 40.0, 1.0)
        >>> crop = crop_to_fov(np.full((60, 80, 3), 9, np.uint8), fov, margin=0.0)
        >>> crop.shape, int(crop[0, 40, 0]), int(crop[40, 40, 0])
        ((80, 80, 3), 0, 9)
    """
    return crop_square(_check_rgb(rgb), *fov_box(fov, rgb.shape, margin))


def resize(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB uint8 image to ``size × size`` (Pillow bicubic, antialiased).

    Examples:
        >>> resize(np.zeros((300, 300, 3), np.uint8), 64).shape
        (64, 64, 3)
    """
    if int(size) < 8:
        raise InputError(f"size must be at least 8 px, got {size}")
    rgb = np.asarray(rgb)
    if rgb.shape[:2] == (size, size):
        return rgb.copy()
    image = Image.fromarray(rgb).resize((int(size), int(size)), Image.Resampling.BICUBIC)
    return np.array(image)


def clahe(
    rgb: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    clip_limit: float = 0.01,
    channel: Literal["luminance", "green"] = "luminance",
) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation inside the FOV.

    ``luminance`` equalises CIELAB lightness and keeps the colour; ``green`` equalises the
    green channel and returns it as a grey "red-free" image. Outside ``mask`` is set to black
    (and filled with the mean inside before equalising, so the black surround does not
    distort the tile histograms).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> dim = rng.integers(90, 110, (64, 64, 3)).astype(np.uint8)
        >>> float(clahe(dim).std()) > float(dim.std())
        True
    """
    from skimage import color, exposure

    rgb = _check_rgb(rgb)
    mask = np.ones(rgb.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    if not mask.any():
        return np.zeros_like(rgb)
    kernel = max(8, min(rgb.shape[:2]) // 8)
    if channel == "green":
        plane = rgb[..., 1].astype(np.float64) / 255.0
    elif channel == "luminance":
        lab = color.rgb2lab(rgb)
        plane = lab[..., 0] / 100.0
    else:
        raise InputError(f"channel must be 'luminance' or 'green', got {channel!r}")
    plane = np.where(mask, plane, plane[mask].mean()).clip(0, 1)
    equalised = exposure.equalize_adapthist(plane, kernel_size=kernel, clip_limit=clip_limit)
    if channel == "green":
        out = np.repeat((equalised * 255).round()[..., None], 3, axis=2)
    else:
        lab[..., 0] = equalised * 100.0
        out = color.lab2rgb(lab).clip(0, 1) * 255
    out = out.round().astype(np.uint8)
    out[~mask] = 0
    return out


def graham(
    rgb: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    radius: float | None = None,
    sigma_scale: float = 1 / 30,
    background: int = 128,
) -> np.ndarray:
    """Ben Graham's local-average subtraction: ``4 I − 4 G_σ(I) + 128``, σ = radius / 30.

    The local average is taken inside the FOV only (normalised convolution), so the black
    surround leaves no bright ring at the disc edge; outside the mask is ``background``
    (the neutral grey of the result).

    Args:
        rgb: ``[H, W, 3]`` uint8.
        mask: FOV mask (default: the whole image).
        radius: Disc radius in pixels (default: from the mask area).
        sigma_scale: σ as a fraction of the radius.
        background: Value outside the mask.

    Examples:
        >>> flat = np.full((64, 64, 3), 77, np.uint8)
        >>> int(graham(flat)[32, 32, 0])
        128
    """
    rgb = _check_rgb(rgb)
    mask = np.ones(rgb.shape[:2], bool) if mask is None else np.asarray(mask, bool)
    if radius is None:
        radius = float(np.sqrt(max(mask.sum(), 1) / np.pi))
    sigma = max(0.5, float(radius) * sigma_scale)
    weight = ndimage.gaussian_filter(mask.astype(np.float32), sigma)
    image = rgb.astype(np.float32) * mask[..., None]
    local = (
        np.stack([ndimage.gaussian_filter(image[..., c], sigma) for c in range(3)], axis=-1)
        / np.maximum(weight, 1e-6)[..., None]
    )
    out = (4 * rgb.astype(np.float32) - 4 * local + 128).clip(0, 255).round().astype(np.uint8)
    out[~mask] = background
    return out


@dataclass(frozen=True)
class QualityThresholds:
    """Thresholds of :func:`fundus_quality` (luminance on a 0–1 scale).

    The defaults are heuristics: on ``skimage.data.retina()`` (mean luminance 0.46, focus
    ≈ 4) a Gaussian blur of σ = 4 px at full resolution brings focus to ≈ 0.35 and scaling
    intensities by 0.25 brings the mean to 0.11, both flagged. Tune them on your own
    graded photos.

    Attributes:
        min_fov_fraction: Smallest FOV fraction of the image.
        min_mean: Darkest acceptable mean luminance inside the FOV.
        max_mean: Brightest acceptable mean luminance inside the FOV.
        dark_level: Luminance at or below which a pixel counts as dark.
        max_dark_fraction: Largest fraction of dark FOV pixels.
        bright_level: Luminance at or above which a pixel counts as blown out.
        max_bright_fraction: Largest fraction of blown-out FOV pixels.
        min_focus: Smallest focus (see :func:`fundus_quality`).
    """

    min_fov_fraction: float = 0.2
    min_mean: float = 0.15
    max_mean: float = 0.85
    dark_level: float = 0.05
    max_dark_fraction: float = 0.25
    bright_level: float = 0.95
    max_bright_fraction: float = 0.10
    min_focus: float = 0.5


@dataclass(frozen=True)
class QualityScore:
    """Image quality of a fundus photo.

    Attributes:
        fov_fraction: Fraction of the image inside the FOV.
        mean_luminance: Mean luminance inside the FOV (0–1).
        dark_fraction: Fraction of FOV pixels at or below the dark level.
        bright_fraction: Fraction of FOV pixels at or above the bright level.
        focus: Variance of the Laplacian (see :func:`fundus_quality`).
        score: 0–1, the smallest per-check score; each check scores 0.5 exactly at its
            threshold, so ``score >= 0.5`` whenever the photo is gradable.
        gradable: True when every check passes.
        reasons: One line per failed check.
    """

    fov_fraction: float
    mean_luminance: float
    dark_fraction: float
    bright_fraction: float
    focus: float
    score: float
    gradable: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a flat dict (``reasons`` joined with ``; ``).

        Examples:
            >>> QualityScore(0.7, 0.4, 0.0, 0.0, 3.0, 1.0, True).to_dict()["reasons"]
            ''
        """
        out = asdict(self)
        out["reasons"] = "; ".join(self.reasons)
        return out


def _luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32) / 255.0


def fundus_quality(
    rgb: np.ndarray, fov: FOV, thresholds: QualityThresholds | None = None
) -> QualityScore:
    """Gradability of a fundus photo: FOV size, exposure and focus.

    - exposure: mean luminance inside the FOV and the fractions of dark and blown-out pixels
      (on every other pixel of photos ≥ 512 px);
    - focus: the variance of the Laplacian of the green channel, measured with the image
      rescaled so the FOV radius is :data:`FOCUS_RADIUS` px (independent of resolution),
      divided by the squared mean green (independent of exposure), × 1000, over the FOV
      shrunk by 4 % of its radius (the disc edge is not detail).

    Examples:
        >>> from skimage.data import retina
        >>> from skimage.filters import gaussian
        >>> rgb = retina()
        >>> fov = detect_fov(rgb)
        >>> sharp = fundus_quality(rgb, fov)
        >>> blurred = (gaussian(rgb, 4, channel_axis=-1) * 255).astype(np.uint8)
        >>> sharp.gradable, sharp.focus > fundus_quality(blurred, fov).focus
        (True, True)
    """
    t = thresholds or QualityThresholds()
    rgb = _check_rgb(rgb)
    if not fov.found or not fov.mask.any():
        return QualityScore(0.0, 0.0, 1.0, 0.0, 0.0, 0.0, False, ["no field of view found"])
    step = 2 if min(rgb.shape[:2]) >= 512 else 1  # every other pixel is plenty for the means
    luminance = _luminance(rgb[::step, ::step][fov.mask[::step, ::step]])
    mean = float(luminance.mean())
    dark = float((luminance <= t.dark_level).mean())
    bright = float((luminance >= t.bright_level).mean())
    focus = _focus(rgb, fov)
    checks = [
        (fov.fraction / (2 * t.min_fov_fraction), f"field of view covers {fov.fraction:.0%}"),
        (mean / (2 * t.min_mean), f"under-exposed (mean luminance {mean:.2f})"),
        ((1 - mean) / (2 * (1 - t.max_mean)), f"over-exposed (mean luminance {mean:.2f})"),
        (1 - dark / (2 * t.max_dark_fraction), f"{dark:.0%} of the field is dark"),
        (1 - bright / (2 * t.max_bright_fraction), f"{bright:.0%} of the field is blown out"),
        (focus / (2 * t.min_focus), f"out of focus (focus {focus:.2f} < {t.min_focus})"),
    ]
    scores = [float(np.clip(s, 0.0, 1.0)) for s, _ in checks]
    reasons = [reason for (s, reason) in checks if s < 0.5]
    return QualityScore(
        fov_fraction=round(fov.fraction, 4),
        mean_luminance=round(mean, 4),
        dark_fraction=round(dark, 4),
        bright_fraction=round(bright, 4),
        focus=round(focus, 4),
        score=round(min(scores), 4),
        gradable=not reasons,
        reasons=reasons,
    )


def _focus(rgb: np.ndarray, fov: FOV) -> float:
    top, left, side = fov_box(fov, rgb.shape, margin=0.0)
    green = crop_square(rgb[..., 1], top, left, side).astype(np.float32) / 255.0
    inside = crop_square(fov.mask, top, left, side, fill=False)
    size = max(16, round(side * FOCUS_RADIUS / max(fov.radius, 1.0)))
    green = np.asarray(Image.fromarray(green).resize((size, size), Image.Resampling.BILINEAR))
    inside = _resize_mask(inside, (size, size))
    inside = ndimage.binary_erosion(inside, _disk(max(1, round(0.04 * FOCUS_RADIUS))))
    if inside.sum() < 16:
        return 0.0
    level = float(green[inside].mean())
    if level <= 1e-3:
        return 0.0
    laplacian = ndimage.laplace(green / level)
    return float(laplacian[inside].var() * 1000.0)


@dataclass(frozen=True)
class FundusInfo:
    """What :func:`preprocess_fundus` did and found.

    Attributes:
        size: Output side in pixels.
        contrast: The contrast normalisation applied (None, ``clahe`` or ``graham``).
        margin: Crop margin around the disc, as a fraction of the radius.
        fov: The FOV summary in source-image pixels (:meth:`FOV.summary`).
        crop_box: ``(top, left, side)`` of the square crop in source pixels.
        quality: The quality score, when computed.
    """

    size: int
    contrast: str | None
    margin: float
    fov: dict[str, Any]
    crop_box: tuple[int, int, int]
    quality: QualityScore | None = None

    def to_dict(self) -> dict[str, Any]:
        """Flat per-image columns: FOV and quality fields (None when quality was skipped).

        Examples:
            >>> info = FundusInfo(64, None, 0.0, {"found": True, "fraction": 0.7,
            ...                   "radius": 30.0}, (0, 0, 60))
            >>> info.to_dict()["gradable"] is None
            True
        """
        q = self.quality.to_dict() if self.quality else {}
        return {
            "fov_found": self.fov.get("found"),
            "fov_fraction": self.fov.get("fraction"),
            "fov_radius": self.fov.get("radius"),
            "gradable": q.get("gradable"),
            "quality_score": q.get("score"),
            "focus": q.get("focus"),
            "mean_luminance": q.get("mean_luminance"),
            "quality_reasons": q.get("reasons"),
        }


def preprocess_fundus(
    rgb: np.ndarray,
    size: int = 512,
    contrast: Contrast | None = None,
    margin: float = 0.02,
    *,
    quality: bool = True,
    fov: FOV | None = None,
) -> tuple[np.ndarray, FundusInfo]:
    """FOV → quality → square crop → resize → contrast → black (grey for Graham) outside.

    Args:
        rgb: ``[H, W, 3]`` uint8.
        size: Output side in pixels.
        contrast: None, ``"clahe"`` (luminance) or ``"graham"``.
        margin: Crop margin around the disc, as a fraction of its radius.
        quality: Compute :func:`fundus_quality` (skip it for speed).
        fov: A FOV found earlier (default: :func:`detect_fov`).

    Returns:
        ``(size × size × 3 uint8, FundusInfo)``. A black photo (no FOV) gives a black
        output and an ungradable quality rather than an error.

    Examples:
        >>> out, info = preprocess_fundus(np.zeros((64, 80, 3), np.uint8), size=32)
        >>> out.shape, info.fov["found"], info.quality.gradable
        ((32, 32, 3), False, False)
    """
    if contrast not in (None, "clahe", "graham"):
        raise InputError(f"contrast must be None, 'clahe' or 'graham', got {contrast!r}")
    rgb = _check_rgb(rgb)
    fov = detect_fov(rgb) if fov is None else fov
    score = fundus_quality(rgb, fov) if quality else None
    box = fov_box(fov, rgb.shape, margin)
    crop = resize(crop_square(rgb, *box), size)
    mask = _resize_mask(crop_square(fov.mask, *box, fill=False), (size, size))
    if contrast == "clahe":
        out = clahe(crop, mask)
    elif contrast == "graham":
        out = graham(crop, mask, radius=fov.radius * size / box[2] if fov.found else None)
    else:
        out = crop
        out[~mask] = 0
    info = FundusInfo(int(size), contrast, float(margin), fov.summary(), box, score)
    return out, info


def normalize_oct(volume: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """OCT intensities → uint8: 8-bit volumes unchanged, others stretched between percentiles.

    Percentiles are taken over the whole volume (on a subsample of ≤ 1 M voxels), so the
    B-scans of one volume share one scale.

    Examples:
        >>> v = np.linspace(0, 4000, 2 * 8 * 8, dtype=np.float32).reshape(2, 8, 8)
        >>> out = normalize_oct(v, (0, 100))
        >>> out.dtype, int(out.min()), int(out.max())
        (dtype('uint8'), 0, 255)
    """
    volume = np.asarray(volume)
    if volume.dtype == np.uint8:
        return volume
    flat = volume.reshape(-1)
    step = max(1, flat.size // 1_000_000)
    lo, hi = np.percentile(flat[::step].astype(np.float64), percentiles)
    if not hi > lo:
        return np.zeros(volume.shape, np.uint8)
    scaled = (volume.astype(np.float32) - lo) / (hi - lo)
    return (scaled.clip(0, 1) * 255).round().astype(np.uint8)
