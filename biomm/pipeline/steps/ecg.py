"""ECG steps: ``ecg.convert``, ``ecg.pretrain`` (MERL), ``ecg.embed`` and ``ecg.zeroshot``.

A record that cannot be read is an item failure (listed in ``failures.csv``), never fatal.
``ecg.convert`` honours ``--scheduler`` (Dask tasks per chunk of records); ``ecg.embed`` and
``ecg.zeroshot`` run in this process and say so in the run log when a scheduler is given.

Examples:
    >>> sorted(ecg_pretrain_step().outputs)
    ['history', 'last', 'model']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from biomm.pipeline.steps.base import StepContext, StepKind, StepResult, params_from_config
from biomm.utils.atomic import atomic_write_table

# ---- ecg.convert ----------------------------------------------------------------------------


class ConvertParams(BaseModel):
    """Params of ``ecg.convert`` (the options of ``biomm ecg convert``).

    Attributes:
        profile: Input profile: a name (``biomm ecg profiles``), a YAML file or a mapping.
        workers: Processes reading records.
        dtype: ``float32`` or ``float16``.
        fs: Sampling rate of NumPy/CSV records (their files carry none).
        retry_failed: Try records that failed in an earlier run again.
    """

    model_config = ConfigDict(extra="forbid")
    profile: str | dict[str, Any] = "merl"
    workers: int = Field(1, ge=1)
    dtype: Literal["float32", "float16"] = "float32"
    fs: float | None = Field(None, gt=0)
    retry_failed: bool = False


def _check_profile(params: Any) -> list[tuple[str, str]]:
    from biomm.ecg.profiles import get_profile
    from biomm.errors import BiommError

    profile = params.profile
    if isinstance(profile, str) and "${" in profile:
        return []
    try:
        get_profile(profile)
    except (BiommError, KeyError, ValueError) as exc:
        return [("profile", str(exc))]
    return []


def run_convert(params: ConvertParams, ctx: StepContext) -> StepResult:
    """Convert the cohort's ECGs into an array store; Dask when ``ctx.scheduler`` is set."""
    from biomm.ecg.store import cohort_sources, convert_ecgs

    notes = []
    if ctx.scheduler != "none":
        notes.append(
            f"records read on Dask ({ctx.scheduler}), one task per chunk; the store is written "
            "by this process (the workers param does not apply)"
        )
    summary = convert_ecgs(
        cohort_sources(ctx.cohort()),
        ctx.out,
        params.profile,
        workers=params.workers,
        dtype=params.dtype,
        read_kwargs={"fs": params.fs} if params.fs else None,
        retry_failed=params.retry_failed,
        progress=ctx.progress,
        scheduler=ctx.scheduler,
        dask_workers=ctx.dask_workers,
    )
    return StepResult(
        done=summary.done,
        failed=summary.failed,
        metrics={"records_per_second": round(summary.attempted / max(summary.seconds, 1e-9), 1)},
        failures=ctx.out / "failures.csv",
        notes=notes,
    )


def ecg_convert_step() -> StepKind:
    """``ecg.convert``: every ECG read, profiled and stored once (a resumable array store).

    Honours ``--scheduler``: Dask workers read and profile chunks of records, this process
    writes the store (byte-identical to a run without Dask).

    ``${steps.NAME}`` is the store: give it to ``ecg.pretrain``/``ecg.embed`` as ``store:``
    (same profile) or to ``train`` as a modality ``store:``.

    Examples:
        >>> ecg_convert_step().outputs["store"]
        '.'
    """
    return StepKind(
        name="ecg.convert",
        params=ConvertParams,
        run=run_convert,
        outputs={"store": ".", "failures": "failures.csv"},
        reads=("ecg",),
        summary="ECGs → a memory-mapped array store with an input profile.",
        check=_check_profile,
        path_params=("profile",),
    )


# ---- ecg.pretrain ---------------------------------------------------------------------------


def _pretrain_params() -> type[BaseModel]:
    from biomm.ecg.pretrain import PretrainConfig

    return params_from_config(
        PretrainConfig,
        "PretrainParams",
        exclude=("cohort", "out", "schema_file", "data_root", "progress"),
    )


def run_pretrain(params: BaseModel, ctx: StepContext) -> StepResult:
    """MERL pretraining on the cohort's ECGs and reports; checkpoint in ``ctx.out/model``."""
    from biomm.ecg.pretrain import PretrainConfig, pretrain

    data = params.model_dump() | {
        "cohort": ctx.cohort_path,
        "schema": ctx.schema_path,
        "data_root": ctx.data_root,
        "out": ctx.out,
        "progress": ctx.progress,
    }
    cfg = PretrainConfig.model_validate(data)
    summary = pretrain(cfg)
    counts = summary["counts"]
    last = summary["history"][-1] if summary["history"] else {}
    store = cfg.store or cfg.out / "store"
    return StepResult(
        done=counts.get("train", 0) + counts.get("val", 0),
        failed=counts.get("failed_conversion", 0),
        metrics={k: round(v, 5) for k, v in last.items() if isinstance(v, float)}
        | {"records_without_report": counts.get("without_report", 0)},
        failures=store / "failures.csv" if (store / "failures.csv").is_file() else None,
    )


def ecg_pretrain_step() -> StepKind:
    """``ecg.pretrain``: MERL ECG–report pretraining (the options of ``biomm ecg pretrain``).

    ``${steps.NAME.model}`` is the best checkpoint (lowest validation loss).

    Examples:
        >>> ecg_pretrain_step().params(epochs=2).epochs
        2
    """
    return StepKind(
        name="ecg.pretrain",
        params=_pretrain_params(),
        run=run_pretrain,
        outputs={"model": "model", "last": "last", "history": "history.csv"},
        reads=("ecg", "report"),
        summary="MERL pretraining of an ECG encoder against the reports.",
        check=_check_profile,
        path_params=("profile",),
    )


# ---- ecg.embed ------------------------------------------------------------------------------


class EmbedParams(BaseModel):
    """Params of ``ecg.embed``.

    Attributes:
        model: A MERL checkpoint folder, e.g. ``${steps.pretrain.model}``.
        store: An array store to reuse (same records and profile), e.g. ``${steps.convert}``;
            default: one in the step folder.
        split: Only records of this split.
        batch_size: Records per forward pass.
        device: Torch device.
        workers: Processes converting records.
    """

    model_config = ConfigDict(extra="forbid")
    model: Path
    store: Path | None = None
    split: str | None = None
    batch_size: int = Field(256, ge=1)
    device: str = "cpu"
    workers: int = Field(1, ge=1)


def _in_process_note(ctx: StepContext, device: str) -> list[str]:
    """The run-log note of an ECG inference step given a scheduler it does not use.

    Examples:
        >>> from pathlib import Path
        >>> ctx = StepContext("emb", Path("."), Path("."), scheduler="local")
        >>> _in_process_note(ctx, "cuda")[0].startswith("--scheduler local not used")
        True
        >>> _in_process_note(StepContext("emb", Path("."), Path(".")), "cpu")
        []
    """
    if ctx.scheduler == "none":
        return []
    return [
        f"--scheduler {ctx.scheduler} not used: inference runs in this process on {device} "
        "(one process per GPU suits a memory-mapped store); to read the records on Dask, give "
        "store: an ecg.convert step with the checkpoint's profile and the same records"
    ]


def _write_failures(failures: list[dict[str, Any]], path: Path) -> Path:
    columns = ["record_id", "patient_id", "source", "error"]
    return atomic_write_table(pd.DataFrame(failures, columns=columns), path)


def run_ecg_embed(params: EmbedParams, ctx: StepContext) -> StepResult:
    """Embed the cohort's ECGs into ``ctx.out/embeddings.h5`` (in this process)."""
    from biomm.ecg.inference import embed_cohort, write_embeddings
    from biomm.ecg.merl import load_checkpoint

    notes = _in_process_note(ctx, params.device)
    net, config = load_checkpoint(params.model)
    result = embed_cohort(
        net,
        config,
        ctx.cohort(),
        params.store or ctx.out / "store",
        split=params.split,
        batch_size=params.batch_size,
        device=params.device,
        workers=params.workers,
        progress=ctx.progress,
    )
    meta = {
        "checkpoint": str(params.model),
        "weights_sha256": config["weights_sha256"],
        "profile": config["profile"],
        "model": config["model"],
    }
    write_embeddings(result, ctx.out / "embeddings.h5", meta)
    return StepResult(
        done=len(result.index),
        failed=len(result.failures),
        metrics={"embed_dim": int(result.embeddings.shape[1])},
        failures=_write_failures(result.failures, ctx.out / "failures.csv"),
        notes=notes,
    )


def ecg_embed_step() -> StepKind:
    """``ecg.embed``: unit-norm ECG embeddings of a MERL checkpoint, one row per record.

    ``${steps.NAME.embeddings}`` is the HDF5 table ``train`` reads as a modality.

    Examples:
        >>> ecg_embed_step().outputs["embeddings"]
        'embeddings.h5'
    """
    return StepKind(
        name="ecg.embed",
        params=EmbedParams,
        run=run_ecg_embed,
        outputs={"embeddings": "embeddings.h5", "failures": "failures.csv"},
        reads=("ecg",),
        summary="ECG embeddings from a pretrained checkpoint (HDF5).",
    )


# ---- ecg.zeroshot ---------------------------------------------------------------------------


class ZeroShotParams(BaseModel):
    """Params of ``ecg.zeroshot`` (the options of ``biomm ecg zeroshot``).

    Attributes:
        model: A MERL checkpoint folder, e.g. ``${steps.pretrain.model}``.
        classes: A prompt set: a registered name, a YAML file, or the mapping itself
            (``templates``, ``classes`` with ``name``/``label``/``descriptions``).
        split: Only records of this split (e.g. ``test``).
        modes: Prompt modes: ``knowledge`` and/or ``names``.
        temperature: Logit scale on cosine similarity.
        store: An array store to reuse (same records and profile).
        batch_size: Records per forward pass.
        device: Torch device.
        workers: Processes converting records.
    """

    model_config = ConfigDict(extra="forbid")
    model: Path
    classes: str | dict[str, Any]
    split: str | None = None
    modes: list[Literal["knowledge", "names"]] = Field(
        default_factory=lambda: ["knowledge", "names"], min_length=1
    )
    temperature: float = Field(100.0, gt=0)
    store: Path | None = None
    batch_size: int = Field(256, ge=1)
    device: str = "cpu"
    workers: int = Field(1, ge=1)


def _check_classes(params: ZeroShotParams) -> list[tuple[str, str]]:
    from biomm.errors import BiommError
    from biomm.zeroshot.prompts import get_prompt_set

    if isinstance(params.classes, str) and "${" in params.classes:
        return []
    try:
        get_prompt_set(params.classes)
    except BiommError as exc:
        return [("classes", str(exc))]
    return []


def run_zeroshot(params: ZeroShotParams, ctx: StepContext) -> StepResult:
    """Zero-shot classify the cohort's ECGs; scores and metrics in the step folder."""
    from biomm.ecg.zeroshot import zeroshot_cohort

    summary = zeroshot_cohort(
        params.model,
        ctx.cohort(),
        params.classes,
        ctx.out,
        split=params.split,
        modes=params.modes,
        temperature=params.temperature,
        store=params.store,
        batch_size=params.batch_size,
        device=params.device,
        workers=params.workers,
        progress=ctx.progress,
    )
    metrics: dict[str, Any] = {}
    for mode, entry in summary["modes"].items():
        if entry.get("macro_auroc") is not None:
            metrics[f"{mode}_macro_auroc"] = round(float(entry["macro_auroc"]), 4)
    notes = _in_process_note(ctx, params.device)
    if summary["missing_label_columns"]:
        notes.append(f"label columns not in the manifest: {summary['missing_label_columns']}")
    return StepResult(
        done=summary["records"],
        failed=summary["failed_records"],
        metrics=metrics,
        failures=ctx.out / "failures.csv",
        notes=notes,
    )


def ecg_zeroshot_step() -> StepKind:
    """``ecg.zeroshot``: ECG classes scored from text prompts, with metrics where labelled.

    Writes ``scores.csv``, ``metrics.json`` (per-class AUROC per prompt mode when the prompt
    set names label columns), ``prompts.json`` and ``failures.csv``.

    Examples:
        >>> ecg_zeroshot_step().params(model="m", classes="synthetic_ecg").modes
        ['knowledge', 'names']
    """
    return StepKind(
        name="ecg.zeroshot",
        params=ZeroShotParams,
        run=run_zeroshot,
        outputs={"scores": "scores.csv", "metrics": "metrics.json", "failures": "failures.csv"},
        reads=("ecg",),
        summary="Zero-shot ECG classification from a prompt set.",
        check=_check_classes,
        path_params=("classes",),
    )


__all__ = [
    "ConvertParams",
    "EmbedParams",
    "ZeroShotParams",
    "ecg_convert_step",
    "ecg_embed_step",
    "ecg_pretrain_step",
    "ecg_zeroshot_step",
]
