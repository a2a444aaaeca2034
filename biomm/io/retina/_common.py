"""Shared checks of the retina readers: the file exists, is not empty, and what its bytes say.

Examples:
    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(8))
    'png'
    >>> sniff_format(b"II*\\x00" + bytes(12)), sniff_format(b"hello world12345")
    ('tiff', None)
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from biomm.errors import ImageReadError
from biomm.io._files import missing_reason

#: Leading bytes of the formats the readers recognise by content, not by extension.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\x93NUMPY", "npy"),
    (b"PK\x03\x04", "zip"),  # .npz
    (b"BM", "bmp"),
)


def sniff_format(head: bytes) -> str | None:
    """The format named by the first bytes of a file (``dicom`` needs 132 bytes), or None.

    Examples:
        >>> sniff_format(bytes(128) + b"DICM"), sniff_format(b"\\xff\\xd8\\xff\\xe0")
        ('dicom', 'jpeg')
    """
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def check_file(path: str | PathLike[str]) -> tuple[Path, bytes]:
    """Check that ``path`` is a non-empty file; return it and its first 132 bytes.

    Raises:
        ImageReadError: When the file is missing (or a broken or looping symbolic link), a
            folder, unreadable or empty.

    Examples:
        >>> check_file("no/such/file.png")
        Traceback (most recent call last):
        ...
        biomm.errors.ImageReadError: no/such/file.png: file not found
    """
    path = Path(path)
    reason = missing_reason(path)
    if reason is not None:
        raise ImageReadError(reason, path=path)
    if not path.is_file():
        raise ImageReadError("not a file (a folder or a device)", path=path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError as exc:
        raise ImageReadError(f"cannot read the file ({exc.strerror or exc})", path=path) from None
    if size == 0:
        raise ImageReadError("file is empty (0 bytes)", path=path)
    return path, head
