"""Bad OCT volumes (read with :func:`biomm.io.retina.read_oct`).

Cases damage small valid volumes (8 B-scans of 32 × 48) written as NumPy, TIFF / OME-TIFF and
DICOM, or patch one header field, so that exactly one thing is wrong with each.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np

from tests.data.bad.cases_fundus import OPHTHALMIC_TOMOGRAPHY, write_dicom_image
from tests.data.bad.corpus import Case, Reader


def _read(path: Path) -> None:
    from biomm.io.retina import read_oct

    read_oct(path)


READER = Reader("oct", "biomm.io.retina.read_oct(path)", _read)


def volume(rng: np.random.Generator, n: int = 8) -> np.ndarray:
    """``[n, 32, 48]`` uint8: bright retinal layers over speckle."""
    depth = np.arange(32)[:, None]
    layers = 120 * np.exp(-0.5 * ((depth - 12) / 2.0) ** 2) + 80 * np.exp(
        -0.5 * ((depth - 22) / 1.5) ** 2
    )
    speckle = rng.gamma(2.0, 10.0, (n, 32, 48))
    return np.clip(layers[None] + speckle, 0, 255).astype(np.uint8)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _patch_npy_shape(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace the shape in a ``.npy`` header, keeping the header's length."""
    end = data.index(b"\n") + 1
    header = data[:end]
    assert old in header, header
    header = header.replace(old, new)[:-1].rstrip(b" ")
    header = header + b" " * (end - 1 - len(header)) + b"\n"
    return header + data[end:]


# ---- NumPy -----------------------------------------------------------------------------------


def _zero_length(folder: Path, rng: np.random.Generator) -> str:
    (folder / "scan.npy").write_bytes(b"")
    return "scan.npy"


def _npy_truncated(folder: Path, rng: np.random.Generator) -> str:
    data = _npy_bytes(volume(rng))
    (folder / "scan.npy").write_bytes(data[: len(data) // 2])
    return "scan.npy"


def _npy_absurd_shape(folder: Path, rng: np.random.Generator) -> str:
    data = _npy_bytes(volume(rng))
    data = _patch_npy_shape(data, b"(8, 32, 48)", b"(1000000, 1000000, 1000000)")
    (folder / "scan.npy").write_bytes(data)
    return "scan.npy"


def _npy_objects(folder: Path, rng: np.random.Generator) -> str:
    (folder / "scan.npy").write_bytes(_npy_bytes(np.array([{"bscan": 1}, "eye"], dtype=object)))
    return "scan.npy"


def _npy_nan(folder: Path, rng: np.random.Generator) -> str:
    data = volume(rng).astype(np.float32)
    data[3, 10:20, :] = np.nan
    data[5, 0, 0] = np.inf
    (folder / "scan.npy").write_bytes(_npy_bytes(data))
    return "scan.npy"


def _npy_empty_axis(folder: Path, rng: np.random.Generator) -> str:
    (folder / "scan.npy").write_bytes(_npy_bytes(np.zeros((0, 32, 48), np.uint8)))
    return "scan.npy"


def _npz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name.split("#")[0], date_time=(2026, 1, 1, 0, 0, 0))
            archive.writestr(info, data)
    return buffer.getvalue()


def _npz_without_volume(folder: Path, rng: np.random.Generator) -> str:
    members = {"bscans.npy": _npy_bytes(volume(rng)), "spacing.npy": _npy_bytes(np.ones(3))}
    (folder / "scan.npz").write_bytes(_npz(members))
    return "scan.npz"


def _npz_cut(folder: Path, rng: np.random.Generator) -> str:
    data = _npz({"volume.npy": _npy_bytes(volume(rng))})
    (folder / "scan.npz").write_bytes(data[: len(data) * 2 // 3])
    return "scan.npz"


def _npz_spacing_text(folder: Path, rng: np.random.Generator) -> str:
    members = {
        "volume.npy": _npy_bytes(volume(rng)),
        "spacing.npy": _npy_bytes(np.array(["0.12", "3.9 um", "11.7 um"])),
    }
    (folder / "scan.npz").write_bytes(_npz(members))
    return "scan.npz"


def _npz_negative_spacing(folder: Path, rng: np.random.Generator) -> str:
    members = {
        "volume.npy": _npy_bytes(volume(rng)),
        "spacing.npy": _npy_bytes(np.array([0.12, -0.0039, 0.0117])),
    }
    (folder / "scan.npz").write_bytes(_npz(members))
    return "scan.npz"


def _npz_two_volumes(folder: Path, rng: np.random.Generator) -> str:
    import warnings

    members = {
        "volume.npy": _npy_bytes(volume(rng)),
        "volume.npy#2": _npy_bytes(volume(rng, 2)),  # a second member with the same name
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        (folder / "scan.npz").write_bytes(_npz(members))
    return "scan.npz"


# ---- TIFF ------------------------------------------------------------------------------------


def _tiff_cut_between_pages(folder: Path, rng: np.random.Generator) -> str:
    import tifffile

    path = folder / "scan.tif"
    tifffile.imwrite(path, volume(rng), photometric="minisblack", metadata=None)
    with tifffile.TiffFile(path) as tif:
        cut = tif.pages[4].offset + 2  # inside the 5th page's directory
    path.write_bytes(path.read_bytes()[:cut])
    return path.name


def _tiff_ifd_loop(folder: Path, rng: np.random.Generator) -> str:
    import tifffile

    path = folder / "scan.tif"
    tifffile.imwrite(path, volume(rng, 3), photometric="minisblack", metadata=None)
    with tifffile.TiffFile(path) as tif:
        first, last = tif.pages[0].offset, tif.pages[2].offset
        n_tags = len(tif.pages[2].tags)
    data = bytearray(path.read_bytes())
    next_field = last + 2 + 12 * n_tags  # the last page's "next directory" offset
    data[next_field : next_field + 4] = struct.pack("<I", first)
    path.write_bytes(bytes(data))
    return path.name


def _tiff_unknown_compression(folder: Path, rng: np.random.Generator) -> str:
    import tifffile

    path = folder / "scan.tif"
    tifffile.imwrite(path, volume(rng, 2), photometric="minisblack", compression="zlib")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        offsets = [page.tags["Compression"].valueoffset for page in tif.pages]
    for where in offsets:
        data[where : where + 2] = struct.pack("<H", 60001)
    path.write_bytes(bytes(data))
    return path.name


def _tiff_two_stack_axes(folder: Path, rng: np.random.Generator) -> str:
    import tifffile

    stack = volume(rng, 6).reshape(2, 3, 32, 48)  # 2 time points × 3 B-scans
    tifffile.imwrite(folder / "scan.tif", stack, imagej=True, metadata={"axes": "TZYX"})
    return "scan.tif"


def _text_named_tif(folder: Path, rng: np.random.Generator) -> str:
    (folder / "scan.tif").write_text(
        "B-scan export failed: license server unreachable\n", encoding="ascii"
    )
    return "scan.tif"


def _vendor_e2e(folder: Path, rng: np.random.Generator) -> str:
    (folder / "scan.e2e").write_bytes(b"CMDb" + bytes(12) + rng.bytes(400))
    return "scan.e2e"


# ---- DICOM -----------------------------------------------------------------------------------


def _dicom_frames_vs_data(folder: Path, rng: np.random.Generator) -> str:
    path = folder / "scan.dcm"
    return write_dicom_image(path, volume(rng, 4), sop=OPHTHALMIC_TOMOGRAPHY, frames=10).name


def _dicom_absurd_frames(folder: Path, rng: np.random.Generator) -> str:
    path = folder / "scan.dcm"
    frames = 2_000_000_000
    return write_dicom_image(path, volume(rng, 2), sop=OPHTHALMIC_TOMOGRAPHY, frames=frames).name


CASES = [
    Case(
        "zero-length",
        "a .npy file of 0 bytes",
        "ImageReadError",
        r"empty",
        _zero_length,
        "zero-length",
    ),
    Case(
        "npy-truncated",
        "a .npy volume cut in half",
        "ImageReadError",
        r"truncated",
        _npy_truncated,
        "truncated",
    ),
    Case(
        "npy-absurd-shape",
        "a .npy header claiming 10⁶ × 10⁶ × 10⁶ voxels",
        "ImageReadError",
        r"above the limit",
        _npy_absurd_shape,
        "absurd-dimensions",
    ),
    Case(
        "npy-python-objects",
        "a .npy of pickled Python objects",
        "ImageReadError",
        r"Python objects",
        _npy_objects,
        "wrong-types",
    ),
    Case(
        "npy-nan-inf",
        "a float32 volume with a NaN band and one +inf voxel",
        "ImageReadError",
        r"NaN or infinite",
        _npy_nan,
        "nan-inf",
    ),
    Case(
        "npy-zero-bscans",
        "a .npy volume of shape (0, 32, 48)",
        "ImageReadError",
        r"not an OCT volume",
        _npy_empty_axis,
        "other",
    ),
    Case(
        "npz-without-volume",
        "an .npz whose arrays are 'bscans' and 'spacing' (no 'volume')",
        "ImageReadError",
        r"no 'volume' array",
        _npz_without_volume,
        "missing",
    ),
    Case(
        "npz-cut",
        "an .npz cut at two thirds (no zip directory)",
        "ImageReadError",
        r"truncated or corrupt",
        _npz_cut,
        "truncated",
    ),
    Case(
        "npz-spacing-as-text",
        "an .npz whose 'spacing' holds strings ('3.9 um')",
        "ImageReadError",
        r"'spacing' must be three positive numbers",
        _npz_spacing_text,
        "wrong-types",
    ),
    Case(
        "npz-negative-spacing",
        "an .npz whose 'spacing' has a negative axial spacing",
        "ImageReadError",
        r"'spacing' must be three positive numbers",
        _npz_negative_spacing,
        "wrong-types",
    ),
    Case(
        "npz-two-volumes",
        "an .npz with two members named volume.npy (8 and 2 B-scans)",
        "ImageReadError",
        r"more than once",
        _npz_two_volumes,
        "duplicated-keys",
    ),
    Case(
        "tiff-cut-between-pages",
        "an 8-page TIFF cut inside the 5th page's directory",
        "ImageReadError",
        r"truncated",
        _tiff_cut_between_pages,
        "truncated",
    ),
    Case(
        "tiff-directory-loop",
        "a 3-page TIFF whose last directory points back to the first",
        "ImageReadError",
        r"loop",
        _tiff_ifd_loop,
        "header-vs-data",
    ),
    Case(
        "tiff-unknown-compression",
        "a TIFF stack with compression code 60001, which no codec knows",
        "ImageReadError",
        r"compression",
        _tiff_unknown_compression,
        "unsupported-compression",
    ),
    Case(
        "tiff-two-stack-axes",
        "an ImageJ TIFF with time and depth axes (TZYX)",
        "ImageReadError",
        r"more than one stack axis",
        _tiff_two_stack_axes,
        "other",
    ),
    Case(
        "text-named-tif",
        "an error message saved as .tif",
        "ImageReadError",
        r"not a supported OCT file",
        _text_named_tif,
        "wrong-magic",
    ),
    Case(
        "vendor-e2e",
        "a Heidelberg .e2e file",
        "ImageReadError",
        r"proprietary.*oct-converter",
        _vendor_e2e,
        "unsupported-compression",
    ),
    Case(
        "dicom-frames-vs-data",
        "an OCT DICOM declaring 10 frames with pixel data for 4",
        "ImageReadError",
        r"pixel data",
        _dicom_frames_vs_data,
        "header-vs-data",
    ),
    Case(
        "dicom-absurd-frames",
        "an OCT DICOM declaring 2·10⁹ frames",
        "ImageReadError",
        r"above the limit",
        _dicom_absurd_frames,
        "absurd-dimensions",
    ),
]
