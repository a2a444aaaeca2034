"""read_fundus on files written here: formats, pixel layouts and every kind of bad input."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile

from biomm.errors import ImageReadError
from biomm.io.retina import read_fundus
from tests.retina.conftest import OPHTHALMIC_PHOTOGRAPHY_8BIT, write_dicom

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares width × height, with a tiny (bogus) image stream."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 16))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + _png_chunk(b"IEND", b""))
    return path


def test_png_and_jpeg_round_trip(tmp_path):
    Image.fromarray(RGB).save(tmp_path / "a.png")
    image = read_fundus(tmp_path / "a.png")
    assert image.pixels.dtype == np.uint8 and np.array_equal(image.pixels, RGB)
    assert image.meta["format"] == "png" and image.path == tmp_path / "a.png"
    smooth = np.repeat(np.repeat(RGB[:6, :8], 4, 0), 4, 1)
    Image.fromarray(smooth).save(tmp_path / "a.jpg", quality=95, subsampling=0)
    jpeg = read_fundus(tmp_path / "a.jpg")
    assert jpeg.shape == (24, 32) and jpeg.meta["format"] == "jpeg"
    assert np.abs(jpeg.pixels.astype(int) - smooth).mean() < 4


def test_greyscale_palette_and_alpha_become_rgb(tmp_path):
    grey = RGB[..., 0]
    Image.fromarray(grey).save(tmp_path / "g.png")
    out = read_fundus(tmp_path / "g.png").pixels
    assert out.shape == (24, 32, 3) and all(np.array_equal(out[..., c], grey) for c in range(3))

    Image.fromarray(RGB).quantize(16).save(tmp_path / "p.png")
    assert read_fundus(tmp_path / "p.png").pixels.shape == (24, 32, 3)

    rgba = np.dstack([RGB, np.full((24, 32), 255, np.uint8)])
    rgba[:, :16, 3] = 0  # the left half transparent → black
    Image.fromarray(rgba).save(tmp_path / "a.png")
    image = read_fundus(tmp_path / "a.png")
    assert image.meta["alpha_composited"]
    assert (image.pixels[:, :16] == 0).all() and np.array_equal(image.pixels[:, 16:], RGB[:, 16:])


def test_16_bit_files_are_scaled_to_8_bit(tmp_path):
    grey16 = RGB[..., 1].astype(np.uint16) * 257
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    png = read_fundus(tmp_path / "g16.png")
    assert np.array_equal(png.pixels[..., 0], RGB[..., 1]) and png.meta["bit_depth"] == 16

    rgb16 = RGB.astype(np.uint16) * 257
    tifffile.imwrite(tmp_path / "c16.tif", rgb16, photometric="rgb")
    tif = read_fundus(tmp_path / "c16.tif")
    assert np.array_equal(tif.pixels, RGB) and tif.meta["scaled_from"] == "uint16"

    tifffile.imwrite(
        tmp_path / "planar.tif", RGB.transpose(2, 0, 1), photometric="rgb", planarconfig="separate"
    )
    assert np.array_equal(read_fundus(tmp_path / "planar.tif").pixels, RGB)

    tifffile.imwrite(tmp_path / "f.tif", RGB.astype(np.float32) / 255, photometric="rgb")
    assert np.array_equal(read_fundus(tmp_path / "f.tif").pixels, RGB)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.fromarray(RGB).save(tmp_path / "r.jpg", exif=exif)
    image = read_fundus(tmp_path / "r.jpg")
    assert image.shape == (32, 24) and image.meta["exif_transposed"]


def test_dicom_ophthalmic_photography(tmp_path):
    path = write_dicom(tmp_path / "op.dcm", RGB, sop_class=OPHTHALMIC_PHOTOGRAPHY_8BIT)
    image = read_fundus(path)
    assert np.array_equal(image.pixels, RGB) and image.meta["format"] == "dicom"
    assert "Ophthalmic Photography" in image.meta["sop_class"]


def test_missing_empty_and_not_an_image(tmp_path):
    with pytest.raises(ImageReadError, match="file not found") as err:
        read_fundus(tmp_path / "nope.png")
    assert "nope.png" in str(err.value)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty.jpg: file is empty"):
        read_fundus(tmp_path / "empty.jpg")
    (tmp_path / "notes.png").write_text("patient consented; photo to follow\n" * 5)
    with pytest.raises(ImageReadError, match=r"notes\.png: not an image Pillow can identify"):
        read_fundus(tmp_path / "notes.png")
    with pytest.raises(ImageReadError, match="not a file"):
        read_fundus(tmp_path)


@pytest.mark.parametrize("fmt", ["jpeg", "png"])
@pytest.mark.parametrize("cut", [12, 2000])
def test_truncated_images_are_refused(tmp_path, fmt, cut):
    path = tmp_path / f"t.{fmt}"
    Image.fromarray(np.repeat(np.repeat(RGB, 8, 0), 8, 1)).save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    with pytest.raises(ImageReadError, match=rf"t.{fmt}: image data is truncated"):
        read_fundus(path)


def test_truncated_jpeg_refused_even_when_pillow_is_told_to_accept_it(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    path = tmp_path / "t.jpg"
    Image.fromarray(np.repeat(np.repeat(RGB, 8, 0), 8, 1)).save(path)
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(ImageReadError, match="end-of-image marker"):
        read_fundus(path)


def test_truncated_tiff_is_refused(tmp_path):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, np.repeat(RGB, 4, 0), photometric="rgb")
    path.write_bytes(path.read_bytes()[:-3000])
    with pytest.raises(ImageReadError, match="truncated"):
        read_fundus(path)


def test_absurd_dimensions_are_refused_before_decoding(tmp_path):
    huge = _png_header_only(tmp_path / "huge.png", 9_000, 9_000)  # 81 MP > MAX_PIXELS
    with pytest.raises(ImageReadError, match=r"9000 × 9000 = 81,000,000 pixels, above the limit"):
        read_fundus(huge)
    bomb = _png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(ImageReadError, match="bomb"):
        read_fundus(bomb)
    Image.fromarray(RGB).save(tmp_path / "ok.png")
    with pytest.raises(ImageReadError, match="max_pixels"):
        read_fundus(tmp_path / "ok.png", max_pixels=100)


def test_unsupported_modes_are_refused(tmp_path):
    tifffile.imwrite(tmp_path / "two.tif", RGB[..., :2], planarconfig="contig")
    with pytest.raises(ImageReadError, match="unsupported image mode: 2 channels"):
        read_fundus(tmp_path / "two.tif")
    tifffile.imwrite(tmp_path / "signed.tif", RGB[..., 0].astype(np.int16) - 100)
    with pytest.raises(ImageReadError, match="unsupported image mode: pixel type int16"):
        read_fundus(tmp_path / "signed.tif")
    tifffile.imwrite(tmp_path / "hdr.tif", RGB.astype(np.float32), photometric="rgb")
    with pytest.raises(ImageReadError, match=r"float pixels outside \[0, 1\]"):
        read_fundus(tmp_path / "hdr.tif")
    Image.fromarray(RGB).convert("I").point(lambda v: v * 1000).save(tmp_path / "i32.tif")
    with pytest.raises(ImageReadError, match="unsupported"):
        read_fundus(tmp_path / "i32.tif")
