"""``biomm run``: run a YAML cohort pipeline (validated first, cached per step, resumable).

Examples:
    >>> from typer.testing import CliRunner
    >>> import typer
    >>> app = typer.Typer()
    >>> _ = app.command()(run)
    >>> CliRunner().invoke(app, ["--help"]).exit_code
    0
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biomm.cli.output import fail_usage, frame_to_text
from biomm.errors import BiommError


def run(
    pipeline: Annotated[
        Path, typer.Argument(help="Pipeline YAML (see pipelines/).", metavar="PIPELINE")
    ],
    cohort: Annotated[
        Path | None, typer.Option("--cohort", "-c", help="Manifest replacing the YAML's cohort.")
    ] = None,
    schema: Annotated[
        Path | None, typer.Option("--schema", "-s", help="Schema replacing the YAML's schema.")
    ] = None,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", "-r", help="Root for the manifest's paths.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run folder (default: runs/NAME).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY.PATH=VALUE override of the YAML, applied before validation; VALUE is "
            "read as YAML (repeatable), e.g. steps.train.with.training.epochs=5.",
        ),
    ] = None,
    force: Annotated[
        list[str] | None,
        typer.Option("--force", help="Rerun this step and its dependents (repeatable)."),
    ] = None,
    scheduler: Annotated[
        str,
        typer.Option(
            help="none (this process), local (a Dask LocalCluster) or a Dask scheduler "
            "address such as tcp://host:8786, for the steps that scale out (wsi.embed)."
        ),
    ] = "none",
    dask_workers: Annotated[
        int, typer.Option(min=1, help="Worker processes of --scheduler local.")
    ] = 2,
    allow_failures: Annotated[
        bool, typer.Option(help="Exit 0 when only items (slides, records) failed.")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="CPU threads per process for torch (and worker processes); on a busy "
            "machine 1 is often fastest. Default: torch's choice.",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show the jobs' progress bars.")] = True,
    pseudonymise: Annotated[
        bool,
        typer.Option(
            "--pseudonymise",
            help="Replace patient/sample ids by keyed hashes (HMAC-SHA256) in the log, summary, "
            "failures table and report the runner writes. The salt comes from --salt-file or "
            "$BIOMM_PSEUDONYM_SALT, never from the command line.",
        ),
    ] = False,
    salt_file: Annotated[
        Path | None,
        typer.Option(
            "--salt-file",
            metavar="FILE",
            help="File holding the pseudonymisation salt (implies --pseudonymise).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and print what would run, then stop.")
    ] = False,
) -> None:
    """Run a YAML cohort pipeline: validate it all, then run each step unless cached.

    The whole pipeline is validated before anything runs (unknown step kinds or params,
    references to unknown or later steps, missing files), with every problem named by its
    key. A step whose params, cohort and input files are unchanged is skipped; a changed
    step reruns with everything downstream. A slide or record that cannot be read is an item
    failure, listed in RUN/failures.csv; a step that fails skips its dependents while the
    others go on. RUN/summary.json records each step's status, time and item counts.

    Exit code 0 when all went well, 1 when a step failed or items failed (unless
    --allow-failures), 2 on an invalid pipeline or usage error.

    Example usage:

    \b
        biomm run pipelines/demo.yaml --cohort biomm-demo/cohort.csv \\
            --schema biomm-demo/schema.yaml --out runs/demo
        biomm run pipelines/demo.yaml --set steps.train.with.training.epochs=5
        biomm run pipelines/wsi_embed.yaml --scheduler local --dask-workers 4
        biomm run pipelines/demo.yaml --force train --dry-run
    """
    from biomm.pipeline.runner import check_scheduler, plan_pipeline, run_pipeline
    from biomm.pipeline.spec import load_pipeline

    try:
        check_scheduler(scheduler)
        salt = None
        if pseudonymise or salt_file is not None:
            from biomm.privacy import resolve_salt

            salt = resolve_salt(salt_file=salt_file, required=True)
        spec = load_pipeline(
            pipeline, overrides=set_ or [], cohort=cohort, schema=schema, data_root=data_root
        )
        if dry_run:
            import pandas as pd

            plan = pd.DataFrame(plan_pipeline(spec, out, force=force or [], pseudonymise=salt))
            plan["needs"] = plan["needs"].map(lambda d: ", ".join(d) or "-")
            typer.echo(frame_to_text(plan.drop(columns="key")))
            return
        summary = run_pipeline(
            spec,
            out,
            force=force or [],
            scheduler=scheduler,
            dask_workers=dask_workers,
            progress=progress,
            pseudonymise=salt,
            echo=typer.echo,
            threads=threads,
        )
    except BiommError as exc:  # raised before any step runs: the pipeline or cohort is unusable
        raise fail_usage(exc) from None
    typer.echo("")
    typer.echo(frame_to_text(summary.table()))
    typer.echo(f"\n{summary.run_dir} ({summary.seconds:.1f} s)")
    if summary.items_failed:
        typer.echo(f"{summary.items_failed} item failure(s): {summary.failures_file}", err=True)
    for step in summary.steps:
        if step.status == "failed":
            typer.echo(f"step {step.step} failed: {step.error}", err=True)
    raise typer.Exit(summary.exit_code(allow_failures))
