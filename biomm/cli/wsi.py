"""``biomm wsi``: slide metadata and cohort tiling.

Examples:
    >>> from typer.testing import CliRunner
    >>> CliRunner().invoke(wsi_app, ["--help"]).exit_code
    0
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from biomm.cli.output import fail_usage
from biomm.cohort.probe import known_extensions
from biomm.cohort.tables import TABLE_SUFFIXES
from biomm.errors import BiommError, ManifestError, OutputLockedError, SchemaError
from biomm.io.wsi.mpp import MPP_POLICIES

wsi_app = typer.Typer(
    help="Whole-slide images: metadata, tissue masks and tile coordinates.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

InputsArg = Annotated[
    list[Path],
    typer.Argument(
        help="A cohort manifest (.csv/.tsv/.parquet with a wsi column), or slide files and "
        "folders of slides.",
        show_default=False,
        metavar="MANIFEST|SLIDES...",
    ),
]

MppOpt = Annotated[float, typer.Option("--mpp", help="Target µm/px of the tiles.")]
PatchSizeOpt = Annotated[int, typer.Option(min=8, help="Tile size in pixels at --mpp.")]
MinTissueOpt = Annotated[
    float, typer.Option(min=0.0, max=1.0, help="Minimum tissue fraction of a tile.")
]
SlideMppOpt = Annotated[
    float | None, typer.Option(help="Level-0 µm/px for slides whose metadata has none.")
]
MppPolicyOpt = Annotated[
    str, typer.Option(help="Without mpp: 'require' (fail the slide) or 'objective-power'.")
]
MppColumnOpt = Annotated[str, typer.Option(help="Manifest column with per-slide level-0 µm/px.")]
BackendOpt = Annotated[str, typer.Option(help="auto, openslide or tifffile.")]
OverwriteOpt = Annotated[bool, typer.Option(help="Redo slides whose outputs exist.")]
AllowFailuresOpt = Annotated[bool, typer.Option(help="Exit 0 even when some slides failed.")]
SchemaOpt = Annotated[Path | None, typer.Option("--schema", "-s", help="Schema YAML.")]
DataRootOpt = Annotated[
    Path | None, typer.Option("--data-root", "-r", help="Root for relative paths.")
]
ProgressOpt = Annotated[bool, typer.Option(help="Show progress bars.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]


def check_job_options(mpp_policy: str, out: Path) -> None:
    """Usage checks shared by the slide jobs (exit 2 on a bad value)."""
    if mpp_policy not in MPP_POLICIES:
        raise fail_usage(f"--mpp-policy {mpp_policy!r}: expected one of {', '.join(MPP_POLICIES)}")
    if out.exists() and not out.is_dir():
        raise fail_usage(f"--out {out}: exists and is not a folder")


def finish_job(summary: dict, out: Path, verb: str, allow_failures: bool) -> None:
    """Print a job's one-line result and exit (1 when a slide failed, unless allowed)."""
    rate = summary.get("tiles_per_second")
    typer.echo(
        f"{summary['slides_done']} slide(s) {verb}, {summary['slides_skipped']} already done, "
        f"{summary['slides_failed']} failed; {int(summary.get('tiles', 0))} tiles"
        + (f" at {rate} tiles/s" if rate else "")
        + f" -> {out}"
    )
    if summary["slides_failed"]:
        typer.echo(f"failures: {out / 'failures.csv'}", err=True)
    raise typer.Exit(1 if summary["slides_failed"] and not allow_failures else 0)


def collect_slides(
    inputs: list[Path], schema: Path | None, data_root: Path | None, mpp_column: str
) -> tuple[list[Path], list[str | None], list[float | None]]:
    """Slides (with patient ids and per-slide mpp) from a manifest or from files and folders.

    Raises:
        typer.Exit: With code 2 on unusable input.
    """
    if len(inputs) == 1 and inputs[0].suffix.lower() in TABLE_SUFFIXES and inputs[0].is_file():
        from biomm.cohort.manifest import Cohort

        try:
            cohort = Cohort.from_file(inputs[0], schema, data_root=data_root)
        except (ManifestError, SchemaError) as exc:
            raise fail_usage(exc) from None
        if "wsi" not in cohort.schema.modalities:
            raise fail_usage(f"{inputs[0]}: the manifest declares no wsi column")
        paths, patients, mpps = [], [], []
        pid = cohort.schema.patient_id
        has_mpp = mpp_column in cohort.table
        for row in range(len(cohort)):
            for ref in cohort.references("wsi", row):
                paths.append(cohort.resolve(ref))
                patients.append(cohort.table.at[row, pid] if pid in cohort.table else None)
                value = cohort.table.at[row, mpp_column] if has_mpp else None
                try:
                    mpps.append(float(value) if value is not None and value == value else None)
                except (TypeError, ValueError):
                    raise fail_usage(
                        f"{inputs[0]}: row {row}: {mpp_column!r} value {value!r} is not a number"
                    ) from None
        return paths, patients, mpps
    suffixes = tuple(known_extensions("wsi"))
    paths = []
    for item in inputs:
        if item.is_dir():
            paths += sorted(p for p in item.rglob("*") if p.name.lower().endswith(suffixes))
        else:
            paths.append(item)  # missing files are reported per slide, not as usage errors
    if not paths:
        raise fail_usage("no slides found in the given inputs")
    return paths, [None] * len(paths), [None] * len(paths)


@wsi_app.command("info")
def info(
    slides: Annotated[list[Path], typer.Argument(help="Slide files.", metavar="SLIDES...")],
    backend: Annotated[str, typer.Option(help="auto, openslide or tifffile.")] = "auto",
) -> None:
    """Print each slide's backend, vendor, size, pyramid and resolution as JSON lines.

    Exit code 1 when any slide cannot be opened.

    Example usage:

    \b
        biomm wsi info slides/*.svs
    """
    from biomm.io.wsi import open_slide

    failed = False
    for path in slides:
        try:
            with open_slide(path, backend) as slide:
                typer.echo(json.dumps(slide.describe()))
        except BiommError as exc:
            failed = True
            typer.echo(json.dumps({"path": str(path), "error": exc.reason}))
    raise typer.Exit(1 if failed else 0)


@wsi_app.command("tile")
def tile(
    inputs: InputsArg,
    out: OutOpt,
    mpp: MppOpt = 0.5,
    patch_size: PatchSizeOpt = 224,
    overlap: Annotated[int, typer.Option(min=0, help="Tile overlap in pixels at --mpp.")] = 0,
    min_tissue: MinTissueOpt = 0.5,
    tissue_mpp: Annotated[float, typer.Option(help="µm/px of the tissue mask.")] = 8.0,
    slide_mpp: SlideMppOpt = None,
    mpp_policy: MppPolicyOpt = "require",
    mpp_column: MppColumnOpt = "mpp",
    backend: BackendOpt = "auto",
    overwrite: OverwriteOpt = False,
    allow_failures: AllowFailuresOpt = False,
    schema: SchemaOpt = None,
    data_root: DataRootOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Detect tissue and write tile coordinates for every slide of a cohort.

    Writes OUT/coords/NAME.h5 (coords in level-0 pixels, tissue fraction, parameters),
    OUT/masks/NAME.png, OUT/geojson/NAME.geojson (opens in QuPath), OUT/failures.csv and
    OUT/summary.json. Finished slides are skipped on a rerun; a slide that cannot be read is
    listed in failures.csv and the others go on. Exit code 1 when a slide failed (unless
    --allow-failures), 2 on a usage error.

    Example usage:

    \b
        biomm wsi tile cohort.csv --schema schema.yaml --out tiles --mpp 0.5 --patch-size 224
        biomm wsi tile slides/ --out tiles --slide-mpp 0.25
    """
    from biomm.wsi.jobs import slide_jobs
    from biomm.wsi.tiling_job import TilingParams, tile_slides

    check_job_options(mpp_policy, out)
    if overlap >= patch_size:
        raise fail_usage(f"--overlap {overlap} must be smaller than --patch-size {patch_size}")
    paths, patients, mpps = collect_slides(inputs, schema, data_root, mpp_column)
    params = TilingParams(
        target_mpp=mpp,
        patch_size=patch_size,
        overlap=overlap,
        min_tissue=min_tissue,
        tissue_mpp=tissue_mpp,
        slide_mpp=slide_mpp,
        mpp_policy=mpp_policy,  # type: ignore[arg-type]
        backend=backend,
    )
    jobs = slide_jobs(paths, patient_ids=patients, mpps=mpps)
    try:
        summary = tile_slides(jobs, out, params, overwrite=overwrite, progress=progress)
    except OutputLockedError as exc:  # another run writes into OUT
        raise fail_usage(exc) from None
    finish_job(summary, out, "tiled", allow_failures)


@wsi_app.command("embed")
def embed(
    inputs: InputsArg,
    out: OutOpt,
    encoder: Annotated[
        str, typer.Option(help="Encoder name (see `biomm info`); e.g. efficientnet_lite0.")
    ] = "efficientnet_lite0",
    weights: Annotated[
        str | None,
        typer.Option(
            help="Encoder weights: 'imagenet' (default for efficientnet_lite0), a "
            "local file, or for hf_image a hub id or folder."
        ),
    ] = None,
    trust_pickle: Annotated[
        bool,
        typer.Option(
            help="Allow pickle-based weights (.pt/.pth/.bin), which can run code when "
            "loaded; without it only .safetensors are read."
        ),
    ] = False,
    mpp: MppOpt = 0.5,
    patch_size: PatchSizeOpt = 224,
    min_tissue: MinTissueOpt = 0.5,
    batch_size: Annotated[int, typer.Option(min=1, help="Tiles per forward pass.")] = 64,
    workers: Annotated[
        int, typer.Option(min=0, help="Tile-reading threads (0: read in the main thread).")
    ] = 2,
    scheduler: Annotated[
        str,
        typer.Option(
            help="none (this process), local (a Dask LocalCluster) or a Dask "
            "scheduler address such as tcp://host:8786."
        ),
    ] = "none",
    dask_workers: Annotated[
        int, typer.Option(min=1, help="Worker processes of --scheduler local.")
    ] = 2,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    slide_mpp: SlideMppOpt = None,
    mpp_policy: MppPolicyOpt = "require",
    mpp_column: MppColumnOpt = "mpp",
    backend: BackendOpt = "auto",
    overwrite: OverwriteOpt = False,
    allow_failures: AllowFailuresOpt = False,
    schema: SchemaOpt = None,
    data_root: DataRootOpt = None,
    progress: ProgressOpt = True,
) -> None:
    """Extract tile features for every slide of a cohort: one HDF5 per slide.

    Writes OUT/features/NAME.h5 with datasets features (N x D), coords (N x 2, level-0 x, y),
    bad (tiles that could not be read, replaced by white) and tissue_fraction, and attributes
    recording mpp, patch sizes, encoder and weights hash; plus OUT/failures.csv and
    OUT/summary.json (counts and tiles/s). Finished slides are skipped on a rerun, so a killed
    run resumes. Exit code 1 when a slide failed (unless --allow-failures), 2 on a usage error.

    Example usage:

    \b
        biomm wsi embed cohort.csv --schema schema.yaml --out features --mpp 0.5 --device auto
        biomm wsi embed slides/ --out features --encoder hf_image --weights ./uni-folder
    """
    from biomm.encoders import build_encoder
    from biomm.wsi.embed_job import EmbedParams, embed_slides
    from biomm.wsi.jobs import slide_jobs

    check_job_options(mpp_policy, out)
    paths, patients, mpps = collect_slides(inputs, schema, data_root, mpp_column)
    kwargs: dict[str, object] = {}
    if encoder == "hf_image":
        if not weights:
            raise fail_usage("--encoder hf_image needs --weights HUB_ID_OR_FOLDER")
        kwargs["model"] = weights
    elif weights:
        kwargs["weights"] = weights
    if trust_pickle:
        kwargs["trust_pickle"] = True
    try:
        model = build_encoder(encoder, **kwargs)
        from biomm.wsi.features import resolve_device

        resolve_device(device)
    except BiommError as exc:
        raise fail_usage(exc) from None
    params = EmbedParams(
        target_mpp=mpp,
        patch_size=patch_size,
        min_tissue=min_tissue,
        batch_size=batch_size,
        num_workers=workers,
        device=device,
        slide_mpp=slide_mpp,
        mpp_policy=mpp_policy,  # type: ignore[arg-type]
        backend=backend,
    )
    jobs = slide_jobs(paths, patient_ids=patients, mpps=mpps)
    if scheduler == "none":
        try:
            summary = embed_slides(jobs, out, model, params, overwrite=overwrite, progress=progress)
        except OutputLockedError as exc:  # another run writes into OUT
            raise fail_usage(exc) from None
    else:
        from biomm.wsi.distributed import EncoderSpec, embed_slides_distributed

        try:
            summary = embed_slides_distributed(
                jobs,
                out,
                EncoderSpec(encoder, kwargs),
                params,
                scheduler=scheduler,
                n_workers=dask_workers,
                overwrite=overwrite,
                progress=progress,
            )
        except BiommError as exc:  # e.g. the distributed extra is missing
            raise fail_usage(exc) from None
    finish_job(summary, out, "embedded", allow_failures)
