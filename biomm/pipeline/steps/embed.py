"""``embed``: fundus photos, OCT volumes, reports or the EHR table → one embedding table.

The step folder is a ``biomm embed`` output; ``${steps.NAME.embeddings}`` is the HDF5 table
``train`` reads as a modality.

Examples:
    >>> EmbedItemsParams(modality="report", options={"section": ["diagnosis"]}).workers
    2
"""

from __future__ import annotations

import inspect
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from biomm.pipeline.steps.base import StepContext, StepKind, StepResult

#: Arguments of ``embed_cohort_ehr`` that the step supplies itself.
_EHR_FIXED = ("cohort", "out", "encoder_kwargs", "overwrite", "device")


class EmbedItemsParams(BaseModel):
    """Params of ``embed`` (the options of ``biomm embed``).

    Attributes:
        modality: ``fundus``, ``oct``, ``report`` or ``ehr``.
        encoder: Image encoder (fundus/OCT, default ``efficientnet_lite0``) or text model
            (report: ``minilm``, a local folder or a hub id); unused for ``ehr``.
        encoder_args: Arguments of the encoder (e.g. ``weights``; for ``ehr`` the tabular
            transformer's ``dim``, ``depth``, ``heads``).
        options: Options of the modality's embedder: fundus ``contrast``/``size``, OCT
            ``n_bscans``, report ``section``/``cache_dir``, EHR ``pretrain_epochs``/``seed``.
        split: Only patients of this split (not for ``ehr``: every patient is embedded, the
            preprocessing is fitted on the train split).
        batch_size: Items per forward pass.
        workers: Threads reading items.
        device: Torch device.
        retry_failed: Retry items an earlier run listed in ``failures.csv``.
    """

    model_config = ConfigDict(extra="forbid")
    modality: Literal["fundus", "oct", "report", "ehr"]
    encoder: str | None = None
    encoder_args: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    split: str | None = None
    batch_size: int = Field(32, ge=1)
    workers: int = Field(2, ge=1)
    device: str = "cpu"
    retry_failed: bool = False


def _valid_options(modality: str) -> list[str] | None:
    """Option names the modality's embedder takes (None when it cannot be imported yet)."""
    try:
        if modality == "ehr":
            from biomm.embed.ehr import embed_cohort_ehr

            names = list(inspect.signature(embed_cohort_ehr).parameters)
            return [n for n in names if n not in _EHR_FIXED]
        from biomm.embed.builders import embedder_options

        names = embedder_options(modality)
        return [n for n in names if n not in ("device", "encoder", "encoder_kwargs")]
    except ImportError:
        return None


def _check(params: EmbedItemsParams) -> list[tuple[str, str]]:
    problems = []
    valid = _valid_options(params.modality)
    if valid is not None:
        for key in sorted(set(params.options) - set(valid)):
            problems.append(
                (
                    f"options.{key}",
                    f"not an option of the {params.modality} embedder; valid: {valid}",
                )
            )
    if params.modality == "ehr" and params.split is not None:
        problems.append(("split", "the ehr embedder embeds every patient; remove `split`"))
    return problems


def _reads(params: Any) -> tuple[str, ...]:
    modality = getattr(params, "modality", None)
    return () if modality in (None, "ehr") else (modality,)  # EHR: in the cohort fingerprint


def run_embed(params: EmbedItemsParams, ctx: StepContext) -> StepResult:
    """Embed the cohort's items of ``params.modality`` into ``ctx.out``."""
    cohort = ctx.cohort()
    if params.modality == "ehr":
        from biomm.embed.ehr import embed_cohort_ehr

        summary = embed_cohort_ehr(
            cohort,
            ctx.out,
            encoder_kwargs=params.encoder_args,
            device=params.device,
            **params.options,
        )
        return StepResult(
            done=summary["n_patients"],
            failed=0,
            metrics={
                "embed_dim": summary["embed_dim"],
                "n_train": summary["n_train"],
                "n_columns": summary["n_columns"],
            },
        )
    from biomm.embed.builders import build_item_embedder
    from biomm.embed.cohort import embed_cohort_items

    embedder = build_item_embedder(
        params.modality,
        params.encoder,
        encoder_args=params.encoder_args,
        options=params.options,
        device=params.device,
    )
    result = embed_cohort_items(
        cohort,
        params.modality,
        embedder,
        ctx.out,
        split=params.split,
        batch_size=params.batch_size,
        workers=params.workers,
        retry_failed=params.retry_failed,
        progress=ctx.progress,
    )
    return StepResult(
        done=len(result.record_ids),
        failed=len(result.failures),
        metrics={"embed_dim": int(result.embeddings.shape[1])},
        failures=ctx.out / "failures.csv",
    )


def embed_step() -> StepKind:
    """``embed``: a cohort's fundus photos, OCT volumes, reports or EHR table → embeddings.

    Unreadable items are item failures (``failures.csv``); report text never reaches a log.

    Examples:
        >>> kind = embed_step()
        >>> kind.modalities_read(kind.params(modality="fundus")), kind.outputs["embeddings"]
        (('fundus',), 'embeddings.h5')
    """
    return StepKind(
        name="embed",
        params=EmbedItemsParams,
        run=run_embed,
        outputs={"embeddings": "embeddings.h5", "items": "items.csv", "failures": "failures.csv"},
        reads=_reads,
        summary="Fundus/OCT/report/EHR embeddings (HDF5) via biomm.embed.",
        check=_check,
        path_params=("encoder",),
    )


__all__ = ["EmbedItemsParams", "embed_step", "run_embed"]
