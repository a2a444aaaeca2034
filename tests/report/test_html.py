"""The HTML report: self-contained, escaped, well-formed, private by default."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from biomm import Cohort
from biomm.errors import InputError
from biomm.io.ecg import ECG
from biomm.io.wsi import VirtualSlide
from biomm.report import (
    IdLabeller,
    Section,
    build_report,
    cohort_section,
    ecg_section,
    trajectory_figure,
    wsi_heatmap_section,
    zeroshot_section,
)
from biomm.report.html import sensitive_column
from biomm.report.plotting import new_figure

VOID = {"meta", "img", "br", "hr", "link", "input", "source", "col", "area", "base", "wbr"}


class Checker(HTMLParser):
    """Collects what the tests look at and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.in_style = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attributes.get("src") or "")
        for name in ("href", "src", "action", "poster"):
            if name in attributes and tag != "img":
                self.links.append(attributes[name] or "")
        if tag not in VOID:
            self.stack.append(tag)
        self.in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        self.in_style = False
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()

    def handle_data(self, data):
        if not self.in_style:
            self.text.append(data)


def parse(html: str) -> Checker:
    checker = Checker()
    checker.feed(html)
    checker.close()
    return checker


def line_figure():
    fig, ax = new_figure(3, 2)
    ax.plot([0, 1], [0, 1])
    return fig


def trajectories():
    return pd.DataFrame(
        {
            "patient_id": ["MRN-884213"] * 2 + ["MRN-551002"] * 2,
            "step": [0, 1, 0, 1],
            "modality": ["initial", "ecg"] * 2,
            "applied": [True, True, True, False],
            "risk": [0.4, 0.7, 0.4, 0.4],
        }
    )


def sections():
    steps = trajectories()
    table = pd.DataFrame(
        {
            "patient_id": ["MRN-884213", "MRN-551002"],
            "patient_name": ["Jane Roe", "John Doe"],
            "date_of_birth": ["1950-02-03", "1961-07-08"],
            "report_text": ["Invasive carcinoma of the left breast.", "Benign."],
            "comment": ["<script>alert('x')</script>", "a & b"],
            "auroc": [0.81234, np.nan],
        }
    )
    return [
        Section(
            "Results",
            figures={
                "A line": line_figure(),
                "Trajectories": lambda label: trajectory_figure(steps, labels=label),
            },
            tables={"Per patient": table},
            notes=["Patient MRN-884213 had the highest risk."],
        ),
        None,
        Section("Empty"),
        Section("Notes only", notes=["Nothing to see <here>."]),
    ]


@pytest.fixture(scope="module")
def default_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return build_report(sections(), out, title="Test <report>", dpi=40)


def test_report_is_self_contained_and_well_formed(default_report):
    html = default_report.read_text(encoding="utf-8")
    checker = parse(html)
    assert not checker.errors and not checker.stack
    assert "script" not in checker.tags  # no JavaScript
    assert checker.images and all(
        src.startswith("data:image/png;base64,") for src in checker.images
    )
    for src in checker.images:  # each embeds a real PNG
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    assert all(link.startswith("#") for link in checker.links)  # only in-page anchors
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "@import" not in html and "url(" not in html
    figures = sorted((default_report.parent / "figures").glob("*.png"))
    assert len(figures) == len(checker.images) == 2
    assert "Test &lt;report&gt;" in html  # the title is escaped too
    assert "Empty" not in html  # empty sections are left out


def test_report_escapes_table_cells_and_notes(default_report):
    html = default_report.read_text(encoding="utf-8")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in html
    assert "a &amp; b" in html
    assert "Nothing to see &lt;here&gt;." in html
    assert "0.812" in html  # floats are rounded for display


def test_report_hides_ids_names_birth_dates_and_report_text_by_default(default_report):
    html = default_report.read_text(encoding="utf-8")
    text = " ".join(parse(html).text)
    for secret in ("MRN-884213", "MRN-551002", "Jane Roe", "1950-02-03", "carcinoma"):
        assert secret not in html
    label = re.search(r"<td>(patient \d)</td>\s*<td>&lt;script", html).group(1)
    assert f"Patient {label} had the highest risk." in text  # the same label in the note
    assert {"patient 1", "patient 2"} <= set(re.findall(r"patient \d", text))
    assert "patient_name, date_of_birth, report_text" in text  # says what was left out


def test_show_ids_and_pseudonymised_ids(tmp_path):
    shown = build_report(sections(), tmp_path / "shown", show_ids=True, dpi=40).read_text()
    assert "MRN-884213" in shown and "Jane Roe" not in shown  # names never shown
    salt = "not-so-secret"
    pseudo = build_report(
        sections(), tmp_path / "pseudo", pseudonymise_ids=salt, dpi=40
    ).read_text()
    digest = hmac.new(salt.encode(), b"MRN-884213", hashlib.sha256).hexdigest()[:16]
    assert "MRN-884213" not in pseudo and f"id-{digest}" in pseudo  # keyed HMAC-SHA256
    assert IdLabeller(salt=salt)("MRN-884213") == f"id-{digest}"  # stable with the same salt
    assert IdLabeller(salt="another-salt")("MRN-884213") != f"id-{digest}"


def test_figure_texts_are_scrubbed_when_ids_are_drawn():
    labeller = IdLabeller()
    fig, ax = new_figure(3, 2)
    ax.plot([0, 1], [0, 1], label="MRN-884213")
    ax.legend()
    ax.set_xticks([0, 1], ["MRN-884213", "other"])
    ax.set_title("patient MRN-884213")
    from biomm.report.html import _scrub_figure

    labeller("MRN-884213")
    _scrub_figure(fig, labeller)
    fig.draw_without_rendering()
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "MRN-884213" not in " ".join(texts + ticks)
    assert ax.get_title() == "patient patient 1" and ticks[0] == "patient 1"


def test_rebuilding_replaces_stale_figures(tmp_path):
    build_report([Section("A", figures={"one": line_figure(), "two": line_figure()})], tmp_path)
    assert len(list((tmp_path / "figures").glob("*.png"))) == 2
    build_report([Section("A", figures={"one": line_figure()})], tmp_path)
    assert len(list((tmp_path / "figures").glob("*.png"))) == 1


def test_bad_sections_raise_input_errors(tmp_path):
    with pytest.raises(InputError, match="must be a Section"):
        build_report(["not a section"], tmp_path)
    with pytest.raises(InputError, match="expected a matplotlib Figure"):
        build_report([Section("A", figures={"x": "not a figure"})], tmp_path)
    with pytest.raises(InputError, match="expected a DataFrame"):
        build_report([Section("A", tables={"x": [1, 2]})], tmp_path)
    with pytest.raises(InputError, match="salt"):
        IdLabeller(salt="")
    with pytest.raises(InputError, match="too short"):
        IdLabeller(salt="x")


def test_sensitive_column_names():
    assert all(
        sensitive_column(c)
        for c in ("name", "PatientName", "dob", "birth_date", "report", "clinical_notes")
    )
    assert not any(sensitive_column(c) for c in ("auroc", "pattern", "n", "task", "class"))


def test_cohort_section_shows_counts_not_rows(good_table):
    section = cohort_section(Cohort(good_table))
    assert section.notes[0].startswith("4 patients")
    patterns = section.tables["Availability patterns"]
    assert patterns["patients"].sum() == 4
    targets = section.tables["Targets"].set_index("target")
    assert targets.loc["label", "positive / events"] == 2
    shown = " ".join(t.to_string() for t in section.tables.values())
    assert "Inline report" not in shown and "p1" not in shown
    assert cohort_section(None) is None


def test_section_builders_skip_absent_inputs():
    assert zeroshot_section(None) is None and zeroshot_section({}) is None
    assert ecg_section(None) is None
    slide = VirtualSlide(np.full((256, 256, 3), 220, np.uint8), mpp=0.5)
    assert wsi_heatmap_section(None, [], [], 128) is None
    assert wsi_heatmap_section(slide, np.zeros((0, 2)), [], 128) is None
    with pytest.raises(InputError, match="NaN"):
        wsi_heatmap_section(slide, [[0, 0]], [np.nan], 128)


def test_section_builders_make_figures_and_tables(tmp_path):
    zs = zeroshot_section(
        {"AF": {"auroc": 0.9, "positives": 5, "n": 40}, "MI": {"auroc": 0.6, "positives": 9}}
    )
    t = np.arange(1000) / 500
    ecg = ecg_section(
        ECG.from_leads({"I": np.sin(9 * t), "II": np.cos(9 * t)}, fs=500, meta={"age": 71})
    )
    slide = VirtualSlide(np.full((512, 512, 3), 220, np.uint8), mpp=0.5)
    wsi = wsi_heatmap_section(slide, [[0, 0], [256, 256]], [0.3, 0.8], 256, mpp=4.0)
    assert "macro mean 0.750" in zs.notes[0]
    assert "6 of 12 leads present" in ecg.notes[0]
    html = build_report([zs, ecg, wsi], tmp_path, dpi=40).read_text()
    assert html.count("data:image/png;base64,") == 3
    text = " ".join(parse(html).text)
    assert not re.search(r"\b(71|age)\b", text)  # record metadata stays out
