"""``biomm cohort``: validate, summarise and split cohort manifests.

Examples:
    >>> from typer.testing import CliRunner
    >>> CliRunner().invoke(cohort_app, ["--help"]).exit_code
    0
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from biomm.cli.output import fail_usage, frame_to_text
from biomm.cohort.manifest import Cohort
from biomm.cohort.report import Problem, ValidationReport
from biomm.cohort.split import check_split_request
from biomm.errors import ManifestError, SchemaError, SplitError

cohort_app = typer.Typer(
    help="Validate, summarise and split cohort manifests.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

ManifestArg = Annotated[
    Path,
    typer.Argument(
        help="Cohort manifest (.csv, .tsv or .parquet).", show_default=False, metavar="MANIFEST"
    ),
]
SchemaOpt = Annotated[
    Path | None,
    typer.Option("--schema", "-s", help="Schema YAML; inferred from column names if omitted."),
]
DataRootOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-root",
        "-r",
        help="Folder that relative paths resolve against (default: manifest folder).",
    ),
]


class OutputFormat(str, Enum):
    """Output formats of ``biomm cohort validate``."""

    table = "table"
    json = "json"


def _load(manifest: Path, schema: Path | None, data_root: Path | None) -> Cohort:
    """Load a cohort; a missing manifest or invalid schema is a usage error (exit 2)."""
    if not manifest.exists():
        raise fail_usage(f"{manifest}: manifest not found")
    if schema is not None and not schema.exists():
        raise fail_usage(f"{schema}: schema not found")
    if data_root is not None and not data_root.is_dir():
        raise fail_usage(f"{data_root}: data root is not a folder")
    try:
        return Cohort.from_file(manifest, schema, data_root=data_root)
    except SchemaError as exc:
        raise fail_usage(exc) from None


@cohort_app.command("validate")
def validate(
    manifest: ManifestArg,
    schema: SchemaOpt = None,
    data_root: DataRootOpt = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors.")] = False,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="table (for people) or json.")
    ] = OutputFormat.table,
    probe: Annotated[
        bool, typer.Option(help="Check that referenced files exist and look like their format.")
    ] = True,
    max_problems: Annotated[
        int,
        typer.Option(min=1, help="Problems listed in table output (JSON lists all)."),
    ] = 100,
) -> None:
    """Check a manifest and list every problem with its row, column, value and reason.

    Exit code 0 when the manifest is clean, 1 when problems were found (errors, or warnings
    with --strict), 2 on a usage error.

    Example usage:

    \b
        biomm cohort validate cohort.csv --schema schema.yaml --format json
    """
    try:
        cohort = _load(manifest, schema, data_root)
        report = cohort.validate(probe_files=probe)
    except ManifestError as exc:  # the table itself is unreadable: that is the problem found
        report = ValidationReport(
            [Problem("error", "unreadable_manifest", exc.reason, file=str(manifest))],
            source=str(manifest),
        )
        cohort = None
    failed = not (report.ok_strict if strict else report.ok)
    if fmt is OutputFormat.json:
        payload = report.to_dict()
        payload["strict"] = strict
        payload["passed"] = not failed
        if cohort is not None:
            payload["patients"] = len(cohort.patient_ids)
            payload["availability"] = cohort.availability().counts().to_dict()
        typer.echo(json.dumps(payload, indent=2, default=str))
    else:
        typer.echo(report.format(max_problems=max_problems))
        if cohort is not None:
            typer.echo(
                f"\n{len(cohort.patient_ids)} patient(s), {len(cohort)} row(s); "
                f"modalities: {', '.join(cohort.modalities) or '(none)'}"
            )
        verdict = "FAILED" if failed else "OK"
        typer.echo(f"validation {verdict}" + (" (strict)" if strict else ""))
    raise typer.Exit(1 if failed else 0)


@cohort_app.command("summary")
def summary(
    manifest: ManifestArg,
    schema: SchemaOpt = None,
    data_root: DataRootOpt = None,
) -> None:
    """Print patients per modality and the count of each availability pattern.

    Example usage:

    \b
        biomm cohort summary cohort.csv --schema schema.yaml
    """
    try:
        cohort = _load(manifest, schema, data_root)
    except ManifestError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if not cohort.patient_ids:
        typer.echo(
            f"error: {manifest}: no patients found (patient id column "
            f"{cohort.schema.patient_id!r}); run `biomm cohort validate {manifest}` for details",
            err=True,
        )
        raise typer.Exit(1)
    availability = cohort.availability()
    typer.echo(repr(cohort))
    typer.echo("\npatients per modality:")
    typer.echo(
        frame_to_text(
            availability.counts()
            .rename("n_patients")
            .reset_index()
            .rename(columns={"index": "modality"})
        )
    )
    typer.echo("\navailability patterns:")
    typer.echo(frame_to_text(availability.patterns.round({"fraction": 3})))


@cohort_app.command("split")
def split(
    manifest: ManifestArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output manifest with the new column.")],
    folds: Annotated[
        int | None, typer.Option(min=2, help="k-fold: writes a 'fold' column.")
    ] = None,
    ratios: Annotated[
        str | None,
        typer.Option(help="train,val,test fractions, e.g. 0.7,0.15,0.15: writes a 'split' column."),
    ] = None,
    stratify: Annotated[str | None, typer.Option(help="Target to stratify by.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing split/fold column instead of keeping it.")
    ] = False,
    schema: SchemaOpt = None,
    data_root: DataRootOpt = None,
) -> None:
    """Assign patient-level folds or train/val/test splits, stratified and seeded.

    All rows of a patient land in the same fold. An existing split/fold column is kept unless
    --overwrite is given.

    Example usage:

    \b
        biomm cohort split cohort.csv --stratify high_risk --folds 5 --seed 0 -o cohort_folds.csv
    """
    if (folds is None) == (ratios is None):
        raise fail_usage("give exactly one of --folds K or --ratios TRAIN,VAL,TEST")
    parsed_ratios = None
    if ratios is not None:
        try:
            parsed_ratios = tuple(float(x) for x in ratios.split(","))
            check_split_request(None, parsed_ratios)
        except SplitError as exc:
            raise fail_usage(f"--ratios {ratios!r}: {exc}") from None
        except ValueError:
            raise fail_usage(
                f"--ratios {ratios!r}: expected three numbers like 0.7,0.15,0.15"
            ) from None
    if out.suffix.lower() not in (".csv", ".tsv", ".txt", ".parquet", ".pq"):
        raise fail_usage(f"--out {out}: use a .csv, .tsv or .parquet file name")
    if out.is_dir():
        raise fail_usage(f"--out {out}: is a folder; give a file name")
    try:
        cohort = _load(manifest, schema, data_root)
        result = cohort.split(
            folds=folds, ratios=parsed_ratios, stratify=stratify, seed=seed, overwrite=overwrite
        )
        result.save(out)
    except (SplitError, ManifestError) as exc:  # a data problem, not a usage error
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    column = result.schema.fold if folds is not None else result.schema.split
    assert column is not None
    per_patient = result.table.drop_duplicates(result.schema.patient_id)[column]
    counts = per_patient.value_counts()
    typer.echo(f"wrote {out} ({len(result.patient_ids)} patients)")
    if result is cohort:
        typer.echo(
            f"note: kept the existing {column!r} column; pass --overwrite to assign a new one",
            err=True,
        )
    unassigned = int(per_patient.isna().sum())
    if unassigned:
        typer.echo(f"note: {unassigned} patient(s) have no {column}", err=True)
    if out.absolute().parent != result.data_root and result.modalities:
        typer.echo(
            f"note: relative paths in {out} still refer to {result.data_root}; "
            f"use --data-root {result.data_root} with it",
            err=True,
        )
    typer.echo(frame_to_text(counts.sort_index().rename("n_patients").reset_index()))
