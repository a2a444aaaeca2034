"""Entry point of the ``biomm`` command.

Exit codes: 0 success, 1 problems found in the input (e.g. an invalid manifest), 2 usage error
(bad option, missing file argument, invalid schema).

Examples:
    >>> from typer.testing import CliRunner
    >>> result = CliRunner().invoke(app, ["--version"])
    >>> result.exit_code, result.output.startswith("biomm ")
    (0, True)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from biomm._version import __version__
from biomm.cli.cohort import cohort_app
from biomm.cli.ecg import ecg_app
from biomm.cli.embed import embed
from biomm.cli.lego import lego_app
from biomm.cli.run import run
from biomm.cli.train import train
from biomm.cli.wsi import wsi_app

app = typer.Typer(
    name="biomm",
    help="Biomedical multimodal analysis: cohorts of WSIs, ECGs, retinal images, EHR and "
    "reports.\n\nStart with `biomm demo`, then `biomm cohort validate your_manifest.csv`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(cohort_app, name="cohort")
app.add_typer(wsi_app, name="wsi")
app.add_typer(ecg_app, name="ecg")
app.add_typer(lego_app, name="lego")
app.command("train")(train)
app.command("embed")(embed)
app.command("run")(run)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"biomm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Print the biomm version and exit.",
        ),
    ] = False,
) -> None:
    """Biomedical multimodal analysis."""


@app.command()
def info(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Print versions of biomm, Python, torch and optional packages, and the CUDA devices.

    Paste the output into bug reports.

    Example usage:

    \b
        biomm info --json > env.json
    """
    from biomm.info import collect_info, format_info

    data = collect_info()
    typer.echo(json.dumps(data, indent=2) if as_json else format_info(data))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("biomm-demo"),
    patients: Annotated[int, typer.Option(min=2, help="Number of synthetic patients.")] = 120,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    cohort_only: Annotated[
        bool, typer.Option(help="Only build and validate the cohort; run no pipeline.")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="Torch CPU threads (1 is often fastest on a busy machine)."),
    ] = None,
    scheduler: Annotated[
        str, typer.Option(help="none, local (Dask LocalCluster) or tcp://host:port.")
    ] = "none",
    force: Annotated[
        list[str] | None, typer.Option("--force", help="Rerun this pipeline step (repeatable).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="KEY.PATH=VALUE override of the demo pipeline (repeatable)."),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """The main job: build the demo cohort and run the demo pipeline to an HTML report.

    Writes pyramidal SVS slides, 12-lead WFDB ECGs, fundus PNGs, pathology reports and an
    EHR table with missing cells into OUT, with a manifest (cohort.csv) and schema
    (schema.yaml), and validates it. Then runs the built-in demo pipeline into OUT/run: tile
    features, MERL ECG pretraining and zero-shot, fundus/report/EHR embeddings, a MultiModN
    model with a high_risk and a survival head, metrics per availability pattern, and
    OUT/run/steps/report/report.html. A rerun reuses the cohort and every cached step.

    Example usage:

    \b
        biomm demo
        biomm demo --out demo-run --patients 200 --threads 1
        biomm demo --set steps.train.with.fusion.name=lego_fuse --force train
        biomm demo --cohort-only
    """
    from biomm.cli.demo import run_demo

    raise typer.Exit(
        run_demo(
            out,
            n_patients=patients,
            seed=seed,
            progress=progress,
            cohort_only=cohort_only,
            threads=threads,
            scheduler=scheduler,
            force=force or [],
            overrides=set_ or [],
        )
    )


def main() -> None:
    """Run the ``biomm`` command (console-script entry point).

    A run refused because another one writes into its output folder exits with code 2 and
    the lock's message (folder and holder), whichever command it was.
    """
    from biomm.errors import OutputLockedError

    try:
        app()
    except OutputLockedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
