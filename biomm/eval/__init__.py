"""Evaluation: classification and survival metrics, bootstrap CIs, availability breakdowns.

* :mod:`biomm.eval.classification`: AUROC, AUPRC, balanced accuracy, Brier score,
  calibration (ECE, reliability bins) for binary, multiclass and multilabel tasks.
* :mod:`biomm.eval.survival`: Harrell's and Uno's C, cumulative/dynamic AUC, (integrated)
  IPCW Brier score; risk scores are "higher = worse".
* :mod:`biomm.eval.bootstrap`: percentile bootstrap CIs, stratified and/or by patient.
* :mod:`biomm.eval.availability`: every metric per modality-availability pattern.
* :mod:`biomm.eval.missingness`: MCAR / MAR / MNAR missing-modality simulation.

Examples:
    >>> import numpy as np
    >>> from biomm.eval import auroc, bootstrap, by_availability
    >>> y = np.array([0, 1] * 20)
    >>> s = np.where(y == 1, 0.7, 0.3) + np.linspace(-0.25, 0.25, 40)
    >>> present = {"ecg": np.ones(40, bool), "wsi": np.arange(40) % 4 != 0}
    >>> df = by_availability(auroc, y, s, present=present, n=100, seed=0)
    >>> df["pattern"].tolist(), df["n"].tolist()
    (['all', 'ecg+wsi', 'ecg'], [40, 30, 10])
"""

from __future__ import annotations

from biomm.eval.availability import availability_patterns, by_availability
from biomm.eval.bootstrap import BootstrapResult, bootstrap, resample_indices
from biomm.eval.classification import (
    CalibrationResult,
    auprc,
    auroc,
    balanced_accuracy,
    brier_score,
    calibration,
    classification_summary,
    expected_calibration_error,
    infer_task,
)
from biomm.eval.missingness import mnar_shift, removal_rates, simulate_missingness
from biomm.eval.survival import (
    KaplanMeier,
    cumulative_dynamic_auc,
    harrell_c,
    integrated_brier_score,
    kaplan_meier,
    time_brier_score,
    uno_c,
)

__all__ = [
    "BootstrapResult",
    "CalibrationResult",
    "KaplanMeier",
    "auprc",
    "auroc",
    "availability_patterns",
    "balanced_accuracy",
    "bootstrap",
    "brier_score",
    "by_availability",
    "calibration",
    "classification_summary",
    "cumulative_dynamic_auc",
    "expected_calibration_error",
    "harrell_c",
    "infer_task",
    "integrated_brier_score",
    "kaplan_meier",
    "mnar_shift",
    "removal_rates",
    "resample_indices",
    "simulate_missingness",
    "time_brier_score",
    "uno_c",
]
