"""Bad fundus photographs (read with :func:`biomm.io.retina.read_fundus`).

PNG cases are assembled chunk by chunk (:func:`png_bytes`) so that exactly one thing is wrong;
JPEG, TIFF and DICOM cases damage valid files written with Pillow, tifffile and pydicom.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from tests.data.bad.corpus import Case, Reader


def _read(path: Path) -> None:
    from biomm.io.retina import read_fundus

    read_fundus(path)


READER = Reader("fundus", "biomm.io.retina.read_fundus(path)", _read)

OPHTHALMIC_PHOTOGRAPHY_8BIT = "1.2.840.10008.5.1.4.1.1.77.1.5.1"
OPHTHALMIC_TOMOGRAPHY = "1.2.840.10008.5.1.4.1.1.77.1.5.4"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
_UID_ROOT = "1.2.826.0.1.3680043.8.498.20261128."


def fundus(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A small synthetic fundus: an orange disc on black with a bright optic disc."""
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    r = np.hypot(x, y) / (size / 2)
    image = np.zeros((size, size, 3), np.float32)
    inside = r < 0.95
    image[inside] = (190, 90, 40)
    cx, cy = rng.uniform(-0.3, 0.3, 2) * size / 2
    disc = np.hypot(x - cx, y - cy) < size / 10
    image[disc] = (250, 220, 150)
    image += rng.normal(0, 4, image.shape) * inside[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def _chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bytes(
    pixels: np.ndarray | None,
    *,
    width: int | None = None,
    height: int | None = None,
    extra: list[bytes] | None = None,
    ihdr_crc: int | None = None,
    iend: bool = True,
) -> bytes:
    """An 8-bit RGB PNG of ``pixels`` (or only a header claiming ``width × height``)."""
    h, w = pixels.shape[:2] if pixels is not None else (height, width)
    width = w if width is None else width
    height = h if height is None else height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr, ihdr_crc)
    out += b"".join(extra or [])
    if pixels is not None:
        raw = b"".join(b"\0" + row.tobytes() for row in pixels)
        out += _chunk(b"IDAT", zlib.compress(raw, 9))
    return out + (_chunk(b"IEND", b"") if iend else b"")


def write_dicom_image(
    path: Path,
    pixels: np.ndarray,
    *,
    sop: str = OPHTHALMIC_PHOTOGRAPHY_8BIT,
    frames: int | None = None,
    rows: int | None = None,
    columns: int | None = None,
    pixel_data: bytes | None = None,
) -> Path:
    """A DICOM image: ``[H, W, 3]`` colour or ``[n, H, W]`` grey frames; fields overridable."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = _UID_ROOT + "11"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _UID_ROOT + "2"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OPT" if sop == OPHTHALMIC_TOMOGRAPHY else "OP"
    ds.PatientID = "BAD-0001"
    if pixels.ndim == 3 and pixels.shape[-1] == 3 and sop != OPHTHALMIC_TOMOGRAPHY:
        ds.Rows, ds.Columns = pixels.shape[:2]
        ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
        ds.PhotometricInterpretation = "RGB"
    else:
        stack = pixels if pixels.ndim == 3 else pixels[None]
        ds.NumberOfFrames = stack.shape[0] if frames is None else frames
        ds.Rows, ds.Columns = stack.shape[1:]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
    if rows is not None:
        ds.Rows = rows
    if columns is not None:
        ds.Columns = columns
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit, ds.PixelRepresentation = bits - 1, 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes() if pixel_data is None else pixel_data
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


# ---- the cases -------------------------------------------------------------------------------


def _zero_length(folder: Path, rng: np.random.Generator) -> str:
    (folder / "eye.jpg").write_bytes(b"")
    return "eye.jpg"


def _jpeg_truncated(folder: Path, rng: np.random.Generator) -> str:
    from PIL import Image

    path = folder / "eye.jpg"
    Image.fromarray(fundus(rng, 96)).save(path, format="JPEG", quality=85)
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 3 // 5])
    return path.name


def _png_without_iend(folder: Path, rng: np.random.Generator) -> str:
    (folder / "eye.png").write_bytes(png_bytes(fundus(rng), iend=False))
    return "eye.png"


def _png_huge_header(folder: Path, rng: np.random.Generator) -> str:
    (folder / "eye.png").write_bytes(png_bytes(None, width=100_000, height=100_000))
    return "eye.png"


def _text_named_jpg(folder: Path, rng: np.random.Generator) -> str:
    (folder / "eye.jpg").write_text(
        "<html><body><h1>503 Service Unavailable</h1>PACS export failed</body></html>\n",
        encoding="ascii",
    )
    return "eye.jpg"


def _png_bad_ihdr_crc(folder: Path, rng: np.random.Generator) -> str:
    (folder / "eye.png").write_bytes(png_bytes(fundus(rng), ihdr_crc=0))
    return "eye.png"


def _png_two_ihdr(folder: Path, rng: np.random.Generator) -> str:
    second = _chunk(b"IHDR", struct.pack(">IIBBBBB", 640, 480, 8, 2, 0, 0, 0))
    (folder / "eye.png").write_bytes(png_bytes(fundus(rng), extra=[second]))
    return "eye.png"


def _png_zero_width(folder: Path, rng: np.random.Generator) -> str:
    (folder / "eye.png").write_bytes(png_bytes(fundus(rng), width=0))
    return "eye.png"


def _tiff_strips_past_eof(folder: Path, rng: np.random.Generator) -> str:
    import tifffile

    path = folder / "eye.tif"
    tifffile.imwrite(path, fundus(rng), photometric="rgb", rowsperstrip=16)
    data = path.read_bytes()
    with tifffile.TiffFile(path) as tif:
        cut = int(tif.pages.first.dataoffsets[2])
    # keep the header and directory (written first by tifffile), drop the last strips
    path.write_bytes(data[:cut])
    return path.name


def _tiff_unknown_compression(folder: Path, rng: np.random.Generator) -> str:
    import tifffile

    path = folder / "eye.tif"
    tifffile.imwrite(path, fundus(rng), photometric="rgb", compression="zlib")
    with tifffile.TiffFile(path) as tif:
        where = tif.pages.first.tags["Compression"].valueoffset
    data = bytearray(path.read_bytes())
    data[where : where + 2] = struct.pack("<H", 60001)
    path.write_bytes(bytes(data))
    return path.name


def _tiff_float_nan(folder: Path, rng: np.random.Generator) -> str:
    import tifffile

    pixels = fundus(rng).astype(np.float32) / 255
    pixels[10:20, 10:20, 0] = np.nan
    tifffile.imwrite(folder / "eye.tif", pixels, photometric="rgb", compression="zlib")
    return "eye.tif"


def _tiff_two_channels(folder: Path, rng: np.random.Generator) -> str:
    import tifffile

    pixels = fundus(rng)[..., :2].copy()
    tifffile.imwrite(folder / "eye.tif", pixels, planarconfig="contig", compression="zlib")
    return "eye.tif"


def _dicom_frames_vs_data(folder: Path, rng: np.random.Generator) -> str:
    grey = fundus(rng)[..., 1]
    return write_dicom_image(folder / "eye.dcm", grey[None], frames=4).name


def _dicom_absurd_size(folder: Path, rng: np.random.Generator) -> str:
    pixels = fundus(rng)
    return write_dicom_image(folder / "eye.dcm", pixels, rows=65535, columns=65535).name


def _dicom_no_pixels(folder: Path, rng: np.random.Generator) -> str:
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ENCAPSULATED_PDF
    meta.MediaStorageSOPInstanceUID = _UID_ROOT + "12"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _UID_ROOT + "2"
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = ENCAPSULATED_PDF, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID = "DOC", "BAD-0001"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = b"%PDF-1.4\n% referral letter\n%%EOF\n"
    pydicom.dcmwrite(folder / "eye.dcm", ds, enforce_file_format=True)
    return "eye.dcm"


def _folder_named_png(folder: Path, rng: np.random.Generator) -> str:
    (folder / "eye.png").mkdir()
    (folder / "eye.png" / "README.txt").write_text("a folder, not a photo\n", "ascii")
    return "eye.png"


def _symlink_loop(folder: Path, rng: np.random.Generator) -> str:
    os.symlink("other.jpg", folder / "eye.jpg")
    os.symlink("eye.jpg", folder / "other.jpg")
    return "eye.jpg"


CASES = [
    Case(
        "zero-length",
        "a .jpg file of 0 bytes",
        "ImageReadError",
        r"empty",
        _zero_length,
        "zero-length",
    ),
    Case(
        "jpeg-truncated",
        "a JPEG cut at 60 % (no end-of-image marker)",
        "ImageReadError",
        r"truncated",
        _jpeg_truncated,
        "truncated",
    ),
    Case(
        "png-without-iend",
        "a PNG whose last chunk (IEND) is missing",
        "ImageReadError",
        r"truncated.*IEND",
        _png_without_iend,
        "truncated",
    ),
    Case(
        "png-huge-header",
        "a PNG header claiming 100000 × 100000 pixels",
        "ImageReadError",
        r"above the limit|decompression-bomb",
        _png_huge_header,
        "absurd-dimensions",
    ),
    Case(
        "html-named-jpg",
        "an HTML error page saved as .jpg",
        "ImageReadError",
        r"not an image",
        _text_named_jpg,
        "wrong-magic",
    ),
    Case(
        "png-bad-ihdr-crc",
        "a PNG whose IHDR chunk fails its CRC",
        "ImageReadError",
        r"corrupt header|CRC|broken",
        _png_bad_ihdr_crc,
        "other",
    ),
    Case(
        "png-two-ihdr",
        "a PNG with a second IHDR chunk (640 × 480) after the first",
        "ImageReadError",
        r"IHDR|cannot decode|chunk",
        _png_two_ihdr,
        "duplicated-keys",
    ),
    Case(
        "png-zero-width",
        "a PNG whose IHDR says width 0",
        "ImageReadError",
        r"empty size|cannot decode|not an image",
        _png_zero_width,
        "wrong-types",
    ),
    Case(
        "tiff-strips-past-eof",
        "a TIFF cut after 2 of its 4 strips",
        "ImageReadError",
        r"truncated",
        _tiff_strips_past_eof,
        "header-vs-data",
    ),
    Case(
        "tiff-unknown-compression",
        "a TIFF with compression code 60001, which no codec knows",
        "ImageReadError",
        r"compression",
        _tiff_unknown_compression,
        "unsupported-compression",
    ),
    Case(
        "tiff-float-nan",
        "a float32 TIFF with NaN in a 10 × 10 patch of the red channel",
        "ImageReadError",
        r"NaN|non-finite",
        _tiff_float_nan,
        "nan-inf",
    ),
    Case(
        "tiff-two-channels",
        "a 2-channel (grey + alpha) TIFF",
        "ImageReadError",
        r"unsupported image mode: 2 channels",
        _tiff_two_channels,
        "other",
    ),
    Case(
        "dicom-frames-vs-data",
        "a DICOM photo declaring 4 frames with pixel data for 1",
        "ImageReadError",
        r"pixel data",
        _dicom_frames_vs_data,
        "header-vs-data",
    ),
    Case(
        "dicom-absurd-size",
        "a DICOM photo declaring 65535 × 65535 pixels",
        "ImageReadError",
        r"above the limit",
        _dicom_absurd_size,
        "absurd-dimensions",
    ),
    Case(
        "dicom-without-pixels",
        "a DICOM encapsulated PDF (a referral letter) among the photos",
        "ImageReadError",
        r"no pixel data",
        _dicom_no_pixels,
        "wrong-magic",
    ),
    Case(
        "folder-named-png",
        "a folder named eye.png",
        "ImageReadError",
        r"not a file",
        _folder_named_png,
        "other",
    ),
    Case(
        "symlink-loop",
        "eye.jpg → other.jpg → eye.jpg",
        "ImageReadError",
        r"link",
        _symlink_loop,
        "other",
    ),
]
