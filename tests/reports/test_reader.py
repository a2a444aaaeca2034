from __future__ import annotations

import codecs

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biomm.errors import ReportReadError
from biomm.io.reports import (
    decode_report_bytes,
    looks_like_report_file,
    read_report,
    reports_from_column,
)

TEXT = "FINDINGS:\nSmall left pleural effusion (2.5 cm).\nIMPRESSION: Ödem – größer, 5 µm."


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("utf-16"), "utf-16"),  # with BOM, native order
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16"),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16"),
        (TEXT.encode("utf-32"), "utf-32"),
        (TEXT.encode("cp1252"), "cp1252"),
    ],
)
def test_decodings(tmp_path, data, encoding):
    path = tmp_path / "r.txt"
    path.write_bytes(data)
    report = read_report(path)
    assert report.text == TEXT
    assert report.encoding == encoding
    assert report.source == str(path)
    assert report.sections["impression"] == "Ödem – größer, 5 µm."


def test_line_endings_and_explicit_encoding(tmp_path):
    (tmp_path / "r.txt").write_bytes("a\r\nb\rc".encode("latin-1"))
    assert read_report("r.txt", base_dir=tmp_path).text == "a\nb\nc"
    (tmp_path / "k.txt").write_bytes("Größe".encode("utf-16-le"))
    assert read_report(tmp_path / "k.txt", encoding="utf-16-le").text == "Größe"
    with pytest.raises(ReportReadError, match="not valid utf-8"):
        read_report(tmp_path / "k.txt", encoding="utf-8")
    with pytest.raises(ReportReadError, match="unknown encoding"):
        read_report(tmp_path / "k.txt", encoding="no-such-codec")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            b"Effusion \x81\x8d present" + b"x" * 20,
            r"invalid UTF-8 at byte 9 \(0x81\)",
        ),  # not cp1252
        ("Ödem ".encode() + "größer".encode("cp1252"), "invalid UTF-8 at byte 8"),  # mixed
        (bytes(range(128, 256)) * 4, "invalid UTF-8 at byte 0"),  # noise
        (b"\xe4\xf6\xfc\xdf" * 20, "not plausible cp1252"),  # valid cp1252, not text-like
    ],
)
def test_undecodable_bytes_name_file_and_offset(tmp_path, data, match):
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    with pytest.raises(ReportReadError, match=match) as info:
        read_report(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"%PDF-1.4\n...", "PDF"),
        (b"\x89PNG\r\n\x1a\n....", "PNG"),
        (b"PK\x03\x04....", "ZIP"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1....", "OLE2"),
        (b"{\\rtf1\\ansi Findings}", "RTF"),
        (b"Findings\x00\x00 normal", "NUL byte at offset 8"),
        ("Findings".encode("utf-16-le"), "UTF-16 without a byte-order mark"),
        (b"\x00" * 128 + b"DICM" + b"\x00" * 10, "DICOM"),
    ],
)
def test_binary_content_is_rejected(tmp_path, data, match):
    path = tmp_path / "r.txt"
    path.write_bytes(data)
    with pytest.raises(ReportReadError, match=match):
        read_report(path)


@pytest.mark.parametrize("suffix", [".rtf", ".pdf", ".docx"])
def test_unsupported_formats_are_refused_by_name(tmp_path, suffix):
    path = tmp_path / f"r{suffix}"
    path.write_bytes(b"anything")
    with pytest.raises(ReportReadError, match="convert them to plain text"):
        read_report(f"r{suffix}", base_dir=tmp_path)


def test_empty_missing_and_too_large(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_text(" \n\t\n")
    (tmp_path / "big.txt").write_text("x" * 100)
    for name in ("empty.txt", "blank.txt"):
        with pytest.raises(ReportReadError, match="empty"):
            read_report(tmp_path / name)
    with pytest.raises(ReportReadError, match="empty"):
        read_report("  \n ")
    with pytest.raises(ReportReadError, match="not found"):
        read_report(tmp_path / "nope.txt")
    with pytest.raises(ReportReadError, match="100 bytes, more than the 50-byte limit"):
        read_report(tmp_path / "big.txt", max_bytes=50)
    with pytest.raises(ReportReadError, match="not a file"):
        read_report(tmp_path)


def test_reports_from_column(tmp_path):
    (tmp_path / "a.txt").write_text("IMPRESSION: benign.", encoding="utf-8")
    (tmp_path / "bin.txt").write_bytes(b"%PDF-1.4")
    frame = pd.DataFrame(
        {"report": ["inline text.", "a.txt", None, float("nan"), "   ", "bin.txt"]},
        index=list("uvwxyz"),
    )
    out = reports_from_column(frame, "report", base_dir=tmp_path, on_error="skip")
    assert out.index.tolist() == list("uvwxyz")
    assert out["u"].source == "inline" and out["v"].sections == {"impression": "benign."}
    assert out[["w", "x", "y", "z"]].isna().all()
    assert list(out.attrs["errors"]) == ["z"] and "PDF" in out.attrs["errors"]["z"]
    with pytest.raises(ReportReadError, match="row 5") as info:
        reports_from_column(frame, "report", base_dir=tmp_path)
    assert "bin.txt" in str(info.value)
    with pytest.raises(KeyError):
        reports_from_column(frame, "nope")


def test_file_reference_rule_matches_the_cohort():
    from biomm.cohort import Cohort

    cohort = Cohort(pd.DataFrame({"patient_id": ["a"]}))
    for value in ["r.txt", "reports/p 1.md", "See addendum.txt", "Benign.", "a\nb.txt", "x.text"]:
        assert looks_like_report_file(value) == cohort.is_report_file(value), value


_TEXT = st.text(  # text as reports hold it: control characters other than tab/newline are
    # refused as binary when there are many (tested in test_pathological.py)
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"),
        st.sampled_from("\t\n"),
    ),
    min_size=1,
    max_size=200,
).filter(lambda t: not t.startswith(("%PDF", "GIF8", "II*", "MM", "{\\rtf", "PK")))


@settings(max_examples=60, deadline=None)
@given(text=_TEXT, encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
def test_unicode_round_trip(text, encoding):
    decoded, _ = decode_report_bytes(text.encode(encoding))
    assert decoded == text


# ---- bad-input corpus regressions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip-compressed data"),
        (b"BZh91AY&SY" + b"\x01" * 8, "bzip2-compressed data"),
        ("Findings: Dr. Mü".encode()[:-1], "ends inside a UTF-8 character at byte 15"),
        (b"\xff\xfeFindings: no effusion.\n", "byte-order mark says UTF-16 but the rest is"),
        ("No effusion.".encode("utf-16")[:-1], "truncated data"),
        ("".join(f"\x1b[0m{c}" for c in "Lungs are clear.").encode(), "control characters"),
    ],
)
def test_more_bad_report_bytes(tmp_path, data, match):
    path = tmp_path / "r.txt"
    path.write_bytes(data)
    with pytest.raises(ReportReadError, match=match) as info:
        read_report(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ("Befund: normal. Gruß".encode("cp1252"), "Befund: normal. Gruß"),  # ends in ß (0xdf)
        ("Résumé: normal, évalué".encode("cp1252"), "Résumé: normal, évalué"),  # ends in é
        (b"Lungs are clear.\x0c\nPage 2\x1a", "Lungs are clear.\x0c\nPage 2\x1a"),  # FF, Ctrl-Z
        ("Ödem".encode("utf-16"), "Ödem"),
    ],
)
def test_plausible_text_is_still_read(tmp_path, data, text):
    path = tmp_path / "r.txt"
    path.write_bytes(data)
    assert read_report(path).text == text
