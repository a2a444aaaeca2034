"""Long blank runs and one-line reports of many sentences are read in linear time.

Regressions: the header regex backtracked polynomially on a line of many blanks (2 000 spaces
took 7 s), sentence splitting was quadratic in the number of sentences on one line, and joining
wrapped lines was quadratic on a long run of spaces.
"""

from __future__ import annotations

import time

import pytest

from biomm.io.reports import clean_text, read_report, split_sections, split_sentences


@pytest.mark.parametrize(
    "text",
    [
        " " * 100_000 + "x",
        "#" + " " * 100_000 + "x",
        "**" + "\t" * 100_000 + "x",
        "IMPRESSION" + " " * 100_000 + "x",
        "Normal. " + " " * 100_000 + "IMPRESSION: x",
        "Lungs clear. " * 8_000,
        "Dr. " * 20_000 + "x",
    ],
    ids=["blanks", "hash-blanks", "mark-tabs", "header-blanks", "inline", "sentences", "abbrev"],
)
def test_pathological_lines_are_fast(text):
    start = time.perf_counter()
    report = read_report(text)
    clean_text(report.text)
    split_sentences(report.text)
    assert time.perf_counter() - start < 2.0


def test_sentences_and_sections_unchanged_by_the_linear_rewrite():
    text = (
        "FINDINGS:\n  1. Mass of 2.5 cm.  \n   \n  2. Seen by Dr. Smith,\n  e.g. twice."
        " IMPRESSION: ok"
    )
    assert split_sections(text) == {
        "findings": "1. Mass of 2.5 cm.  \n   \n  2. Seen by Dr. Smith,\n  e.g. twice.",
        "impression": "ok",
    }
    assert split_sentences(text) == [
        "FINDINGS:",
        "1. Mass of 2.5 cm.",
        "2. Seen by Dr. Smith, e.g. twice.",
        "IMPRESSION: ok",
    ]
