"""``report``: the run's HTML report (``biomm.report``), written into the step folder.

The report of the last ``train`` step that succeeded (or the one named by ``train:``) —
availability, ROC/PR, calibration, Kaplan–Meier, trajectories, metrics per availability
pattern — followed by a pipeline section (every step's status, time and item failures) and
one section per ``ecg.zeroshot`` step and prompt mode, a 12-lead plot of a test patient's ECG
and the trained MIL encoder's attention over a test patient's slide (when the model has one).
Without a train step the report holds the pipeline, cohort and zero-shot sections.

Without ``needs:`` the step depends on every earlier step and runs even when some failed (the
report shows what happened); their status enters its cache key.

Examples:
    >>> report_step().after_all
    True
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from biomm.errors import MissingDependencyError
from biomm.pipeline.steps.base import StepContext, StepKind, StepResult

logger = logging.getLogger("biomm.pipeline")


class ReportParams(BaseModel):
    """Params of ``report``.

    Attributes:
        train: A ``train`` step's folder (e.g. ``${steps.train}``); default: the last
            ``train`` step of the run that succeeded.
        title: Report title (default: from the pipeline's run folder).
        with_cohort: Read the cohort for targets (curves) and a cohort section.
        n_bootstrap: Resamples of the curve bands and confidence intervals.
    """

    model_config = ConfigDict(extra="forbid")
    train: Path | None = None
    title: str | None = None
    with_cohort: bool = True
    n_bootstrap: int = Field(200, ge=0)


def _summary_steps(run_dir: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))["steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _pipeline_section(steps: list[dict[str, Any]], me: str) -> Any:
    from biomm.report import Section

    rows = [
        {
            "step": s["step"],
            "uses": s["uses"],
            "status": s["status"],
            "seconds": round(float(s.get("seconds") or 0.0), 1),
            "items ok": s.get("items_ok"),
            "items failed": s.get("items_failed"),
        }
        for s in steps
        if s["step"] != me
    ]
    section = Section("Pipeline steps", tables={"Steps": pd.DataFrame(rows)})
    failed = sum(int(s.get("items_failed") or 0) for s in steps)
    if failed:
        section.notes.append(f"{failed} item failure(s): see failures.csv in the run folder.")
    for s in steps:
        if s["status"] in ("failed", "skipped") and s.get("error"):
            section.notes.append(f"{s['step']} {s['status']}: {s['error']}")
    return section


def _zeroshot_sections(steps: list[dict[str, Any]], run_dir: Path) -> list[Any]:
    from biomm.report import zeroshot_section

    sections = []
    for s in steps:
        if s["uses"] != "ecg.zeroshot" or s["status"] not in ("ran", "cached"):
            continue
        try:
            metrics = json.loads((run_dir / "steps" / s["step"] / "metrics.json").read_text())
        except (OSError, ValueError):
            continue
        for mode, entry in (metrics.get("modes") or {}).items():
            sections.append(
                zeroshot_section(
                    entry.get("per_class"), title=f"Zero-shot: {s['step']} ({mode} prompts)"
                )
            )
    return sections


def _test_patients(train: Path) -> list[str]:
    try:
        predictions = pd.read_csv(train / "predictions.csv", dtype={"patient_id": str})
    except (OSError, ValueError):
        return []
    return predictions["patient_id"].dropna().astype(str).tolist()


def _ecg_example(cohort: Any, patients: list[str]) -> Any:
    """A 12-lead plot of the first readable ECG of a test patient (no identifier shown)."""
    from biomm.errors import BiommError
    from biomm.io.ecg import read_ecg
    from biomm.report import ecg_section

    if cohort is None or "ecg" not in cohort.schema.modalities:
        return None
    wanted = set(patients)
    pid = cohort.schema.patient_id
    for row in range(len(cohort.table)):
        if str(cohort.table.at[row, pid]) not in wanted:
            continue
        for ref in cohort.references("ecg", row):
            try:
                record = read_ecg(cohort.resolve(ref))
            except BiommError:
                continue
            return ecg_section(record, title="Example ECG", caption="12-lead ECG of a test patient")
    return None


def _attention_example(train: Path, patients: list[str]) -> Any:
    """Attention of the trained MIL encoder over one test patient's slide, on its thumbnail."""
    import torch

    from biomm.io.wsi import open_slide
    from biomm.report import wsi_heatmap_section
    from biomm.train.trainer import load_model
    from biomm.wsi.bags import read_bag

    model, config = load_model(train / "model")
    sources = (config.get("config") or {}).get("modalities") or {}
    wanted = set(patients)
    for modality, source in sources.items():
        folder = source.get("bags")
        if not folder or modality not in model.encoders:
            continue
        for path in sorted((Path(folder) / "features").glob("*.h5")):
            bag = read_bag(path)
            if str(bag.attrs.get("patient_id")) not in wanted or len(bag.features) < 2:
                continue
            with torch.inference_mode():
                mask = torch.ones(1, len(bag.features), dtype=torch.bool)
                out = model.encoders[modality](bag.features[None].float(), mask)
            attention = out[1] if isinstance(out, tuple) else None
            if attention is None:
                return None  # mean/max pooling: no per-tile weights to show
            slide = open_slide(str(bag.attrs["slide_path"]), mpp=bag.attrs.get("slide_mpp") or None)
            return wsi_heatmap_section(
                slide,
                bag.coords,
                attention.reshape(-1).numpy(),
                int(bag.attrs["patch_size_level0"]),
                title=f"Attention of the trained {modality} MIL encoder",
                caption="Per-tile attention over the thumbnail of a test patient's slide",
            )
    return None


def _example_sections(train: Path | None, cohort: Any) -> list[Any]:
    """An example ECG and a slide attention heatmap; a section that cannot be made is left out."""
    if train is None:
        return []
    patients = _test_patients(train)
    sections = []
    makers = (
        lambda: _ecg_example(cohort, patients),
        lambda: _attention_example(train, patients),
    )
    for make in makers:
        try:
            sections.append(make())
        except Exception as exc:  # an illustration must never fail the report
            logger.warning("report: an example section was left out (%s)", type(exc).__name__)
    return [s for s in sections if s is not None]


def run_report(params: ReportParams, ctx: StepContext) -> StepResult:
    """Write ``ctx.out/report.html`` (and ``figures/``) from the run folder.

    Raises:
        MissingDependencyError: When this biomm has no ``biomm.report`` package.
    """
    try:
        from biomm.report import build_report, build_run_report, cohort_section
    except ImportError as exc:
        raise MissingDependencyError(
            "the report step needs biomm.report, which this biomm installation lacks "
            f"({exc}); update biomm or remove the step"
        ) from None
    steps = _summary_steps(ctx.run_dir)
    train = params.train
    if train is None:
        done = [s for s in steps if s["uses"] == "train" and s["status"] in ("ran", "cached")]
        train = ctx.run_dir / "steps" / done[-1]["step"] if done else None
    cohort = ctx.cohort_path if params.with_cohort else None
    extra = [
        _pipeline_section(steps, ctx.name),
        *_zeroshot_sections(steps, ctx.run_dir),
        *_example_sections(train, ctx.cohort() if cohort is not None else None),
    ]
    title = params.title or f"biomm pipeline report: {ctx.run_dir.name}"
    if train is not None:
        build_run_report(
            train,
            out=ctx.out,
            cohort=cohort,
            title=title,
            n_bootstrap=params.n_bootstrap,
            pseudonymise_ids=ctx.pseudonymise,
            extra_sections=extra,
        )
    else:
        sections = [cohort_section(ctx.cohort()) if cohort is not None else None, *extra]
        build_report(sections, ctx.out, title=title, pseudonymise_ids=ctx.pseudonymise)
    return StepResult(metrics={"sections_from": str(train.name) if train else "pipeline"})


def report_step() -> StepKind:
    """``report``: the run's HTML report: the trained model, the pipeline, zero-shot results.

    Examples:
        >>> report_step().outputs["html"]
        'report.html'
    """
    return StepKind(
        name="report",
        params=ReportParams,
        run=run_report,
        outputs={"html": "report.html", "figures": "figures"},
        reads=(),
        summary="HTML report: the last train step, every step's status, zero-shot results.",
        after_all=True,
        needs_cohort=False,
        shows_ids=True,
    )


__all__ = ["ReportParams", "report_step", "run_report"]
