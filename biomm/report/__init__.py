"""HTML results reports and figures: availability, ROC/PR, calibration, survival, ECG, WSI.

Figure functions return :class:`matplotlib.figure.Figure` objects (made without pyplot, so
no window opens; they display in notebooks). :func:`build_report` assembles sections of
figures, tables and notes into one self-contained ``report.html``;
:func:`build_run_report` does it for a ``biomm train`` output folder.

Examples:
    >>> import tempfile
    >>> from biomm.report import Section, build_report, roc_figure
    >>> fig = roc_figure([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.9], n=20)
    >>> path = build_report([Section("Model", figures={"ROC": fig})], tempfile.mkdtemp())
    >>> path.name, (path.parent / "figures").is_dir()
    ('report.html', True)
"""

from __future__ import annotations

from biomm.report.availability import availability_figure, pattern_counts, pattern_metrics_figure
from biomm.report.curves import calibration_figure, pr_band, pr_figure, roc_band, roc_figure
from biomm.report.ecg import ecg_figure
from biomm.report.html import IdLabeller, Section, build_report
from biomm.report.run import (
    RunArtifacts,
    build_run_report,
    read_run,
    run_targets,
    sections_from_training_run,
)
from biomm.report.sections import (
    cohort_section,
    ecg_section,
    wsi_heatmap_section,
    zeroshot_section,
)
from biomm.report.survival import km_figure, risk_groups
from biomm.report.trajectories import trajectory_figure
from biomm.report.wsi import heatmap_figure
from biomm.report.zeroshot import per_class_table, zeroshot_figure

__all__ = [
    "IdLabeller",
    "RunArtifacts",
    "Section",
    "availability_figure",
    "build_report",
    "build_run_report",
    "calibration_figure",
    "cohort_section",
    "ecg_figure",
    "ecg_section",
    "heatmap_figure",
    "km_figure",
    "pattern_counts",
    "pattern_metrics_figure",
    "per_class_table",
    "pr_band",
    "pr_figure",
    "read_run",
    "risk_groups",
    "roc_band",
    "roc_figure",
    "run_targets",
    "sections_from_training_run",
    "trajectory_figure",
    "wsi_heatmap_section",
    "zeroshot_figure",
    "zeroshot_section",
]
