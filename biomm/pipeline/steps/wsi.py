"""``wsi.embed``: tissue, tiles and tile features for every slide of the cohort.

The step folder is a ``biomm wsi embed`` output (``features/NAME.h5``, ``failures.csv``,
``summary.json``), so ``train`` reads it as tile bags: ``bags: ${steps.NAME}``.

Examples:
    >>> WsiEmbedParams(mpp=2.0, patch_size=112).encoder
    'efficientnet_lite0'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from biomm.errors import ConfigError
from biomm.pipeline.steps.base import StepContext, StepKind, StepResult


class WsiEmbedParams(BaseModel):
    """Params of ``wsi.embed`` (the options of ``biomm wsi embed``).

    Attributes:
        encoder: A registered image encoder (``efficientnet_lite0``, ``hf_image`` …).
        weights: Encoder weights: ``imagenet`` (efficientnet_lite0's default), a local
            file, or for ``hf_image`` a hub id or folder.
        mpp: Target µm/px of the tiles.
        patch_size: Tile size in pixels at ``mpp``.
        min_tissue: Minimum tissue fraction of a tile.
        tissue_mpp: µm/px of the tissue mask.
        batch_size: Tiles per forward pass.
        workers: Tile-reading threads per slide.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``.
        slide_mpp: Level-0 µm/px for slides whose metadata has none.
        mpp_policy: Without mpp: ``require`` (fail the slide) or ``objective-power``.
        mpp_column: Manifest column with per-slide level-0 µm/px (used when present).
        backend: ``auto``, ``openslide`` or ``tifffile``.
        trust_pickle: Allow pickle-based ``weights`` (``.pt``/``.pth``/``.bin``), which can
            run code when loaded; without it only safetensors are read.
    """

    model_config = ConfigDict(extra="forbid")
    encoder: str = "efficientnet_lite0"
    weights: str | None = None
    mpp: float = Field(0.5, gt=0)
    patch_size: int = Field(224, ge=8)
    min_tissue: float = Field(0.5, ge=0.0, le=1.0)
    tissue_mpp: float = Field(8.0, gt=0)
    batch_size: int = Field(64, ge=1)
    workers: int = Field(2, ge=0)
    device: str = "auto"
    slide_mpp: float | None = Field(None, gt=0)
    mpp_policy: Literal["require", "objective-power"] = "require"
    mpp_column: str = "mpp"
    backend: str = "auto"
    trust_pickle: bool = False


def _encoder_kwargs(params: WsiEmbedParams) -> dict[str, Any]:
    trust: dict[str, Any] = {"trust_pickle": True} if params.trust_pickle else {}
    if params.encoder == "hf_image":
        if not params.weights:
            raise ConfigError("encoder hf_image needs `weights:` (a hub id or a local folder)")
        return {"model": params.weights, **trust}
    return {"weights": params.weights, **trust} if params.weights else trust


def _check(params: WsiEmbedParams) -> list[tuple[str, str]]:
    import biomm.encoders  # noqa: F401  (registers the encoders)
    from biomm.registries import ENCODERS

    problems = []
    if params.encoder not in ENCODERS:
        problems.append(
            ("encoder", f"unknown encoder {params.encoder!r}; registered: {ENCODERS.names()}")
        )
    if params.encoder == "hf_image" and not params.weights:
        problems.append(("weights", "encoder hf_image needs a hub id or a local folder"))
    return problems


def _slides(cohort: Any, mpp_column: str) -> tuple[list[Any], list[str | None], list[Any]]:
    if "wsi" not in cohort.schema.modalities:
        raise ConfigError("the cohort declares no wsi column", path=cohort.source)
    pid = cohort.schema.patient_id
    paths, patients, mpps = [], [], []
    for row in range(len(cohort)):
        for ref in cohort.references("wsi", row):
            paths.append(cohort.resolve(ref))
            patients.append(str(cohort.table.at[row, pid]) if pid in cohort.table else None)
            value = cohort.table.at[row, mpp_column] if mpp_column in cohort.table else None
            try:
                mpps.append(float(value) if value is not None and value == value else None)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"row {row}: {mpp_column!r} value {value!r} is not a number",
                    path=cohort.source,
                ) from None
    return paths, patients, mpps


def run_wsi_embed(params: WsiEmbedParams, ctx: StepContext) -> StepResult:
    """Embed every slide into ``ctx.out/features``; Dask when ``ctx.scheduler`` is set."""
    from biomm.encoders import build_encoder
    from biomm.wsi.embed_job import EmbedParams, embed_slides
    from biomm.wsi.features import resolve_device
    from biomm.wsi.jobs import slide_jobs

    paths, patients, mpps = _slides(ctx.cohort(), params.mpp_column)
    kwargs = _encoder_kwargs(params)
    resolve_device(params.device)
    job_params = EmbedParams(
        target_mpp=params.mpp,
        patch_size=params.patch_size,
        min_tissue=params.min_tissue,
        tissue_mpp=params.tissue_mpp,
        batch_size=params.batch_size,
        num_workers=params.workers,
        device=params.device,
        slide_mpp=params.slide_mpp,
        mpp_policy=params.mpp_policy,
        backend=params.backend,
    )
    jobs = slide_jobs(paths, patient_ids=patients, mpps=mpps)
    if ctx.scheduler == "none":
        model = build_encoder(params.encoder, **kwargs)
        summary = embed_slides(jobs, ctx.out, model, job_params, progress=ctx.progress)
    else:
        from biomm.wsi.distributed import EncoderSpec, embed_slides_distributed

        summary = embed_slides_distributed(
            jobs,
            ctx.out,
            EncoderSpec(params.encoder, kwargs),
            job_params,
            scheduler=ctx.scheduler,
            n_workers=ctx.dask_workers,
            progress=ctx.progress,
        )
    metrics = {k: summary[k] for k in ("tiles", "tiles_per_second", "bad_tiles") if k in summary}
    return StepResult(
        done=summary["slides_done"] + summary["slides_skipped"],
        failed=summary["slides_failed"],
        metrics=metrics,
        failures=ctx.out / "failures.csv",
    )


def wsi_embed_step() -> StepKind:
    """``wsi.embed``: tile features per slide (one HDF5 each); honours ``--scheduler``.

    A slide that cannot be read is an item failure (``failures.csv``), never fatal.

    Examples:
        >>> kind = wsi_embed_step()
        >>> kind.outputs["bags"], kind.modalities_read(None)
        ('.', ('wsi',))
    """
    return StepKind(
        name="wsi.embed",
        params=WsiEmbedParams,
        run=run_wsi_embed,
        outputs={"bags": ".", "features": "features", "failures": "failures.csv"},
        reads=("wsi",),
        summary="Tile features per slide (HDF5 per slide; Dask with --scheduler).",
        check=_check,
    )


__all__ = ["WsiEmbedParams", "run_wsi_embed", "wsi_embed_step"]
