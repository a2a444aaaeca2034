"""Read free-text reports: inline text or ``.txt``/``.md``/``.text`` files, decoded safely.

Decoding, in order:

1. an explicit ``encoding=`` is used strictly (an error names the first bad byte);
2. a byte-order mark decides: UTF-8 (``EF BB BF``), UTF-16 LE/BE (``FF FE``/``FE FF``) or
   UTF-32 LE/BE;
3. otherwise UTF-8, strictly;
4. fallback: **cp1252** (Windows Western, a superset of printable latin-1), only when every
   byte is defined in cp1252, the file holds no well-formed UTF-8 multi-byte sequence (that
   would be a file mixing encodings) and the result looks like text (no control characters,
   at most 30 % non-ASCII characters). Anything else raises :class:`ReportReadError` naming
   the file and the byte offset where UTF-8 decoding failed. A file that ends inside a UTF-8
   character (cut off; the last byte ``0xC2``/``0xC3`` is the first half of a Latin-1 letter
   such as ``ü``) is refused as truncated rather than read as cp1252 ``Ã``.

Rejected outright, with the reason: NUL bytes (binary, or UTF-16 without a byte-order mark),
known binary signatures (PDF, ZIP/DOCX, OLE2/DOC, PNG, JPEG, GIF, TIFF, DICOM, gzip/bzip2/xz/
zstd-compressed data, ...; see :data:`biomm.utils.config.BINARY_SIGNATURES`), RTF (convert
to plain text first), a UTF-16 byte-order mark in front of 8-bit ASCII text, text with more
than a few control characters (over 8 and over 1 %: binary data, terminal captures), files
larger than ``max_bytes`` (1 MiB by default; reports are a few
KB) and **empty or whitespace-only reports**: a manifest that names a report promises text,
so an empty one is an error the cohort run records. A *missing* report (an empty manifest
cell) is not an error: :func:`reports_from_column` gives ``None`` for it.

Line endings are normalised to ``\\n``; nothing else is changed (see
:mod:`biomm.io.reports.clean` for cleaning).

Examples:
    >>> r = read_report("FINDINGS: No effusion.\\nIMPRESSION: Normal.")
    >>> r.source, r.sections["impression"]
    ('inline', 'Normal.')
    >>> decode_report_bytes("Café".encode("cp1252"))
    ('Café', 'cp1252')
"""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from biomm.errors import ReportReadError
from biomm.io.reports.sections import split_sections
from biomm.utils.config import TEXT_BOMS, binary_content

#: File name endings read as plain-text reports.
REPORT_SUFFIXES = (".txt", ".md", ".text")
#: File name endings refused with a conversion hint.
UNSUPPORTED_SUFFIXES = {
    ".rtf": "RTF",
    ".pdf": "PDF",
    ".doc": "Word (.doc)",
    ".docx": "Word (.docx)",
    ".odt": "OpenDocument",
    ".html": "HTML",
    ".htm": "HTML",
}
#: Default size limit of one report file.
MAX_REPORT_BYTES = 1 << 20

_RTF = b"{\\rtf"
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_MAX_NON_ASCII = 0.3
#: Control characters tolerated in a report (a stray form feed or Ctrl-Z), beyond 1 %.
_MAX_CONTROL = 8
#: UTF-8 lead bytes of Latin-1 letters (Ã, Â in cp1252): as the last byte, a cut character.
_CUT_LEAD_BYTES = (0xC2, 0xC3)


@dataclass(frozen=True)
class Report:
    """A free-text report.

    Attributes:
        text: The decoded text, line endings normalised to ``\\n``.
        source: The file path, or ``"inline"`` for text given directly.
        sections: Canonical section name → text (see :func:`split_sections`).
        encoding: The encoding used to decode a file (None for inline text).

    Examples:
        >>> Report("Benign.", "inline", {"preamble": "Benign."}).sections
        {'preamble': 'Benign.'}
    """

    text: str
    source: str
    sections: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None


def looks_like_report_file(value: str) -> bool:
    """True when ``value`` names a report file rather than holding inline text.

    A file reference ends in ``.txt``/``.md``/``.text`` (or a refused format such as ``.rtf``),
    is one line, and has a folder separator or no space — the rule
    :meth:`biomm.cohort.Cohort.is_report_file` uses.

    Examples:
        >>> looks_like_report_file("reports/p1.txt"), looks_like_report_file("See addendum.txt")
        (True, False)
    """
    text = value.strip()
    suffixes = (*REPORT_SUFFIXES, *UNSUPPORTED_SUFFIXES)
    if "\n" in text or not text.lower().endswith(suffixes):
        return False
    return "/" in text or "\\" in text or not any(ch.isspace() for ch in text)


def _binary_reason(data: bytes) -> str | None:
    if data.startswith(_RTF):
        return "binary content: RTF (convert it to plain text first)"
    reason = binary_content(data)  # PDF, ZIP/DOCX, OLE2/DOC, images, DICOM, compressed, NUL
    if reason is not None and "NUL byte" in reason:
        nul = data.find(b"\x00")
        return (
            f"binary content: NUL byte at offset {nul} (UTF-16 without a byte-order mark? "
            "pass encoding='utf-16-le')"
        )
    return reason


def _control_reason(text: str) -> str | None:
    """Refuse text with more than a few control characters (binary data, terminal captures)."""
    found = _CONTROL.findall(text)
    if len(found) <= max(_MAX_CONTROL, len(text) // 100):
        return None
    first = _CONTROL.search(text)
    assert first is not None
    return (
        f"binary content: {len(found)} control characters (first U+{ord(first.group()):04X} at "
        f"character {first.start()}); not plain text"
    )


def _looks_like_text(text: str) -> bool:
    if _CONTROL.search(text):
        return False
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    return non_ascii <= _MAX_NON_ASCII * max(len(text), 1)


def decode_report_bytes(
    data: bytes, *, source: str | PathLike[str] | None = None, encoding: str | None = None
) -> tuple[str, str]:
    """Decode report bytes; returns ``(text, encoding used)`` (line endings normalised).

    Args:
        data: The raw bytes.
        source: Named in errors (a file path).
        encoding: Use this codec strictly instead of detecting one.

    Raises:
        ReportReadError: On binary content or bytes that are not text in a supported
            encoding; the message names the byte offset.

    Examples:
        >>> decode_report_bytes(b"\\xef\\xbb\\xbfNo effusion.\\r\\n")
        ('No effusion.\\n', 'utf-8-sig')
        >>> decode_report_bytes("Ödem".encode("utf-16"))
        ('Ödem', 'utf-16')
        >>> decode_report_bytes(b"%PDF-1.7 ...", source="r.txt")
        Traceback (most recent call last):
        ...
        biomm.errors.ReportReadError: r.txt: binary content: a PDF document
    """
    text, used = _decode(data, source, encoding)
    reason = _control_reason(text)
    if reason:
        raise ReportReadError(reason, path=source)
    return _normalise(text), used


def _decode(data: bytes, source: Any, encoding: str | None) -> tuple[str, str]:
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ReportReadError(f"unknown encoding {encoding!r}", path=source) from None
        return _strict(data, encoding, source), encoding
    for bom, codec in TEXT_BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            if codec == "utf-16" and body and b"\x00" not in body and body.isascii():
                raise ReportReadError(
                    "the byte-order mark says UTF-16 but the rest is 8-bit ASCII text (no NUL "
                    "byte): a stray byte-order mark? Remove it or pass encoding=",
                    path=source,
                )
            return _strict(data, codec, source), codec
    reason = _binary_reason(data)
    if reason:
        raise ReportReadError(reason, path=source)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    at_end = utf8_error.reason == "unexpected end of data"
    cut = at_end and data[utf8_error.start] in _CUT_LEAD_BYTES
    if not cut and not _UTF8_MULTIBYTE.search(data):
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = None
        if text is not None and _looks_like_text(text):
            return text, "cp1252"
    if at_end:
        raise ReportReadError(
            f"not decodable as text: the file ends inside a UTF-8 character at byte "
            f"{utf8_error.start} (0x{data[utf8_error.start]:02x}): truncated?",
            path=source,
        )
    raise ReportReadError(
        f"not decodable as text: invalid UTF-8 at byte {utf8_error.start} "
        f"(0x{data[utf8_error.start]:02x}) and not plausible cp1252 text either; "
        "pass encoding= if you know it",
        path=source,
    )


def _strict(data: bytes, codec: str, source: Any) -> str:
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        what = (
            "truncated data (the file ends inside a character)"
            if (exc.reason in ("truncated data", "unexpected end of data"))
            else exc.reason
        )
        raise ReportReadError(
            f"not valid {codec} text: {what} at byte {exc.start}", path=source
        ) from None
    if "\x00" in text:
        raise ReportReadError(
            f"binary content: NUL character after decoding as {codec}", path=source
        )
    return text


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_report(
    ref: str | PathLike[str],
    *,
    base_dir: str | PathLike[str] | None = None,
    encoding: str | None = None,
    max_bytes: int = MAX_REPORT_BYTES,
    headers: Mapping[str, Sequence[str]] | str | PathLike[str] | None = None,
) -> Report:
    """Read one report: inline text, or the file ``ref`` names (a ``Path`` is always a file).

    Args:
        ref: Inline text, a report file name (see :func:`looks_like_report_file`) or a path.
        base_dir: Folder relative file names are resolved against.
        encoding: Decode files with this codec instead of detecting one.
        max_bytes: Larger files are refused.
        headers: Section headers for :func:`split_sections` (None: the defaults).

    Raises:
        ReportReadError: Missing file, unsupported format, binary or undecodable bytes,
            too large, or empty/whitespace-only text.

    Examples:
        >>> read_report("Dx: benign").text
        'Dx: benign'
        >>> read_report("   ")
        Traceback (most recent call last):
        ...
        biomm.errors.ReportReadError: inline: the report is empty
    """
    if isinstance(ref, str) and not looks_like_report_file(ref):
        text = _normalise(ref)
        if not text.strip():
            raise ReportReadError("the report is empty", path="inline")
        return Report(text, "inline", split_sections(text, headers), None)
    path = Path(ref)
    if base_dir is not None and not path.is_absolute():
        path = Path(base_dir) / path
    kind = UNSUPPORTED_SUFFIXES.get(path.suffix.lower())
    if kind:
        raise ReportReadError(
            f"{kind} reports are not read: convert them to plain text (.txt) first", path=path
        )
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ReportReadError("not a file", path=path)
        if size > max_bytes:
            raise ReportReadError(
                f"report file has {size} bytes, more than the {max_bytes}-byte limit "
                "(raise max_bytes= if this really is one report)",
                path=path,
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise ReportReadError("report file not found", path=path) from None
    except OSError as exc:
        raise ReportReadError(f"cannot read the report file: {exc.strerror}", path=path) from None
    text, used = decode_report_bytes(data, source=path, encoding=encoding)
    if not text.strip():
        raise ReportReadError("the report is empty", path=path)
    return Report(text, str(path), split_sections(text, headers), used)


def reports_from_column(
    frame: Any,
    column: str,
    *,
    base_dir: str | PathLike[str] | None = None,
    encoding: str | None = None,
    on_error: Literal["raise", "skip"] = "raise",
    headers: Mapping[str, Sequence[str]] | str | PathLike[str] | None = None,
) -> Any:
    """Read the reports of a table column (inline text or file names, mixed freely).

    Missing cells (None, NaN, blank text) give ``None``: no report, not an error.

    Args:
        frame: A pandas DataFrame.
        column: The column holding reports.
        base_dir: Folder relative file names are resolved against.
        encoding: Codec for files (None: detect).
        on_error: ``raise`` the first :class:`ReportReadError` (with its row), or ``skip``:
            ``None`` for that row and the message in ``result.attrs["errors"][index]``.
        headers: Section headers for :func:`split_sections`.

    Returns:
        A ``pandas.Series`` of :class:`Report` (or None), indexed like ``frame``.

    Raises:
        ReportReadError: With ``on_error="raise"``, naming the file and the 0-based row.
        KeyError: When ``column`` is not in ``frame``.

    Examples:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"r": ["No effusion.", None, "nope.txt"]})
        >>> out = reports_from_column(df, "r", on_error="skip")
        >>> out[0].text, out[1], list(out.attrs["errors"])
        ('No effusion.', None, [2])
    """
    import pandas as pd

    if column not in frame:
        raise KeyError(f"column {column!r} is not in the table ({', '.join(map(str, frame))})")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    values: list[Report | None] = []
    errors: dict[Any, str] = {}
    for position, (index, value) in enumerate(frame[column].items()):
        if _is_missing(value):
            values.append(None)
            continue
        try:
            values.append(
                read_report(str(value), base_dir=base_dir, encoding=encoding, headers=headers)
            )
        except ReportReadError as exc:
            if on_error == "raise":
                raise ReportReadError(exc.reason, path=exc.path, row=position) from None
            values.append(None)
            errors[index] = str(exc)
    out = pd.Series(values, index=frame.index, dtype=object, name=column)
    out.attrs["errors"] = errors
    return out


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
