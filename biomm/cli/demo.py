"""The ``biomm demo`` job: build the demo cohort, validate it, print what was made.

Examples:
    >>> import tempfile
    >>> code = run_demo(tempfile.mkdtemp(), n_patients=4, seed=0, progress=False,
    ...                 slide_size=512)  # doctest: +ELLIPSIS
    <BLANKLINE>
    Demo cohort: 4 patients in ...
    >>> code
    0
"""

from __future__ import annotations

import time
from os import PathLike
from pathlib import Path

import typer

from biomm.cli.output import frame_to_text
from biomm.cohort.manifest import Cohort
from biomm.demo.synthetic import DemoCohortSpec, make_demo_cohort
from biomm.errors import InputError


def run_demo(
    out: str | PathLike[str],
    *,
    n_patients: int = 120,
    seed: int = 0,
    progress: bool = True,
    slide_size: int | None = None,
) -> int:
    """Generate, validate and summarise the demo cohort; return the exit code.

    Args:
        out: Output folder.
        n_patients: Number of synthetic patients.
        seed: Random seed.
        progress: Show progress bars.
        slide_size: Level-0 slide size in pixels (default: the spec's).
    """
    start = time.perf_counter()
    spec = DemoCohortSpec(n_patients=n_patients, seed=seed)
    if slide_size is not None:
        spec = DemoCohortSpec(n_patients=n_patients, seed=seed, slide_size=slide_size)
    rerun = (Path(out) / "demo_spec.yaml").is_file()
    try:
        folder = make_demo_cohort(out, spec, progress=progress)
    except InputError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    if rerun:
        typer.echo(f"note: replaced the previous demo in {Path(out).resolve()}", err=True)
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
    typer.echo(f"next:     biomm cohort validate {manifest} --schema {folder / 'schema.yaml'}")
    typer.echo(f"done in {time.perf_counter() - start:.1f} s")
    return 0 if report.ok else 1
