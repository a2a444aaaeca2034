"""The ``biomm demo`` job: build the demo cohort, validate it, run the demo pipeline.

The main job of the project: a synthetic cohort in real file formats (pyramidal SVS slides,
WFDB ECGs, fundus PNGs, pathology reports, an EHR table with missing cells), then the
built-in ``demo.yaml`` pipeline end to end — tile features, MERL ECG pretraining and zero-shot,
fundus/report/EHR embeddings, a MultiModN model with a classification and a survival head,
evaluation per availability pattern and the HTML report. A rerun reuses the cohort (same
size and seed) and every cached pipeline step.

Examples:
    >>> import tempfile
    >>> code = run_demo(tempfile.mkdtemp(), n_patients=4, seed=0, progress=False,
    ...                 slide_size=512, cohort_only=True)  # doctest: +ELLIPSIS
    <BLANKLINE>
    Demo cohort: 4 patients in ...
    >>> code
    0
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from os import PathLike
from pathlib import Path

import typer
import yaml

from biomm.cli.output import frame_to_text
from biomm.cohort.manifest import Cohort
from biomm.demo.synthetic import DemoCohortSpec, make_demo_cohort
from biomm.errors import BiommError, InputError

#: Run folder of the demo pipeline, inside the demo folder.
RUN_FOLDER = "run"


def _same_spec(folder: Path, spec: DemoCohortSpec) -> bool:
    """Whether ``folder`` holds a complete demo cohort made with ``spec``."""
    try:
        previous = yaml.safe_load((folder / "demo_spec.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    wanted = yaml.safe_load(yaml.safe_dump(asdict(spec), sort_keys=False))
    return previous == wanted and (folder / "cohort.csv").is_file()


def prepare_cohort(out: Path, spec: DemoCohortSpec, *, progress: bool) -> Path:
    """Reuse the demo cohort in ``out`` when it was made with ``spec``, else (re)build it.

    Examples:
        >>> prepare_cohort.__name__
        'prepare_cohort'
    """
    if _same_spec(out, spec):
        typer.echo(f"reusing the demo cohort in {out.resolve()} (same size and seed)")
        return out
    rerun = (out / "demo_spec.yaml").is_file()
    folder = make_demo_cohort(out, spec, progress=progress)
    if rerun:
        typer.echo(f"note: rebuilt the demo cohort in {out.resolve()} (new size/seed)", err=True)
    return folder


def run_demo(
    out: str | PathLike[str],
    *,
    n_patients: int = 120,
    seed: int = 0,
    progress: bool = True,
    slide_size: int | None = None,
    cohort_only: bool = False,
    threads: int | None = None,
    scheduler: str = "none",
    force: Sequence[str] = (),
    overrides: Sequence[str] = (),
) -> int:
    """Generate (or reuse) and validate the demo cohort, then run the demo pipeline.

    Args:
        out: Output folder: the cohort's files, and the pipeline run in ``OUT/run``.
        n_patients: Number of synthetic patients.
        seed: Random seed.
        progress: Show progress bars.
        slide_size: Level-0 slide size in pixels (default: the spec's).
        cohort_only: Stop after building and validating the cohort.
        threads: Torch CPU threads (see ``biomm run --threads``).
        scheduler: ``none``, ``local`` or a Dask scheduler address.
        force: Pipeline steps to rerun (with their dependents).
        overrides: ``KEY.PATH=VALUE`` overrides of the demo pipeline.

    Returns:
        The exit code: 0 when everything ran, 1 when items or steps failed, 2 on usage errors.
    """
    start = time.perf_counter()
    out = Path(out)
    spec = DemoCohortSpec(n_patients=n_patients, seed=seed)
    if slide_size is not None:
        spec = DemoCohortSpec(n_patients=n_patients, seed=seed, slide_size=slide_size)
    try:
        folder = prepare_cohort(out, spec, progress=progress)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    manifest = folder / "cohort.csv"
    cohort = Cohort.from_file(manifest, folder / "schema.yaml")
    report = cohort.validate()
    availability = cohort.availability()
    typer.echo(f"\nDemo cohort: {len(cohort.patient_ids)} patients in {Path(folder).resolve()}")
    typer.echo(
        "patients per modality: " + ", ".join(f"{m}={n}" for m, n in availability.counts().items())
    )
    typer.echo("\nmost common availability patterns:")
    typer.echo(frame_to_text(availability.patterns.head(8).round({"fraction": 3})))
    typer.echo(f"\n{report}")
    typer.echo(f"\nmanifest: {manifest}\nschema:   {folder / 'schema.yaml'}")
    if cohort_only or not report.ok:
        typer.echo(f"done in {time.perf_counter() - start:.1f} s")
        return 0 if report.ok else 1
    return _run_pipeline(
        folder,
        threads=threads,
        scheduler=scheduler,
        force=force,
        overrides=overrides,
        progress=progress,
        start=start,
    )


def _run_pipeline(
    folder: Path,
    *,
    threads: int | None,
    scheduler: str,
    force: Sequence[str],
    overrides: Sequence[str],
    progress: bool,
    start: float,
) -> int:
    """Run the built-in demo pipeline on the cohort in ``folder``; print where the report is."""
    from biomm.pipeline.builtin import builtin_pipeline
    from biomm.pipeline.runner import check_scheduler, run_pipeline
    from biomm.pipeline.spec import load_pipeline

    typer.echo("\nrunning the demo pipeline (biomm run pipelines/demo.yaml) ...")
    try:
        check_scheduler(scheduler)
        pipeline = load_pipeline(
            builtin_pipeline("demo"),
            overrides=list(overrides),
            cohort=folder / "cohort.csv",
            schema=folder / "schema.yaml",
        )
        summary = run_pipeline(
            pipeline,
            folder / RUN_FOLDER,
            force=list(force),
            scheduler=scheduler,
            progress=progress,
            echo=typer.echo,
            threads=threads,
        )
    except BiommError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    typer.echo("")
    typer.echo(frame_to_text(summary.table()))
    html = summary.run_dir / "steps" / "report" / "report.html"
    if summary.items_failed:
        typer.echo(f"{summary.items_failed} item failure(s): {summary.failures_file}", err=True)
    for step in summary.steps:
        if step.status == "failed":
            typer.echo(f"step {step.step} failed: {step.error}", err=True)
    if html.is_file():
        typer.echo(f"\nreport: {html.resolve()}")
    typer.echo(f"run:    {summary.run_dir.resolve()}")
    typer.echo(f"done in {time.perf_counter() - start:.1f} s")
    return summary.exit_code()
