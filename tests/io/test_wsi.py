"""Slide readers: every backend agrees with the in-memory twin; errors name file and reason."""

from __future__ import annotations

import numpy as np
import pytest

from biomm.errors import InputError, SlideReadError
from biomm.io.wsi import VirtualSlide, open_slide, resolve_mpp
from biomm.registries import SLIDE_BACKENDS

from .conftest import REAL_SLIDE

REGIONS = [  # x, y, width, height, mpp
    (10, 20, 300, 200, None),
    (0, 0, 400, 300, 1.0),
    (333, 777, 100, 100, 2.0),
    (1400, 900, 300, 300, 0.5),  # runs off the slide: white padding
    (-64, -64, 128, 128, 0.75),  # starts before the slide, between pyramid levels
]


@pytest.mark.parametrize("backend", SLIDE_BACKENDS.names())
def test_backend_contract(backend, pyramid):
    """Contract over every registered slide backend."""
    path, twin = pyramid
    with SLIDE_BACKENDS.build(backend, path=path) as slide:
        assert slide.backend == backend
        assert slide.level_dimensions == twin.level_dimensions
        assert slide.level_downsamples == pytest.approx(twin.level_downsamples)
        assert slide.mpp == pytest.approx((0.5, 0.5))
        for x, y, w, h, mpp in REGIONS:
            region = slide.read(x, y, w, h, mpp=mpp)
            assert region.shape == (h, w, 3) and region.dtype == np.uint8
            np.testing.assert_array_equal(region, twin.read(x, y, w, h, mpp=mpp))
        assert slide.thumbnail(mpp=4.0).shape == twin.thumbnail(mpp=4.0).shape
        assert slide.describe()["backend"] == backend


def test_outside_pixels_are_white(pyramid):
    path, _ = pyramid
    region = open_slide(path).read(1450, 950, 100, 100)
    assert (region[60:, 60:] == 255).all()


def test_real_he_slide_both_backends_agree():
    a = open_slide(REAL_SLIDE, backend="openslide")
    b = open_slide(REAL_SLIDE, backend="tifffile")
    assert a.vendor == "aperio" and a.objective_power == 20
    assert a.mpp == b.mpp == (0.499, 0.499)
    for args in [(100, 200, 300, 250, None), (0, 0, 500, 400, 1.0), (1900, 2700, 400, 400, 0.499)]:
        np.testing.assert_array_equal(
            a.read(*args[:4], mpp=args[4]), b.read(*args[:4], mpp=args[4])
        )


def test_read_at_target_mpp_scales_the_field_of_view():
    image = np.zeros((400, 400, 3), np.uint8)
    image[:, 200:] = 255  # right half white
    slide = VirtualSlide(image, mpp=0.25, levels=2)
    region = slide.read(0, 0, 100, 100, mpp=1.0)  # 100 px at 1 µm/px = 400 level-0 px
    assert region[:, :48].max() == 0 and region[:, 52:].min() == 255


def test_missing_mpp_is_a_clear_error_unless_supplied(no_mpp_slide):
    slide = open_slide(no_mpp_slide)
    assert slide.mpp is None
    slide.read(0, 0, 10, 10)  # level-0 reads need no mpp
    with pytest.raises(SlideReadError, match=r"no resolution .*mpp=") as err:
        slide.read(0, 0, 10, 10, mpp=1.0)
    assert str(no_mpp_slide) in str(err.value)
    assert open_slide(no_mpp_slide, mpp=0.5).read(0, 0, 10, 10, mpp=1.0).shape == (10, 10, 3)


def test_mpp_policies():
    assert resolve_mpp(metadata=None, objective_power=40.0).mpp is None
    assert resolve_mpp(metadata=None, objective_power=40.0, policy="objective-power").mpp == (
        0.25,
        0.25,
    )
    absurd = resolve_mpp(metadata=(0.0001, 0.0001), objective_power=None)
    assert absurd.mpp is None and "implausible" in absurd.warning
    with pytest.raises(InputError, match="not plausible"):
        resolve_mpp(metadata=None, objective_power=None, user=500.0)
    with pytest.raises(InputError, match="unknown mpp policy"):
        resolve_mpp(metadata=None, objective_power=None, policy="guess")  # type: ignore[arg-type]


def test_corrupt_tile_raises_slide_read_error_naming_tile(corrupt_tile_slide):
    slide = open_slide(corrupt_tile_slide, backend="tifffile")
    slide.read(0, 0, 256, 256)  # the intact first tile reads fine
    with pytest.raises(SlideReadError, match="tile 1") as err:
        slide.read(256, 0, 256, 256)
    assert str(corrupt_tile_slide) in str(err.value)


@pytest.mark.parametrize(
    ("content", "name", "reason"),
    [
        (b"", "empty.svs", "empty"),
        (b"this is not a slide at all", "text.svs", "cannot open"),
        (b"II*\x00\xff\xff\xff\x7f" + b"\x00" * 64, "badifd.tif", "cannot open"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image.ndpi", "cannot open"),
    ],
)
def test_unreadable_files(tmp_path, content, name, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SlideReadError, match=reason) as err:
        open_slide(path)
    assert str(path) in str(err.value)


def test_missing_and_folder(tmp_path):
    with pytest.raises(SlideReadError, match="not found"):
        open_slide(tmp_path / "none.svs")
    with pytest.raises(SlideReadError, match="folder"):
        open_slide(tmp_path)


def test_virtual_slide_validates_input():
    with pytest.raises(SlideReadError, match="RGB uint8"):
        VirtualSlide(np.zeros((4, 4), np.float32), mpp=0.5)


@pytest.mark.parametrize("backend", ["openslide", "tifffile"])
def test_thumbnail_survives_a_corrupt_tile(corrupt_tile_slide, backend):
    slide = open_slide(corrupt_tile_slide, backend)
    thumb = slide.thumbnail(mpp=2.0)
    assert slide.thumbnail_bad_chunks >= 1
    assert thumb.shape == (128, 128, 3)
    assert (thumb[:64, 64:] == 255).all()  # the corrupt tile's area is left white
    assert thumb[64:, :].std() > 10  # the rest is real image content
    slide.read(0, 300, 64, 64)  # the handle still reads after the failure
