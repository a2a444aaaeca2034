"""Bad free-text report files (read with :func:`biomm.io.reports.read_report` on a ``Path``)."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np

from tests.data.bad.cases_ehr import gzip_bytes, pdf_bytes, xlsx_bytes
from tests.data.bad.corpus import Case, Reader


def _read(path: Path) -> None:
    from biomm.io.reports import read_report

    read_report(Path(path))


READER = Reader("report", "biomm.io.reports.read_report(Path(path))", _read)

_FINDINGS = (
    "Lungs are clear.",
    "No pleural effusion.",
    "Heart size is normal.",
    "Mild degenerative change of the spine.",
    "No focal consolidation.",
    "Small hiatal hernia.",
)


def report_text(rng: np.random.Generator, umlauts: bool = False) -> str:
    """A short radiology report; with ``umlauts`` a German one with non-ASCII letters."""
    if umlauts:
        return (
            "BEFUND:\nKein Pleuraerguss. Herzgröße normal. Geringe degenerative Veränderungen.\n"
            "BEURTEILUNG:\nUnauffälliger Befund, keine Ödeme, Größe regelrecht.\n"
        )
    chosen = rng.choice(len(_FINDINGS), size=3, replace=False)
    findings = " ".join(_FINDINGS[i] for i in sorted(chosen))
    return f"FINDINGS:\n{findings}\nIMPRESSION:\nNo acute cardiopulmonary process.\n"


def _write(folder: Path, name: str, data: bytes | str) -> str:
    (folder / name).write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return name


def _zero_length(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "report.txt", b"")


def _whitespace_only(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "report.txt", b" \r\n\t\r\n   \n")


def _pdf_as_txt(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "report.txt", pdf_bytes())


def _docx_as_txt(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "report.txt", xlsx_bytes(report_text(rng)))


def _rtf_as_txt(folder: Path, rng: np.random.Generator) -> str:
    body = report_text(rng).replace("\n", "\\par\n")
    return _write(folder, "report.txt", "{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Arial;}}\n" + body)


def _rtf_extension(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "report.rtf", "{\\rtf1\\ansi " + report_text(rng) + "}")


def _gzip_as_txt(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "report.txt", gzip_bytes(report_text(rng).encode()))


def _utf16_no_bom(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "report.txt", report_text(rng).encode("utf-16-le"))


def _mixed_encodings(folder: Path, rng: np.random.Generator) -> str:
    text = report_text(rng, umlauts=True)
    head, tail = text[: len(text) // 2], text[len(text) // 2 :]
    return _write(folder, "report.txt", head.encode("utf-8") + tail.encode("cp1252"))


def _truncated_utf8(folder: Path, rng: np.random.Generator) -> str:
    data = report_text(rng, umlauts=True).encode("utf-8")
    cut = data.rindex("ö".encode()) + 1  # cut in the middle of the last 'ö'
    return _write(folder, "report.txt", data[:cut])


def _truncated_utf8_only_char(folder: Path, rng: np.random.Generator) -> str:
    data = (report_text(rng) + "Signed: Dr. Müller").encode("utf-8")
    return _write(folder, "report.txt", data[: data.rindex("ü".encode()) + 1])


def _truncated_utf16(folder: Path, rng: np.random.Generator) -> str:
    data = report_text(rng).encode("utf-16")  # with a byte-order mark
    return _write(folder, "report.txt", data[:-1])


def _bom_utf8_latin1_body(folder: Path, rng: np.random.Generator) -> str:
    data = codecs.BOM_UTF8 + report_text(rng, umlauts=True).encode("cp1252")
    return _write(folder, "report.txt", data)


def _bom_utf16_ascii_body(folder: Path, rng: np.random.Generator) -> str:
    data = codecs.BOM_UTF16_LE + report_text(rng).encode("ascii")
    if len(data) % 2:
        data += b"\n"
    return _write(folder, "report.txt", data)


def _nul_in_text(folder: Path, rng: np.random.Generator) -> str:
    data = report_text(rng).encode()
    return _write(folder, "report.txt", data[:30] + b"\x00" + data[30:])


def _random_binary(folder: Path, rng: np.random.Generator) -> str:
    return _write(folder, "report.txt", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())


def _html_extension(folder: Path, rng: np.random.Generator) -> str:
    body = report_text(rng).replace("\n", "<br>")
    return _write(folder, "report.html", f"<html><body>{body}</body></html>")


def _control_characters(folder: Path, rng: np.random.Generator) -> str:
    # a screen capture of a terminal: escape sequences and backspaces everywhere
    text = report_text(rng)
    noisy = "".join(f"\x1b[0;3{i % 8}m{ch}\x08" for i, ch in enumerate(text))
    return _write(folder, "report.txt", noisy)


CASES = [
    Case(
        "zero-length",
        "a report file of 0 bytes",
        "ReportReadError",
        r"the report is empty",
        _zero_length,
        "zero-length",
    ),
    Case(
        "whitespace-only",
        "a report file holding only spaces, tabs and line breaks",
        "ReportReadError",
        r"the report is empty",
        _whitespace_only,
        "missing",
    ),
    Case(
        "pdf-as-txt",
        "a PDF document saved as .txt",
        "ReportReadError",
        r"binary content: a PDF document",
        _pdf_as_txt,
        "wrong-magic",
    ),
    Case(
        "docx-as-txt",
        "a Word/Office (ZIP) document saved as .txt",
        "ReportReadError",
        r"binary content: a ZIP archive",
        _docx_as_txt,
        "wrong-magic",
    ),
    Case(
        "rtf-as-txt",
        "an RTF document saved as .txt",
        "ReportReadError",
        r"binary content: RTF",
        _rtf_as_txt,
        "wrong-magic",
    ),
    Case(
        "rtf-extension",
        "an .rtf report",
        "ReportReadError",
        r"RTF reports are not read: convert",
        _rtf_extension,
        "other",
    ),
    Case(
        "html-extension",
        "an .html report",
        "ReportReadError",
        r"HTML reports are not read: convert",
        _html_extension,
        "other",
    ),
    Case(
        "gzip-as-txt",
        "a gzip-compressed report named .txt",
        "ReportReadError",
        r"binary content: gzip-compressed data",
        _gzip_as_txt,
        "unsupported-compression",
    ),
    Case(
        "utf16-without-bom",
        "a UTF-16-LE report without a byte-order mark",
        "ReportReadError",
        r"NUL byte at offset 1 \(UTF-16 without a byte-order mark",
        _utf16_no_bom,
        "non-utf8",
    ),
    Case(
        "mixed-encodings",
        "UTF-8 umlauts in the first half, cp1252 umlauts in the second",
        "ReportReadError",
        r"invalid UTF-8 at byte \d+ \(0x[0-9a-f]{2}\) and not plausible cp1252",
        _mixed_encodings,
        "non-utf8",
    ),
    Case(
        "truncated-utf8",
        "the file ends in the middle of a two-byte UTF-8 character",
        "ReportReadError",
        r"ends inside a UTF-8 character at byte \d+",
        _truncated_utf8,
        "truncated",
    ),
    Case(
        "truncated-utf8-single-non-ascii",
        "an ASCII report whose only non-ASCII character (ü) is cut in half at the end",
        "ReportReadError",
        r"ends inside a UTF-8 character at byte \d+",
        _truncated_utf8_only_char,
        "truncated",
    ),
    Case(
        "truncated-utf16",
        "a UTF-16 report (with byte-order mark) missing its last byte",
        "ReportReadError",
        r"not valid utf-16 text: truncated data",
        _truncated_utf16,
        "truncated",
    ),
    Case(
        "utf8-bom-latin1-body",
        "a UTF-8 byte-order mark followed by cp1252 text",
        "ReportReadError",
        r"not valid utf-8-sig text: invalid (start|continuation) byte at byte \d+",
        _bom_utf8_latin1_body,
        "header-vs-data",
    ),
    Case(
        "utf16-bom-ascii-body",
        "a UTF-16 byte-order mark followed by plain 8-bit ASCII text",
        "ReportReadError",
        r"byte-order mark says UTF-16 but the rest is 8-bit ASCII",
        _bom_utf16_ascii_body,
        "header-vs-data",
    ),
    Case(
        "nul-in-text",
        "one NUL byte inside otherwise plain UTF-8 text",
        "ReportReadError",
        r"NUL byte at offset 30",
        _nul_in_text,
        "other",
    ),
    Case(
        "random-binary",
        "4 KB of random bytes named .txt",
        "ReportReadError",
        r"binary content: ",
        _random_binary,
        "wrong-magic",
    ),
    Case(
        "control-characters",
        "terminal escape sequences and backspaces around every character",
        "ReportReadError",
        r"\d+ control characters \(first U\+001B",
        _control_characters,
        "other",
    ),
]
