"""FOV detection, crop, contrast and quality on skimage's real fundus photo and variants."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from biomm.errors import InputError
from biomm.preprocess.retina import (
    FOV,
    clahe,
    crop_to_fov,
    detect_fov,
    fundus_quality,
    graham,
    normalize_oct,
    preprocess_fundus,
    resize,
)


@pytest.fixture(scope="module")
def fov(retina_rgb) -> FOV:
    return detect_fov(retina_rgb)


def _circle_fraction(shape, center, radius) -> float:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return float(((yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2).mean())


def _brightness(rgb) -> np.ndarray:
    return rgb.max(axis=2).astype(float) / 255


def test_fov_on_the_real_photo_covers_the_disc_not_the_border(retina_rgb, fov):
    h, w = retina_rgb.shape[:2]
    assert fov.found and fov.circle_fit
    assert fov.mask.shape == (h, w) and fov.mask.dtype == bool
    # the circle is the disc: centred, nearly touching the edges of the square photo
    assert abs(fov.center[0] - h / 2) < 0.02 * h and abs(fov.center[1] - w / 2) < 0.02 * w
    assert 0.47 * w < fov.radius < 0.5 * w
    # the mask's area matches the fitted disc clipped to the image
    assert abs(fov.fraction - _circle_fraction((h, w), fov.center, fov.radius)) < 0.01
    for corner in [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (60, 60)]:
        assert not fov.mask[corner]
    assert fov.mask[h // 2, w // 2] and fov.mask[h // 2, 40] and fov.mask[40, w // 2]
    # what the mask leaves out is black; what it keeps is (almost all) lit
    value = _brightness(retina_rgb)
    assert value[~fov.mask].mean() < 0.03
    assert np.percentile(value[fov.mask], 1) > 0.2


def test_fov_when_the_disc_exceeds_the_image(retina_rgb, fov):
    inner = retina_rgb[300:1100, 300:1100]  # no border at all
    result = detect_fov(inner)
    assert result.found and result.fraction > 0.99 and not result.circle_fit
    assert result.radius == 400.0  # the documented fallback: half the longer side

    cropped = retina_rgb[150:1250, 150:1250]  # the disc is cut by all four edges
    result = detect_fov(cropped)
    assert result.found and result.circle_fit and result.fraction > 0.95
    assert result.radius == pytest.approx(fov.radius, rel=0.02)
    assert result.center[0] == pytest.approx(fov.center[0] - 150, abs=8)
    assert result.center[1] == pytest.approx(fov.center[1] - 150, abs=8)

    shifted = np.zeros_like(retina_rgb)
    shifted[:, 400:] = retina_rgb[:, :-400]  # the disc leaves the image on the right
    result = detect_fov(shifted)
    assert result.center[1] == pytest.approx(fov.center[1] + 400, abs=8)
    assert result.radius == pytest.approx(fov.radius, rel=0.02)


@pytest.mark.parametrize("gain", [0.25, 0.1])
def test_dark_photo_keeps_its_disc_and_is_flagged(retina_rgb, fov, gain):
    dark = (retina_rgb * gain).astype(np.uint8)
    result = detect_fov(dark)
    iou = (result.mask & fov.mask).sum() / (result.mask | fov.mask).sum()
    assert result.found and iou > 0.98
    quality = fundus_quality(dark, result)
    assert not quality.gradable and any("under-exposed" in r for r in quality.reasons)
    assert quality.score < 0.5


def test_black_photo_has_no_fov_and_is_ungradable():
    black = np.zeros((300, 400, 3), np.uint8)
    black[5:10, 5:60] = 3  # a faint label does not count
    result = detect_fov(black)
    assert not result.found and not result.mask.any() and result.fraction == 0.0
    quality = fundus_quality(black, result)
    assert not quality.gradable and quality.reasons == ["no field of view found"]
    out, info = preprocess_fundus(black, size=64, contrast="clahe")
    assert out.shape == (64, 64, 3) and not out.any() and info.fov["found"] is False


def test_detect_fov_rejects_non_rgb():
    with pytest.raises(InputError, match=r"RGB uint8"):
        detect_fov(np.zeros((50, 50), np.uint8))
    with pytest.raises(InputError, match=r"RGB uint8"):
        detect_fov(np.zeros((50, 50, 3), np.float32))


def test_quality_orders_blur_and_passes_the_original(retina_small):
    from skimage.filters import gaussian

    fov = detect_fov(retina_small)
    scores = []
    for sigma in (0, 1, 2, 3):
        image = retina_small
        if sigma:
            image = (gaussian(retina_small, sigma, channel_axis=-1) * 255).round().astype(np.uint8)
        scores.append(fundus_quality(image, fov))
    focus = [s.focus for s in scores]
    assert focus == sorted(focus, reverse=True) and focus[0] > 3 * focus[2]
    assert scores[0].gradable and scores[0].score >= 0.5 and scores[0].reasons == []
    assert not scores[3].gradable and "out of focus" in scores[3].reasons[0]
    for score in scores:  # the score and the verdict agree
        assert score.gradable == (score.score >= 0.5)


def test_quality_flags_blown_out_and_small_fields(retina_small):
    bright = np.clip(retina_small.astype(int) * 3, 0, 255).astype(np.uint8)
    quality = fundus_quality(bright, detect_fov(bright))
    assert not quality.gradable and quality.bright_fraction > 0.1
    assert any("blown out" in r or "over-exposed" in r for r in quality.reasons)

    small = np.zeros((600, 600, 3), np.uint8)
    small[200:400, 200:400] = retina_small[76:276, 76:276]
    quality = fundus_quality(small, detect_fov(small))
    assert quality.fov_fraction < 0.2 and any("field of view" in r for r in quality.reasons)


def test_crop_pads_with_black_when_the_disc_exceeds_the_image(retina_rgb):
    cropped = retina_rgb[150:1250, 150:1250]
    fov = detect_fov(cropped)
    square = crop_to_fov(cropped, fov, margin=0.05)
    side = round(2 * fov.radius * 1.05)
    assert square.shape == (side, side, 3) and side > 1100
    assert not square[:5].any() and not square[:, :5].any()  # padding
    centre = square[side // 2 - 5 : side // 2 + 5, side // 2 - 5 : side // 2 + 5]
    assert centre.mean() > 50


def test_preprocess_fundus_sizes_and_backgrounds(retina_small):
    outputs = {}
    for contrast in (None, "clahe", "graham"):
        out, info = preprocess_fundus(retina_small, size=128, contrast=contrast, margin=0.05)
        assert out.shape == (128, 128, 3) and out.dtype == np.uint8
        assert info.size == 128 and info.contrast == contrast and info.quality.gradable
        outputs[contrast] = out
    assert (outputs[None][0, 0] == 0).all() and (outputs["clahe"][0, 0] == 0).all()
    assert (outputs["graham"][0, 0] == 128).all()
    centre = (slice(40, 88), slice(40, 88))
    assert abs(outputs["graham"][centre].mean() - 128) < 15  # local average removed
    lum_raw = outputs[None][centre].mean(axis=2).std()
    lum_clahe = outputs["clahe"][centre].mean(axis=2).std()
    assert lum_clahe > lum_raw
    with pytest.raises(InputError, match="contrast"):
        preprocess_fundus(retina_small, contrast="histogram")  # type: ignore[arg-type]


def test_graham_leaves_no_ring_at_the_disc_edge():
    yy, xx = np.mgrid[:200, :200]
    disc = (yy - 100) ** 2 + (xx - 100) ** 2 < 90**2
    flat = disc[..., None] * np.uint8([170, 90, 40])
    out = graham(flat, disc)
    inside = ndimage.binary_erosion(disc, iterations=1)
    assert np.abs(out[inside].astype(int) - 128).max() <= 2
    assert (out[~disc] == 128).all()


def test_clahe_green_channel_is_grey_and_masked(retina_small):
    fov = detect_fov(retina_small)
    out = clahe(retina_small, fov.mask, channel="green")
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert not out[~fov.mask].any()
    with pytest.raises(InputError, match="channel"):
        clahe(retina_small, channel="red")  # type: ignore[arg-type]


def test_resize_and_normalize_oct():
    assert resize(np.zeros((30, 50, 3), np.uint8), 16).shape == (16, 16, 3)
    with pytest.raises(InputError):
        resize(np.zeros((30, 50, 3), np.uint8), 2)
    volume = np.random.default_rng(0).normal(1000, 50, (3, 20, 20)).astype(np.float32)
    volume[0, 0, 0] = 1e6  # one hot pixel does not set the scale
    out = normalize_oct(volume)
    assert out.dtype == np.uint8 and 100 < out.mean() < 160
    already = np.full((2, 4, 4), 7, np.uint8)
    assert normalize_oct(already) is already
    assert not normalize_oct(np.ones((2, 4, 4), np.float32)).any()
