"""Bad whole-slide images (read with :func:`biomm.io.wsi.open_slide`, then a thumbnail and regions).

Most cases are small hand-made TIFFs (:func:`tiff_bytes`), so that exactly one thing is wrong
with each: a tag pointing past the end of the file, a compression code nobody decodes, a
header claiming a 10⁶ × 10⁶ image. The rest damage a real Aperio-style pyramid written by
:func:`biomm.demo.synthetic.write_pyramidal_svs`.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from tests.data.bad.corpus import Case, Reader

#: Region size (pixels at 0.5 µm/px) read after the thumbnail, as tiling/embedding do.
PATCH = 224


def _read(path: Path) -> None:
    from biomm.io.wsi import open_slide

    with open_slide(path) as slide:  # default backend and mpp policy, as a cohort run
        slide.thumbnail(mpp=8.0)  # tissue detection
        width, height = slide.dimensions
        for fx, fy in ((0.0, 0.0), (0.5, 0.5), (1.0, 1.0)):  # tiles, as embedding reads them
            x, y = int(fx * max(width - PATCH, 0)), int(fy * max(height - PATCH, 0))
            slide.read(x, y, PATCH, PATCH, mpp=0.5)


READER = Reader("wsi", "biomm.io.wsi.open_slide(path) + thumbnail + read", _read)

# ---- a minimal TIFF writer: exactly the tags a case needs ------------------------------------

SHORT, LONG, RATIONAL, ASCII = 3, 4, 5, 2
_SIZES = {SHORT: 2, LONG: 4, RATIONAL: 8, ASCII: 1}


def tiff_bytes(tags: dict[int, tuple[int, list[int] | bytes]], data: bytes) -> bytes:
    """A little-endian classic TIFF: header, ``data`` at byte 8, then one IFD with ``tags``.

    Offsets inside ``data`` are the caller's (``data`` starts at byte 8). Values that do not
    fit in 4 bytes follow the IFD.
    """
    ifd_offset = 8 + len(data) + (len(data) % 2)
    n = len(tags)
    extra_offset = ifd_offset + 2 + 12 * n + 4
    entries, extra = [], b""
    for tag in sorted(tags):
        kind, values = tags[tag]
        if kind == ASCII:
            raw = bytes(values) + b"\0"
            count = len(raw)
        elif kind == RATIONAL:
            raw = b"".join(
                struct.pack("<II", *pair) for pair in zip(values[::2], values[1::2], strict=True)
            )
            count = len(values) // 2
        else:
            raw = struct.pack(f"<{len(values)}{'H' if kind == SHORT else 'I'}", *values)
            count = len(values)
        if len(raw) <= 4:
            entries.append(struct.pack("<HHI", tag, kind, count) + raw.ljust(4, b"\0"))
        else:
            entries.append(struct.pack("<HHII", tag, kind, count, extra_offset + len(extra)))
            extra += raw + b"\0" * (len(raw) % 2)
    header = b"II*\0" + struct.pack("<I", ifd_offset)
    ifd = struct.pack("<H", n) + b"".join(entries) + struct.pack("<I", 0)
    return header + data + b"\0" * (len(data) % 2) + ifd + extra


def _image(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth pink-and-white H&E-like RGB image (compresses to a few KB)."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = 0.5 + 0.5 * np.sin(6 * x + rng.uniform(0, 6)) * np.cos(5 * y + rng.uniform(0, 6))
    rgb = np.stack([235 - 40 * base, 200 - 110 * base, 225 - 50 * base], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def tiled_tiff(
    rng: np.random.Generator,
    *,
    size: int = 64,
    tile: int = 32,
    compression: int = 8,
    mpp: float | None = 0.5,
    description: bytes | None = None,
    overrides: dict[int, tuple[int, list[int] | bytes]] | None = None,
    pixels: np.ndarray | None = None,
) -> bytes:
    """A tiled RGB TIFF (deflate tiles) with optional resolution, description and tag overrides."""
    image = _image(rng, size) if pixels is None else pixels
    tiles, offsets, counts = [], [], []
    position = 8
    for ty in range(0, size, tile):
        for tx in range(0, size, tile):
            raw = np.ascontiguousarray(image[ty : ty + tile, tx : tx + tile]).tobytes()
            blob = zlib.compress(raw, 9) if compression == 8 else raw
            tiles.append(blob)
            offsets.append(position)
            counts.append(len(blob))
            position += len(blob)
    bits = image.dtype.itemsize * 8
    sample_format = 3 if image.dtype.kind == "f" else 1
    tags: dict[int, tuple[int, list[int] | bytes]] = {
        256: (LONG, [size]),  # ImageWidth
        257: (LONG, [size]),  # ImageLength
        258: (SHORT, [bits] * 3),  # BitsPerSample
        259: (SHORT, [compression]),  # Compression
        262: (SHORT, [2]),  # Photometric RGB
        277: (SHORT, [3]),  # SamplesPerPixel
        284: (SHORT, [1]),  # PlanarConfiguration contig
        322: (SHORT, [tile]),  # TileWidth
        323: (SHORT, [tile]),  # TileLength
        324: (LONG, offsets),  # TileOffsets
        325: (LONG, counts),  # TileByteCounts
        339: (SHORT, [sample_format] * 3),  # SampleFormat
    }
    if mpp is not None:
        per_cm = round(1e4 / mpp)
        tags[282] = (RATIONAL, [per_cm, 1])  # XResolution
        tags[283] = (RATIONAL, [per_cm, 1])  # YResolution
        tags[296] = (SHORT, [3])  # ResolutionUnit centimetre
    if description is not None:
        tags[270] = (ASCII, description)  # ImageDescription
    tags.update(overrides or {})
    return tiff_bytes(tags, b"".join(tiles))


def _aperio(mpp: str, extra: str = "") -> bytes:
    return (
        "Aperio Image Library v12.0.0 \r\n64x64 [0,0 64x64] (32x32) Deflate"
        f"|AppMag = 20|MPP = {mpp}{extra}"
    ).encode()


def _svs(folder: Path, rng: np.random.Generator, name: str = "slide.svs") -> Path:
    from biomm.demo.synthetic import write_pyramidal_svs

    path = folder / name
    write_pyramidal_svs(path, _image(rng, 512), mpp=0.5)
    return path


# ---- the cases -------------------------------------------------------------------------------


def _truncated_mid_tile(folder: Path, rng: np.random.Generator) -> str:
    path = _svs(folder, rng)
    data = path.read_bytes()
    # cut in the middle of the last tile's JPEG data: the header and first tiles survive
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        last = int(page.dataoffsets[-1]) + int(page.databytecounts[-1]) // 2
    path.write_bytes(data[:last])
    return path.name


def _truncated_in_header(folder: Path, rng: np.random.Generator) -> str:
    data = tiled_tiff(rng)
    ifd = struct.unpack("<I", data[4:8])[0]
    (folder / "slide.tif").write_bytes(data[: ifd + 2 + 12 * 5])  # cut after 5 of 14 tags
    return "slide.tif"


def _first_ifd_past_eof(folder: Path, rng: np.random.Generator) -> str:
    data = bytearray(tiled_tiff(rng))
    data[4:8] = struct.pack("<I", len(data) + 1000)  # the header points past the end
    (folder / "slide.tif").write_bytes(bytes(data))
    return "slide.tif"


def _zero_length(folder: Path, rng: np.random.Generator) -> str:
    (folder / "slide.svs").write_bytes(b"")
    return "slide.svs"


def _png_named_svs(folder: Path, rng: np.random.Generator) -> str:
    from PIL import Image

    Image.fromarray(_image(rng, 64)).save(folder / "slide.svs", format="PNG")
    return "slide.svs"


def _text_named_svs(folder: Path, rng: np.random.Generator) -> str:
    (folder / "slide.svs").write_text(
        "Version: https://git-lfs.github.com/spec/v1\noid sha256:" + "ab" * 32 + "\nsize 1\n",
        encoding="ascii",
    )
    return "slide.svs"


def _tile_offsets_past_eof(folder: Path, rng: np.random.Generator) -> str:
    data = tiled_tiff(rng, overrides={324: (LONG, [8, 10_000_000, 20_000_000, 30_000_000])})
    (folder / "slide.tif").write_bytes(data)
    return "slide.tif"


def _absurd_dimensions(folder: Path, rng: np.random.Generator) -> str:
    # a one-strip 10⁶ × 10⁶ RGB image whose single strip is a few bytes
    tags = {
        256: (LONG, [1_000_000]),
        257: (LONG, [1_000_000]),
        258: (SHORT, [8, 8, 8]),
        259: (SHORT, [8]),
        262: (SHORT, [2]),
        273: (LONG, [8]),  # StripOffsets
        277: (SHORT, [3]),
        278: (LONG, [1_000_000]),  # RowsPerStrip
        279: (LONG, [64]),  # StripByteCounts
        282: (RATIONAL, [20000, 1]),
        283: (RATIONAL, [20000, 1]),
        296: (SHORT, [3]),
    }
    (folder / "slide.tif").write_bytes(tiff_bytes(tags, zlib.compress(bytes(1000))[:64]))
    return "slide.tif"


def _unknown_compression(folder: Path, rng: np.random.Generator) -> str:
    (folder / "slide.tif").write_bytes(
        tiled_tiff(rng, compression=8, overrides={259: (SHORT, [60001])})
    )
    return "slide.tif"


def _jpegxr_compression(folder: Path, rng: np.random.Generator) -> str:
    # compression 22610 (JPEG XR, Hamamatsu/Philips exports) with deflate bytes inside
    (folder / "slide.tif").write_bytes(tiled_tiff(rng, overrides={259: (SHORT, [22610])}))
    return "slide.tif"


def _corrupt_tiles(folder: Path, rng: np.random.Generator) -> str:
    # every tile's deflate stream is random bytes: the header is fine, nothing decodes
    data = bytearray(tiled_tiff(rng))
    import tifffile

    path = folder / "slide.tif"
    path.write_bytes(bytes(data))
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        spans = list(zip(page.dataoffsets, page.databytecounts, strict=True))
    for offset, count in spans:
        data[offset : offset + count] = rng.integers(0, 256, count, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return "slide.tif"


def _nan_pixels(folder: Path, rng: np.random.Generator) -> str:
    pixels = _image(rng, 64).astype(np.float32) / 255
    pixels[:, :, 1] = np.nan
    (folder / "slide.tif").write_bytes(tiled_tiff(rng, pixels=pixels))
    return "slide.tif"


def _mpp_missing(folder: Path, rng: np.random.Generator) -> str:
    (folder / "slide.tif").write_bytes(tiled_tiff(rng, mpp=None))
    return "slide.tif"


def _mpp_zero(folder: Path, rng: np.random.Generator) -> str:
    data = tiled_tiff(rng, mpp=None, description=_aperio("0"))
    (folder / "slide.svs").write_bytes(data)
    return "slide.svs"


def _mpp_absurd(folder: Path, rng: np.random.Generator) -> str:
    data = tiled_tiff(rng, mpp=None, description=_aperio("250000"))
    (folder / "slide.svs").write_bytes(data)
    return "slide.svs"


def _mpp_not_a_number(folder: Path, rng: np.random.Generator) -> str:
    data = tiled_tiff(rng, mpp=None, description=_aperio("abc"))
    (folder / "slide.svs").write_bytes(data)
    return "slide.svs"


def _mpp_twice(folder: Path, rng: np.random.Generator) -> str:
    data = tiled_tiff(rng, mpp=None, description=_aperio("0.25", "|MPP = 0.5"))
    (folder / "slide.svs").write_bytes(data)
    return "slide.svs"


def _description_latin1(folder: Path, rng: np.random.Generator) -> str:
    # a Windows-1252 description ("µm" as byte 0xB5) whose MPP value is unreadable
    desc = b"Aperio Image Library v12.0.0 \r\nScanner \xb5-Scope|AppMag = 20|MPP = 0\xb72520"
    (folder / "slide.svs").write_bytes(tiled_tiff(rng, mpp=None, description=desc))
    return "slide.svs"


def _folder_named_svs(folder: Path, rng: np.random.Generator) -> str:
    (folder / "slide.svs").mkdir()
    (folder / "slide.svs" / "README.txt").write_text("a folder, not a slide\n", "ascii")
    return "slide.svs"


def _symlink_loop(folder: Path, rng: np.random.Generator) -> str:
    os.symlink("other.svs", folder / "slide.svs")
    os.symlink("slide.svs", folder / "other.svs")
    return "slide.svs"


def _absurd_dimensions_tiled(folder: Path, rng: np.random.Generator) -> str:
    # a sparse tiled 10⁶ × 10⁶ image (every tile empty): each tile is plausible, the whole not
    n = (-(-1_000_000 // 16384)) ** 2
    data = tiled_tiff(
        rng,
        overrides={
            256: (LONG, [1_000_000]),
            257: (LONG, [1_000_000]),
            322: (LONG, [16384]),
            323: (LONG, [16384]),
            324: (LONG, [0] * n),
            325: (LONG, [0] * n),
        },
    )
    (folder / "slide.tif").write_bytes(data)
    return "slide.tif"


def _zero_width(folder: Path, rng: np.random.Generator) -> str:
    (folder / "slide.tif").write_bytes(tiled_tiff(rng, overrides={256: (LONG, [0])}))
    return "slide.tif"


def _tile_size_text(folder: Path, rng: np.random.Generator) -> str:
    # TileWidth stored as the text "32" instead of a number
    (folder / "slide.tif").write_bytes(tiled_tiff(rng, overrides={322: (ASCII, b"32")}))
    return "slide.tif"


CASES = [
    Case(
        "first-ifd-past-eof",
        "a tiled TIFF whose header points its first image directory past the end of the file",
        "SlideReadError",
        r"invalid offset to first page",
        _first_ifd_past_eof,
        "header-vs-data",
    ),
    Case(
        "truncated-mid-tile",
        "an Aperio SVS cut in the middle of its last tile (interrupted copy)",
        "SlideReadError",
        r"truncated|past the end|beyond the end",
        _truncated_mid_tile,
        "truncated",
    ),
    Case(
        "truncated-in-header",
        "a tiled TIFF cut inside its image directory",
        "SlideReadError",
        r"not a readable TIFF|truncated|does not recogni[sz]e",
        _truncated_in_header,
        "truncated",
    ),
    Case(
        "zero-length",
        "an .svs file of 0 bytes",
        "SlideReadError",
        r"empty",
        _zero_length,
        "zero-length",
    ),
    Case(
        "png-named-svs",
        "a PNG photo renamed to .svs",
        "SlideReadError",
        r"not a readable TIFF|does not recogni[sz]e",
        _png_named_svs,
        "wrong-magic",
    ),
    Case(
        "git-lfs-pointer",
        "a Git LFS pointer (text) checked out instead of the slide",
        "SlideReadError",
        r"not a readable TIFF|does not recogni[sz]e",
        _text_named_svs,
        "wrong-magic",
    ),
    Case(
        "tile-offsets-past-eof",
        "TileOffsets point 10-30 MB past the end of a 5 KB file",
        "SlideReadError",
        r"truncated|past the end|beyond the end",
        _tile_offsets_past_eof,
        "header-vs-data",
    ),
    Case(
        "absurd-dimensions",
        "a header claiming a 10⁶ × 10⁶ pixel image in a 300-byte file",
        "SlideReadError",
        r"dimensions|too large|pixels",
        _absurd_dimensions,
        "absurd-dimensions",
    ),
    Case(
        "unknown-compression",
        "tiles with compression code 60001, which no codec knows",
        "SlideReadError",
        r"compression",
        _unknown_compression,
        "unsupported-compression",
    ),
    Case(
        "jpegxr-compression",
        "tiles declared JPEG XR (22610) but holding other bytes",
        "SlideReadError",
        r"compression|decode",
        _jpegxr_compression,
        "unsupported-compression",
    ),
    Case(
        "corrupt-tiles",
        "every tile's deflate stream replaced by random bytes",
        "SlideReadError",
        r"decode",
        _corrupt_tiles,
        "other",
    ),
    Case(
        "nan-pixels",
        "a float32 RGB slide whose green channel is NaN",
        "SlideReadError",
        r"NaN|non-finite",
        _nan_pixels,
        "nan-inf",
    ),
    Case(
        "mpp-missing",
        "a tiled TIFF without resolution tags or vendor MPP (default mpp policy)",
        "SlideReadError",
        r"no resolution \(mpp\)",
        _mpp_missing,
        "missing",
    ),
    Case(
        "mpp-zero",
        "an Aperio description with MPP = 0",
        "SlideReadError",
        r"no resolution \(mpp\).*implausible",
        _mpp_zero,
        "wrong-types",
    ),
    Case(
        "mpp-absurd",
        "an Aperio description with MPP = 250000 µm/px",
        "SlideReadError",
        r"no resolution \(mpp\).*implausible",
        _mpp_absurd,
        "absurd-dimensions",
    ),
    Case(
        "mpp-not-a-number",
        "an Aperio description with MPP = abc",
        "SlideReadError",
        r"no resolution \(mpp\).*not a number",
        _mpp_not_a_number,
        "wrong-types",
    ),
    Case(
        "mpp-given-twice",
        "an Aperio description with two different MPP entries (0.25 and 0.5)",
        "SlideReadError",
        r"no resolution \(mpp\).*conflicting",
        _mpp_twice,
        "duplicated-keys",
    ),
    Case(
        "description-cp1252",
        "a Windows-1252 (non-UTF-8) description whose MPP uses a middle dot for a decimal point",
        "SlideReadError",
        r"no resolution \(mpp\)",
        _description_latin1,
        "non-utf8",
    ),
    Case(
        "absurd-dimensions-tiled",
        "a sparse tiled TIFF claiming 10⁶ × 10⁶ pixels (16384-pixel tiles, all empty)",
        "SlideReadError",
        r"dimensions|too large",
        _absurd_dimensions_tiled,
        "absurd-dimensions",
    ),
    Case(
        "zero-width",
        "ImageWidth = 0",
        "SlideReadError",
        r"not a readable TIFF|dimensions|does not recogni[sz]e",
        _zero_width,
        "wrong-types",
    ),
    Case(
        "tile-width-as-text",
        "TileWidth stored as the ASCII text '32' instead of a number",
        "SlideReadError",
        r"not a readable TIFF|does not recogni[sz]e|cannot open",
        _tile_size_text,
        "wrong-types",
    ),
    Case(
        "folder-named-svs",
        "a folder named slide.svs",
        "SlideReadError",
        r"folder",
        _folder_named_svs,
        "other",
    ),
    Case(
        "symlink-loop",
        "slide.svs → other.svs → slide.svs",
        "SlideReadError",
        r"link",
        _symlink_loop,
        "other",
    ),
]
