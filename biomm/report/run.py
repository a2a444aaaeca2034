"""The report of a ``biomm train`` run: from its output folder to ``report.html``.

A run folder holds ``predictions.csv``, ``metrics.csv``, ``summary.json``, ``history.csv``,
``model/config.json`` and, for MultiModN, ``trajectories.csv`` (see
:func:`biomm.train.run.run_training`). ``predictions.csv`` has no targets: curves (ROC, PR,
calibration, Kaplan–Meier) need the cohort, which is read from the path recorded in
``model/config.json`` unless one is given. Whatever is missing leaves its section or figure
out, with a note; an artifact that is there but malformed raises an
:class:`~biomm.errors.InputError` naming the file.

Examples:
    >>> import tempfile
    >>> run = read_run(tempfile.mkdtemp())
    >>> run.predictions is None and run.metrics is None
    True
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biomm.errors import InputError
from biomm.report.html import IdLabeller, Section, build_report

__all__ = [
    "RunArtifacts",
    "build_run_report",
    "read_run",
    "run_targets",
    "sections_from_training_run",
]

_BINARY = ("binary",)
_SURVIVAL = ("survival_cox", "survival_discrete")


@dataclass
class RunArtifacts:
    """What a ``biomm train`` output folder holds (None where a file is absent).

    Attributes:
        folder: The run folder.
        predictions: ``predictions.csv``: ``patient_id``, ``has_<modality>``, per-task scores.
        metrics: ``metrics.csv``: ``task``, ``pattern``, ``n``, metrics with CIs.
        trajectories: ``trajectories.csv`` (MultiModN runs).
        history: ``history.csv``: losses per epoch.
        summary: ``summary.json``.
        config: ``model/config.json`` (the model spec and the training config).
    """

    folder: Path
    predictions: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    trajectories: pd.DataFrame | None = None
    history: pd.DataFrame | None = None
    summary: dict[str, Any] | None = None
    config: dict[str, Any] | None = None

    def is_empty(self) -> bool:
        """True when the folder holds none of the run's files."""
        return all(
            getattr(self, name) is None
            for name in ("predictions", "metrics", "trajectories", "history", "summary")
        )

    def heads(self) -> dict[str, str]:
        """Task → head name (``binary``, ``survival_cox``...), from the saved config.

        Examples:
            >>> cfg = {"model": {"heads": {"y": {"name": "binary"}}}}
            >>> RunArtifacts(Path("."), config=cfg).heads()
            {'y': 'binary'}
        """
        config = self.config or {}
        heads = (config.get("model") or {}).get("heads") or {}
        out = {
            task: str(spec.get("name", ""))
            for task, spec in heads.items()
            if isinstance(spec, dict)
        }
        tasks = (config.get("config") or {}).get("tasks") or {}
        for task, spec in tasks.items():
            if isinstance(spec, dict):
                out.setdefault(task, str(spec.get("head", "")))
        return out

    def task_targets(self) -> dict[str, str]:
        """Task → cohort target name, from the saved config.

        Examples:
            >>> cfg = {"config": {"tasks": {"death": {"head": "survival_cox", "target": "os"}}}}
            >>> RunArtifacts(Path("."), config=cfg).task_targets()
            {'death': 'os'}
        """
        config = self.config or {}
        out = {}
        for task, spec in ((config.get("config") or {}).get("tasks") or {}).items():
            if isinstance(spec, dict) and spec.get("target"):
                out[task] = str(spec["target"])
        for task, spec in ((config.get("model") or {}).get("heads") or {}).items():
            if isinstance(spec, dict) and spec.get("target"):
                out.setdefault(task, str(spec["target"]))
        return out


def _read_table(path: Path, required: tuple[str, ...]) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, dtype={"patient_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"unreadable table ({type(exc).__name__}: {exc})", path=path) from None
    missing = [c for c in required if c not in frame]
    if missing:
        raise InputError(
            f"not a biomm run table: columns {missing} are missing (has {list(frame.columns)[:8]})",
            path=path,
        )
    return frame


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid JSON ({exc})", path=path) from None
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {type(data).__name__}", path=path)
    return data


def read_run(run_dir: str | PathLike[str]) -> RunArtifacts:
    """Read the artifacts of a ``biomm train`` output folder (absent files are None).

    Raises:
        InputError: Naming the file, when an artifact is unreadable or lacks its columns.

    Examples:
        >>> read_run.__name__
        'read_run'
    """
    folder = Path(run_dir)
    predictions = _read_table(folder / "predictions.csv", ("patient_id",))
    if predictions is not None:
        for column in [c for c in predictions.columns if str(c).startswith("has_")]:
            values = predictions[column]
            if values.dtype != bool:
                text = values.astype(str).str.strip().str.lower()
                if not text.isin(["true", "false", "1", "0"]).all():
                    raise InputError(
                        f"column {column!r} must be true/false", path=folder / "predictions.csv"
                    )
                predictions[column] = text.isin(["true", "1"])
    trajectories = _read_table(
        folder / "trajectories.csv", ("patient_id", "step", "modality", "applied")
    )
    if trajectories is not None and trajectories["applied"].dtype != bool:
        text = trajectories["applied"].astype(str).str.strip().str.lower()
        trajectories["applied"] = text.isin(["true", "1"])
    return RunArtifacts(
        folder=folder,
        predictions=predictions,
        metrics=_read_table(folder / "metrics.csv", ("task", "pattern", "n")),
        trajectories=trajectories,
        history=_read_table(folder / "history.csv", ("epoch",)),
        summary=_read_json(folder / "summary.json"),
        config=_read_json(folder / "model" / "config.json"),
    )


def _load_cohort(run: RunArtifacts, cohort: Any) -> Any:
    """The cohort given (a Cohort or a manifest path), else the one of the run's config."""
    from biomm.cohort import Cohort

    if isinstance(cohort, Cohort):
        return cohort
    schema = None
    if cohort is None:
        config = (run.config or {}).get("config") or {}
        cohort, schema = config.get("cohort"), config.get("schema")
        if not cohort or not Path(cohort).is_file():
            return None
        if schema and not Path(schema).is_file():
            schema = None
    return Cohort.from_file(cohort, schema)


def run_targets(run: RunArtifacts, cohort: Any = None) -> dict[str, np.ndarray]:
    """Each task's targets aligned to the rows of ``predictions.csv``.

    Binary tasks: ``[N]`` float (NaN = unknown). Survival tasks: ``[N, 2]`` (time, event),
    NaN where unknown. Other tasks are left out.

    Args:
        run: The run's artifacts.
        cohort: A :class:`biomm.cohort.Cohort` or a manifest path (default: the cohort in
            the run's ``model/config.json``, when the file still exists).

    Returns:
        Task → targets; empty when the cohort or predictions are not available.

    Examples:
        >>> run_targets(RunArtifacts(Path(".")))
        {}
    """
    if run.predictions is None:
        return {}
    loaded = _load_cohort(run, cohort)
    if loaded is None:
        return {}
    pid = loaded.schema.patient_id
    if pid not in loaded.table:
        return {}
    ids = loaded.table[pid].astype(str).tolist()
    wanted = run.predictions["patient_id"].astype(str).tolist()
    heads = run.heads()
    out: dict[str, np.ndarray] = {}
    for task, target in run.task_targets().items():
        head = heads.get(task, "")
        if target not in loaded.target_names or head not in (*_BINARY, *_SURVIVAL):
            continue
        per_patient: dict[str, Any] = {}
        for patient, value in zip(ids, loaded.parse_target(target).values, strict=True):
            if value is not None:
                per_patient.setdefault(patient, value)
        width = 2 if head in _SURVIVAL else 1
        values = np.full((len(wanted), width), np.nan)
        for k, patient in enumerate(wanted):
            value = per_patient.get(patient)
            if value is not None:
                values[k] = value if width == 2 else float(value)
        out[task] = values if width == 2 else values[:, 0]
    return out


def _overview(run: RunArtifacts) -> Section | None:
    section = Section("Training run")
    config = (run.config or {}).get("config") or {}
    fusion = (config.get("fusion") or {}).get("name")
    modalities = list((config.get("modalities") or {}).keys())
    heads = run.heads()
    if fusion or modalities:
        section.notes.append(
            f"Fusion: {fusion or 'unknown'}; modalities: {', '.join(modalities) or 'unknown'}."
        )
    if heads:
        section.notes.append(
            "Tasks: " + ", ".join(f"{task} ({head})" for task, head in heads.items()) + "."
        )
    if run.summary:
        counts = run.summary.get("counts") or {}
        if counts:
            section.notes.append(
                "Patients per split: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + "."
            )
        if run.summary.get("epochs") is not None:
            section.notes.append(f"Epochs trained: {run.summary['epochs']}.")
    if run.metrics is not None and not run.metrics.empty:
        section.tables["Test metrics (all test patients, bootstrap CIs)"] = _overall_table(
            run.metrics
        )
    if run.history is not None and len(run.history):
        losses = [c for c in ("train_loss", "val_loss") if c in run.history]
        if losses:
            section.figures["Loss per epoch"] = _history_figure(run.history, losses)
    return None if section.is_empty() else section


def _overall_table(metrics: pd.DataFrame) -> pd.DataFrame:
    from biomm.report.availability import metric_columns

    rows = []
    for task, group in metrics.groupby("task", sort=False):
        overall = group[group["pattern"].astype(str) == "all"]
        if overall.empty:
            continue
        row = overall.iloc[0]
        for metric in metric_columns(overall):
            rows.append(
                {
                    "task": task,
                    "metric": metric,
                    "n": int(row["n"]),
                    "estimate": float(row[metric]),
                    "ci_low": float(row[f"{metric}_low"]),
                    "ci_high": float(row[f"{metric}_high"]),
                }
            )
    return pd.DataFrame(rows, columns=["task", "metric", "n", "estimate", "ci_low", "ci_high"])


def _history_figure(history: pd.DataFrame, losses: list[str]) -> Any:
    from matplotlib.ticker import MaxNLocator

    from biomm.report.plotting import new_figure

    fig, ax = new_figure(4.6, 3.2)
    for column in losses:
        ax.plot(history["epoch"], history[column], marker="o", ms=3, label=column.replace("_", " "))
    ax.set(xlabel="epoch", ylabel="loss", title="Training history")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _task_section(
    task: str,
    head: str,
    run: RunArtifacts,
    targets: Mapping[str, np.ndarray],
    *,
    n_bootstrap: int,
    seed: int,
    risk_groups: int | str,
    calibration_bins: int,
    targets_note: str | None,
) -> Section | None:
    from biomm.report.availability import metric_columns, pattern_metrics_figure
    from biomm.report.curves import calibration_figure, pr_figure, roc_figure
    from biomm.report.survival import km_figure

    section = Section(f"Task: {task} ({head or 'unknown head'})")
    predictions = run.predictions
    scores = None
    if predictions is not None and task in predictions:
        scores = pd.to_numeric(predictions[task], errors="coerce").to_numpy(dtype=float)
    target = targets.get(task)
    if scores is not None and target is not None:
        if head in _BINARY:
            known = np.isfinite(target) & np.isfinite(scores)
            y, s = target[known], scores[known]
            if len(np.unique(y)) == 2:
                section.figures["ROC curve (band: bootstrap CI)"] = roc_figure(
                    y, s, n=n_bootstrap, seed=seed, title=f"ROC — {task}"
                )
                section.figures["Precision-recall curve (band: bootstrap CI)"] = pr_figure(
                    y, s, n=n_bootstrap, seed=seed, title=f"PR — {task}"
                )
                if s.min() >= 0 and s.max() <= 1:
                    section.figures["Calibration (reliability diagram)"] = calibration_figure(
                        y, s, n_bins=calibration_bins, title=f"Calibration — {task}"
                    )
            else:
                section.notes.append("The test labels hold one class only: no ROC/PR curve.")
        elif head in _SURVIVAL:
            known = np.isfinite(target).all(axis=1) & np.isfinite(scores)
            if known.sum() >= 4:
                section.figures["Kaplan–Meier curves by predicted-risk group"] = km_figure(
                    target[known, 0],
                    target[known, 1],
                    scores[known],
                    groups=risk_groups,
                    title=f"Kaplan–Meier — {task}",
                )
            else:
                section.notes.append("Fewer than 4 test patients with outcomes: no KM curves.")
    elif head in (*_BINARY, *_SURVIVAL) and targets_note:
        section.notes.append(targets_note)
    if run.metrics is not None:
        rows = run.metrics[run.metrics["task"].astype(str) == task]
        available = metric_columns(rows) if len(rows) else []
        if available:
            metric = available[0]
            section.figures[f"{metric.replace('_', ' ')} per availability pattern"] = (
                pattern_metrics_figure(rows, metric, title=f"{metric} by availability — {task}")
            )
            columns = ["pattern", "n", metric, f"{metric}_low", f"{metric}_high"]
            section.tables[f"{metric} per availability pattern"] = rows[columns].reset_index(
                drop=True
            )
    return None if section.is_empty() else section


def _trajectory_section(run: RunArtifacts, n_patients: int) -> Section | None:
    from functools import partial

    from biomm.report.trajectories import example_patients, trajectory_figure, trajectory_tasks

    steps = run.trajectories
    if steps is None or steps.empty or n_patients <= 0:
        return None
    tasks = trajectory_tasks(steps)
    if not tasks:
        return None
    chosen = example_patients(steps, n_patients)
    section = Section("MultiModN trajectories")
    section.notes.append(
        "Each task's prediction after every step of the sequential fusion (initial state, "
        "then one modality at a time), for a few test patients chosen to cover different "
        "availability patterns; a cross marks a modality the patient lacks (skipped: the "
        "prediction stays the same)."
    )

    def draw(task: str, labeller: IdLabeller) -> Any:
        return trajectory_figure(steps, task, patients=chosen, labels=labeller)

    for task in tasks:
        section.figures[f"Prediction trajectories — {task}"] = partial(draw, task)
    return section


def sections_from_training_run(
    run_dir: str | PathLike[str],
    *,
    cohort: Any = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    risk_groups: int | str = 3,
    calibration_bins: int = 10,
    n_trajectories: int = 4,
) -> list[Section]:
    """Report sections of a ``biomm train`` output folder.

    Sections (each only when its inputs exist): the run overview (config, split sizes, test
    metrics with CIs, loss per epoch); the availability patterns of the test patients; per
    task: ROC and PR curves with bootstrap bands and calibration (binary), Kaplan–Meier
    curves by predicted-risk group with the log-rank p-value (survival), the metric per
    availability pattern; MultiModN prediction trajectories of a few example patients.

    Args:
        run_dir: The run folder.
        cohort: A :class:`biomm.cohort.Cohort` or manifest path for the targets (default:
            the cohort recorded in the run's config, when it still exists).
        n_bootstrap: Resamples of the curve bands and their metric CIs.
        seed: Seed of the resamples.
        risk_groups: Kaplan–Meier grouping: ``2``/``"median"``, ``3``/``"tertiles"``...
        calibration_bins: Bins of the reliability diagrams.
        n_trajectories: Example patients in the trajectory figures (0: none).

    Raises:
        InputError: When ``run_dir`` is not a folder or holds none of the run's files, or
            naming a malformed artifact.

    Examples:
        >>> sections_from_training_run.__name__
        'sections_from_training_run'
    """
    run = _read_run_folder(run_dir)
    return _run_sections(
        run,
        _load_cohort(run, cohort),
        n_bootstrap=n_bootstrap,
        seed=seed,
        risk_groups=risk_groups,
        calibration_bins=calibration_bins,
        n_trajectories=n_trajectories,
    )


def _read_run_folder(run_dir: str | PathLike[str]) -> RunArtifacts:
    folder = Path(run_dir)
    if not folder.is_dir():
        raise InputError("run folder not found", path=folder)
    run = read_run(folder)
    if run.is_empty():
        raise InputError(
            "not a biomm train output folder (no predictions.csv, metrics.csv, "
            "trajectories.csv, history.csv or summary.json)",
            path=folder,
        )
    return run


def _run_sections(
    run: RunArtifacts,
    cohort: Any,
    *,
    n_bootstrap: int,
    seed: int,
    risk_groups: int | str,
    calibration_bins: int,
    n_trajectories: int,
) -> list[Section]:
    from biomm.report.availability import availability_figure
    from biomm.report.sections import availability_table

    sections: list[Section] = []
    overview = _overview(run)
    if overview is not None:
        sections.append(overview)
    predictions = run.predictions
    if predictions is not None and len(predictions):
        flags = predictions[[c for c in predictions.columns if str(c).startswith("has_")]]
        if flags.shape[1]:
            section = Section("Test patients: modality availability")
            section.figures["Test patients per availability pattern"] = availability_figure(
                flags, title="Test set availability"
            )
            section.tables["Availability patterns (test set)"] = availability_table(flags)
            sections.append(section)
    targets = run_targets(run, cohort) if cohort is not None else {}
    config_cohort = ((run.config or {}).get("config") or {}).get("cohort")
    note = None
    if not targets:
        where = f" ({Path(config_cohort).name})" if config_cohort else ""
        note = (
            f"Targets unavailable: the cohort manifest{where} was not found or not given, "
            "so curves are left out (pass the cohort to include them)."
        )
    heads = run.heads()
    tasks = list(heads)
    if run.metrics is not None:
        tasks += [str(t) for t in run.metrics["task"].unique() if str(t) not in heads]
    for task in tasks:
        section = _task_section(
            task,
            heads.get(task, ""),
            run,
            targets,
            n_bootstrap=n_bootstrap,
            seed=seed,
            risk_groups=risk_groups,
            calibration_bins=calibration_bins,
            targets_note=note,
        )
        if section is not None:
            sections.append(section)
    trajectories = _trajectory_section(run, n_trajectories)
    if trajectories is not None:
        sections.append(trajectories)
    return sections


def build_run_report(
    run_dir: str | PathLike[str],
    out: str | PathLike[str] | None = None,
    cohort: Any = None,
    *,
    title: str | None = None,
    show_ids: bool = False,
    pseudonymise_ids: str | None = None,
    n_bootstrap: int = 200,
    seed: int = 0,
    risk_groups: int | str = 3,
    n_trajectories: int = 4,
    extra_sections: list[Section | None] | None = None,
    dpi: int = 110,
) -> Path:
    """Write the HTML report of a ``biomm train`` output folder.

    Args:
        run_dir: The run folder.
        out: Output folder (default: ``run_dir/report``); gets ``report.html`` and
            ``figures/*.png``.
        cohort: A :class:`biomm.cohort.Cohort` or manifest path, for the targets and the
            cohort section (default: the cohort in the run's config, when it still exists).
        title: Report title (default: from the run folder's name).
        show_ids: Show patient identifiers.
        pseudonymise_ids: Salt of pseudonymised identifiers (see
            :class:`~biomm.report.html.IdLabeller`).
        n_bootstrap: Resamples of the curve bands and CIs.
        seed: Seed of the resamples.
        risk_groups: Kaplan–Meier grouping.
        n_trajectories: Example patients in the trajectory figures.
        extra_sections: More sections appended at the end (e.g. zero-shot, ECG examples).
        dpi: Resolution of the figures.

    Returns:
        The path of ``report.html``.

    Raises:
        InputError: See :func:`sections_from_training_run`; a malformed cohort manifest.

    Examples:
        >>> build_run_report.__name__
        'build_run_report'
    """
    from biomm.report.sections import cohort_section

    run = _read_run_folder(run_dir)
    loaded = _load_cohort(run, cohort)
    sections = _run_sections(
        run,
        loaded,
        n_bootstrap=n_bootstrap,
        seed=seed,
        risk_groups=risk_groups,
        calibration_bins=10,
        n_trajectories=n_trajectories,
    )
    folder = run.folder
    if loaded is not None:
        sections.insert(1 if sections else 0, cohort_section(loaded))
    return build_report(
        [*sections, *(extra_sections or [])],
        out if out is not None else folder / "report",
        title=title or f"biomm training report: {folder.resolve().name}",
        show_ids=show_ids,
        pseudonymise_ids=pseudonymise_ids,
        dpi=dpi,
    )
