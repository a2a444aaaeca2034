from __future__ import annotations

import numpy as np
import pytest

from biomm.errors import InputError
from biomm.io.reports import reports_from_column, split_sections
from biomm.reports.synthetic import (
    FINDINGS,
    STATES,
    binary_labels,
    label_column,
    make_reports,
    write_report_files,
)


def test_seeded_and_labelled():
    a, b = make_reports(30, kind="mixed", seed=5), make_reports(30, kind="mixed", seed=5)
    assert a.equals(b) and not a.equals(make_reports(30, kind="mixed", seed=6))
    labels = a.filter(like="label_")
    assert set(np.unique(labels.to_numpy())) <= set(STATES)
    assert set(a["kind"]) == {"radiology", "pathology"}
    counts = make_reports(400, seed=0)[label_column("pleural effusion")].value_counts()
    assert set(counts.index) == set(STATES) and counts.min() > 20


def test_absent_findings_are_not_stated():
    frame = make_reports(200, kind="mixed", seed=2)
    for _, row in frame.iterrows():
        sections = split_sections(row["text"])
        body = " ".join(v for k, v in sections.items() if k not in ("indication", "history"))
        for finding in FINDINGS[row["kind"]]:
            if row[label_column(finding)] == "absent":
                assert finding not in body.lower(), (finding, body)


def test_negation_and_hedging_cues_appear():
    frame = make_reports(300, kind="radiology", seed=4)
    text = " ".join(frame["text"]).lower()
    for cue in (
        "no ",
        "no evidence of",
        "without evidence of",
        "cannot exclude",
        "possible",
        "suggestive of",
    ):
        assert cue in text, cue
    text = " ".join(make_reports(300, kind="pathology", seed=4)["text"]).lower()
    assert "negative for malignancy" in text


def test_binary_labels_and_files_round_trip(tmp_path):
    frame = make_reports(8, seed=1)
    y = binary_labels(frame, ["pneumothorax"])
    states = frame[label_column("pneumothorax")].to_numpy()
    assert np.array_equal(np.isnan(y[:, 0]), states == "uncertain")
    assert np.array_equal(y[:, 0] == 1, states == "positive")
    written = write_report_files(frame, tmp_path)
    assert set(written["encoding"]) == {"utf-8", "utf-8-sig", "utf-16", "cp1252"}
    reports = reports_from_column(written, "path", base_dir=tmp_path)
    assert [r.text for r in reports] == frame["text"].tolist()


def test_invalid_arguments():
    with pytest.raises(InputError):
        make_reports(2, kind="cardiology")
    with pytest.raises(InputError):
        make_reports(2, findings=["malignancy"])  # a pathology finding in radiology reports
    with pytest.raises(InputError):
        make_reports(2, state_probabilities=(0.5, 0.5, 0.5, 0.5))
