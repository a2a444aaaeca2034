"""``train``: fusion + heads on the modalities earlier steps made (a ``biomm train`` run).

The params are those of a ``biomm train`` config without ``cohort``, ``schema`` and ``out``
(the pipeline gives them), plus ``bootstrap``. Modality sources point at earlier steps::

    modalities:
      wsi: {bags: "${steps.wsi}"}
      ecg: {embeddings: "${steps.ecg_embed.embeddings}"}

Examples:
    >>> kind = train_step()
    >>> p = kind.params(modalities={"ecg": {"embeddings": "e.h5"}},
    ...                 tasks={"y": {"head": "binary", "target": "y"}})
    >>> p.fusion.name, p.bootstrap
    ('multimodn', 200)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from biomm.pipeline.steps.base import StepContext, StepKind, StepResult, params_from_config


def _train_params() -> type[BaseModel]:
    from biomm.train.config import TrainConfig

    return params_from_config(
        TrainConfig,
        "TrainParams",
        exclude=("cohort", "schema_file", "out"),
        extra_fields={"bootstrap": (int, Field(200, ge=0))},
    )


def _check(params: Any) -> list[tuple[str, str]]:
    import biomm.encoders
    import biomm.fusion
    import biomm.heads  # noqa: F401  (importing them registers their entries)
    from biomm.registries import ENCODERS, FUSIONS, HEADS

    problems = []
    if params.fusion.name not in FUSIONS:
        problems.append(
            ("fusion.name", f"unknown fusion {params.fusion.name!r}; registered: {FUSIONS.names()}")
        )
    for task, spec in params.tasks.items():
        if spec.head not in HEADS:
            problems.append(
                (f"tasks.{task}.head", f"unknown head {spec.head!r}; registered: {HEADS.names()}")
            )
    for modality, source in params.modalities.items():
        name = (source.encoder or {}).get("name")
        if name is not None and name not in ENCODERS:
            problems.append(
                (
                    f"modalities.{modality}.encoder.name",
                    f"unknown encoder {name!r}; registered: {ENCODERS.names()}",
                )
            )
    return problems


def run_train(params: Any, ctx: StepContext) -> StepResult:
    """Train and evaluate; model, predictions and metrics in the step folder."""
    from biomm.train.config import TrainConfig
    from biomm.train.run import primary_metric, run_training

    data = params.model_dump(exclude={"bootstrap"}) | {
        "cohort": ctx.cohort_path,
        "schema": ctx.schema_path,
        "out": ctx.out,
    }
    cfg = TrainConfig.model_validate(data)
    summary = run_training(cfg, n_bootstrap=params.bootstrap, progress=ctx.progress)
    metrics: dict[str, Any] = {"epochs": summary["epochs"], **summary["counts"]}
    for row in summary.get("test") or []:  # the test metric of each task, all patients
        name = primary_metric(cfg.tasks[row["task"]].head) if row["task"] in cfg.tasks else ""
        value = row.get(name)
        if isinstance(value, (int, float)) and value == value:
            metrics[f"{row['task']}_{name}"] = round(float(value), 4)
    return StepResult(done=sum(summary["counts"].values()), failed=None, metrics=metrics)


def train_step() -> StepKind:
    """``train``: a multimodal model (fusion + heads) on earlier steps' embeddings and bags.

    Writes ``model/``, ``history.csv``, ``predictions.csv``, ``metrics.csv`` (each task's
    metric with bootstrap CIs, overall and per availability pattern) and ``summary.json``.

    Examples:
        >>> sorted(train_step().outputs)
        ['metrics', 'model', 'predictions', 'summary']
    """
    return StepKind(
        name="train",
        params=_train_params(),
        run=run_train,
        outputs={
            "model": "model",
            "predictions": "predictions.csv",
            "metrics": "metrics.csv",
            "summary": "summary.json",
        },
        reads=(),
        summary="Fusion + heads on earlier steps' outputs; metrics per availability pattern.",
        check=_check,
    )


__all__ = ["run_train", "train_step"]
