"""Cheap file-format probes: extension, magic bytes and a header sanity check.

A probe reads at most a few kilobytes, so validating a manifest of thousands of slides takes
seconds. It answers "is this plausibly a readable file of the declared modality?"; the modality
readers give the final word when the file is opened.

Examples:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "img.png"
    >>> _ = p.write_bytes(b"not a png at all")
    >>> result = probe_file(p, "fundus")
    >>> (result.ok, result.code)
    (False, 'format_mismatch')
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_HEAD_BYTES = 4096


@dataclass(frozen=True)
class ProbeResult:
    """The outcome of probing one file.

    Attributes:
        ok: True when the file looks readable as the declared modality.
        format: The detected format name (``"tiff"``, ``"wfdb"``, ``"png"``, …) or None.
        code: A problem code when not ok (``file_not_found``, ``empty_file``,
            ``unknown_format``, ``format_mismatch``, ``unreadable_header``).
        reason: Human-readable reason when not ok.
    """

    ok: bool
    format: str | None = None
    code: str | None = None
    reason: str | None = None


def _fail(code: str, reason: str, fmt: str | None = None) -> ProbeResult:
    return ProbeResult(ok=False, format=fmt, code=code, reason=reason)


# ---- magic-byte checks --------------------------------------------------------------------


def _check_tiff(head: bytes, size: int) -> str | None:
    """Return a reason when ``head`` is not a plausible (Big)TIFF header, else None."""
    if len(head) < 8:
        return "file is too short for a TIFF header"
    order = head[:2]
    if order not in (b"II", b"MM"):
        return "missing TIFF byte-order mark (expected 'II' or 'MM')"
    endian = "<" if order == b"II" else ">"
    (version,) = struct.unpack(endian + "H", head[2:4])
    if version == 42:
        (offset,) = struct.unpack(endian + "I", head[4:8])
    elif version == 43:
        if len(head) < 16:
            return "file is too short for a BigTIFF header"
        (offset,) = struct.unpack(endian + "Q", head[8:16])
    else:
        return f"TIFF version {version} is neither 42 (TIFF) nor 43 (BigTIFF)"
    if offset < 8 or offset >= size:
        return f"first image directory offset {offset} lies outside the file ({size} bytes)"
    return None


def _check_dicom(head: bytes, size: int) -> str | None:
    if len(head) >= 132 and head[128:132] == b"DICM":
        return None
    return "missing DICOM 'DICM' marker at byte 128"


def _magic(prefix: bytes, what: str) -> Callable[[bytes, int], str | None]:
    def check(head: bytes, size: int) -> str | None:
        return None if head.startswith(prefix) else f"missing {what} signature"

    return check


def _check_jpeg(head: bytes, size: int) -> str | None:
    return None if head[:3] == b"\xff\xd8\xff" else "missing JPEG signature (FF D8 FF)"


def _check_npy(head: bytes, size: int) -> str | None:
    return None if head[:6] == b"\x93NUMPY" else "missing NumPy .npy signature"


def _check_zip(head: bytes, size: int) -> str | None:
    return None if head[:4] == b"PK\x03\x04" else "missing ZIP signature (.npz)"


def _check_text(head: bytes, size: int) -> str | None:
    if b"\x00" in head:
        return "binary data (NUL bytes) in a text file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte char cut at the end of the head is fine
            return f"not UTF-8 text (invalid byte at offset {exc.start})"
    return None


def _check_report(head: bytes, size: int) -> str | None:
    """A report file is text in UTF-8/UTF-16 (BOM) or cp1252, as the report reader decodes."""
    from biomm.errors import ReportReadError
    from biomm.io.reports.reader import decode_report_bytes

    if size == 0:
        return "empty report file"
    try:
        decode_report_bytes(head[: len(head) - 4] if len(head) >= 4096 else head)
    except ReportReadError as exc:
        return exc.reason
    return None


def _check_xml(head: bytes, size: int) -> str | None:
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith(b"<"):
        return "not an XML document (does not start with '<')"
    return None


def _check_edf(head: bytes, size: int) -> str | None:
    if len(head) < 256 or head[:8] not in (b"0       ", b"\xffBIOSEMI"):
        return "missing EDF header (first 8 bytes must be '0' padded with spaces)"
    return None


def _check_wfdb_header(head: bytes, size: int) -> str | None:
    reason = _check_text(head, size)
    if reason:
        return reason
    for line in head.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 2:
            return "WFDB record line needs at least a record name and a signal count"
        n_sig = fields[1]
        if not n_sig.isdigit():
            return f"WFDB record line: signal count {n_sig!r} is not an integer"
        if len(fields) >= 3:
            fs = fields[2].split("/")[0].split("(")[0]
            try:
                if float(fs) <= 0:
                    return f"WFDB record line: sampling frequency {fs!r} is not positive"
            except ValueError:
                return f"WFDB record line: sampling frequency {fs!r} is not a number"
        return None
    return "WFDB header has no record line"


_TIFF = ("tiff", _check_tiff)
_DICOM = ("dicom", _check_dicom)

#: modality → extension (lower case, with dot) → (format name, header check)
_FORMATS: dict[str, dict[str, tuple[str, Callable[[bytes, int], str | None]]]] = {
    "wsi": {
        ".svs": _TIFF,
        ".tif": _TIFF,
        ".tiff": _TIFF,
        ".ndpi": _TIFF,
        ".scn": _TIFF,
        ".bif": _TIFF,
        ".qptiff": _TIFF,
        ".svslide": ("sqlite", _magic(b"SQLite format 3\x00", "SQLite")),
        ".mrxs": ("mrxs", _check_text),
        ".vms": ("vms", _check_text),
        ".dcm": _DICOM,
    },
    "ecg": {
        ".hea": ("wfdb", _check_wfdb_header),
        ".xml": ("xml", _check_xml),
        ".dcm": _DICOM,
        ".npy": ("npy", _check_npy),
        ".npz": ("npz", _check_zip),
        ".csv": ("csv", _check_text),
        ".edf": ("edf", _check_edf),
    },
    "fundus": {
        ".png": ("png", _magic(b"\x89PNG\r\n\x1a\n", "PNG")),
        ".jpg": ("jpeg", _check_jpeg),
        ".jpeg": ("jpeg", _check_jpeg),
        ".tif": _TIFF,
        ".tiff": _TIFF,
        ".bmp": ("bmp", _magic(b"BM", "BMP")),
        ".dcm": _DICOM,
    },
    "oct": {
        ".tif": _TIFF,
        ".tiff": _TIFF,
        ".dcm": _DICOM,
        ".npy": ("npy", _check_npy),
        ".npz": ("npz", _check_zip),
    },
    "report": {
        ".txt": ("text", _check_report),
        ".md": ("text", _check_report),
        ".text": ("text", _check_report),
    },
    "table": {
        ".csv": ("csv", _check_text),
        ".tsv": ("tsv", _check_text),
        ".txt": ("tsv", _check_text),
        ".parquet": ("parquet", _magic(b"PAR1", "Parquet")),
    },
}


def known_extensions(modality: str) -> list[str]:
    """The file extensions biomm recognises for a modality.

    Examples:
        >>> known_extensions("fundus")
        ['.bmp', '.dcm', '.jpeg', '.jpg', '.png', '.tif', '.tiff']
    """
    return sorted(_FORMATS.get(modality, {}))


def _extension(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".ome.tif") or name.endswith(".ome.tiff"):
        return ".tif"
    return path.suffix.lower()


def probe_file(path: str | Path, modality: str) -> ProbeResult:
    """Check that ``path`` exists and looks like a file of ``modality``.

    WFDB records may be named with or without ``.hea`` (``records/100`` → ``records/100.hea``);
    a WSI may be a folder of DICOM files. Never raises on bad input: problems come back in the
    result.

    Args:
        path: The file to probe.
        modality: ``wsi``, ``ecg``, ``fundus``, ``oct``, ``report`` or ``table``.

    Examples:
        >>> probe_file("/nonexistent/slide.svs", "wsi").code
        'file_not_found'
    """
    path = Path(path)
    formats = _FORMATS.get(modality)
    if formats is None:
        raise ValueError(f"unknown modality {modality!r}; expected one of {sorted(_FORMATS)}")
    if modality == "ecg" and path.suffix.lower() not in formats:
        header = path.with_name(path.name + ".hea")
        if header.is_file():  # WFDB record name without extension
            path = header
    if path.is_dir():
        if modality in ("wsi", "oct") and any(path.glob("*.dcm")):
            return ProbeResult(ok=True, format="dicom-folder")
        return _fail("format_mismatch", "is a folder, not a file")
    if not path.exists():
        return _fail("file_not_found", "file not found")
    ext = _extension(path)
    if ext not in formats:
        allowed = ", ".join(known_extensions(modality))
        return _fail(
            "unknown_format",
            f"extension {ext or '(none)'!r} is not a known {modality} format ({allowed})",
        )
    fmt, check = formats[ext]
    try:
        size = path.stat().st_size
        if size == 0:
            return _fail("empty_file", "file is empty (0 bytes)", fmt)
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except OSError as exc:
        return _fail("unreadable_file", f"cannot read file: {exc.strerror or exc}", fmt)
    reason = check(head, size)
    if reason:
        return _fail("format_mismatch", f"not a valid {fmt} file: {reason}", fmt)
    if fmt == "wfdb":
        return _probe_wfdb_signals(path, head)
    if fmt == "mrxs" and not path.with_suffix("").is_dir():
        return _fail("format_mismatch", "MIRAX slide lacks its data folder next to the .mrxs", fmt)
    return ProbeResult(ok=True, format=fmt)


def _probe_wfdb_signals(header: Path, head: bytes) -> ProbeResult:
    """Check that the signal files a WFDB header names exist next to it."""
    lines = [
        ln.strip()
        for ln in head.decode("utf-8", errors="replace").splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    record = lines[0].split()
    if "/" in record[0]:  # multi-segment record: segments are checked when read
        return ProbeResult(ok=True, format="wfdb")
    n_sig = int(record[1])
    missing = set()
    for line in lines[1 : 1 + n_sig]:
        fname = line.split()[0]
        if fname != "~" and not (header.parent / fname).is_file():
            missing.add(fname)
    if missing:
        return _fail(
            "file_not_found", f"WFDB signal file(s) missing: {', '.join(sorted(missing))}", "wfdb"
        )
    return ProbeResult(ok=True, format="wfdb")
