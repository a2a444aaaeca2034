from __future__ import annotations

import pytest

from biomm.errors import ConfigError, ReportReadError
from biomm.io.reports import (
    choose_section,
    is_header_line,
    load_headers,
    merge_headers,
    select_section,
    split_sections,
    strip_headers,
)
from biomm.reports.synthetic import STYLES, make_reports

EXPECTED = {"findings": "Small effusion.", "impression": "Effusion."}


@pytest.mark.parametrize(
    "text",
    [
        "FINDINGS:\nSmall effusion.\nIMPRESSION:\nEffusion.",  # colon, own line
        "Findings: Small effusion.\nImpression: Effusion.",  # same line, mixed case
        "FINDINGS - Small effusion.\nIMPRESSION – Effusion.",  # dash / en dash
        "1. FINDINGS\nSmall effusion.\n2) Impression:\nEffusion.",  # numbered
        "## Findings\nSmall effusion.\n### IMPRESSION\nEffusion.",  # markdown headings
        "**Findings:** Small effusion.\n__IMPRESSION__\nEffusion.",  # markdown bold
        "FINDINGS\nSmall effusion.\n\nIMPRESSION\nEffusion.",  # caps, no colon
        "findings:\nSmall effusion.\nimpression: Effusion.",  # lower case
        "FINDINGS: Small effusion. IMPRESSION: Effusion.",  # one line
        "A. Findings: Small effusion.\nB. Impression - Effusion.",  # lettered
        "  Finding :  Small effusion.\n\tImpressions:\n\nEffusion.\n",  # spacing, aliases
    ],
)
def test_header_conventions(text):
    assert split_sections(text) == EXPECTED


def test_preamble_repeats_aliases_and_empty_sections():
    text = (
        "CHEST PA/LAT\nFINAL DIAGNOSES:\nBenign.\nComment:\nGross description: tan.\n"
        "FINAL DIAGNOSIS: No malignancy.\nMacroscopic: 2 cm."
    )
    assert split_sections(text) == {
        "preamble": "CHEST PA/LAT",
        "final_diagnosis": "Benign.\nNo malignancy.",
        "gross": "tan.\n2 cm.",
    }


def test_non_headers_stay_in_their_section():
    text = (
        "FINDINGS:\nLUNGS: clear.\nFindings suggest a small effusion.\n1. Impression of a mass.\n"
        "The impression: none."
    )
    sections = split_sections(text)
    assert list(sections) == ["findings"]
    assert sections["findings"].count("\n") == 3
    assert not is_header_line("Impression of a mass") and is_header_line("## Impression")


def test_custom_headers_in_python_and_yaml(tmp_path):
    headers = merge_headers({"impression": ["assessment", "opinion"], "addendum": ["late entry"]})
    text = "Assessment: normal.\nLATE ENTRY\nphoned."
    assert split_sections(text, headers) == {"impression": "normal.", "addendum": "phoned."}
    assert "assessment" not in split_sections(text)  # defaults unchanged
    only = merge_headers({"summary": ["bottom line"]}, mode="replace")
    assert split_sections("Impression: x\nBottom line: y", only) == {
        "preamble": "Impression: x",
        "summary": "y",
    }
    path = tmp_path / "headers.yaml"
    path.write_text("impression: [assessment]\nfindings: observations\n")
    assert split_sections("OBSERVATIONS: a\nAssessment: b", path) == {
        "findings": "a",
        "impression": "b",
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_headers(bad)
    with pytest.raises(ConfigError, match="both"):
        split_sections("x", {"a": ["same"], "b": ["same"]})
    with pytest.raises(ConfigError, match="at least one"):
        split_sections("x", {"a": []})


def test_select_and_choose_section():
    text = "FINDINGS: clear.\nFINAL DIAGNOSIS: benign."
    assert select_section(text) == "benign."
    assert select_section(text, prefer=["findings", "final_diagnosis"]) == "clear."
    assert choose_section(split_sections(text), ["impression", "findings"]) == "findings"
    assert select_section("just text", prefer=["impression"]) == "just text"
    assert select_section("just text", prefer=["impression"], fallback="none") is None
    with pytest.raises(ReportReadError, match="impression"):
        select_section("just text", prefer=["impression"], fallback="raise")
    with pytest.raises(ConfigError):
        select_section("x", fallback="maybe")
    assert strip_headers(text) == "clear.\n\nbenign."


def test_every_synthetic_style_parses_to_its_sections():
    frame = make_reports(160, kind="mixed", seed=7)
    assert set(frame["style"]) == set(STYLES)
    for text, expected in zip(frame["text"], frame["sections"], strict=True):
        found = [name for name in split_sections(text) if name != "preamble"]
        assert found == expected.split(",")
