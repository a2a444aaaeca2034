"""``biomm cohort``: validate, summarise, split and pseudonymise cohort manifests.

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
from biomm.errors import ConfigError, ManifestError, SchemaError, SplitError

cohort_app = typer.Typer(
    help="Validate, summarise, split and pseudonymise cohort manifests.",
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


_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")


@cohort_app.command("pseudonymise")
def pseudonymise(
    manifest: ManifestArg,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The pseudonymised manifest (.csv/.tsv/.parquet).")
    ],
    salt_file: Annotated[
        Path | None,
        typer.Option(
            "--salt-file",
            help="File holding the secret salt (at least 8 characters); default: the "
            "BIOMM_PSEUDONYM_SALT environment variable.",
        ),
    ] = None,
    key_out: Annotated[
        Path | None,
        typer.Option(
            "--key-out",
            help="Also write pseudonym -> id to this CSV (readable by you only). Never "
            "written unless asked: keep it apart from the data.",
        ),
    ] = None,
    id_column: Annotated[
        list[str] | None,
        typer.Option(
            "--id-column", help="Another column of ids to pseudonymise, e.g. mrn (repeatable)."
        ),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option("--keep", help="Keep this column although it looks like PHI (repeatable)."),
    ] = None,
    schema: SchemaOpt = None,
    data_root: DataRootOpt = None,
) -> None:
    """Write the manifest with ids replaced by keyed pseudonyms and PHI-looking columns dropped.

    Patient and sample ids (and --id-column columns) become id-<16 hex digits> (HMAC-SHA256
    keyed by the salt: the same salt gives the same pseudonyms on every machine). Columns
    that look like names, dates of birth, record numbers, addresses, phone numbers or e-mail
    addresses, by name or by value, are dropped and listed. Ids inside inline report text are
    replaced too, but free text is not otherwise de-identified; file references are kept as
    they are (so they still resolve). The salt comes from --salt-file or the
    BIOMM_PSEUDONYM_SALT environment variable, never from the command line.

    Exit code 0 when written, 1 when the manifest cannot be read, 2 on a usage error
    (no or short salt, unknown column, output that would overwrite an input).

    Example usage:

    \b
        python -c "import secrets; print(secrets.token_hex(16))" > salt.txt
        biomm cohort pseudonymise cohort.csv -o shared/cohort.csv --salt-file salt.txt
        biomm cohort pseudonymise cohort.csv -o shared/cohort.csv --salt-file salt.txt \\
            --key-out private/key.csv
    """
    from biomm.privacy import resolve_salt

    for path, option in ((out, "--out"), (key_out, "--key-out")):
        if path is None:
            continue
        if path.suffix.lower() not in (_TABLE_SUFFIXES if option == "--out" else (".csv",)):
            kinds = "a .csv, .tsv or .parquet" if option == "--out" else "a .csv"
            raise fail_usage(f"{option} {path}: use {kinds} file name")
        if path.is_dir():
            raise fail_usage(f"{option} {path}: is a folder; give a file name")
        if path.absolute() == manifest.absolute():
            raise fail_usage(f"{option} {path}: would overwrite the manifest")
    if key_out is not None and key_out.absolute() == out.absolute():
        raise fail_usage("--key-out and --out must be different files")
    try:
        salt = resolve_salt(salt_file=salt_file, required=True)
    except ConfigError as exc:
        raise fail_usage(exc) from None
    assert salt is not None
    try:
        cohort = _load(manifest, schema, data_root)
    except ManifestError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    from biomm.privacy import pseudonymise_cohort

    try:
        result = pseudonymise_cohort(cohort, salt, id_columns=id_column or [], keep=keep or [])
    except ConfigError as exc:
        raise fail_usage(exc) from None
    from biomm.utils.atomic import atomic_write_table

    atomic_write_table(result.table, out)
    typer.echo(f"wrote {out} ({len(result.table)} row(s))")
    typer.echo(f"pseudonymised: {', '.join(result.id_columns)}")
    if result.dropped:
        typer.echo("dropped (may hold PHI):")
        for column, reason in result.dropped.items():
            typer.echo(f"  {column}: {reason}")
    else:
        typer.echo("dropped: none")
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if key_out is not None:
        _write_key(result.key, key_out)
        typer.echo(f"wrote the key {key_out} (pseudonym -> id; keep it secret)")


def _write_key(key: object, path: Path) -> None:
    """Write the key table atomically, readable by its owner only from the start."""
    import os
    import tempfile

    import pandas as pd

    assert isinstance(key, pd.DataFrame)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:  # mkstemp: mode 0o600
            key.to_csv(fh, index=False)
        os.replace(name, path)
    finally:
        if os.path.exists(name):
            os.unlink(name)
