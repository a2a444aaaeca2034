from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biomm.io.reports import (
    DEFAULT_BOILERPLATE,
    clean_text,
    sentence_spans,
    split_sentences,
)

PLACEHOLDERS = [
    "[**Known lastname 1234**]",
    "[**Last  Name (NamePattern1) 56**]",  # two spaces inside: must survive
    "[**2101-10-10**]",
    "[**Dr. First**]",
    "___",
    "<PERSON>",
    "<DATE_TIME>",
    "[REDACTED]",
    "XXXX",
]


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_placeholders_survive_cleaning_and_splitting(placeholder):
    text = (
        f"FINDINGS:\nSeen by Dr. {placeholder}  on  {placeholder}. {placeholder} noted a 2.5 cm "
        f"nodule.\n{placeholder}\nIMPRESSION: Call {placeholder}.\n"
        f"Electronically signed by: {placeholder}"
    )
    cleaned = clean_text(text)
    assert cleaned.count(placeholder) == 5  # the signature line is gone, the rest intact
    sentences = split_sentences(cleaned)
    assert sum(s.count(placeholder) for s in sentences) == 5
    assert placeholder in sentences  # alone on its line: kept as a sentence
    assert f"Seen by Dr. {placeholder} on {placeholder}." in sentences


def test_cleaning_steps():
    text = (
        "FINAL REPORT\r\n"
        "EXAMINATION:\tCHEST (PA AND LAT)\u00a0\u00a0 \n"
        "ﬁndings: Ｌｕｎｇｓ clear.\u200b\n\n\n\n"
        "The patient signed consent.\n"
        "Dictated by: ___\n"
        "--- Page 2 of 3 ---\n"
        "I have personally reviewed the images and agree.\n"
        "*** END OF REPORT ***\n"
    )
    assert clean_text(text) == (
        "EXAMINATION: CHEST (PA AND LAT)\nfindings: Lungs clear.\n\nThe patient signed consent."
    )
    kept = clean_text(text, boilerplate=())
    assert "Dictated by: ___" in kept and "FINAL REPORT" in kept
    extra = clean_text("Keep me.\nCC: Dr. A", boilerplate=(*DEFAULT_BOILERPLATE, r"cc:"))
    assert extra == "Keep me."
    assert clean_text("ﬁ", nfkc=False) == "ﬁ"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Seen by Dr. Smith. No effusion.", ["Seen by Dr. Smith.", "No effusion."]),
        (
            "Opacities, e.g. in the base. I.e. pneumonia.",
            ["Opacities, e.g. in the base.", "I.e. pneumonia."],
        ),
        ("Nodule of 2.5 cm. Another of 0.8 mm.", ["Nodule of 2.5 cm.", "Another of 0.8 mm."]),
        ("1. Effusion. 2. No pneumothorax.", ["1. Effusion.", "2. No pneumothorax."]),
        ("1. Effusion\n2. Edema\n3. Atelectasis", ["1. Effusion", "2. Edema", "3. Atelectasis"]),
        ("a) Left. b) Right.", ["a) Left.", "b) Right."]),
        ("The lungs are\nclear. Heart is\nnormal.", ["The lungs are clear.", "Heart is normal."]),
        ("IMPRESSION\nNormal heart\nsize.", ["IMPRESSION", "Normal heart size."]),
        (
            "Lymph node no. 5 is negative. No. 6 too.",
            ["Lymph node no. 5 is negative.", "No. 6 too."],
        ),
        ("Effusion: no. Pneumothorax: no.", ["Effusion: no.", "Pneumothorax: no."]),
        ("Seen by J. Smith today! Really? Yes.", ["Seen by J. Smith today!", "Really?", "Yes."]),
        ("Increased vs. prior. Stable.", ["Increased vs. prior.", "Stable."]),
        ("Nodules etc. are seen. Etc. Fine.", ["Nodules etc. are seen.", "Etc.", "Fine."]),
        ("(See image 3.) Stable.", ["(See image 3.)", "Stable."]),
        (
            "Findings:\n\n- small effusion\n- no mass",
            ["Findings:", "- small effusion", "- no mass"],
        ),
        ("...\n  \n", []),
    ],
)
def test_sentence_splitting(text, expected):
    assert split_sentences(text) == expected


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "Dr.",
                "e.g.",
                "2.5",
                "cm.",
                "No",
                "effusion.",
                "1.",
                "\n",
                "___",
                "[**A b**]",
                "x",
                "?",
            ]
        ),
        max_size=30,
    )
)
def test_spans_are_ordered_and_cover_every_word(tokens):
    text = " ".join(tokens)
    spans = sentence_spans(text)
    ends = [0]
    for start, end in spans:
        assert ends[-1] <= start < end <= len(text)
        assert text[start:end] == text[start:end].strip()
        ends.append(end)
    covered = set()
    for start, end in spans:
        covered.update(range(start, end))
    assert all(k in covered for k, ch in enumerate(text) if ch.isalnum())
    for match in re.finditer(r"\[\*\*A b\*\*\]|___", text):  # placeholders never cut
        assert any(s <= match.start() and match.end() <= e for s, e in spans)
