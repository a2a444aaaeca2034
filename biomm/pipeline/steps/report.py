"""``report``: the run's HTML report (``biomm.report``), written into the step folder.

The report of the last ``train`` step that succeeded (or the one named by ``train:``) —
availability, ROC/PR, calibration, Kaplan–Meier, trajectories, metrics per availability
pattern — followed by a pipeline section (every step's status, time and item failures) and
one section per ``ecg.zeroshot`` step and prompt mode. Without a train step the report holds
the pipeline, cohort and zero-shot sections.

Without ``needs:`` the step depends on every earlier step and runs even when some failed (the
report shows what happened); their status enters its cache key.

Examples:
    >>> report_step().after_all
    True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from biomm.errors import MissingDependencyError
from biomm.pipeline.steps.base import StepContext, StepKind, StepResult


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
    extra = [_pipeline_section(steps, ctx.name), *_zeroshot_sections(steps, ctx.run_dir)]
    cohort = ctx.cohort_path if params.with_cohort else None
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
    )


__all__ = ["ReportParams", "report_step", "run_report"]
