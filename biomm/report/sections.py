"""Report sections for a cohort, zero-shot results, an ECG and a slide heatmap.

Every builder returns a :class:`~biomm.report.html.Section`, or None when its input is absent
(None or empty), so that the result can go straight into
:func:`~biomm.report.html.build_report`. Sections show counts and metrics, never manifest
rows: no report text, name or date of birth reaches a report through them.

Examples:
    >>> import pandas as pd
    >>> from biomm import Cohort
    >>> cohort = Cohort(pd.DataFrame({"patient_id": ["a", "b"], "ecg": ["a.hea", None]}))
    >>> cohort_section(cohort).notes[0]
    '2 patients; modalities: ecg.'
    >>> zeroshot_section(None) is None
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from biomm.errors import InputError
from biomm.report.html import Section

__all__ = [
    "availability_table",
    "cohort_section",
    "ecg_section",
    "target_summary",
    "wsi_heatmap_section",
    "zeroshot_section",
]


def availability_table(availability: Any) -> pd.DataFrame:
    """Patients per availability pattern with their share, most frequent first.

    Args:
        availability: Anything :func:`biomm.report.availability.pattern_counts` reads.

    Examples:
        >>> availability_table({"ecg": [True, True, False]}).to_dict("list")
        {'pattern': ['ecg', 'none'], 'patients': [2, 1], 'fraction': [0.667, 0.333]}
    """
    from biomm.report.availability import pattern_counts

    counts = pattern_counts(availability)
    total = max(int(counts.sum()), 1)
    return pd.DataFrame(
        {
            "pattern": counts.index.tolist(),
            "patients": counts.to_numpy(dtype=int).tolist(),
            "fraction": np.round(counts.to_numpy(dtype=float) / total, 3).tolist(),
        }
    )


def target_summary(cohort: Any) -> pd.DataFrame:
    """One row per declared target: type, known values, positives or events.

    Examples:
        >>> from biomm import Cohort
        >>> c = Cohort(pd.DataFrame({"patient_id": ["a", "b", "c"], "label": [1, 0, None]}))
        >>> target_summary(c).to_dict("records")
        [{'target': 'label', 'type': 'binary', 'known': 2, 'positive / events': 1}]
    """
    rows = []
    for name in cohort.target_names:
        spec = cohort.schema.targets[name]
        parsed = cohort.parse_target(name)
        known = [v for v in parsed.values if v is not None]
        if spec.type == "survival":
            positive: Any = int(sum(int(v[1]) for v in known))
        elif spec.type == "binary":
            positive = int(sum(int(v) for v in known))
        else:
            positive = None
        rows.append(
            {"target": name, "type": spec.type, "known": len(known), "positive / events": positive}
        )
    return pd.DataFrame(rows, columns=["target", "type", "known", "positive / events"])


def cohort_section(cohort: Any, *, title: str = "Cohort") -> Section | None:
    """Availability of the cohort's modalities, counts per modality, split and targets.

    Args:
        cohort: A :class:`biomm.cohort.Cohort` (None: no section).
        title: Section title.

    Returns:
        The section; None without a cohort.

    Examples:
        >>> from biomm import Cohort
        >>> c = Cohort(pd.DataFrame({"patient_id": ["a", "b"], "ecg": ["a.hea", None],
        ...                          "split": ["train", "test"]}))
        >>> sorted(cohort_section(c).tables)
        ['Availability patterns', 'Patients per modality', 'Split']
    """
    from biomm.report.availability import availability_figure

    if cohort is None:
        return None
    availability = cohort.availability()
    n_patients = len(availability.matrix)
    section = Section(title)
    modalities = ", ".join(cohort.modalities) or "none declared"
    section.notes.append(f"{n_patients} patients; modalities: {modalities}.")
    if n_patients and len(availability.matrix.columns):
        section.figures["Patients per modality-availability pattern"] = availability_figure(
            availability, title="Modality availability"
        )
        section.tables["Availability patterns"] = availability_table(availability)
        counts = availability.counts()
        section.tables["Patients per modality"] = pd.DataFrame(
            {
                "modality": counts.index.astype(str),
                "patients": counts.to_numpy(dtype=int),
                "fraction": np.round(counts.to_numpy(dtype=float) / max(n_patients, 1), 3),
            }
        )
    split = cohort.schema.split
    if split and split in cohort.table:
        pid = cohort.schema.patient_id
        per_patient = cohort.table.drop_duplicates(pid) if pid in cohort.table else cohort.table
        values = per_patient[split].fillna("(none)").astype(str).str.strip().str.lower()
        section.tables["Split"] = (
            values.value_counts().rename_axis("split").rename("patients").reset_index()
        )
    if cohort.target_names:
        section.tables["Targets"] = target_summary(cohort)
    return section


def zeroshot_section(
    per_class: Any,
    *,
    title: str = "Zero-shot classification",
    metric: str = "auroc",
) -> Section | None:
    """Per-class zero-shot metric (sorted bars with n positives) and the table.

    Args:
        per_class: Anything :func:`biomm.report.zeroshot.per_class_table` reads (e.g. the
            ``per_class`` dict of :func:`biomm.zeroshot.metrics.classification_metrics`, or a
            mode of ``biomm ecg zeroshot``'s ``metrics.json``); None or empty: no section.
        title: Section title.
        metric: The metric plotted.

    Raises:
        InputError: On a table that cannot be read or lacks the metric.

    Examples:
        >>> s = zeroshot_section({"AF": {"auroc": 0.9, "positives": 4, "n": 50}})
        >>> list(s.figures), s.tables["Per-class metrics"]["class"].tolist()
        (['Per-class AUROC'], ['AF'])
    """
    from biomm.report.zeroshot import per_class_table, zeroshot_figure

    if per_class is None or (hasattr(per_class, "__len__") and len(per_class) == 0):
        return None
    table = per_class_table(per_class)
    if table.empty:
        return None
    label = metric.upper() if metric == "auroc" else metric.replace("_", " ")
    section = Section(title)
    section.figures[f"Per-class {label}"] = zeroshot_figure(
        table, metric=metric, title=f"Per-class {label}"
    )
    columns = [
        c
        for c in ("class", "n", "positives", "auroc", "average_precision", "best_f1", "note")
        if c in table
    ]
    extra = [c for c in table.columns if c not in columns and c != metric]
    shown = table[columns + ([metric] if metric not in columns else []) + extra]
    section.tables["Per-class metrics"] = shown.reset_index(drop=True)
    values = pd.to_numeric(table[metric], errors="coerce")
    section.notes.append(
        f"{len(table)} classes, {int(values.notna().sum())} with a defined {label} "
        f"(macro mean {values.mean():.3f})."
    )
    return section


def ecg_section(
    record: Any, *, title: str = "ECG", caption: str = "12-lead ECG", seconds: float = 10.0
) -> Section | None:
    """A 12-lead ECG plot (3×4 + rhythm strip) with the record's rate, length and leads.

    Only the signal is shown: the record's path and metadata (age, sex...) are not.

    Args:
        record: An :class:`biomm.io.ecg.ECG` (None: no section).
        title: Section title.
        caption: Figure caption (keep identifiers out of it).
        seconds: Length shown.

    Examples:
        >>> from biomm.io.ecg import ECG
        >>> ecg = ECG.from_leads({"I": np.zeros(1000), "II": np.zeros(1000)}, fs=500)
        >>> ecg_section(ecg).notes[0]
        '500 Hz, 2.0 s; 6 of 12 leads present (absent: V1, V2, V3, V4, V5, V6).'
    """
    from biomm.report.ecg import ecg_figure

    if record is None:
        return None
    section = Section(title)
    section.figures[caption] = ecg_figure(record, seconds=seconds)
    names = list(record.lead_names)
    present = np.asarray(getattr(record, "present", np.ones(len(names), bool)), bool)
    absent = [n for n, p in zip(names, present, strict=True) if not p]
    signal = np.asarray(record.signal)
    note = (
        f"{float(record.fs):g} Hz, {signal.shape[1] / float(record.fs):.1f} s; "
        f"{int(present.sum())} of {len(names)} leads present"
    )
    section.notes.append(note + (f" (absent: {', '.join(absent)})." if absent else "."))
    return section


def wsi_heatmap_section(
    slide: Any,
    coords: Any,
    scores: Any,
    patch_size_level0: int,
    *,
    title: str = "Whole-slide heatmap",
    caption: str = "Tile scores over the slide thumbnail",
    mpp: float = 8.0,
    normalize: str = "rank",
    alpha: float = 0.5,
) -> Section | None:
    """Per-tile scores (attention, zero-shot similarity) over a slide thumbnail.

    Args:
        slide: A :class:`biomm.io.wsi.base.Slide` (None: no section).
        coords: ``[N, 2]`` level-0 tile corners.
        scores: ``[N]`` scores (None or empty: no section).
        patch_size_level0: Tile size in level-0 pixels.
        title: Section title.
        caption: Figure caption (keep identifiers out of it).
        mpp: Thumbnail resolution.
        normalize: Score scaling (see :func:`biomm.wsi.heatmap.score_heatmap`).
        alpha: Opacity of the colours.

    Raises:
        InputError: On coordinates and scores of different lengths.

    Examples:
        >>> from biomm.io.wsi import VirtualSlide
        >>> slide = VirtualSlide(np.full((512, 512, 3), 230, np.uint8), mpp=0.5)
        >>> s = wsi_heatmap_section(slide, [[0, 0], [256, 0]], [0.2, 0.7], 256, mpp=4.0)
        >>> s.notes
        ['2 tiles; colours are score percentiles (rank).']
    """
    from biomm.report.wsi import heatmap_figure

    if slide is None or scores is None or len(np.asarray(scores).reshape(-1)) == 0:
        return None
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if not np.isfinite(scores).all():
        raise InputError("tile scores contain NaN or infinite values")
    section = Section(title)
    section.figures[caption] = heatmap_figure(
        slide, coords, scores, patch_size_level0, mpp=mpp, alpha=alpha, normalize=normalize
    )
    scale = {
        "rank": "score percentiles (rank)",
        "minmax": "min-max scaled scores",
        "none": "raw scores",
    }
    section.notes.append(f"{len(scores)} tiles; colours are {scale[normalize]}.")
    return section
