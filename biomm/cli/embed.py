"""``biomm embed``: embed a cohort's fundus photos, OCT volumes, reports or EHR table.

Examples:
    >>> from typer.testing import CliRunner
    >>> import typer
    >>> app = typer.Typer()
    >>> _ = app.command()(embed)
    >>> CliRunner().invoke(app, ["--help"]).exit_code
    0
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from biomm.cli.output import fail_usage
from biomm.errors import BiommError


def parse_assignments(values: list[str] | None, option: str) -> dict[str, Any]:
    """``KEY=VALUE`` strings → a dict; values are read as YAML (numbers, lists, null).

    Examples:
        >>> parse_assignments(["size=512", "contrast=clahe", "section=[impression]"], "--set")
        {'size': 512, 'contrast': 'clahe', 'section': ['impression']}
    """
    import yaml

    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{option} expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def embed(
    modality: Annotated[str, typer.Option("--modality", "-m", help="fundus, oct, report or ehr.")],
    cohort: Annotated[Path, typer.Option("--cohort", "-c", help="Cohort manifest.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    encoder: Annotated[
        str | None,
        typer.Option(
            help="Image encoder (efficientnet_lite0, monai_densenet121, hf_image, ...) or text "
            "model (minilm, a local folder, a hub id). Default: efficientnet_lite0 / minilm."
        ),
    ] = None,
    encoder_arg: Annotated[
        list[str] | None,
        typer.Option("--encoder-arg", help="KEY=VALUE argument of the encoder (e.g. weights=...)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY=VALUE option of the embedder: fundus contrast=clahe|graham, size=...; "
            "oct n_bscans=...; report section=[impression,findings], cache_dir=...; ehr "
            "pretrain_epochs=..., seed=... (its encoder size: --encoder-arg dim=...)",
        ),
    ] = None,
    schema: Annotated[Path | None, typer.Option("--schema", "-s", help="Schema YAML.")] = None,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", "-r", help="Root for relative paths.")
    ] = None,
    split: Annotated[str | None, typer.Option(help="Only patients of this split.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Items per forward pass.")] = 32,
    workers: Annotated[int, typer.Option(min=1, help="Threads reading items.")] = 2,
    device: Annotated[str, typer.Option(help="Torch device: cpu, cuda, cuda:1.")] = "cpu",
    retry_failed: Annotated[
        bool, typer.Option(help="Retry items an earlier run listed in failures.csv.")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Discard OUT's earlier results.")] = False,
    allow_failures: Annotated[bool, typer.Option(help="Exit 0 even if items failed.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Embed every fundus photo, OCT volume or report of a cohort, or its EHR table.

    Writes OUT/embeddings.h5 (embeddings, record_id, patient_id; the encoder's provenance as
    attributes) that `biomm train` reads as a modality table, OUT/items.csv (per item: source
    and e.g. fundus quality or the report section used) and OUT/failures.csv (unreadable
    items, with the reason). Finished chunks are kept in OUT/parts: a rerun resumes, and
    --retry-failed retries the failures. Exit 1 when items failed (unless --allow-failures),
    2 on usage errors.

    EHR: the schema's `ehr` columns are preprocessed (fitted on the train split only), a
    tabular transformer is pretrained by masked reconstruction on the train patients and every
    patient is embedded; OUT/preprocessor.json and OUT/encoder/ are saved with it.

    Example usage:

    \b
        biomm embed -m fundus -c cohort.csv -o emb/fundus --set contrast=clahe
        biomm embed -m report -c cohort.csv -o emb/report --set "section=[impression]"
        biomm embed -m ehr -c cohort.csv -o emb/ehr --set pretrain_epochs=50
    """
    from biomm.cohort import Cohort

    options = parse_assignments(set_, "--set")
    encoder_args = parse_assignments(encoder_arg, "--encoder-arg")
    try:
        table = Cohort.from_file(cohort, schema, data_root=data_root)
        if modality == "ehr":
            _embed_ehr(table, out, options, encoder_args, overwrite=overwrite, device=device)
            return
        from biomm.embed.builders import build_item_embedder
        from biomm.embed.cohort import embed_cohort_items

        embedder = build_item_embedder(
            modality, encoder, encoder_args=encoder_args, options=options, device=device
        )
        result = embed_cohort_items(
            table,
            modality,
            embedder,
            out,
            split=split,
            batch_size=batch_size,
            workers=workers,
            retry_failed=retry_failed,
            overwrite=overwrite,
            progress=progress,
        )
    except BiommError as exc:
        raise fail_usage(exc) from None
    n_failed = len(result.failures)
    typer.echo(
        f"{len(result.record_ids)} {modality} item(s) embedded "
        f"({result.embeddings.shape[1]}-d; {result.skipped} done before), {n_failed} failed "
        f"-> {out / 'embeddings.h5'}"
    )
    if n_failed:
        typer.echo(f"failures: {out / 'failures.csv'}", err=True)
        if not allow_failures:
            raise typer.Exit(1)


def _embed_ehr(
    cohort: Any,
    out: Path,
    options: dict[str, Any],
    encoder_args: dict[str, Any],
    *,
    overwrite: bool,
    device: str,
) -> None:
    """The EHR path of ``biomm embed`` (one table, not one file per item)."""
    from biomm.embed.ehr import embed_cohort_ehr

    summary = embed_cohort_ehr(
        cohort, out, encoder_kwargs=encoder_args, overwrite=overwrite, device=device, **options
    )
    typer.echo(
        f"{summary['n_patients']} patient(s) embedded from {summary['n_columns']} EHR "
        f"column(s) ({summary['embed_dim']}-d; preprocessing fitted on "
        f"{summary['n_train']} train patients) -> {out / 'embeddings.h5'}"
    )
