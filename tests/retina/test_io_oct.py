"""read_oct on TIFF, OME-TIFF, ImageJ TIFF, DICOM and NumPy volumes written here; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from biomm.errors import ImageReadError, InputError
from biomm.io.retina import OCTVolume, read_oct, resize_bscans, select_bscans
from tests.retina.conftest import write_dicom

RNG = np.random.default_rng(11)
VOLUME = RNG.integers(0, 256, (6, 40, 30), dtype=np.uint8)


def test_multipage_tiff(tmp_path):
    tifffile.imwrite(tmp_path / "v.tif", VOLUME)
    volume = read_oct(tmp_path / "v.tif")
    assert isinstance(volume, OCTVolume) and volume.n_bscans == 6
    assert volume.pixels.dtype == np.uint8 and np.array_equal(volume.pixels, VOLUME)
    assert volume.spacing == (None, None, None) and volume.meta["format"] == "tiff"


def test_ome_tiff_spacing_in_mm(tmp_path):
    metadata = {"axes": "ZYX", "PhysicalSizeX": 11.7, "PhysicalSizeY": 3.9, "PhysicalSizeZ": 47.0}
    tifffile.imwrite(tmp_path / "v.ome.tif", VOLUME, metadata=metadata)
    volume = read_oct(tmp_path / "v.ome.tif")
    assert volume.meta["format"] == "ome-tiff" and np.array_equal(volume.pixels, VOLUME)
    np.testing.assert_allclose(volume.spacing, (0.047, 0.0039, 0.0117))


def test_imagej_tiff_spacing_and_16_bit_values(tmp_path):
    volume16 = VOLUME.astype(np.uint16) * 200
    tifffile.imwrite(
        tmp_path / "ij.tif",
        volume16,
        imagej=True,
        resolution=(1 / 0.0117, 1 / 0.0039),
        metadata={"spacing": 0.047, "unit": "mm", "axes": "ZYX"},
    )
    volume = read_oct(tmp_path / "ij.tif")
    assert volume.pixels.dtype == np.float32 and np.array_equal(volume.pixels, volume16)
    np.testing.assert_allclose(volume.spacing, (0.047, 0.0039, 0.0117), rtol=1e-6)


def test_colour_tiff_and_single_bscan_images(tmp_path):
    rgb = np.repeat(VOLUME[..., None], 3, axis=3)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    assert np.array_equal(read_oct(tmp_path / "rgb.tif").pixels, VOLUME)
    tifffile.imwrite(tmp_path / "one.tif", VOLUME[0])
    assert read_oct(tmp_path / "one.tif").pixels.shape == (1, 40, 30)
    Image.fromarray(VOLUME[1]).save(tmp_path / "b.png")
    single = read_oct(tmp_path / "b.png")
    assert single.n_bscans == 1 and np.array_equal(single.pixels[0], VOLUME[1])


def test_dicom_multiframe_with_shared_pixel_measures(tmp_path):
    path = write_dicom(tmp_path / "v.dcm", VOLUME, shared_spacing=(0.12, 0.0039, 0.0117))
    volume = read_oct(path)
    assert np.array_equal(volume.pixels, VOLUME)
    assert volume.spacing == (0.12, 0.0039, 0.0117)
    assert volume.meta["sop_class"] == "Ophthalmic Tomography Image Storage"


def test_dicom_16_bit_with_top_level_spacing_and_monochrome1(tmp_path):
    volume16 = RNG.integers(0, 4096, (3, 16, 12)).astype(np.uint16)
    path = write_dicom(
        tmp_path / "v.dcm", volume16, top_spacing=(0.05, 0.004, 0.01), bits_stored=12
    )
    volume = read_oct(path)
    assert volume.pixels.dtype == np.float32 and np.array_equal(volume.pixels, volume16)
    assert volume.spacing == (0.05, 0.004, 0.01)
    inverted = write_dicom(tmp_path / "m1.dcm", volume16, photometric="MONOCHROME1", bits_stored=12)
    assert np.array_equal(read_oct(inverted).pixels, 4095 - volume16)


def test_dicom_without_pixels_or_truncated(tmp_path):
    empty = write_dicom(tmp_path / "sr.dcm", VOLUME, with_pixels=False)
    with pytest.raises(ImageReadError, match=r"sr\.dcm: DICOM object has no pixel data"):
        read_oct(empty)
    full = write_dicom(tmp_path / "v.dcm", VOLUME)
    (tmp_path / "cut.dcm").write_bytes(full.read_bytes()[:-500])
    with pytest.raises(ImageReadError, match=r"cut\.dcm: cannot decode the DICOM pixel data"):
        read_oct(tmp_path / "cut.dcm")


def test_numpy_files(tmp_path):
    np.save(tmp_path / "v.npy", VOLUME.astype(np.float64))
    volume = read_oct(tmp_path / "v.npy")
    assert volume.pixels.dtype == np.float32 and np.array_equal(volume.pixels, VOLUME)
    np.savez(tmp_path / "v.npz", volume=VOLUME, spacing=np.array([0.1, 0.002, 0.01]))
    volume = read_oct(tmp_path / "v.npz")
    assert volume.spacing == (0.1, 0.002, 0.01) and volume.meta["format"] == "npz"
    np.savez_compressed(tmp_path / "other.npz", bscans=VOLUME)
    with pytest.raises(ImageReadError, match=r"no 'volume' array \(arrays: \['bscans'\]\)"):
        read_oct(tmp_path / "other.npz")
    np.savez(tmp_path / "bad_spacing.npz", volume=VOLUME, spacing=np.array([0.1, -1.0, 0.0]))
    with pytest.raises(ImageReadError, match="spacing"):
        read_oct(tmp_path / "bad_spacing.npz")


def test_axis_order_transposes_values_and_spacing(tmp_path):
    stored = VOLUME.transpose(1, 0, 2)  # depth first: "yzx"
    np.savez(tmp_path / "v.npz", volume=stored, spacing=np.array([0.0039, 0.12, 0.0117]))
    volume = read_oct(tmp_path / "v.npz", axis_order="yzx")
    assert np.array_equal(volume.pixels, VOLUME)
    assert volume.spacing == (0.12, 0.0039, 0.0117) and volume.meta["axis_order"] == "yzx"
    with pytest.raises(InputError, match="permutation of 'zyx'"):
        read_oct(tmp_path / "v.npz", axis_order="zyy")


def test_bad_numpy_content(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ImageReadError, match=r"obj\.npy"):
        read_oct(tmp_path / "obj.npy")
    np.save(tmp_path / "full.npy", VOLUME)
    (tmp_path / "cut.npy").write_bytes((tmp_path / "full.npy").read_bytes()[:-100])
    with pytest.raises(ImageReadError, match=r"cut\.npy: cannot read the \.npy file"):
        read_oct(tmp_path / "cut.npy")
    with_nan = VOLUME.astype(np.float32)
    with_nan[0, 0, :3] = np.nan
    np.save(tmp_path / "nan.npy", with_nan)
    with pytest.raises(ImageReadError, match="3 NaN or infinite voxels"):
        read_oct(tmp_path / "nan.npy")
    np.save(tmp_path / "4d.npy", np.zeros((2, 3, 4, 5), np.float32))
    with pytest.raises(ImageReadError, match=r"expected \[n_bscans, H, W\]"):
        read_oct(tmp_path / "4d.npy")
    np.save(tmp_path / "big.npy", VOLUME)
    with pytest.raises(ImageReadError, match="above the limit"):
        read_oct(tmp_path / "big.npy", max_voxels=1000)


@pytest.mark.parametrize(
    ("name", "vendor"),
    [
        ("scan.e2e", "Heidelberg"),
        ("scan.E2E", "Heidelberg"),
        ("cube.img", "Zeiss"),
        ("macula.fds", "Topcon"),
        ("disc.fda", "Topcon"),
        ("x.oct", "Bioptigen"),
    ],
)
def test_vendor_formats_are_refused_with_a_converter(tmp_path, name, vendor):
    path = tmp_path / name
    path.write_bytes(b"\x00\x01vendor-bytes" + bytes(300))
    with pytest.raises(ImageReadError) as err:
        read_oct(path)
    message = str(err.value)
    assert name in message and vendor in message and "oct-converter" in message
    assert "DICOM" in message


def test_missing_empty_and_unknown_files(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        read_oct(tmp_path / "none.npy")
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.tif: file is empty"):
        read_oct(tmp_path / "empty.tif")
    (tmp_path / "x.bin").write_bytes(bytes(range(256)))
    with pytest.raises(ImageReadError, match="not a supported OCT file"):
        read_oct(tmp_path / "x.bin")
    (tmp_path / "fake.tif").write_bytes(b"II*\x00" + bytes(60))
    with pytest.raises(ImageReadError, match=r"fake\.tif: cannot read the TIFF"):
        read_oct(tmp_path / "fake.tif")


@pytest.mark.parametrize("where", ["half", "page", "inside_page"])
def test_truncated_multipage_tiff(tmp_path, where):
    # without shape metadata a TIFF cut between pages would read as a shorter stack
    tifffile.imwrite(tmp_path / "v.tif", VOLUME, metadata=None)
    data = (tmp_path / "v.tif").read_bytes()
    with tifffile.TiffFile(tmp_path / "v.tif") as tif:
        fourth = tif.pages[3].offset
    cut = {"half": len(data) // 2, "page": fourth, "inside_page": fourth + 5}[where]
    (tmp_path / "cut.tif").write_bytes(data[:cut])
    with pytest.raises(ImageReadError, match=r"cut\.tif: image data is truncated"):
        read_oct(tmp_path / "cut.tif")


def test_select_and_resize_bscans():
    volume = OCTVolume(np.arange(10)[:, None, None] * np.ones((10, 8, 6)), (0.05, 0.004, 0.01))
    uniform = select_bscans(volume, 4)
    assert uniform.meta["bscan_indices"] == [0, 3, 6, 9]
    assert uniform.pixels[:, 0, 0].tolist() == [0, 3, 6, 9]
    assert uniform.spacing[0] == pytest.approx(0.15)
    centre = select_bscans(volume, 3, "center")
    assert centre.meta["bscan_indices"] == [3, 4, 5] and centre.spacing[0] == 0.05
    assert select_bscans(volume, 50).n_bscans == 10
    with pytest.raises(InputError, match="strategy"):
        select_bscans(volume, 3, "random")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="at least 1"):
        select_bscans(volume, 0)

    resized = resize_bscans(volume, 16, 3)
    assert resized.pixels.shape == (10, 16, 3)
    np.testing.assert_allclose(resized.pixels[:, 5, 1], np.arange(10), atol=1e-5)
    assert resized.spacing == (0.05, 0.002, 0.02)
    as_uint8 = resize_bscans(OCTVolume(VOLUME), 20)
    assert as_uint8.pixels.dtype == np.uint8 and as_uint8.pixels.shape == (6, 20, 20)
