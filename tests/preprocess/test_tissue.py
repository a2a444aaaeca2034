"""Tissue detection on real H&E and on synthetic cases with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from biomm.io.wsi import VirtualSlide, open_slide
from biomm.preprocess.tissue import detect_tissue, pen_mask

from ..io.conftest import REAL_SLIDE


def test_real_he_slide():
    tissue = detect_tissue(open_slide(REAL_SLIDE), mpp=8.0)
    assert 0.25 < tissue.fraction < 0.6  # the section covers ~40 % of this region
    thumb = open_slide(REAL_SLIDE).thumbnail(mpp=8.0)
    brightness = thumb.mean(axis=2)
    # tissue is darker than background on average, by a wide margin
    assert brightness[tissue.mask].mean() < brightness[~tissue.mask].mean() - 40
    # the white corner of the slide is background
    assert not tissue.mask[:10, :10].any()


def test_blank_slide_has_no_tissue():
    noise = np.random.default_rng(0).normal(0, 2, (400, 400, 3))
    blank = np.clip(240 + noise, 0, 255).astype(np.uint8)
    assert detect_tissue(VirtualSlide(blank, mpp=2.0)).fraction == 0.0


def _synthetic_with_pen() -> np.ndarray:
    img = np.full((200, 200, 3), 242, np.uint8)
    img[40:160, 40:160] = (214, 130, 180)  # pink tissue
    img[80:120, 80:120] = (240, 240, 240)  # a hole (lumen)
    img[10:30, 20:180] = (40, 70, 170)  # blue marker stroke on glass
    img[170:190, 20:180] = (60, 150, 90)  # green marker stroke
    return img


def test_pen_marks_are_removed_and_holes_optional():
    img = _synthetic_with_pen()
    filled = detect_tissue(img, image_mpp=8.0, min_area_um2=0, closing_um=0)
    assert not filled.mask[10:30].any() and not filled.mask[170:190].any()
    assert filled.mask[100, 100]  # hole filled by default
    holes = detect_tissue(img, image_mpp=8.0, min_area_um2=0, closing_um=0, fill_holes=False)
    assert not holes.mask[100, 100] and holes.mask[50, 50]
    kept_pen = detect_tissue(img, image_mpp=8.0, min_area_um2=0, closing_um=0, remove_pen=False)
    assert kept_pen.mask[20, 100]


def test_purple_nuclei_are_not_pen():
    nuclei = np.array([[[92, 58, 140], [120, 70, 160], [150, 60, 160]]], np.uint8)
    assert not pen_mask(nuclei).any()


def test_small_debris_is_dropped():
    img = np.full((200, 200, 3), 242, np.uint8)
    img[50:150, 50:150] = (214, 130, 180)
    img[10:13, 10:13] = (214, 130, 180)  # 3×3 px at 8 µm = 576 µm² of dust
    mask = detect_tissue(img, image_mpp=8.0, min_area_um2=5000, closing_um=0).mask
    assert not mask[11, 11] and mask[100, 100]


def test_geojson_is_in_level0_pixels_with_holes(tmp_path):
    slide = VirtualSlide(_synthetic_with_pen(), mpp=8.0)
    tissue = detect_tissue(slide, mpp=16.0, min_area_um2=0, closing_um=0, fill_holes=False)
    assert tissue.downsample == pytest.approx(2.0)
    path = tissue.save_geojson(tmp_path / "tissue.geojson")
    data = json.loads(path.read_text())
    (feature,) = data["features"]
    outer, hole = feature["geometry"]["coordinates"]
    xs = [p[0] for p in outer]
    assert min(xs) == pytest.approx(40, abs=2.5) and max(xs) == pytest.approx(160, abs=2.5)
    assert outer[0] == outer[-1] and hole[0] == hole[-1]
    assert feature["properties"]["classification"]["name"] == "Tissue"
    assert tissue.save_png(tmp_path / "mask.png").stat().st_size > 0
