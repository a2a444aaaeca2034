"""Write a whole synthetic ECG cohort: records (WFDB or NumPy) and a manifest with reports.

The signals come from :func:`biomm.ecg.synthetic.generate_ecg`, the reports from
:func:`biomm.ecg.synthetic_reports.generate_report`.

Examples:
    >>> import tempfile
    >>> frame = make_ecg_cohort(tempfile.mkdtemp(), 4, seed=0, duration_s=2.0)
    >>> frame.columns[:4].tolist()
    ['patient_id', 'ecg', 'report', 'label']
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biomm.ecg.synthetic import generate_ecg
from biomm.ecg.synthetic_classes import COMPATIBLE_FINDINGS, ECG_CLASSES
from biomm.ecg.synthetic_reports import generate_report
from biomm.errors import InputError
from biomm.io.ecg.leads import LEADS_12
from biomm.io.ecg.writers import write_wfdb16
from biomm.utils.atomic import atomic_path, atomic_write_table

# ---- the cohort -----------------------------------------------------------------------------

_WRITE_MODES = ("wfdb", "npz", "npy")
_SUFFIX = {"wfdb": "", "npz": ".npz", "npy": ".npy"}


def _prepare_folder(out_dir: str | PathLike[str]) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder; choose another output folder", path=out)
    if out.is_dir() and any(out.iterdir()):
        if not (out / "manifest.csv").is_file():
            raise InputError(
                "folder is not empty and holds no previous ECG cohort (manifest.csv); "
                "choose a new output folder",
                path=out,
            )
        if (out / "ecg").is_dir():
            shutil.rmtree(out / "ecg")
        (out / "manifest.csv").unlink()
    (out / "ecg").mkdir(parents=True, exist_ok=True)
    return out


def _draw_labels(
    primary: str, classes: Sequence[str], secondary_prob: float, rng: np.random.Generator
) -> list[str]:
    labels = [primary]
    options = [c for c in COMPATIBLE_FINDINGS[primary] if c in classes]
    if options and rng.random() < secondary_prob:
        labels.append(str(options[rng.integers(len(options))]))
    return labels


def _write_record(
    stem: Path, signal: np.ndarray, fs: float, labels: Sequence[str], write: str
) -> None:
    if write == "wfdb":
        comments = [f"dx: {', '.join(labels)}", "source: biomm synthetic ECG"]
        write_wfdb16(stem, signal, fs, comments)
    elif write == "npz":
        with atomic_path(stem.with_suffix(".npz")) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, signal=signal, fs=np.float64(fs), leads=np.array(LEADS_12))
    else:
        with atomic_path(stem.with_suffix(".npy")) as tmp, open(tmp, "wb") as fh:
            np.save(fh, signal)


def make_ecg_cohort(
    out_dir: str | PathLike[str],
    n_patients: int,
    *,
    seed: int = 0,
    fs: float = 500.0,
    duration_s: float = 10.0,
    classes: Sequence[str] = ECG_CLASSES,
    secondary_prob: float = 0.2,
    write: str = "wfdb",
) -> pd.DataFrame:
    """Write a synthetic ECG cohort: one record per patient plus ``manifest.csv``.

    Primary classes are balanced (each class ``n_patients / len(classes)`` times, shuffled);
    with probability ``secondary_prob`` a record also carries a compatible secondary finding
    (:data:`COMPATIBLE_FINDINGS`) from ``classes``. Records go to ``out_dir/ecg/`` as WFDB
    (``P0001.hea`` + ``.dat``, 16-bit at 1 µV per step, header comment ``dx: <labels>``),
    ``.npz`` (signal, fs, leads) or plain ``.npy`` (``[12, T]`` float32; the rate is in the
    manifest's ``fs`` column). A folder holding a previous cohort is overwritten.

    Manifest columns: ``patient_id`` (``P0001``…), ``ecg`` (path relative to ``out_dir``),
    ``report``, ``label`` (primary class), ``labels`` (``;``-joined), one 0/1 column per
    class, and ground truth for audit: ``heart_rate_bpm`` (realised), ``rr_cv``, ``qrs_ms``,
    ``pr_ms`` (empty for atrial fibrillation), ``qtc_ms``, ``axis_deg``, ``st_mv``,
    ``st_territory``, ``sokolow_mv``, ``limb_qrs_mv``, ``chest_qrs_mv``, ``noise_mv``,
    ``wander_mv``, ``mains_mv``, ``fs``, ``duration_s``.

    Args:
        out_dir: Output folder (created; must be empty or hold a previous cohort).
        n_patients: Number of patients (records).
        seed: Random seed; the same seed gives the same cohort.
        fs: Sampling rate in Hz.
        duration_s: Record length in seconds.
        classes: The classes to draw (a subset of :data:`ECG_CLASSES`, any order; the
            multi-hot columns follow this order).
        secondary_prob: Probability of a secondary finding.
        write: ``wfdb``, ``npz`` or ``npy``.

    Returns:
        The manifest as a DataFrame.

    Raises:
        InputError: On a bad argument or an unusable output folder (naming it).

    Examples:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> m = make_ecg_cohort(d, 4, classes=("normal", "atrial_fibrillation"), duration_s=3)
        >>> m[["patient_id", "ecg", "label"]].head(2).shape, (d / "manifest.csv").is_file()
        ((2, 3), True)
        >>> sorted(m["label"])
        ['atrial_fibrillation', 'atrial_fibrillation', 'normal', 'normal']
    """
    out_path = Path(out_dir)
    if write not in _WRITE_MODES:
        raise InputError(f"write must be one of {_WRITE_MODES}, got {write!r}", path=out_path)
    if isinstance(n_patients, bool) or not isinstance(n_patients, int) or n_patients < 1:
        raise InputError(f"n_patients must be a positive integer, got {n_patients!r}")
    if not 0.0 <= secondary_prob <= 1.0:
        raise InputError(f"secondary_prob must be in [0, 1], got {secondary_prob!r}")
    classes = tuple(classes)
    if not classes:
        raise InputError("classes is empty")
    bad = [c for c in classes if c not in ECG_CLASSES]
    if bad or len(set(classes)) != len(classes):
        raise InputError(f"classes must be distinct names from {ECG_CLASSES}; got {classes}")
    if not (np.isfinite(fs) and fs > 0 and np.isfinite(duration_s) and duration_s > 0):
        raise InputError(f"fs and duration_s must be positive, got {fs!r} and {duration_s!r}")
    out = _prepare_folder(out_path)

    root = np.random.SeedSequence(seed)
    plan_rng = np.random.default_rng(root.spawn(1)[0])
    primaries = [classes[i % len(classes)] for i in range(n_patients)]
    plan_rng.shuffle(primaries)
    rows = []
    for i, (primary, child) in enumerate(zip(primaries, root.spawn(n_patients), strict=True)):
        rng = np.random.default_rng(child)
        pid = f"P{i + 1:04d}"
        labels = _draw_labels(primary, classes, secondary_prob, rng)
        signal, p = generate_ecg(labels, fs=fs, duration_s=duration_s, rng=rng)
        _write_record(out / "ecg" / pid, signal, fs, labels, write)
        row: dict[str, Any] = {
            "patient_id": pid,
            "ecg": f"ecg/{pid}{_SUFFIX[write]}",
            "report": generate_report(labels, p, rng),
            "label": primary,
            "labels": ";".join(labels),
        }
        row.update({c: int(c in labels) for c in classes})
        pr = float(p["pr_ms"])
        row.update(
            heart_rate_bpm=round(p["realised_hr_bpm"], 2),
            rr_cv=round(p["rr_cv"], 4),
            qrs_ms=round(float(p["qrs_ms"]), 1),
            pr_ms=round(pr, 1) if np.isfinite(pr) else None,
            qtc_ms=round(float(p["qtc_ms"]), 1),
            axis_deg=round(p["axis_deg"], 1),
            st_mv=round(p["st_mv"], 4),
            st_territory=p["st_territory_measured"],
            sokolow_mv=round(p["sokolow_mv"], 3),
            limb_qrs_mv=round(p["limb_qrs_mv"], 3),
            chest_qrs_mv=round(p["chest_qrs_mv"], 3),
            noise_mv=round(float(p["emg_mv"]), 4),
            wander_mv=round(float(p["wander_mv"]), 4),
            mains_mv=round(float(p["mains_mv"]), 4),
            fs=float(fs),
            duration_s=float(duration_s),
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    atomic_write_table(table, out / "manifest.csv")
    return table
