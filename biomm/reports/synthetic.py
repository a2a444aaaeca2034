"""Seeded radiology and pathology style reports with per-finding labels, written by biomm.

Each report states several findings, each in one of four states:

- ``positive``: stated ("Small left pleural effusion.", "Positive for carcinoma.");
- ``negative``: negated ("No pneumothorax.", "Negative for malignancy.", "without evidence
  of …", "… is not identified", "Heart size is normal.", "No effusion or pneumothorax.");
- ``uncertain``: hedged ("Cannot exclude pneumonia.", "Possible …", "suggestive of …");
- ``absent``: not mentioned (the indication may still name it: "Evaluate for pneumonia." —
  a request, not a finding, so the label stays ``absent``).

Reports use nine header conventions (``FINDINGS:`` on its own line, ``Findings: text``,
``FINDINGS - text``, ``1. FINDINGS``, ``## Findings``, ``**Findings:** text``, ``FINDINGS``
without colon, lower/mixed case, everything on one line), wrapped or listed bodies,
de-identification placeholders (``___``, ``[**2150-03-02**]``) and signature lines, so they
exercise reading, section parsing and cleaning as well as zero-shot labelling.

The phrasings are ours, written for testing; they imitate the style of public report
corpora but copy no report.

Examples:
    >>> df = make_reports(3, kind="pathology", seed=1)
    >>> sorted(set(df.filter(like="label_").iloc[0]) - set(STATES))
    []
    >>> binary_labels(df, ["malignancy"]).shape
    (3, 1)
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biomm.errors import InputError

STATES = ("positive", "negative", "uncertain", "absent")
#: Default probability of each state per finding and report.
STATE_PROBABILITIES = (0.25, 0.3, 0.1, 0.35)
STYLES = (
    "colon_newline",
    "colon_inline",
    "dash",
    "numbered",
    "markdown",
    "bold",
    "caps_no_colon",
    "lower_case",
    "one_line",
)

# finding → surface forms; the first is the finding's name
_RADIOLOGY = {
    "pleural effusion": ("pleural effusion", "effusion"),
    "pneumothorax": ("pneumothorax",),
    "pneumonia": ("pneumonia", "pneumonic infiltrate"),
    "cardiomegaly": ("cardiomegaly", "enlargement of the cardiac silhouette"),
    "pulmonary edema": ("pulmonary edema", "interstitial edema"),
    "atelectasis": ("atelectasis", "subsegmental atelectasis"),
    "lung nodule": ("lung nodule", "pulmonary nodule"),
}
_PATHOLOGY = {
    "malignancy": ("malignancy", "carcinoma", "invasive carcinoma"),
    "lymphovascular invasion": ("lymphovascular invasion",),
    "necrosis": ("necrosis", "tumor necrosis"),
    "dysplasia": ("dysplasia", "high-grade dysplasia"),
    "lymph node metastasis": ("lymph node metastasis", "metastatic carcinoma in lymph nodes"),
    "inflammation": ("inflammation", "chronic inflammation"),
}
#: Findings per report kind.
FINDINGS = {"radiology": tuple(_RADIOLOGY), "pathology": tuple(_PATHOLOGY)}

_POSITIVE = {
    "radiology": (
        "There is a {size} {side} {x}.",
        "{Size} {side} {x}.",
        "{X} is present.",
        "Findings consistent with {x}.",
        "{X} is noted.",
        "Interval development of {x}.",
        "New {x}.",
    ),
    "pathology": (
        "Positive for {x}.",
        "{X} is identified.",
        "The sections show {x}.",
        "{X}: present.",
        "Sections demonstrate {x}.",
    ),
}
_NEGATIVE = {
    "radiology": (
        "No {x}.",
        "There is no {x}.",
        "No evidence of {x}.",
        "The lungs are otherwise clear without evidence of {x}.",
        "{X} is not seen.",
        "Resolution of the previously seen {x}.",
        "{X} is absent.",
    ),
    "pathology": (
        "Negative for {x}.",
        "No {x} is identified.",
        "There is no evidence of {x}.",
        "{X}: not identified.",
        "Without evidence of {x}.",
        "{X} is absent.",
    ),
}
_UNCERTAIN = {
    "radiology": (
        "Cannot exclude {x}.",
        "Possible {x}.",
        "Findings suggestive of {x}.",
        "Questionable {side} {x}.",
        "Opacity may represent {x}.",
        "{X} cannot be ruled out.",
    ),
    "pathology": (
        "Suspicious for {x}.",
        "Possible {x}, see comment.",
        "Findings are suggestive of {x}.",
        "Cannot exclude {x}.",
        "Equivocal for {x}.",
    ),
}
# implicit negations that do not name the finding
_IMPLICIT_NEGATIVE = {
    "cardiomegaly": ("Heart size is normal.", "The cardiac silhouette is within normal limits."),
    "malignancy": ("Benign tissue.",),
}
_FILLER = {
    "radiology": (
        "The mediastinal contours are unremarkable.",
        "Osseous structures are intact.",
        "The trachea is midline.",
        "Support devices are unchanged in position.",
        "The hila are within normal limits.",
        "Degenerative changes of the thoracic spine.",
    ),
    "pathology": (
        "The specimen is received in formalin, labeled with the patient's name.",
        "Representative sections are submitted in cassettes A1-A4.",
        "Immunohistochemical stains were reviewed with appropriate controls.",
        "Margins are evaluated in all sections.",
        "Clinical correlation is recommended.",
    ),
}
_UNSIDED = frozenset({"cardiomegaly", "pulmonary edema"})
_SIZES = ("small", "moderate", "large", "trace", "mild")
_SIDES = ("left", "right", "bilateral", "left basilar", "right apical")
_NAMES = {
    "examination": ("EXAMINATION", "Exam"),
    "indication": ("INDICATION", "Clinical indication"),
    "comparison": ("COMPARISON", "Comparison"),
    "technique": ("TECHNIQUE", "Technique"),
    "findings": ("FINDINGS", "Findings"),
    "impression": ("IMPRESSION", "Impression"),
    "history": ("CLINICAL HISTORY", "Clinical history"),
    "specimen": ("SPECIMEN", "Specimen"),
    "gross": ("GROSS DESCRIPTION", "Gross description"),
    "microscopic": ("MICROSCOPIC DESCRIPTION", "Microscopic description"),
    "final_diagnosis": ("FINAL DIAGNOSIS", "Final diagnosis"),
    "comment": ("COMMENT", "Comment"),
}


def label_column(finding: str) -> str:
    """The label column of a finding.

    Examples:
        >>> label_column("pleural effusion")
        'label_pleural_effusion'
    """
    return "label_" + "_".join(finding.lower().replace("-", " ").split())


def _fill(template: str, surface: str, rng: np.random.Generator, *, sided: bool) -> str:
    size, side = rng.choice(_SIZES), rng.choice(_SIDES) if sided else ""
    text = template.format(
        x=surface,
        X=surface[:1].upper() + surface[1:],
        size=size,
        side=side,
        Size=size.capitalize(),
    )
    return " ".join(text.split())


def _statement(kind: str, finding: str, state: str, rng: np.random.Generator) -> str:
    forms = (_RADIOLOGY if kind == "radiology" else _PATHOLOGY)[finding]
    surface = str(rng.choice(forms))
    if state == "negative" and finding in _IMPLICIT_NEGATIVE and rng.random() < 0.3:
        return str(rng.choice(_IMPLICIT_NEGATIVE[finding]))
    bank = {"positive": _POSITIVE, "negative": _NEGATIVE, "uncertain": _UNCERTAIN}[state]
    return _fill(str(rng.choice(bank[kind])), surface, rng, sided=finding not in _UNSIDED)


def _statements(kind: str, states: dict[str, str], rng: np.random.Generator) -> list[str]:
    out = []
    negatives = [f for f, s in states.items() if s == "negative"]
    rng.shuffle(negatives)
    if len(negatives) >= 2 and rng.random() < 0.3:  # one sentence negating two findings
        a, b = negatives[:2]
        verb = "No" if kind == "radiology" else "Negative for"
        out.append(f"{verb} {a} or {b}.")
        negatives = negatives[2:]
    for finding, state in states.items():
        if state in ("positive", "uncertain") or finding in negatives:
            out.append(_statement(kind, finding, state, rng))
    filler = list(_FILLER[kind])
    rng.shuffle(filler)
    out += filler[: int(rng.integers(1, 4))]
    rng.shuffle(out)
    return out


def _body(sentences: list[str], style: str, rng: np.random.Generator) -> str:
    if style == "one_line" or len(sentences) == 1:
        return " ".join(sentences)
    layout = rng.choice(["paragraph", "wrapped", "list", "lines"])
    if layout == "list":
        return "\n".join(f"{k}. {s}" for k, s in enumerate(sentences, 1))
    if layout == "lines":
        return "\n".join(sentences)
    if layout == "wrapped":
        return textwrap.fill(" ".join(sentences), width=int(rng.integers(50, 80)))
    return " ".join(sentences)


def _header(name: str, body: str, style: str, number: int) -> str:
    upper, title = _NAMES[name]
    return {
        "colon_newline": f"{upper}:\n{body}",
        "colon_inline": f"{title}: {body}",
        "dash": f"{upper} - {body}",
        "numbered": f"{number}. {upper}\n{body}",
        "markdown": f"## {title}\n{body}",
        "bold": f"**{title}:** {body}",
        "caps_no_colon": f"{upper}\n{body}",
        "lower_case": f"{title.lower()}:\n{body}",
        "one_line": f"{upper}: {body}",
    }[style]


def _summary(kind: str, states: dict[str, str], rng: np.random.Generator) -> list[str]:
    """Impression / final diagnosis: restates the positive and uncertain findings."""
    lines = [
        _statement(kind, f, s, rng) for f, s in states.items() if s in ("positive", "uncertain")
    ]
    if kind == "pathology" and states.get("malignancy") == "negative":
        lines.append("Negative for malignancy.")
    if not lines:
        lines = (
            ["No acute cardiopulmonary process."]
            if kind == "radiology"
            else ["Benign tissue, no diagnostic abnormality."]
        )
    if kind == "radiology" and rng.random() < 0.2:
        lines.append("Dr. ___ was notified of the findings at 10:30.")
    return lines


def _sections(kind: str, states: dict[str, str], rng: np.random.Generator) -> list:
    trap = [f for f, s in states.items() if s == "absent"]
    if kind == "radiology":
        age = int(rng.integers(25, 90))
        indication = f"{age}-year-old with shortness of breath."
        if trap and rng.random() < 0.3:
            indication += f" Evaluate for {rng.choice(trap)}."
        out = [
            ("examination", ["Chest radiograph, PA and lateral."]),
            ("indication", [indication]),
            (
                "comparison",
                [
                    str(
                        rng.choice(
                            ["None.", "Prior study from ___.", "Radiograph of [**2150-03-02**]."]
                        )
                    )
                ],
            ),
        ]
        if rng.random() < 0.3:
            out.append(("technique", ["Frontal and lateral views of the chest."]))
        out.append(("findings", _statements(kind, states, rng)))
        out.append(("impression", _summary(kind, states, rng)))
        return out
    dims = rng.uniform(0.3, 4.0, 3).round(1)
    history = "Breast mass, rule out carcinoma." if rng.random() < 0.3 else "Mass on imaging."
    out = [
        ("history", [history]),
        ("specimen", ["Left breast, core needle biopsy."]),
        ("gross", [f"Tan-pink tissue measuring {dims[0]} x {dims[1]} x {dims[2]} cm."]),
        ("microscopic", _statements(kind, states, rng)),
        ("final_diagnosis", _summary(kind, states, rng)),
    ]
    if rng.random() < 0.3:
        out.append(("comment", ["Case reviewed with Dr. ___ on [**2150-03-02**]."]))
    return out


def make_reports(
    n: int,
    *,
    kind: str = "radiology",
    seed: int = 0,
    findings: Sequence[str] | None = None,
    state_probabilities: Sequence[float] = STATE_PROBABILITIES,
    styles: Sequence[str] = STYLES,
) -> pd.DataFrame:
    """``n`` labelled synthetic reports.

    Args:
        n: Reports to write.
        kind: ``radiology``, ``pathology`` or ``mixed`` (alternating).
        seed: Random seed (same seed, same reports).
        findings: Findings to label (default: all of the kind's :data:`FINDINGS`).
        state_probabilities: Probabilities of positive, negative, uncertain, absent.
        styles: Header conventions to draw from (:data:`STYLES`).

    Returns:
        One row per report: ``report_id``, ``kind``, ``style``, ``sections`` (canonical
        names in order, comma-separated), ``text`` and one ``label_<finding>`` column per
        finding of either kind with the state (``absent`` for the other kind's findings).
        ``frame.attrs["findings"]`` lists the findings.

    Raises:
        InputError: On an unknown kind, finding or style, or bad probabilities.

    Examples:
        >>> df = make_reports(4, seed=0)
        >>> df.columns[:5].tolist(), bool(df["label_pneumothorax"].isin(STATES).all())
        (['report_id', 'kind', 'style', 'sections', 'text'], True)
    """
    if kind not in ("radiology", "pathology", "mixed"):
        raise InputError(f"kind must be radiology, pathology or mixed, got {kind!r}")
    kinds = ["radiology", "pathology"] if kind == "mixed" else [kind]
    known = [f for k in kinds for f in FINDINGS[k]]
    findings = list(findings) if findings is not None else known
    unknown = sorted(set(findings) - set(known)) + sorted(set(styles) - set(STYLES))
    probs = np.asarray(state_probabilities, float)
    if unknown or probs.shape != (4,) or (probs < 0).any() or not np.isclose(probs.sum(), 1):
        raise InputError(
            f"unknown findings/styles {unknown} or state probabilities {list(probs)} "
            f"(four values summing to 1; findings of {kinds}: {known}; styles: {STYLES})"
        )
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n):
        report_kind = kinds[k % len(kinds)]
        own = [f for f in findings if f in FINDINGS[report_kind]]
        states = {f: str(rng.choice(STATES, p=probs)) for f in own}
        style = str(rng.choice(list(styles)))
        parts = _sections(report_kind, states, rng)
        blocks = [
            _header(name, _body(sentences, style, rng), style, number)
            for number, (name, sentences) in enumerate(parts, 1)
        ]
        text = (" " if style == "one_line" else "\n\n").join(blocks)
        if rng.random() < 0.5:
            text += "\n\nElectronically signed by: Dr. ___ on [**2150-03-02**] 10:45 AM"
        row: dict[str, Any] = {
            "report_id": f"R{k:05d}",
            "kind": report_kind,
            "style": style,
            "sections": ",".join(name for name, _ in parts),
            "text": text,
        }
        row.update({label_column(f): states.get(f, "absent") for f in findings})
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs["findings"] = findings
    return frame


def binary_labels(
    frame: pd.DataFrame,
    findings: Sequence[str],
    positive: Sequence[str] = ("positive",),
    negative: Sequence[str] = ("negative", "absent"),
) -> np.ndarray:
    """``[N, F]`` float labels: 1 for ``positive`` states, 0 for ``negative``, NaN otherwise.

    Examples:
        >>> df = pd.DataFrame({"label_a": ["positive", "uncertain", "absent"]})
        >>> binary_labels(df, ["a"]).ravel().tolist()
        [1.0, nan, 0.0]
    """
    out = np.full((len(frame), len(findings)), np.nan)
    for j, finding in enumerate(findings):
        states = frame[label_column(finding)].astype(str)
        out[states.isin(positive).to_numpy(), j] = 1.0
        out[states.isin(negative).to_numpy(), j] = 0.0
    return out


def write_report_files(
    frame: pd.DataFrame,
    folder: str | PathLike[str],
    *,
    encodings: Sequence[str] = ("utf-8", "utf-8-sig", "utf-16", "cp1252"),
) -> pd.DataFrame:
    """Write each report to ``folder/<report_id>.txt``, cycling through ``encodings``.

    Returns:
        A copy of ``frame`` with ``path`` (relative to ``folder``) and ``encoding`` columns.

    Examples:
        >>> import tempfile
        >>> out = write_report_files(make_reports(2), tempfile.mkdtemp())
        >>> out["encoding"].tolist()
        ['utf-8', 'utf-8-sig']
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = frame.copy()
    paths, used = [], []
    for k, (report_id, text) in enumerate(zip(frame["report_id"], frame["text"], strict=True)):
        encoding = encodings[k % len(encodings)]
        (folder / f"{report_id}.txt").write_bytes(str(text).encode(encoding))
        paths.append(f"{report_id}.txt")
        used.append(encoding)
    out["path"] = paths
    out["encoding"] = used
    return out
